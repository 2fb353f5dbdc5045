r"""Your network, Monte Carlo against theory: :func:`compare` and its :class:`Comparison`.

:func:`compare` runs :func:`mcbench.mc.mlp_propagation` and
:func:`mcbench.theory.mlp_propagation` on one :class:`~mcbench.spec.MLPSpec`
and judges every layer's estimate by the suite's own rules
(:mod:`mcbench.validation.stats`: z, two-sided p from Student's t with
n_networks - 1 degrees of freedom, Holm across the table at ``alpha``).

Which theory each row is compared with
--------------------------------------
``theory="auto"`` picks, per quantity, the most accurate theory that applies:

* **exact** (``*_exact`` columns) where the finite-width law holds: ReLU or
  a x activations with zero bias (and Gaussian weights for the norm-ratio
  moments). q and phi2 are then exact at any width with their mean-field
  values; dphi2, qtilde, wgrad_ms and the norm-ratio moments use the exact
  columns.
* **nlo** (the 1/n theory of :mod:`mcbench.theory.nlo`) for q, c and
  norm_ratio_m2 otherwise (Gaussian weights).
* **mean_field** for the rest.

``theory="exact"``, ``"nlo"`` or ``"mean_field"`` force one kind where it
exists (``"exact"`` is an error where the exact law does not apply) and use
mean field for the quantities it does not cover.

Rows theory cannot be expected to match
---------------------------------------
A mean-field row is labelled ``finite-width`` (not tested, outside the Holm
family, never pass) when its *predicted finite-width shift* exceeds
:data:`~mcbench.config.FINITE_WIDTH_SE_FRACTION` (0.5) of its standard
error: the shift would then bias z by more than half a unit. The shift is the
NLO value minus the mean-field one (for uniform weights, that of the
Gaussian network with the same variances), so with ``G^l`` the per-network
kernel (E[G] = q_nlo, Var G = kernel_var) and f(q) = E[phi(z)^2],
g(q) = E[phi'(z)^2] for z ~ N(beta, q),

* q, c, norm_ratio_m2: ``q_nlo - q``, ``c_nlo - c``, ``norm_ratio_m2_nlo - norm_ratio_m2``;
* phi2 (dphi2): E[f(G)] - f(q) = f(q_nlo) - f(q) + f''(q) kernel_var / 2 (g likewise);
* norm_ratio_mean: n_l / (n_0 input_var) times the phi2 shift, plus the
  input-norm factor E[n_0 input_var / ||x||^2] - 1 = 2 / (n_0 - 2) times the
  mean-field value (Jensen: mean field divides by E||x||^2, the Monte Carlo
  averages the ratio; exact cancellation only for homogeneous phi, where the
  exact law is used instead);
* qtilde, wgrad_ms (backward, no NLO theory yet): the mean-field value times
  the summed relative dphi2 shifts of the layers it multiplies (and, for
  wgrad_ms, the relative phi2 shift of the layer below): the part of the
  1/n correction that the forward kernel carries. The backward pass's own
  1/n terms are not predicted.

NLO and exact rows are always tested. An NLO row is never labelled: the
label would be computed from the NLO value itself, so an error in the NLO
theory would hide behind it. The O(1/n^2) remainder is not predicted, so at
narrow widths and large depth x networks x inputs an NLO row can fail by
that remainder rather than by a bug; read such a fail with the widths in mind.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench.config import DEFAULT_ALPHA
from mcbench.env import environment, utc_now
from mcbench.mc import mlp_propagation as mc_mlp
from mcbench.spec import MLPSpec
from mcbench.theory.gaussian import expect
from mcbench.theory.mlp import mlp_propagation as theory_mlp
from mcbench.validation import stats

#: Accepted values of ``compare(..., theory=)``.
THEORIES = ("auto", "exact", "nlo", "mean_field")
#: Quantities compared for every network, in table order (``c`` follows with a pair).
QUANTITIES = ("q", "qtilde", "phi2", "dphi2", "wgrad_ms", "norm_ratio_mean", "norm_ratio_m2")
#: Theory column per (source, quantity); a missing entry means mean field.
_EXACT = {"q": "q", "phi2": "phi2", "dphi2": "dphi2_exact", "qtilde": "qtilde_exact",
          "wgrad_ms": "wgrad_ms_exact", "norm_ratio_mean": "norm_ratio_mean_exact",
          "norm_ratio_m2": "norm_ratio_m2_exact"}
_NLO = {"q": "q_nlo", "c": "c_nlo", "norm_ratio_m2": "norm_ratio_m2_nlo"}
#: Quantities drawn by :meth:`Comparison.plot` and the report's depth figures.
PLOTTED = ("q", "qtilde", "c")
PLOT_EXTRA = "pip install 'mcbench[plot]'"

_HTML_RENDERER = []  # the report layer registers its renderer here (validation may not import it)


def register_html_renderer(render) -> None:
    """Set the function ``render(comparison) -> str`` behind :meth:`Comparison.to_html` (done by mcbench.report)."""
    _HTML_RENDERER[:] = [render]


@dataclass
class Comparison:
    """Monte Carlo against theory for one network, layer by layer.

    Attributes
    ----------
    spec : MLPSpec
    table : pandas.DataFrame
        One row per (quantity, layer): the columns of
        :data:`mcbench.validation.stats.COLUMNS` (``index`` is the layer),
        plus ``theory_source`` (exact, nlo or mean_field) and
        ``predicted_shift`` (NLO minus mean field, see the module docstring).
    mc, theory : pandas.DataFrame
        The raw tables of :func:`mcbench.mc.mlp_propagation` and
        :func:`mcbench.theory.mlp_propagation` (``order="nlo"``).
    alpha : float
        Family-wise error rate of the Holm correction.
    env, timings : dict
        Environment of the run and its wall time in seconds (report metadata).

    Examples
    --------
    >>> import mcbench
    >>> cmp = mcbench.compare(mcbench.MLPSpec([16] * 4, "relu", "he_normal"), n_networks=8, n_inputs=16)
    >>> type(cmp).__name__, cmp.alpha
    ('Comparison', 0.001)
    >>> cmp.table.shape[0]   # 7 quantities x 3 layers
    21
    >>> sorted(set(cmp.table["theory_source"]))   # zero-bias ReLU: the exact finite-width law
    ['exact']
    >>> len(cmp.mc) == len(cmp.theory) == 3, cmp.ok
    (True, True)
    """

    spec: MLPSpec
    table: pd.DataFrame
    mc: pd.DataFrame
    theory: pd.DataFrame
    alpha: float
    env: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    # What mcbench.report.write_report reads besides table/env/timings/alpha.
    finite_width = pd.DataFrame()
    errata = pd.DataFrame()
    info: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No tested row failed."""
        return bool((self.table["verdict"] != "fail").all())

    @property
    def counts(self) -> dict:
        """:func:`mcbench.validation.stats.summary_counts` of the table."""
        return stats.summary_counts(self.table, self.alpha)

    @property
    def profiles(self) -> pd.DataFrame:
        """Rows of q, qtilde and c against depth (theory, estimate, SE), the data of the depth figures."""
        rows = self.table[self.table["quantity"].isin(PLOTTED)]
        return pd.DataFrame({
            "check": rows["check"], "activation": self.spec.activation.name,
            "init": self.spec.init if self.spec.weight_var is None else "weight_var", "depth": self.spec.depth,
            "layer": rows["index"].astype(int), "quantity": rows["quantity"], "theory": rows["theory"],
            "estimate": rows["estimate"], "stderr": rows["stderr"],
        }).reset_index(drop=True)

    def summary(self) -> str:
        """One line: OK/FAIL, verdict counts, worst |z| among tested rows.

        Examples
        --------
        >>> import mcbench
        >>> cmp = mcbench.compare(mcbench.MLPSpec([32] * 4, "relu", "he_normal"), n_networks=8, n_inputs=16)
        >>> cmp.summary()[:3]
        'OK:'
        """
        c = self.counts
        parts = [f"{v} {c[v]}" for v in stats.VERDICTS if c[v] or v in stats.TESTED]
        line = f"{'OK' if c['ok'] else 'FAIL'}: {c['comparisons']} comparisons: {', '.join(parts)}"
        if c["worst"] is not None:
            w = c["worst"]
            line += f"; worst |z| {w['abs_z']:.2f} ({w['quantity']} at layer {w['index']})"
        return line

    def plot(self):
        """q, qtilde and c (with a pair) against depth: theory line, Monte Carlo ± 2 SE.

        Returns
        -------
        matplotlib.figure.Figure
            One panel per quantity; built on an Agg canvas (pyplot is not touched).

        Raises
        ------
        ImportError
            matplotlib is missing; the message names ``pip install 'mcbench[plot]'``.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError(f"Comparison.plot needs matplotlib: {PLOT_EXTRA}") from exc
        data = self.profiles
        quantities = [q for q in PLOTTED if q in set(data["quantity"])]
        fig = Figure(figsize=(4.2 * len(quantities), 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(quantities), squeeze=False).ravel()
        labels = {"q": r"$q^{\,l}$ (forward variance)", "qtilde": r"$\tilde q^{\,l}$ (gradient variance)",
                  "c": r"$c^{\,l}$ (input-pair correlation)"}
        for ax, qty in zip(axes, quantities):
            d = data[data["quantity"] == qty]
            ax.plot(d["layer"], d["theory"], "-", color="C0", label="theory")
            ax.errorbar(d["layer"], d["estimate"], yerr=2 * d["stderr"], fmt="o", ms=3, color="C1", capsize=2,
                        label="Monte Carlo ± 2 SE")
            ax.set_xlabel("layer")
            ax.set_ylabel(labels[qty])
            ax.grid(alpha=0.3)
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=2)
        fig.suptitle(f"{self.spec.label()}: {self.summary().split(';')[0]}")
        return fig

    def to_html(self, path) -> Path:
        """Write the comparison as one self-contained HTML report (figures embedded) to ``path``.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        if not _HTML_RENDERER:
            raise RuntimeError("no HTML renderer registered (import mcbench, which loads mcbench.report)")
        path = Path(path)
        path.write_text(_HTML_RENDERER[0](self), encoding="utf-8")
        return path


