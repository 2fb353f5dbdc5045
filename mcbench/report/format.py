"""How the report shows numbers: significant digits, z, p, counts, ``estimate ± SE``, the summary line."""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Sequence

import pandas as pd

from mcbench.validation.stats import VERDICTS

MISSING = "—"


def _special(value) -> str | None:
    """The text of a value that is not an ordinary finite number, else None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return MISSING if value is None else str(value)
    if math.isnan(v):
        return MISSING
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def fmt_num(value, sig: int = 6) -> str:
    """A float to ``sig`` significant digits; NaN as a dash, infinities as ``inf``."""
    return _special(value) or f"{float(value):.{sig}g}"


def fmt_z(value) -> str:
    """A z-score with 2 decimals."""
    return _special(value) or f"{float(value):.2f}"


def fmt_p(value) -> str:
    """A p-value in scientific notation (p-values of interest span many decades)."""
    special = _special(value)
    if special:
        return special
    return "0" if float(value) == 0 else f"{float(value):.2e}"


def fmt_count(value) -> str:
    """A sample count: whole numbers without exponent (4000000, not 4e+06)."""
    special = _special(value)
    if special:
        return special
    v = float(value)
    return f"{int(v)}" if v.is_integer() else fmt_num(v)


def fmt_pm(estimate, stderr) -> str:
    """``estimate ± stderr``."""
    return f"{fmt_num(estimate)} ± {fmt_num(stderr, 3)}"


#: How each numeric column of the comparison and errata tables is shown.
_COLUMN_FORMAT: dict[str, Callable] = {
    "theory": fmt_num, "estimate": fmt_num, "stderr": partial(fmt_num, sig=3), "dof": fmt_num,
    "n_eff": fmt_count, "z": fmt_z, "p": fmt_p, "p_holm": fmt_p, "rel_err": partial(fmt_num, sig=3),
    "seed_value": fmt_num, "correct_value": fmt_num, "z_seed": fmt_z, "z_correct": fmt_z,
    "seconds": partial(fmt_num, sig=3),
}


def format_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns of ``frame`` as text, each through its formatter (``str`` by default)."""
    return pd.DataFrame({c: [_COLUMN_FORMAT.get(c, str)(v) for v in frame[c]] for c in columns})


def verdict_counts_text(counts: dict, skip_zero: bool = False) -> str:
    """``pass 409, fail 1, ...``: verdict names kept verbatim so they can be grepped."""
    # finite-width exists only where a theory is known not to hold (mcbench check): shown when it occurs.
    parts = [f"{v} {counts[v]}" for v in VERDICTS if counts[v] or not (skip_zero or v == "finite-width")]
    if counts.get("other"):
        parts.append(f"no verdict {counts['other']}")
    return ", ".join(parts)


def row_label(row: dict) -> str:
    return f"{row['check']} {row['quantity']} {row['index']}"


def format_summary_line(counts: dict) -> str:
    """One line for a terminal or CI log, e.g.
    ``FAIL: 412 comparisons in 23 checks: pass 409, fail 1, ...; worst |z| 7.50 (relu/d16 cov (3, 7))``.
    """
    line = (f"{'OK' if counts['ok'] else 'FAIL'}: {counts['comparisons']} comparisons in {counts['checks']} "
            f"checks: {verdict_counts_text(counts)}")
    worst = counts.get("worst")
    if worst is not None:
        line += f"; worst |z| {fmt_z(worst['abs_z'])} ({row_label(worst)})"
    return line


