"""The MLP propagation checks (Monte Carlo vs mean-field and exact finite-width theory).

Checks 1-8 of the MLP specification (README, "validate"), each a :class:`mcbench.validation.framework.Check`:

1. linear nets: Var(W) = 1/n_in keeps the forward variance, 1/n_out the
   backward one, Xavier's compromise gives the predicted per-layer ratios;
2. linear activation alpha x + beta (seed 001): only (1, 0) keeps mean and variance;
3. sigmoid, tanh, 4 sigmoid - 2 near 0 vs their Taylor (linear) prediction;
4. ReLU: He keeps q and qtilde constant, Xavier halves them (seed 002);
5. Glorot's product formula per layer (seed 003);
6. Xavier + tanh: forward and backward near constant (seed 004);
7. mean-field q-map, c-map, qtilde and weight-gradient scale for every
   activation x init at width >= 256, and the finite-width gap at 16-64;
8. the exact finite-width ReLU fluctuation law of ||h^l||^2 / ||h^0||^2.

Only check 7 (the activation x init sweep) feeds the depth figures, so each
panel shows one activation under the three init schemes. Comparisons are
tested against Student's t with n_networks - 1 degrees of freedom (networks are the replicates). Quantities that only illustrate
(finite-width gaps, drift depths) go into ``info`` tables, not the tested rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mcbench.validation import stats as _stats
from mcbench.mc import mlp_propagation as mc_mlp
from mcbench.spec import MLPSpec, activation_names, linear
from mcbench.theory import linear_prediction_q
from mcbench.theory.mlp import mlp_propagation as theory_mlp
from mcbench.validation.claims.mlp_init import he_fan_out_spec
from mcbench.validation.framework import Check, CheckOutput
from mcbench.config import (
    GAP_DEPTH,
    LAW_DEPTH,
    NARROW_WIDTHS,
    NLO_CASES,
    NLO_CHECKS,
    NLO_GAP_CASE,
    NLO_GAP_DEPTH,
    NLO_GAP_LINE_WIDTHS,
    NLO_GAP_WIDTHS,
    NLO_SIZES,
)

INITS = ("lecun_normal", "xavier_normal", "he_normal")
FORWARD = ("z_mean", "q", "phi2")
BACKWARD = ("qtilde", "dphi2", "wgrad_ms")


def mlp_comparison(check, spec, cfg, seed, quantities, *, pair_correlation=None, n_networks=None,
                   n_inputs=None, theory_columns=None, seed_claim=False):
    """Monte Carlo vs theory rows (per layer) for ``quantities``, plus profile rows for plots.

    ``theory_columns`` maps a quantity to the theory column it is compared
    with (default: the same name).
    """

    k = n_networks or cfg.mlp_networks
    mc = mc_mlp(spec, k, n_inputs or cfg.mlp_inputs, seed=seed, pair_correlation=pair_correlation)
    th = theory_mlp(spec, pair_correlation=pair_correlation, depth_scales=False)  # attrs unused here
    theory_columns = theory_columns or {}
    rows, profiles = [], []
    for qty in quantities:
        theory = th[theory_columns.get(qty, qty)].to_numpy()
        rows.append(_stats.comparison_rows(check, qty, mc["layer"], theory, mc[qty], mc[qty + "_se"],
                                           dof=k - 1, seed_claim=seed_claim))
        profiles.append(pd.DataFrame({
            "check": check, "activation": spec.activation.name,
            "init": spec.init if spec.weight_var is None else "weight_var", "depth": spec.depth,
            "layer": mc["layer"], "quantity": qty, "theory": theory, "estimate": mc[qty],
            "stderr": mc[qty + "_se"],
        }))
    return rows, profiles, mc, th


#: The NLO check's quantities: Monte Carlo column -> NLO theory column, and the mean-field column
#: beside it (None: mean-field predicts no fluctuation, so there is no mean-field row).
NLO_QUANTITIES = {"q": ("q_nlo", "q"), "c": ("c_nlo", "c"), "ms_var": ("ms_var_nlo", None),
                  "norm_ratio_m2": ("norm_ratio_m2_nlo", "norm_ratio_m2")}
#: Input-pair correlation of the NLO checks (the c-map starts here).
NLO_PAIR = 0.5


def nlo_comparison(check: str, spec: MLPSpec, n_networks: int, n_inputs: int, seed):
    """Monte Carlo against the 1/n (NLO) theory, with the mean-field rows beside it.

    Every quantity of :data:`NLO_QUANTITIES` gives an NLO row (tested) and,
    where mean-field predicts it, a mean-field row whose verdict is
    ``finite-width`` (not tested) when the predicted finite-width shift
    |NLO - mean-field| exceeds ``FINITE_WIDTH_SE_FRACTION`` standard errors.

    Returns
    -------
    rows : list of DataFrame
        Comparison rows (see :func:`mcbench.validation.stats.comparison_rows`).
    mc, th : DataFrame
        The Monte Carlo and theory tables (one row per layer).
    """
    mc = mc_mlp(spec, n_networks, n_inputs, seed=seed, pair_correlation=NLO_PAIR)
    th = theory_mlp(spec, pair_correlation=NLO_PAIR, depth_scales=False, order="nlo")
    rows = []
    for qty, (nlo_col, mf_col) in NLO_QUANTITIES.items():
        est, se = mc[qty].to_numpy(), mc[qty + "_se"].to_numpy()
        nlo = th[nlo_col].to_numpy()
        rows.append(_stats.comparison_rows(check, f"{qty} (NLO)", mc["layer"], nlo, est, se, dof=n_networks - 1))
        if mf_col is not None:
            mf = th[mf_col].to_numpy()
            beyond = _stats.beyond_mean_field(nlo - mf, se, unknown_is_beyond=True)  # no NLO: no claim either
            rows.append(_stats.comparison_rows(check, f"{qty} (mean-field)", mc["layer"], mf, est, se,
                                               dof=n_networks - 1, finite_width=beyond))
    return rows, mc, th


def _run_specs(check_name, specs, quantities, **kwargs):
    def run(cfg, seed):
        out = CheckOutput()
        children = seed.spawn(len(specs))
        for (suffix, spec_fn), child in zip(specs, children):
            rows, _, _, _ = mlp_comparison(f"{check_name}/{suffix}", spec_fn(cfg), cfg, child,
                                           quantities, **kwargs)
            out.rows += rows
        return out

    return run


def _widths(cfg, pattern):
    return [max(4, int(round(cfg.mlp_width * f))) for f in pattern]


_UNEQUAL = (1.0, 0.5, 1.0, 2.0, 1.0, 0.75, 1.5)


def _linear_net(rule):
    """Linear net on unequal widths with Var(W) = 1/fan_in, 1/fan_out, or an init scheme."""

    def build(cfg):
        widths = _widths(cfg, _UNEQUAL)
        if rule in ("fan_in", "fan_out"):
            pick = 0 if rule == "fan_in" else 1
            return MLPSpec(widths, linear(), weight_var=[1.0 / widths[l + pick] for l in range(len(widths) - 1)])
        return MLPSpec(widths, linear(), rule)

    return build


LINEAR_NETS = [
    ("var-1-over-fan-in", _linear_net("fan_in")),
    ("var-1-over-fan-out", _linear_net("fan_out")),
    ("xavier", _linear_net("xavier_normal")),
    ("xavier-uniform", _linear_net("xavier_uniform")),
]


def _equal(cfg, depth=None):
    return [cfg.mlp_width] * ((depth or cfg.mlp_depth) + 1)


def _taylor_depths(cfg):
    """Depth at which tanh, sigmoid, 4 sigmoid - 2 drift >10% from the linear prediction."""

    rows = []
    for act in ("tanh", "sigmoid", "scaled_sigmoid"):
        spec = MLPSpec([cfg.mlp_width] * 201, act, "lecun_normal", input_var=0.01)
        th = theory_mlp(spec, depth_scales=False)
        slope2 = float(spec.activation.derivative(np.zeros(1))[0] ** 2)
        offset2 = float(spec.activation(np.zeros(1))[0] ** 2)
        q_lin = linear_prediction_q(spec)
        rel = np.abs(th["q"].to_numpy() / q_lin - 1)
        drift = np.flatnonzero(rel > 0.1)
        rows.append({"activation": act, "phi'(0)^2": slope2, "phi(0)": float(np.sqrt(offset2)),
                     "drift_depth_10pct": int(drift[0]) + 1 if drift.size else np.nan,
                     "q_at_10": float(th["q"].iloc[9]), "q_linear_at_10": q_lin[9]})
    return pd.DataFrame(rows)


def _taylor_run(cfg, seed):
    out = CheckOutput()
    children = seed.spawn(3)
    for act, child in zip(("tanh", "sigmoid", "scaled_sigmoid"), children):
        spec = MLPSpec(_equal(cfg), act, "lecun_normal", input_var=0.01)
        rows, _, _, _ = mlp_comparison(f"mlp/taylor/{act}", spec, cfg, child, ("q", "z_mean", "qtilde"))
        out.rows += rows
    out.info.append(("Taylor drift: depth where q leaves the linear prediction by >10% (theory, width "
                     f"{cfg.mlp_width}, input_var 0.01, LeCun)", _taylor_depths(cfg)))
    return out


def _tanh_bend(cfg):

    th = theory_mlp(MLPSpec([cfg.mlp_width] * 101, "tanh", "xavier_normal"), depth_scales=False)
    rows = []
    for depth in (10, 50, 100):
        r = th.iloc[depth - 1]
        rows.append({"depth": depth, "q": r["q"], "q/q_1": r["q"] / th["q"].iloc[0],
                     "qtilde": r["qtilde"], "qtilde_1/qtilde_L": th["qtilde"].iloc[0] / th["qtilde"].iloc[-1]})
    return pd.DataFrame(rows)


def _tanh_run(cfg, seed):
    out = CheckOutput()
    spec = MLPSpec(_equal(cfg), "tanh", "xavier_normal")
    rows, _, _, _ = mlp_comparison("mlp/xavier-tanh", spec, cfg, seed, ("q", "qtilde"))
    out.rows += rows
    out.info.append(("Xavier + tanh (seed 004): how far tanh bends the variances (theory, width "
                     f"{cfg.mlp_width}; a linear net would keep every ratio at 1)", _tanh_bend(cfg)))
    return out


def _meanfield_run(activation):
    def run(cfg, seed):
        out = CheckOutput()
        children = seed.spawn(len(INITS) + len(NARROW_WIDTHS))
        for init, child in zip(INITS, children):
            spec = MLPSpec(_equal(cfg), activation, init)
            rows, profiles, _, _ = mlp_comparison(
                f"mlp/meanfield/{activation}/{init}", spec, cfg, child,
                FORWARD + BACKWARD + ("c",), pair_correlation=0.5)
            out.rows += rows
            out.profiles += profiles
        # Finite-width gap of the mean-field q at the last layer, against 1/n (informative).
        gaps = []
        depth = min(cfg.mlp_depth, GAP_DEPTH)
        # Xavier on equal widths has sigma_w^2 n = 1: one mean-field q for every width.
        q_meanfield = theory_mlp(MLPSpec([16] * (depth + 1), activation, "xavier_normal"),
                                 depth_scales=False)["q"].iloc[-1]
        for width, child in zip(NARROW_WIDTHS, children[len(INITS):]):
            spec = MLPSpec([width] * (depth + 1), activation, "xavier_normal")
            mc = mc_mlp(spec, 4 * cfg.mlp_networks, cfg.mlp_inputs, seed=child)
            q_mc, q_se = mc["q"].iloc[-1], mc["q_se"].iloc[-1]
            gaps.append({"activation": activation, "width": width, "1/width": 1 / width, "q_mc": q_mc,
                         "q_se": q_se, "q_meanfield": q_meanfield, "gap/se": (q_mc - q_meanfield) / q_se})
        out.info.append((f"Finite-width gap of q (last layer, Xavier) for {activation}: Monte Carlo minus "
                         "mean-field against 1/width (not tested)", pd.DataFrame(gaps)))
        return out

    return run


def _fluctuation_run(cfg, seed):
    """Exact finite-width law: E[R] and E[R^2] of ||h^l||^2/||h^0||^2 for He-normal ReLU nets."""
    out = CheckOutput()
    depth = min(cfg.mlp_depth, LAW_DEPTH)
    children = seed.spawn(len(NARROW_WIDTHS))
    for width, child in zip(NARROW_WIDTHS, children):
        spec = MLPSpec([width] * (depth + 1), "relu", "he_normal")
        quantities = ("norm_ratio_mean", "norm_ratio_m2")
        rows, _, mc, th = mlp_comparison(f"mlp/finite-width-law/width{width}", spec, cfg, child, quantities,
                                         n_networks=8 * cfg.mlp_networks,
                                         theory_columns={q: q + "_exact" for q in quantities})
        out.rows += rows
        out.finite_width.append(pd.DataFrame({
            "width": width, "depth": mc["layer"], "quantity": "norm_ratio_m2", "estimate": mc["norm_ratio_m2"],
            "stderr": mc["norm_ratio_m2_se"], "theory_exact": th["norm_ratio_m2_exact"],
            "theory_meanfield": th["norm_ratio_m2"],
        }))
    return out


def _he_fan_out(cfg):
    return he_fan_out_spec(_widths(cfg, _UNEQUAL))


def nlo_spec(case: str, width: int, depth: int) -> MLPSpec:
    """The network of NLO case ``case`` (:data:`mcbench.config.NLO_CASES`) at ``width`` and ``depth``."""
    activation, init, bias = NLO_CASES[case]
    widths = [width] * (depth + 1)
    if isinstance(init, float):  # sigma_w^2
        return MLPSpec(widths, activation, weight_var=init / width, bias=bias)
    return MLPSpec(widths, activation, init, bias=bias)


def _nlo_run(case, width, depth):
    def run(cfg, seed):
        rows, _, _ = nlo_comparison(f"mlp/nlo/{case}/w{width}-d{depth}", nlo_spec(case, width, depth),
                                    *NLO_SIZES[cfg.name], seed)
        return CheckOutput(rows=rows)

    return run


def _nlo_gap_run(cfg, seed):
    """The finite-width gap of c at the last layer against 1/width: Monte Carlo, mean-field, NLO (not tested)."""
    networks, inputs = NLO_SIZES[cfg.name]
    frames = []

    def theory_gap(width):
        th = theory_mlp(nlo_spec(NLO_GAP_CASE, width, NLO_GAP_DEPTH), pair_correlation=NLO_PAIR, depth_scales=False,
                        order="nlo")
        return th["c"].iloc[-1], th["c_nlo"].iloc[-1] - th["c"].iloc[-1]

    for width, child in zip(NLO_GAP_WIDTHS, seed.spawn(len(NLO_GAP_WIDTHS))):
        mc = mc_mlp(nlo_spec(NLO_GAP_CASE, width, NLO_GAP_DEPTH), networks, inputs, seed=child,
                    pair_correlation=NLO_PAIR)
        c_mf, nlo_gap = theory_gap(width)
        frames.append({"kind": "mc", "width": width, "gap": mc["c"].iloc[-1] - c_mf, "gap_se": mc["c_se"].iloc[-1]})
        frames.append({"kind": "nlo", "width": width, "gap": nlo_gap, "gap_se": np.nan})
    for width in NLO_GAP_LINE_WIDTHS:
        frames.append({"kind": "nlo", "width": width, "gap": theory_gap(width)[1], "gap_se": np.nan})
    gap = pd.DataFrame(frames)
    gap["case"], gap["depth"], gap["quantity"] = NLO_GAP_CASE, NLO_GAP_DEPTH, "c"
    return CheckOutput(nlo_gap=[gap])


def nlo_checks() -> list[Check]:
    """One check per (case, width, depth) of :data:`mcbench.config.NLO_CHECKS`, in the suites that list it."""
    suites_of = {}
    for suite, entries in NLO_CHECKS.items():
        for entry in entries:
            suites_of.setdefault(entry, []).append(suite)
    out = []
    for (case, width, depth), suites in suites_of.items():
        activation, init, bias = NLO_CASES[case]
        out.append(Check(
            f"mlp/nlo/{case}/w{width}-d{depth}", _nlo_run(case, width, depth), cost=depth * width / 1280,
            suites=tuple(suites),
            description=f"1/n (NLO) theory of q, c, ms_var, E[R^2] vs Monte Carlo: {activation}, "
                        f"{'sigma_w^2 = ' + str(init) if isinstance(init, float) else init}, bias {bias}, width "
                        f"{width}, depth {depth} (depth/width {depth / width:.2g}: NLO's residual stays below the "
                        "SE up to about 0.4; mean-field rows beside it are labelled finite-width where off)"))
    out.append(Check("mlp/nlo/gap", _nlo_gap_run, cost=4,
                     description=f"finite-width gap of the c-map against 1/width ({NLO_GAP_CASE}, depth {NLO_GAP_DEPTH}, "
                                 f"widths {', '.join(map(str, NLO_GAP_WIDTHS))}): the figure, not tested"))
    return out


def checks():
    out = [
        Check("mlp/linear-variance", _run_specs("mlp/linear", LINEAR_NETS, ("q", "qtilde")), cost=2,
              description="linear nets: 1/n_in keeps forward, 1/n_out keeps backward, Xavier's ratios"),
        Check("mlp/linear-alpha-beta", _run_specs("mlp/linear-ab", [
            (f"alpha{a:g}-beta{b:g}",
             (lambda a, b: lambda c: MLPSpec(_equal(c, 6), linear(a, b), "lecun_normal"))(a, b))
            for a, b in ((1.0, 0.0), (1.0, 0.5), (0.8, 0.0), (1.2, 0.0))], ("z_mean", "q", "phi2", "qtilde")),
            cost=2, description="seed 001: alpha x + beta keeps mean and variance only for (1, 0)"),
        Check("mlp/taylor", _taylor_run, cost=2, description="seed 001: sigmoid, tanh, 4 sigmoid - 2 near 0"),
        Check("mlp/relu-he-xavier", _run_specs("mlp/relu", [
            ("he_normal", lambda c: MLPSpec(_equal(c), "relu", "he_normal")),
            ("he_uniform", lambda c: MLPSpec(_equal(c), "relu", "he_uniform")),
            ("xavier_normal", lambda c: MLPSpec(_equal(c), "relu", "xavier_normal")),
            ("he-fan-out-seed002-eq13", _he_fan_out),
        ], ("q", "qtilde", "wgrad_ms")), cost=2, description="seed 002: He keeps q, qtilde; Xavier halves"),
        Check("mlp/glorot-product", _run_specs("mlp/glorot-product", [
            ("random-widths", lambda c: MLPSpec(_widths(c, _UNEQUAL), linear(),
                                                weight_var=[0.8 / w for w in _widths(c, _UNEQUAL)[:-1]],
                                                input_var=2.0)),
        ], ("q",), seed_claim=True), cost=1, description="seed 003: Var(z^i) = Var(x) prod n Var(W)"),
        Check("mlp/xavier-tanh", _tanh_run, cost=1, description="seed 004: Xavier + tanh"),
        Check("mlp/finite-width-law", _fluctuation_run, cost=2,
              description="exact ReLU finite-width law of the squared-norm ratio (Hanin & Rolnick)"),
    ]
    out += nlo_checks()
    out += [Check(f"mlp/meanfield/{act}", _meanfield_run(act), cost=2,
                  description=f"mean-field maps vs Monte Carlo, {act} x {', '.join(INITS)}")
            for act in activation_names()]
    return out
