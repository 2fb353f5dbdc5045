r"""Seed 000's ReLU-moment formulas, exactly as written, next to corrected ones.

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

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._checks import check_mean_cov
from ._bvn import norm_cdf, norm_pdf
from .relu import (
    relu_cov_zero_mean,
    relu_mean_1d,
    relu_moments,
    relu_second_moment_1d,
    relu_var_1d,
)

SEED = "000"


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


# --------------------------------------------------------- seed formulas as written


def _mu_sigma(mu, sigma):
    return np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)


def _require_zero_mean(mu) -> None:
    if np.any(np.asarray(mu) != 0.0):
        raise ValueError("the seed states this formula for mu = 0 only")


def _cov2(cov) -> tuple[float, float, float, float]:
    """(sigma_ii, sigma_jj, sigma_ij, rho) of a validated 2x2 covariance."""
    _, cov = check_mean_cov(np.zeros(2), cov)
    sii, sjj, sij = cov[0, 0], cov[1, 1], cov[0, 1]
    return sii, sjj, sij, sij / math.sqrt(sii * sjj)


def seed_relu_mean(mu, sigma):
    r"""Seed: $E[X_+] = \sigma \phi(-\mu/\sigma) + \mu \Phi(\mu/\sigma)$."""
    mu, sigma = _mu_sigma(mu, sigma)
    return sigma * norm_pdf(-mu / sigma) + mu * norm_cdf(mu / sigma)


def seed_relu_second_moment(mu, sigma):
    r"""Seed: $E[X_+^2] = \mu \sigma \phi(\mu/\sigma) + (\mu^2 + \sigma^2) \Phi(\mu/\sigma)$."""
    mu, sigma = _mu_sigma(mu, sigma)
    return mu * sigma * norm_pdf(mu / sigma) + (mu * mu + sigma * sigma) * norm_cdf(mu / sigma)


def seed_relu_var(mu, sigma):
    r"""Seed: $\mathrm{Var}(X_+) = E[X_+^2] - (E[X_+])^2$ with the two formulas above."""
    m = seed_relu_mean(mu, sigma)
    return seed_relu_second_moment(mu, sigma) - m * m


def seed_zero_mean_mean(mu, sigma):
    r"""Seed (mu = 0): $E[X_+] = \sigma \phi(0) = \sigma / \sqrt{2\pi}$."""
    _require_zero_mean(mu)
    return np.asarray(sigma, dtype=np.float64) / math.sqrt(2.0 * math.pi)


def seed_zero_mean_second_moment(mu, sigma):
    r"""Seed (mu = 0): $E[X_+^2] = \sigma^2 \Phi(0) = \sigma^2 / 2$."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma * sigma / 2.0


def seed_zero_mean_var(mu, sigma):
    r"""Seed (mu = 0): $\mathrm{Var}(X_+) = \sigma^2 (1/2 - 1/(2\pi))$."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma * sigma * (0.5 - 1.0 / (2.0 * math.pi))


def seed_zero_mean_var_numeric(mu, sigma):
    r"""Seed (mu = 0): $\mathrm{Var}(X_+) \approx 0.3431 \sigma^2$ (the quoted number)."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return 0.3431 * sigma * sigma


def seed_zero_mean_cross_moment(cov):
    r"""Seed: $E[Z_{+,i} Z_{+,j}] = \frac{1}{2\pi}(\sigma_{ij} \arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2})$."""
    sii, sjj, sij, rho = _cov2(cov)
    return (sij * math.asin(rho) + math.sqrt(max(sii * sjj - sij * sij, 0.0))) / (2.0 * math.pi)


def seed_zero_mean_mean_product(cov):
    r"""Seed: $E[Z_{+,i}] E[Z_{+,j}] = \frac{\sigma_{ii}\sigma_{jj}}{2\pi}$."""
    sii, sjj, _, _ = _cov2(cov)
    return sii * sjj / (2.0 * math.pi)


def seed_zero_mean_cov(cov):
    r"""Seed: $\mathrm{Cov} = \frac{1}{2\pi}(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sigma_{ii}\sigma_{jj})$."""
    sii, sjj, sij, rho = _cov2(cov)
    return (sij * math.asin(rho) + math.sqrt(max(sii * sjj - sij * sij, 0.0)) - sii * sjj) / (2.0 * math.pi)


def seed_mean_vector(mean, cov):
    r"""Seed: $(E[Z_+])_i = \sigma_{ii}^{1/2}\phi(-\mu_i/\sigma_{ii}^{1/2}) + \mu_i\Phi(\mu_i/\sigma_{ii}^{1/2})$."""
    mean, cov = check_mean_cov(mean, cov)
    return seed_relu_mean(mean, np.sqrt(np.diag(cov)))


def seed_cov_diagonal(mean, cov):
    r"""Seed: $\mathrm{Cov}(Z_{+,i}, Z_{+,i})$ is the univariate variance of Section 1."""
    mean, cov = check_mean_cov(mean, cov)
    return seed_relu_var(mean, np.sqrt(np.diag(cov)))


# ------------------------------------------------------------- correct versions


