"""The MLP Monte Carlo kernel against a plain-numpy replay of the same draws."""

import sys

import numpy as np
import pytest
from reference import assert_within_holm, extra_peak_mib, mlp_sums_reference

from mcbench.mc import mlp_propagation
from mcbench.spec import MLPSpec

SPECS = [
    MLPSpec([5, 7, 6, 4], "relu", "he_normal"),
    MLPSpec([6, 6, 6], "tanh", "xavier_uniform", bias=("normal", 0.1)),
    MLPSpec([4, 8, 3], "scaled_sigmoid", "lecun_normal", bias=("constant", 0.2), input_var=2.0),
    MLPSpec([4, 5, 5], "linear", weight_var=0.3),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label())
@pytest.mark.parametrize("budget", [1 << 30, 2000], ids=["one-block", "many-blocks"])
def test_statistics_match_numpy_replay(spec, budget):
    n_net, n_in = 3, 40
    df = mlp_propagation(spec, n_net, n_in, seed=7, memory_budget=budget, threads=1)
    if budget == 2000:
        assert df.attrs["block"] < n_in  # the blocked path is really exercised
    ref = mlp_sums_reference(spec, n_net, n_in, seed=7)
    z_mean = ref["z_mean"].mean(0)
    np.testing.assert_allclose(df["z_mean"], z_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(df["q"], ref["z2"].mean(0) - z_mean**2, rtol=1e-10)
    se = lambda per_net: per_net.std(0, ddof=1) / np.sqrt(n_net)  # noqa: E731
    np.testing.assert_allclose(df["z_mean_se"], se(ref["z_mean"]), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(df["q_se"], se(ref["z2"] - 2 * z_mean * ref["z_mean"]), rtol=1e-8, atol=1e-14)
    e2 = ref["z2"].mean(0)  # ms_var: variance over networks and inputs of (1/n_l) sum_i (z^l_i)^2
    np.testing.assert_allclose(df["ms_var"], ref["ms2"].mean(0) - e2**2, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(df["ms_var_se"], se(ref["ms2"] - 2 * e2 * ref["z2"]), rtol=1e-8, atol=1e-14)
    for col, name in [("phi2", "phi2"), ("dphi2", "dphi2"), ("qtilde", "qtilde"), ("wgrad_ms", "wgrad_ms"),
                      ("norm_ratio_mean", "ratio"), ("norm_ratio_m2", "ratio2")]:
        np.testing.assert_allclose(df[col], ref[name].mean(0), rtol=1e-10, atol=1e-14, err_msg=col)
        np.testing.assert_allclose(df[col + "_se"], ref[name].std(0, ddof=1) / np.sqrt(n_net), rtol=1e-8,
                                   atol=1e-14, err_msg=col)
    prev = np.concatenate([[ref["x2"].mean()], ref["phi2"].mean(0)[:-1]])
    np.testing.assert_allclose(df["wgrad_factorized"], ref["qtilde"].mean(0) * prev, rtol=1e-10)


def test_pair_correlation_column_matches_replay():
    spec = MLPSpec([6, 8, 8], "relu", "he_normal")
    df = mlp_propagation(spec, 4, 64, seed=3, pair_correlation=0.6, threads=1)
    ref = mlp_sums_reference(spec, 4, 64, seed=3, pair_c=0.6)
    # c = pooled cross-covariance / sqrt(product of the pooled variances), all centred on the
    # pooled mean of z over both inputs of every pair and every network.
    centre = 0.5 * (ref["pair_a"] + ref["pair_b"]).mean(0)
    s_ab, s_aa, s_bb = (ref[f"pair_{n}"].mean(0) for n in ("ab", "aa", "bb"))
    s_a, s_b = ref["pair_a"].mean(0), ref["pair_b"].mean(0)
    c_ab = s_ab - centre * (s_a + s_b) + centre**2
    c_aa = s_aa - 2 * centre * s_a + centre**2
    c_bb = s_bb - 2 * centre * s_b + centre**2
    c = c_ab / np.sqrt(c_aa * c_bb)
    np.testing.assert_allclose(df["c"], c, rtol=1e-10)
    # Delta method across networks: the per-network linearisation of c around the pooled moments.
    per_net = lambda n: ref[f"pair_{n}"]  # noqa: E731
    lin = ((per_net("ab") - centre * (per_net("a") + per_net("b")) + centre**2) / np.sqrt(c_aa * c_bb)
           - 0.5 * c * ((per_net("aa") - 2 * centre * per_net("a") + centre**2) / c_aa
                        + (per_net("bb") - 2 * centre * per_net("b") + centre**2) / c_bb))
    np.testing.assert_allclose(df["c_se"], lin.std(0, ddof=1) / np.sqrt(4), rtol=1e-8)


def test_same_seed_same_numbers_for_any_thread_count_and_dtype_float32_close():
    spec = MLPSpec([16, 32, 32, 8], "gelu", "he_uniform")
    a = mlp_propagation(spec, 5, 64, seed=11, threads=1)
    b = mlp_propagation(spec, 5, 64, seed=11, threads=2)
    assert a.equals(b)
    # Several input blocks under a binding memory budget: the block (which fixes the order of the
    # sums) must not depend on the thread count.
    one = mlp_propagation(spec, 5, 64, seed=11, threads=1, memory_budget=16000)
    two = mlp_propagation(spec, 5, 64, seed=11, threads=2, memory_budget=16000)
    assert 2 <= one.attrs["block"] < 64
    assert one.attrs["block"] == two.attrs["block"] and one.equals(two)
    c = mlp_propagation(spec, 5, 64, seed=11, dtype=np.float32)
    # Same draws, float32 arithmetic: round-off only (measured 1.5e-8 relative; float32 eps 6e-8),
    # far below the Monte Carlo error (q_se / q >= 0.04 here).
    assert np.all(np.abs(c["q"] - a["q"]) < 1e-6 * a["q"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_networks=1), "n_networks must be >= 2"),
    (dict(n_inputs=0), "n_inputs must be >= 1"),
    (dict(pair_correlation=1.5), r"pair_correlation must lie in \[-1, 1\]"),
    (dict(pair_correlation=0.5, n_inputs=7), "n_inputs must be even"),
    (dict(dtype="int32"), "dtype must be float32 or float64"),
    (dict(memory_budget=0), "memory_budget must be >= 1"),
    # [3, 3] relu, float64: 2 x 8 x 3 activation bytes + 3 mask bytes + 2 x 8 norm bytes = 67 per input
    (dict(memory_budget=10), "memory_budget=10 bytes cannot hold the smallest block of this spec: 2 inputs x 67 "),
])
def test_bad_arguments_are_named(kwargs, match):
    args = dict(spec=MLPSpec([3, 3], "relu"), n_networks=2, n_inputs=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mlp_propagation(**args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(widths=[3, 0, 2]), r"widths\[1\] must be an integer >= 1"),
    (dict(widths=[3]), "at least 2 layer widths"),
    (dict(activation="swish2"), "unknown activation 'swish2'"),
    (dict(init="kaiming"), "unknown init 'kaiming'"),
    (dict(weight_var=-0.1), "weight_var must be finite and non-negative"),
    (dict(bias=("normal", -1.0)), "bias variance must be non-negative"),
    (dict(input_var=float("nan")), "input_var must be finite"),
])
def test_bad_specs_are_rejected(kwargs, match):
    args = dict(widths=[3, 4, 2])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MLPSpec(**args)


