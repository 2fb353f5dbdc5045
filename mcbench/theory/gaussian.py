r"""Gaussian expectations of activations: the integrals behind the mean-field maps.

For z ~ N(m, v) this module computes

    ``"phi"``        E[phi(z)]
    ``"phi2"``       E[phi(z)^2]
    ``"dphi"``       E[phi'(z)]
    ``"dphi2"``      E[phi'(z)^2]
    ``"z_phi_dphi"`` E[(z - m) phi(z) phi'(z)]

and, for (u, v) ~ N((m1, m2), [[q1, q12], [q12, q2]]), the cross moments
E[phi(u) phi(v)] (``"phi"``) and E[phi'(u) phi'(v)] (``"dphi"``).

``"z_phi_dphi"`` exists for the q-map slope: by the heat equation
d/dv E[f(z)] = E[f''(z)] / 2 with f = phi^2, and by Stein's lemma
E[(z - m) g(z)] = v E[g'(z)] with g = phi phi',

    d/dv E[phi(z)^2] = E[phi'(z)^2] + E[phi(z) phi''(z)] = E[(z - m) phi(z) phi'(z)] / v,

which needs only phi and phi' (so it is defined for kinked activations too,
where phi'' is a delta function). :func:`phi2_var_derivative` returns it.

Evaluation
----------
Closed forms are used where they exist (``Activation.kind``):

* ``"relu"``: via :mod:`mcbench.theory.relu` (exact for any mean);
  E[relu'(z)] = E[relu'(z)^2] = Phi(m/sd), E[(z - m) relu(z)] = v Phi(m/sd),
  E[1{u>0} 1{v>0}] = Phi2(m1/s1, m2/s2; c).
* ``"linear"`` (a x + b): polynomial moments.
* ``"erf"``: from erf(x) = 2 Phi(sqrt(2) x) - 1 and E[Phi(alpha + beta U)] =
  Phi(alpha / sqrt(1 + beta^2)),

      E[erf(z)]            = erf(m / sqrt(1 + 2v)),
      E[erf'(z)]           = 2/sqrt(pi) (1 + 2v)^(-1/2) exp(-m^2 / (1 + 2v)),
      E[erf'(z)^2]         = 4/pi (1 + 4v)^(-1/2) exp(-2 m^2 / (1 + 4v)),
      E[erf(u) erf(v)]     = 4 Phi2(a1, a2; rho) - 2 Phi(a1) - 2 Phi(a2) + 1,
                             a_i = sqrt(2) m_i / sqrt(1 + 2 q_i),
                             rho = 2 q12 / sqrt((1 + 2 q1)(1 + 2 q2)),
                           = (2/pi) arcsin(rho) when m1 = m2 = 0,
      E[erf'(u) erf'(v)]   = 4/pi det(I + 2 S)^(-1/2) exp(-mu^T (I + 2 S)^(-1) mu),
      E[(z - m) erf erf']  = v (4/pi) / ((1 + 2v) sqrt(1 + 4v))   (m = 0 only,
                             from d/dv of the arcsine form),

  (the last is the Gaussian integral E[exp(-x^T x)] for x ~ N(mu, S)).
  E[erf(z)^2] is the cross moment at q12 = q1 = q2 = v.

* ``"piecewise_linear"`` (phi(x) = a x for x < 0, b x for x > 0; leaky ReLU
  and |x| are special cases): phi = b relu(z) - a relu(-z), and the two
  pieces never overlap, so with p = Phi(m/sd)

      E[phi(z)]            = b E[relu(z)] - a E[relu(-z)],
      E[phi(z)^2]          = b^2 E[relu(z)^2] + a^2 E[relu(-z)^2],
      E[phi'(z)]           = b p + a (1 - p),   E[phi'(z)^2] = b^2 p + a^2 (1 - p),
      E[(z - m) phi phi']  = v (b^2 p + a^2 (1 - p))   (Stein's lemma),
      E[phi(u) phi(v)]     = sum over sign pairs (s, t) in {+1, -1}^2 of
                             w_s w_t E[relu(s u) relu(t v)],  w_+ = b, w_- = -a,
      E[phi'(u) phi'(v)]   = sum of the same four sign pairs, with weights
                             b^2, ab, ab, a^2, of P(s u > 0, t v > 0),

  where (s u, t v) is Gaussian with means (s m1, t m2) and covariance
  s t q12: the generalised arc-cosine kernel (Cho & Saul 2009 is the case
  a = 0, b = 1, m = 0).

Everything else is adaptive composite Gauss-Legendre quadrature in the
standardised variable x = (z - m) / sd over [-40, 40] (outside it the normal
density is below 1e-347 and underflows), with a breakpoint at the image of
z = 0, where relu, elu and selu-type activations have their kinks (plain
Gauss-Hermite converges only algebraically across a kink). A panel is
accepted when its 20-point rule agrees with the sum of its two halves to
1e-13 of the integral of |integrand| (spread over the range in proportion to
width), so kinks elsewhere are still resolved, just with more panels.
The bivariate moment conditions on the first coordinate,

    E[f(u) f(v)] = E_X[ f(m1 + s1 X) E[f(v) | X] ],
    v | X ~ N(m2 + s2 c X, s2^2 (1 - c^2)),

with the inner expectations done as one vectorised batch of 1-d adaptive
integrals, each only as accurate as its outer weight f(u) pdf(X) makes
visible (an absolute budget of 1e-13 sqrt(E f(u)^2 E f(v)^2) overall: inner
integrands such as 1 - tanh(z)^2 are pure rounding noise in the tails and
would otherwise be refined forever); c = +-1 is the degenerate line
v = m2 + s2 c X (no inner integral). Panels are also accepted once bisection
changes them by <= 1e-12 of their own |integral| (the integrand's rounding,
e.g. 4 sigmoid(z) - 2 near 0). Measured against scipy's QUADPACK: <= 8e-14 of
E|g| in 1-d over every registered activation, and <= 3e-15 relative in 2-d
(``tests/test_theory_gaussian.py``).

A zero variance is exact: z = m, so E[g(z)] = g(m) with phi' as the
activation defines it at m (relu'(0) = 0).
"""