def _truncated_normal_mean(mu, sigma):
    """E[X | X > 0] = E[X^+] / P(X > 0) for X ~ N(mu, sigma^2), sigma > 0."""
    mu, sigma = _mu_sigma(mu, sigma)
    return relu_mean_1d(mu, sigma) / norm_cdf(mu / sigma)


def _zero_mean_cross_moment(cov):
    _, cov = check_mean_cov(np.zeros(2), cov)
    m, c = relu_moments(np.zeros(2), cov)
    return float(c[0, 1] + m[0] * m[1])


def _zero_mean_mean_product(cov):
    _, cov = check_mean_cov(np.zeros(2), cov)
    return float(relu_mean_1d(0.0, math.sqrt(cov[0, 0])) * relu_mean_1d(0.0, math.sqrt(cov[1, 1])))


def _zero_mean_cov(cov):
    return float(relu_cov_zero_mean(cov)[0, 1])


def _bivariate_cov(mean, cov):
    return float(relu_moments(mean, cov)[1][0, 1])


def _mean_vector(mean, cov):
    return relu_moments(mean, cov)[0]


def _cov_diagonal(mean, cov):
    return np.diag(relu_moments(mean, cov)[1]).copy()


_COV_EXAMPLE = np.array([[1.0, 0.5], [0.5, 1.0]])
_COV_UNEQUAL = np.array([[4.0, 1.0], [1.0, 1.0]])

