"""Mean-field MLP theory: exact identities, closed forms vs quadrature, and the
exact finite-width norm law against a plain-numpy Monte Carlo."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mcbench.spec import MLPSpec, get_activation, linear
from mcbench.theory.gaussian import expect, expect_pair
from mcbench.theory.mlp import (
    COLUMNS,
    exact_norm_ratio_moments,
    glorot_product_variance,
    he_condition_weight_var,
    mean_field_fixed_point,
    mlp_propagation,
    xavier_variances,
)
from reference import assert_within_holm, independent_networks

WIDTHS = (7, 12, 5, 9, 16)


def test_columns_and_shapes():
    df = mlp_propagation(MLPSpec(WIDTHS, "tanh", init="xavier_normal"), pair_correlation=0.3)
    assert tuple(df.columns) == COLUMNS + ("c",)
    assert list(df["layer"]) == [1, 2, 3, 4]
    assert list(df["fan_in"]) == list(WIDTHS[:-1]) and list(df["fan_out"]) == list(WIDTHS[1:])
    assert "c" not in mlp_propagation(MLPSpec(WIDTHS, "tanh")).columns


def test_linear_net_identities():
    # lecun: Var(W) n_in = 1 keeps q at input_var; the backward gain is n_{l+1}/n_l.
    spec = MLPSpec(WIDTHS, "linear", init="lecun_normal", input_var=1.7)
    df = mlp_propagation(spec, pair_correlation=0.4)
    np.testing.assert_allclose(df["q"], 1.7, rtol=1e-15)
    np.testing.assert_allclose(df["phi2"], 1.7, rtol=1e-15)
    np.testing.assert_allclose(df["dphi2"], 1.0, rtol=1e-15)
    n = np.array(WIDTHS, dtype=float)
    np.testing.assert_allclose(df["chi1"][:-1], n[2:] / n[1:-1], rtol=1e-15)
    np.testing.assert_allclose(df["c"], 0.4, rtol=1e-15)  # linear maps keep correlations
    # Glorot's product formula (seed 003) is exact for any linear net, layer by layer.
    for wv in (None, (0.3, 0.05, 0.4, 0.2)):
        spec = MLPSpec(WIDTHS, "linear", init="xavier_normal", weight_var=wv, input_var=0.6)
        np.testing.assert_allclose(mlp_propagation(spec)["q"], glorot_product_variance(spec), rtol=1e-14)


def test_relu_he_keeps_q_and_qtilde():
    n = 20
    spec = MLPSpec((n,) * 5, "relu", init="he_normal", input_var=0.8)
    df = mlp_propagation(spec)
    np.testing.assert_allclose(df["q"], 2 * 0.8, rtol=1e-14)  # q^1 = (2/n) n input_var
    np.testing.assert_allclose(df["qtilde"], 1.0, rtol=1e-14)
    np.testing.assert_allclose(df["wgrad_ms"], [0.8] + [0.8] * 3, rtol=1e-14)  # qtilde * E[h^2] = q/2
    assert df.attrs["xi_q"] == math.inf and df.attrs["xi_c"] == math.inf
    assert df.attrs["chi1_star"] == pytest.approx(1.0, rel=1e-14)


def test_relu_xavier_halves_q_per_layer():
    spec = MLPSpec((16,) * 6, "relu", init="xavier_normal")
    q = mlp_propagation(spec)["q"].to_numpy()
    np.testing.assert_allclose(q, 0.5 ** np.arange(5), rtol=1e-14)
    attrs = mlp_propagation(spec).attrs
    # The q-map q -> q/2 decays to q* = 0 at rate 1/2 (the q -> 0+ limit, not relu'(0)^2 = 0).
    assert attrs["q_star"] == 0.0
    assert attrs["q_slope_star"] == pytest.approx(0.5, rel=1e-12) and attrs["chi1_star"] == pytest.approx(0.5, rel=1e-12)
    assert attrs["xi_q"] == pytest.approx(1 / math.log(2), rel=1e-12)


def test_relu_c_map_is_the_arccos_kernel():
    # He relu: c' = (sqrt(1 - c^2) + (pi - arccos c) c) / pi (Cho & Saul 2009).
    df = mlp_propagation(MLPSpec((10,) * 5, "relu"), pair_correlation=-0.2)
    c = -0.2
    for got in df["c"]:
        assert got == pytest.approx(c, rel=1e-13)
        c = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi


@pytest.mark.parametrize("name,bias", [("erf", ("constant", 0.3)), ("erf", ("normal", 0.1)),
                                       ("relu", ("constant", -0.2)), ("linear", ("normal", 0.2))])
def test_closed_forms_agree_with_quadrature(name, bias):
    closed = get_activation(name)
    generic = dataclasses.replace(closed, kind="generic")
    kw = dict(widths=(6, 10, 10, 10), init="xavier_normal", bias=bias, input_var=1.4)
    a = mlp_propagation(MLPSpec(activation=closed, **kw), pair_correlation=0.6, depth_scales=False)
    b = mlp_propagation(MLPSpec(activation=generic, **kw), pair_correlation=0.6, depth_scales=False)
    for col in ("q", "phi2", "dphi2", "qtilde", "wgrad_ms", "norm_ratio_mean", "c"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-11, err_msg=col)


def test_recursions_are_consistent():
    spec = MLPSpec((5, 8, 8, 6), "tanh", weight_var=(0.4, 0.2, 0.3), bias=("constant", 0.25), input_var=2.0)
    df = mlp_propagation(spec, pair_correlation=0.5)
    s, n = spec.layer_weight_vars(), np.array(spec.widths, float)
    np.testing.assert_allclose(df["z_mean"], 0.25, rtol=1e-15)
    assert df["q"][0] == pytest.approx(0.4 * 5 * 2.0, rel=1e-15)
    for i in range(1, 3):
        assert df["q"][i] == pytest.approx(s[i] * n[i] * expect("tanh", 0.25, df["q"][i - 1], "phi2"), rel=1e-14)
        qab_prev = df["c"][i - 1] * df["q"][i - 1]
        qab = s[i] * n[i] * expect_pair("tanh", 0.25, df["q"][i - 1], df["q"][i - 1], qab_prev)
        assert df["c"][i] == pytest.approx(qab / df["q"][i], rel=1e-12)
    np.testing.assert_allclose(df["qtilde"][:-1], df["chi1"][:-1] * df["qtilde"][1:].to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(df["chi1"][:-1], s[1:] * n[2:] * df["dphi2"][:-1], rtol=1e-15)
    prev = np.r_[2.0, df["phi2"][:-1]]
    np.testing.assert_allclose(df["wgrad_ms"], df["qtilde"] * prev, rtol=1e-15)
    np.testing.assert_allclose(df["norm_ratio_mean"], n[1:] * df["phi2"] / (5 * 2.0), rtol=1e-15)
    assert np.isnan(df["norm_ratio_mean_exact"]).all()  # tanh, constant bias: no exact law


def test_uniform_weights_same_mean_field_no_exact_law():
    a = mlp_propagation(MLPSpec((8,) * 4, "relu", init="he_uniform"))
    b = mlp_propagation(MLPSpec((8,) * 4, "relu", init="he_normal"))
    np.testing.assert_allclose(a["q"], b["q"], rtol=1e-15)
    assert np.isnan(a["norm_ratio_m2_exact"]).all() and not np.isnan(b["norm_ratio_m2_exact"]).any()


def test_depth_scales_fixed_points():
    # Ordered tanh: q* > 0, c* = 1, chi_c = chi_1 < 1.
    ordered = mlp_propagation(MLPSpec((6,) + (20,) * 4, "tanh", weight_var=1.5 / 20, bias=("normal", 0.05))).attrs
    sw2, sb2, q = 1.5, 0.05, ordered["q_star"]
    assert q == pytest.approx(sw2 * expect("tanh", 0.0, q, "phi2") + sb2, rel=1e-12)
    assert ordered["chi1_star"] == pytest.approx(sw2 * expect("tanh", 0.0, q, "dphi2"), rel=1e-14)
    assert ordered["c_star"] == 1.0 and ordered["xi_c"] == pytest.approx(-1 / math.log(ordered["chi1_star"]), rel=1e-12)
    h = 1e-5
    slope = sw2 * (expect("tanh", 0.0, q + h, "phi2") - expect("tanh", 0.0, q - h, "phi2")) / (2 * h)
    assert ordered["q_slope_star"] == pytest.approx(slope, rel=1e-7)
    # Chaotic erf with a constant bias: c* < 1 is a fixed point of the c-map.
    chaotic = mlp_propagation(MLPSpec((6,) + (20,) * 4, "erf", weight_var=3 / 20, bias=("constant", 0.2))).attrs
    q, c = chaotic["q_star"], chaotic["c_star"]
    assert chaotic["chi1_star"] > 1 and 0 < c < 1
    assert 3 * expect_pair("erf", 0.2, q, q, c * q) / q == pytest.approx(c, rel=1e-10)
    assert chaotic["chi_c_star"] < 1 and chaotic["xi_c"] > 0
    # Undefined cases: depth 1, varying width, exploding q (relu above criticality).
    for spec in (MLPSpec((4, 8), "tanh"), MLPSpec((4, 8, 9, 8), "tanh"), MLPSpec((4,) + (8,) * 3, "relu", weight_var=3 / 8)):
        assert math.isnan(mean_field_fixed_point(spec)["xi_q"])


def _mc_network(spec, n_samples, rng):
    """Per-sample arrays (n_samples, L) from independent (network, input) draws (zero bias).

    R^l = ||h^l||^2/||x||^2, and unit averages of phi'(z^l)^2, (delta^l)^2 and
    (delta^l_i h^{l-1}_j)^2, with J = v . z^L, v ~ N(0, I).
    """
    hs, zs, deltas = independent_networks(spec, n_samples, rng)
    sq = lambda a: np.einsum("ki,ki->k", a, a)  # noqa: E731
    ratio = np.stack([sq(h) / sq(hs[0]) for h in hs[1:]], axis=1)
    dphi2 = np.stack([(spec.activation.derivative(z) ** 2).mean(1) for z in zs], axis=1)
    d2 = np.stack([(d**2).mean(1) for d in deltas], axis=1)
    wg = d2 * np.stack([(h**2).mean(1) for h in hs[:-1]], axis=1)  # mean over i, j of (delta_i h_j)^2
    return ratio, dphi2, d2, wg


def _se(a):
    return a.std(axis=0, ddof=1) / math.sqrt(a.shape[0])


def test_exact_backward_quantities_against_monte_carlo():
    # Narrow relu layers make the dead-layer factor a_l = prod (1 - 2^-n_k) large.
    spec = MLPSpec((3, 3, 2, 3, 4), "relu", init="he_normal")
    _, dphi2, d2, wg = _mc_network(spec, 200_000, np.random.default_rng(77))
    df = mlp_propagation(spec, depth_scales=False)
    pairs = ((dphi2, "dphi2_exact"), (d2, "qtilde_exact"), (wg, "wgrad_ms_exact"))
    assert_within_holm([mc.mean(0) for mc, _ in pairs], [df[col] for _, col in pairs], [_se(mc) for mc, _ in pairs],
                       label="dphi2, qtilde, wgrad_ms (exact)")
    # ... and the mean-field qtilde is rejected where a_l < 1 (l = 2, 3: a = 7/8, 21/32).
    z = (d2.mean(0) - df["qtilde"]) / _se(d2)
    assert np.all(z[1:3] < -10), z
    assert np.isnan(mlp_propagation(MLPSpec((3, 3), "tanh"))["qtilde_exact"]).all()


@pytest.mark.parametrize("spec", [
    MLPSpec((10, 8, 12, 16), "relu", init="he_normal"),
    MLPSpec((9, 14, 8, 11), "relu", weight_var=(0.3, 0.1, 0.2), input_var=2.5),
    MLPSpec((8, 12, 8, 10), linear(0.8, 0.0), init="lecun_normal"),
], ids=["relu_he", "relu_weight_var", "linear"])
def test_exact_norm_law_against_monte_carlo(spec):
    r = _mc_network(spec, 60_000, np.random.default_rng(20240601))[0]
    mean, m2 = exact_norm_ratio_moments(spec)
    assert_within_holm([r.mean(0), (r**2).mean(0)], [mean, m2], [_se(r), _se(r**2)], label="E[R], E[R^2]")
    df = mlp_propagation(spec)
    np.testing.assert_allclose(df["norm_ratio_mean"], mean, rtol=1e-13)  # mean-field gets the mean
    # ... but not the fluctuations: the MC rejects m2 = mean^2 decisively at these widths.
    assert np.all((r**2).mean(0) - df["norm_ratio_m2"] > 10 * _se(r**2))


def test_exact_law_he_moments():
    # He: E = n_l / n_{l-1} per layer, E[.^2] = n_l (n_l + 5) / n_{l-1}^2.
    spec = MLPSpec((10, 8, 12), "relu")
    mean, m2 = exact_norm_ratio_moments(spec)
    np.testing.assert_allclose(mean, [8 / 10, 12 / 10], rtol=1e-14)
    np.testing.assert_allclose(m2, [8 * 13 / 100, 8 * 13 / 100 * 12 * 17 / 64], rtol=1e-14)
    assert exact_norm_ratio_moments(MLPSpec((10, 8, 12), "relu", bias=("normal", 0.1))) is None


def test_init_helpers():
    assert he_condition_weight_var(50) == 2 / 50
    np.testing.assert_allclose(xavier_variances((4, 6, 10)), [2 / 10, 2 / 16], rtol=1e-15)
    spec = MLPSpec((4, 6, 10), "tanh", init="xavier_normal", input_var=3.0)
    np.testing.assert_allclose(glorot_product_variance(spec), [3 * 4 * 0.2, 3 * 4 * 0.2 * 6 * 2 / 16], rtol=1e-14)
    with pytest.raises(ValueError, match="fan"):
        he_condition_weight_var(0)


@pytest.mark.parametrize("bad", [1.5, -1.01, "x", math.nan])
def test_bad_pair_correlation(bad):
    with pytest.raises(ValueError, match="pair_correlation"):
        mlp_propagation(MLPSpec((4, 4), "relu"), pair_correlation=bad)


def test_spec_type_checked():
    with pytest.raises(TypeError, match="MLPSpec"):
        mlp_propagation((4, 4))


def test_the_issue_api_is_reachable_from_the_top_level():
    """``mcbench.MLPSpec``, ``mcbench.mc.mlp_propagation`` and ``mcbench.theory.*`` as documented."""
    import mcbench

    assert mcbench.MLPSpec is MLPSpec
    assert mcbench.MLPSpec([4, 4, 4], "relu", "he_normal").depth == 2
    assert callable(mcbench.mc.mlp_propagation) and callable(mcbench.theory.mlp_propagation)
    assert mcbench.theory.init_variance("he_normal", 4, 4) == 0.5
    assert set(mcbench.__all__) >= {"MLPSpec", "mc", "sample_mvn", "theory"}
