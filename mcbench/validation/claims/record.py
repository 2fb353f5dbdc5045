r"""The record of a seed claim: a formula as written in a source document, next to the correct one.

Seed 000 (``shared/seeds/000_0ff68952681534ed.txt``; a Q&A answer on "the
mean and variance of a zero-truncated multivariate normal and the moments of
ReLU outputs") states closed forms for E[X^+], E[(X^+)^2], Var(X^+) and, in d
dimensions, for the covariance of Z^+ = max(Z, 0), Z ~ N(mu, Sigma). Each
statement is registered in :data:`SEED_CLAIMS` as a :class:`SeedClaim` with a
callable implementing the formula *as written* (``seed_fn``) and one computing
the correct value from :mod:`mcbench.theory` (``correct_fn``), so that a
report, or a Monte Carlo run, can show where the seed holds and where it fails.

Calling conventions (uniform within a ``kind``):

``"univariate"``
    ``fn(mu, sigma) -> float or ndarray``; numpy-broadcast over ``mu`` and
    ``sigma`` (sigma > 0; the seed's formulas divide by sigma).
``"univariate_zero_mean"``
    Same signature ``fn(mu, sigma)``, but the seed states the formula only for
    mu = 0; its ``seed_fn`` raises ``ValueError`` for any nonzero ``mu``.
``"bivariate_zero_mean"``
    ``fn(cov) -> float`` with ``cov`` a 2x2 covariance of (Z_i, Z_j), Z ~ N(0,
    cov); the value is the off-diagonal (i, j = 0, 1) quantity.
``"bivariate"``
    ``fn(mean, cov) -> float``, mean of shape (2,), cov 2x2; the off-diagonal
    Cov(Z_0^+, Z_1^+) for a general mean.
``"multivariate"``
    ``fn(mean, cov) -> ndarray, shape (d,)``.

Seeds 001-004 (initialisation of MLPs: d2l's Xavier slides, a mean-field
derivation of He init, Glorot & Bengio's product formula, a Xavier proof) are
registered separately in :data:`MLP_SEED_CLAIMS` (same record type;
:data:`ALL_SEED_CLAIMS` has both lists), with these further kinds:

``"scalar"``
    ``fn(x) -> float or ndarray``, numpy-broadcast (Taylor polynomials vs the
    function).
``"fans"``
    ``fn(fan_in, fan_out) -> float``: Var(W_ij) of an init rule.
``"gaussian"``
    ``fn(activation, mean, var) -> float``: an expectation over
    z ~ N(mean, var); ``activation`` a name or :class:`mcbench.spec.Activation`.
``"moments"``
    ``fn(mean_x, var_x, mean_y, var_y) -> float`` for independent X, Y.
``"widths"``
    ``fn(widths) -> ndarray, shape (L,)``: a per-layer quantity of the net
    with widths [n_0, ..., n_L].
``"mlp"``
    ``fn(spec) -> ndarray, shape (L,)``: a per-layer quantity of an
    :class:`mcbench.spec.MLPSpec`.

Every record has an ``example``: a tuple of arguments on which the verdict is
demonstrated (errata differ there by more than 1e-3 relative; correct claims
agree to 1e-12). ``seed_fn`` is None for claims that are statements rather
than formulas ("no closed form exists").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class SeedClaim:
    """One formula or statement of a seed, with our verdict.

    Attributes
    ----------
    name : str
        Short identifier, unique in :data:`SEED_CLAIMS`.
    seed : str
        Seed number ("000").
    section : str
        Where in the seed the claim appears.
    kind : str
        Calling convention of the callables (see module docstring).
    as_written : str
        The formula or statement as in the seed (LaTeX as in the source, with
        the transcription artefacts of the seed text repaired).
    corrected : str
        The correct formula or statement.
    seed_fn : callable or None
        The seed's formula, implemented literally.
    correct_fn : callable or None
        The correct value, from :mod:`mcbench.theory`.
    is_erratum : bool
        True when the seed is wrong (the formula, a number, or a statement).
    note : str
        One or two sentences on why, and where the two coincide.
    example : tuple
        Arguments for ``seed_fn`` / ``correct_fn`` that exhibit the verdict.
    """

    name: str
    seed: str
    section: str
    kind: str
    as_written: str
    corrected: str
    seed_fn: Callable | None
    correct_fn: Callable | None
    is_erratum: bool
    note: str
    example: tuple