SEED_CLAIMS: list[SeedClaim] = [
    SeedClaim(
        name="relu_mean",
        seed=SEED,
        section="1. Univariate case / Mean",
        kind="univariate",
        as_written=r"\mathbb{E}[X_+] = \sigma \phi\left(\frac{-\mu}{\sigma}\right) + \mu \Phi\left(\frac{\mu}{\sigma}\right)",
        corrected=r"\mathbb{E}[X_+] = \mu \Phi(\mu/\sigma) + \sigma \phi(\mu/\sigma)",
        seed_fn=seed_relu_mean,
        correct_fn=relu_mean_1d,
        is_erratum=False,
        note="Correct (phi is even, so phi(-mu/sigma) = phi(mu/sigma)). As written it is "
        "undefined at sigma = 0 with mu = 0 and cancels for mu/sigma << 0.",
        example=(0.7, 1.3),
    ),
    SeedClaim(
        name="truncated_normal_label",
        seed=SEED,
        section="1. Univariate case / Mean",
        kind="univariate",
        as_written=r"This is the mean of a right-truncated normal distribution (truncated at 0): "
        r"\sigma \phi(-\mu/\sigma) + \mu \Phi(\mu/\sigma)",
        corrected=r"That is E[\max(X, 0)] (a censored / rectified normal). The mean of the normal "
        r"truncated to X > 0 (left-truncated) is E[X | X > 0] = \mu + \sigma \phi(\mu/\sigma)/\Phi(\mu/\sigma)",
        seed_fn=seed_relu_mean,
        correct_fn=_truncated_normal_mean,
        is_erratum=True,
        note="Mislabelled: the formula is the ReLU mean, which equals P(X > 0) times the "
        "truncated-normal mean; keeping X > 0 is left truncation. Only the label is wrong.",
        example=(0.0, 1.0),
    ),
    SeedClaim(
        name="relu_second_moment",
        seed=SEED,
        section="1. Univariate case / Variance",
        kind="univariate",
        as_written=r"\mathbb{E}[X_+^2] = \mu \sigma \phi\left(\frac{\mu}{\sigma}\right) + (\mu^2 + \sigma^2)\Phi\left(\frac{\mu}{\sigma}\right)",
        corrected=r"\mathbb{E}[X_+^2] = (\mu^2 + \sigma^2)\Phi(\mu/\sigma) + \mu\sigma\phi(\mu/\sigma)",
        seed_fn=seed_relu_second_moment,
        correct_fn=relu_second_moment_1d,
        is_erratum=False,
        note="Correct.",
        example=(-0.4, 2.0),
    ),
    SeedClaim(
        name="relu_var",
        seed=SEED,
        section="1. Univariate case / Variance",
        kind="univariate",
        as_written=r"\mathrm{Var}(X_+) = \mathbb{E}[X_+^2] - (\mathbb{E}[X_+])^2",
        corrected=r"\mathrm{Var}(X_+) = \mathbb{E}[X_+^2] - (\mathbb{E}[X_+])^2 "
        r"(evaluate as \sigma^2(1 - 2\Phi(-a) + v(-a)) for a = \mu/\sigma > 0)",
        seed_fn=seed_relu_var,
        correct_fn=relu_var_1d,
        is_erratum=False,
        note="Mathematically correct; numerically the difference cancels for |mu|/sigma "
        "large (about 3 digits lost at mu/sigma = 30, all of them near 1e8).",
        example=(1.5, 0.8),
    ),
    SeedClaim(
        name="zero_mean_mean",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathbb{E}[X_+] = \sigma\phi(0) = \frac{\sigma}{\sqrt{2\pi}} \approx 0.3989\sigma",
        corrected=r"\mathbb{E}[X_+] = \sigma/\sqrt{2\pi} \approx 0.398942\sigma",
        seed_fn=seed_zero_mean_mean,
        correct_fn=relu_mean_1d,
        is_erratum=False,
        note="Correct.",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_second_moment",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathbb{E}[X_+^2] = \sigma^2\Phi(0) = \frac{\sigma^2}{2}",
        corrected=r"\mathbb{E}[X_+^2] = \sigma^2/2",
        seed_fn=seed_zero_mean_second_moment,
        correct_fn=relu_second_moment_1d,
        is_erratum=False,
        note="Correct.",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_var",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathrm{Var}(X_+) = \frac{\sigma^2}{2} - \left(\frac{\sigma}{\sqrt{2\pi}}\right)^2 = \sigma^2\left(\frac{1}{2} - \frac{1}{2\pi}\right)",
        corrected=r"\mathrm{Var}(X_+) = \sigma^2(1/2 - 1/(2\pi))",
        seed_fn=seed_zero_mean_var,
        correct_fn=relu_var_1d,
        is_erratum=False,
        note="Correct formula (but see zero_mean_var_numeric for the number quoted with it).",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_var_numeric",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\sigma^2\left(\frac{1}{2} - \frac{1}{2\pi}\right) \approx 0.3431\sigma^2",
        corrected=r"\sigma^2(1/2 - 1/(2\pi)) \approx 0.340845\sigma^2",
        seed_fn=seed_zero_mean_var_numeric,
        correct_fn=relu_var_1d,
        is_erratum=True,
        note="Arithmetic slip: 1/2 - 1/(2 pi) = 0.3408451, not 0.3431 (0.66% too large).",
        example=(0.0, 1.0),
    ),
    SeedClaim(
        name="zero_mean_cross_moment",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \frac{1}{2\pi}\left(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2}\right)",
        corrected=r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \frac{1}{2\pi}\left(\sigma_{ij}\left(\frac{\pi}{2} + \arcsin\rho\right) + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2}\right) "
        r"= \frac{\sqrt{\sigma_{ii}\sigma_{jj}}}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta),\ \theta = \arccos\rho",
        seed_fn=seed_zero_mean_cross_moment,
        correct_fn=_zero_mean_cross_moment,
        is_erratum=True,
        note="Missing the sigma_ij pi/2 term (the arc-cosine kernel of degree 1, Cho & Saul "
        "2009). The two agree only when sigma_ij = 0; e.g. at rho = 1 the seed gives "
        "sigma^2/4 instead of E[Z_+^2] = sigma^2/2.",
        example=(_COV_EXAMPLE,),
    ),
    SeedClaim(
        name="zero_mean_mean_product",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathbb{E}[Z_{+,i}]\mathbb{E}[Z_{+,j}] = \frac{\sigma_{ii}\sigma_{jj}}{2\pi}",
        corrected=r"\mathbb{E}[Z_{+,i}]\mathbb{E}[Z_{+,j}] = \frac{\sqrt{\sigma_{ii}\sigma_{jj}}}{2\pi}",
        seed_fn=seed_zero_mean_mean_product,
        correct_fn=_zero_mean_mean_product,
        is_erratum=True,
        note="Variances used where standard deviations belong (sigma_ii is a variance in the "
        "seed's own notation). Invisible when sigma_ii sigma_jj = 1, e.g. unit variances.",
        example=(_COV_UNEQUAL,),
    ),
    SeedClaim(
        name="zero_mean_cov",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathrm{Cov}(Z_{+,i}, Z_{+,j}) = \frac{1}{2\pi}\left(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sigma_{ii}\sigma_{jj}\right)",
        corrected=r"\mathrm{Cov}(Z_{+,i}, Z_{+,j}) = \frac{1}{2\pi}\left(\sigma_{ij}\left(\frac{\pi}{2} + \arcsin\rho\right) + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sqrt{\sigma_{ii}\sigma_{jj}}\right)",
        seed_fn=seed_zero_mean_cov,
        correct_fn=_zero_mean_cov,
        is_erratum=True,
        note="Inherits both errors above. It happens to be right for unit variances with "
        "rho = 0 only; with rho = 0.5 and unit variances it gives 0.0204 instead of 0.1454, "
        "and it can be negative for positively correlated inputs.",
        example=(_COV_EXAMPLE,),
    ),
    SeedClaim(
        name="nonzero_mean_no_closed_form",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries",
        kind="bivariate",
        as_written=r"For general non-zero means \mu_i, \mu_j, there is no simple closed-form "
        r"expression, and you'll typically use numerical integration or approximation methods.",
        corrected=r"With a = \mu_i/\sigma_i, b = \mu_j/\sigma_j, s = \sqrt{1-\rho^2}: "
        r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \sigma_i\sigma_j[(ab + \rho)\Phi_2(a, b; \rho) "
        r"+ a\phi(b)\Phi((a - \rho b)/s) + b\phi(a)\Phi((b - \rho a)/s) + s\phi(a)\phi((b - \rho a)/s)] "
        r"(Rosenbaum 1961), in terms of the bivariate normal CDF \Phi_2.",
        seed_fn=None,
        correct_fn=_bivariate_cov,
        is_erratum=True,
        note="False: the cross moment is closed-form up to Phi2 (itself a standard special "
        "function, like Phi); see mcbench.theory.relu_moments.",
        example=(np.array([0.7, -1.2]), np.array([[1.0, 0.6], [0.6, 2.0]])),
    ),
    SeedClaim(
        name="mean_vector",
        seed=SEED,
        section="2. Multivariate case / Mean vector",
        kind="multivariate",
        as_written=r"(\mathbb{E}[Z_+])_i = \sigma_{ii}^{1/2}\phi\left(\frac{-\mu_i}{\sigma_{ii}^{1/2}}\right) + \mu_i\Phi\left(\frac{\mu_i}{\sigma_{ii}^{1/2}}\right)",
        corrected=r"(\mathbb{E}[Z_+])_i = \mu_i\Phi(\mu_i/\sqrt{\sigma_{ii}}) + \sqrt{\sigma_{ii}}\phi(\mu_i/\sqrt{\sigma_{ii}})",
        seed_fn=seed_mean_vector,
        correct_fn=_mean_vector,
        is_erratum=False,
        note="Correct (elementwise univariate mean).",
        example=(np.array([0.3, -0.5, 1.2]), np.diag([1.0, 2.0, 0.5])),
    ),
    SeedClaim(
        name="cov_diagonal",
        seed=SEED,
        section="2. Multivariate case / Diagonal entries",
        kind="multivariate",
        as_written=r"\mathrm{Cov}(Z_{+,i}, Z_{+,i}) is the univariate variance of Section 1.",
        corrected=r"\mathrm{Cov}(Z_{+,i}, Z_{+,i}) = \mathrm{Var}(Z_{+,i}) (univariate).",
        seed_fn=seed_cov_diagonal,
        correct_fn=_cov_diagonal,
        is_erratum=False,
        note="Correct.",
        example=(np.array([0.3, -0.5, 1.2]), np.array([[1.0, 0.2, 0.1], [0.2, 2.0, -0.3], [0.1, -0.3, 0.5]])),
    ),
]

