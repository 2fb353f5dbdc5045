"""Bivariate (and univariate) normal CDF against independent quadrature."""

import math

import numpy as np
import pytest
from scipy import special

import _quadrature as quadref
from mcbench.theory import bvn_cdf, norm_cdf, norm_pdf

# Covers both branches, their switch points (0.3, 0.75 node counts; 0.925
# method), near-degenerate and exactly degenerate correlations.
RHOS = [
    -1.0, -0.999999, -0.99, -0.925, -0.9, -0.6, -0.3, -0.1, 0.0, 0.1, 0.299,
    0.5, 0.75, 0.924, 0.925, 0.97, 0.999999, 1.0 - 1e-12, 1.0,
]
ARGS = np.linspace(-8.0, 8.0, 9)


@pytest.mark.parametrize("rho", RHOS)
def test_grid_against_quadrature(rho):
    h, k = np.meshgrid(ARGS, ARGS, indexing="ij")
    got = bvn_cdf(h, k, rho)
    ref = np.vectorize(quadref.phi2)(h, k, rho)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_random_points_against_quadrature():
    rng = np.random.default_rng(20240601)
    h = rng.uniform(-8, 8, 150)
    k = rng.uniform(-8, 8, 150)
    near_one = 10.0 ** rng.uniform(-12, -1, 50)
    rho = np.concatenate([rng.uniform(-1, 1, 100), 1 - near_one[:25], -1 + near_one[25:]])
    got = bvn_cdf(h, k, rho)
    ref = np.array([quadref.phi2(*t) for t in zip(h, k, rho)])
    assert np.max(np.abs(got - ref)) <= 1e-12


def test_degenerate_correlations_exact():
    h = np.array([-2.0, 0.3, 1.5, 4.0])
    k = np.array([1.0, -0.2, 1.5, -4.5])
    np.testing.assert_allclose(bvn_cdf(h, k, 1.0), special.ndtr(np.minimum(h, k)), rtol=1e-14)
    expected = np.maximum(0.0, special.ndtr(h) - special.ndtr(-k))
    np.testing.assert_allclose(bvn_cdf(h, k, -1.0), expected, rtol=1e-15, atol=1e-300)
    # continuity into the degenerate limits
    np.testing.assert_allclose(bvn_cdf(h, k, 1 - 1e-15), bvn_cdf(h, k, 1.0), atol=1e-7)
    np.testing.assert_allclose(bvn_cdf(h, k, -1 + 1e-15), bvn_cdf(h, k, -1.0), atol=1e-7)


def test_infinite_limits():
    inf = math.inf
    assert bvn_cdf(-inf, 0.3, 0.5) == 0.0
    assert bvn_cdf(0.3, -inf, -0.5) == 0.0
    assert bvn_cdf(inf, inf, 0.2) == 1.0
    assert bvn_cdf(inf, 0.7, -0.9) == pytest.approx(special.ndtr(0.7), rel=1e-15)
    assert bvn_cdf(-1.1, inf, 1.0) == pytest.approx(special.ndtr(-1.1), rel=1e-15)


def test_identities():
    rng = np.random.default_rng(7)
    h, k = rng.uniform(-5, 5, (2, 300))
    rho = rng.uniform(-1, 1, 300)
    # symmetry, and P(X<h, Y<k) + P(X<h, Y>k) = Phi(h) with -Y of correlation -rho
    np.testing.assert_allclose(bvn_cdf(h, k, rho), bvn_cdf(k, h, rho), atol=2e-16)
    np.testing.assert_allclose(bvn_cdf(h, k, rho) + bvn_cdf(h, -k, -rho), special.ndtr(h), atol=1e-15)
    np.testing.assert_allclose(bvn_cdf(h, k, 0.0), special.ndtr(h) * special.ndtr(k), rtol=1e-14)
    # zero-mean orthant probability: 1/4 + arcsin(rho)/(2 pi)
    np.testing.assert_allclose(bvn_cdf(0.0, 0.0, rho), 0.25 + np.arcsin(rho) / (2 * np.pi), atol=1e-15)


def test_broadcasting_nan_and_validation():
    out = bvn_cdf(np.zeros((3, 1)), np.zeros((1, 4)), 0.5)
    assert out.shape == (3, 4)
    assert isinstance(bvn_cdf(0.1, 0.2, 0.3), float)
    assert math.isnan(bvn_cdf(math.nan, 0.0, 0.1))
    assert math.isnan(bvn_cdf(0.0, 0.0, math.nan))
    with pytest.raises(ValueError, match="rho"):
        bvn_cdf(0.0, 0.0, 1.0000001)


def test_univariate_normal_tails():
    x = np.array([-37.0, -30.0, -10.0, -1.0, 0.0, 2.0, 8.0])
    # Phi(x) has relative condition number ~x^2 in the lower tail, so two
    # correct implementations differ by up to ~x^2 eps (1e-13 at x = -30).
    rel = np.abs(norm_cdf(x) / special.ndtr(x) - 1.0)
    assert np.all(rel <= 2e-16 * np.maximum(x * x, 50.0))
    np.testing.assert_allclose(norm_pdf(x), np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), rtol=1e-15)
    assert norm_cdf(math.inf) == 1.0 and norm_cdf(-math.inf) == 0.0
    assert norm_pdf(math.inf) == 0.0
