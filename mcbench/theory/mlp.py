r"""Mean-field (and, where it exists, exact finite-width) theory of signal propagation in MLPs.

Conventions are those of :mod:`mcbench.spec`: z^l = W^l h^{l-1} + b^l,
h^l = phi(z^l), h^0 = x ~ N(0, input_var I), W^l of shape (n_l, n_{l-1}),
s_l = Var(W^l_ij); the bias law gives each b^l_i a mean beta (``("constant",
beta)``) and a variance sigma_b^2 (``("normal", sigma_b^2)``), one draw per
network shared by all inputs. The loss is J = sum_i v_i z^L_i with
v ~ N(0, I), so delta^L = dJ/dz^L = v.

Forward (q-map). Averaging over W first, z^l_i given h^{l-1} has mean beta and
variance s_l ||h^{l-1}||^2 + sigma_b^2; mean-field replaces ||h^{l-1}||^2 by its
expectation n_{l-1} E[phi(z^{l-1})^2] and z^{l-1} by N(beta, q^{l-1}):

    q^1 = s_1 n_0 input_var + sigma_b^2,
    q^l = s_l n_{l-1} E[phi(z^{l-1})^2] + sigma_b^2.

Backward. delta^l = phi'(z^l) * (W^{l+1})^T delta^{l+1}; treating W^{l+1} in
the backward pass as independent of z^l (the gradient-independence
assumption),

    qtilde^L = 1,   qtilde^l = chi^l qtilde^{l+1},
    chi^l = s_{l+1} n_{l+1} E[phi'(z^l)^2]

(seed 002 eq. 8, with its sum over j running over the n_{l+1} units of layer
l + 1). The per-sample weight gradient dJ/dW^l_ij = delta^l_i h^{l-1}_j has
E[(dJ/dW^l_ij)^2] = qtilde^l E[(h^{l-1})^2] under the same factorisation
(seed 002 Theorem 1.1), E[(h^0)^2] = input_var.

Correlations (c-map). For two inputs with correlation c0 (same variance),
q_ab^1 = s_1 n_0 input_var c0 + sigma_b^2,
q_ab^l = s_l n_{l-1} E[phi(u) phi(v)] + sigma_b^2 with
(u, v) ~ N((beta, beta), [[q, q_ab], [q_ab, q]]) at layer l - 1, and
c^l = q_ab^l / q^l.

Only Var(W) enters these maps, so uniform and normal weights of the same
variance have the same mean-field predictions; the exact finite-width law
below needs Gaussian weights.

Norm ratio. R^l = ||h^l||^2 / ||h^0||^2. Mean-field: E[R^l] = n_l
E[phi(z^l)^2] / (n_0 input_var) and E[(R^l)^2] = E[R^l]^2 (no fluctuations).
Exact at finite width for Gaussian weights, zero bias and phi = relu or
phi = a x (Hanin & Rolnick 2018): given h^{l-1}, z^l has i.i.d.
N(0, s_l ||h^{l-1}||^2) entries, so the per-layer ratio is

    relu:  ||h^l||^2 / ||h^{l-1}||^2 = s_l chi^2_K,  K ~ Binomial(n_l, 1/2),
           E = s_l n_l / 2,  E[.^2] = s_l^2 (n_l^2 + 5 n_l) / 4;
    a x:   a^2 s_l chi^2_{n_l},  E = a^2 s_l n_l,  E[.^2] = a^4 s_l^2 (n_l^2 + 2 n_l),

independent of h^{l-1} and hence across layers (a factor 0, K = 0, makes all
later products 0 whatever the later factors are), so the moments of R^l are
products. The mean agrees with mean-field; the second moment exceeds its
square by prod (1 + 5/n_k) (relu), ~ exp(5 sum 1/n_k).

Exact finite-width backward quantities (zero bias, relu or a x, any
symmetric weight law). Mean-field q, phi2 and E[R^l] are then exact at any
width (E[||h^l||^2 | h^{l-1}] = s_l n_l ||h^{l-1}||^2 / 2 for relu), but the
backward pass is not: relu'(z^l_i) = 1{z^l_i > 0} is 0 on the whole layer when
h^{l-1} = 0, which happens with probability 1 - a_l,
a_l = prod_{k=1}^{l-1} (1 - 2^-n_k) (:func:`relu_alive_probability`). By the
sign symmetry W_k -> -W_k (E[W_ki^2 1{W_k h > 0} | h] = s/2 for h != 0),

    E[phi'(z^l)^2] = a_l / 2,   qtilde^l = a_l qtilde_MF^l (l < L),
    E[(dJ/dW^l_ij)^2] = qtilde_MF^l E[(h^{l-1})^2]   (no correction: h_j = 0 there),

so at finite width E[(delta h)^2] != E[delta^2] E[h^2] (seed 002 eq. 4) by the
factor a_l, e.g. 15/16 at l = 2 for width 4. For phi = a x all three equal
mean-field (delta^l and h^{l-1} depend on disjoint weights).

Depth scales (Schoenholz et al. 2017, "Deep information propagation"). For a
constant-width stack (n_1 = ... = n_L) with sigma_w^2 = s_l n_{l-1} the same
for l = 2..L, at the fixed point q* = sigma_w^2 E[phi^2] + sigma_b^2 reached
from q^L:

    chi_1 = sigma_w^2 E[phi'(z)^2],
    xi_q  = -1 / ln(sigma_w^2 (E[phi'^2] + E[phi phi''])),
    xi_c  = -1 / ln(chi_c),  chi_c = sigma_w^2 E[phi'(u) phi'(v)] at (q*, c*),

with z, u, v ~ N(beta, q*) and corr(u, v) = c*. In the ordered phase
(chi_1 <= 1) c* = 1 and chi_c = chi_1; in the chaotic phase c* < 1 is the
stable fixed point of the c-map. E[phi'^2] + E[phi phi''] is the slope of
the q-map, computed without phi'' as E[(z - beta) phi phi'] / q* (Stein's
lemma; :func:`mcbench.theory.gaussian.phi2_var_derivative`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from mcbench.config import CRITICAL_SCAN_PER_DECADE, CRITICAL_SIGMA_W2_BRACKET
from mcbench.spec import MLPSpec, get_activation, init_variance
from mcbench.theory.gaussian import expect, expect_pair, phi2_var_derivative
from mcbench.theory.nlo import nlo_propagation

#: Columns of :func:`mlp_propagation` (``c`` is appended with pair_correlation).
COLUMNS = (
    "layer", "fan_in", "fan_out", "weight_var", "z_mean", "q", "phi2", "dphi2", "chi1",
    "qtilde", "wgrad_ms", "wgrad_factorized", "norm_ratio_mean", "norm_ratio_m2",
    "norm_ratio_mean_exact", "norm_ratio_m2_exact", "dphi2_exact", "qtilde_exact", "wgrad_ms_exact",
)
#: Accepted values of ``mlp_propagation(..., order=)``.
ORDERS = ("mean_field", "nlo")
#: Relative tolerance for "the same" sigma_w^2 across layers and for a map slope of 1.
_SAME_RTOL = 1e-12
#: Fixed-point search: doublings/halvings before giving up (q grows or decays).
_MAX_BRACKET_STEPS = 200


@dataclass(frozen=True)
class _Law:
    """What the maps need from an :class:`MLPSpec`."""

    act: object
    widths: np.ndarray  # (L + 1,) int
    s: np.ndarray  # (L,) Var(W^l)
    beta: float  # bias mean
    sb2: float  # bias variance
    input_var: float

    @classmethod
    def of(cls, spec: MLPSpec) -> "_Law":
        beta, sb2 = spec.bias_moments()
        return cls(spec.activation, np.asarray(spec.widths), spec.layer_weight_vars(), beta, sb2,
                   float(spec.input_var))


def _q_step(law: _Law, gain: float, q_prev: float) -> float:
    """One q-map step: gain E[phi(z)^2] + sigma_b^2, z ~ N(beta, q_prev); gain = s_l n_{l-1}."""
    return gain * expect(law.act, law.beta, q_prev, "phi2") + law.sb2


def _qab_step(law: _Law, gain: float, q_prev: float, qab_prev: float) -> float:
    """One c-map step for the covariance: gain E[phi(u) phi(v)] + sigma_b^2."""
    return gain * expect_pair(law.act, law.beta, q_prev, q_prev, qab_prev, "phi") + law.sb2


def _homogeneous_kind(spec: MLPSpec) -> str | None:
    """"relu" or "linear" (a x) when the exact finite-width results apply (zero bias, x != 0), else None."""
    act = spec.activation
    if spec.bias_moments() != (0.0, 0.0) or spec.input_var <= 0:
        return None
    if act.kind == "relu" or (act.kind == "linear" and act.b == 0.0):
        return act.kind
    return None


def relu_alive_probability(widths) -> np.ndarray:
    """P(h^{l-1} != 0) for l = 1..L in a zero-bias relu net with symmetric weights, shape (L,).

    Given h^{l-1} != 0, the n_l signs of z^l = W^l h^{l-1} are independent
    fair coins, so h^l = 0 with probability 2^-n_l; h^0 = x != 0 a.s.
    """
    n = np.asarray(widths, dtype=float)
    return np.concatenate([[1.0], np.cumprod(1.0 - 0.5 ** n[1:-1])])


def _exact_ratio_factors(spec: MLPSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-layer (E[r_l], E[r_l^2]) of the exact norm-ratio law, or None if it does not apply."""
    act = spec.activation
    if spec.weight_distribution() != "normal" or _homogeneous_kind(spec) is None:
        return None
    s = spec.layer_weight_vars()
    n = np.asarray(spec.widths[1:], dtype=float)
    if act.kind == "relu":
        return s * n / 2.0, s * s * (n * n + 5.0 * n) / 4.0
    if act.kind == "linear" and act.b == 0.0:
        a2 = act.a * act.a
        return a2 * s * n, a2 * a2 * s * s * (n * n + 2.0 * n)
    return None