#: Claims by name.
CLAIMS_BY_NAME: dict[str, SeedClaim] = {c.name: c for c in SEED_CLAIMS}

__all__ = [
    "SEED",
    "SEED_CLAIMS",
    "CLAIMS_BY_NAME",
    "SeedClaim",
    "seed_relu_mean",
    "seed_relu_second_moment",
    "seed_relu_var",
    "seed_zero_mean_mean",
    "seed_zero_mean_second_moment",
    "seed_zero_mean_var",
    "seed_zero_mean_var_numeric",
    "seed_zero_mean_cross_moment",
    "seed_zero_mean_mean_product",
    "seed_zero_mean_cov",
    "seed_mean_vector",
    "seed_cov_diagonal",
]


# =========================================================================
# Seeds 001-004: variance propagation and initialisation of MLPs
# =========================================================================
# Imported here, not at the top: these claims need the MLP theory, the
# seed-000 records above do not.
from ..spec import MLPSpec, get_activation, init_variance  # noqa: E402
from .gaussian import expect  # noqa: E402
from .mlp import glorot_product_variance, mlp_propagation  # noqa: E402


def _sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1/(1 + e^-x) without overflow


def seed_sigmoid_taylor(x):
    r"""Seed 001: $\mathrm{sigmoid}(x) = \frac12 + \frac{x}{4} - \frac{x^3}{48} + O(x^5)$ (the polynomial)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 + x / 4.0 - x**3 / 48.0


def seed_tanh_taylor(x):
    r"""Seed 001: $\tanh(x) = 0 + x - \frac{x^3}{3} + O(x^5)$ (the polynomial)."""
    x = np.asarray(x, dtype=np.float64)
    return x - x**3 / 3.0


def seed_scaled_sigmoid_linear(x):
    r"""Seed 001: $4\,\mathrm{sigmoid}(x) - 2$ has $\sigma(0) = 0$, $\sigma'(0) = 1$: $\approx x$ near 0."""
    return np.asarray(x, dtype=np.float64)


def _scaled_sigmoid(x):
    # 4 sigmoid(x) - 2 = 2 tanh(x/2) exactly; this form does not cancel near 0.
    return 2.0 * np.tanh(0.5 * np.asarray(x, dtype=np.float64))


def seed_xavier_normal_var(fan_in, fan_out):
    r"""Seed 001: $\mathcal{N}(0, \sqrt{2/(n_{t-1} + n_t)})$ read as N(mean, variance)."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def seed_xavier_uniform_var(fan_in, fan_out):
    r"""Seed 001: $\mathcal{U}(-a, a)$, $a = \sqrt{6/(n_{t-1} + n_t)}$, with variance $a^2/3$."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return a * a / 3.0


def _xavier_var(fan_in, fan_out):
    return init_variance("xavier_normal", fan_in, fan_out)


