r"""Exact moments of ReLU(X) for Gaussian X, univariate and multivariate.

Notation: U, V are standard normals with correlation r, s = sqrt(1 - r^2),
phi / Phi the standard normal density / CDF and Phi2(a, b; r) = P(U < a, V < b).
For X_i ~ N(mu_i, sigma_i^2) we write a_i = mu_i / sigma_i, so that
X_i^+ = sigma_i (U + a_i)^+ and every moment is sigma-scaled from the
standardised functions

    Psi1(a) = E[(U + a)^+]   = a Phi(a) + phi(a),
    Psi2(a) = E[(U + a)^+^2] = (a^2 + 1) Phi(a) + a phi(a).

Bivariate cross moment (Rosenbaum 1961; derivation in :func:`relu_moments`):

    F(a, b; r) = E[(U + a)^+ (V + b)^+]
               = (a b + r) Phi2(a, b; r)
                 + a phi(b) Phi((a - r b)/s) + b phi(a) Phi((b - r a)/s)
                 + s phi(a) phi((b - r a)/s),

with the limits r = 1: F = Psi2(m) + (M - m) Psi1(m), m = min(a, b),
M = max(a, b); r = -1: F = (a b - 1)(Phi(a) + Phi(b) - 1) + b phi(a) + a phi(b)
when a + b > 0 and F = 0 otherwise. Cov = F - Psi1(a) Psi1(b).

Numerical strategy. The closed forms are exact but cancel badly in the tails
(Psi1(-30) ~ phi(30)/900 is the difference of two numbers ~phi(30); F at
a = b = -30 is ~1e-260 made of terms ~1e-230), and Cov = F - Psi1 Psi1 cancels
as r -> 0. Three equivalent evaluations are used, each where it is well
conditioned:

1. |r| (1 + |a|)(1 + |b|) <= 0.3: the Mehler (tetrachoric) series from
   Price's theorem, d^n F / dr^n at r = 0 = E[f^(n)(U)] E[f^(n)(V)],
   f(u) = (u + a)^+:

       Cov = r Phi(a) Phi(b) + phi(a) phi(b) sum_{n>=2} r^n / n! He_{n-2}(-a) He_{n-2}(-b);

2. |a|, |b| <= 2: the closed form above;
3. otherwise, with a the argument of larger modulus: if a > 0 it is reflected
   with the exact identity (from (U + a)^+ = U + a + (-U - a)^+ and Stein's
   lemma E[U g(V)] = r E[g'(V)])

       Cov(a, b; r) = r Phi(b) + Cov(-a, b; -r),

   whose second term is at most |r| Phi(-|a|) << |r| Phi(b), so a <= 0; then,
   conditioning on U,

       Cov = int_{-a}^inf (u + a) phi(u) D(u) du,
       D(u) = E[(V + b)^+ | U = u] - E[(V + b)^+] = s Psi1((b + r u)/s) - Psi1(b),

   by adaptive Gauss-Legendre quadrature. D keeps one sign over u > -a in
   practice (it is monotone in u and vanishes near u = 0), Psi1 is relatively
   accurate everywhere (Laplace's continued fraction for the Mills ratio
   below -1.5), and for b > 0 the identity x^+ = x + (-x)^+ lets D be formed
   as r u + s Psi1(-(b + r u)/s) - Psi1(-b) without subtracting large numbers.

Univariate variances use Var((U + a)^+) = Psi2(a) - Psi1(a)^2 for a <= 0 and
1 - 2 Phi(-a) + Var((U - a)^+) for a > 0 (same reflection), which is
cancellation-free on both sides.
"""

from __future__ import annotations

import math

import numpy as np

from mcbench._core.jit import jit
from mcbench._core.checks import check_mean_cov
from mcbench.theory.normal import (
    GL20_W,
    GL20_X,
    bvn_cdf_scalar,
    mills_cf,
    norm_cdf,
    norm_cdf_scalar,
    norm_pdf_scalar,
)