from __future__ import annotations

import math

import numpy as np

from mcbench.spec import Activation, get_activation
from mcbench.theory.normal import _INV_SQRT_2PI, GL20_W, GL20_X, bvn_cdf_scalar, norm_cdf_scalar
from mcbench.theory.relu import relu_mean_1d, relu_moments, relu_second_moment_1d

#: 1-d functionals of z ~ N(m, v) that :func:`expect` knows.
FUNCTIONALS = ("phi", "phi2", "dphi", "dphi2", "z_phi_dphi")
#: Functions f whose cross moment E[f(u) f(v)] :func:`expect_pair` knows.
PAIR_FUNCTIONALS = ("phi", "dphi")

_GL_X, _GL_W = GL20_X, GL20_W  # the 20-point Gauss-Legendre rule of the BVN CDF
#: Initial panel edges in standardised units; wide tail panels are cheap
#: because the adaptive rule only refines them if they matter.
_EDGES = np.array([-40.0, -12.0, -8.0, -5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0, 8.0, 12.0, 40.0])
_HALF_RANGE = 40.0
#: Target: |error| <= _RTOL * integral of |integrand|.
_RTOL = 1e-13
#: Panels narrower than this (standardised units) are accepted as they are.
_MIN_WIDTH = 1e-9
_MAX_LEVELS = 60
#: A panel is also accepted once bisection changes it by <= this fraction of
#: its integral of |integrand| (rounding noise of the integrand).
_PANEL_NOISE = 1e-12
#: Active panels per integral beyond which the current estimate is accepted.
_MAX_PANELS = 4096
#: |q12| may exceed sqrt(q1 q2) by this relative amount (round-off) before it is an error.
_CORR_SLACK = 1e-12
#: Correlations within this of +-1 are taken as +-1 (a few ulps of round-off).
_C_SNAP = 8 * np.finfo(float).eps


# ------------------------------------------------------------- validation


def _check_fn(fn, allowed, name="fn"):
    if fn not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {fn!r}")
    return fn


