r"""Figures of a sweep: the order-to-chaos phase diagram and the correlation depth scale.

Both read the sweep table (one row per (cell, layer); see ``mcbench.sweep``)
and draw with matplotlib's object-oriented API on an Agg canvas, like the
report's figures (:mod:`mcbench.report.figures`): nothing global is touched.
matplotlib is the optional ``plot`` extra; without it the figure functions
raise ImportError naming ``pip install 'mcbench[plot]'``.
:func:`fit_depth_scale` needs only numpy.

The theory drawn is the mean-field order-to-chaos line chi_1 = 1
(:func:`mcbench.theory.critical_sigma_w2`; Poole et al. 2016, Schoenholz et
al. 2017): left of it (smaller sigma_w^2) the ordered phase, where input
pairs become perfectly correlated (c* = 1) and gradients vanish towards the
input; right of it the chaotic phase (c* < 1, gradients explode).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._io import replace_file_with
from mcbench.config import (
    CRITICAL_LINE_POINTS,
    DEPTH_FIT_ITERATIONS,
    DEPTH_FIT_MIN_LAYERS,
    DEPTH_FIT_MIN_SE,
    FIGURE_DPI,
)
from mcbench.report.figures import load_matplotlib
from mcbench.theory import critical_sigma_w2

#: What the figure functions say when matplotlib is missing.
NO_MATPLOTLIB = "mcbench.sweep figures need matplotlib, the optional plot extra: pip install 'mcbench[plot]'"
#: The columns that pick one network family; a figure draws one value of each.
GROUP_COLUMNS = ("activation", "width", "depth", "bias")


# ----------------------------------------------------------------- depth scale fit


def depth_fit_layers(layers, c, c_se, c_star) -> np.ndarray:
    """Which layers :func:`fit_depth_scale` uses, as a boolean mask in the order given.

    The layers, in increasing order, before the first one whose
    |c^l - c*| <= ``DEPTH_FIT_MIN_SE`` x c_se (from there on the deviation is
    lost in the noise, and its log is biased). Layers with a non-finite c or
    c_se, or c_se = 0 among noisy layers, are skipped: neither used nor
    ending the run. With every c_se = 0 (exact values) every layer with
    c^l != c* is used.
    """
    layers, c, c_se = (np.asarray(v, dtype=float) for v in (layers, c, c_se))
    if not (layers.shape == c.shape == c_se.shape and layers.ndim == 1):
        raise ValueError(f"layers, c and c_se must be 1-d of one length, got shapes {layers.shape}, {c.shape}, "
                         f"{c_se.shape}")
    use = np.zeros(layers.size, dtype=bool)
    if not math.isfinite(c_star):
        return use
    d = np.abs(c - c_star)
    finite = np.isfinite(d) & np.isfinite(c_se) & np.isfinite(layers)
    exact = finite.any() and bool(np.all(c_se[finite] == 0))
    for i in np.argsort(layers, kind="stable"):
        if not finite[i]:
            continue
        if exact:
            use[i] = d[i] > 0
            continue
        if c_se[i] <= 0:
            continue
        if d[i] <= DEPTH_FIT_MIN_SE * c_se[i]:
            break
        use[i] = True
    return use


def fit_depth_scale(layers, c, c_se, c_star) -> tuple[float, float]:
    r"""The correlation depth scale xi of Monte Carlo c^l, from |c^l - c*| ~ A exp(-l / xi).

    Weighted least squares of y_l = log|c^l - c*| on l over the layers of
    :func:`depth_fit_layers` (those before the first where
    |c^l - c*| <= ``mcbench.config.DEPTH_FIT_MIN_SE`` = 3 standard errors).
    The SE of y_l is c_se / |c^l - c*| (delta method), evaluated on the
    fitted line and re-fitted ``DEPTH_FIT_ITERATIONS`` times: weights from
    the observed |c^l - c*| favour the layers whose noise pushed them up and
    biased xi upwards by 0.16-0.6 SE in synthetic tests
    (``tests/studies/depth_fit_calibration.py``). With slope b and its
    SE s_b = (sum_l w_l (l - lbar)^2)^(-1/2) (known-variance WLS),

        xi = -1 / b,   SE(xi) = s_b / b^2   (delta method).

    Parameters
    ----------
    layers : array_like of int, shape (L,)
    c, c_se : array_like, shape (L,)
        Monte Carlo correlation of the input pair at each layer and its SE.
        All c_se = 0 means exact values (an unweighted fit with SE 0).
    c_star : float
        The fixed point c* the deviations decay to (the theory's ``c_star``:
        1 in the ordered phase).

    Returns
    -------
    (xi, xi_se) : tuple of float
        In layers. NaN, NaN when fewer than ``DEPTH_FIT_MIN_LAYERS`` = 3
        layers are usable (two points always fit a line), when the fitted
        deviation does not decay (b >= 0), or when c* is not finite.

    Notes
    -----
    The SE treats the layers' errors as independent. Monte Carlo c^l of one
    run come from the same networks at every layer, so they are positively
    correlated across layers, which this SE does not see: the table carries
    no covariances. The fit measures the decay over the layers it uses;
    close to the critical line the decay within a finite depth is not yet
    exponential (it is algebraic at chi_1 = 1) and xi falls below the
    linearised mean-field xi_c. :func:`depth_scale_figure` therefore also
    draws the same fit of the mean-field c^l.

    Examples
    --------
    >>> import numpy as np
    >>> from mcbench.sweeps.figures import fit_depth_scale
    >>> layers = np.arange(1, 13)
    >>> c = 1 - 0.4 * np.exp(-layers / 2.5)               # exact: recovers xi = 2.5
    >>> xi, se = fit_depth_scale(layers, c, np.zeros(12), 1.0)
    >>> round(xi, 12), se
    (2.5, 0.0)
    >>> xi, se = fit_depth_scale(layers, c, np.full(12, 0.01), 1.0)   # layers 1-6 (7 is within 3 SE)
    >>> round(xi, 12), round(se, 3)
    (2.5, 0.16)
    >>> fit_depth_scale([1, 2, 3], [0.5, 0.9, 0.999], [0.01] * 3, 1.0)   # 2 usable layers
    (nan, nan)
    """
    layers, c, c_se = (np.asarray(v, dtype=float) for v in (layers, c, c_se))
    use = depth_fit_layers(layers, c, c_se, c_star)
    return _fit_log_deviation(layers[use], np.abs(c[use] - c_star), c_se[use])


def _fit_log_deviation(x, d, se) -> tuple[float, float]:
    """The WLS fit of :func:`fit_depth_scale` on given layers x, deviations d > 0 and their SEs."""
    if x.size < DEPTH_FIT_MIN_LAYERS:
        return math.nan, math.nan
    y = np.log(d)
    exact = bool(np.all(se == 0))
    d_fit = d
    for _ in range(1 if exact else 1 + DEPTH_FIT_ITERATIONS):
        w = np.ones_like(x) if exact else (d_fit / se) ** 2  # 1 / SE(log|c - c*|)^2
        xbar = np.sum(w * x) / np.sum(w)
        ybar = np.sum(w * y) / np.sum(w)
        sxx = np.sum(w * (x - xbar) ** 2)
        slope = np.sum(w * (x - xbar) * (y - ybar)) / sxx
        d_fit = np.exp(ybar + slope * (x - xbar))
    if not slope < 0:
        return math.nan, math.nan
    xi = -1.0 / slope
    xi_se = 0.0 if exact else float(1.0 / math.sqrt(sxx) / slope**2)
    return float(xi), xi_se


# ----------------------------------------------------------------------- helpers


def _matplotlib():
    mpl = load_matplotlib()
    if mpl is None:
        raise ImportError(NO_MATPLOTLIB)
    from matplotlib import colors  # the plot extra is installed: load_matplotlib succeeded
    from matplotlib.patches import Patch

    mpl.colors, mpl.Patch = colors, Patch
    return mpl


def _new_figure(mpl, ncols: int, panel_size=(5.4, 4.4)):
    fig = mpl.Figure(figsize=(panel_size[0] * ncols, panel_size[1]), dpi=FIGURE_DPI, layout="constrained")
    mpl.Canvas(fig)
    return fig, fig.subplots(1, ncols, squeeze=False).ravel()


def _select(table: pd.DataFrame, **chosen) -> tuple[pd.DataFrame, dict]:
    """Rows of one network family (GROUP_COLUMNS), and that family's values.

    A keyword left None must be unique in the table (after the other filters).
    """
    if table is None or len(table) == 0:
        raise ValueError("the sweep table is empty")
    missing = [col for col in ("cell", "layer", "sigma_w2", "sigma_b2", *GROUP_COLUMNS) if col not in table]
    if missing:
        raise ValueError(f"the sweep table lacks the columns {', '.join(missing)}")
    data = table
    for col, value in chosen.items():
        if value is not None:
            data = data[data[col] == value]
            if data.empty:
                raise ValueError(f"no rows with {col} = {value!r}")
    family = {}
    for col in GROUP_COLUMNS:
        values = list(dict.fromkeys(data[col]))
        if len(values) > 1:
            raise ValueError(f"the table holds several {col}s ({', '.join(map(str, values))}); choose one with "
                             f"{col}=...")
        family[col] = values[0]
    return data, family


def _cells(data: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, its last layer (cell-level columns repeat on every row), checked for clashes."""
    last = data.sort_values("layer").groupby("cell", sort=False).tail(1)
    clash = last.duplicated(["sigma_w2", "sigma_b2"], keep=False)
    if clash.any():
        first = last[clash].iloc[0]
        raise ValueError(f"several cells at sigma_w2 = {first['sigma_w2']:g}, sigma_b2 = {first['sigma_b2']:g} "
                         f"(other settings differ, e.g. init or input_var); filter the table to one of them")
    return last


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted grid values: midpoints, the ends half a step out."""
    if values.size == 1:
        half = 0.5 * abs(values[0]) if values[0] != 0 else 0.5
        return np.array([values[0] - half, values[0] + half])
    mid = 0.5 * (values[1:] + values[:-1])
    return np.concatenate([[values[0] - (mid[0] - values[0])], mid, [values[-1] + (values[-1] - mid[-1])]])


def _grid(cells: pd.DataFrame, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigma_w2 grid, sigma_b2 grid, Z[sigma_b2, sigma_w2]) with NaN where the sweep has no cell."""
    xs = np.sort(cells["sigma_w2"].unique().astype(float))
    ys = np.sort(cells["sigma_b2"].unique().astype(float))
    z = np.full((ys.size, xs.size), np.nan)
    z[np.searchsorted(ys, cells["sigma_b2"].to_numpy(float)),
      np.searchsorted(xs, cells["sigma_w2"].to_numpy(float))] = np.asarray(values, dtype=float)
    return xs, ys, z


