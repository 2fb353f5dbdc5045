r"""Next-to-leading order (1/n) finite-width theory of signal propagation in random MLPs.

Conventions are those of :mod:`mcbench.theory.mlp` (z^l = W^l h^{l-1} + b^l,
h^l = phi(z^l), h^0 = x ~ N(0, input_var I), Var(W^l_ij) = s_l, bias mean beta
and variance sigma_b^2, one bias draw per network). sigma_w,l^2 := s_l n_{l-1}.
Sources for the framework: Roberts, Yaida & Hanin (2022), *The Principles of
Deep Learning Theory*, ch. 4-5 (the 1/n expansion of the preactivation
distribution, kernel fluctuations and mean shifts); Yaida (2020),
"Non-Gaussian processes and neural networks at finite widths". The
derivation below is this module's own, phrased as a delta method on a
Markov chain of conditional kernels.

Fluctuating kernel
------------------
For Gaussian weights, given h^{l-1} the units z^l_i are i.i.d. Gaussian with
mean beta and (for an input pair a, b) covariance

    G^l = sigma_b^2 + s_l [h_a.h_a, h_a.h_b; h_b.h_a, h_b.h_b]   (exact),

so G^l = (G_aa, G_ab, G_bb) is a Markov chain:

    G^{l+1} = sigma_b^2 + sigma_w,l+1^2 M^l,   M^l = (1/n_l) sum_i psi(z^l_i),
    psi(u, v) = (phi(u)^2, phi(u) phi(v), phi(v)^2),
    E[M^l | G^l] = F(G^l) := E_{(u,v) ~ N((beta, beta), G^l)}[psi],
    Cov(M^l | G^l) = S(G^l) / n_l,  S(G) := Cov_G(psi).

The single-input chain is the same with G = G_aa and psi = phi(u)^2 (then
F = f(G) := E[phi^2]).

Input layer: G^1 = sigma_b^2 + s_1 (x_a.x_a, x_a.x_b, x_b.x_b), a Wishart
draw: mean K^1 = sigma_b^2 + s_1 n_0 input_var (1, c0, 1) and covariance
V^1 = s_1^2 n_0 input_var^2 [[2, 2c0, 2c0^2], [2c0, 1 + c0^2, 2c0],
[2c0^2, 2c0, 2]] (per coordinate Cov(x_i x_j, x_k x_l) = S_ik S_jl + S_il S_jk).

Delta method (write G^l = K^l + dK^l + eps, E eps = 0, Cov eps = V^l, with
dK^l and V^l both O(1/n); drop everything O(1/n^2)):

    K^{l+1}  = sigma_b^2 + sigma_w^2 F(K^l)                        (mean field),
    dK^{l+1} = sigma_w^2 [ J dK^l + (1/2) H : V^l ],                  (mean shift)
    V^{l+1}  = sigma_w^4 [ S(K^l) / n_l + J V^l J^T ],                (kernel variance)

with J = dF/dG and H = d^2F/dG^2 at K^l (G parameterised by its three
distinct entries: moving G_ab moves both off-diagonal entries). Columns:

    q_nlo       = K_aa + dK_aa                 = E[(z^l - beta)^2] + O(1/n^2)
    kernel_var  = V_aa                         = Var(G_aa^l) + O(1/n^2)
    c_nlo       = E[G_ab] / sqrt(E[G_aa] E[G_bb]) with E[G] = K + dK
                  (the ratio of expectations, as the Monte Carlo pools it)
    ms_var_nlo  = V_aa + (2 K_aa^2 + 4 beta^2 K_aa) / n_l
                  = Var((1/n_l) sum_i (z^l_i)^2)  (law of total variance; given
                  G, z_i^2 has mean G + beta^2 and variance 2 G^2 + 4 beta^2 G)

Single input: exact average over the input norm. Given x, the chain depends
on x only through u = ||x||^2 / (n_0 input_var) ~ chi^2_{n0} / n0, and G^1 =
sigma_b^2 + s_1 n_0 input_var u is then deterministic. So the single-input
columns run the chain above conditional on u (V^1 = 0, dK^1 = 0) and average
over u by quadrature (:func:`_chi2_mean_rule`), with the laws of total
expectation and variance:

    q_nlo      = E_u[K + dK],
    kernel_var = E_u[V] + Var_u(K + dK),
    ms_var_nlo = E_u[V + (2 K^2 + 4 beta^2 K) / n_l] + Var_u(K + dK).

This has the same O(1/n) content as carrying Var(G^1) = 2 (s_1 n_0
input_var)^2 / n_0 through the delta method, but no O(1/n_0^2) error from
expanding in the input's fluctuation (at n_0 = 16, E[1/m_0^2] = 1.52 against
the expansion's 1 + 6/n_0 = 1.375: a 10% error in E[R^2] that the numpy
Monte Carlo resolves). The pair (c_nlo) still uses the delta method with the
Wishart V^1.

Norm ratio. R^l = ||h^l||^2 / ||x||^2 = (n_l / n_0) m_l / (input_var u) with
m_l = (1/n_l) sum_i phi(z^l_i)^2; given u, to O(1/n),

    E[m_l | u]   = f + f' dK + (1/2) f'' V,
    E[m_l^2 | u] = f^2 + 2 f (f' dK + (1/2) f'' V) + S / n_l + f'^2 V,

(f, f', f'', S = Var(phi^2) at K^l, all conditional on u) and
E[(R^l)^2] = (n_l / n_0)^2 E_u[E[m_l^2 | u] / (input_var u)^2] (NaN for
n_0 <= 4, where E[u^-2] is infinite). The delta method in m_0 as well (the
fully expanded form, with Cov(m_0, G^{l+1}) = sigma_w^2 f' Cov(m_0, G^l))
agrees with this to O(1/n).

For relu, zero bias, this gives s^2 (n_1^2 + 5 n_1) / 4 exactly at depth 1
and, in general, the O(1/n) part sum_k 5 / n_k of the exact law prod_k
(1 + 5 / n_k) (:func:`mcbench.theory.mlp.exact_norm_ratio_moments`); for
phi = a x every first moment (q_nlo, c_nlo) is exact and the second moments
carry the O(1/n) part of the exact product law (tests/test_theory_nlo.py).
The expansion parameter is really depth / width: the neglected terms are
O((L / n)^2), so second moments (kernel_var, ms_var_nlo, norm_ratio_m2_nlo)
degrade first as L / n grows (``tests/studies/nlo_residual.py``).

Derivatives without phi''
-------------------------
Only phi and phi' exist (kinks allowed), so J and H are score-function
(Hermite) expectations: for y ~ N(mu, G), P = G^{-1}, w = P (y - mu),

    d E[g] / dG_ij         = (1/2) E[g He_ij],     He_ij = w_i w_j - P_ij,
    d^2 E[g] / dG_ij dG_kl = (1/4) E[g He_ijkl],
    He_ijkl = w_i w_j w_k w_l - (P_ij w_k w_l + 5 more pairings)
              + P_ij P_kl + P_ik P_jl + P_il P_jk,

(the heat equation d/dG_ij E[g] = (1/2) E[d_i d_j g] plus Gaussian
integration by parts), summed over both (i, j) orderings for the
off-diagonal entry. In one dimension J = E[g (x^2 - 1)] / (2G) and
H = E[g (x^4 - 6x^2 + 3)] / (4G^2), x = (y - beta) / sqrt(G).

Quadrature: the expectations are tensor-product composite 10-point
Gauss-Legendre rules in the standardised variables x (y = beta + L x, L the
Cholesky factor of G) over [-12, 12] (density < 1e-31 beyond), unit panels,
with a breakpoint where u = 0 and, per outer node, where v = 0, so the kinks of
relu/elu/selu sit on panel edges and each panel is smooth. Checked in
``tests/test_theory_nlo.py`` against :mod:`mcbench.theory.gaussian`
(adaptive quadrature / closed forms) for F, against Stein's lemma and
Price's theorem (d E[phi(u) phi(v)] / dG_ab = E[phi'(u) phi'(v)]) for J, and
against finite differences of those for H: relative agreement <= 1e-8.
Pair correlations with |c| > 1 - 1e-6 at any layer give c_nlo = NaN (P blows up).

Scope
-----
Gaussian weights only. For uniform weights z given h is not Gaussian (fourth
cumulant -(6/5) s^2 sum_j h_j^4 = O(1/n)), which changes the mean shift at
this order; that correction is not implemented, and every NLO column is NaN
for uniform weights. Also NaN: norm_ratio_m2_nlo when input_var = 0 or n_0 <= 4.

Validity: the neglected terms grow like (L / n)^2 and faster where the
mean-field trajectory is itself sensitive. Measured (tests/test_theory_nlo.py,
20,000 networks): tanh sigma_w^2 = 1.5, width 16, depth 10 and relu + bias,
width 64, depth 3 pass; gelu/He width 32 depth 20 does not (mean-field q
collapses to 0.005, the networks keep q ~ 0.5, and kernel_var reaches 6e4
q^2): no 1/n truncation describes it. At the suites' precisions
(tests/studies/nlo_suite_sizes.py) NLO holds for seven networks while
depth / width stays below about 0.3-0.4, except gelu/He's c-map at depth 50
(c^l near 1: 1 - c^l is dominated by higher orders); the suites' sizes in
:data:`mcbench.config.NLO_CHECKS` come from that study. The error of NLO
shrinks like 1/n^2 (tests/studies/nlo_residual.py: slope -2.03 for ms_var,
tanh, depth 10, widths 8-64; mean field's error slope -1.02).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scipy import optimize

from mcbench._signals import checkpoint
from mcbench.spec import MLPSpec, get_activation

#: NLO columns added by ``mlp_propagation(..., order="nlo")`` (``c_nlo`` only with a pair).
NLO_COLUMNS = ("q_nlo", "kernel_var", "ms_var_nlo", "norm_ratio_m2_nlo")

#: Gauss-Legendre panels of width 1 on [-12, 12] standard deviations (plus a breakpoint at a kink):
#: 10 nodes per panel agree with 20 nodes on [-14, 14] to 8e-13 relative in every NLO column (tanh,
#: gelu, relu with bias, erf with a constant bias; depth 10-20), at a third of the cost of the 2-D rule.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_X_MAX = 12.0
_BASE_EDGES = np.arange(-_X_MAX, _X_MAX + 0.5, 1.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Input-norm quadrature (:func:`_chi2_mean_rule`): log-density depth, panels, nodes per panel.
_CHI2_DEPTH, _CHI2_PANELS = 45.0, 12
_CHI2_X, _CHI2_W = np.polynomial.legendre.leggauss(10)
#: |c| above this: the pair's score-function weights are ill-conditioned; c_nlo = NaN.
_C_MAX = 1.0 - 1e-6


# ------------------------------------------------------------------ quadrature


def _panel_rule(edges: np.ndarray):
    """Composite GL nodes and weights (times the N(0,1) density) for rows of sorted edges (r, e)."""
    lo, hi = edges[:, :-1], edges[:, 1:]
    half = 0.5 * (hi - lo)
    x = (0.5 * (hi + lo))[..., None] + half[..., None] * _GL_X
    w = half[..., None] * _GL_W * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return x.reshape(edges.shape[0], -1), w.reshape(edges.shape[0], -1)


def _edges_with(breaks: np.ndarray) -> np.ndarray:
    """Base edges plus one breakpoint per row (dropped when outside the range), rows sorted."""
    b = np.where(np.abs(breaks) < _X_MAX, breaks, -_X_MAX)
    return np.sort(np.concatenate([np.broadcast_to(_BASE_EDGES, (b.size, _BASE_EDGES.size)), b[:, None]], 1), 1)


def _nodes(beta: float, cov: np.ndarray):
    """Nodes y (N, d), standardised x (N, d), weights (N,) for y ~ N(beta 1, cov), d = 1 or 2."""
    d = cov.shape[0]
    s1 = math.sqrt(cov[0, 0])
    x1, w1 = _panel_rule(_edges_with(np.array([-beta / s1])))
    x1, w1 = x1[0], w1[0]
    if d == 1:
        return (beta + s1 * x1)[:, None], x1[:, None], w1
    s2 = math.sqrt(cov[1, 1])
    c = cov[0, 1] / (s1 * s2)
    r = math.sqrt((1.0 - c) * (1.0 + c))
    x2, w2 = _panel_rule(_edges_with((-beta / s2 - c * x1) / r))  # v = 0 per outer node
    x1b = np.broadcast_to(x1[:, None], x2.shape)
    x = np.stack([x1b.ravel(), x2.ravel()], 1)
    w = (w1[:, None] * w2).ravel()
    y = np.stack([beta + s1 * x[:, 0], beta + s2 * (c * x[:, 0] + r * x[:, 1])], 1)
    return y, x, w


#: Kernel entries (i, j) that each parameter moves: d = 1: G; d = 2: (G_aa, G_ab, G_bb).
_PARAMS = {1: [((0, 0),)], 2: [((0, 0),), ((0, 1), (1, 0)), ((1, 1),)]}


def _he4(w, P, i, j, k, l):
    """Multivariate Hermite polynomial He_ijkl at w = P (y - mu), P = cov^-1."""
    wi, wj, wk, wl = w[:, i], w[:, j], w[:, k], w[:, l]
    return (wi * wj * wk * wl
            - (P[i, j] * wk * wl + P[i, k] * wj * wl + P[i, l] * wj * wk
               + P[j, k] * wi * wl + P[j, l] * wi * wk + P[k, l] * wi * wj)
            + P[i, j] * P[k, l] + P[i, k] * P[j, l] + P[i, l] * P[j, k])


def _layer_maps(act, beta: float, cov: np.ndarray):
    """F, J, H, S of the map G -> E[psi] at G = cov (1x1 or 2x2).

    Returns
    -------
    F : (p,)  E[psi];  J : (p, p) dF_k / dG_A;  H : (p, p, p) d^2 F_k / dG_A dG_B;
    S : (p, p) Cov(psi_k, psi_m).  p = 1 (psi = phi^2) or 3 (phi_a^2, phi_a phi_b, phi_b^2).
    """
    d = cov.shape[0]
    y, x, wt = _nodes(beta, cov)
    ph = act(y)
    psi = ph**2 if d == 1 else np.stack([ph[:, 0] ** 2, ph[:, 0] * ph[:, 1], ph[:, 1] ** 2], 1)
    P = np.linalg.inv(cov)
    chol = np.linalg.cholesky(cov)
    w = x @ np.linalg.inv(chol)  # rows: (L^{-T} x)^T = x^T L^{-1}
    wpsi = psi * wt[:, None]
    F = wpsi.sum(0)
    S = psi.T @ wpsi - np.outer(F, F)
    params = _PARAMS[d]
    p = len(params)
    J = np.empty((p, p))
    for a, ents in enumerate(params):
        he2 = sum(w[:, i] * w[:, j] - P[i, j] for i, j in ents)
        J[:, a] = 0.5 * (he2 @ wpsi)
    H = np.empty((p, p, p))
    for a, ea in enumerate(params):
        for b in range(a, p):
            he = sum(_he4(w, P, i, j, k, l) for i, j in ea for k, l in params[b])
            H[:, a, b] = H[:, b, a] = 0.25 * (he @ wpsi)
    return F, J, H, S


def layer_maps(activation, beta, cov):
    """Public wrapper of the per-layer map: (F, J, H, S) at kernel ``cov`` (float or 2x2).

    Parameters
    ----------
    activation : str or Activation
    beta : float
        Mean of the preactivations (the bias mean).
    cov : float or array_like (2, 2)
        Kernel G (single input) or [[G_aa, G_ab], [G_ab, G_bb]].

    Returns
    -------
    F, J, H, S : ndarray, shapes (p,), (p, p), (p, p, p), (p, p)
        p = 1 (psi = phi^2) or 3 (psi = phi_a^2, phi_a phi_b, phi_b^2);
        parameters ordered G_aa, G_ab, G_bb. Units: squared units of phi per
        power of the kernel.

    Examples
    --------
    >>> import numpy as np
    >>> from mcbench.theory import nlo_layer_maps
    >>> F, J, H, S = nlo_layer_maps("relu", 0.0, 1.0)   # psi = relu^2 at kernel G = 1
    >>> F.shape, J.shape, H.shape, S.shape
    ((1,), (1, 1), (1, 1, 1), (1, 1))
    >>> round(float(F[0]), 12), round(float(J[0, 0]), 12), bool(abs(H[0, 0, 0]) < 1e-12)   # E[relu^2] = G / 2
    (0.5, 0.5, True)
    >>> F, J, H, S = nlo_layer_maps("tanh", 0.0, [[1.0, 0.5], [0.5, 1.0]])   # a pair: p = 3
    >>> F.shape, J.shape
    ((3,), (3, 3))
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    return _layer_maps(get_activation(activation), float(beta), cov)


