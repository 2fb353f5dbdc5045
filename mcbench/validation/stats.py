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
* An estimate is ``finite-width`` when the theory it is compared with is
  known not to hold at the network's width: a mean-field (infinite-width)
  value whose predicted finite-width shift exceeds a stated fraction of the
  standard error (:mod:`mcbench.validation.compare`). The caller marks such
  rows (verdict ``"finite-width"`` before :func:`finalize`); like
  ``underpowered`` they are kept outside the Holm family and never read pass.
* Seed claims (formulas as written in the seed documents) are tested like any
  other theory value; one that is rejected gets the verdict ``seed-erratum``
  rather than ``fail``: it is the document that is wrong, not the build.
* A mean-field row that theory cannot be expected to match at the run's
  width, because the predicted 1/n (NLO) finite-width shift of the quantity
  exceeds :data:`~mcbench.config.FINITE_WIDTH_SE_FRACTION` of its standard
  error, gets the verdict ``finite-width``: shown, outside the Holm family,
  never counted as a pass. The NLO row beside it is the one tested.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _st
from mcbench.config import DEFAULT_ALPHA, EXACT_RTOL, FINITE_WIDTH_SE_FRACTION, MIN_EFFECTIVE


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
                    seed_claim=False, finite_width=False):
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
    finite_width : bool or array_like of bool
        Rows whose theory (mean-field) is not expected to hold at this width:
        verdict ``finite-width``, outside the Holm family (see module docstring).
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
    frame["finite_width"] = np.broadcast_to(np.asarray(finite_width, bool), theory.shape)
    return frame


def beyond_mean_field(shift, stderr, *, unknown_is_beyond: bool) -> np.ndarray:
    """Rows whose mean-field theory is not expected to match: predicted finite-width shift > the SE fraction.

    Parameters
    ----------
    shift : array_like
        Predicted finite-width shift of each row (NLO minus mean field), units of the estimate.
    stderr : array_like
        The rows' standard errors, same units.
    unknown_is_beyond : bool
        What a NaN shift (no NLO prediction) means: not expected to hold
        (True) or tested against mean field as usual (False).

    Returns
    -------
    ndarray of bool, the ``finite_width`` flags for :func:`comparison_rows`
    """
    shift = np.abs(np.asarray(shift, dtype=float))
    limit = FINITE_WIDTH_SE_FRACTION * np.asarray(stderr, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(shift), unknown_is_beyond, shift > limit)


def finalize(frames, alpha=DEFAULT_ALPHA):
    """Concatenate comparison batches, apply Holm across all of them, assign verdicts.

    Underpowered and finite-width rows are excluded from the Holm family (they are not tested).
    """
    table = pd.concat(list(frames), ignore_index=True) if not isinstance(frames, pd.DataFrame) else frames.copy()
    if table.empty:  # e.g. --only picked theory-level seed claims, which show formulas, not comparisons
        table = comparison_rows("", "", [], [], [], [])
    beyond = table["finite_width"].fillna(False).astype(bool) if "finite_width" in table else False
    under = ((table["n_eff"] < MIN_EFFECTIVE) | table["p"].isna()) & ~beyond
    p = table["p"].where(~(under | beyond))
    table["p_holm"] = holm(p.to_numpy())
    rejected = table["p_holm"] < alpha
    table["verdict"] = np.select(
        [beyond, under, rejected & table["seed_claim"], rejected],
        [FINITE_WIDTH, "underpowered", "seed-erratum", "fail"],
        default="pass",
    )
    return table


# ------------------------------------------------------------- run summary ---

#: Every verdict a comparison row can get.
#: Rows whose theory is not expected to match at this width; set by the caller, see :func:`finalize`.
FINITE_WIDTH = "finite-width"
#: Verdicts of rows outside the Holm family (not tested).
UNTESTED = ("underpowered", FINITE_WIDTH)
VERDICTS = ("pass", "fail", "seed-erratum", "underpowered", FINITE_WIDTH)
#: Verdicts of rows z-tested against the build's theory. Seed claims are tested
#: too, but they judge a document, so they stay out of "worst |z|" and the histogram.
TESTED = ("pass", "fail")