def _check_moments(mean, var, mean_name="mean", var_name="var"):
    mean, var = float(mean), float(var)
    if not math.isfinite(mean):
        raise ValueError(f"{mean_name} must be finite, got {mean!r}")
    if not math.isfinite(var) or var < 0.0:
        raise ValueError(f"{var_name} must be finite and >= 0, got {var!r}")
    return mean, var


# ---------------------------------------------------------- pointwise fns


def _pointwise(act: Activation, fn: str, z: np.ndarray, centre: float = 0.0) -> np.ndarray:
    """The integrand g(z) of functional ``fn`` (without the density), vectorised."""
    if fn == "phi":
        return act(z)
    if fn == "phi2":
        return act(z) ** 2
    if fn == "dphi":
        return act.derivative(z)
    if fn == "dphi2":
        return act.derivative(z) ** 2
    # "z_phi_dphi". Subtracting g(centre) = (phi phi')(mean) changes nothing
    # (E[z - mean] = 0) but removes the odd leading term sd x g(mean), which
    # would otherwise cancel to O(var) and cost relative accuracy at small var.
    c = np.array([centre])
    return (z - centre) * (act(z) * act.derivative(z) - act(c)[0] * act.derivative(c)[0])


def _pair_fn(act: Activation, fn: str):
    return act if fn == "phi" else act.derivative


# --------------------------------------------------------- adaptive quadrature


def _panel_sums(integrand, lo, hi, owner):
    """20-point Gauss-Legendre value and |.| value of each panel [lo, hi]."""
    half = 0.5 * (hi - lo)
    x = (0.5 * (hi + lo))[:, None] + half[:, None] * _GL_X
    f = integrand(x.ravel(), np.repeat(owner, _GL_X.size)).reshape(x.shape)
    return (f @ _GL_W) * half, (np.abs(f) @ _GL_W) * half


def _integrate_batch(integrand, n: int, breaks: np.ndarray, atol=None, rtol: float = _RTOL) -> np.ndarray:
    """Adaptive Gauss-Legendre for ``n`` integrals over [-40, 40] at once.

    Parameters
    ----------
    integrand : callable (x, owner) -> ndarray
        Values of integrand ``owner[k]`` at ``x[k]``; both 1-d, same length.
        It must include the normal density (standardised units).
    n : int
        Number of integrals.
    breaks : ndarray, shape (n, k)
        Extra breakpoints per integral (NaN or outside the range: ignored).
    atol : ndarray, shape (n,), optional
        Absolute error that is good enough for each integral (inner integrals
        of a nested quadrature need only the accuracy their outer weight
        makes visible; without this, integrands whose own rounding is far
        above their value, like 1 - tanh(z)^2 in the tails, refine forever).

    Returns
    -------
    ndarray, shape (n,)
        The integrals. Each panel is bisected until its rule and its halves
        agree within max(``rtol`` x (integral of |integrand|), ``atol``)
        x (width / 80), or to round-off, or below ``_MIN_WIDTH``.
    """
    breaks = np.where(np.abs(breaks) < _HALF_RANGE, breaks, -_HALF_RANGE)  # NaN -> -40
    edges = np.sort(np.concatenate([np.broadcast_to(_EDGES, (n, _EDGES.size)), breaks], axis=1), axis=1)
    lo, hi = edges[:, :-1].ravel(), edges[:, 1:].ravel()
    owner = np.repeat(np.arange(n), edges.shape[1] - 1)
    keep = hi > lo
    lo, hi, owner = lo[keep], hi[keep], owner[keep]
    val, absval = _panel_sums(integrand, lo, hi, owner)
    scale = rtol * np.bincount(owner, absval, minlength=n)
    if atol is not None:
        scale = np.maximum(scale, atol)
    total = np.zeros(n)
    for _ in range(_MAX_LEVELS):
        mid = 0.5 * (lo + hi)
        vl, al = _panel_sums(integrand, lo, mid, owner)
        vr, ar = _panel_sums(integrand, mid, hi, owner)
        fine = vl + vr
        width = hi - lo
        # Second floor: the integrand's own rounding noise (e.g. 4 sigmoid(z) - 2
        # near 0 is only good to ~1e-13 relative), which bisection cannot beat.
        tol = np.maximum(scale[owner] * (width / (2.0 * _HALF_RANGE)), _PANEL_NOISE * (al + ar))
        done = (np.abs(fine - val) <= tol) | (width < _MIN_WIDTH)
        if lo.size > _MAX_PANELS * n:
            done[:] = True  # memory guard; not reached for piecewise-smooth integrands
        total += np.bincount(owner[done], fine[done], minlength=n)
        if done.all():
            return total
        todo = ~done
        lo = np.concatenate([lo[todo], mid[todo]])
        hi = np.concatenate([mid[todo], hi[todo]])
        val = np.concatenate([vl[todo], vr[todo]])
        owner = np.concatenate([owner[todo], owner[todo]])
    # Not reached for piecewise-smooth integrands; keep the best estimate.
    return total + np.bincount(owner, val, minlength=n)