# ------------------------------------------------------------------ propagation


def _wishart_cov(c0: float | None) -> np.ndarray:
    """Covariance of (x_a.x_a, x_a.x_b, x_b.x_b) per coordinate, in units of input_var^2."""
    if c0 is None:
        return np.array([[2.0]])
    return np.array([[2.0, 2 * c0, 2 * c0**2], [2 * c0, 1 + c0**2, 2 * c0], [2 * c0**2, 2 * c0, 2.0]])


def _chain(spec: MLPSpec, c0, mean_shift: float, own_noise: float, g1=None):
    """K, dK (L, p) and V (L, p, p) of the kernel chain, plus the per-layer maps (F, J, H, S).

    ``g1`` given (single input only): the chain conditional on G^1 = g1 (V^1 = 0).
    Returns None when a pair's correlation leaves [-_C_MAX, _C_MAX].
    """
    act = spec.activation
    beta, sb2 = spec.bias_moments()
    s = spec.layer_weight_vars()
    n = np.asarray(spec.widths, dtype=float)
    iv = float(spec.input_var)
    L = spec.depth
    unit = np.array([1.0]) if c0 is None else np.array([1.0, c0, 1.0])
    p = unit.size
    K, dK, V = np.empty((L, p)), np.zeros((L, p)), np.zeros((L, p, p))
    maps = []
    if g1 is None:
        K[0] = sb2 + s[0] * n[0] * iv * unit
        V[0] = s[0] ** 2 * n[0] * iv**2 * _wishart_cov(c0)
    else:
        K[0] = g1
    for i in range(L):
        checkpoint()  # a deep net's chain takes seconds: honour a stop request between layers
        cov = K[i, [0]][:, None] if p == 1 else np.array([[K[i, 0], K[i, 1]], [K[i, 1], K[i, 2]]])
        if p == 3 and abs(K[i, 1]) > _C_MAX * math.sqrt(K[i, 0] * K[i, 2]):
            return None
        F, J, H, S = _layer_maps(act, beta, cov)
        maps.append((F, J, H, S))
        if i + 1 == L:
            break
        g = s[i + 1] * n[i + 1]  # sigma_w^2 into layer l + 1 (s_{l+1} n_l)
        K[i + 1] = sb2 + g * F
        dK[i + 1] = g * mean_shift * (J @ dK[i] + 0.5 * np.einsum("kab,ab->k", H, V[i]))
        V[i + 1] = g * g * (own_noise * S / n[i + 1] + J @ V[i] @ J.T)
    return K, dK, V, maps


