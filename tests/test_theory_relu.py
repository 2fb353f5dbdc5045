"""Exact ReLU moments against independent adaptive quadrature (tests/_quadrature.py).

Accuracy target: every entry within 1e-10 *relative* of the reference (entries
that are exactly zero must be exactly zero), including the far tails where the
values are ~1e-200; i.e. no "1e-13 absolute" escape hatch is needed.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _quadrature as quadref
from mcbench.theory import (
    relu_cov_zero_mean,
    relu_mean_1d,
    relu_moments,
    relu_second_moment_1d,
    relu_var_1d,
)

RTOL = 1e-10


def assert_rel(got, ref, rtol=RTOL):
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert got.shape == ref.shape
    zero = ref == 0.0
    assert np.all(got[zero] == 0.0), (got[zero], "expected exact zeros")
    rel = np.abs(got[~zero] - ref[~zero]) / np.abs(ref[~zero])
    assert rel.size == 0 or rel.max() <= rtol, f"max relative error {rel.max():.3g} > {rtol:g}"


def assert_moments_match(mean, cov):
    m, c = relu_moments(mean, cov)
    m_ref, c_ref = quadref.relu_moments(mean, cov)
    assert_rel(m, m_ref)
    assert_rel(c, c_ref)
    assert np.array_equal(c, c.T)
    return m, c


# ----------------------------------------------------------------- univariate

RATIOS = [-37.0, -30.0, -20.0, -8.0, -3.0, -1.6, -1.4, -0.5, 0.0, 0.3, 1.0, 2.5, 8.0, 30.0, 100.0]


@pytest.mark.parametrize("a", RATIOS)
@pytest.mark.parametrize("sigma", [1.0, 0.37])
def test_univariate_against_quadrature(a, sigma):
    mu = a * sigma
    m_ref, m2_ref, v_ref = quadref.relu_1d(mu, sigma)
    assert_rel(relu_mean_1d(mu, sigma), m_ref, 1e-13)
    assert_rel(relu_second_moment_1d(mu, sigma), m2_ref, 1e-13)
    assert_rel(relu_var_1d(mu, sigma), v_ref, 1e-13)


def test_univariate_zero_and_tiny_sigma():
    mu = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    assert np.array_equal(relu_mean_1d(mu, 0.0), np.maximum(mu, 0.0))
    assert np.array_equal(relu_second_moment_1d(mu, 0.0), np.maximum(mu, 0.0) ** 2)
    assert np.array_equal(relu_var_1d(mu, 0.0), np.zeros(5))
    # sigma = 1e-8: a = mu/sigma is huge except at mu = 0
    s = 1e-8
    m0 = s / math.sqrt(2 * math.pi)
    v0 = s * s * (0.5 - 1 / (2 * math.pi))
    np.testing.assert_allclose(relu_mean_1d(mu, s), [0.0, m0, m0, 0.5, 3.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(relu_var_1d(mu, s), [0.0, v0, v0, s * s, s * s], rtol=1e-15, atol=0)
    # subnormal sigma (mu/sigma overflows to inf) stays finite and exact
    assert relu_mean_1d(1.0, 5e-324) == 1.0
    assert relu_var_1d(-1.0, 5e-324) == 0.0


def test_univariate_zero_mean_closed_forms():
    sigma = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(relu_mean_1d(0.0, sigma), sigma / math.sqrt(2 * math.pi), rtol=1e-15)
    np.testing.assert_allclose(relu_second_moment_1d(0.0, sigma), sigma**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(relu_var_1d(0.0, sigma), sigma**2 * (0.5 - 1 / (2 * math.pi)), rtol=1e-15)


def test_univariate_vectorised_and_validated():
    mu = np.linspace(-3, 3, 12).reshape(3, 4)
    out = relu_var_1d(mu, np.array([0.5, 1.0, 2.0, 0.0]))
    assert out.shape == (3, 4)
    assert isinstance(relu_mean_1d(0.2, 1.0), float)
    with pytest.raises(ValueError, match="sigma"):
        relu_mean_1d(0.0, -1.0)
    with pytest.raises(ValueError, match="mu"):
        relu_var_1d(math.nan, 1.0)


def test_variance_in_far_tail_is_not_cancellation_noise():
    # E[X+^2] - E[X+]^2 would lose ~4 digits at a = 30 and everything at 1e8.
    for a in (30.0, 1e4, 1e8):
        assert relu_var_1d(a, 1.0) == pytest.approx(1.0, rel=1e-15, abs=0)
    v = relu_var_1d(-30.0, 1.0)
    assert v == pytest.approx(quadref.relu_var_std(-30.0), rel=1e-13)
    assert 0 < v < 1e-198


# ------------------------------------------------------------------ bivariate

PAIRS = [
    (-30.0, -30.0), (-30.0, -2.9), (-30.0, 0.7), (-30.0, 29.0), (-10.0, 4.0),
    (-3.0, -3.0), (-2.5, 2.5), (-1.5, 0.0), (0.0, 0.0), (0.7, -1.2), (3.0, 4.0),
    (30.0, 30.0),
]
RHOS = [-1.0, -(1 - 1e-9), -0.9, -0.3, -0.004, 0.02, 0.5, 1 - 1e-9, 1.0]


@pytest.mark.parametrize("a,b", PAIRS)
def test_bivariate_grid_against_quadrature(a, b):
    """2x2 problems over standardised means a, b and correlations incl. +-1."""
    s1, s2 = 1.3, 0.6
    for rho in RHOS:
        cov = np.array([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]])
        assert_moments_match([a * s1, b * s2], cov)


def test_cross_moment_against_2d_quadrature():
    """E[X_i+ X_j+] = Cov + m_i m_j against direct 2-d integration over the quadrant."""
    cases = [(0.7, -1.2, 0.6), (-1.5, 0.3, 0.8), (2.0, 2.5, 0.95), (-2.0, -2.0, 0.5),
             (0.0, 0.0, -0.3), (-10.0, -10.0, 0.5), (-5.0, 3.0, 1 - 1e-9), (1.0, 0.5, 1.0), (1.0, -0.5, -1.0)]
    for a, b, rho in cases:
        m, c = relu_moments([a, b], [[1.0, rho], [rho, 1.0]])
        assert_rel(c[0, 1] + m[0] * m[1], quadref.relu_cross_std(a, b, rho))


@pytest.mark.parametrize("d,seed", [(3, 1), (5, 2), (8, 3)])
def test_random_gaussians(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) * rng.uniform(0.2, 2.0, (d, 1))
    cov = a @ a.T / d
    mean = rng.standard_normal(d) * np.sqrt(np.diag(cov)) * 1.5
    m, c = assert_moments_match(mean, cov)
    assert np.all(np.linalg.eigvalsh(c) >= -1e-12 * np.max(np.abs(c)))


def test_singular_low_rank():
    rng = np.random.default_rng(11)
    d = 6
    a = rng.standard_normal((d, d - 2))
    cov = a @ a.T
    mean = rng.standard_normal(d) * 2.0
    mean[0] = -30.0 * math.sqrt(cov[0, 0])
    mean[1] = 30.0 * math.sqrt(cov[1, 1])
    assert_moments_match(mean, cov)


def test_degenerate_coordinates():
    """Duplicated / negated coordinates (rho = +-1 exactly), zero and 1e-8 variances,
    nearly collinear pairs, |mean|/sigma = 30 of both signs: one singular Gaussian."""
    eps = math.sqrt(2e-9)  # cos(eps) = 1 - 1e-9
    rows = np.array([
        [1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],                      # duplicate: rho = 1
        [-1.0, 0.0, 0.0],                     # negation: rho = -1
        [0.0, 0.0, 0.0],                      # constant
        [6e-9, 8e-9, 0.0],                    # sigma = 1e-8, mean/sigma = 0.5
        [0.0, 6e-9, 8e-9],                    # sigma = 1e-8, mean/sigma = 3e7
        [math.cos(eps), math.sin(eps), 0.0],  # rho = 1 - 1e-9 with row 0
        [-math.cos(eps), 0.0, math.sin(eps)],  # rho = -(1 - 1e-9) with row 0
        [1.2, 0.9, 0.0],                      # sigma = 1.5, mean/sigma = -30
        [0.0, 0.3, 0.4],                      # sigma = 0.5, mean/sigma = +30
    ])
    mean = np.array([0.4, 0.4, -0.1, 0.5, 0.5e-8, 0.3, 0.35, -0.2, -45.0, 15.0])
    cov = rows @ rows.T
    m, c = assert_moments_match(mean, cov)
    assert m[3] == 0.5 and np.all(c[3] == 0.0)
    assert np.array_equal(np.diag(c), relu_var_1d(mean, np.sqrt(np.diag(cov))))
    # duplicate coordinate: the covariance is the variance
    assert c[0, 1] == pytest.approx(c[0, 0], rel=1e-14)


def test_diagonal_is_univariate_variance():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 4))
    cov = a @ a.T
    mean = np.array([-40.0, -3.0, 0.0, 25.0])
    m, c = relu_moments(mean, cov)
    sd = np.sqrt(np.diag(cov))
    assert np.array_equal(np.diag(c), relu_var_1d(mean, sd))
    assert np.array_equal(m, relu_mean_1d(mean, sd))


# ------------------------------------------------------------- zero-mean form


@pytest.mark.parametrize("seed", [0, 1])
def test_arc_cosine_zero_mean_matches_general(seed):
    rng = np.random.default_rng(seed)
    d = 7
    a = rng.standard_normal((d, d - 1 - seed)) * rng.uniform(0.1, 3.0, (d, 1))
    cov = a @ a.T
    cov = np.pad(cov, ((0, 1), (0, 1)))  # plus a zero-variance coordinate
    general = relu_moments(np.zeros(d + 1), cov)[1]
    arccos = relu_cov_zero_mean(cov)
    scale = np.sqrt(np.outer(np.diag(general), np.diag(general)))
    assert np.all(np.abs(arccos - general) <= 1e-13 * scale)
    assert_rel(arccos[:d, :d], general[:d, :d], 1e-12)


def test_arc_cosine_special_values():
    c = relu_cov_zero_mean([[4.0, 2.0, -2.0, 0.0], [2.0, 1.0, -1.0, 0.0], [-2.0, -1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 9.0]])
    k = 0.5 - 1 / (2 * math.pi)
    assert c[0, 0] == pytest.approx(4 * k, rel=1e-15)
    assert c[0, 1] == pytest.approx(2 * k, rel=1e-15)             # rho = 1
    assert c[1, 2] == pytest.approx(-1 / (2 * math.pi), rel=1e-15)  # rho = -1: -E E
    assert c[0, 3] == 0.0                                          # rho = 0


# ------------------------------------------------------------------ validation

finite = st.floats(-5, 5, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.data())
def test_nan_in_inputs_raises(d, data):
    mean = np.array(data.draw(st.lists(finite, min_size=d, max_size=d)))
    cov = np.eye(d)
    i = data.draw(st.integers(0, d - 1))
    if data.draw(st.booleans()):
        mean[i] = math.nan
    else:
        cov[i, data.draw(st.integers(0, d - 1))] = data.draw(st.sampled_from([math.nan, math.inf]))
    with pytest.raises(ValueError):
        relu_moments(mean, cov)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 5), st.data())
def test_asymmetric_cov_raises(d, data):
    cov = np.eye(d) * 2.0
    i, j = data.draw(st.lists(st.integers(0, d - 1), min_size=2, max_size=2, unique=True))
    cov[i, j] += data.draw(st.floats(1e-6, 1.0))
    with pytest.raises(ValueError, match="symmetric"):
        relu_moments(np.zeros(d), cov)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.data())
def test_non_psd_cov_raises(d, data):
    # Symmetric with a clearly negative eigenvalue; the diagonal may well stay positive.
    a = np.array(data.draw(st.lists(finite, min_size=d * d, max_size=d * d))).reshape(d, d)
    q, _ = np.linalg.qr(a + 1e-3 * np.eye(d))
    eig = np.array(data.draw(st.lists(st.floats(0.1, 10.0), min_size=d, max_size=d)))
    eig[data.draw(st.integers(0, d - 1))] = -data.draw(st.floats(1e-3, 1.0)) * eig.max()
    cov = (q * eig) @ q.T
    cov = 0.5 * (cov + cov.T)
    with pytest.raises(ValueError, match="positive semi-definite"):
        relu_moments(np.zeros(d), cov)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5))
def test_shape_mismatch_raises(d_mean, d_cov):
    if d_mean == d_cov:
        d_cov += 1
    with pytest.raises(ValueError, match="shape mismatch"):
        relu_moments(np.zeros(d_mean), np.eye(d_cov))
