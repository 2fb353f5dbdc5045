"""The report's figures, drawn with matplotlib's object-oriented API on an Agg canvas.

Nothing global (the backend, pyplot's list of open figures) is touched, so a
report can be written from a notebook, a CLI or a CI job alike. matplotlib is
the optional ``plot`` extra: without it the report says how to get figures.
"""

from __future__ import annotations

import io
import math
import re
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats as _st

from mcbench.config import FIGURE_DPI, Z_CLIP
from mcbench.report.format import fmt_z
from mcbench.validation.stats import summary_counts, tested_mask

NO_MATPLOTLIB = "figures skipped: matplotlib is not installed (pip install 'mcbench[plot]')"


def load_matplotlib():
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
    return load_matplotlib() is not None


def is_empty(frame) -> bool:
    return frame is None or len(frame) == 0


def _new_figure(mpl, n_panels: int, panel_size=(4.6, 3.6), max_cols: int = 3):
    """A figure with ``n_panels`` axes on an Agg canvas; surplus grid cells are hidden."""
    ncols = min(n_panels, max_cols)
    nrows = math.ceil(n_panels / ncols)
    fig = mpl.Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), dpi=FIGURE_DPI, layout="constrained")
    mpl.Canvas(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _spans_decades(values, decades: float = 2.0) -> bool:
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 1 and v.max() / v.min() > 10.0 ** decades


#: How the figures name the init schemes.
_INIT_NAMES = {"lecun_normal": "LeCun", "xavier_normal": "Xavier", "he_normal": "He", "lecun_uniform": "LeCun (uniform)",
               "xavier_uniform": "Xavier (uniform)", "he_uniform": "He (uniform)"}


def _coinciding_groups(data) -> list[list[str]]:
    """Init schemes grouped when their theory curves coincide in every panel (LeCun and Xavier on equal widths)."""
    inits = list(dict.fromkeys(data["init"]))
    curves = {init: data[data["init"] == init].sort_values(["activation", "layer"])["theory"].to_numpy()
              for init in inits}
    groups: list[list[str]] = []
    for init in inits:
        for group in groups:
            ref = curves[group[0]]
            if ref.shape == curves[init].shape and np.allclose(ref, curves[init], rtol=1e-12, atol=0.0):
                group.append(init)
                break
        else:
            groups.append([init])
    return groups


def _depth_profile_figure(mpl, profiles, quantity, ylabel, title):
    if is_empty(profiles) or "quantity" not in profiles:
        return None
    data = profiles[profiles["quantity"] == quantity]
    if data.empty:
        return None
    activations = list(dict.fromkeys(data["activation"]))
    # One colour per group of coinciding inits across all panels; a coinciding theory curve is drawn once.
    groups = _coinciding_groups(data)
    group_of = {init: k for k, group in enumerate(groups) for init in group}
    names = [" = ".join(_INIT_NAMES.get(i, i) for i in group) + (" (equal widths)" if len(group) > 1 else "")
             for group in groups]
    fig, axes = _new_figure(mpl, len(activations))
    for ax, activation in zip(axes, activations):
        panel = data[data["activation"] == activation]
        drawn = set()
        for (init, check), line in panel.groupby(["init", "check"], sort=False):
            line = line.sort_values("layer")
            k = group_of[init]
            c = f"C{k % 10}"
            if (k, line["depth"].iloc[0]) not in drawn:
                ax.plot(line["layer"], line["theory"], "-", color=c, lw=1.6)
                drawn.add((k, line["depth"].iloc[0]))
            shift = 0.12 * (groups[k].index(init) - 0.5 * (len(groups[k]) - 1))  # side by side when merged
            ax.errorbar(line["layer"] + shift, line["estimate"], yerr=2 * line["stderr"], fmt="o", ms=3.5,
                        color=c, capsize=2, elinewidth=1)
        if _spans_decades(panel[["theory", "estimate"]].to_numpy()):
            ax.set_yscale("log")
        ax.set_title(f"activation: {activation}")
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    L = mpl.Line2D
    handles = [L([], [], color=f"C{k % 10}", lw=3, label=name) for k, name in enumerate(names)] + [
        L([], [], color="k", ls="-", label="theory"),
        L([], [], color="k", marker="o", ls="none", label="Monte Carlo ± 2 SE")]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 * min(len(activations), 3)),
               fontsize="small", frameon=False)  # one legend for every panel, as wide as the panels
    fig.suptitle(title if len(activations) > 1 else title.split(":")[0])  # one panel: the short title fits
    return fig


def _fig_c_map(mpl, result):
    return _depth_profile_figure(mpl, result.profiles, "c", r"input-pair correlation $c^{\,l}$",
                                 "c-map: correlation of an input pair vs depth: theory (lines), Monte Carlo (points)")


def _fig_variance_depth(mpl, result):
    return _depth_profile_figure(mpl, result.profiles, "q", r"forward variance $q^{\,l}$",
                                 "Forward signal variance vs depth: theory (lines), Monte Carlo (points)")


def _fig_gradient_depth(mpl, result):
    return _depth_profile_figure(mpl, result.profiles, "qtilde", r"gradient variance $\tilde{q}^{\,l}$",
                                 "Backward gradient variance vs depth: theory (lines), Monte Carlo (points)")