def _check_arguments(spec, n_networks, n_inputs, seed, pair_correlation, theory, alpha):
    if not isinstance(spec, MLPSpec):
        raise TypeError(f"spec must be an MLPSpec, got {type(spec).__name__}")
    for name, value, minimum in (("n_networks", n_networks, 2), ("n_inputs", n_inputs, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not isinstance(seed, np.random.SeedSequence) and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or a SeedSequence, got {seed!r}")
    if pair_correlation is not None:
        if isinstance(pair_correlation, bool) or not isinstance(pair_correlation, numbers.Real) \
                or not -1.0 <= float(pair_correlation) <= 1.0:
            raise ValueError(f"pair_correlation must be a number in [-1, 1], got {pair_correlation!r}")
        if n_inputs % 2:
            raise ValueError(f"n_inputs must be even with pair_correlation (pairs of inputs), got {n_inputs}")
    if not isinstance(theory, str) or theory not in THEORIES:
        raise ValueError(f"theory must be one of {', '.join(map(repr, THEORIES))}; got {theory!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def _gaussian_twin(spec: MLPSpec) -> MLPSpec:
    """The same network with Gaussian weights of the same variances (NLO is derived for Gaussian weights)."""
    if spec.weight_distribution() == "normal":
        return spec
    return MLPSpec(spec.widths, spec.activation, weight_var=tuple(spec.layer_weight_vars()), bias=spec.bias,
                   input_var=spec.input_var)


def _kernel_average_shift(spec: MLPSpec, th: pd.DataFrame, fn: str) -> np.ndarray:
    """E[f(G^l)] - f(q^l) to O(1/n), f(q) = E[fn(z)], z ~ N(beta, q): f(q_nlo) - f(q) + f''(q) Var(G) / 2."""
    beta = spec.bias_moments()[0]
    out = np.full(len(th), np.nan)
    for i, (q, q_nlo, var_g) in enumerate(zip(th["q"], th["q_nlo"], th["kernel_var"])):
        if not (np.isfinite(q_nlo) and np.isfinite(var_g) and q > 0):
            continue
        h = 1e-3 * q
        f0, fp, fm = (expect(spec.activation, beta, v, fn) for v in (q, q + h, q - h))
        out[i] = expect(spec.activation, beta, q_nlo, fn) - f0 + 0.5 * (fp - 2 * f0 + fm) / (h * h) * var_g
    return out


def predicted_shifts(spec: MLPSpec, th: pd.DataFrame) -> dict[str, np.ndarray]:
    """Predicted finite-width shift (NLO minus mean field) per quantity and layer; see the module docstring.

    Parameters
    ----------
    spec : MLPSpec
    th : pandas.DataFrame
        ``theory.mlp_propagation(spec, ..., order="nlo")`` (for uniform weights,
        that of the Gaussian twin).

    Returns
    -------
    dict
        quantity -> ndarray, shape (L,), in the quantity's units (NaN where no
        prediction exists).
    """
    n = np.asarray(spec.widths, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_phi2 = _kernel_average_shift(spec, th, "phi2")
        d_dphi2 = _kernel_average_shift(spec, th, "dphi2")
        rel_dphi2 = np.nan_to_num(d_dphi2 / th["dphi2"].to_numpy())
        # qtilde^l = prod_{k=l}^{L-1} chi^k: relative shifts of its dphi2 factors add up.
        rel_qtilde = np.append(np.cumsum(rel_dphi2[:-1][::-1])[::-1], 0.0)
        rel_h2 = np.concatenate([[0.0], np.nan_to_num(d_phi2 / th["phi2"].to_numpy())[:-1]])
        shifts = {
            "q": (th["q_nlo"] - th["q"]).to_numpy(),
            "phi2": d_phi2,
            "dphi2": d_dphi2,
            "norm_ratio_mean": (n[1:] / (n[0] * spec.input_var) * d_phi2
                                + (2.0 / (n[0] - 2.0) if n[0] > 2 else np.inf) * th["norm_ratio_mean"].to_numpy())
            if spec.input_var > 0 else d_phi2 * np.nan,
            "norm_ratio_m2": (th["norm_ratio_m2_nlo"] - th["norm_ratio_m2"]).to_numpy(),
            "qtilde": th["qtilde"].to_numpy() * rel_qtilde,
            "wgrad_ms": th["wgrad_ms"].to_numpy() * (rel_qtilde + rel_h2),
        }
    if "c_nlo" in th:
        shifts["c"] = (th["c_nlo"] - th["c"]).to_numpy()
    return shifts


def _source_column(quantity: str, theory: str, th: pd.DataFrame, exact_applies: bool) -> tuple[str, str]:
    """(theory source, column of ``th``) for one quantity under the ``theory`` choice."""
    if theory in ("auto", "exact") and exact_applies and quantity in _EXACT \
            and th[_EXACT[quantity]].notna().all():
        return "exact", _EXACT[quantity]
    if theory in ("auto", "nlo") and quantity in _NLO and quantity + "_nlo" in th and th[_NLO[quantity]].notna().all():
        return "nlo", _NLO[quantity]
    return "mean_field", quantity


def compare(spec: MLPSpec, *, n_networks: int, n_inputs: int, seed=0, pair_correlation=None,
            theory: str = "auto", alpha: float = DEFAULT_ALPHA, threads=None) -> Comparison:
    """Compare a network's Monte Carlo statistics with theory, layer by layer, with verdicts.

    Parameters
    ----------
    spec : MLPSpec
        The network (widths n_0..n_L, activation, init, bias, input variance).
    n_networks : int
        Independent random networks (>= 2), the replicates behind every SE.
    n_inputs : int
        Inputs per network (even with ``pair_correlation``).
    seed : int or numpy.random.SeedSequence
        RNG seed: same seed, same numbers.
    pair_correlation : float in [-1, 1], optional
        Adds the correlation c^l of an input pair to the comparison.
    theory : {"auto", "exact", "nlo", "mean_field"}
        Which theory each row is compared with (module docstring).
    alpha : float
        Family-wise error rate of the Holm correction over the table.
    threads : int, optional
        Numba threads for the Monte Carlo.

    Returns
    -------
    Comparison
        ``.table`` has one row per quantity (q, qtilde, phi2, dphi2, wgrad_ms,
        norm_ratio_mean, norm_ratio_m2, and c with a pair) and layer, i.e.
        7 L (or 8 L) rows; ``.summary()``, ``.plot()``, ``.to_html(path)``.

    Raises
    ------
    ValueError
        A bad argument (named), before any Monte Carlo work; ``theory="exact"``
        for a network the exact law does not cover.
    TypeError
        ``spec`` is not an MLPSpec.

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([64, 64, 64, 64], "tanh", "xavier_normal", bias=("normal", 0.05))
    >>> cmp = mcbench.compare(spec, n_networks=8, n_inputs=32, pair_correlation=0.5)
    >>> cmp.table.shape[0]                       # 8 quantities x 3 layers
    24
    >>> sorted(set(cmp.table["theory_source"]))
    ['mean_field', 'nlo']

    A user-registered activation (a clipped ReLU) works the same way:

    >>> from numba import njit
    >>> @njit
    ... def relu6(x, a, b):
    ...     return min(max(x, 0.0), 6.0)
    >>> @njit
    ... def d_relu6(x, a, b):
    ...     return 1.0 if 0.0 < x < 6.0 else 0.0
    >>> _ = mcbench.register_activation("relu6_compare_doc", relu6, d_relu6, overwrite=True)
    >>> cmp = mcbench.compare(mcbench.MLPSpec([32] * 4, "relu6_compare_doc", "he_normal"),
    ...                       n_networks=8, n_inputs=16)
    >>> cmp.ok
    True
    """
    _check_arguments(spec, n_networks, n_inputs, seed, pair_correlation, theory, alpha)
    started, t0 = utc_now(), time.perf_counter()
    th = theory_mlp(spec, pair_correlation, depth_scales=False, order="nlo")
    exact_applies = bool(th["dphi2_exact"].notna().all())
    if theory == "exact" and not exact_applies:
        raise ValueError("theory='exact' needs a zero-bias relu or a x network (the exact finite-width law); "
                         f"{spec.label()} has activation {spec.activation.name!r}, bias {spec.bias!r}")
    twin = _gaussian_twin(spec)
    th_shift = th if twin is spec else theory_mlp(twin, pair_correlation, depth_scales=False, order="nlo")
    shifts = predicted_shifts(twin, th_shift)
    mc = mc_mlp(spec, int(n_networks), int(n_inputs), seed=seed, pair_correlation=pair_correlation,
                threads=threads)
    check = f"check/{spec.label()}"
    frames = []
    for qty in QUANTITIES + (("c",) if pair_correlation is not None else ()):
        source, column = _source_column(qty, theory, th, exact_applies)
        rows = stats.comparison_rows(check, qty, mc["layer"], th[column], mc[qty], mc[qty + "_se"],
                                     dof=int(n_networks) - 1)
        shift = np.asarray(shifts.get(qty, np.full(len(rows), np.nan)), dtype=float)
        rows["theory_source"] = source
        rows["predicted_shift"] = shift
        if source == "mean_field":
            # no predicted shift (a quantity without 1/n theory): tested against mean field as usual
            rows["finite_width"] = stats.beyond_mean_field(shift, rows["stderr"], unknown_is_beyond=False)
        frames.append(rows)
    table = stats.finalize(frames, alpha=alpha)
    seconds = time.perf_counter() - t0
    env = environment(seed=seed if not isinstance(seed, np.random.SeedSequence) else str(seed),
                      command="check", network=spec.label(), theory=theory, n_networks=int(n_networks),
                      n_inputs=int(n_inputs), pair_correlation=pair_correlation, started=started,
                      finished=utc_now(), seconds=seconds)
    return Comparison(spec=spec, table=table, mc=mc, theory=th, alpha=float(alpha), env=env,
                      timings={check: seconds})
