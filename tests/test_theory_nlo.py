"""The 1/n (NLO) finite-width theory (mcbench.theory.nlo) against exact laws and a numpy Monte Carlo.

The Monte Carlo is tests/reference.py:many_networks (plain numpy, one input
or input pair per independent network, fixed seeds). Each case compares q,
c (with a pair), Var(m_hat) and E[R^2] per layer, Holm-corrected at
family-wise alpha = 1e-3 over all the case's rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import many_networks

from mcbench.spec import MLPSpec
from mcbench.validation.stats import holm, z_and_p
from mcbench.theory import expect, expect_pair, phi2_var_derivative
from mcbench.theory import nlo
from mcbench.theory.mlp import exact_norm_ratio_moments, mlp_propagation

ALPHA = 1e-3
N_NETWORKS = 20_000

CASES = {
    # (a) tanh, sigma_w^2 = 1.5, sigma_b^2 = 0.1, width 16, depth 10, pair c0 = 0.5
    "tanh": (MLPSpec((16,) * 11, "tanh", weight_var=1.5 / 16, bias=("normal", 0.1)), 0.5, 11),
    # (b) gelu, He init, width 32, depth 20
    "gelu": (MLPSpec((32,) * 21, "gelu", init="he_normal"), None, 12),
    # (c) relu, He init, normal bias 0.1, width 64, depth 3
    "relu": (MLPSpec((64,) * 4, "relu", init="he_normal", bias=("normal", 0.1)), None, 13),
}
_MC_CACHE: dict = {}


def _mc(name):
    if name not in _MC_CACHE:
        spec, c0, seed = CASES[name]
        _MC_CACHE[name] = many_networks(spec, N_NETWORKS, np.random.default_rng(seed), pair_c=c0)
    return _MC_CACHE[name]


def _theories(spec, c0, **hooks):
    """(mean-field, NLO) predictions of the Monte Carlo's quantities, dicts name -> (L,)."""
    df = mlp_propagation(spec, c0, order="nlo", depth_scales=False)
    if hooks:
        df = df.assign(**nlo.nlo_propagation(spec, c0, **hooks).to_dict("list"))
    n = np.asarray(spec.widths[1:], float)
    beta = spec.bias_moments()[0]
    K = df["q"].to_numpy()
    mf = {"q": K, "ms_var": (2 * K**2 + 4 * beta**2 * K) / n, "r2": df["norm_ratio_m2"].to_numpy()}
    th = {"q": df["q_nlo"].to_numpy(), "ms_var": df["ms_var_nlo"].to_numpy(),
          "r2": df["norm_ratio_m2_nlo"].to_numpy()}
    if c0 is not None:
        mf["c"], th["c"] = df["c"].to_numpy(), df["c_nlo"].to_numpy()
    return mf, th


def _compare(mc, theory):
    """Per-quantity z arrays and the smallest Holm-adjusted p over all rows."""
    zs, ps = {}, []
    for name, value in theory.items():
        z, p = z_and_p(mc[name], value, mc[name + "_se"])
        zs[name] = z
        ps.append(p)
    return zs, float(np.min(holm(np.concatenate(ps))))


def _maxabs(zs):
    return {k: round(float(np.max(np.abs(v))), 2) for k, v in zs.items()}


# ------------------------------------------------------------ derivatives


@pytest.mark.parametrize("act, beta, K", [("tanh", 0.0, 1.3), ("gelu", 0.0, 0.8), ("relu", 0.0, 1.1),
                                          ("relu", 0.3, 0.7), ("elu", -0.2, 0.9)])
