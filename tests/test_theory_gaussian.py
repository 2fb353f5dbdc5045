"""Gaussian expectations of activations against scipy's QUADPACK.

The references integrate in the standardised variable x = (z - m)/sd over
[-40, 40] with breakpoints at the kink z = 0 and around the bulk, calling the
activations' scalar njit phi/phi' (not the vectorised path under test).
Tolerances: 1e-10 relative, plus 1e-13 of E|g| for values that vanish by
symmetry (E[tanh(z)] at m = 0 is 0 and both sides return ~1e-17).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy import integrate

from mcbench.spec import activation_names, get_activation
from mcbench.theory.gaussian import FUNCTIONALS, expect, expect_pair, phi2_var_derivative

MEANS = (0.0, 0.5, -2.0)
VARS = (1e-6, 0.3, 1.0, 4.0)
_BULK = (-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _quad(g, points):
    pts = sorted({p for p in (*_BULK, *points) if abs(p) < 40.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(g, -40.0, 40.0, points=pts, epsabs=0.0, epsrel=1.2e-14, limit=1000)[0]


def _scalar(act, fn):
    if fn == "phi":
        return lambda z: act.phi(z, act.a, act.b)
    return lambda z: act.dphi(z, act.a, act.b)


def reference_1d(act, fn, m, v):
    """(E[g(z)], E[|g(z)|]) for z ~ N(m, v > 0) by QUADPACK."""
    sd = math.sqrt(v)
    phi, dphi = _scalar(act, "phi"), _scalar(act, "dphi")
    g_m = phi(m) * dphi(m)

    def g(x):
        z = m + sd * x
        p, d = phi(z), dphi(z)
        val = {"phi": p, "phi2": p * p, "dphi": d, "dphi2": d * d,
               # Same identity as the code (E[z - m] = 0), for the same reason:
               # without it the odd O(sd) part cancels to O(var) in both.
               "z_phi_dphi": (z - m) * (p * d - g_m)}[fn]
        return val * math.exp(-0.5 * x * x) / _SQRT_2PI

    pts = (-m / sd,)
    return _quad(g, pts), _quad(lambda x: abs(g(x)), pts)


def reference_pair(act, fn, m, q, c):
    """E[f(u) f(v)], u, v ~ N(m, q), corr c, by nested QUADPACK."""
    f = _scalar(act, fn)
    s = math.sqrt(q)
    pdf = lambda x: math.exp(-0.5 * x * x) / _SQRT_2PI  # noqa: E731
    if abs(c) == 1.0:
        return _quad(lambda x: f(m + s * x) * f(m + s * c * x) * pdf(x), (-m / s,))
    si = s * math.sqrt(1.0 - c * c)

    def inner(x):
        mi = m + s * c * x
        return _quad(lambda y: f(mi + si * y) * pdf(y), (-mi / si,))

    return _quad(lambda x: f(m + s * x) * inner(x) * pdf(x), (-m / s, -m / (s * c) if c else 0.0))


def _generic(name):
    """The same activation with its closed forms switched off."""
    return dataclasses.replace(get_activation(name), kind="generic")


@pytest.mark.parametrize("name", activation_names())
def test_expect_matches_quadpack(name):
    act = get_activation(name)
    for fn in FUNCTIONALS:
        for m in MEANS:
            for v in VARS:
                ref, ref_abs = reference_1d(act, fn, m, v)
                for method in ("auto", "quad"):
                    got = expect(act, m, v, fn, method=method)
                    assert abs(got - ref) <= 1e-10 * abs(ref) + 1e-13 * ref_abs, (fn, m, v, method, got, ref)


@pytest.mark.parametrize("name", activation_names())
def test_zero_variance_is_pointwise(name):
    act = get_activation(name)
    for m in (*MEANS, 0.0, 1.3):
        z = np.array([m])
        p, d = act(z)[0], act.derivative(z)[0]
        want = {"phi": p, "phi2": p * p, "dphi": d, "dphi2": d * d, "z_phi_dphi": 0.0}
        for fn in FUNCTIONALS:
            assert expect(act, m, 0.0, fn) == want[fn]


@pytest.mark.parametrize("name", ["relu", "erf", "linear"])
def test_closed_forms_match_generic_quadrature(name):
    # Closed forms vs the adaptive rule on the same njit functions.
    closed, generic = get_activation(name), _generic(name)
    for fn in FUNCTIONALS:
        for m in (0.0, 0.7, -1.5):
            for v in (0.05, 1.0, 3.0):
                a, b = expect(closed, m, v, fn), expect(generic, m, v, fn)
                assert a == pytest.approx(b, rel=1e-12, abs=1e-15), (fn, m, v)


PAIR_CASES = [(0.0, 1.0, 0.3), (0.5, 2.0, 0.99), (-0.5, 0.5, 1.0), (0.3, 1.5, -0.6), (0.0, 0.7, -1.0)]


@pytest.mark.parametrize("name", ["tanh", "selu", "elu", "gelu", "softplus", "relu", "erf", "linear"])
def test_expect_pair_matches_nested_quadpack(name):
    act = get_activation(name)
    for fn in ("phi", "dphi"):
        for m, q, c in PAIR_CASES:
            ref = reference_pair(act, fn, m, q, c)
            # sqrt(E f(u)^2 E f(v)^2) with u, v equally distributed: the
            # scale the quadrature's absolute accuracy refers to.
            scale = expect(act, m, q, "phi2" if fn == "phi" else "dphi2")
            for method in ("auto", "quad"):
                got = expect_pair(act, m, q, q, c * q, fn, method=method)
                assert abs(got - ref) <= 1e-9 * abs(ref) + 1e-12 * scale, (fn, m, q, c, method, got, ref)


@pytest.mark.parametrize("name", ["tanh", "selu", "relu", "erf"])
def test_pair_at_c_one_is_the_second_moment(name):
    for m, q in ((0.0, 1.0), (0.4, 2.5)):
        assert expect_pair(name, m, q, q, q) == pytest.approx(expect(name, m, q, "phi2"), rel=1e-12)
        assert expect_pair(name, m, q, q, q, "dphi") == pytest.approx(expect(name, m, q, "dphi2"), rel=1e-12)


def test_pair_unequal_variances_and_means():
    # General (m1, m2, q1, q2): closed forms vs quadrature.
    for name in ("relu", "erf", "linear"):
        for fn in ("phi", "dphi"):
            a = expect_pair(name, (0.3, -0.8), 0.6, 2.2, 0.5, fn)
            b = expect_pair(_generic(name), (0.3, -0.8), 0.6, 2.2, 0.5, fn)
            assert a == pytest.approx(b, rel=1e-11)


def test_pair_with_a_constant_coordinate_factorises():
    got = expect_pair("tanh", (0.7, 0.2), 0.0, 1.3, 0.0)
    assert got == pytest.approx(math.tanh(0.7) * expect("tanh", 0.2, 1.3, "phi"), rel=1e-14)


def test_erf_zero_mean_closed_forms():
    # (2/pi) arcsin(2 q12 / sqrt((1 + 2 q1)(1 + 2 q2))) and (4/pi)/sqrt(1 + 4 v).
    q1, q2, q12 = 0.8, 1.7, 0.6
    assert expect_pair("erf", 0.0, q1, q2, q12) == pytest.approx(
        2 / math.pi * math.asin(2 * q12 / math.sqrt((1 + 2 * q1) * (1 + 2 * q2))), rel=1e-15)
    assert expect("erf", 0.0, 0.9, "dphi2") == pytest.approx(4 / math.pi / math.sqrt(1 + 4 * 0.9), rel=1e-15)


@pytest.mark.parametrize("name,m", [("tanh", 0.0), ("tanh", 0.6), ("softplus", -0.3), ("erf", 0.2)])
def test_phi2_var_derivative_is_the_q_map_slope(name, m):
    v, h = 0.9, 1e-4
    fd = (expect(name, m, v + h, "phi2") - expect(name, m, v - h, "phi2")) / (2 * h)
    assert phi2_var_derivative(name, m, v) == pytest.approx(fd, rel=1e-7)


def test_phi2_var_derivative_relu_is_scale_free():
    # d/dq (q/2) = 1/2 for relu at mean 0, for every q, though relu'(0)^2 = 0.
    for v in (1e-8, 1.0, 50.0):
        assert phi2_var_derivative("relu", 0.0, v) == pytest.approx(0.5, rel=1e-14)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fn"):
        expect("tanh", 0.0, 1.0, "phi3")
    with pytest.raises(ValueError, match="var"):
        expect("tanh", 0.0, -1.0)
    with pytest.raises(ValueError, match="mean"):
        expect("tanh", math.nan, 1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        expect("nope", 0.0, 1.0)
    with pytest.raises(ValueError, match="q12"):
        expect_pair("tanh", 0.0, 1.0, 1.0, 1.01)
    with pytest.raises(ValueError, match="fn"):
        expect_pair("tanh", 0.0, 1.0, 1.0, 0.5, "phi2")
    with pytest.raises(ValueError, match="var"):
        phi2_var_derivative("tanh", 0.0, 0.0)