def seed_linear_activation_var(activation, mean, var):
    r"""Seed 001: $\mathrm{Var}[\alpha h' + \beta] = \alpha^2 \mathrm{Var}[h']$ (sigma(x) = alpha x + beta)."""
    return get_activation(activation).a ** 2 * var


def _activation_var(activation, mean, var):
    m = expect(activation, mean, var, "phi")
    return expect(activation, mean, var, "phi2") - m * m


def seed_linear_forward(spec):
    r"""Seed 001: $\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}]$, iterated from Var(x)."""
    return glorot_product_variance(spec)


def seed_linear_backward(spec):
    r"""Seed 001: $\mathrm{Var}[\partial\ell/\partial h^{t-1}_i] = n_t \gamma_t \mathrm{Var}[\partial\ell/\partial h^t_j]$, from 1 at the top."""
    n = np.asarray(spec.widths, dtype=float)
    gains = spec.layer_weight_vars()[1:] * n[2:]  # n_t gamma_t for t = 2..L
    return np.append(np.cumprod(gains[::-1])[::-1], 1.0)


def _mlp_column(name):
    def column(spec):
        return mlp_propagation(spec, depth_scales=False)[name].to_numpy()

    column.__name__ = f"mlp_{name}"
    column.__doc__ = f"Column ``{name}`` of :func:`mcbench.theory.mlp.mlp_propagation`."
    return column


def seed_weight_entries(widths):
    r"""Seed 002 Thm 1.1: $W^l$ has shape $(n_l, n_{l+1})$, so $N_l N_{l+1}$ entries (NaN at l = L)."""
    n = np.asarray(widths, dtype=float)
    return n[1:] * np.append(n[2:], np.nan)


def _weight_entries(widths):
    n = np.asarray(widths, dtype=float)
    return n[1:] * n[:-1]  # W^l: (n_l, n_{l-1}), from eq. (1) dJ/dW^l_ij = delta^l_i phi(z^{l-1}_j)


def seed_gradient_factorization(spec):
    r"""Seed 002 eq. (4): $E[(\delta_i^l \phi(z_j^{l-1}))^2] = E[(\delta_i^l)^2] E[\phi^2(z_j^{l-1})]$.

    Evaluated with the exact finite-width E[delta^2] and E[h^2] (zero-bias
    relu or a x nets; NaN otherwise), so that only the independence step is
    tested.
    """
    df = mlp_propagation(spec, depth_scales=False)
    h2_prev = np.concatenate([[spec.input_var], df["phi2"].to_numpy()[:-1]])
    return df["qtilde_exact"].to_numpy() * h2_prev


def seed_relu_dphi2_is_dphi(activation, mean, var):
    r"""Seed 002 eq. (12), first equality: $E[\phi'(z)^2] = E[\phi'(z)]$ (relu)."""
    return expect(activation, mean, var, "dphi")


def seed_relu_dphi2_half(activation, mean, var):
    r"""Seed 002 eq. (12): $E[\phi'(z)^2] = 1/2$ (relu)."""
    return 0.5


def _dphi2(activation, mean, var):
    return expect(activation, mean, var, "dphi2")


def seed_he_backward_profile(widths):
    r"""Seed 002 eqs. (9)-(13): with $(\sigma_w^{l+1})^2 = 2/N_{l+1}$, $\tilde q^l = \tilde q^{l+1}$ (all 1)."""
    return np.ones(len(widths) - 1)


def he_fan_out_spec(widths) -> MLPSpec:
    """ReLU net with He's backward condition of seed 002 eq. (13): Var(W^l) = 2 / n_l.

    n_l is W^l's fan-out (the seed writes it N_{l+1} for its W^{l+1}).
    """
    widths = tuple(int(w) for w in widths)
    return MLPSpec(widths, "relu", weight_var=tuple(2.0 / w for w in widths[1:]))


def _he_fan_out_qtilde(widths):
    return mlp_propagation(he_fan_out_spec(widths), depth_scales=False)["qtilde"].to_numpy()


def seed_var_product(mean_x, var_x, mean_y, var_y):
    r"""Seed 004: $\mathrm{Var}[XY] = \mathrm{Var}[X]\mathrm{Var}[Y] + E[X]^2\mathrm{Var}[Y] + E[Y]^2\mathrm{Var}[X]$."""
    return var_x * var_y + mean_x**2 * var_y + mean_y**2 * var_x


def _var_product(mean_x, var_x, mean_y, var_y):
    # Var[XY] = E[X^2] E[Y^2] - (E[X] E[Y])^2 for independent X, Y.
    return (var_x + mean_x**2) * (var_y + mean_y**2) - (mean_x * mean_y) ** 2


def seed_mean_derivative_is_one(activation, mean, var):
    r"""Seed 004: $E[f'(s^i)] = E[f'(0)] = 1$ for tanh."""
    return 1.0


def _mean_derivative(activation, mean, var):
    return expect(activation, mean, var, "dphi")


_WIDTHS = (7, 12, 5, 9, 16)
_LINEAR_SPEC = MLPSpec(_WIDTHS, "linear", weight_var=(0.3, 0.05, 0.4, 0.2), input_var=0.6)
#: Narrow zero-bias relu net: dead layers (all z^l <= 0) are frequent.
_NARROW_RELU = MLPSpec((3, 3, 2, 3, 4), "relu", init="he_normal")

