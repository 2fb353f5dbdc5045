"""The nightly history as one self-contained, offline HTML page (``mcbench history``).

From the rows of ``history.csv`` (and the flags :func:`mcbench.perf.nightly.history_flags`
replays from them) it draws, per kernel, the throughput and the fraction of
the machine limit against the run (commit and date), each with the min-max
band of that run's rounds and the ``SLOWER`` / ``SLOWER?`` flags marked; per
check family, the worst |z| against the run and the first run where a check
began to fail; and it lists the regressions as plain text, newest first.

Figures are PNGs drawn with matplotlib (the optional ``plot`` extra) and
inlined as base64, so the page needs no network and no other file. Without
matplotlib the page holds the tables and lists only, and says how to get the
figures. This module knows nothing of how the history is read or the flags
computed: :mod:`mcbench.perf.nightly` passes both in.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._io import replace_file
from mcbench.config import FIGURE_DPI
from mcbench.report.figures import load_matplotlib

#: What the page says (and ``mcbench history`` prints) when matplotlib is missing.
NO_PLOTS = "figures skipped: matplotlib is not installed (pip install 'mcbench[plot]'); tables only"
_FLAG_STYLE = {"SLOWER": ("v", "#d62728"), "SLOWER?": ("v", "#ff9f1c")}


def check_family(name: str) -> str:
    """The family of a check: its first two name parts for deep names (``mlp/meanfield``), else the first."""
    parts = name.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def _runs(history: pd.DataFrame) -> pd.DataFrame:
    """One row per run, in history order: ``run, label`` (short commit and date)."""
    runs = history.drop_duplicates("run")[["run", "commit", "date"]].reset_index(drop=True)
    runs["label"] = [f"{str(c)[:7]}\n{str(d)[:10]}" for c, d in zip(runs["commit"], runs["date"])]
    return runs


def first_failing_runs(history: pd.DataFrame) -> pd.DataFrame:
    """Per check failing in its latest run: the run where its current failing streak began."""
    checks = history[history["kind"] == "check"]
    order = {r: i for i, r in enumerate(dict.fromkeys(history["run"]))}
    rows = []
    for name, group in checks.groupby("name", sort=True):
        group = group.sort_values("run", key=lambda s: s.map(order))
        failing = ~(group["fails"] == 0).to_numpy()  # NaN: not shown to pass
        if not failing[-1]:
            continue
        start = len(failing) - 1
        while start > 0 and failing[start - 1]:
            start -= 1
        first = group.iloc[start]
        rows.append({"family": check_family(name), "check": name, "began": first["run"],
                     "commit": first["commit"], "date": first["date"], "fails now": group["fails"].iloc[-1]})
    return pd.DataFrame(rows, columns=["family", "check", "began", "commit", "date", "fails now"])


def regressions(flags: pd.DataFrame) -> list[str]:
    """Plain-text lines, newest first: every SLOWER / SLOWER? kernel flag and every new check failure."""
    if flags is None or flags.empty:
        return []
    kept = flags[flags["flag"].isin(["SLOWER", "SLOWER?", "NEW FAILURE"])]
    lines = []
    for _, f in kept.iloc[::-1].iterrows():
        ratio = f"x{f['ratio']:.2f} slower" if isinstance(f["ratio"], float) and math.isfinite(f["ratio"]) else ""
        note = f"; {f['note']}" if f.get("note") else ""
        lines.append(f"{f['run']}  {f['flag']:<11} {f['name']}  {ratio} (against {f['baseline']}){note}")
    return lines


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _kernel_figure(mpl, history, flags, runs) -> str | None:
    kernels = history[history["kind"] == "kernel"]
    names = list(dict.fromkeys(kernels["name"]))
    if not names:
        return None
    x_of = {r: i for i, r in enumerate(runs["run"])}
    fig = mpl.Figure(figsize=(11, 2.6 * len(names) + 0.6), dpi=FIGURE_DPI, layout="constrained")
    mpl.Canvas(fig)
    axes = fig.subplots(len(names), 2, squeeze=False)
    for (ax_t, ax_f), name in zip(axes, names):
        k = kernels[kernels["name"] == name]
        x = k["run"].map(x_of).to_numpy()
        for ax, mid, lo, hi, what in (
                (ax_t, "throughput", "throughput_min", "throughput_max", str(k["unit"].dropna().iloc[-1])
                 if k["unit"].astype(bool).any() else "throughput"),
                (ax_f, "fraction", "fraction_min", "fraction_max", "fraction of limit")):
            y = k[mid].to_numpy(float)
            if mid == "throughput" and np.isnan(y).all():  # runs before per-round figures: calls per second
                y, lo_v, hi_v = 1 / k["median_s"].to_numpy(float), 1 / k["max_s"].to_numpy(float), \
                    1 / k["min_s"].to_numpy(float)
                what = "calls/s"
            else:
                lo_v, hi_v = k[lo].to_numpy(float), k[hi].to_numpy(float)
            if np.isnan(y).all():
                ax.text(0.5, 0.5, "no limit for this kernel" if mid == "fraction" else "no data",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
            else:
                ax.fill_between(x, lo_v, hi_v, color="#1f77b4", alpha=0.25, linewidth=0, label="min-max of rounds")
                ax.plot(x, y, "o-", color="#1f77b4", ms=4, label="median")
                if flags is not None and len(flags):
                    for flag, (marker, color) in _FLAG_STYLE.items():
                        hit = flags[(flags["name"] == name) & (flags["flag"] == flag)]
                        xs = hit["run"].map(x_of).dropna().to_numpy(int)
                        ys = [y[list(x).index(i)] for i in xs if i in x]
                        if len(ys):
                            ax.plot(xs[:len(ys)], ys, marker, color=color, ms=10, ls="none", label=flag)
            ax.set_title(f"{name}: {what}", fontsize=8)
            ax.set_xticks(range(len(runs)))
            ax.set_xticklabels(runs["label"], fontsize=6)
            ax.tick_params(axis="y", labelsize=7)
            ax.grid(alpha=0.3)
        handles, labels = ax_t.get_legend_handles_labels()
        if handles:
            ax_t.legend(fontsize=6, loc="best")
    return _png(fig)


def _check_figure(mpl, history, runs) -> str | None:
    checks = history[history["kind"] == "check"].copy()
    if checks.empty:
        return None
    checks["family"] = checks["name"].map(check_family)
    x_of = {r: i for i, r in enumerate(runs["run"])}
    fig = mpl.Figure(figsize=(11, 3.4), dpi=FIGURE_DPI, layout="constrained")
    mpl.Canvas(fig)
    ax = fig.subplots()
    for family, group in checks.groupby("family", sort=True):
        worst = group.groupby("run")["worst_abs_z"].max()
        failing = group.groupby("run")["fails"].sum()
        xs = worst.index.map(x_of).to_numpy()
        order = np.argsort(xs)
        line, = ax.plot(xs[order], worst.to_numpy()[order], "o-", ms=4, label=family)
        bad = failing.reindex(worst.index).to_numpy()[order] > 0
        ax.plot(xs[order][bad], worst.to_numpy()[order][bad], "x", color="#d62728", ms=10, mew=2)
    ax.set_ylabel("worst |z|")
    ax.set_title("worst |z| per check family (x: a failing check in that run)", fontsize=9)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels(runs["label"], fontsize=6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=3, loc="best")
    return _png(fig)


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>none</p>"
    return frame.to_html(index=False, escape=True, border=0, classes="t",
                         float_format=lambda v: f"{v:.4g}", na_rep="")


def _kernel_table(history: pd.DataFrame) -> pd.DataFrame:
    k = history[history["kind"] == "kernel"]
    cols = ["run", "commit", "name", "median_s", "throughput", "unit", "fraction", "limit", "repeat",
            "other_load_cores"]
    return k[cols]


def _family_table(history: pd.DataFrame) -> pd.DataFrame:
    checks = history[history["kind"] == "check"].copy()
    if checks.empty:
        return pd.DataFrame()
    checks["family"] = checks["name"].map(check_family)
    table = checks.groupby(["run", "family"], sort=False).agg(
        checks=("name", "count"), fails=("fails", "sum"), worst_abs_z=("worst_abs_z", "max")).reset_index()
    return table


def render_dashboard(history: pd.DataFrame, flags: pd.DataFrame | None, title: str = "mcbench nightly history",
                     plots: bool = True) -> tuple[str, str]:
    """The dashboard page and a note ("" or :data:`NO_PLOTS`).

    Parameters
    ----------
    history : pandas.DataFrame
        Rows of ``history.csv`` (:func:`mcbench.perf.nightly.read_history`).
    flags : pandas.DataFrame or None
        ``run, baseline, kind, name, flag, ratio, note`` per comparison
        (:func:`mcbench.perf.nightly.history_flags`).
    plots : bool
        Draw the figures when matplotlib is available.
    """
    mpl = load_matplotlib() if plots else None
    note = "" if mpl is not None else NO_PLOTS
    runs = _runs(history) if len(history) else pd.DataFrame(columns=["run", "label"])
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{len(runs)} runs, {history['name'][history['kind'] == 'kernel'].nunique()} kernels, "
            f"{history['name'][history['kind'] == 'check'].nunique()} checks.</p>"]
    if note:
        body.append(f'<p class="note">{html.escape(note)}</p>')
    body.append("<h2>Regressions, newest first</h2>")
    lines = regressions(flags)
    body.append(f"<pre id=\"regressions\">{html.escape(chr(10).join(lines) if lines else 'none')}</pre>")
    body.append("<h2>Kernels: throughput and fraction of the machine limit</h2>")
    if mpl is not None and len(runs):
        png = _kernel_figure(mpl, history, flags, runs)
        if png:
            body.append(f'<img alt="kernel throughput and fraction of limit per run" '
                        f'src="data:image/png;base64,{png}">')
    body.append(_table(_kernel_table(history)) if len(history) else "<p>no runs yet</p>")
    body.append("<h2>Checks: worst |z| per family</h2>")
    if mpl is not None and len(runs):
        png = _check_figure(mpl, history, runs)
        if png:
            body.append(f'<img alt="worst |z| per check family per run" src="data:image/png;base64,{png}">')
    body.append("<h3>First run where a (still) failing check began to fail</h3>")
    body.append(_table(first_failing_runs(history)))
    body.append("<h3>Per run and family</h3>")
    body.append(_table(_family_table(history)))
    style = ("body{font-family:sans-serif;margin:1.5em;max-width:1200px}img{max-width:100%}"
             "table.t{border-collapse:collapse;font-size:12px}table.t td,table.t th{padding:2px 6px;"
             "border-bottom:1px solid #ddd}pre{background:#f6f6f6;padding:8px}.note{color:#a15c00}")
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    return page, note


def write_dashboard(history: pd.DataFrame, flags: pd.DataFrame | None, path: Path, plots: bool = True) -> str:
    """Write :func:`render_dashboard` to ``path`` atomically; returns its note ("" or :data:`NO_PLOTS`)."""
    page, note = render_dashboard(history, flags, plots=plots)
    replace_file(Path(path), page)
    return note