#: Psi1, Psi2 switch to the continued fraction below a = -_CF_SWITCH. Above it
#: the direct formulas stay within ~2e-15 relative (checked against mpmath);
#: between -3 and -1.7 they already lose up to ~5e-14 to cancellation.
_CF_SWITCH = 1.5
#: Closed form F - Psi1 Psi1 is used while max(|a|, |b|) <= this.
_CLOSED_FORM_MAX_ARG = 2.0
#: Mehler series is used while |r| (1 + |a|)(1 + |b|) <= this; successive terms
#: then shrink by roughly this factor, so the sum never cancels much.
_SERIES_MAX = 0.3
_SERIES_MAX_TERMS = 200
#: Relative tolerance of the adaptive quadrature for the tail cross moment.
_QUAD_RTOL = 1e-15
_QUAD_INIT_PANELS = 4
_QUAD_MAX_PANELS = 4096


# ---------------------------------------------------------------- univariate


@jit
def psi1(a: float) -> float:
    """E[(U + a)^+] for standard normal U, relatively accurate for all a."""
    if a > -_CF_SWITCH:
        return a * norm_cdf_scalar(a) + norm_pdf_scalar(a)
    c0, c1, _ = mills_cf(-a)
    return norm_pdf_scalar(a) / (c0 * c1)


@jit
def psi2(a: float) -> float:
    """E[((U + a)^+)^2] for standard normal U, relatively accurate for all a."""
    if a > -_CF_SWITCH:
        return (a * a + 1.0) * norm_cdf_scalar(a) + a * norm_pdf_scalar(a)
    c0, c1, c2 = mills_cf(-a)
    return 2.0 * norm_pdf_scalar(a) / (c0 * c1 * c2)


@jit
def _var_std_nonpos(a: float) -> float:
    # For a <= 0, Psi1^2 <= Psi2 / pi, so the difference keeps full precision.
    p1 = psi1(a)
    return psi2(a) - p1 * p1


@jit
def relu_var_std(a: float) -> float:
    """Var((U + a)^+) for standard normal U, without cancellation for any a."""
    if a > 0.0:
        # (U + a)^+ = U + a + (-U - a)^+ and E[U (-U - a)^+] = -Phi(-a).
        return 1.0 - 2.0 * norm_cdf_scalar(-a) + _var_std_nonpos(-a)
    return _var_std_nonpos(a)