def test_layer_maps_match_second_methods(act, beta, K):
    # 1-d: F = E[phi^2] (gaussian.expect), f' by Stein (phi2_var_derivative), f'' by a
    # 4th-order central difference of that.
    F, J, H, S = nlo.layer_maps(act, beta, K)
    h = 1e-3 * K

    def d(g, x):
        return (8 * (g(x + h) - g(x - h)) - (g(x + 2 * h) - g(x - 2 * h))) / (12 * h)

    assert F[0] == pytest.approx(expect(act, beta, K, "phi2"), rel=1e-12)
    assert J[0, 0] == pytest.approx(phi2_var_derivative(act, beta, K), rel=1e-10)
    f2 = d(lambda k: phi2_var_derivative(act, beta, k), K)
    assert abs(H[0, 0, 0] - f2) <= 1e-8 * max(abs(f2), abs(F[0] / K**2))
    assert S[0, 0] > 0
    # 2-d: F, Price (dE[phi_a phi_b]/dG_ab = E[phi' phi']), Stein, and finite differences
    # of gaussian.expect_pair for the rest of J and for H.
    q1, q2, c = K, 1.2 * K, 0.4
    q12 = c * math.sqrt(q1 * q2)
    F, J, H, S = nlo.layer_maps(act, beta, [[q1, q12], [q12, q2]])
    assert F == pytest.approx([expect(act, beta, q1, "phi2"), expect_pair(act, beta, q1, q2, q12),
                               expect(act, beta, q2, "phi2")], rel=1e-12)
    assert J[1, 1] == pytest.approx(expect_pair(act, beta, q1, q2, q12, "dphi"), rel=1e-10)
    assert J[0, 0] == pytest.approx(phi2_var_derivative(act, beta, q1), rel=1e-10)
    assert J[2, 2] == pytest.approx(phi2_var_derivative(act, beta, q2), rel=1e-10)
    assert abs(J[0, 1]) < 1e-12 and abs(J[0, 2]) < 1e-12 and abs(J[2, 0]) < 1e-12
    assert J[1, 0] == pytest.approx(d(lambda x: expect_pair(act, beta, x, q2, q12), q1), rel=1e-8)
    # H[1, 1, :] = d/dG (Price's E[phi' phi']) by finite differences of expect_pair(dphi).
    hs = [d(lambda x: expect_pair(act, beta, x, q2, q12, "dphi"), q1),
          d(lambda x: expect_pair(act, beta, q1, q2, x, "dphi"), q12),
          d(lambda x: expect_pair(act, beta, q1, x, q12, "dphi"), q2)]
    scale = max(abs(F[1]) / K**2, max(map(abs, hs)))
    assert np.max(np.abs(H[1, 1, :] - hs)) <= 1e-8 * scale
    f2 = d(lambda k: phi2_var_derivative(act, beta, k), q1)
    assert abs(H[0, 0, 0] - f2) <= 1e-8 * max(abs(f2), abs(F[0] / K**2))


# ------------------------------------------------------------ exact laws


def test_linear_activation_first_moments_exact_second_moments_to_order_1_over_n():
    spec = MLPSpec((12, 20, 9, 30, 15), "linear", weight_var=[0.1, 0.05, 0.08, 0.03])
    df = mlp_propagation(spec, 0.3, order="nlo", depth_scales=False)
    np.testing.assert_allclose(df["q_nlo"], df["q"], rtol=1e-11)  # quadrature over ||x||^2
    np.testing.assert_allclose(df["c_nlo"], 0.3, rtol=1e-12)
    n = np.asarray(spec.widths, float)
    # Exact: G^l = q^l prod chi^2_{n_k} / n_k (k = 0..l-1) => Var(G)/q^2 = prod(1 + 2/n_k) - 1.
    # NLO keeps the input's chi^2 exactly: (1 + 2/n_0)(1 + sum_{k=1}^{l-1} 2/n_k) - 1.
    nlo_rel = (1 + 2 / n[0]) * (1 + np.concatenate([[0.0], np.cumsum(2 / n[1:-1])])) - 1
    np.testing.assert_allclose(df["kernel_var"] / df["q"] ** 2, nlo_rel, rtol=1e-9)
    # E[R^2] / E[R]^2 - 1: the O(1/n) part of the exact prod (1 + 2/n_k), k = 1..l.
    m1, m2 = exact_norm_ratio_moments(spec)
    np.testing.assert_allclose(df["norm_ratio_m2_nlo"] / m1**2 - 1, np.cumsum(2 / n[1:]), rtol=1e-9)
    assert np.all(m2 / m1**2 - 1 > np.cumsum(2 / n[1:]))  # the exact law has the O(1/n^2) on top