MLP_SEED_CLAIMS: list[SeedClaim] = [
    SeedClaim(
        name="sigmoid_taylor",
        seed="001",
        section="检查常用激活函数 (Taylor expansions)",
        kind="scalar",
        as_written=r"\mathrm{sigmoid}(x) = \frac{1}{2} + \frac{x}{4} - \frac{x^3}{48} + O(x^5)",
        corrected=r"\mathrm{sigmoid}(x) = \frac{1}{2} + \frac{x}{4} - \frac{x^3}{48} + \frac{x^5}{480} + O(x^7)",
        seed_fn=seed_sigmoid_taylor,
        correct_fn=_sigmoid,
        is_erratum=False,
        note="Correct (sigmoid(x) - 1/2 = tanh(x/2)/2). So sigmoid has f(0) = 1/2 and f'(0) = 1/4: "
        "neither alpha = 1 nor beta = 0, hence the seed's 4 sigmoid - 2.",
        example=(1e-3,),
    ),
    SeedClaim(
        name="tanh_taylor",
        seed="001",
        section="检查常用激活函数 (Taylor expansions)",
        kind="scalar",
        as_written=r"\tanh(x) = 0 + x - \frac{x^3}{3} + O(x^5)",
        corrected=r"\tanh(x) = x - \frac{x^3}{3} + \frac{2x^5}{15} + O(x^7)",
        seed_fn=seed_tanh_taylor,
        correct_fn=np.tanh,
        is_erratum=False,
        note="Correct.",
        example=(1e-3,),
    ),
    SeedClaim(
        name="scaled_sigmoid_unit_slope",
        seed="001",
        section="调整 sigmoid: 4 x sigmoid(x) - 2",
        kind="scalar",
        as_written=r"4 \times \mathrm{sigmoid}(x) - 2 \ (\approx x \text{ near } 0)",
        corrected=r"4\,\mathrm{sigmoid}(x) - 2 = 2\tanh(x/2) = x - \frac{x^3}{12} + O(x^5)",
        seed_fn=seed_scaled_sigmoid_linear,
        correct_fn=_scaled_sigmoid,
        is_erratum=False,
        note="Correct: value 0 and slope 1 at 0, like tanh, but the cubic term is 4x smaller "
        "(x^3/12 vs x^3/3), so it stays linear longer.",
        example=(1e-6,),
    ),
    SeedClaim(
        name="xavier_normal_notation",
        seed="001",
        section="Xavier 初始 (normal)",
        kind="fans",
        as_written=r"\mathcal{N}\left(0, \sqrt{2/(n_{t-1} + n_t)}\right)",
        corrected=r"\mathcal{N}\left(0, \frac{2}{n_{t-1} + n_t}\right) \text{ (variance), i.e. std } \sqrt{2/(n_{t-1} + n_t)}",
        seed_fn=seed_xavier_normal_var,
        correct_fn=_xavier_var,
        is_erratum=True,
        note="Right only if the second argument of N is read as a standard deviation; in the "
        "usual N(mean, variance) notation, and next to gamma_t = 2/(n_{t-1} + n_t) which the "
        "slide has just derived as the variance, it states Var = sqrt(gamma_t): 0.1 instead of "
        "0.01 for 100 + 100 units. Flagged as a notation erratum.",
        example=(100, 100),
    ),
    SeedClaim(
        name="xavier_uniform_bound",
        seed="001",
        section="Xavier 初始 (uniform)",
        kind="fans",
        as_written=r"\mathcal{U}\left(-\sqrt{6/(n_{t-1} + n_t)}, \sqrt{6/(n_{t-1} + n_t)}\right),\ "
        r"\mathrm{Var}\,\mathcal{U}[-a, a] = a^2/3",
        corrected=r"a = \sqrt{6/(n_{t-1} + n_t)} \Rightarrow \mathrm{Var} = a^2/3 = 2/(n_{t-1} + n_t)",
        seed_fn=seed_xavier_uniform_var,
        correct_fn=_xavier_var,
        is_erratum=False,
        note="Correct.",
        example=(30, 70),
    ),
    SeedClaim(
        name="linear_activation_variance",
        seed="001",
        section="假设线性的激活函数",
        kind="gaussian",
        as_written=r"\mathrm{Var}[h_i^t] = \mathrm{Var}[\alpha h_i' + \beta] = \alpha^2 \mathrm{Var}[h_i']"
        r"\ \Rightarrow \alpha = 1,\ \beta = 0",
        corrected=r"\mathrm{Var}[\alpha h' + \beta] = \alpha^2 \mathrm{Var}[h']",
        seed_fn=seed_linear_activation_var,
        correct_fn=_activation_var,
        is_erratum=False,
        note="Correct (a shift does not change a variance; E[h^t] = beta needs beta = 0).",
        example=("linear", 0.0, 1.3),
    ),
    SeedClaim(
        name="linear_forward_variance",
        seed="001",
        section="正向方差",
        kind="mlp",
        as_written=r"\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}]",
        corrected=r"\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}] \text{ (no activation, zero bias)}",
        seed_fn=seed_linear_forward,
        correct_fn=_mlp_column("q"),
        is_erratum=False,
        note="Correct for a linear net (the step E[w^2 h^2] = Var(w) Var(h) uses E[h] = 0).",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="linear_backward_variance",
        seed="001",
        section="反向均值和方差",
        kind="mlp",
        as_written=r"\mathrm{Var}\left[\frac{\partial \ell}{\partial h_i^{t-1}}\right] = n_t\gamma_t "
        r"\mathrm{Var}\left[\frac{\partial \ell}{\partial h_j^t}\right] \Rightarrow n_t\gamma_t = 1",
        corrected=r"\mathrm{Var}[\partial\ell/\partial h^{t-1}_i] = n_t\gamma_t \mathrm{Var}[\partial\ell/\partial h^t_j]",
        seed_fn=seed_linear_backward,
        correct_fn=_mlp_column("qtilde"),
        is_erratum=False,
        note="Correct for a linear net; qtilde^L = 1 (J = v . z^L). Forward and backward "
        "conditions differ unless n_{t-1} = n_t, hence Xavier's compromise.",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="thm11_weight_shape",
        seed="002",
        section="Theorem 1.1, eq. (3)",
        kind="widths",
        as_written=r"\mathbf{W}^l.\mathrm{shape} = (n_l, n_{l+1}),\ "
        r"\|\nabla_{W^l} J\|^2 \approx N_l N_{l+1} \mathbb{E}[(\partial J/\partial W_{ij}^l)^2]",
        corrected=r"\mathbf{W}^l.\mathrm{shape} = (n_l, n_{l-1}),\ "
        r"\|\nabla_{W^l} J\|^2 \approx N_l N_{l-1} \mathbb{E}[(\partial J/\partial W_{ij}^l)^2]",
        seed_fn=seed_weight_entries,
        correct_fn=_weight_entries,
        is_erratum=True,
        note="Eq. (1) itself has dJ/dW^l_ij = delta^l_i phi(z^{l-1}_j): i runs over layer l and "
        "j over layer l - 1. The seed's count N_l N_{l+1} is W^{l+1}'s size.",
        example=(_WIDTHS,),
    ),
    SeedClaim(
        name="thm11_independence",
        seed="002",
        section="Theorem 1.1, eq. (4)",
        kind="mlp",
        as_written=r"\text{由于 } \delta_i^l \text{ 和 } \phi(z_j^{l-1}) \text{ 独立同分布: } "
        r"\mathbb{E}[(\partial J/\partial W_{ij}^l)^2] = \mathbb{E}[(\delta_i^l)^2]\,\mathbb{E}[\phi^2(z_j^{l-1})]",
        corrected=r"\delta_i^l \text{ and } \phi(z_j^{l-1}) \text{ are neither identically distributed nor independent; "
        r"the factorisation holds at infinite width (mean field). Zero-bias relu at finite width: }"
        r"\mathbb{E}[(\delta_i^l\phi(z_j^{l-1}))^2] = \mathbb{E}[(\delta_i^l)^2]\,\mathbb{E}[\phi^2(z_j^{l-1})] / a_l,\ "
        r"a_l = \prod_{k<l}(1 - 2^{-n_k})",
        seed_fn=seed_gradient_factorization,
        correct_fn=_mlp_column("wgrad_ms_exact"),
        is_erratum=True,
        note="The premise is false: delta^l depends on z^l = W^l h^{l-1} through phi'. In a "
        "relu net a dead layer (h^{l-1} = 0, probability 1 - a_l) zeroes both delta^l and the "
        "gradient, so E[delta^2] carries the factor a_l and the product undercounts by it "
        "(0.875 at l = 2 for width 3); for tanh a numpy Monte Carlo gives -24% at width 4. "
        "Exact for linear nets (disjoint weights) and in the mean-field limit.",
        example=(_NARROW_RELU,),
    ),
    SeedClaim(
        name="eq12_relu_dphi2_equals_dphi",
        seed="002",
        section="eq. (12), first equality",
        kind="gaussian",
        as_written=r"\mathbb{E}[(\phi'(z_i^l))^2] = \mathbb{E}[\phi'(z_i^l)]",
        corrected=r"\mathbb{E}[(\phi'(z))^2] = \mathbb{E}[\phi'(z)] = P(z > 0) \text{ (relu, any law of } z)",
        seed_fn=seed_relu_dphi2_is_dphi,
        correct_fn=_dphi2,
        is_erratum=False,
        note="Correct for any law of z: relu' takes values 0 and 1 only.",
        example=("relu", 0.7, 1.3),
    ),
    SeedClaim(
        name="eq12_relu_half",
        seed="002",
        section="eq. (12)",
        kind="gaussian",
        as_written=r"\mathbb{E}[(\phi'(z_i^l))^2] = \frac{1}{2}",
        corrected=r"\mathbb{E}[(\phi'(z))^2] = \Phi(\mu/\sqrt{q}) \text{ for } z \sim N(\mu, q); "
        r"= 1/2 \text{ iff } \mu = 0",
        seed_fn=seed_relu_dphi2_half,
        correct_fn=_dphi2,
        is_erratum=False,
        note="Correct in the seed's setting (zero-mean pre-activations: zero bias mean). With a "
        "bias mean beta it is Phi(beta/sqrt(q)) (0.69 at beta/sqrt(q) = 0.5); at finite width "
        "dead layers make it a_l/2 (see thm11_independence).",
        example=("relu", 0.0, 1.3),
    ),
    SeedClaim(
        name="eq13_he_fan_out",
        seed="002",
        section="eq. (13)",
        kind="widths",
        as_written=r"(\sigma_w^{l+1})^2 = \frac{2}{N_{l+1}} \Rightarrow \tilde q^l = \tilde q^{l+1}",
        corrected=r"\mathrm{Var}(W^{l+1}) = 2/N_{l+1} \text{ (fan-out of } W^{l+1}) "
        r"\Rightarrow \tilde q^l = \tilde q^{l+1}",
        seed_fn=seed_he_backward_profile,
        correct_fn=_he_fan_out_qtilde,
        is_erratum=False,
        note="Correct (mean field): it is He's backward (fan-out) condition. The usual he_normal "
        "uses fan-in, 2/N_l, which keeps q instead; with it qtilde^l = n_L / n_l, so the two "
        "agree only for constant width.",
        example=(_WIDTHS,),
    ),
    SeedClaim(
        name="glorot_product_formula",
        seed="003",
        section="Question / answer section 3",
        kind="mlp",
        as_written=r"Var(z^i) = Var(x)\prod_{i'=0}^{i-1} n_{i'} Var(W^{i'})",
        corrected=r"\mathrm{Var}(z^l) = \mathrm{Var}(x) \prod_{k=1}^{l} n_{k-1} \mathrm{Var}(W^k) "
        r"\text{ (linear regime, zero bias)}",
        seed_fn=glorot_product_variance,
        correct_fn=_mlp_column("q"),
        is_erratum=False,
        note="Exact for linear nets (Glorot's W^{i'} maps layer i' to i' + 1, our W^{i'+1}). For "
        "tanh it is the f'(0) = 1 linearisation and overestimates: Var(tanh(s)) = 0.394 Var(s) at "
        "Var(s) = 1.",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="var_product_independent",
        seed="004",
        section="一、向前传球, step 4",
        kind="moments",
        as_written=r"\mathrm{Var}[XY] = \mathrm{Var}[X]\mathrm{Var}[Y] + E[X]^2\mathrm{Var}[Y] + E[Y]^2\mathrm{Var}[X]",
        corrected=r"\mathrm{Var}[XY] = E[X^2]E[Y^2] - E[X]^2E[Y]^2 \text{ (X, Y independent)}",
        seed_fn=seed_var_product,
        correct_fn=_var_product,
        is_erratum=False,
        note="Correct for independent X, Y (expand E[X^2] = Var X + E[X]^2).",
        example=(0.7, 1.3, -0.4, 2.1),
    ),
    SeedClaim(
        name="tanh_mean_derivative",
        seed="004",
        section="二、反向传递, first bullet",
        kind="gaussian",
        as_written=r"\mathbb{E}[f'(s^i)] = \mathbb{E}[f'(0)] = 1",
        corrected=r"\mathbb{E}[\tanh'(s)] < 1 \text{ for Var}(s) > 0: 0.990, 0.916, 0.606 "
        r"\text{ at Var}(s) = 0.01, 0.1, 1",
        seed_fn=seed_mean_derivative_is_one,
        correct_fn=_mean_derivative,
        is_erratum=True,
        note="E[s] = 0 does not give E[f'(s)] = f'(E[s]) (f' is not linear); it is the small-"
        "variance limit, 1 - Var(s) + O(Var^2). The backward pass actually needs E[f'(s)^2] = 0.464 "
        "at Var(s) = 1.",
        example=("tanh", 0.0, 1.0),
    ),
]

#: Seeds 001-004 claims by name.
MLP_CLAIMS_BY_NAME: dict[str, SeedClaim] = {c.name: c for c in MLP_SEED_CLAIMS}
#: Every registered claim, seed 000 first.
ALL_SEED_CLAIMS: list[SeedClaim] = SEED_CLAIMS + MLP_SEED_CLAIMS

__all__ += [
    "MLP_SEED_CLAIMS",
    "MLP_CLAIMS_BY_NAME",
    "ALL_SEED_CLAIMS",
    "seed_sigmoid_taylor",
    "seed_tanh_taylor",
    "seed_scaled_sigmoid_linear",
    "seed_xavier_normal_var",
    "seed_xavier_uniform_var",
    "seed_linear_activation_var",
    "seed_linear_forward",
    "seed_linear_backward",
    "seed_weight_entries",
    "seed_gradient_factorization",
    "seed_relu_dphi2_is_dphi",
    "seed_relu_dphi2_half",
    "seed_he_backward_profile",
    "seed_var_product",
    "seed_mean_derivative_is_one",
]