def _chi2_mean_rule(k: int):
    """Nodes u and weights (sum 1) for u = chi^2_k / k: composite Gauss-Legendre in s = log u.

    The density of s is proportional to exp((k/2)(s - e^s + 1)), smooth; the
    window is where it exceeds e^-45 of its peak; 12 panels of 10 nodes.
    E[u], E[u^2], E[u^-2] are within 2e-10 relative of the chi^2 values at
    k = 8, 1e-12 at k = 12, 1e-13 for k >= 16.
    """
    def logd(x):
        return (k / 2.0) * (x - math.exp(x) + 1.0) + _CHI2_DEPTH

    lo = optimize.brentq(logd, -3.0 * _CHI2_DEPTH / k - 5.0, 0.0)
    hi = optimize.brentq(logd, 0.0, math.log1p(4.0 * _CHI2_DEPTH / k) + 5.0)
    edges = np.linspace(lo, hi, _CHI2_PANELS + 1)
    half = 0.5 * np.diff(edges)
    x = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * _CHI2_X
    w = (half[:, None] * _CHI2_W * np.exp((k / 2.0) * (x - np.exp(x) + 1.0))).ravel()
    return np.exp(x.ravel()), w / w.sum()


def nlo_propagation(spec: MLPSpec, pair_correlation=None, *, _mean_shift: float = 1.0,
                    _own_noise: float = 1.0) -> pd.DataFrame:
    """Per-layer 1/n (NLO) predictions; see the module docstring for the formulas.

    Parameters
    ----------
    spec : MLPSpec
    pair_correlation : float in [-1, 1], optional
        Input-pair correlation c0; adds ``c_nlo``.
    _mean_shift, _own_noise : float
        Private fault-injection hooks for the tests: factors on the 1/n mean
        shift (dK and E[m_l] - f) and on the own-noise term S / n_l of the
        kernel-variance recursion. 1 is the theory.

    Returns
    -------
    pandas.DataFrame, one row per layer l = 1..L
        ``q_nlo`` E[(z^l - beta)^2] (units of z^2); ``kernel_var`` Var(G^l)
        (units of z^4); ``ms_var_nlo`` Var((1/n_l) sum_i (z^l_i)^2) (units
        of z^4); ``norm_ratio_m2_nlo`` E[(||h^l||^2 / ||x||^2)^2]
        (dimensionless); ``c_nlo`` (with a pair). All NaN for uniform weights.

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([8] * 4, "relu", "he_normal")
    >>> nlo = mcbench.theory.nlo_propagation(spec)
    >>> list(nlo.columns)
    ['q_nlo', 'kernel_var', 'ms_var_nlo', 'norm_ratio_m2_nlo']
    >>> nlo["q_nlo"].round(6).tolist()   # He ReLU: no 1/n shift of q
    [2.0, 2.0, 2.0]
    >>> nlo["kernel_var"].round(6).tolist()   # the fluctuation of the kernel grows with depth
    [1.0, 4.125, 7.25]
    """
    L = spec.depth
    cols = {name: np.full(L, np.nan) for name in NLO_COLUMNS}
    if pair_correlation is not None:
        cols["c_nlo"] = np.full(L, np.nan)
    if spec.weight_distribution() != "normal":
        return pd.DataFrame(cols)
    beta, sb2 = spec.bias_moments()
    n = np.asarray(spec.widths, dtype=float)
    iv = float(spec.input_var)
    s1n0 = spec.layer_weight_vars()[0] * n[0]
    # Single input: NLO chain conditional on the input, G^1 = sigma_b^2 + s_1 n_0 iv u,
    # averaged over u = ||x||^2 / (n_0 iv) ~ chi^2_{n0} / n0 by quadrature.
    u, wu = _chi2_mean_rule(int(n[0])) if iv > 0 else (np.ones(1), np.ones(1))
    mean_g, var_g, ms_in, r2 = (np.zeros(spec.depth) for _ in range(4))
    mean_g2 = np.zeros(spec.depth)
    for uj, wj in zip(u, wu):
        K, dK, V, maps = _chain(spec, None, _mean_shift, _own_noise, g1=sb2 + s1n0 * iv * uj)
        EG, VG = K[:, 0] + dK[:, 0], V[:, 0, 0]
        mean_g += wj * EG
        mean_g2 += wj * EG**2
        var_g += wj * VG
        ms_in += wj * (VG + (2 * K[:, 0] ** 2 + 4 * beta**2 * K[:, 0]) / n[1:])
        f, f1, f2, var_phi2 = (np.array([mp[0][0] for mp in maps]), np.array([mp[1][0, 0] for mp in maps]),
                               np.array([mp[2][0, 0, 0] for mp in maps]), np.array([mp[3][0, 0] for mp in maps]))
        shift = _mean_shift * (f1 * dK[:, 0] + 0.5 * f2 * VG)
        # E[m_l^2 | x] to O(1/n): f^2 + 2 f shift + Var(m_l | x)
        r2 += wj * (f * f + 2 * f * shift + var_phi2 / n[1:] + f1 * f1 * VG) / (iv * uj) ** 2
    spread = mean_g2 - mean_g**2  # Var over inputs of E[G^l | x]
    cols["q_nlo"] = mean_g
    cols["kernel_var"] = var_g + spread
    cols["ms_var_nlo"] = ms_in + spread
    if iv > 0 and n[0] > 4:
        cols["norm_ratio_m2_nlo"] = (n[1:] / n[0]) ** 2 * r2
    if pair_correlation is not None:
        out = _chain(spec, float(pair_correlation), _mean_shift, _own_noise)
        if out is not None:
            E = out[0] + out[1]
            with np.errstate(divide="ignore", invalid="ignore"):
                cols["c_nlo"] = E[:, 1] / np.sqrt(E[:, 0] * E[:, 2])
    return pd.DataFrame(cols)