def _axis_labels(ax, bias: str):
    ax.set_xlabel(r"$\sigma_w^2$ = fan-in $\times$ Var($W$)  (weight variance)")
    ax.set_ylabel(r"$\sigma_b^2$ = Var($b$)  (bias variance)" if bias == "normal"
                  else r"$\sigma_b^2 = b^2$  (constant bias, squared)")


def _family_title(family: dict) -> str:
    bias = "" if family["bias"] == "normal" else f", {family['bias']} bias"
    return f"{family['activation']}, width {family['width']}, depth {family['depth']}{bias}"


def _save(fig, path) -> Path:
    path = Path(path)
    fig.savefig(path, format="png", dpi=FIGURE_DPI)
    return path


# ------------------------------------------------------------------ phase diagram


def phase_diagram(table: pd.DataFrame, path, *, activation=None, width=None, depth=None, bias=None) -> Path:
    r"""Two heat maps over (sigma_w^2, sigma_b^2) with the mean-field critical line chi_1 = 1 over both.

    Left: the Monte Carlo log gradient ratio ln(qtilde^1 / qtilde^L) (column
    ``log_grad_ratio``), on a diverging scale centred at 0 (< 0: gradients
    vanish towards the input, the ordered side; > 0: they explode, the
    chaotic side). Right: the Monte Carlo |c^L - c*| at the last layer
    (columns ``c`` and ``c_star``) on a log scale: how far the input pair's
    correlation still is from its fixed point. Grid points the sweep lacks
    are grey. The line is :func:`mcbench.theory.critical_sigma_w2` at
    ``CRITICAL_LINE_POINTS`` values of sigma_b^2 across the grid (~10 s for
    a quadrature activation such as tanh, 0.1 s for erf or relu).

    Parameters
    ----------
    table : pandas.DataFrame
        The sweep table. It must hold one activation, width, depth and bias
        kind, or the keywords must choose one.
    path : str or Path
        The PNG to write (its folder must exist).
    activation, width, depth, bias : optional
        Select one network family from a larger table.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'mcbench[plot]'``).
    ValueError
        The table is empty, lacks columns, mixes families the keywords do
        not choose between, or has two cells at one (sigma_w^2, sigma_b^2).
    """
    mpl = _matplotlib()
    data, family = _select(table, activation=activation, width=width, depth=depth, bias=bias)
    cells = _cells(data)
    xs, ys, grad = _grid(cells, cells["log_grad_ratio"])
    dist = np.abs(cells["c"].to_numpy(float) - cells["c_star"].to_numpy(float))
    _, _, dist = _grid(cells, dist)
    xe, ye = _edges(xs), _edges(ys)

    fig, (ax_g, ax_c) = _new_figure(mpl, 2)
    finite = np.isfinite(grad)
    lim = float(np.max(np.abs(grad[finite]))) if finite.any() else 1.0
    lim = lim if lim > 0 else 1.0
    cmap_g = mpl.colormaps["RdBu_r"].with_extremes(bad="0.8")
    image = ax_g.pcolormesh(xe, ye, np.ma.masked_invalid(grad), cmap=cmap_g, vmin=-lim, vmax=lim)
    fig.colorbar(image, ax=ax_g).set_label(r"$\ln(\tilde q^{\,1} / \tilde q^{\,L})$"
                                           "\n< 0: gradients vanish, > 0: explode")
    ax_g.set_title("Gradient growth through depth (Monte Carlo)")

    positive = np.isfinite(dist) & (dist > 0)
    cmap_c = mpl.colormaps["viridis"].with_extremes(bad="0.8")
    if positive.any():
        norm = mpl.colors.LogNorm(vmin=float(dist[positive].min()), vmax=float(dist[positive].max()))
    else:
        norm = mpl.colors.LogNorm(vmin=1e-3, vmax=1.0)
    image = ax_c.pcolormesh(xe, ye, np.ma.masked_where(~positive, dist), cmap=cmap_c, norm=norm)
    fig.colorbar(image, ax=ax_c).set_label(r"$|c^{\,L} - c^*|$ (log scale)")
    ax_c.set_title("Last-layer correlation vs its fixed point (Monte Carlo)")

    sb2_line = np.linspace(ys.min(), ys.max(), CRITICAL_LINE_POINTS) if ys.size > 1 else ys
    sw2_line = critical_sigma_w2(family["activation"], sb2_line, bias=family["bias"])
    for ax in (ax_g, ax_c):
        if ys.size > 1:
            ax.plot(sw2_line, sb2_line, "-", color="white", lw=4.0)  # a halo: readable on any colour
            ax.plot(sw2_line, sb2_line, "-", color="black", lw=2.0)
        else:
            ax.plot(sw2_line, sb2_line, "o", color="black", ms=7, mec="white")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        _axis_labels(ax, family["bias"])
    handles = [mpl.Line2D([], [], color="black", lw=2.0,
                          label=r"mean-field critical line $\chi_1 = 1$ (ordered to its left, chaotic to its right)")]
    if not (finite.all() and positive.all()):
        handles.append(mpl.Patch(facecolor="0.8", label="grey: no value (no cell there, or 0 on the log scale)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small", frameon=False)
    fig.suptitle(f"Order-to-chaos phase diagram: {_family_title(family)}")
    return _save(fig, path)


# -------------------------------------------------------------------- depth scale


def depth_scale_figure(table: pd.DataFrame, sigma_b2: float, path, *, activation=None, width=None, depth=None,
                       bias=None) -> Path:
    r"""The correlation depth scale xi_c against sigma_w^2 at one sigma_b^2: mean-field theory and Monte Carlo.

    At the sweep's sigma_b^2 closest to ``sigma_b2``: the mean-field xi_c of
    each cell (column ``xi_c``, -1 / ln chi_c linearised at c*) as a line;
    the Monte Carlo xi of :func:`fit_depth_scale` (columns ``layer``, ``c``,
    ``c_se``, ``c_star``) with +-2 SE error bars; the same fit of the
    mean-field c^l (column ``c_mf``, over the layers and with the SEs the
    Monte Carlo fit used), which is what the Monte Carlo estimates at this
    depth and width -> infinity; and the
    critical sigma_w^2 (chi_1 = 1, :func:`mcbench.theory.critical_sigma_w2`),
    where xi_c diverges, as a vertical line. The y axis stops at
    1.3 x the largest finite fitted value, and at 2 x depth at most (a
    longer scale is not measurable in the network); curves leave it there.

    Parameters
    ----------
    table : pandas.DataFrame
        The sweep table (one activation, width, depth and bias kind, or the
        keywords choose one).
    sigma_b2 : float
        The bias variance wanted; the nearest one in the table is drawn
        (the title says which).
    path : str or Path
        The PNG to write.
    activation, width, depth, bias : optional
        Select one network family from a larger table.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'mcbench[plot]'``).
    ValueError
        As :func:`phase_diagram`.
    """
    mpl = _matplotlib()
    data, family = _select(table, activation=activation, width=width, depth=depth, bias=bias)
    _cells(data)  # no two cells at one grid point
    levels = np.sort(data["sigma_b2"].unique().astype(float))
    sb2 = float(levels[np.argmin(np.abs(levels - float(sigma_b2)))])
    rows = data[data["sigma_b2"] == sb2]

    sw2, xi_th, xi_mc, xi_mc_se, xi_mf_fit = [], [], [], [], []
    for _, cell in rows.groupby("cell", sort=False):
        cell = cell.sort_values("layer")
        c_star = float(cell["c_star"].iloc[0])
        layers = cell["layer"].to_numpy(float)
        c, c_se = cell["c"].to_numpy(float), cell["c_se"].to_numpy(float)
        xi, se = fit_depth_scale(layers, c, c_se, c_star)
        use = depth_fit_layers(layers, c, c_se, c_star)
        # the same estimator (layers, weights) on the noise-free mean-field c^l
        mf = _fit_log_deviation(layers[use], np.abs(cell["c_mf"].to_numpy(float)[use] - c_star), c_se[use])[0]
        sw2.append(float(cell["sigma_w2"].iloc[0]))
        xi_th.append(float(cell["xi_c"].iloc[0]))
        xi_mc.append(xi)
        xi_mc_se.append(se)
        xi_mf_fit.append(mf)
    order = np.argsort(sw2)
    sw2, xi_th, xi_mc, xi_mc_se, xi_mf_fit = (np.asarray(v, dtype=float)[order]
                                             for v in (sw2, xi_th, xi_mc, xi_mc_se, xi_mf_fit))
    critical = critical_sigma_w2(family["activation"], sb2, bias=family["bias"])

    fig, (ax,) = _new_figure(mpl, 1, panel_size=(7.5, 4.8))
    cap = 2.0 * float(family["depth"])
    fitted = np.concatenate([xi_mc[np.isfinite(xi_mc)], xi_mf_fit[np.isfinite(xi_mf_fit)]])
    top = min(cap, 1.3 * float(fitted.max())) if fitted.size else cap
    ax.plot(sw2, np.where(np.isfinite(xi_th), xi_th, np.nan), "-", color="C0", lw=1.8,
            label=r"mean field $\xi_c = -1/\ln\chi_c$ (linearised at $c^*$)")
    ax.plot(sw2, xi_mf_fit, "x", color="C0", ms=7, mew=1.5,
            label="mean-field $c^{\\,l}$, same fit as the Monte Carlo (finite depth)")
    ok = np.isfinite(xi_mc)
    n_missing = int((~ok).sum())
    ax.errorbar(sw2[ok], xi_mc[ok], yerr=2 * xi_mc_se[ok], fmt="o", color="C1", ms=5, capsize=3, elinewidth=1.2,
                label="Monte Carlo fit ± 2 SE" + (f" ({n_missing} cell(s) with < {DEPTH_FIT_MIN_LAYERS} usable "
                                                   "layers: no point)" if n_missing else ""))
    if math.isfinite(critical):
        ax.axvline(critical, color="k", ls="--", lw=1.2,
                   label=f"critical $\\sigma_w^2$ = {critical:.4g} ($\\chi_1 = 1$): $\\xi_c \\to \\infty$")
    ax.set_ylim(0, top)
    if sw2.size > 1:
        ax.set_xlim(sw2.min() - 0.05 * np.ptp(sw2), sw2.max() + 0.05 * np.ptp(sw2))
    ax.set_xlabel(r"$\sigma_w^2$ = fan-in $\times$ Var($W$)  (weight variance)")
    ax.set_ylabel(r"correlation depth scale $\xi_c$ (layers)")
    ax.grid(alpha=0.3)
    bias_name = "Var(b)" if family["bias"] == "normal" else "b²"
    ax.set_title(f"Correlation depth scale: {_family_title(family)}, $\\sigma_b^2$ = {sb2:g} ({bias_name})"
                 + (f"\n(nearest to the {float(sigma_b2):g} asked for)" if sb2 != float(sigma_b2) else ""),
                 fontsize="medium")
    # below the plot: inside it, the legend covered the Monte Carlo points near the critical line
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize="small",
               frameon=False)
    return _save(fig, path)