def exact_norm_ratio_moments(spec: MLPSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact finite-width E[R^l] and E[(R^l)^2], R^l = ||h^l||^2 / ||x||^2, l = 1..L.

    Applies to Gaussian weights, zero bias, input_var > 0 and phi = relu or
    phi = a x (see the module docstring for the law).

    Returns
    -------
    (mean, m2) : tuple of ndarray, shape (L,), or None
        Dimensionless moments; None when the exact law does not apply.

    Examples
    --------
    >>> import mcbench
    >>> mean, m2 = mcbench.theory.exact_norm_ratio_moments(mcbench.MLPSpec([8] * 4, "relu", "he_normal"))
    >>> mean.tolist()   # E[||h^l||^2 / ||x||^2] = 1 under He init
    [1.0, 1.0, 1.0]
    >>> bool((m2 > mean**2).all())   # but finite width spreads it out
    True
    >>> mcbench.theory.exact_norm_ratio_moments(mcbench.MLPSpec([8] * 4, "tanh", "he_normal")) is None
    True
    """
    factors = _exact_ratio_factors(spec)
    if factors is None:
        return None
    return np.cumprod(factors[0]), np.cumprod(factors[1])


def _check_pair_correlation(pair_correlation):
    if pair_correlation is None:
        return None
    try:
        c0 = float(pair_correlation)
    except (TypeError, ValueError):
        raise ValueError(f"pair_correlation must be a number in [-1, 1], got {pair_correlation!r}") from None
    if not -1.0 <= c0 <= 1.0:
        raise ValueError(f"pair_correlation must lie in [-1, 1], got {pair_correlation!r}")
    return c0


def mlp_propagation(spec: MLPSpec, pair_correlation=None, *, depth_scales: bool = True,
                    order: str = "mean_field") -> pd.DataFrame:
    """Per-layer mean-field predictions for a random MLP (the theory side of ``mc.mlp_propagation``).

    Parameters
    ----------
    spec : MLPSpec
    pair_correlation : float in [-1, 1], optional
        Correlation c0 of two inputs; adds the column ``c``.
    depth_scales : bool
        Compute the fixed-point quantities in ``attrs`` (a few root finds; set
        False to skip them).
    order : {"mean_field", "nlo"}
        ``"nlo"`` appends the 1/n finite-width columns of
        :func:`mcbench.theory.nlo.nlo_propagation` (``q_nlo``, ``kernel_var``,
        ``ms_var_nlo``, ``norm_ratio_m2_nlo`` and, with a pair, ``c_nlo``);
        the mean-field columns are the same either way.

    Returns
    -------
    pandas.DataFrame, one row per layer l = 1..L
        ``layer``; ``fan_in`` n_{l-1}; ``fan_out`` n_l; ``weight_var`` s_l;
        ``z_mean`` mean of z^l (the bias mean); ``q`` Var(z^l);
        ``phi2`` E[phi(z^l)^2]; ``dphi2`` E[phi'(z^l)^2];
        ``chi1`` backward gain s_{l+1} n_{l+1} E[phi'(z^l)^2] (NaN at l = L);
        ``qtilde`` E[(delta^l)^2]; ``wgrad_ms`` and ``wgrad_factorized``
        (both qtilde^l E[(h^{l-1})^2] in theory); ``norm_ratio_mean`` and
        ``norm_ratio_m2`` (mean-field first and second moment of
        ||h^l||^2 / ||x||^2; m2 = mean^2); ``norm_ratio_mean_exact`` and
        ``norm_ratio_m2_exact`` (exact finite-width law, NaN where it does not
        apply); ``dphi2_exact``, ``qtilde_exact``, ``wgrad_ms_exact`` (exact
        finite-width values for zero-bias relu / a x nets, any symmetric
        weight law; NaN otherwise); ``c`` (correlation of z^l for the input pair) with
        ``pair_correlation``. Units: q and z_mean in units of z, phi2 in
        squared units of h, the rest dimensionless or as stated.

        ``attrs``: ``sigma_w2`` (common s_l n_{l-1}, l >= 2), ``sigma_b2``,
        ``bias_mean``, ``q_star``, ``c_star``, ``chi1_star``, ``chi_c_star``,
        ``q_slope_star`` (q-map slope at q*), ``xi_q``, ``xi_c`` (NaN where
        not applicable: depth 1, non-constant width or sigma_w^2, no finite
        fixed point, or ``depth_scales=False``; inf at criticality, slope 1),
        ``exact_norm_law`` (bool), ``weight_distribution`` and
        ``pair_correlation``.

    Raises
    ------
    TypeError
        ``spec`` is not an MLPSpec.
    ValueError
        ``pair_correlation`` is not a number in [-1, 1], or ``order`` is not
        "mean_field" or "nlo".

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([8] * 4, "relu", "he_normal", input_var=1.0)
    >>> th = mcbench.theory.mlp_propagation(spec)
    >>> th.shape[0], spec.depth
    (3, 3)
    >>> th["q"].round(12).tolist()      # He ReLU: Var(z^l) = 2 input_var at every layer
    [2.0, 2.0, 2.0]
    >>> th["phi2"].round(12).tolist()   # E[relu(z^l)^2] stays at input_var
    [1.0, 1.0, 1.0]
    >>> th.attrs["xi_q"]                # critical: infinite depth scale
    inf

    A pair of inputs with correlation 0.5: layer 1 keeps it (z^1 = W x), then the
    ReLU c-map moves it towards 1:

    >>> th = mcbench.theory.mlp_propagation(spec, pair_correlation=0.5)
    >>> th["c"].round(4).tolist()
    [0.5, 0.609, 0.6839]
    """
    if not isinstance(spec, MLPSpec):
        raise TypeError(f"spec must be an MLPSpec, got {type(spec).__name__}")
    if not isinstance(order, str) or order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(map(repr, ORDERS))}; got {order!r}")
    c0 = _check_pair_correlation(pair_correlation)
    law = _Law.of(spec)
    L = spec.depth
    n = law.widths.astype(float)
    gains = law.s * n[:-1]  # s_l n_{l-1}: forward gain into layer l

    q = np.empty(L)
    phi2 = np.empty(L)
    dphi2 = np.empty(L)
    qab = np.empty(L)
    for i in range(L):  # i = l - 1
        if i == 0:
            q[i] = gains[0] * law.input_var + law.sb2
            if c0 is not None:
                qab[i] = gains[0] * law.input_var * c0 + law.sb2
        else:
            q[i] = _q_step(law, gains[i], q[i - 1])
            if c0 is not None:
                qab[i] = _qab_step(law, gains[i], q[i - 1], qab[i - 1])
        phi2[i] = expect(law.act, law.beta, q[i], "phi2")
        dphi2[i] = expect(law.act, law.beta, q[i], "dphi2")

    chi1 = np.full(L, np.nan)
    chi1[:-1] = law.s[1:] * n[2:] * dphi2[:-1]  # s_{l+1} n_{l+1} E[phi'(z^l)^2]
    qtilde = np.ones(L)
    for i in range(L - 2, -1, -1):
        qtilde[i] = chi1[i] * qtilde[i + 1]
    h2_prev = np.concatenate([[law.input_var], phi2[:-1]])  # E[(h^{l-1})^2], h^0 = x
    wgrad = qtilde * h2_prev

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_mean = n[1:] * phi2 / (n[0] * law.input_var) if law.input_var > 0 else np.full(L, np.nan)
    exact = exact_norm_ratio_moments(spec)
    dphi2_x, qtilde_x, wgrad_x = (np.full(L, np.nan) for _ in range(3))
    kind = _homogeneous_kind(spec)
    if kind is not None:
        # Exact at finite width for any symmetric weight law (module docstring):
        # relu masks vanish on a dead layer h^{l-1} = 0, which mean-field ignores.
        alive = relu_alive_probability(spec.widths) if kind == "relu" else np.ones(L)
        dphi2_x = dphi2 * alive
        qtilde_x = np.append(qtilde[:-1] * alive[:-1], 1.0)
        wgrad_x = wgrad.copy()

    cols = {
        "layer": np.arange(1, L + 1),
        "fan_in": law.widths[:-1].astype(int),
        "fan_out": law.widths[1:].astype(int),
        "weight_var": law.s,
        "z_mean": np.full(L, law.beta),
        "q": q,
        "phi2": phi2,
        "dphi2": dphi2,
        "chi1": chi1,
        "qtilde": qtilde,
        "wgrad_ms": wgrad,
        "wgrad_factorized": wgrad.copy(),
        "norm_ratio_mean": ratio_mean,
        "norm_ratio_m2": ratio_mean**2,
        "norm_ratio_mean_exact": exact[0] if exact else np.full(L, np.nan),
        "norm_ratio_m2_exact": exact[1] if exact else np.full(L, np.nan),
        "dphi2_exact": dphi2_x,
        "qtilde_exact": qtilde_x,
        "wgrad_ms_exact": wgrad_x,
    }
    if c0 is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["c"] = np.where(q > 0, qab / q, np.nan)
    if order == "nlo":
        cols.update(nlo_propagation(spec, c0).to_dict("list"))
    frame = pd.DataFrame(cols)
    frame.attrs.update(
        mean_field_fixed_point(spec, q_start=q[-1]) if depth_scales else _nan_depth_scales(spec)
    )
    frame.attrs.update(
        exact_norm_law=exact is not None,
        weight_distribution=spec.weight_distribution(),
        pair_correlation=c0,
    )
    return frame


# ----------------------------------------------------------------- depth scales


def _common_sigma_w2(spec: MLPSpec) -> float:
    """sigma_w^2 = s_l n_{l-1} when it is the same for l = 2..L and n_1 = ... = n_L; else NaN."""
    widths = np.asarray(spec.widths)
    if spec.depth < 2 or np.any(widths[1:] != widths[1]):
        return math.nan
    g = spec.layer_weight_vars()[1:] * widths[1:-1]
    if np.any(np.abs(g - g[0]) > _SAME_RTOL * abs(g[0])):
        return math.nan
    return float(g[0])


def _nan_depth_scales(spec: MLPSpec) -> dict:
    beta, sb2 = spec.bias_moments()
    return dict(sigma_w2=_common_sigma_w2(spec), sigma_b2=sb2, bias_mean=beta, q_star=math.nan,
                c_star=math.nan, chi1_star=math.nan, chi_c_star=math.nan, q_slope_star=math.nan,
                xi_q=math.nan, xi_c=math.nan)


def _q_zero_limit(beta: float) -> float:
    """Variance at which q -> 0+ limits are evaluated: relative 1e-6 spread around beta.

    Exact for scale-free activations at beta = 0 (relu, linear); O(1e-12)
    relative for smooth ones; small enough to resolve kinks' one-sided limits
    and large enough that beta + sd x stays distinct from beta in floating point.
    """
    return 1e-12 * max(1.0, beta * beta)


def _depth(rate: float) -> float:
    """-1 / ln(rate): the depth over which a deviation decays by e (inf at rate 1)."""
    if not math.isfinite(rate) or rate < 0.0:
        return math.nan
    if abs(rate - 1.0) <= 1e-10:
        return math.inf
    if rate > 1.0:
        return math.nan  # not an attracting fixed point
    return 0.0 if rate == 0.0 else -1.0 / math.log(rate)


def _find_root(g, x0: float, lower: float, upper: float, xtol: float,
               max_steps: int = _MAX_BRACKET_STEPS) -> float:
    """Root of g nearest x0 in the direction g(x0) points (g > 0: up, g < 0: down).

    The direction is where iterating the map x -> x + g(x) goes, so this finds
    the fixed point that attracts x0. Returns NaN if none is found in
    ``max_steps`` doublings (up) or halvings of the distance to ``lower``
    (down).
    """
    g0 = g(x0)
    if g0 == 0.0:
        return x0
    a = x0
    for k in range(1, max_steps + 1):
        b = min(x0 * 2.0**k, upper) if g0 > 0 else lower + (x0 - lower) * 0.5**k
        gb = g(b)
        if gb == 0.0:
            return b
        if (gb > 0) != (g0 > 0):
            lo, hi = sorted((a, b))
            return optimize.brentq(g, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=400)
        if b == upper:
            break
        a = b
    return math.nan


def _q_fixed_point(law: _Law, sw2: float, q_start: float, max_steps: int = _MAX_BRACKET_STEPS,
                   max_steps_up: int | None = None) -> float:
    """The fixed point q* of q -> sigma_w^2 E[phi(z)^2] + sigma_b^2 that the iterates from q_start reach.

    0.0 when they decay to 0 (F(0) = 0 must hold), inf when they grow without
    bound (no sign change of F(q) - q in ``max_steps_up`` doublings, default
    ``max_steps``; ``max_steps`` halvings downwards), NaN otherwise. A
    q_start <= 0 starts at 1.
    """
    q0 = q_start if q_start > 0 else 1.0

    def g(qq):
        return _q_step(law, sw2, qq) - qq

    g0 = g(q0)
    if abs(g0) <= _SAME_RTOL * q0:
        return q0  # already a fixed point (e.g. relu at criticality: every q is one)
    steps = max_steps if g0 < 0 or max_steps_up is None else max_steps_up
    q_star = _find_root(g, q0, 0.0, 1e300, xtol=1e-300, max_steps=steps)
    if math.isnan(q_star):
        if g0 < 0 and _q_step(law, sw2, 0.0) == 0.0:
            return 0.0  # iterates decay to the fixed point at 0
        if g0 > 0:
            return math.inf  # iterates grow without bound
    return q_star


def mean_field_q_star(spec: MLPSpec, q_start: float | None = None) -> float:
    """The fixed point q* alone, without the c-map and depth scales of :func:`mean_field_fixed_point`.

    The same q* (the same search from the same start); NaN where the spec has
    no common sigma_w^2, inf where the iterates grow without bound, 0.0 where
    they decay to 0. The c* search of a chaotic tanh cell costs ~0.6 s; this
    does not.

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([16] * 5, "tanh", weight_var=1 / 16, bias=("normal", 0.05))
    >>> round(mcbench.theory.mean_field_q_star(spec), 4)
    0.1936
    """
    sw2 = _common_sigma_w2(spec)
    if not math.isfinite(sw2):
        return math.nan
    if q_start is None:
        q_start = float(mlp_propagation(spec, depth_scales=False)["q"].iloc[-1])
    return _q_fixed_point(_Law.of(spec), sw2, q_start)


def mean_field_fixed_point(spec: MLPSpec, q_start: float | None = None) -> dict:
    """Fixed point q*, c* and the depth scales xi_q, xi_c of the mean-field maps.

    Parameters
    ----------
    spec : MLPSpec
        Must have n_1 = ... = n_L and the same sigma_w^2 = s_l n_{l-1} for
        l = 2..L (else everything but sigma_w2/sigma_b2/bias_mean is NaN).
    q_start : float, optional
        Where the fixed-point search starts (default: the network's q^L);
        the fixed point found is the one the q-map iterates reach from there.

    Returns
    -------
    dict
        ``sigma_w2``, ``sigma_b2``, ``bias_mean``, ``q_star``, ``c_star``,
        ``chi1_star`` (sigma_w^2 E[phi'^2] at q*), ``chi_c_star``,
        ``q_slope_star`` (sigma_w^2 (E[phi'^2] + E[phi phi''])), ``xi_q`` =
        -1/ln(q_slope_star), ``xi_c`` = -1/ln(chi_c_star); inf at slope 1,
        NaN where undefined (no finite fixed point, slope > 1, q* = 0 with
        phi(beta) != 0, ...). q* = 0 is reported when the iterates decay to
        0 (then F(0) = 0 must hold, i.e. sigma_b^2 = 0 and phi(beta) = 0);
        chi1_star and q_slope_star are then the q -> 0+ limits (evaluated at
        q = 1e-12 max(1, beta^2)), and c_star = 1.

    Examples
    --------
    >>> import mcbench
    >>> fp = mcbench.theory.mean_field_fixed_point(mcbench.MLPSpec([16] * 5, "relu", "he_normal"))
    >>> round(fp["q_star"], 12), fp["chi1_star"], fp["xi_c"]   # He ReLU is critical
    (2.0, 1.0, inf)
    >>> spec = mcbench.MLPSpec([16] * 5, "tanh", weight_var=1 / 16, bias=("normal", 0.05))
    >>> fp = mcbench.theory.mean_field_fixed_point(spec)   # sigma_w^2 = 1, sigma_b^2 = 0.05: ordered
    >>> round(fp["q_star"], 4), bool(fp["chi_c_star"] < 1), round(fp["xi_c"], 2)
    (0.1936, True, 3.63)
    """
    out = _nan_depth_scales(spec)
    sw2 = out["sigma_w2"]
    if not math.isfinite(sw2):
        return out
    law = _Law.of(spec)
    q_star = mean_field_q_star(spec, q_start)
    if not math.isfinite(q_star):
        return out
    # At q* = 0 both are the q -> 0+ limits (relu: E[relu'^2] -> 1/2, not relu'(0)^2 = 0).
    q_eval = q_star if q_star > 0 else _q_zero_limit(law.beta)
    chi1 = sw2 * expect(law.act, law.beta, q_eval, "dphi2")
    slope = sw2 * phi2_var_derivative(law.act, law.beta, q_eval)
    out.update(q_star=q_star, chi1_star=chi1, q_slope_star=slope, xi_q=_depth(slope))

    if q_star == 0.0 or chi1 <= 1.0 + 1e-10:
        c_star, chi_c = 1.0, chi1  # ordered phase (or degenerate q* = 0): c -> 1
    else:
        # Chaotic phase: c = 1 repels; find the stable c* < 1 of the c-map.
        def h(c):
            return (_qab_step(law, sw2, q_star, c * q_star) / q_star) - c

        c_star = _find_root(h, 1.0 - 1e-3, -1.0, 1.0, xtol=1e-14) if h(1.0 - 1e-3) < 0 else math.nan
        if math.isnan(c_star):
            return out
        chi_c = sw2 * expect_pair(law.act, law.beta, q_star, q_star, c_star * q_star, "dphi")
    out.update(c_star=c_star, chi_c_star=chi_c, xi_c=_depth(chi_c))
    return out


# -------------------------------------------------------- order-to-chaos line

#: Accepted ``bias=`` of :func:`critical_sigma_w2`.
CRITICAL_BIAS_KINDS = ("normal", "constant")


def _q_inf_limit(beta: float) -> float:
    """Variance at which q -> infinity limits are evaluated: sd 1e12 max(1, |beta|).

    A mean beta shifts E[phi'(z)^2] by O(beta / sd) there (relu: Phi(beta / sd)),
    so the limit is good to ~1e-12.
    """
    return 1e24 * max(1.0, beta * beta)


#: The critical line's fixed-point search from q = 1: 40 halvings reach 1e-12 (_q_zero_limit), 80
#: doublings 1.2e24 (_q_inf_limit), where the q -> 0 and q -> inf limits are evaluated anyway
#: (mean_field_fixed_point's 200 halvings cost ~2 s per tanh value at sigma_b^2 = 0).
_CRITICAL_BRACKET_STEPS = 40
_CRITICAL_BRACKET_STEPS_UP = 80
#: |chi_1 - 1| at brentq's root above which chi_1 jumped across 1 rather than crossed it (a
#: continuous crossing leaves ~1e-12; gelu at sigma_b^2 = 0 jumps from 0.59 to 1.18 where the
#: iterates from q = 1 switch from decaying to growing).
_CRITICAL_JUMP_TOL = 1e-6


def _chi1_on_line(law: _Law, sw2: float, q_start: float) -> float:
    """chi_1 = sigma_w^2 E[phi'(z)^2] at the q* reached from q_start (its limits at q* = 0 and q* = inf)."""
    q_star = _q_fixed_point(law, sw2, q_start, _CRITICAL_BRACKET_STEPS, _CRITICAL_BRACKET_STEPS_UP)
    if math.isnan(q_star):
        return math.nan
    if q_star == 0.0:
        q_eval = _q_zero_limit(law.beta)
    elif math.isinf(q_star):
        q_eval = _q_inf_limit(law.beta)
    else:
        q_eval = q_star
    return sw2 * expect(law.act, law.beta, q_eval, "dphi2")


def _critical_one(act, sb2: float, bias: str) -> float:
    if bias == "normal":
        spec_bias = ("normal", sb2)
    else:
        spec_bias = ("constant", math.sqrt(sb2)) if sb2 > 0 else "zero"
    law = _Law.of(MLPSpec([1, 1, 1], act, weight_var=1.0, bias=spec_bias))
    lo, hi = CRITICAL_SIGMA_W2_BRACKET
    n_grid = int(round(CRITICAL_SCAN_PER_DECADE * math.log10(hi / lo))) + 1
    q_start = 1.0

    def g(sw2):
        return _chi1_on_line(law, sw2, q_start) - 1.0

    a, ga = math.nan, math.nan
    for b in np.geomspace(lo, hi, n_grid):
        gb = g(float(b))
        if gb == 0.0:
            return float(b)
        if ga < 0.0 < gb:  # NaN on either side compares False: no crossing across a gap
            root = optimize.brentq(g, a, float(b), xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=400)
            break
        a, ga = float(b), gb
    else:
        return math.nan
    if law.sb2 == 0.0 and _q_step(law, 1.0, 0.0) == 0.0:
        # q* = 0 on the ordered side (F(0) = 0), where chi_1 = sigma_w^2 lim_{q->0+} E[phi'^2] exactly; the
        # chaotic side leaves chi_1 = 1 only quadratically (q* grows from 0 there, and chi_1 and the q-map
        # slope coincide at q = 0), so round-off moves brentq's root by a few 1e-8 (erf: 1.6e-8 off
        # pi / 4). Take the ordered side's crossing when the root is that one.
        x0 = 1.0 / expect(law.act, law.beta, _q_zero_limit(law.beta), "dphi2")
        below = _q_fixed_point(law, x0 * (1 - 1e-5), q_start, _CRITICAL_BRACKET_STEPS, _CRITICAL_BRACKET_STEPS_UP)
        if abs(root - x0) <= 1e-5 * x0 and below == 0.0:
            return x0
    if not abs(g(root)) <= _CRITICAL_JUMP_TOL:
        return math.nan  # chi_1 jumps across 1 there (q* switches branch): it never equals 1
    return root


def critical_sigma_w2(activation, sigma_b2, *, bias: str = "normal"):
    r"""The order-to-chaos line: the sigma_w^2 at which chi_1 = 1 at the mean-field fixed point q*.

    For a constant-width stack with sigma_w^2 = n Var(W) and bias variance
    sigma_b^2 (module docstring), chi_1 = sigma_w^2 E[phi'(z)^2], z ~ N(beta, q*),
    where q* is the fixed point of q -> sigma_w^2 E[phi(z)^2] + sigma_b^2 that the
    iterates reach from q = 1 (Poole et al. 2016; Schoenholz et al. 2017).
    chi_1 < 1: ordered (correlations go to 1, gradients vanish with depth);
    chi_1 > 1: chaotic (c* < 1, gradients explode).

    Parameters
    ----------
    activation : str or Activation
    sigma_b2 : float or sequence of float, each finite and >= 0
    bias : {"normal", "constant"}
        ``"normal"``: b_i ~ N(0, sigma_b^2). ``"constant"``: b_i = sqrt(sigma_b^2)
        (a constant of the same second moment; the maps then see z ~ N(beta, q*)
        with beta = sqrt(sigma_b^2) and no bias variance).

    Returns
    -------
    float, or ndarray of the same shape for a sequence
        sigma_w^2 (dimensionless: fan-in x weight variance). The first
        (smallest) crossing of chi_1 = 1 from below on a log scan of
        ``mcbench.config.CRITICAL_SIGMA_W2_BRACKET`` (refined by brentq to
        ~1e-14 relative). NaN when there is none there: chi_1 >= 1 already at
        its low end, or chi_1 < 1 all through it, or it jumps across 1 (where
        the iterates from q = 1 switch from decaying to q* = 0 to growing
        without bound: gelu at sigma_b^2 = 0 and 0.05, silu up to 0.3, normal
        bias), or it is undefined across the crossing.

    Notes
    -----
    Where the q-map has no finite fixed point (iterates grow without bound,
    e.g. relu with sigma_b^2 > 0 at sigma_w^2 >= 2), q* = inf and chi_1 is its
    q -> inf limit, evaluated at q = 1e24 max(1, beta^2) (exact for relu, linear
    and piecewise-linear activations with a normal bias, ~1e-12 otherwise). So relu's line is
    sigma_w^2 = 2 at every sigma_b^2 (E[relu'(z)^2] = 1/2 at any q), although q*
    diverges there for sigma_b^2 > 0; and a x + b gives 1 / a^2. A linear net
    has no chaotic phase (the c-map is linear), so its "line" only marks where
    gradients neither vanish nor explode.

    At sigma_b^2 = 0 with phi(beta) = 0 (tanh, erf, relu, ...), q* = 0 on the
    ordered side, where chi_1 = sigma_w^2 lim_{q->0+} E[phi'(z)^2] (evaluated at
    q = 1e-12 max(1, beta^2), as :func:`mean_field_fixed_point` does), and the
    line ends at sigma_w^2 = 1 / lim E[phi'^2]: 1 for tanh to ~1e-12 (the
    limit's O(q) error), 2 for relu. There the chaotic side meets chi_1 = 1
    only quadratically, and that crossing is the one returned.

    Cost: ~30 fixed-point solves per value, ~0.1 s for a quadrature
    activation (tanh), ~5 ms for closed forms (relu, erf).

    Raises
    ------
    ValueError
        ``bias`` is not "normal" or "constant", or a sigma_b2 is negative or
        not finite.

    Examples
    --------
    >>> from mcbench.theory import critical_sigma_w2
    >>> round(critical_sigma_w2("tanh", 0.05), 4)   # Schoenholz et al. 2017: ~1.76
    1.761
    >>> critical_sigma_w2("relu", [0.0, 0.1, 1.0]).round(12).tolist()   # sigma_w^2 / 2 = 1
    [2.0, 2.0, 2.0]
    >>> round(critical_sigma_w2("tanh", 0.0), 9)   # q* = 0: chi_1 = sigma_w^2 tanh'(0)^2
    1.0
    """
    if not isinstance(bias, str) or bias not in CRITICAL_BIAS_KINDS:
        raise ValueError(f"bias must be one of {', '.join(map(repr, CRITICAL_BIAS_KINDS))}; got {bias!r}")
    act = get_activation(activation)
    values = np.asarray(sigma_b2, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"sigma_b2 must be finite and >= 0, got {sigma_b2!r}")
    out = np.array([_critical_one(act, float(v), bias) for v in values.ravel()]).reshape(values.shape)
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------ init formulas


def glorot_product_variance(spec: MLPSpec) -> np.ndarray:
    """Seed 003 / Glorot & Bengio (2010) eq. 5: Var(z^l) = Var(x) prod_{k=1}^{l} n_{k-1} Var(W^k).

    The linear-regime formula (f'(0) = 1, zero bias), whatever the spec's
    activation and bias: it equals the q of :func:`mlp_propagation` exactly
    for the identity activation with zero bias.

    Returns
    -------
    ndarray, shape (L,)
        Predicted Var(z^l), l = 1..L, in units of Var(x) = ``input_var``.

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([10, 20, 40], "linear", "lecun_normal", input_var=2.0)
    >>> mcbench.theory.glorot_product_variance(spec).tolist()   # n Var(W) = 1 per layer
    [2.0, 2.0]
    >>> spec = mcbench.MLPSpec([10, 20, 40], "linear", weight_var=0.1, input_var=1.0)
    >>> mcbench.theory.glorot_product_variance(spec).round(12).tolist()   # 10 * 0.1, then 20 * 0.1
    [1.0, 2.0]
    """
    widths = np.asarray(spec.widths, dtype=float)
    return spec.input_var * np.cumprod(widths[:-1] * spec.layer_weight_vars())


def he_condition_weight_var(fan) -> float:
    """Seed 002 eq. 13 / He et al. (2015): Var(W) = 2 / fan for ReLU.

    With fan = n_{l+1} (the backward condition, as in seed 002) it makes the
    backward gain chi^l = Var(W^{l+1}) n_{l+1} / 2 equal 1; with fan = n_{l-1}
    (``he_normal``'s fan_in) the forward gain is 1. Equal for constant width.

    Examples
    --------
    >>> from mcbench.theory import he_condition_weight_var, init_variance
    >>> he_condition_weight_var(50)
    0.04
    >>> he_condition_weight_var(50) == init_variance("he_normal", 50, 100)
    True
    """
    if isinstance(fan, bool) or not isinstance(fan, numbers.Integral) or fan < 1:
        raise ValueError(f"fan must be a positive integer, got {fan!r}")
    return 2.0 / int(fan)


def xavier_variances(widths) -> np.ndarray:
    """Glorot/Xavier Var(W^l) = 2 / (n_{l-1} + n_l) for l = 1..L, shape (L,).

    Examples
    --------
    >>> from mcbench.theory import xavier_variances
    >>> xavier_variances([10, 30, 30]).round(6).tolist()   # 2 / (10 + 30), 2 / (30 + 30)
    [0.05, 0.033333]
    """
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least 2 layer widths, got {widths!r}")
    return np.array([init_variance("xavier_normal", widths[l - 1], widths[l]) for l in range(1, len(widths))])
