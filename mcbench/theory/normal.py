"""Univariate and bivariate standard normal distribution functions (Numba).

The bivariate CDF follows the method of Drezner & Wesolowsky (1990) as refined
by Genz (2004), "Numerical computation of rectangular bivariate and trivariate
normal and t probabilities", Statistics and Computing 14, 251-260:

* for |rho| < 0.925, Gauss-Legendre quadrature of the arcsine form of
  Plackett's identity,

      L(h, k; rho) = Phi(-h) Phi(-k)
                     + 1/(2 pi) int_0^{asin rho} exp(-(h^2 - 2 h k sin t + k^2) / (2 cos^2 t)) dt,

  where L(h, k; rho) = P(X > h, Y > k) is the upper-orthant probability;
* for |rho| >= 0.925, the same identity integrated down from rho = 1,

      L(h, k; rho) = Phi(-max(h, k))
                     - 1/(2 pi) int_0^{sqrt(1 - rho^2)} exp(-(h - k)^2 / (2 x^2))
                                    g(x) dx,
      g(x) = exp(-h k / (1 + sqrt(1 - x^2))) / sqrt(1 - x^2),

  where g is replaced by its second-order Taylor polynomial in x^2 to get an
  analytic main part (a Gaussian-tail integral, reduced by integration by parts
  to Phi(-|h - k| / sqrt(1 - rho^2))) and only the smooth remainder is
  integrated numerically. rho < 0 is mapped onto rho > 0 with
  L(h, k; rho) = Phi(-h) - L(h, -k; -rho).

The code below was written from these formulas. It is accurate to about 1e-15
in absolute terms over the whole (h, k, rho) domain. It does *not* promise
relative accuracy for probabilities far below 1e-15; callers that need
relative accuracy in the tails (the ReLU moment code) avoid relying on it
there.
"""

from __future__ import annotations

import math

import numpy as np

from mcbench._core.jit import jit

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi

#: |rho| below which the arcsine form is used (Genz 2004).
_RHO_SWITCH = 0.925

#: Arguments are clipped to +-_ARG_CLIP. Phi(-38.5) already underflows to 0 in
#: double precision, so the clip changes no result, but it bounds h*k and keeps
#: every exponential below overflow.
_ARG_CLIP = 40.0