def abs_z(frame: pd.DataFrame) -> np.ndarray:
    """|z| of a comparison table's rows, NaN where z is missing."""
    return np.abs(pd.to_numeric(frame["z"], errors="coerce").to_numpy(dtype=float))


def holm_critical_z(alpha: float, m: int) -> float:
    """The |z| a normal-reference row must exceed to be rejected first by Holm among ``m`` tests.

    Holm rejects the smallest p-value when ``m * p < alpha``, i.e. when
    ``|z| > isf(alpha / (2 m))``. With no rejection this is the bar for every row.
    """
    return float(_st.norm.isf(alpha / (2 * m))) if m > 0 else math.nan


def tested_mask(table: pd.DataFrame) -> pd.Series:
    """Rows z-tested against the build's theory: verdict pass or fail, and not a seed claim."""
    keep = table["verdict"].isin(TESTED)
    if "seed_claim" in table:
        keep &= ~table["seed_claim"].fillna(False).astype(bool)
    return keep


def per_check_counts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per check: ``check, rows``, one column per verdict, ``worst_abs_z`` (its pass/fail rows)."""
    rows = []
    for check, grp in table.groupby("check", sort=False):
        verdicts = grp["verdict"].value_counts()
        judged = grp[grp["verdict"].isin(TESTED)]  # a seed-claim check's own rows count for its line
        rows.append({"check": check, "rows": len(grp), **{v: int(verdicts.get(v, 0)) for v in VERDICTS},
                     "worst_abs_z": float(judged["z"].abs().max()) if len(judged) else np.nan})
    return pd.DataFrame(rows, columns=["check", "rows", *VERDICTS, "worst_abs_z"])


def summary_counts(table: pd.DataFrame, alpha: float | None = None) -> dict:
    """Counts per verdict, number of checks and the worst tested row of a comparison table.

    Parameters
    ----------
    table : DataFrame
        The run's comparison table (columns as in :mod:`mcbench.validation.stats`).
    alpha : float, optional
        The run's family-wise error rate; when given, the Holm critical |z| is added.

    Returns
    -------
    dict
        ``comparisons``, ``checks``, one count per verdict (``pass``, ``fail``,
        ``seed-erratum``, ``underpowered``, ``finite-width``), ``other`` (rows
        with none of these), ``holm_family`` (rows Holm corrected over: all but
        underpowered and finite-width), ``ok``
        (no fail), ``failing_checks`` (check -> fails) and ``worst``: the tested
        (pass/fail) row with the largest |z|, as a dict, or None.
    """
    verdict = table["verdict"] if len(table) else pd.Series([], dtype=object)
    counts = {"comparisons": int(len(table)), "checks": int(table["check"].nunique()) if len(table) else 0}
    counts.update({v: int((verdict == v).sum()) for v in VERDICTS})
    counts["other"] = counts["comparisons"] - sum(counts[v] for v in VERDICTS)
    counts["holm_family"] = int((~verdict.isin(UNTESTED)).sum())
    counts["ok"] = counts["fail"] == 0
    fails = table[verdict == "fail"] if len(table) else table
    counts["failing_checks"] = {str(k): int(n) for k, n in fails.groupby("check", sort=False).size().items()} \
        if len(fails) else {}
    tested = table[tested_mask(table)] if len(table) else table
    absz = abs_z(tested) if len(tested) else np.array([])
    if absz.size and not np.all(np.isnan(absz)):
        row = tested.iloc[int(np.nanargmax(absz))]
        counts["worst"] = {"check": str(row["check"]), "quantity": str(row["quantity"]),
                           "index": str(row["index"]), "z": float(row["z"]), "abs_z": float(abs(row["z"])),
                           "p_holm": float(row["p_holm"]), "verdict": str(row["verdict"])}
    else:
        counts["worst"] = None
    if alpha is not None:
        counts["alpha"] = float(alpha)
        counts["holm_critical_z"] = holm_critical_z(alpha, counts["holm_family"])
    return counts


