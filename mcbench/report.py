"""Render a validation run into a results folder: CSV, JSON, Markdown, HTML and figures.

:func:`write_report` takes what :func:`mcbench.validate.run_validation` returns
(or any object with the same attributes) and writes into one folder

* ``report.csv``  every comparison row, for machines (:func:`read_table` reads it back);
* ``run.json``    environment, per-check wall times, alpha, summary counts, figure status;
* ``report.md``   the human-readable report, summary first;
* ``report.html`` the same content, self-contained (figures embedded, inline CSS);
* ``fig_*.png``   figures, when matplotlib is installed (the ``plot`` extra).

The Markdown and the HTML are rendered from one list of document blocks, so
the two files cannot disagree about content. Figures are drawn with
matplotlib's object-oriented API on an Agg canvas rather than through
``pyplot``: nothing global (the backend, the list of open figures) is touched,
so a report can be written from a notebook, a CLI or a CI job alike.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import types
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from .stats import MIN_EFFECTIVE

__all__ = [
    "write_report", "summary_counts", "per_check_counts", "tested_mask", "format_summary_line",
    "plots_available", "read_table",
    "FIGURE_FILES", "NO_MATPLOTLIB",
]

VERDICTS = ("pass", "fail", "seed-erratum", "underpowered")
#: Verdicts of rows z-tested against the build's theory. Seed claims are tested
#: too, but they judge a document, so they stay out of "worst |z|" and the histogram.
TESTED = ("pass", "fail")
#: A check with at most this many rows is shown whole; a larger one shows its worst rows.
FULL_TABLE_MAX_ROWS = 20
WORST_ROWS = 10
DPI = 110
#: Colour scale of the covariance heat map: |z| beyond this saturates.
Z_CLIP = 5.0
NO_MATPLOTLIB = "figures skipped: matplotlib is not installed (pip install 'mcbench[plot]')"
MISSING = "—"


# ------------------------------------------------------------ formatting ---


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


def _format_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns of ``frame`` as text, each through its formatter (``str`` by default)."""
    return pd.DataFrame({c: [_COLUMN_FORMAT.get(c, str)(v) for v in frame[c]] for c in columns})


def _verdict_counts_text(counts: dict, skip_zero: bool = False) -> str:
    """``pass 409, fail 1, ...``: verdict names kept verbatim so they can be grepped."""
    parts = [f"{v} {counts[v]}" for v in VERDICTS if counts[v] or not skip_zero]
    if counts.get("other"):
        parts.append(f"no verdict {counts['other']}")
    return ", ".join(parts)


def _row_label(row: dict) -> str:
    return f"{row['check']} {row['quantity']} {row['index']}"


# --------------------------------------------------------------- summary ---