def _tested_z(table) -> np.ndarray:
    """Finite z of rows tested against the build's theory (not underpowered, not seed claims)."""
    if is_empty(table):
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
    if is_empty(table):
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
    if is_empty(fw):
        return None
    quantities = list(dict.fromkeys(fw["quantity"]))
    depths = sorted(fw["depth"].unique())
    colours = {depth: f"C{k % 10}" for k, depth in enumerate(depths)}
    labels = {"norm_ratio_m2": "E[R²] / E[R]²,  R = ‖h$^l$‖² / ‖x‖²"}  # E[R] = 1 for the He ReLU nets drawn here
    fig, axes = _new_figure(mpl, len(quantities), panel_size=(6.4, 4.4), max_cols=2)
    for ax, quantity in zip(axes, quantities):
        rows = fw[fw["quantity"] == quantity]
        for depth, g in rows.groupby("depth"):
            g = g.sort_values("width")
            x, c = 1.0 / g["width"].to_numpy(dtype=float), colours[depth]
            ax.errorbar(x, g["estimate"], yerr=2 * g["stderr"], fmt="o", ms=4, color=c, capsize=3)
            ax.plot(x, g["theory_exact"], "-", color=c, lw=1.5)
            ax.plot(x, g["theory_meanfield"], "--", color=c, lw=1.2)
        ax.set_xlim(left=0)  # 1/width = 0 is the mean-field limit
        # Clip at 1.5x the largest theory value: a heavy-tailed estimate at the narrowest width would
        # otherwise squash every curve (its error bar runs off the top, capped).
        top = 1.5 * float(np.nanmax(rows[["theory_exact", "theory_meanfield"]].to_numpy(dtype=float)))
        if np.isfinite(top) and top > 0:
            ax.set_ylim(top=top)
        ax.set_xlabel("1 / width")
        ax.set_ylabel(labels.get(quantity, str(quantity)))
        ax.set_title(f"{labels.get(quantity, quantity).split(',')[0]} vs 1 / width")
        ax.grid(alpha=0.3)
    L = mpl.Line2D
    handles = [L([], [], color=colours[dp], lw=3, label=f"depth {dp}") for dp in depths] + [
        L([], [], color="k", marker="o", ls="none", label="Monte Carlo ± 2 SE"),
        L([], [], color="k", ls="-", label="exact finite-width theory"),
        L([], [], color="k", ls="--", label="mean field (blind to width)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize="small",
               frameon=False)
    fig.suptitle("Finite-width fluctuations: Monte Carlo vs exact theory and mean field")
    return fig


def _fig_nlo_gap(mpl, result):
    gap = getattr(result, "nlo_gap", None)
    if is_empty(gap):
        return None
    fig, axes = _new_figure(mpl, 1, panel_size=(6.4, 4.4), max_cols=1)
    ax = axes[0]
    mc = gap[gap["kind"] == "mc"].sort_values("width")
    line = gap[gap["kind"] == "nlo"].sort_values("width")
    ax.errorbar(1.0 / mc["width"].to_numpy(float), mc["gap"], yerr=2 * mc["gap_se"], fmt="o", ms=5, color="C0",
                capsize=3, label="Monte Carlo ± 2 SE")
    ax.plot(1.0 / line["width"].to_numpy(float), line["gap"], "-", color="C1", lw=1.5, label="1/n theory (NLO)")
    ax.axhline(0.0, color="k", ls="--", lw=1.2, label="mean field (blind to width)")
    for width in mc["width"]:
        ax.annotate(f"width {width}", (1.0 / width, float(mc.loc[mc["width"] == width, "gap"].iloc[0])),
                    textcoords="offset points", xytext=(6, -10), fontsize="small")
    ax.set_xlim(left=0)
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 0.0) - 0.05 * (hi - lo), max(hi, 0.0) + 0.05 * (hi - lo))  # mean field (0) in view
    ax.set_xlabel("1 / width")
    case, depth = gap["case"].iloc[0], gap["depth"].iloc[0]
    ax.set_ylabel(f"c$^{{{depth}}}$ − c$^{{{depth}}}_{{mean\\ field}}$  (correlation of an input pair)")
    ax.set_title(f"Finite-width gap of the c-map at depth {depth} ({case}, c$^0$ = 0.5)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
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
    _FigureSpec("fig_c_map.png", "Correlation (c-map) vs depth",
                "Correlation c of an input pair at each layer: theory (lines) and Monte Carlo (points, ±2 SE).",
                "`profiles` rows with quantity `c`", _fig_c_map),
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
    _FigureSpec("fig_nlo_gap.png", "Finite-width gap against 1/width (NLO)",
                "The gap between the correlation c of an input pair at the last layer and its mean-field value, "
                "against 1/width at fixed depth: Monte Carlo ± 2 SE, the 1/n (NLO) theory (solid) and mean field "
                "(dashed, zero). NLO follows the data while depth / width stays below about 0.3; at the narrowest "
                "width the O(1/n²) terms it leaves out show.",
                "the `nlo_gap` frame", _fig_nlo_gap),
)
FIGURE_FILES = tuple(spec.filename for spec in FIGURES)


@dataclass
class FigureOutcome:
    spec: _FigureSpec
    png: bytes | None
    note: str  # "written", or why not


def render_figures(result, out_dir: Path | None, mpl) -> list[FigureOutcome]:
    """Draw every figure of ``result``; write each PNG into ``out_dir`` (None: keep them in memory only)."""
    outcomes = []
    for spec in FIGURES:
        try:
            fig = spec.build(mpl, result)
        except Exception as exc:  # a broken figure must not cost the run its report
            warnings.warn(f"mcbench.report: {spec.filename} could not be drawn: {exc!r}", RuntimeWarning,
                          stacklevel=3)
            outcomes.append(FigureOutcome(spec, None, f"not drawn, error: {exc!r}"))
            continue
        if fig is None:
            outcomes.append(FigureOutcome(spec, None, f"skipped: no data in this run (needs {spec.needs})"))
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI)
        png = buf.getvalue()
        if out_dir is not None:
            (out_dir / spec.filename).write_bytes(png)
        outcomes.append(FigureOutcome(spec, png, "written"))
    return outcomes


