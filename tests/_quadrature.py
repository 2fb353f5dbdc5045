"""Independent reference values by adaptive quadrature (scipy), for tests only.

Nothing here uses mcbench: every quantity is an integral of the normal density
(math.exp) times normal CDFs (scipy.special.ndtr), evaluated with QUADPACK to
a tolerance relative to the value itself (1.2e-14 for single integrals, 1e-12
for the outer level of nested ones), so that values ~1e-200 in the tails are
referenced as precisely as values ~1. Integrands are scaled so that their peak
is O(1) where the value itself is tiny, and breakpoints are placed at the
features' known locations and widths: QUADPACK otherwise happily returns 0 for
a narrow bump that its first 21 nodes miss.

Cov(X_i^+, X_j^+) is referenced through Price's theorem,
d Cov / d rho = sigma_i sigma_j Phi2(a, b; rho), i.e.

    Cov = sigma_i sigma_j int_0^rho Phi2(a, b; r) dr,

a nested quadrature with a sign-definite integrand, so the reference does not
inherit the cancellation of E[X_i^+ X_j^+] - E[X_i^+] E[X_j^+]. The cross
moment E[X_i^+ X_j^+] itself is referenced by direct 2-d integration over the
positive quadrant (nested 1-d quads, conditioning on X_i). Spot checks against
mpmath at 40-50 digits agree to ~1e-15 (single) and ~1e-12 (nested).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, special

#: Smallest relative tolerance QUADPACK accepts with epsabs = 0 is 50 eps.
EPSREL = 1.2e-14
#: Outer integrals of nested quadratures: the inner ones carry ~1e-14 noise,
#: and asking the outer one for the same tolerance only makes it subdivide to
#: its limit chasing that noise. References are thus ~1e-12 accurate.
EPSREL_OUTER = 1e-12
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_OFFSETS = (-30.0, -6.0, -1.5, 0.0, 1.5, 6.0, 30.0)


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT_2PI


def _breakpoints(lo: float, hi: float, features) -> list[float]:
    """Points c + w * offset for each (centre c, width w), inside (lo, hi)."""
    pts = set()
    for c, w in features:
        for off in _OFFSETS:
            x = c + w * off
            if lo < x < hi and math.isfinite(x):
                pts.add(x)
    return sorted(pts)


def quad(f, lo: float, hi: float, features=(), epsrel: float = EPSREL) -> float:
    """int_lo^hi f with QUADPACK, split at the breakpoints of ``features``.

    The tolerance is relative to the whole integral: a rough first pass
    estimates it, and each piece then gets an absolute tolerance of
    epsrel * |estimate| / (number of pieces). Per-piece relative tolerances
    would make QUADPACK chase rounding noise in pieces that contribute
    nothing (it then subdivides to its limit).
    """
    edges = [lo, *_breakpoints(lo, hi, features), hi]
    pieces = [(x0, x1) for x0, x1 in zip(edges[:-1], edges[1:]) if x1 > x0]
    with warnings.catch_warnings():
        # Near 1e-14 QUADPACK often reports "roundoff detected" after it has
        # converged to working precision; the tests compare the values.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        rough = sum(abs(integrate.quad(f, x0, x1, epsabs=0.0, epsrel=1e-6, limit=50)[0]) for x0, x1 in pieces)
        if rough == 0.0:
            return 0.0
        epsabs = epsrel * rough / len(pieces)
        return sum(integrate.quad(f, x0, x1, epsabs=epsabs, epsrel=epsrel, limit=400)[0] for x0, x1 in pieces)


# ------------------------------------------------------------------ normal CDFs


def phi2(h: float, k: float, rho: float) -> float:
    """P(X < h, Y < k) for standard normals with correlation rho.

    int_{-inf}^h phi(x) Phi((k - rho x)/sqrt(1 - rho^2)) dx; rho = +-1 exactly
    are the degenerate line measures.
    """
    if h == -math.inf or k == -math.inf:
        return 0.0
    if h == math.inf:
        return float(special.ndtr(k))
    if k == math.inf:
        return float(special.ndtr(h))
    if rho == 1.0:
        return float(special.ndtr(min(h, k)))
    if rho == -1.0:
        return max(0.0, float(special.ndtr(h) - special.ndtr(-k)))
    s = math.sqrt((1.0 - rho) * (1.0 + rho))
    lo = min(h, 0.0) - 40.0
    features = [(h, 1.0 / max(1.0, abs(h))), (0.0, 1.0)]
    if rho != 0.0:
        features.append((k / rho, s / abs(rho)))
    # k - rho x regrouped with the exact 1 -+ rho: near rho = +-1 the naive form
    # cancels (k ~ rho x) and its rounding, amplified by 1/s, becomes noise.
    if rho > 0:
        arg = lambda x: ((k - x) + (1.0 - rho) * x) / s
    else:
        arg = lambda x: ((k + x) - (1.0 + rho) * x) / s
    return quad(lambda x: _phi(x) * special.ndtr(arg(x)), lo, h, features)


# ----------------------------------------------------------- univariate moments


def _neg_tail(a: float, power: int, centre: float = 0.0) -> float:
    """int_0^inf (t - centre)^power phi(t - a) dt for a <= 0.

    phi(t - a) = phi(a) exp(a t - t^2/2): phi(a) is factored out so the
    integrand peaks at O(1) even when the value is ~1e-200.
    """
    g = lambda t: (t - centre) ** power * math.exp(a * t - 0.5 * t * t)
    w = 1.0 / abs(a) if a < -1.0 else 1.0
    return _phi(a) * quad(g, 0.0, 60.0 * w + 40.0, [(0.0, w), (centre, w)])


def _pos_tail(a: float, power: int, centre: float) -> float:
    """int_{-a}^inf (u - centre)^power phi(u) du for a > 0, in the variable u
    (t = u + a would lose u to rounding once a is large, e.g. a = 3e7)."""
    g = lambda u: (u - centre) ** power * _phi(u)
    return quad(g, -a, 40.0, [(0.0, 1.0), (-a, 1.0)])


def relu_mean_std(a: float) -> float:
    """E[(U + a)^+] = int_0^inf t phi(t - a) dt; for a > 0 via x^+ = x + (-x)^+."""
    if a <= 0.0:
        return _neg_tail(a, 1)
    return a + _neg_tail(-a, 1)


def relu_second_moment_std(a: float) -> float:
    """E[((U + a)^+)^2]."""
    if a <= 0.0:
        return _neg_tail(a, 2)
    return _pos_tail(a, 2, -a)


def relu_var_std(a: float) -> float:
    """Var((U + a)^+) = m^2 Phi(-a) + int_{u > -a} (u + a - m)^2 phi(u) du, m = mean.

    A sum of positive terms, so it does not cancel for large |a|; for a > 0,
    u + a - m = u - (m - a) with m - a = E[(-U - a)^+] computed on its own.
    """
    m = relu_mean_std(a)
    if a <= 0.0:
        return m * m * float(special.ndtr(-a)) + _neg_tail(a, 2, centre=m)
    return m * m * float(special.ndtr(-a)) + _pos_tail(a, 2, _neg_tail(-a, 1))


def relu_1d(mu: float, sigma: float) -> tuple[float, float, float]:
    """(E[X^+], E[(X^+)^2], Var(X^+)) for X ~ N(mu, sigma^2)."""
    if sigma == 0.0:
        m = max(mu, 0.0)
        return m, m * m, 0.0
    a = mu / sigma
    return (
        sigma * relu_mean_std(a),
        sigma * sigma * relu_second_moment_std(a),
        sigma * sigma * relu_var_std(a),
    )


# ------------------------------------------------------------ bivariate moments


def _cond_relu_mean(c: float, s: float) -> float:
    """int_0^inf t phi((t - c)/s)/s dt = E[(c + s Z)^+], by quadrature."""
    if c < 0.0:
        # Scale out exp(-c^2/(2 s^2)); the rest peaks at t ~ s^2/|c|.
        w = s * s / abs(c) if abs(c) > s else s
        g = lambda t: t * math.exp((c * t - 0.5 * t * t) / (s * s))
        return math.exp(-0.5 * (c / s) ** 2) / (s * _SQRT_2PI) * quad(g, 0.0, 60.0 * w + 40.0 * s, [(0.0, w)])
    g = lambda t: t * _phi((t - c) / s) / s
    return quad(g, 0.0, c + 40.0 * s, [(c, s), (0.0, s)])


def relu_cross_std(a: float, b: float, rho: float) -> float:
    """E[(U + a)^+ (V + b)^+] by 2-d quadrature over the positive quadrant.

    Outer variable t = u + a > 0; inner: int_0^inf t2 phi((t2 - c)/s)/s dt2
    with c = b + rho (t - a), s = sqrt(1 - rho^2) (the conditional law of
    V + b given U), itself computed by quadrature. rho = +-1 reduce to 1-d
    integrals along the line V = +-U.
    """
    if rho == 1.0 or rho == -1.0:
        sgn = rho
        g = lambda u: max(u + a, 0.0) * max(sgn * u + b, 0.0) * _phi(u)
        span = 40.0 + max(abs(a), abs(b))
        return quad(g, -span, span, [(-a, 1.0), (-sgn * b, 1.0), (0.0, 1.0)])
    s = math.sqrt((1.0 - rho) * (1.0 + rho))

    def outer(t):
        return t * _phi(t - a) * _cond_relu_mean(b + rho * (t - a), s)

    w = 1.0 / abs(a) if a < -1.0 else 1.0
    features = [(0.0, w), (a, 1.0)]
    if rho != 0.0:
        # where the inner mean switches from ~0 to ~linear: c = 0
        features.append((a - b / rho, s / abs(rho)))
    return quad(outer, 0.0, max(a, 0.0) + 40.0, features, EPSREL_OUTER)


def relu_cov_std(a: float, b: float, rho: float) -> float:
    """Cov((U + a)^+, (V + b)^+) = int_0^rho Phi2(a, b; r) dr (Price's theorem).

    Integrated in u with r = sgn(rho) (1 - u^2), which turns the square-root
    edge of Phi2 at r = +-1 into a smooth function of u.
    """
    if rho == 0.0:
        return 0.0
    sgn = 1.0 if rho > 0 else -1.0
    u0 = math.sqrt(1.0 - abs(rho))
    # Near r = rho, Phi2 varies on the scale (1 - r^2)/|ab| in r (tails);
    # near r = 0 on the scale 1/|ab|. Convert both to u (dr = 2u du).
    ab = max(1.0, abs(a * b))
    w = (1.0 - rho * rho) / ab + 1e-300
    features = [(u0, w / (2.0 * u0 + math.sqrt(w))), (1.0, 0.5 / ab)]
    g = lambda u: phi2(a, b, sgn * (1.0 - u * u)) * 2.0 * u
    return sgn * quad(g, u0, 1.0, features, EPSREL_OUTER)


def relu_moments(mean, cov) -> tuple[np.ndarray, np.ndarray]:
    """Reference (mean, cov) of ReLU(X), X ~ N(mean, cov), entry by entry."""
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    d = mean.shape[0]
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    m = np.empty(d)
    c = np.empty((d, d))
    for i in range(d):
        mi, _, vi = relu_1d(mean[i], sd[i])
        m[i] = mi
        c[i, i] = vi
    for i in range(d):
        for j in range(i + 1, d):
            if sd[i] == 0.0 or sd[j] == 0.0:
                v = 0.0
            else:
                r = float(np.clip(cov[i, j] / (sd[i] * sd[j]), -1.0, 1.0))
                v = sd[i] * sd[j] * relu_cov_std(mean[i] / sd[i], mean[j] / sd[j], r)
            c[i, j] = c[j, i] = v
    return m, c