def _abs_z(frame: pd.DataFrame) -> np.ndarray:
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
        The run's comparison table (columns as in :mod:`mcbench.stats`).
    alpha : float, optional
        The run's family-wise error rate; when given, the Holm critical |z| is added.

    Returns
    -------
    dict
        ``comparisons``, ``checks``, one count per verdict (``pass``, ``fail``,
        ``seed-erratum``, ``underpowered``), ``other`` (rows with none of these),
        ``holm_family`` (rows Holm corrected over: all but underpowered), ``ok``
        (no fail), ``failing_checks`` (check -> fails) and ``worst``: the tested
        (pass/fail) row with the largest |z|, as a dict, or None.
    """
    verdict = table["verdict"] if len(table) else pd.Series([], dtype=object)
    counts = {"comparisons": int(len(table)), "checks": int(table["check"].nunique()) if len(table) else 0}
    counts.update({v: int((verdict == v).sum()) for v in VERDICTS})
    counts["other"] = counts["comparisons"] - sum(counts[v] for v in VERDICTS)
    counts["holm_family"] = int((verdict != "underpowered").sum())
    counts["ok"] = counts["fail"] == 0
    fails = table[verdict == "fail"] if len(table) else table
    counts["failing_checks"] = {str(k): int(n) for k, n in fails.groupby("check", sort=False).size().items()} \
        if len(fails) else {}
    tested = table[tested_mask(table)] if len(table) else table
    absz = _abs_z(tested) if len(tested) else np.array([])
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


def format_summary_line(counts: dict) -> str:
    """One line for a terminal or CI log, e.g.
    ``FAIL: 412 comparisons in 23 checks: pass 409, fail 1, ...; worst |z| 7.50 (relu/d16 cov (3, 7))``.
    """
    line = (f"{'OK' if counts['ok'] else 'FAIL'}: {counts['comparisons']} comparisons in {counts['checks']} "
            f"checks: {_verdict_counts_text(counts)}")
    worst = counts.get("worst")
    if worst is not None:
        line += f"; worst |z| {fmt_z(worst['abs_z'])} ({_row_label(worst)})"
    return line


# ------------------------------------------------------ document blocks ---
# A report is a list of blocks; each renders itself as Markdown and as HTML.
# Text uses a tiny inline markup (**bold**, *italic*, `code`) valid in both.


def _inline_html(text: str) -> str:
    # Quotes need no escaping outside attributes; keeping them makes the text greppable.
    s = html.escape(text, quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", s)


@dataclass
class _Heading:
    text: str
    level: int = 2

    def markdown(self):
        return "#" * self.level + " " + self.text

    def html(self):
        return f"<h{self.level}>{_inline_html(self.text)}</h{self.level}>"


@dataclass
class _Text:
    text: str
    css: str = ""

    def markdown(self):
        return self.text

    def html(self):
        cls = f' class="{self.css}"' if self.css else ""
        return f"<p{cls}>{_inline_html(self.text)}</p>"


@dataclass
class _Bullets:
    items: list

    def markdown(self):
        return "\n".join(f"- {item}" for item in self.items)

    def html(self):
        return "<ul>\n" + "\n".join(f"<li>{_inline_html(item)}</li>" for item in self.items) + "\n</ul>"


#: Verdict cells as shown; fails must be impossible to miss in plain text.
_MD_VERDICT = {"fail": "**FAIL**", "seed-erratum": "*seed-erratum*"}
_NUMERIC_CELL = re.compile(r"^[-+]?(\d|\.\d|inf$|—$)")


@dataclass
class _Table:
    """Cells already formatted as text; a ``verdict`` column, if any, decorates its rows."""

    frame: pd.DataFrame

    def _verdicts(self):
        return list(self.frame["verdict"]) if "verdict" in self.frame else [""] * len(self.frame)

    def markdown(self):
        def cell(text):
            return str(text).replace("|", "\\|").replace("\n", " ")

        rows = [[cell(c) for c in self.frame.columns]]
        for values, verdict in zip(self.frame.itertuples(index=False), self._verdicts()):
            rows.append([_MD_VERDICT.get(verdict, cell(v)) if col == "verdict" else cell(v)
                         for col, v in zip(self.frame.columns, values)])
        # Padding costs nothing in rendered Markdown and keeps the raw file readable.
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def html(self):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = []
        for values, verdict in zip(self.frame.itertuples(index=False), self._verdicts()):
            tds = []
            for col, v in zip(self.frame.columns, values):
                text = "FAIL" if col == "verdict" and verdict == "fail" else str(v)
                cls = ' class="num"' if _NUMERIC_CELL.match(text) else ""
                tds.append(f"<td{cls}>{html.escape(text)}</td>")
            cls = f' class="{verdict}"' if verdict in VERDICTS else ""
            body.append(f"<tr{cls}>{''.join(tds)}</tr>")
        return (f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
                + "\n".join(body) + "\n</tbody></table></div>")


@dataclass
class _Image:
    filename: str
    title: str
    caption: str
    png: bytes

    def markdown(self):
        return f"![{self.title}]({self.filename})\n\n{self.caption}"

    def html(self):
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(self.title)}">'
                f"<figcaption>{_inline_html(self.caption)}</figcaption></figure>")


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 75em;
       margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 1.8em; }
code { background: #f2f2f2; padding: 0 .2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.88em; margin: .6em 0; }
th, td { border: 1px solid #ccc; padding: .2em .5em; white-space: nowrap; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fbd5d5; color: #8b0000; font-weight: bold; }
tr.seed-erratum td { background: #ffe3bf; color: #8a4b00; }
tr.underpowered td { color: #888; background: #f4f4f4; }
p.status { padding: .5em .8em; font-size: 1.1em; }
p.status.ok { background: #dff3df; } p.status.fail { background: #fbd5d5; color: #8b0000; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
"""