@jit
def relu_mean_scalar(mu: float, sigma: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sigma^2), sigma >= 0."""
    if sigma == 0.0:
        return max(mu, 0.0)
    a = mu / sigma
    if a > 0.0:
        # sigma Psi1(a) written so that a = inf (sigma subnormal) is harmless.
        return mu * norm_cdf_scalar(a) + sigma * norm_pdf_scalar(a)
    return sigma * psi1(a)


@jit
def relu_second_moment_scalar(mu: float, sigma: float) -> float:
    """E[max(X, 0)^2] for X ~ N(mu, sigma^2), sigma >= 0."""
    if sigma == 0.0:
        m = max(mu, 0.0)
        return m * m
    a = mu / sigma
    if a > 0.0:
        return (mu * mu + sigma * sigma) * norm_cdf_scalar(a) + mu * sigma * norm_pdf_scalar(a)
    return sigma * sigma * psi2(a)


@jit
def relu_var_scalar(mu: float, sigma: float) -> float:
    """Var(max(X, 0)) for X ~ N(mu, sigma^2), sigma >= 0."""
    if sigma == 0.0:
        return 0.0
    return sigma * sigma * relu_var_std(mu / sigma)


@jit
def _relu_1d_flat(mu, sigma, out, which):
    for i in range(out.shape[0]):
        if which == 0:
            out[i] = relu_mean_scalar(mu[i], sigma[i])
        elif which == 1:
            out[i] = relu_second_moment_scalar(mu[i], sigma[i])
        else:
            out[i] = relu_var_scalar(mu[i], sigma[i])


# ----------------------------------------------------------------- bivariate


@jit
def _a_minus_rb(a: float, b: float, r: float) -> float:
    """a - r b without the cancellation of the naive form as r -> +-1.

    When a ~ r b (e.g. a = b = -3, r = 1 - 1e-9) the rounding of r b alone is
    1e-7 relative to a - r b. Written as (a - b) + (1 - r) b (or the r < 0
    analogue) every rounding is relative to a term no larger than the result,
    since 1 - r and 1 + r are exact (Sterbenz).
    """
    if r > 0.0:
        return (a - b) + (1.0 - r) * b
    return (a + b) - (1.0 + r) * b


@jit
def _cross_closed(a: float, b: float, r: float) -> float:
    """F(a, b; r) = E[(U + a)^+ (V + b)^+] from the closed form (any a, b, r)."""
    if r == 1.0:
        m = min(a, b)
        return psi2(m) + (max(a, b) - m) * psi1(m)
    if r == -1.0:
        if a + b <= 0.0:
            return 0.0  # U > -a and -U > -b cannot both hold
        prob = norm_cdf_scalar(a) - norm_cdf_scalar(-b)
        return (a * b - 1.0) * prob + b * norm_pdf_scalar(a) + a * norm_pdf_scalar(b)
    s = math.sqrt((1.0 - r) * (1.0 + r))
    alpha = _a_minus_rb(a, b, r) / s
    beta = _a_minus_rb(b, a, r) / s
    pa = norm_pdf_scalar(a)
    return (
        (a * b + r) * bvn_cdf_scalar(a, b, r)
        + a * norm_pdf_scalar(b) * norm_cdf_scalar(alpha)
        + b * pa * norm_cdf_scalar(beta)
        + s * pa * norm_pdf_scalar(beta)
    )


@jit
def _cov_series(a: float, b: float, r: float) -> float:
    """Cov((U + a)^+, (V + b)^+) by the Mehler series; for small |r| (1+|a|)(1+|b|)."""
    lead = r * norm_cdf_scalar(a) * norm_cdf_scalar(b)
    pp = norm_pdf_scalar(a) * norm_pdf_scalar(b)
    if pp == 0.0:
        # |a| or |b| > 38.6: the correction is below the underflow threshold
        # relative to the leading term (and He_n would overflow).
        return lead
    x = -a
    y = -b
    hx_prev, hx = 0.0, 1.0  # He_{m-1}(x), He_m(x), starting at m = 0
    hy_prev, hy = 0.0, 1.0
    coef = 0.5 * r * r  # r^n / n! at n = 2
    corr = 0.0
    small = 0
    for n in range(2, _SERIES_MAX_TERMS):
        m = n - 2
        term = coef * hx * hy
        corr += term
        # He_m has real zeros, so one tiny term does not mean convergence.
        if abs(term) * pp <= 1e-17 * abs(lead + corr * pp):
            small += 1
            if small >= 2:
                break
        else:
            small = 0
        hx_prev, hx = hx, x * hx - m * hx_prev
        hy_prev, hy = hy, y * hy - m * hy_prev
        coef *= r / (n + 1)
    return lead + corr * pp


@jit
def _tail_integrand(x, p, b, r, s, scale, psi1_b, psi1_neg_b):
    """t exp(-p t - t^2/2) D(p + t) dt/dx at x, with t = scale x / (1 - x).

    D(u) = E[(V + b)^+ | U = u] - E[(V + b)^+] = s Psi1(z/s) - Psi1(b),
    z = b + r u. The map sends [0, 1) onto [0, inf), with the decay length 1/p
    of phi(p + t) / phi(p) at x = 1/2.
    """
    om = 1.0 - x
    t = scale * x / om
    w = math.exp(-p * t - 0.5 * t * t)
    if w == 0.0:
        return 0.0
    u = p + t
    # z = b + r u regrouped as in _a_minus_rb, with b +- p formed first (exact
    # when they nearly cancel) so that a small t is not lost in p + t.
    if r > 0.0:
        z = ((b + p) + t) - (1.0 - r) * u
    else:
        z = ((b - p) - t) + (1.0 + r) * u
    if b > 0.0 and z > 0.0:
        # Both expectations are ~ their argument; subtract the arguments
        # exactly: x^+ = x + (-x)^+ gives D = r u + s Psi1(-z/s) - Psi1(-b).
        d = r * u + (s * psi1(-z / s) - psi1_neg_b)
    else:
        d = s * psi1(z / s) - psi1_b
    return t * w * d * scale / (om * om)


@jit
def _tail_panel(lo, hi, p, b, r, s, scale, psi1_b, psi1_neg_b):
    mid = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    acc = 0.0
    for i in range(GL20_X.shape[0]):
        acc += GL20_W[i] * _tail_integrand(mid + half * GL20_X[i], p, b, r, s, scale, psi1_b, psi1_neg_b)
    return acc * half


@jit
def _cov_tail(a: float, b: float, r: float) -> float:
    """Cov((U + a)^+, (V + b)^+) for a <= 0, |b| <= |a|, |r| < 1, by quadrature.

    Conditioning on U and subtracting E[(U + a)^+] E[(V + b)^+] inside the
    integral,

        Cov = phi(p) int_0^inf t exp(-p t - t^2/2) D(p + t) dt,   p = -a,

    with D as in :func:`_tail_integrand`. D is monotone in u and vanishes
    near u = 0, below p in practice, so the integrand keeps one sign and
    nothing cancels, while Psi1 keeps relative accuracy in every tail.
    Adaptive Gauss-Legendre (20 points, bisection until a panel no longer
    changes by more than _QUAD_RTOL of the total).
    """
    p = -a
    pref = norm_pdf_scalar(p)
    if pref == 0.0:
        return 0.0
    s = math.sqrt((1.0 - r) * (1.0 + r))
    scale = 1.0 / max(p, 1.0)
    # Psi1(+-b) are constant under the integral: evaluate them once.
    args = (p, b, r, s, scale, psi1(b), psi1(-b))

    n0 = _QUAD_INIT_PANELS
    los = np.empty(_QUAD_MAX_PANELS)
    his = np.empty(_QUAD_MAX_PANELS)
    vals = np.empty(_QUAD_MAX_PANELS)
    est = 0.0
    for i in range(n0):
        los[i] = i / n0
        his[i] = (i + 1) / n0
        vals[i] = _tail_panel(los[i], his[i], *args)
        est += abs(vals[i])
    if est == 0.0:
        return 0.0
    tol = _QUAD_RTOL * est
    top = n0
    total = 0.0
    while top > 0:
        top -= 1
        lo, hi, whole = los[top], his[top], vals[top]
        mid = 0.5 * (lo + hi)
        left = _tail_panel(lo, mid, *args)
        right = _tail_panel(mid, hi, *args)
        # Accept when bisection no longer changes the panel (the halves are
        # then far more accurate than the difference suggests), or when the
        # stack is full (never seen for these analytic integrands).
        if abs(left + right - whole) <= tol or top + 2 > _QUAD_MAX_PANELS:
            total += left + right
        else:
            los[top], his[top], vals[top] = lo, mid, left
            los[top + 1], his[top + 1], vals[top + 1] = mid, hi, right
            top += 2
    return pref * total


@jit
def relu_cov_std(a: float, b: float, r: float) -> float:
    """Cov((U + a)^+, (V + b)^+) for standard normals U, V with correlation r.

    a, b may be +-inf; r must lie in [-1, 1].
    """
    if r == 0.0:
        return 0.0
    if abs(r) * (1.0 + abs(a)) * (1.0 + abs(b)) <= _SERIES_MAX:
        return _cov_series(a, b, r)
    if abs(a) <= _CLOSED_FORM_MAX_ARG and abs(b) <= _CLOSED_FORM_MAX_ARG:
        return _cross_closed(a, b, r) - psi1(a) * psi1(b)
    if abs(b) > abs(a):
        a, b = b, a  # a is the most extreme argument
    extra = 0.0
    if a > 0.0:
        # Reflect it: Cov(a, b; r) = r Phi(b) + Cov(-a, b; -r). By Price's
        # theorem the second term is int_0^{-r} Phi2(-a, b; t) dt, at most
        # |r| min(Phi(-|a|), Phi(b)); even for b = -|a| the integrand only
        # nears Phi(b) within O(1/a^2) of t = +-1, so the two never cancel
        # appreciably.
        extra = r * norm_cdf_scalar(b)
        a, r = -a, -r
    if a == -math.inf:
        return extra
    if r == 1.0 or r == -1.0:
        # Degenerate line: the closed form is a sum of positive terms for
        # r = 1 and is exactly 0 for r = -1 (a + b <= 0 here).
        return extra + (_cross_closed(a, b, r) - psi1(a) * psi1(b))
    return extra + _cov_tail(a, b, r)


@jit
def _relu_moments_kernel(mean, cov, out_mean, out_cov):
    d = mean.shape[0]
    sd = np.empty(d)
    for i in range(d):
        sd[i] = math.sqrt(max(cov[i, i], 0.0))
        out_mean[i] = relu_mean_scalar(mean[i], sd[i])
        out_cov[i, i] = relu_var_scalar(mean[i], sd[i])
    for i in range(d):
        for j in range(i + 1, d):
            if sd[i] == 0.0 or sd[j] == 0.0:
                c = 0.0  # a constant coordinate has zero covariance with anything
            else:
                r = min(max(cov[i, j] / (sd[i] * sd[j]), -1.0), 1.0)
                c = sd[i] * sd[j] * relu_cov_std(mean[i] / sd[i], mean[j] / sd[j], r)
            out_cov[i, j] = c
            out_cov[j, i] = c


# ------------------------------------------------------------- public API


def _check_mu_sigma(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = np.broadcast_arrays(np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64))
    if not np.all(np.isfinite(mu)):
        raise ValueError("mu contains NaN or inf")
    if not np.all(np.isfinite(sigma)):
        raise ValueError("sigma contains NaN or inf")
    if np.any(sigma < 0.0):
        raise ValueError(f"sigma must be >= 0, got min(sigma) = {float(np.min(sigma)):.6g}")
    return mu, sigma


def _relu_1d(mu, sigma, which: int):
    mu, sigma = _check_mu_sigma(mu, sigma)
    out = np.empty(mu.size, dtype=np.float64)
    _relu_1d_flat(mu.ravel(), sigma.ravel(), out, which)
    out = out.reshape(mu.shape)
    return float(out[()]) if out.ndim == 0 else out


def relu_mean_1d(mu, sigma):
    """Mean of max(X, 0) for X ~ N(mu, sigma^2).

    E[X^+] = mu Phi(mu/sigma) + sigma phi(mu/sigma).

    Parameters
    ----------
    mu : array_like
        Mean(s) of X, in the units of X.
    sigma : array_like
        Standard deviation(s) of X (>= 0, same units), broadcast against ``mu``.
        sigma = 0 gives max(mu, 0) exactly.

    Returns
    -------
    float or ndarray
        E[X^+] in the units of X, float64, broadcast shape (a float for scalar
        input). Relative accuracy ~1e-15 for all mu/sigma, including the far
        negative tail where it is ~sigma phi(mu/sigma) (sigma/mu)^2.

    Raises
    ------
    ValueError
        NaN/inf input or negative sigma.

    Examples
    --------
    >>> import math
    >>> from mcbench.theory import relu_mean_1d
    >>> math.isclose(relu_mean_1d(0.0, 1.0), 1 / math.sqrt(2 * math.pi))
    True
    >>> relu_mean_1d([-1.0, 2.0], 0.0)   # sigma = 0: max(mu, 0)
    array([0., 2.])
    """
    return _relu_1d(mu, sigma, 0)


def relu_second_moment_1d(mu, sigma):
    """Second moment E[max(X, 0)^2] for X ~ N(mu, sigma^2).

    E[(X^+)^2] = (mu^2 + sigma^2) Phi(mu/sigma) + mu sigma phi(mu/sigma).

    Parameters
    ----------
    mu, sigma : array_like
        As in :func:`relu_mean_1d`.

    Returns
    -------
    float or ndarray
        E[(X^+)^2] in squared units of X, float64, broadcast shape.
        sigma = 0 gives max(mu, 0)^2.

    Examples
    --------
    >>> from mcbench.theory import relu_second_moment_1d
    >>> relu_second_moment_1d(0.0, 2.0)   # sigma^2 / 2 at mu = 0
    2.0
    >>> relu_second_moment_1d([-1.0, 3.0], 0.0)
    array([0., 9.])
    """
    return _relu_1d(mu, sigma, 1)


def truncated_normal_mean(mu, sigma):
    """E[X | X > 0] = E[X^+] / P(X > 0) for X ~ N(mu, sigma^2), sigma > 0 (the left-truncated normal's mean).

    Parameters
    ----------
    mu, sigma : array_like
        As in :func:`relu_mean_1d` (sigma > 0).

    Returns
    -------
    ndarray or float, units of X

    Examples
    --------
    >>> from mcbench.theory import truncated_normal_mean
    >>> round(float(truncated_normal_mean(0.0, 1.0)), 6)  # sqrt(2 / pi)
    0.797885
    """
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    return relu_mean_1d(mu, sigma) / norm_cdf(mu / sigma)


def relu_var_1d(mu, sigma):
    """Variance of max(X, 0) for X ~ N(mu, sigma^2).

    Computed without forming E[(X^+)^2] - E[X^+]^2 where that cancels: for
    mu > 0 as sigma^2 (1 - 2 Phi(-a) + v(-a)), v(a) = Var((U + a)^+), and for
    mu <= 0 from continued-fraction forms of the two moments.

    Parameters
    ----------
    mu, sigma : array_like
        As in :func:`relu_mean_1d`.

    Returns
    -------
    float or ndarray
        Var(X^+) in squared units of X, float64, broadcast shape. sigma = 0
        gives 0. Relative accuracy ~1e-15 for all mu/sigma (until the result
        becomes subnormal, mu/sigma < -37).

    Examples
    --------
    >>> import math
    >>> from mcbench.theory import relu_var_1d
    >>> math.isclose(relu_var_1d(0.0, 1.0), 1 / 2 - 1 / (2 * math.pi))
    True
    >>> relu_var_1d(5.0, 0.0)
    0.0
    """
    return _relu_1d(mu, sigma, 2)


def relu_moments(mean, cov):
    r"""Exact mean vector and covariance matrix of ReLU(X), X ~ N(mean, cov).

    Derivation of the off-diagonal terms. With X_i = mu_i + sigma_i U,
    X_j = mu_j + sigma_j V, corr(U, V) = r, a = mu_i/sigma_i, b = mu_j/sigma_j
    and A = {U > -a, V > -b} (P(A) = Phi2(a, b; r)), Stein's lemma
    E[U g(U, V)] = E[d_U g] + r E[d_V g] applied to indicator functions gives

        E[U; A]  = phi(a) Phi(beta) + r phi(b) Phi(alpha),
        E[UV; A] = r P(A) - r a phi(a) Phi(beta) - r b phi(b) Phi(alpha)
                   + s phi(a) phi(beta),

    alpha = (a - r b)/s, beta = (b - r a)/s, s = sqrt(1 - r^2), and summing
    E[(U + a)(V + b); A]:

        E[X_i^+ X_j^+] = sigma_i sigma_j [ (a b + r) Phi2(a, b; r)
                         + a phi(b) Phi(alpha) + b phi(a) Phi(beta)
                         + s phi(a) phi(beta) ].

    Cov = E[X_i^+ X_j^+] - E[X_i^+] E[X_j^+]; see the module docstring for the
    r = +-1 limits and for how it is evaluated stably.

    Parameters
    ----------
    mean : array_like, shape (d,)
        Mean of X (a scalar is accepted for d = 1).
    cov : array_like, shape (d, d)
        Covariance of X: symmetric positive semi-definite; singular matrices
        and zero variances are allowed (a zero-variance coordinate is the
        constant max(mean_i, 0) and has zero covariance with everything).

    Returns
    -------
    mean_relu : ndarray, shape (d,), float64
        E[max(X, 0)], units of X.
    cov_relu : ndarray, shape (d, d), float64
        Cov(max(X, 0)), squared units of X, exactly symmetric; the diagonal is
        :func:`relu_var_1d` of each coordinate.

    Raises
    ------
    ValueError
        From :func:`mcbench._core.checks.check_mean_cov`: bad shapes, NaN/inf,
        asymmetric or non-PSD ``cov``.

    Notes
    -----
    Every entry is accurate *relative to itself*, also where it is tiny: the
    tests require 1e-10 against adaptive quadrature, and the measured error is
    ~1e-13 or better for |mean_i|/sigma_i <= 30, all correlations including
    +-1 and +-(1 - 1e-9), and near-zero correlations (mpmath spot checks in the
    far tails agree to ~3e-12). Limitations: entries below ~1e-290 lose
    relative precision to subnormal arithmetic or underflow to 0 (e.g. both
    coordinates beyond -37 sigma, or deep in the negative tail with negative
    correlation), and the relative precision of any entry is bounded by its
    conditioning on the inputs (~(mean/sigma)^2 eps from rounding of mean/sigma).

    Cost: ~1-3 us per pair from the series or closed form; pairs with
    max(|mean_i|/sigma_i, |mean_j|/sigma_j) > 2 and a non-small correlation
    use an adaptive quadrature, ~15-150 us per pair.

    Examples
    --------
    >>> import math
    >>> from mcbench.theory import relu_moments
    >>> mean, cov = relu_moments([0.0], [[1.0]])
    >>> math.isclose(mean[0], 1 / math.sqrt(2 * math.pi)), math.isclose(cov[0, 0], 1 / 2 - 1 / (2 * math.pi))
    (True, True)

    Two coordinates, nonzero mean and correlation:

    >>> mean, cov = relu_moments([0.5, -0.5], [[1.0, 0.5], [0.5, 2.0]])
    >>> mean.shape, cov.shape, bool((cov == cov.T).all())
    ((2,), (2, 2), True)
    """
    mean, cov = check_mean_cov(mean, cov)
    d = mean.shape[0]
    out_mean = np.empty(d, dtype=np.float64)
    out_cov = np.empty((d, d), dtype=np.float64)
    _relu_moments_kernel(mean, cov, out_mean, out_cov)
    return out_mean, out_cov


def relu_cov_zero_mean(cov):
    r"""Covariance of ReLU(X) for X ~ N(0, cov): the arc-cosine kernel.

    With s_i = sqrt(cov_ii), rho = cov_ij/(s_i s_j), theta = arccos(rho)
    (Cho & Saul 2009, degree-1 arc-cosine kernel):

        E[X_i^+ X_j^+] = s_i s_j / (2 pi) (sin(theta) + (pi - theta) cos(theta))
                       = (cov_ij (pi/2 + arcsin(rho)) + sqrt(cov_ii cov_jj - cov_ij^2)) / (2 pi),
        E[X_i^+] E[X_j^+] = s_i s_j / (2 pi),

    so Cov = s_i s_j / (2 pi) (sin(theta) + (pi - theta) cos(theta) - 1). It is
    evaluated as s_i s_j / (2 pi) [rho arccos(-rho) - rho^2 / (1 + sqrt(1 - rho^2))]
    (using pi - theta = arccos(-rho) and sin(theta) - 1 = -rho^2/(1 + sin(theta))),
    which does not cancel as rho -> 0 or rho -> -1.

    Parameters
    ----------
    cov : array_like, shape (d, d)
        Covariance of X (symmetric PSD, may be singular).

    Returns
    -------
    ndarray, shape (d, d), float64
        Cov(max(X, 0)), squared units of X. The diagonal is
        cov_ii (1/2 - 1/(2 pi)).

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> from mcbench.theory import relu_cov_zero_mean
    >>> cov = relu_cov_zero_mean([[1.0, 0.0], [0.0, 4.0]])   # independent: no covariance
    >>> bool(np.allclose(cov, np.diag([1.0, 4.0]) * (1 / 2 - 1 / (2 * math.pi))))
    True
    >>> cov = relu_cov_zero_mean(np.ones((2, 2)))   # rho = 1: the same variable twice
    >>> bool(np.allclose(cov, 1 / 2 - 1 / (2 * math.pi)))
    True
    """
    cov = np.asarray(cov, dtype=np.float64)
    d = cov.shape[0] if cov.ndim == 2 else 1
    _, cov = check_mean_cov(np.zeros(d), cov)
    sd = np.sqrt(np.diag(cov))
    outer = np.outer(sd, sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(outer > 0.0, cov / np.where(outer > 0.0, outer, 1.0), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    np.fill_diagonal(rho, np.where(sd > 0.0, 1.0, 0.0))
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    bracket = rho * np.arccos(-rho) - rho * rho / (1.0 + s)
    return outer * bracket / (2.0 * math.pi)