def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [-1, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


# Module-level arrays are frozen into the compiled kernels as constants.
GL6_X, GL6_W = _gauss_legendre(6)
GL12_X, GL12_W = _gauss_legendre(12)
GL20_X, GL20_W = _gauss_legendre(20)


@jit
def norm_pdf_scalar(x: float) -> float:
    """Standard normal density phi(x), to ~1 ulp also in the tails.

    exp(-x*x/2) alone inherits the rounding of x*x, a relative error up to
    x^2/2 * eps (5e-14 at x = 30); x^2 is therefore split exactly into
    hi + lo (Veltkamp/Dekker) and exp(-lo/2) applied as a correction.
    """
    if not abs(x) < 1e150:  # also NaN and inf; the split would overflow
        return _INV_SQRT_2PI * math.exp(-0.5 * x * x)
    c = 134217729.0 * x  # 2^27 + 1
    xh = c - (c - x)
    xl = x - xh
    sq = x * x
    sq_err = ((xh * xh - sq) + 2.0 * xh * xl) + xl * xl  # x^2 - sq, exactly
    return _INV_SQRT_2PI * math.exp(-0.5 * sq) * (1.0 - 0.5 * sq_err)


@jit
def mills_cf(t: float) -> tuple:
    """First three tails C0, C1, C2 of Laplace's continued fraction at t > 0.

    C_k = t + (k + 1) / C_{k+1}, and Phi(-t) / phi(t) = 1 / C0. Then
    Psi1(-t) = phi(t) / (C0 C1) and Psi2(-t) = 2 phi(t) / (C0 C1 C2) exactly,
    which avoids the cancellation in a Phi(a) + phi(a) for a << 0.

    Evaluated backwards from depth n, starting from the fixed point of
    C = t + (n + 1) / C (the large-k behaviour of the tails), which saves about
    a third of the terms over starting from t. n = 10 + 300 / t^1.7 reaches
    2e-17 relative for every t >= 1.5 (checked against mpmath).
    """
    n = 10 + int(300.0 / t**1.7)
    c = 0.5 * (t + math.sqrt(t * t + 4.0 * (n + 1)))
    c1 = c
    c2 = c
    for k in range(n - 1, -1, -1):
        c = t + (k + 1) / c
        if k == 2:
            c2 = c
        elif k == 1:
            c1 = c
    return c, c1, c2


#: Below -_CDF_CF_SWITCH, Phi is phi / C0 from the continued fraction (at most
#: ~27 terms there): erfc(-x/sqrt 2) inherits the rounding of x/sqrt 2, a
#: relative error ~x^2 eps (1e-13 at x = -30).
_CDF_CF_SWITCH = 5.0


@jit
def norm_cdf_scalar(x: float) -> float:
    """Standard normal CDF Phi(x), relatively accurate in the lower tail."""
    if x < -_CDF_CF_SWITCH:
        c0, _, _ = mills_cf(-x)
        return norm_pdf_scalar(x) / c0
    return 0.5 * math.erfc(-x * _INV_SQRT2)


@jit
def _upper_arcsine(h: float, k: float, r: float) -> float:
    """L(h, k; r) = P(X > h, Y > k) for |r| < 0.925 (arcsine quadrature)."""
    ar = abs(r)
    # Fewer nodes suffice for small |r| because the integration range is short.
    if ar < 0.3:
        xs, ws = GL6_X, GL6_W
    elif ar < 0.75:
        xs, ws = GL12_X, GL12_W
    else:
        xs, ws = GL20_X, GL20_W
    hk = h * k
    hs = 0.5 * (h * h + k * k)
    asr = math.asin(r)
    acc = 0.0
    for i in range(xs.shape[0]):
        sn = math.sin(0.5 * asr * (xs[i] + 1.0))
        acc += ws[i] * math.exp((sn * hk - hs) / (1.0 - sn * sn))
    # 0.5 * asr maps [-1, 1] onto [0, asr]; 1/(2 pi) is the density constant.
    return norm_cdf_scalar(-h) * norm_cdf_scalar(-k) + acc * 0.5 * asr / _TWO_PI


@jit
def _upper_asymptotic(h: float, k: float, r: float) -> float:
    """L(h, k; r) = P(X > h, Y > k) for 0.925 <= |r| < 1."""
    if r < 0.0:
        k = -k
    hk = h * k
    a2 = (1.0 - abs(r)) * (1.0 + abs(r))
    a = math.sqrt(a2)
    bs = (h - k) * (h - k)
    b = math.sqrt(bs)
    # Taylor coefficients of exp(hk/2) g(x) = 1 + c x^2 + c d x^4 + O(x^6).
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 16.0

    # Analytic part exp(-hk/2) (J0 + c J2 + c d J4), J_n = int_0^a x^n exp(-b^2/(2x^2)) dx,
    # from n J_{n-1} = a^n E(a) - b^2 J_{n-3} and J_{-2} = sqrt(2 pi) Phi(-b/a) / b.
    # exp(-hk/2) is folded into both exponentials so neither overflows:
    # b^2/a^2 >= 6.9 b^2 >= -27 hk whenever a^2 <= 1 - 0.925^2.
    ea = math.exp(-0.5 * (bs / a2 + hk))
    if -0.5 * hk < 700.0:
        kb = math.exp(-0.5 * hk) * _SQRT_2PI * norm_cdf_scalar(-b / a) * b
    else:
        # Then b^2 >= -4 hk > 5600 and the term is below exp(-3 b^2): nil.
        kb = 0.0
    j0 = a * ea - kb
    j2 = (a2 * a * ea - bs * j0) / 3.0
    j4 = (a2 * a2 * a * ea - bs * j2) / 5.0
    integral = j0 + c * j2 + c * d * j4

    # Numerical remainder int_0^a exp(-b^2/(2x^2)) [g(x) - exp(-hk/2)(1 + c x^2 + c d x^4)] dx.
    for i in range(GL20_X.shape[0]):
        x = 0.5 * a * (GL20_X[i] + 1.0)
        wgt = 0.5 * a * GL20_W[i]
        xs = x * x
        ex = math.exp(-0.5 * (bs / xs + hk))
        if ex == 0.0:
            continue
        rs = math.sqrt(1.0 - xs)
        one_minus_rs = xs / (1.0 + rs)  # 1 - rs without cancellation
        g = math.exp(-0.5 * hk * one_minus_rs / (1.0 + rs)) / rs
        integral += wgt * ex * (g - (1.0 + c * xs * (1.0 + d * xs)))

    if r > 0.0:
        return norm_cdf_scalar(-max(h, k)) - integral / _TWO_PI
    # r < 0: L(h, k; r) = Phi(-h) - L(h, -k; -r), and k already holds -k.
    out = integral / _TWO_PI
    if k > h:
        out += norm_cdf_scalar(k) - norm_cdf_scalar(h)
    return out


@jit
def bvn_cdf_scalar(h: float, k: float, r: float) -> float:
    """Phi2(h, k; r) = P(X < h, Y < k), X, Y standard normal with correlation r.

    Handles r = +-1 exactly, infinite h or k, and returns NaN for NaN input or
    |r| > 1.
    """
    if math.isnan(h) or math.isnan(k) or math.isnan(r) or abs(r) > 1.0:
        return math.nan
    if h == -math.inf or k == -math.inf:
        return 0.0
    if h == math.inf:
        return norm_cdf_scalar(k)
    if k == math.inf:
        return norm_cdf_scalar(h)
    if r == 1.0:
        return norm_cdf_scalar(min(h, k))
    if r == -1.0:
        # P(-k < X < h).
        return max(0.0, norm_cdf_scalar(h) - norm_cdf_scalar(-k))
    h = min(max(h, -_ARG_CLIP), _ARG_CLIP)
    k = min(max(k, -_ARG_CLIP), _ARG_CLIP)
    # P(X < h, Y < k) = P(-X > -h, -Y > -k) and (-X, -Y) has the same law.
    if abs(r) < _RHO_SWITCH:
        p = _upper_arcsine(-h, -k, r)
    else:
        p = _upper_asymptotic(-h, -k, r)
    return min(max(p, 0.0), 1.0)


@jit
def _bvn_cdf_flat(h, k, r, out):
    for i in range(out.shape[0]):
        out[i] = bvn_cdf_scalar(h[i], k[i], r[i])


@jit
def _norm_flat(x, out, pdf):
    for i in range(out.shape[0]):
        out[i] = norm_pdf_scalar(x[i]) if pdf else norm_cdf_scalar(x[i])


def _as_result(out: np.ndarray, shape: tuple):
    out = out.reshape(shape)
    return float(out[()]) if shape == () else out


def bvn_cdf(h, k, rho):
    """Bivariate standard normal CDF, Phi2(h, k; rho) = P(X < h, Y < k).

    Parameters
    ----------
    h, k : array_like
        Upper integration limits (standardised units); may be +-inf.
        Broadcast against each other and against ``rho``.
    rho : array_like
        Correlation of (X, Y), in [-1, 1]; +-1 are handled exactly
        (rho = 1: Phi(min(h, k)); rho = -1: max(0, Phi(h) - Phi(-k))).

    Returns
    -------
    float or ndarray
        Probabilities, float64, with the broadcast shape of the inputs (a
        Python float for scalar inputs). NaN inputs give NaN. Absolute error
        is about 1e-15; relative accuracy of probabilities << 1e-15 is not
        guaranteed.

    Raises
    ------
    ValueError
        If any |rho| > 1.

    Examples
    --------
    >>> from mcbench.theory import bvn_cdf
    >>> bvn_cdf(0, 0, 0) == 0.25
    True
    >>> round(bvn_cdf(0.0, 0.0, 0.5), 12)   # 1/4 + arcsin(rho) / (2 pi) = 1/3
    0.333333333333
    >>> bvn_cdf([0.0, 1.0], 2.0, 1.0).round(6)   # rho = 1: Phi(min(h, k))
    array([0.5     , 0.841345])
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=np.float64),
        np.asarray(k, dtype=np.float64),
        np.asarray(rho, dtype=np.float64),
    )
    if np.any(np.abs(rho) > 1.0):
        raise ValueError("rho must lie in [-1, 1]")
    shape = h.shape
    out = np.empty(h.size, dtype=np.float64)
    _bvn_cdf_flat(h.ravel(), k.ravel(), rho.ravel(), out)
    return _as_result(out, shape)


def norm_cdf(x):
    """Standard normal CDF Phi(x), elementwise.

    Parameters
    ----------
    x : array_like
        Arguments (standardised units).

    Returns
    -------
    float or ndarray
        Phi(x), float64, same shape as ``x``; relative accuracy is kept in the
        lower tail (computed from erfc).

    Examples
    --------
    >>> from mcbench.theory import norm_cdf
    >>> norm_cdf(0.0)
    0.5
    >>> norm_cdf([-1.0, 1.0]).round(6)
    array([0.158655, 0.841345])
    >>> f"{norm_cdf(-30.0):.4e}"   # lower tail kept (erfc); 1 - Phi(30) would round to 0
    '4.9067e-198'
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.size, dtype=np.float64)
    _norm_flat(x.ravel(), out, False)
    return _as_result(out, x.shape)


def norm_pdf(x):
    """Standard normal density phi(x) = exp(-x^2/2) / sqrt(2 pi), elementwise.

    Parameters
    ----------
    x : array_like
        Arguments (standardised units).

    Returns
    -------
    float or ndarray
        phi(x), float64, same shape as ``x``.

    Examples
    --------
    >>> import math
    >>> from mcbench.theory import norm_pdf
    >>> math.isclose(norm_pdf(0.0), 1 / math.sqrt(2 * math.pi))
    True
    >>> norm_pdf([-1.0, 1.0]).round(6)
    array([0.241971, 0.241971])
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.size, dtype=np.float64)
    _norm_flat(x.ravel(), out, True)
    return _as_result(out, x.shape)