def _render_markdown(blocks) -> str:
    return "\n\n".join(b.markdown() for b in blocks) + "\n"


def _render_html(blocks, title: str) -> str:
    body = "\n".join(b.html() for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")


# --------------------------------------------------------------- figures ---


def _load_matplotlib():
    """The few matplotlib pieces the figures use, or None when it is not installed."""
    try:
        # Import the top-level package first: a hidden/absent matplotlib must fail
        # here even when submodules are still cached in sys.modules.
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        return None
    return types.SimpleNamespace(Figure=Figure, Canvas=FigureCanvasAgg, Line2D=Line2D,
                                 colormaps=matplotlib.colormaps)


def plots_available() -> bool:
    """Whether matplotlib is importable, i.e. whether :func:`write_report` draws figures."""
    return _load_matplotlib() is not None


def _is_empty(frame) -> bool:
    return frame is None or len(frame) == 0


def _new_figure(mpl, n_panels: int, panel_size=(4.6, 3.6), max_cols: int = 3):
    """A figure with ``n_panels`` axes on an Agg canvas; surplus grid cells are hidden."""
    ncols = min(n_panels, max_cols)
    nrows = math.ceil(n_panels / ncols)
    fig = mpl.Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), dpi=DPI, layout="constrained")
    mpl.Canvas(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _spans_decades(values, decades: float = 2.0) -> bool:
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 1 and v.max() / v.min() > 10.0 ** decades


def _depth_profile_figure(mpl, profiles, quantity, ylabel, title):
    if _is_empty(profiles) or "quantity" not in profiles:
        return None
    data = profiles[profiles["quantity"] == quantity]
    if data.empty:
        return None
    activations = list(dict.fromkeys(data["activation"]))
    # One colour per init across all panels, so a scheme is recognisable everywhere.
    colours = {init: f"C{k % 10}" for k, init in enumerate(dict.fromkeys(data["init"]))}
    fig, axes = _new_figure(mpl, len(activations))
    for ax, activation in zip(axes, activations):
        panel = data[data["activation"] == activation]
        for (init, check), line in panel.groupby(["init", "check"], sort=False):
            line = line.sort_values("layer")
            several = panel.loc[panel["init"] == init, "check"].nunique() > 1
            label = f"{init} (depth {line['depth'].iloc[0]})" if several else str(init)
            c = colours[init]
            ax.plot(line["layer"], line["theory"], "-", color=c, lw=1.6, label=f"{label}: theory")
            ax.errorbar(line["layer"], line["estimate"], yerr=2 * line["stderr"], fmt="o", ms=3.5,
                        color=c, capsize=2, elinewidth=1, label=f"{label}: MC ± 2 SE")
        if _spans_decades(panel[["theory", "estimate"]].to_numpy()):
            ax.set_yscale("log")
        ax.set_title(f"activation: {activation}")
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def _fig_variance_depth(mpl, result):
    return _depth_profile_figure(mpl, result.profiles, "q", r"forward variance $q^{\,l}$",
                                 "Forward signal variance vs depth: theory (lines), Monte Carlo (points)")


def _fig_gradient_depth(mpl, result):
    return _depth_profile_figure(mpl, result.profiles, "qtilde", r"gradient variance $\tilde{q}^{\,l}$",
                                 "Backward gradient variance vs depth: theory (lines), Monte Carlo (points)")


def _tested_z(table) -> np.ndarray:
    """Finite z of rows tested against the build's theory (not underpowered, not seed claims)."""
    if _is_empty(table):
        return np.array([])
    z = pd.to_numeric(table.loc[tested_mask(table), "z"], errors="coerce").to_numpy(dtype=float)
    return z[np.isfinite(z)]


def _fig_zscores(mpl, result):
    z = _tested_z(result.table)
    if z.size == 0:
        return None
    counts = summary_counts(result.table, result.alpha)
    crit = counts["holm_critical_z"]
    lim = max(4.5, crit + 0.75) if np.isfinite(crit) else 4.5
    n_bins = int(np.clip(2 * np.sqrt(z.size), 12, 60))
    width = 2 * lim / n_bins
    fig, (ax,) = _new_figure(mpl, 1, panel_size=(7.5, 4.5))
    # Weights rather than density=True: the density is over all n z-scores, so
    # values beyond the axis (reported below) do not inflate the visible bars.
    beyond = int((np.abs(z) > lim).sum())
    label = f"Monte Carlo z (n = {z.size}" + (f"; {beyond} beyond ±{lim:.1f}, not shown)" if beyond else ")")
    ax.hist(z, bins=np.linspace(-lim, lim, n_bins + 1), weights=np.full(z.size, 1 / (z.size * width)),
            color="C0", alpha=0.55, edgecolor="white", label=label)
    x = np.linspace(-lim, lim, 400)
    ax.plot(x, _st.norm.pdf(x), "k-", lw=1.5, label="N(0, 1) density")
    if np.isfinite(crit):
        for sign in (-1, 1):
            ax.axvline(sign * crit, color="C3", ls="--", lw=1.2,
                       label=f"Holm critical |z| = {crit:.2f} (α = {result.alpha:g}, m = {counts['holm_family']})"
                       if sign > 0 else None)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(0, 1.3 * max(ax.get_ylim()[1], _st.norm.pdf(0)))  # headroom for the legend
    ax.set_xlabel("z = (Monte Carlo − theory) / SE")
    ax.set_ylabel("density")
    ax.set_title("z-scores of tested comparisons against N(0, 1)")
    ax.legend(fontsize="small", loc="upper right")
    return fig


_ENTRY = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def _relu_cov_matrix(table):
    """(check, z matrix) of the ReLU covariance check with the largest dimension, or None.

    Underpowered entries are NaN: their z is not a test, so they are drawn grey.
    """
    if _is_empty(table):
        return None
    rows = table[table["check"].astype(str).str.startswith("relu/") & (table["quantity"] == "cov")]
    parsed = rows["index"].astype(str).str.extract(_ENTRY).dropna().astype(int)
    if parsed.empty:
        return None
    rows = rows.loc[parsed.index].assign(i=parsed[0], j=parsed[1])
    dims = rows.groupby("check", sort=False)[["i", "j"]].max().max(axis=1) + 1
    check = dims.idxmax()  # first check in run order among the largest
    d = int(dims[check])
    entries = rows[rows["check"] == check]
    z = np.full((d, d), np.nan)
    tested = entries["verdict"] != "underpowered"
    vals = np.where(tested, entries["z"].to_numpy(dtype=float), np.nan)
    i, j = entries["i"].to_numpy(), entries["j"].to_numpy()
    z[i, j] = vals
    z[j, i] = vals
    return check, z


def _fig_relu_cov_heatmap(mpl, result):
    found = _relu_cov_matrix(result.table)
    if found is None:
        return None
    check, z = found
    d = z.shape[0]
    fig, (ax,) = _new_figure(mpl, 1, panel_size=(6.2, 5.2))
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.8")
    image = ax.imshow(np.clip(z, -Z_CLIP, Z_CLIP), cmap=cmap, vmin=-Z_CLIP, vmax=Z_CLIP, interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    cbar.set_label(f"z = (MC − theory) / SE, clipped to ±{Z_CLIP:g}")
    if d <= 8:  # small matrices: print the numbers, which the colour alone hides
        for i in range(d):
            for j in range(d):
                if np.isfinite(z[i, j]) or np.isinf(z[i, j]):
                    ax.text(j, i, fmt_z(z[i, j]), ha="center", va="center", fontsize=9,
                            color="white" if abs(z[i, j]) > 0.6 * Z_CLIP else "black")
    if d <= 16:
        ax.set_xticks(range(d))
        ax.set_yticks(range(d))
    ax.set_xlabel("j")
    ax.set_ylabel("i")
    ax.set_title(f"ReLU covariance entries: z per entry\n{check} (d = {d}; grey = untested)")
    return fig


def _fig_finite_width(mpl, result):
    fw = result.finite_width
    if _is_empty(fw):
        return None
    quantities = list(dict.fromkeys(fw["quantity"]))
    depths = sorted(fw["depth"].unique())
    colours = {depth: f"C{k % 10}" for k, depth in enumerate(depths)}
    fig, axes = _new_figure(mpl, len(quantities), panel_size=(6.4, 4.4), max_cols=2)
    for ax, quantity in zip(axes, quantities):
        for depth, g in fw[fw["quantity"] == quantity].groupby("depth"):
            g = g.sort_values("width")
            x, c = 1.0 / g["width"].to_numpy(dtype=float), colours[depth]
            ax.errorbar(x, g["estimate"], yerr=2 * g["stderr"], fmt="o", ms=4, color=c, capsize=2)
            ax.plot(x, g["theory_exact"], "-", color=c, lw=1.5)
            ax.plot(x, g["theory_meanfield"], "--", color=c, lw=1.2)
        ax.set_xlim(left=0)  # 1/width = 0 is the mean-field limit
        ax.set_xlabel("1 / width")
        ax.set_ylabel(str(quantity))
        ax.set_title(f"{quantity} vs 1 / width")
        ax.grid(alpha=0.3)
        # Colour says depth, style says source: proxies keep the legend short.
        L = mpl.Line2D
        handles = [L([], [], color=colours[dp], lw=3, label=f"depth {dp}") for dp in depths] + [
            L([], [], color="k", marker="o", ls="none", label="Monte Carlo ± 2 SE"),
            L([], [], color="k", ls="-", label="exact finite-width theory"),
            L([], [], color="k", ls="--", label="mean field (blind to width)"),
        ]
        ax.legend(handles=handles, fontsize="small")
    fig.suptitle("Finite-width fluctuations: Monte Carlo vs exact theory and mean field")
    return fig


@dataclass(frozen=True)
class _FigureSpec:
    filename: str
    title: str
    caption: str
    needs: str  # what data the figure is drawn from, for the "skipped" note
    build: Callable  # (mpl, result) -> Figure | None (None: no data)


FIGURES = (
    _FigureSpec("fig_variance_depth.png", "Forward variance vs depth",
                "Per-layer forward variance q: closed-form theory (lines) and Monte Carlo (points, ±2 SE), one "
                "panel per activation, one colour per initialisation; log scale when the values span more than "
                "two decades. Signals shrink or explode with depth unless the initialisation matches the "
                "activation (Glorot & Bengio).",
                "`profiles` rows with quantity `q`", _fig_variance_depth),
    _FigureSpec("fig_gradient_depth.png", "Gradient variance vs depth",
                "Per-layer backward gradient variance q̃, drawn as the forward variance.",
                "`profiles` rows with quantity `qtilde`", _fig_gradient_depth),
    _FigureSpec("fig_zscores.png", "z-scores against N(0, 1)",
                "Histogram (density) of the z-scores of all tested comparisons (pass/fail; not underpowered, not "
                "seed claims) against the standard normal density; dashed: the Holm critical |z|. Rows with a "
                "replicate-based SE follow Student's t, slightly wider than the normal.",
                "tested rows with a finite z", _fig_zscores),
    _FigureSpec("fig_relu_cov_heatmap.png", "ReLU covariance z-scores",
                f"z per covariance entry of the largest ReLU-moment check (diverging colour scale centred at 0, "
                f"clipped to ±{Z_CLIP:g}; grey: underpowered, not tested).",
                "`cov` rows of a `relu/` check with `(i, j)` indices", _fig_relu_cov_heatmap),
    _FigureSpec("fig_finite_width.png", "Finite-width fluctuations",
                "Monte Carlo estimate ± 2 SE against 1/width with the exact finite-width theory (solid) and the "
                "mean-field value (dashed): mean field is flat in the width and cannot see the fluctuation.",
                "the `finite_width` frame", _fig_finite_width),
)
FIGURE_FILES = tuple(spec.filename for spec in FIGURES)


@dataclass
class _FigureOutcome:
    spec: _FigureSpec
    png: bytes | None
    note: str  # "written", or why not


def _render_figures(result, out_dir: Path, mpl) -> list[_FigureOutcome]:
    outcomes = []
    for spec in FIGURES:
        try:
            fig = spec.build(mpl, result)
        except Exception as exc:  # a broken figure must not cost the run its report
            warnings.warn(f"mcbench.report: {spec.filename} could not be drawn: {exc!r}", RuntimeWarning,
                          stacklevel=3)
            outcomes.append(_FigureOutcome(spec, None, f"not drawn, error: {exc!r}"))
            continue
        if fig is None:
            outcomes.append(_FigureOutcome(spec, None, f"skipped: no data in this run (needs {spec.needs})"))
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        png = buf.getvalue()
        (out_dir / spec.filename).write_bytes(png)
        outcomes.append(_FigureOutcome(spec, png, "written"))
    return outcomes


# --------------------------------------------------------- report blocks ---


def _title_blocks(env: dict) -> list:
    facts = [f"{label} `{env[key]}`" for key, label in
             (("suite", "suite"), ("seed", "seed"), ("commit", "commit")) if env.get(key) is not None]
    if env.get("finished"):
        facts.append(f"finished {env['finished']}")
    blocks = [_Heading("mcbench validation report", 1)]
    if facts:
        blocks.append(_Text("Run: " + ", ".join(facts) + "."))
    return blocks


def _summary_blocks(counts: dict, alpha: float) -> list:
    n_fail = counts["fail"]
    if n_fail:
        status = (f"**FAIL**: {n_fail} comparison{'s' if n_fail > 1 else ''} rejected at family-wise "
                  f"alpha = {alpha:g}.")
    else:
        status = f"OK: no tested comparison is rejected at family-wise alpha = {alpha:g}."
    items = [f"Comparisons: {counts['comparisons']} in {counts['checks']} checks: "
             f"{_verdict_counts_text(counts)}."]
    worst = counts["worst"]
    if worst is None:
        items.append("Worst |z|: no tested comparison.")
    else:
        items.append(f"Worst |z| among tested comparisons: {fmt_z(worst['abs_z'])} at `{worst['check']}` "
                     f"{worst['quantity']} {worst['index']} (z = {fmt_z(worst['z'])}, "
                     f"p_holm = {fmt_p(worst['p_holm'])}, {_MD_VERDICT.get(worst['verdict'], worst['verdict'])}).")
    items.append(f"Holm alpha = {alpha:g} over the {counts['holm_family']} comparisons that were tested; a "
                 f"normal-reference row needs |z| > {fmt_z(counts['holm_critical_z'])} to fail.")
    if counts["failing_checks"]:
        items.append("Failing checks: " + ", ".join(f"`{c}` ({n})" for c, n in counts["failing_checks"].items())
                     + ".")
    rules = [
        "**z and p**: z = (estimate − theory) / SE; p is two-sided, from the normal distribution when the SE "
        "has an exact form (`dof` = inf), and from Student's t with `dof` degrees of freedom when the SE is "
        "estimated from `dof` + 1 independent replicates.",
        "**Holm**: one step-down correction across the whole run (not per check), so a correct build fails a "
        "run with probability at most alpha; a row fails when its adjusted p (`p_holm`) is below alpha.",
        f"**underpowered** = fewer than {MIN_EFFECTIVE} informative samples, not tested (neither pass nor "
        "fail, and outside the Holm family).",
        "**seed-erratum** = a seed's formula as written, rejected by the data: the document is wrong, not the "
        "build, so it does not fail the run.",
    ]
    return [_Heading("Summary"), _Text(status, css="status " + ("fail" if n_fail else "ok")),
            _Bullets(items), _Text("How to read the verdicts:"), _Bullets(rules)]


def _errata_blocks(errata) -> list:
    blocks = [_Heading("Seed errata")]
    if _is_empty(errata):
        return blocks + [_Text("No seed claims were tested in this run.")]
    from .validate_claims import DERIVATION_UNRESOLVED, MONTE_CARLO

    errs = errata["verdict"] == "seed-erratum"
    by_mc = int((errs & (errata["refuted_by"] == MONTE_CARLO)).sum())
    unresolved = int((errata["refuted_by"] == DERIVATION_UNRESOLVED).sum())
    blocks.append(_Text(
        f"{len(errata)} seed claims examined, {int(errs.sum())} errata: {by_mc} refuted by this run's Monte "
        f"Carlo (z against the formula as written), {int(errs.sum()) - by_mc} by derivation and quadrature "
        f"(statements and theory-level claims, whose Monte Carlo evidence, where any, is in the MLP checks"
        + (f"; and {unresolved} slip(s) too small for this run's Monte Carlo to resolve: another seed or "
           "a larger suite may or may not reject them" if unresolved else "")
        + "). Each row puts the seed's formula as written beside the corrected one; each z is "
        "(Monte Carlo − value) / SE."))
    shown = _format_frame(errata, ["claim", "seed", "section", "as_written", "corrected", "seed_value",
                                   "correct_value", "z_seed", "z_correct", "verdict", "refuted_by"])
    shown.insert(7, "MC estimate ± SE", [fmt_pm(e, s) for e, s in zip(errata["estimate"], errata["stderr"])])
    if "note" in errata:
        shown["why"] = errata["note"].fillna("").astype(str).to_numpy()
    shown = shown.rename(columns={"as_written": "as written", "seed_value": "seed value",
                                  "correct_value": "correct value", "z_seed": "z (seed)",
                                  "z_correct": "z (corrected)", "refuted_by": "refuted by"})
    return blocks + [_Table(shown)]


def _figure_blocks(outcomes, have_matplotlib: bool) -> list:
    blocks = [_Heading("Figures")]
    if not have_matplotlib:
        return blocks + [_Text(f"*{NO_MATPLOTLIB}*")]
    for o in outcomes:
        blocks.append(_Heading(o.spec.title, 3))
        if o.png is None:
            blocks.append(_Text(f"*{o.spec.filename} {o.note}.*"))
        else:
            blocks.append(_Image(o.spec.filename, o.spec.title, o.spec.caption, o.png))
    return blocks


#: Columns of the per-check tables (``check`` is the section heading; seed_claim is in the CSV).
_CHECK_COLUMNS = ["quantity", "index", "theory", "estimate", "stderr", "dof", "n_eff", "z", "p", "p_holm",
                  "rel_err", "verdict"]
_VERDICT_RANK = {"fail": 0, "seed-erratum": 1, "pass": 2, "underpowered": 3}


def _worst_first(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered fails first, then errata, passes, underpowered; within each by |z|, largest first.

    Ranking by verdict before |z| keeps a fail visible even when an untested
    (underpowered) row of the same check has a larger |z|.
    """
    absz = np.nan_to_num(_abs_z(rows), nan=-1.0)
    rank = rows["verdict"].map(_VERDICT_RANK).fillna(len(_VERDICT_RANK)).to_numpy()
    return rows.iloc[np.lexsort((-absz, rank))]


def _check_blocks(table: pd.DataFrame, timings: dict) -> list:
    blocks = [_Heading("Checks"), _Text(
        f"One section per check, in run order. A check with more than {FULL_TABLE_MAX_ROWS} rows shows its "
        f"{WORST_ROWS} worst (fails first, then by |z|); report.csv has every row.")]
    if _is_empty(table):
        return blocks + [_Text("The run produced no comparisons.")]
    for check, rows in table.groupby("check", sort=False):
        counts = summary_counts(rows)
        facts = [f"{len(rows)} comparisons: {_verdict_counts_text(counts, skip_zero=True)}"]
        if counts["worst"] is not None:
            facts.append(f"worst tested |z| {fmt_z(counts['worst']['abs_z'])}")
        if check in timings:
            facts.append(f"wall time {fmt_num(timings[check], 3)} s")
        blocks += [_Heading(f"{'**FAIL** ' if counts['fail'] else ''}`{check}`", 3), _Text("; ".join(facts) + ".")]
        shown = rows
        if len(rows) > FULL_TABLE_MAX_ROWS:
            shown = _worst_first(rows).head(WORST_ROWS)
        blocks.append(_Table(_format_frame(shown, [c for c in _CHECK_COLUMNS if c in rows])))
        if len(shown) < len(rows):
            blocks.append(_Text(f"*Showing the {len(shown)} worst of {len(rows)} rows; {len(rows) - len(shown)} "
                                "rows omitted, report.csv has all.*"))
    return blocks


def _info_blocks(info) -> list:
    """Tables that illustrate rather than test (finite-width gaps, drift depths)."""
    if not info:
        return []
    blocks = [_Heading("Illustrations (not tested)"), _Text(
        "These tables show what the theory predicts beyond the tested range, or how far a finite "
        "network is from its mean-field limit; they carry no verdict.")]
    for title, frame in info:
        blocks.append(_Heading(title, 3))
        shown = frame.copy()
        for col in shown.columns:
            if pd.api.types.is_float_dtype(shown[col]):
                shown[col] = [fmt_num(v) for v in shown[col]]
        blocks.append(_Table(shown.astype(str)))
    return blocks


def _environment_blocks(env: dict) -> list:
    def text(v):
        if isinstance(v, float):
            return fmt_num(v)
        return json.dumps(v) if isinstance(v, (dict, list, tuple)) else str(v)

    frame = pd.DataFrame({"key": list(env), "value": [text(v) for v in env.values()]})
    return [_Heading("Environment"), _Table(frame) if len(frame) else _Text("No environment recorded.")]


def _timing_blocks(timings: dict, env: dict) -> list:
    blocks = [_Heading("Wall time per check")]
    if not timings:
        return blocks + [_Text("No timings recorded.")]
    seconds = pd.Series(timings, dtype=float).sort_values(ascending=False)
    total = float(seconds.sum())
    line = f"Sum over checks: {fmt_num(total, 3)} s"
    if isinstance(env.get("seconds"), (int, float)):
        line += f"; whole run: {fmt_num(env['seconds'], 3)} s"
    frame = pd.DataFrame({"check": seconds.index, "seconds": [fmt_num(s, 3) for s in seconds],
                          "share": [f"{100 * s / total:.1f} %" if total > 0 else MISSING for s in seconds]})
    return blocks + [_Text(line + " (slowest first)."), _Table(frame)]


# ------------------------------------------------------------------ I/O ---


def _json_safe(obj):
    """``obj`` with numpy scalars as Python ones and non-finite floats as strings/None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_table(path) -> pd.DataFrame:
    """Read a ``report.csv`` back with the types it was written with.

    ``index`` mixes layers ("3") and entries ("(0, 1)"); read naively, a check
    with only layers would come back as integers, so the label columns are
    forced to text.
    """
    return pd.read_csv(path, dtype={"check": str, "quantity": str, "index": str, "verdict": str})


def write_report(result, out_dir) -> dict[str, Path]:
    """Write a validation run's report files into ``out_dir``.

    Parameters
    ----------
    result : object
        Anything with the attributes of :class:`mcbench.validate.ValidationResult`:
        ``table``, ``profiles``, ``finite_width``, ``errata`` (DataFrames, the
        last three possibly empty), ``env`` (dict), ``timings`` (check ->
        seconds) and ``alpha`` (Holm family-wise error rate).
    out_dir : path-like
        Folder to write into (created if missing).

    Returns
    -------
    dict
        ``csv``, ``json``, ``md``, ``html`` and one entry per figure written
        (keyed by file stem, e.g. ``fig_zscores``) -> path. Without matplotlib
        no figure is written and the reports say so (:data:`NO_MATPLOTLIB`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, env, timings = result.table, dict(result.env or {}), dict(result.timings or {})
    counts = summary_counts(table, result.alpha)
    paths = {"csv": out_dir / "report.csv", "json": out_dir / "run.json", "md": out_dir / "report.md",
             "html": out_dir / "report.html"}

    table.to_csv(paths["csv"], index=False)

    mpl = _load_matplotlib()
    outcomes = _render_figures(result, out_dir, mpl) if mpl is not None else []
    for o in outcomes:
        if o.png is not None:
            paths[Path(o.spec.filename).stem] = out_dir / o.spec.filename

    figures = {o.spec.filename: o.note for o in outcomes} if mpl is not None else \
        {f: NO_MATPLOTLIB for f in FIGURE_FILES}
    run = {"env": env, "timings": timings, "alpha": result.alpha, "summary": counts, "figures": figures}
    paths["json"].write_text(json.dumps(_json_safe(run), indent=2, allow_nan=False) + "\n", encoding="utf-8")

    blocks = (_title_blocks(env) + _summary_blocks(counts, result.alpha) + _errata_blocks(result.errata)
              + _figure_blocks(outcomes, mpl is not None) + _check_blocks(table, timings)
              + _info_blocks(getattr(result, "info", None)) + _environment_blocks(env) + _timing_blocks(timings, env))
    paths["md"].write_text(_render_markdown(blocks), encoding="utf-8")
    title = " ".join(["mcbench validation report"] + [str(env[k]) for k in ("suite", "finished") if env.get(k)])
    paths["html"].write_text(_render_html(blocks, title), encoding="utf-8")
    return paths
