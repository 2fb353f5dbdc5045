"""Comparison of Monte Carlo estimates with theory: z-scores, p-values, Holm, verdicts.

Used by the validation reports and by the test-suite, so that a test and a
report judge an estimate by the same rule.

Rules
-----
* ``z = (estimate - theory) / stderr``. The p-value is two-sided, from the
  normal distribution when the standard error is exact-form (``dof`` = inf),
  and from Student's t with ``dof`` degrees of freedom when the standard error
  itself was estimated from ``dof + 1`` independent replicates (chunk batch
  means), which have heavier tails than a normal.
* A zero standard error is legitimate only for deterministic quantities (a
  coordinate with zero variance): then the estimate must equal the theory to
  :data:`EXACT_RTOL`, else p = 0.
* Holm's step-down correction is applied across every comparison of a run,
  controlling the family-wise error rate: a correct build fails a run with
  probability <= ``alpha``.
* An estimate is ``underpowered`` when fewer than :data:`MIN_EFFECTIVE`
  samples carried information about it (for ReLU moments: samples where the
  coordinate was positive). Its sampling distribution is then too skewed for
  a normal tail at Holm-corrected levels, so it is neither passed nor failed.
* Seed claims (formulas as written in the seed documents) are tested like any
  other theory value; one that is rejected gets the verdict ``seed-erratum``
  rather than ``fail``: it is the document that is wrong, not the build.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

#: Family-wise error rate of a validation run.
DEFAULT_ALPHA = 1e-3
#: Fewest informative samples for a z-test to mean anything.
MIN_EFFECTIVE = 1000
#: Relative tolerance for quantities whose Monte Carlo standard error is 0.
EXACT_RTOL = 1e-9

COLUMNS = [
    "check", "quantity", "index", "theory", "estimate", "stderr", "dof",
    "n_eff", "z", "p", "p_holm", "rel_err", "verdict",
]


def two_sided_p(z, dof=np.inf):
    """Two-sided p-value of ``z``: normal for dof = inf, else Student's t."""
    z = np.abs(np.asarray(z, dtype=float))
    dof = np.broadcast_to(np.asarray(dof, dtype=float), z.shape)
    p = np.where(np.isinf(dof), 2.0 * _st.norm.sf(z), 2.0 * _st.t.sf(z, np.where(np.isinf(dof), 1.0, dof)))
    return p


def z_and_p(estimate, theory, stderr, dof=np.inf):
    """Vectorised z-scores and two-sided p-values, with the zero-SE rule."""
    estimate, theory, stderr = np.broadcast_arrays(
        np.asarray(estimate, float), np.asarray(theory, float), np.asarray(stderr, float)
    )
    diff = estimate - theory
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / stderr
    exact = stderr == 0
    agrees = np.abs(diff) <= EXACT_RTOL * np.maximum(np.abs(theory), 1e-300)
    z = np.where(exact, np.where(agrees, 0.0, np.copysign(np.inf, diff)), z)
    p = two_sided_p(z, dof)
    return z, np.where(np.isnan(z), np.nan, p)


def holm(pvalues):
    """Holm step-down adjusted p-values (NaNs are ignored and stay NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok], kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[ok][order]))
    tmp = np.empty(m)
    tmp[order] = adjusted
    out[ok] = tmp
    return out


def comparison_rows(check, quantity, index, theory, estimate, stderr, *, dof=np.inf, n_eff=np.inf,
                    seed_claim=False):
    """Rows of the comparison table for one batch of estimates (not yet Holm-adjusted).

    Parameters
    ----------
    check, quantity : str
        Name of the check (e.g. ``"relu/corr-0.9"``) and of the quantity (``"cov"``).
    index : sequence
        One label per estimate (a layer number, an ``(i, j)`` entry, ...).
    theory, estimate, stderr : array_like, same length as ``index``
    dof : float or array_like
        Degrees of freedom of ``stderr`` (inf for an exact-form standard error).
    n_eff : float or array_like
        Informative sample count, for the underpowered rule.
    seed_claim : bool
        The theory column is a seed's formula as written (see module docstring).
    """
    theory = np.asarray(theory, float).ravel()
    estimate = np.asarray(estimate, float).ravel()
    stderr = np.asarray(stderr, float).ravel()
    z, p = z_and_p(estimate, theory, stderr, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(estimate - theory) / np.abs(theory)
    frame = pd.DataFrame({
        "check": check,
        "quantity": quantity,
        "index": [str(i) for i in index],
        "theory": theory,
        "estimate": estimate,
        "stderr": stderr,
        "dof": np.broadcast_to(np.asarray(dof, float), theory.shape),
        "n_eff": np.broadcast_to(np.asarray(n_eff, float), theory.shape),
        "z": z,
        "p": p,
        "p_holm": np.nan,
        "rel_err": rel,
        "verdict": "",
    })
    frame["seed_claim"] = bool(seed_claim)
    return frame


def finalize(frames, alpha=DEFAULT_ALPHA):
    """Concatenate comparison batches, apply Holm across all of them, assign verdicts.

    Underpowered rows are excluded from the Holm family (they are not tested).
    """
    table = pd.concat(list(frames), ignore_index=True) if not isinstance(frames, pd.DataFrame) else frames.copy()
    if table.empty:  # e.g. --only picked theory-level seed claims, which show formulas, not comparisons
        table = comparison_rows("", "", [], [], [], [])
    under = (table["n_eff"] < MIN_EFFECTIVE) | table["p"].isna()
    p = table["p"].where(~under)
    table["p_holm"] = holm(p.to_numpy())
    rejected = table["p_holm"] < alpha
    table["verdict"] = np.select(
        [under, rejected & table["seed_claim"], rejected],
        ["underpowered", "seed-erratum", "fail"],
        default="pass",
    )
    return table