@pytest.mark.parametrize("scheme, fan_in, fan_out, expected", [
    ("lecun_normal", 100, 7, 1 / 100), ("lecun_uniform", 100, 7, 1 / 100),
    ("xavier_normal", 100, 300, 2 / 400), ("xavier_uniform", 100, 300, 2 / 400),
    ("glorot_uniform", 3, 5, 2 / 8), ("he_normal", 50, 9, 2 / 50), ("he_uniform", 50, 9, 2 / 50),
])
def test_init_variance_and_uniform_bound_are_exact(scheme, fan_in, fan_out, expected):
    from mcbench.theory import init_variance, uniform_bound

    var = init_variance(scheme, fan_in, fan_out)
    assert var == pytest.approx(expected, rel=1e-15)
    a = uniform_bound(var)
    assert a**2 / 3 == pytest.approx(var, rel=1e-15)  # U(-a, a) has variance a^2/3 exactly
    if scheme == "xavier_uniform":
        assert a == pytest.approx(np.sqrt(6 / (fan_in + fan_out)), rel=1e-15)


def test_uniform_init_draws_have_the_stated_variance():
    """The kernel's uniform weights: E[q^1] = n0 Var(W) input_var, so q of a linear net checks Var(W)."""
    from mcbench.theory import init_variance

    spec = MLPSpec([64, 64], "linear", "xavier_uniform")
    df = mlp_propagation(spec, 64, 64, seed=5)
    expected = 64 * init_variance("xavier_uniform", 64, 64)
    assert_within_holm([df["q"].iloc[0]], [expected], [df["q_se"].iloc[0]], dof=63, label="q, xavier_uniform")


@pytest.mark.parametrize("kwargs, match", [
    (dict(scheme="kaiming"), "unknown init"), (dict(fan_in=0), "fan_in must be a positive integer"),
])
def test_init_variance_rejects_bad_arguments(kwargs, match):
    from mcbench.theory import init_variance

    args = dict(scheme="he_normal", fan_in=3, fan_out=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        init_variance(**args)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are platform-specific")
def test_memory_does_not_grow_with_n_inputs():
    # Holding every activation of 100,000 inputs at width 64, depth 4 (float64) would take 256 MB per
    # network, and even one (n_inputs, width) temporary 51 MB; the kernel keeps one block of at most 512
    # inputs (two activation buffers and a byte of ReLU mask per unit: 0.7 MB) besides its weights,
    # whatever n_inputs is (measured: 3.4 MB at both sizes).
    setup = "from mcbench.mc import mlp_propagation\nfrom mcbench.spec import MLPSpec"
    call = "mlp_propagation(MLPSpec([64] * 5, 'relu', 'he_normal'), 2, n, seed=0)"
    assert extra_peak_mib(setup, call, 100_000) < 32