def test_relu_zero_bias_norm_ratio_matches_exact_law():
    one = MLPSpec((10, 7), "relu", init="he_normal")
    df = mlp_propagation(one, order="nlo", depth_scales=False)
    s = one.layer_weight_vars()[0]
    assert df["norm_ratio_m2_nlo"].iloc[0] == pytest.approx(s * s * (49 + 35) / 4, rel=1e-9)
    spec = MLPSpec((10, 16, 8, 32, 12, 20), "relu", init="he_normal")
    df = mlp_propagation(spec, order="nlo", depth_scales=False)
    m1, m2 = exact_norm_ratio_moments(spec)
    n = np.asarray(spec.widths[1:], float)
    np.testing.assert_allclose(df["norm_ratio_m2_nlo"] / m1**2 - 1, np.cumsum(5 / n), rtol=1e-9)
    np.testing.assert_allclose(df["q_nlo"], df["q"], rtol=1e-11)  # f(G) = G/2 is linear


def test_order_keyword():
    spec = MLPSpec((8, 10, 10), "tanh", bias=("normal", 0.2))
    base = mlp_propagation(spec, 0.4)
    default = mlp_propagation(spec, 0.4, order="mean_field")
    full = mlp_propagation(spec, 0.4, order="nlo")
    assert base.equals(default) and full[list(base.columns)].equals(base)
    assert list(full.columns[len(base.columns):]) == list(nlo.NLO_COLUMNS) + ["c_nlo"]
    assert "c_nlo" not in mlp_propagation(spec, order="nlo").columns
    for bad in ("NLO", None, 2):
        with pytest.raises(ValueError, match="order"):
            mlp_propagation(spec, order=bad)
    uni = mlp_propagation(MLPSpec((8, 10, 10), "tanh", init="lecun_uniform"), 0.4, order="nlo")
    assert uni[list(nlo.NLO_COLUMNS) + ["c_nlo"]].isna().all().all()


# ------------------------------------------------------------ Monte Carlo


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_nlo_passes_where_mean_field_is_rejected(name):
    spec, c0, _ = CASES[name]
    mc = _mc(name)
    mf, th = _theories(spec, c0)
    z_mf, _ = _compare(mc, mf)
    z_nlo, p_nlo = _compare(mc, th)
    assert max(_maxabs(z_mf).values()) > 5, _maxabs(z_mf)
    assert p_nlo > ALPHA, (p_nlo, _maxabs(z_nlo))


def test_gelu_he_width32_depth20_is_beyond_nlo():
    """Case (b): mean-field is rejected, and so is NLO: at L/n = 20/32 the mean-field q
    collapses (2 -> 0.005) while the networks keep q ~ 0.5; NLO's kernel variance
    reaches 6e4 q^2, far outside a 1/n expansion. Recorded as a known breakdown."""
    spec, c0, _ = CASES["gelu"]
    mc = _mc("gelu")
    mf, th = _theories(spec, c0)
    z_mf, _ = _compare(mc, mf)
    z_nlo, p_nlo = _compare(mc, th)
    assert max(_maxabs(z_mf).values()) > 5
    assert p_nlo < ALPHA, _maxabs(z_nlo)  # flips if the theory ever covers this case: then revisit


def test_dropping_the_mean_shift_is_detected():
    spec, c0, _ = CASES["tanh"]
    _, th = _theories(spec, c0, _mean_shift=0.0)
    z, p = _compare(_mc("tanh"), th)
    assert p < ALPHA, _maxabs(z)


def test_own_noise_scaled_by_1_1_is_detected_by_the_exact_relu_law():
    # The exact zero-bias relu law pins the O(1/n) coefficient of E[R^2] / E[R]^2 to sum 5/n_k;
    # the own-noise term S/n of the kernel-variance recursion carries 5/n_k of it per layer.
    spec = MLPSpec((10, 16, 8, 32, 12, 20), "relu", init="he_normal")
    m1, _ = exact_norm_ratio_moments(spec)
    want = np.cumsum(5 / np.asarray(spec.widths[1:], float))
    got = nlo.nlo_propagation(spec, _own_noise=1.1)["norm_ratio_m2_nlo"] / m1**2 - 1
    assert np.max(np.abs(got / want - 1)) > 0.05


def test_own_noise_scaled_by_1_1_is_not_resolved_by_the_monte_carlo():
    """Power limit, recorded: with 20,000 networks the tanh case (a) cannot tell a 10% larger
    own-noise term from the theory (max |z| ~2.6): in Var(m_hat) it is a few % of the total,
    below both the ~1-2% standard error times the Holm threshold and the O(1/n^2) residual."""
    spec, c0, _ = CASES["tanh"]
    _, th = _theories(spec, c0, _own_noise=1.1)
    z, p = _compare(_mc("tanh"), th)
    assert p > ALPHA, _maxabs(z)
