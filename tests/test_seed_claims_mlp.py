"""Seeds 001-004 claims: errata really are wrong, the rest really are right.

Beyond each record's example, the verdicts are checked independently of the
record's own ``correct_fn`` where that is cheap (series coefficients, a
plain-numpy Monte Carlo of the gradient factorisation, Var[XY] by sampling).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcbench.spec import MLPSpec
from mcbench.validation.claims import mlp_init as seed_claims
from mcbench.validation.claims import ALL_SEED_CLAIMS, MLP_CLAIMS_BY_NAME, MLP_SEED_CLAIMS, SEED_CLAIMS, SeedClaim
from reference import assert_within_holm, independent_networks, rel_diff

KINDS = {"scalar", "fans", "gaussian", "moments", "widths", "mlp"}


def test_registry_is_well_formed():
    assert len(MLP_CLAIMS_BY_NAME) == len(MLP_SEED_CLAIMS)
    assert ALL_SEED_CLAIMS == SEED_CLAIMS + MLP_SEED_CLAIMS
    assert not {c.name for c in SEED_CLAIMS} & set(MLP_CLAIMS_BY_NAME)
    for c in MLP_SEED_CLAIMS:
        assert isinstance(c, SeedClaim)
        assert c.seed in {"001", "002", "003", "004"}
        assert c.kind in KINDS
        assert c.as_written and c.corrected and c.note and c.section
        assert c.seed_fn is not None and c.correct_fn is not None
    assert {c.name for c in MLP_SEED_CLAIMS if c.is_erratum} == {
        "xavier_normal_notation", "thm11_weight_shape", "thm11_independence", "tanh_mean_derivative",
    }
    assert {c.seed for c in MLP_SEED_CLAIMS} == {"001", "002", "003", "004"}


@pytest.mark.parametrize("claim", [c for c in MLP_SEED_CLAIMS if c.is_erratum], ids=lambda c: c.name)
def test_errata_disagree_on_their_example(claim):
    assert rel_diff(claim.seed_fn(*claim.example), claim.correct_fn(*claim.example)) > 1e-3


@pytest.mark.parametrize("claim", [c for c in MLP_SEED_CLAIMS if not c.is_erratum], ids=lambda c: c.name)
def test_correct_claims_agree_on_their_example(claim):
    assert rel_diff(claim.seed_fn(*claim.example), claim.correct_fn(*claim.example)) <= 1e-12


def test_taylor_series_next_coefficients():
    # (f(x) - polynomial) / x^5 -> next coefficient: the polynomials are right through x^4.
    x = np.array([0.03, 0.02])  # small enough for the x^7 term, large enough for rounding
    np.testing.assert_allclose((1 / (1 + np.exp(-x)) - seed_claims.seed_sigmoid_taylor(x)) / x**5, 1 / 480, rtol=1e-3)
    np.testing.assert_allclose((np.tanh(x) - seed_claims.seed_tanh_taylor(x)) / x**5, 2 / 15, rtol=1e-3)
    # and 4 sigmoid - 2 = x - x^3/12 + ...
    y = 4 / (1 + np.exp(-x)) - 2
    np.testing.assert_allclose((y - x) / x**3, -1 / 12, rtol=1e-3)


def test_xavier_normal_reading_as_std_is_right():
    # Read as N(mean, std) the seed's normal has the right variance.
    fi, fo = 100, 100
    assert seed_claims.seed_xavier_normal_var(fi, fo) ** 2 == pytest.approx(2 / (fi + fo), rel=1e-15)


def test_weight_shape_from_backprop_rule():
    # dJ/dW^l_ij = delta^l_i h^{l-1}_j, built literally: its shape is (n_l, n_{l-1}).
    widths = (7, 12, 5)
    rng = np.random.default_rng(0)
    grads = [np.outer(rng.standard_normal(n_l), rng.standard_normal(n_prev)) for n_prev, n_l in zip(widths, widths[1:])]
    np.testing.assert_array_equal([g.size for g in grads], MLP_CLAIMS_BY_NAME["thm11_weight_shape"].correct_fn(widths))


def _gradient_moments(spec, n_samples, rng):
    """Per-sample unit averages of (delta^l)^2 (h^{l-1})^2 and their product, layer l = 1..L."""
    hs, _, deltas = independent_networks(spec, n_samples, rng)
    out = []
    for delta, h in zip(deltas, hs[:-1]):
        d2, h2 = (delta**2).mean(1), (h**2).mean(1)
        out.append((d2 * h2, d2, h2))
    return out


def test_independence_step_fails_at_finite_width_for_tanh():
    # E[(delta h)^2] vs E[delta^2] E[h^2], width 4, sigma_w^2 = 1.5: the seed's
    # "independent" premise is visibly false at the first layer.
    rng = np.random.default_rng(11)
    g, d2, h2 = _gradient_moments(MLPSpec((4, 4, 4, 4), "tanh", weight_var=1.5 / 4), 100_000, rng)[0]
    gap = g.mean() - d2.mean() * h2.mean()
    lin = g - (d2 * h2.mean() + d2.mean() * h2)  # delta method for the product of means
    se = lin.std(ddof=1) / math.sqrt(g.size)
    assert gap / (d2.mean() * h2.mean()) < -0.1 and abs(gap) > 10 * se


def test_independence_claim_numbers_against_monte_carlo():
    # The record's two sides for the narrow relu net, against sampling.
    spec = MLP_CLAIMS_BY_NAME["thm11_independence"].example[0]
    rng = np.random.default_rng(5)
    res = _gradient_moments(spec, 200_000, rng)  # he_normal, zero bias
    claim = MLP_CLAIMS_BY_NAME["thm11_independence"]
    factorised, truth = claim.seed_fn(spec), claim.correct_fn(spec)
    estimates, theory, stderr = [], [], []
    for l, (g, d2, h2) in enumerate(res):
        lin = d2 * h2.mean() + d2.mean() * h2  # delta method for the product of means
        estimates += [g.mean(), d2.mean() * h2.mean()]
        theory += [truth[l], factorised[l]]
        stderr += [g.std(ddof=1) / math.sqrt(g.size), lin.std(ddof=1) / math.sqrt(g.size)]
    assert_within_holm(estimates, theory, stderr, label="E[g^2] and E[d^2] E[h^2] per layer")


def test_relu_half_needs_zero_mean():
    claim = MLP_CLAIMS_BY_NAME["eq12_relu_half"]
    assert claim.correct_fn("relu", 0.5, 1.0) == pytest.approx(0.6914624612740131, rel=1e-14)
    assert claim.correct_fn("relu", 0.0, 7.3) == 0.5


def test_he_fan_out_vs_fan_in():
    widths = (7, 12, 5, 9, 16)
    assert rel_diff(seed_claims.seed_he_backward_profile(widths), MLP_CLAIMS_BY_NAME["eq13_he_fan_out"].correct_fn(widths)) <= 1e-12
    from mcbench.theory.mlp import mlp_propagation

    qt = mlp_propagation(MLPSpec(widths, "relu", init="he_normal"), depth_scales=False)["qtilde"]
    np.testing.assert_allclose(qt, 16 / np.array(widths[1:]), rtol=1e-14)  # fan-in He: n_L / n_l


def test_glorot_formula_overestimates_tanh():
    spec = MLPSpec((20,) * 4, "tanh", init="lecun_normal")
    claim = MLP_CLAIMS_BY_NAME["glorot_product_formula"]
    assert np.all(claim.correct_fn(spec)[1:] < 0.5 * claim.seed_fn(spec)[1:])


def test_var_product_by_sampling():
    rng = np.random.default_rng(3)
    mx, vx, my, vy = MLP_CLAIMS_BY_NAME["var_product_independent"].example
    xy = (mx + math.sqrt(vx) * rng.standard_normal(2_000_000)) * (my + math.sqrt(vy) * rng.standard_normal(2_000_000))
    v = xy.var()
    se = math.sqrt(((xy - xy.mean()) ** 2).var() / xy.size)
    assert_within_holm([v], [seed_claims.seed_var_product(mx, vx, my, vy)], [se], label="Var(XY)")


def test_tanh_mean_derivative_small_variance_limit():
    claim = MLP_CLAIMS_BY_NAME["tanh_mean_derivative"]
    for q in (1e-3, 1e-2):
        assert claim.correct_fn("tanh", 0.0, q) == pytest.approx(1 - q, abs=3 * q * q)
    assert claim.correct_fn("tanh", 0.0, 1.0) == pytest.approx(0.605705509602159, rel=1e-12)