def _normal_pdf(x):
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _kink_breaks(means, sd) -> np.ndarray:
    """Standardised position(s) of z = 0 for each mean, shape (len(means), 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (-np.asarray(means, dtype=float) / sd).reshape(-1, 1)


def _quad_1d(fvals, means: np.ndarray, sd: float, atol=None) -> np.ndarray:
    """E[g(means[i] + sd X)] for X ~ N(0, 1), all i at once (sd > 0).

    ``fvals(z, owner)`` returns g at z for integral ``owner``; ``atol`` as in
    :func:`_integrate_batch`.
    """
    means = np.asarray(means, dtype=float)

    def integrand(x, owner):
        return fvals(means[owner] + sd * x, owner) * _normal_pdf(x)

    return _integrate_batch(integrand, means.size, _kink_breaks(means, sd), atol)


# -------------------------------------------------------------- closed forms


def _closed_1d(act: Activation, fn: str, m: float, v: float):
    """Closed form of functional ``fn`` for z ~ N(m, v > 0), or None."""
    sd = math.sqrt(v)
    if act.kind == "relu":
        if fn == "phi":
            return float(relu_mean_1d(m, sd))
        if fn == "phi2":
            return float(relu_second_moment_1d(m, sd))
        p = norm_cdf_scalar(m / sd)
        return v * p if fn == "z_phi_dphi" else p
    if act.kind == "linear":
        a, b = act.a, act.b
        return {"phi": a * m + b, "phi2": (a * m + b) ** 2 + a * a * v, "dphi": a,
                "dphi2": a * a, "z_phi_dphi": a * a * v}[fn]
    if act.kind == "piecewise_linear":
        a, b = act.a, act.b
        p = norm_cdf_scalar(m / sd)
        if fn == "phi":
            return b * float(relu_mean_1d(m, sd)) - a * float(relu_mean_1d(-m, sd))
        if fn == "phi2":
            return b * b * float(relu_second_moment_1d(m, sd)) + a * a * float(relu_second_moment_1d(-m, sd))
        if fn == "dphi":
            return b * p + a * (1.0 - p)
        slope2 = b * b * p + a * a * (1.0 - p)
        return v * slope2 if fn == "z_phi_dphi" else slope2
    if act.kind == "erf":
        if fn == "phi":
            return math.erf(m / math.sqrt(1.0 + 2.0 * v))
        if fn == "phi2":
            return _erf_cross(m, m, v, v, v)
        if fn == "dphi":
            return 2.0 / math.sqrt(math.pi) / math.sqrt(1.0 + 2.0 * v) * math.exp(-m * m / (1.0 + 2.0 * v))
        if fn == "dphi2":
            return 4.0 / math.pi / math.sqrt(1.0 + 4.0 * v) * math.exp(-2.0 * m * m / (1.0 + 4.0 * v))
        if m == 0.0:  # "z_phi_dphi"
            return v * 4.0 / math.pi / ((1.0 + 2.0 * v) * math.sqrt(1.0 + 4.0 * v))
    return None


def _piecewise_linear_pair(a, b, fn, m1, m2, q1, q2, c) -> float:
    """E[f(u) f(v)] for phi = a x (x < 0), b x (x > 0): four sign-flipped relu terms (module docstring)."""
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    q12 = c * s1 * s2
    total = 0.0
    for s in (1.0, -1.0):
        for t in (1.0, -1.0):
            if fn == "dphi":
                weight = (b if s > 0 else a) * (b if t > 0 else a)
                if weight != 0.0:
                    total += weight * bvn_cdf_scalar(s * m1 / s1, t * m2 / s2, s * t * c)
                continue
            weight = (b if s > 0 else -a) * (b if t > 0 else -a)
            if weight != 0.0:
                mean, cov = relu_moments([s * m1, t * m2], [[q1, s * t * q12], [s * t * q12, q2]])
                total += weight * float(cov[0, 1] + mean[0] * mean[1])
    return total


def _erf_cross(m1, m2, q1, q2, q12) -> float:
    """E[erf(u) erf(v)] for (u, v) ~ N((m1, m2), [[q1, q12], [q12, q2]])."""
    d1, d2 = math.sqrt(1.0 + 2.0 * q1), math.sqrt(1.0 + 2.0 * q2)
    rho = min(max(2.0 * q12 / (d1 * d2), -1.0), 1.0)
    if m1 == 0.0 and m2 == 0.0:
        return 2.0 / math.pi * math.asin(rho)
    a1, a2 = math.sqrt(2.0) * m1 / d1, math.sqrt(2.0) * m2 / d2
    return 4.0 * bvn_cdf_scalar(a1, a2, rho) - 2.0 * norm_cdf_scalar(a1) - 2.0 * norm_cdf_scalar(a2) + 1.0


def _closed_pair(act: Activation, fn: str, m1, m2, q1, q2, c):
    """Closed form of E[f(u) f(v)] (q1, q2 > 0, correlation c), or None."""
    q12 = c * math.sqrt(q1 * q2)
    if act.kind == "relu":
        s1, s2 = math.sqrt(q1), math.sqrt(q2)
        if fn == "dphi":
            return bvn_cdf_scalar(m1 / s1, m2 / s2, c)
        mean, cov = relu_moments([m1, m2], [[q1, q12], [q12, q2]])
        return max(float(cov[0, 1] + mean[0] * mean[1]), 0.0)  # relu(u) relu(v) >= 0
    if act.kind == "linear":
        a, b = act.a, act.b
        return (a * m1 + b) * (a * m2 + b) + a * a * q12 if fn == "phi" else a * a
    if act.kind == "piecewise_linear":
        return _piecewise_linear_pair(act.a, act.b, fn, m1, m2, q1, q2, c)
    if act.kind == "erf":
        if fn == "phi":
            return _erf_cross(m1, m2, q1, q2, q12)
        s = np.array([[q1, q12], [q12, q2]])
        mu = np.array([m1, m2])
        k = np.eye(2) + 2.0 * s
        return 4.0 / math.pi / math.sqrt(np.linalg.det(k)) * math.exp(-mu @ np.linalg.solve(k, mu))
    return None


# ---------------------------------------------------------------- public API


def expect(activation, mean, var, fn: str = "phi2", *, method: str = "auto") -> float:
    """E[g(z)] for z ~ N(mean, var), g one of :data:`FUNCTIONALS`.

    Parameters
    ----------
    activation : str or Activation
        Name (``mcbench.spec.activation_names()``) or :class:`Activation`.
    mean : float
        Mean of z (units of z).
    var : float
        Variance of z (>= 0, squared units). 0 gives g(mean) exactly.
    fn : {"phi", "phi2", "dphi", "dphi2", "z_phi_dphi"}
        E[phi], E[phi^2], E[phi'], E[phi'^2] or E[(z - mean) phi phi'].
    method : {"auto", "quad"}
        ``"auto"`` uses the activation's closed form when there is one,
        ``"quad"`` forces adaptive quadrature (for cross-checks).

    Returns
    -------
    float
        The expectation, in the units of the functional (phi^2 has squared
        units of phi, and so on). Relative accuracy ~1e-13 with respect to
        E[|g(z)|].

    Raises
    ------
    ValueError
        Unknown activation, ``fn`` or ``method``, non-finite mean, negative
        or non-finite var.

    Examples
    --------
    >>> from mcbench.theory import expect
    >>> expect("relu", 0.0, 1.0, "phi2")   # E[relu(z)^2] = var / 2
    0.5
    >>> expect("linear", 0.5, 2.0, "phi2")   # mean^2 + var
    2.25
    >>> round(expect("tanh", 0.0, 1.0, "phi2"), 6)   # no closed form: quadrature
    0.394294
    >>> abs(expect("erf", 0.0, 1.0, "phi2", method="quad") - expect("erf", 0.0, 1.0, "phi2")) < 1e-12   # closed form vs quadrature
    True
    """
    act = get_activation(activation)
    _check_fn(fn, FUNCTIONALS)
    _check_fn(method, ("auto", "quad"), "method")
    mean, var = _check_moments(mean, var)
    if var == 0.0:
        return float(_pointwise(act, fn, np.array([mean]), mean)[0])
    if method == "auto":
        value = _closed_1d(act, fn, mean, var)
        if value is not None:
            return float(value)
    return float(_quad_1d(lambda z, _owner: _pointwise(act, fn, z, mean), np.array([mean]), math.sqrt(var))[0])


def phi2_var_derivative(activation, mean, var) -> float:
    """d/dvar E[phi(z)^2] = E[phi'(z)^2] + E[phi(z) phi''(z)], z ~ N(mean, var > 0).

    Computed as E[(z - mean) phi(z) phi'(z)] / var (Stein's lemma), so phi''
    is never needed and kinks are handled (relu: 1/2 at mean 0 for every var,
    although relu'(0)^2 = 0).

    Parameters
    ----------
    activation : str or Activation
    mean : float
    var : float
        > 0. At var = 0 the derivative is a one-sided limit that depends on
        phi's kinks; evaluate at a small positive var instead.

    Returns
    -------
    float
        Units of phi^2 / z^2. Multiplied by sigma_w^2 it is the slope of the
        q-map q -> sigma_w^2 E[phi^2] + sigma_b^2 (Schoenholz et al. 2017).

    Raises
    ------
    ValueError
        var <= 0, or as :func:`expect`.

    Examples
    --------
    >>> from mcbench.theory import phi2_var_derivative
    >>> phi2_var_derivative("relu", 0.0, 3.0)   # d/dvar (var / 2)
    0.5
    >>> phi2_var_derivative("linear", 0.0, 1.0)
    1.0
    """
    act = get_activation(activation)
    mean, var = _check_moments(mean, var)
    if var == 0.0:
        raise ValueError("var must be > 0 for phi2_var_derivative (the var -> 0 limit depends on kinks)")
    return expect(act, mean, var, "z_phi_dphi") / var


def expect_pair(activation, mean, q1, q2, q12, fn: str = "phi", *, method: str = "auto") -> float:
    """E[f(u) f(v)] for (u, v) ~ N((m1, m2), [[q1, q12], [q12, q2]]), f = phi or phi'.

    Parameters
    ----------
    activation : str or Activation
    mean : float or pair of float
        Common mean m (or (m1, m2)) of u and v.
    q1, q2 : float
        Variances of u and v (>= 0).
    q12 : float
        Covariance; |q12| <= sqrt(q1 q2) (correlation c = +-1 allowed).
    fn : {"phi", "dphi"}
        E[phi(u) phi(v)] (the c-map integral) or E[phi'(u) phi'(v)] (chi_c).
    method : {"auto", "quad"}
        As in :func:`expect`.

    Returns
    -------
    float
        The cross moment (squared units of f). c = 1 with q1 = q2 and
        m1 = m2 equals ``expect(..., "phi2")`` / ``"dphi2"``. Quadrature
        results are accurate to ~1e-13 sqrt(E[f(u)^2] E[f(v)^2]) in absolute
        terms (so relatively less where the moment itself is near 0).

    Raises
    ------
    ValueError
        Bad activation/fn/method, non-finite values, negative variances, or
        |q12| > sqrt(q1 q2).

    Examples
    --------
    >>> import math
    >>> from mcbench.theory import expect, expect_pair
    >>> expect_pair("relu", 0.0, 1.0, 1.0, 1.0, "phi") == expect("relu", 0.0, 1.0, "phi2")   # c = 1
    True
    >>> math.isclose(expect_pair("relu", 0.0, 1.0, 1.0, 0.0, "phi"), 1 / (2 * math.pi))   # c = 0: E[relu]^2
    True
    >>> expect_pair("relu", 0.0, 1.0, 1.0, 0.0, "dphi")   # P(u > 0) P(v > 0)
    0.25
    """
    act = get_activation(activation)
    _check_fn(fn, PAIR_FUNCTIONALS)
    _check_fn(method, ("auto", "quad"), "method")
    m1, m2 = (mean, mean) if np.ndim(mean) == 0 else tuple(mean)
    m1, q1 = _check_moments(m1, q1, "mean", "q1")
    m2, q2 = _check_moments(m2, q2, "mean", "q2")
    q12 = float(q12)
    bound = math.sqrt(q1 * q2)
    if not math.isfinite(q12) or abs(q12) > bound * (1.0 + _CORR_SLACK):
        raise ValueError(f"q12 must satisfy |q12| <= sqrt(q1 q2) = {bound:.6g}, got {q12!r}")
    f = _pair_fn(act, fn)
    single = "phi" if fn == "phi" else "dphi"
    if bound > 0.0:
        # Snap round-off (c = 1 - 2e-16 from q12 = q) onto +-1: Phi2 and the
        # cross moments have a sqrt(1 - c) singularity, so a 1-ulp miss of
        # c = 1 would cost ~1e-8.
        c = min(max(q12 / bound, -1.0), 1.0)
        if abs(c) >= 1.0 - _C_SNAP:
            c = math.copysign(1.0, c)
    # A constant coordinate factors out.
    if q1 == 0.0:
        return float(f(np.array([m1]))[0]) * expect(act, m2, q2, single, method=method)
    if q2 == 0.0:
        return float(f(np.array([m2]))[0]) * expect(act, m1, q1, single, method=method)
    if method == "auto":
        value = _closed_pair(act, fn, m1, m2, q1, q2, c)
        if value is not None:
            return float(value)
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    inner_sd = s2 * math.sqrt((1.0 - c) * (1.0 + c))
    # Error budget: the result is within _RTOL of S = E|f(u) f(v)| if each
    # inner integral at node x is within _RTOL S / (80 |f(u(x))| pdf(x)) (the
    # outer weights sum to the range width 80). S <= sqrt(E f(u)^2 E f(v)^2)
    # (Cauchy-Schwarz); that bound is what is used, 1-d and cheap.
    sq = "phi2" if fn == "phi" else "dphi2"
    budget = _RTOL * math.sqrt(expect(act, m1, q1, sq, method=method) * expect(act, m2, q2, sq, method=method))
    budget /= 2.0 * _HALF_RANGE

    def outer(x, _owner):
        # E[f(v) | X = x]: a batch of 1-d integrals, one per outer node.
        inner_mean = m2 + s2 * c * x
        fu_w = f(m1 + s1 * x) * _normal_pdf(x)
        if inner_sd == 0.0:
            g = f(inner_mean)
        else:
            with np.errstate(divide="ignore", over="ignore"):
                atol = budget / np.abs(fu_w)
            g = _quad_1d(lambda z, owner: f(z), inner_mean, inner_sd, atol)
        return fu_w * g

    with np.errstate(divide="ignore", invalid="ignore"):
        # z = 0 for u, and where v's conditional mean crosses 0 (g turns there).
        breaks = np.array([[-m1 / s1, -m2 / (s2 * c) if c != 0.0 else np.nan]])
    # The outer rule can be no more accurate than its inner values: stop at
    # the same absolute budget (matters when E[f(u) f(v)] << S, e.g. c ~ 0).
    return float(_integrate_batch(outer, 1, breaks, atol=np.array([budget * 2.0 * _HALF_RANGE]))[0])


def product_variance(mean_x, var_x, mean_y, var_y):
    """Var(XY) of independent X and Y: E[X^2] E[Y^2] - (E[X] E[Y])^2.

    Parameters
    ----------
    mean_x, var_x, mean_y, var_y : float or array_like
        Means and variances of X and Y.

    Returns
    -------
    float or ndarray, units of (X Y)^2

    Examples
    --------
    >>> from mcbench.theory import product_variance
    >>> product_variance(1.0, 2.0, 3.0, 4.0)  # 3 * 13 - 9
    30.0
    """
    return (var_x + mean_x**2) * (var_y + mean_y**2) - (mean_x * mean_y) ** 2
