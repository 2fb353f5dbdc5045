"""Closed forms of the piecewise-linear activations (leaky ReLU, abrelu) against quadrature and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from mcbench.spec import abrelu, leaky_relu
from mcbench.theory.gaussian import FUNCTIONALS, expect, expect_pair

SLOPES = [(0.01, 1.0), (-0.5, 2.0), (0.0, 1.0), (-1.0, 1.0), (0.3, -0.7)]
MOMENTS = [(0.0, 1.0), (0.7, 2.3), (-1.3, 0.4)]


@pytest.mark.parametrize("a, b", SLOPES)
@pytest.mark.parametrize("mean, var", MOMENTS)
def test_one_dimensional_closed_forms_match_quadrature(a, b, mean, var):
    act = abrelu(a, b)
    for fn in FUNCTIONALS:
        closed, quad = expect(act, mean, var, fn), expect(act, mean, var, fn, method="quad")
        assert closed == pytest.approx(quad, rel=1e-10, abs=1e-10), fn


@pytest.mark.parametrize("a, b", SLOPES)
@pytest.mark.parametrize("c", [-0.7, 0.0, 0.3, 0.95])
def test_pair_closed_forms_match_quadrature(a, b, c):
    act = abrelu(a, b)
    q1, q2 = 2.3, 1.7
    for fn in ("phi", "dphi"):
        closed = expect_pair(act, (0.7, 0.2), q1, q2, c * np.sqrt(q1 * q2), fn)
        quad = expect_pair(act, (0.7, 0.2), q1, q2, c * np.sqrt(q1 * q2), fn, method="quad")
        assert closed == pytest.approx(quad, rel=1e-10, abs=1e-10), fn


def test_closed_forms_match_monte_carlo():
    """2e6 fixed-seed Gaussian pairs; every moment within 5 SE (no retries)."""
    a, b, m1, m2, q1, q2, c = -0.5, 2.0, 0.4, -0.3, 1.5, 0.8, 0.6
    cov = np.array([[q1, c * np.sqrt(q1 * q2)], [c * np.sqrt(q1 * q2), q2]])
    uv = np.random.default_rng(20261123).multivariate_normal([m1, m2], cov, size=2_000_000)
    act = abrelu(a, b)
    phi, dphi = act(uv), act.derivative(uv)
    u = uv[:, 0]
    samples = {
        ("phi",): phi[:, 0], ("phi2",): phi[:, 0] ** 2, ("dphi",): dphi[:, 0], ("dphi2",): dphi[:, 0] ** 2,
        ("z_phi_dphi",): (u - m1) * phi[:, 0] * dphi[:, 0],
        ("pair", "phi"): phi[:, 0] * phi[:, 1], ("pair", "dphi"): dphi[:, 0] * dphi[:, 1],
    }
    for key, x in samples.items():
        theory = (expect(act, m1, q1, key[0]) if key[0] != "pair"
                  else expect_pair(act, (m1, m2), q1, q2, cov[0, 1], key[1]))
        z = (x.mean() - theory) / (x.std() / np.sqrt(x.size))
        assert abs(z) < 5, (key, z)


def test_leaky_relu_is_abrelu_and_reduces_to_relu():
    assert leaky_relu(0.2).a == 0.2 and leaky_relu(0.2).b == 1.0
    for fn in FUNCTIONALS:
        assert expect(abrelu(0.0, 1.0), 0.3, 1.7, fn) == pytest.approx(expect("relu", 0.3, 1.7, fn), rel=1e-13)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_bad_slopes_are_named(bad):
    with pytest.raises(ValueError, match="^a must"):
        abrelu(bad, 1.0)
    with pytest.raises(ValueError, match="^slope must"):
        leaky_relu(bad)
