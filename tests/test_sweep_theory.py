"""The order-to-chaos line (theory.critical_sigma_w2) against an independent computation.

The reference here uses neither mcbench's Gaussian expectations nor its maps: the
tanh q-map fixed point q* = sigma_w^2 E[tanh(z)^2] + sigma_b^2 and
chi_1 = sigma_w^2 E[sech(z)^4], z ~ N(beta, q*), are written out as
scipy.integrate.quad integrals over the standard normal density, and both
roots are found with scipy.optimize.brentq.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize

import mcbench
from mcbench.theory import critical_sigma_w2, mean_field_fixed_point

SQRT_2PI = math.sqrt(2.0 * math.pi)


def _gauss(f, mean, q):
    """E[f(mean + sqrt(q) x)], x ~ N(0, 1), by adaptive quadrature over [-40, 40]."""
    sd = math.sqrt(q)
    value, _ = integrate.quad(lambda x: f(mean + sd * x) * math.exp(-0.5 * x * x) / SQRT_2PI, -40.0, 40.0,
                              points=[0.0], epsabs=1e-15, epsrel=1e-13, limit=400)
    return value


def _tanh2(z):
    return math.tanh(z) ** 2


def _sech4(z):
    a = min(abs(z), 300.0)  # sech(300)^4 ~ 1e-520: 0 in float64, as it should be
    return (2.0 / (math.exp(a) + math.exp(-a))) ** 4


def tanh_q_star(sw2, sb2, beta=0.0):
    """Fixed point of q = sw2 E[tanh(z)^2] + sb2, z ~ N(beta, q); needs sb2 > 0 or beta != 0."""
    def g(q):
        return sw2 * _gauss(_tanh2, beta, q) + sb2 - q
    # g(0+) > 0 and tanh^2 < 1 bounds F by sw2 + sb2, so the root lies in (0, sw2 + sb2].
    return optimize.brentq(g, 1e-300, sw2 + sb2, xtol=1e-300, rtol=1e-15, maxiter=500)


def tanh_chi1(sw2, sb2, beta=0.0):
    return sw2 * _gauss(_sech4, beta, tanh_q_star(sw2, sb2, beta))


def tanh_critical(sb2, beta=0.0):
    """sigma_w^2 with chi_1 = 1 (sigma_b^2 > 0 or beta != 0: chi_1 crosses 1 once in [0.5, 8])."""
    return optimize.brentq(lambda sw2: tanh_chi1(sw2, sb2, beta) - 1.0, 0.5, 8.0, xtol=1e-14, rtol=1e-15,
                           maxiter=200)


def test_tanh_at_sigma_b2_0p05_is_the_literature_1p76():
    x = critical_sigma_w2("tanh", 0.05)
    ref = tanh_critical(0.05)
    assert round(x, 2) == 1.76  # Schoenholz et al. 2017, Fig. 1 / Poole et al. 2016
    assert abs(x - ref) < 1e-8, (x, ref)
    # and chi_1 there is 1 by the reference's own integrals
    assert abs(tanh_chi1(x, 0.05) - 1.0) < 1e-10


@pytest.mark.parametrize("sb2", [1e-6, 1e-3, 0.01, 0.1, 0.2, 0.3])
def test_tanh_line_matches_independent_quadrature(sb2):
    x = critical_sigma_w2("tanh", sb2)
    assert abs(x - tanh_critical(sb2)) < 1e-8


def test_tanh_line_vectorised_is_the_scalar_one():
    sb2 = [0.01, 0.05, 0.1]
    line = critical_sigma_w2("tanh", sb2)
    assert isinstance(line, np.ndarray) and line.shape == (3,)
    assert np.all(np.diff(line) > 0)  # more bias noise needs more weight variance to be chaotic
    np.testing.assert_array_equal(line, [critical_sigma_w2("tanh", v) for v in sb2])
    assert critical_sigma_w2("tanh", np.array([[0.05]])).shape == (1, 1)
    assert isinstance(critical_sigma_w2("tanh", 0.05), float)


def test_zero_bias_ends_where_the_q_star_0_branch_has_chi1_1():
    # sigma_b^2 = 0: F(q) = sw2 E[tanh^2] < sw2 q, so for sw2 <= 1 the iterates decay to q* = 0 and
    # chi_1 = sw2 sech(0)^4 = sw2 there: the line ends at sigma_w^2 = 1 exactly.
    assert abs(critical_sigma_w2("tanh", 0.0) - 1.0) < 1e-9
    # Just above 1, q* > 0 and the reference's chi_1 exceeds 1 (the chaotic side), though only by
    # O((sw2 - 1)^2): the line leaves (1, 0) steeply, sigma_w^2 - 1 ~ sigma_b^2^(1/3).
    sw2 = 1.01
    q = optimize.brentq(lambda q: sw2 * _gauss(_tanh2, 0.0, q) - q, 1e-6, sw2, xtol=1e-300, rtol=1e-15)
    assert 0.0 < q < 0.01
    assert 1.0 < sw2 * _gauss(_sech4, 0.0, q) < 1.0 + 1e-3
    assert 1.0 < critical_sigma_w2("tanh", 1e-6) < 1.03
    # The same edge for erf: 1 / erf'(0)^2 = pi / 4. Here brentq alone lands 1.6e-8 off (the chaotic
    # side's chi_1 - 1 is O((sw2 - x0)^2), below round-off near x0); the ordered side's q* = 0 branch
    # gives it exactly.
    assert abs(critical_sigma_w2("erf", 0.0) - math.pi / 4) < 1e-9


def test_constant_bias_is_a_mean_shift():
    # bias="constant": b_i = sqrt(sigma_b^2), z ~ N(beta, q*) with no bias variance.
    sb2 = 0.05
    x = critical_sigma_w2("tanh", sb2, bias="constant")
    assert abs(x - tanh_critical(0.0, beta=math.sqrt(sb2))) < 1e-8
    assert x != critical_sigma_w2("tanh", sb2)


def test_scaled_sigmoid_is_tanh_at_a_quarter_of_the_bias_variance():
    # 4 sigmoid(x) - 2 = 2 tanh(x / 2): with u = z / 2 the maps are tanh's with sigma_b^2 / 4.
    sb2 = np.array([0.04, 0.2, 0.4])
    np.testing.assert_allclose(critical_sigma_w2("scaled_sigmoid", sb2), critical_sigma_w2("tanh", sb2 / 4),
                               rtol=1e-9)


@pytest.mark.parametrize("bias", ["normal", "constant"])
def test_relu_line_is_two_for_any_bias(bias):
    # chi_1 = sigma_w^2 E[relu'(z)^2] = sigma_w^2 / 2 at any q (normal bias); with sigma_b^2 > 0 q*
    # diverges as sigma_w^2 -> 2 from below, and the line is its limit.
    line = critical_sigma_w2("relu", [0.0, 0.05, 0.3, 1.0], bias=bias)
    np.testing.assert_allclose(line, 2.0, rtol=1e-10, atol=0)


def test_relu_with_bias_in_the_existing_fixed_point_theory():
    # What mean_field_fixed_point says about the same networks: below 2, q* = sb2 / (1 - sw2 / 2)
    # and chi_1 = sw2 / 2 < 1; from 2 on there is no finite fixed point (q grows linearly or faster).
    def fp(sw2):
        return mean_field_fixed_point(mcbench.MLPSpec([64] * 4, "relu", weight_var=sw2 / 64, bias=("normal", 0.1)))

    below = fp(1.9)
    assert below["q_star"] == pytest.approx(0.1 / (1 - 0.95), rel=1e-9)
    assert below["chi1_star"] == pytest.approx(0.95, rel=1e-12)
    assert np.isnan(fp(2.1)["q_star"]) and np.isnan(fp(2.1)["chi1_star"])


def test_agrees_with_mean_field_fixed_point_on_the_line():
    # At the returned sigma_w^2 the existing maps' chi1_star is 1 (tanh, a width-64 net).
    sb2 = 0.1
    x = critical_sigma_w2("tanh", sb2)
    fp = mean_field_fixed_point(mcbench.MLPSpec([64] * 4, "tanh", weight_var=x / 64, bias=("normal", sb2)),
                                q_start=1.0)
    assert fp["chi1_star"] == pytest.approx(1.0, abs=1e-10)


def test_no_crossing_in_the_bracket_is_nan():
    # a x: chi_1 = a^2 sigma_w^2, so the line is 1 / a^2: 4 for a = 0.5, outside the bracket for a = 0.01.
    assert critical_sigma_w2(mcbench.spec.linear(0.5, 0.0), 0.1) == pytest.approx(4.0, rel=1e-12)
    assert math.isnan(critical_sigma_w2(mcbench.spec.linear(0.01, 0.0), 0.1))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sigma_b2=-0.1), "sigma_b2"),
    (dict(sigma_b2=[0.1, math.nan]), "sigma_b2"),
    (dict(sigma_b2=0.1, bias="uniform"), "bias"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        critical_sigma_w2("tanh", **kwargs)