# ----------------------------------------------------------------- the CLI's figures

PHASE_DIAGRAM_NAME = "fig_phase_diagram.png"
DEPTH_SCALE_SIGMA_B2 = 0.05
DEPTH_SCALE_NAME = "fig_depth_scale.png"


def draw_sweep_figures(table, out) -> list[str] | None:
    """Draw the figures the table supports into ``out``; their names, or None without matplotlib.

    Both draw the first (activation, width, depth) family of the table. The
    phase diagram needs at least 2 sigma_w^2 and 2 sigma_b^2 values; the
    depth-scale figure needs the ``c`` columns (a pair correlation) and at
    least 2 sigma_w^2 values, and is drawn at the sigma_b^2 nearest
    ``DEPTH_SCALE_SIGMA_B2`` (0.05, where the classic tanh figures sit).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    out = Path(out)
    drawn = []
    by_w = table[np.isfinite(table["sigma_w2"])]
    if by_w.empty:
        return drawn
    first = by_w.iloc[0]
    one = by_w[(by_w["activation"] == first["activation"]) & (by_w["width"] == first["width"])
               & (by_w["depth"] == first["depth"])]
    n_w, n_b = one["sigma_w2"].nunique(), one["sigma_b2"].nunique()
    if n_w >= 2 and n_b >= 2:
        replace_file_with(out / PHASE_DIAGRAM_NAME, lambda p: phase_diagram(one, p))
        drawn.append(PHASE_DIAGRAM_NAME)
    if n_w >= 2 and np.isfinite(one["c"]).any():
        levels = one["sigma_b2"].unique()
        chosen = levels[np.argmin(np.abs(levels - DEPTH_SCALE_SIGMA_B2))]
        replace_file_with(out / DEPTH_SCALE_NAME, lambda p: depth_scale_figure(one, chosen, p))
        drawn.append(DEPTH_SCALE_NAME)
    return drawn
