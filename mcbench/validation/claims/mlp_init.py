"""Seeds 001-004's formulas on MLP initialisation, exactly as written, next to corrected ones.

Seed 001 (d2l's slides on MLP variance, Xavier and activations), seed 002 (a
mean-field derivation of He init), seed 003 (Glorot & Bengio's product
formula) and seed 004 (Xavier for tanh), each formula registered in
:data:`MLP_SEED_CLAIMS` as a :class:`~mcbench.validation.claims.record.SeedClaim`
(calling conventions in :mod:`mcbench.validation.claims.record`). Their Monte
Carlo evidence is in the MLP checks (:mod:`mcbench.validation.checks_mlp`).
"""

from __future__ import annotations

import math

import numpy as np

from mcbench.spec import MLPSpec, get_activation, init_variance
from mcbench.theory.gaussian import expect, product_variance
from mcbench.theory.mlp import glorot_product_variance, mlp_propagation
from mcbench.validation.claims.record import SeedClaim


def _sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1/(1 + e^-x) without overflow


def seed_sigmoid_taylor(x):
    r"""Seed 001: $\mathrm{sigmoid}(x) = \frac12 + \frac{x}{4} - \frac{x^3}{48} + O(x^5)$ (the polynomial)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 + x / 4.0 - x**3 / 48.0


def seed_tanh_taylor(x):
    r"""Seed 001: $\tanh(x) = 0 + x - \frac{x^3}{3} + O(x^5)$ (the polynomial)."""
    x = np.asarray(x, dtype=np.float64)
    return x - x**3 / 3.0


def seed_scaled_sigmoid_linear(x):
    r"""Seed 001: $4\,\mathrm{sigmoid}(x) - 2$ has $\sigma(0) = 0$, $\sigma'(0) = 1$: $\approx x$ near 0."""
    return np.asarray(x, dtype=np.float64)


def _scaled_sigmoid(x):
    # 4 sigmoid(x) - 2 = 2 tanh(x/2) exactly; this form does not cancel near 0.
    return 2.0 * np.tanh(0.5 * np.asarray(x, dtype=np.float64))


def seed_xavier_normal_var(fan_in, fan_out):
    r"""Seed 001: $\mathcal{N}(0, \sqrt{2/(n_{t-1} + n_t)})$ read as N(mean, variance)."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def seed_xavier_uniform_var(fan_in, fan_out):
    r"""Seed 001: $\mathcal{U}(-a, a)$, $a = \sqrt{6/(n_{t-1} + n_t)}$, with variance $a^2/3$."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return a * a / 3.0


def _xavier_var(fan_in, fan_out):
    return init_variance("xavier_normal", fan_in, fan_out)


def seed_linear_activation_var(activation, mean, var):
    r"""Seed 001: $\mathrm{Var}[\alpha h' + \beta] = \alpha^2 \mathrm{Var}[h']$ (sigma(x) = alpha x + beta)."""
    return get_activation(activation).a ** 2 * var


def _activation_var(activation, mean, var):
    m = expect(activation, mean, var, "phi")
    return expect(activation, mean, var, "phi2") - m * m


def seed_linear_forward(spec):
    r"""Seed 001: $\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}]$, iterated from Var(x)."""
    return glorot_product_variance(spec)


def seed_linear_backward(spec):
    r"""Seed 001: $\mathrm{Var}[\partial\ell/\partial h^{t-1}_i] = n_t \gamma_t \mathrm{Var}[\partial\ell/\partial h^t_j]$, from 1 at the top."""
    n = np.asarray(spec.widths, dtype=float)
    gains = spec.layer_weight_vars()[1:] * n[2:]  # n_t gamma_t for t = 2..L
    return np.append(np.cumprod(gains[::-1])[::-1], 1.0)


def _mlp_column(name):
    def column(spec):
        return mlp_propagation(spec, depth_scales=False)[name].to_numpy()

    column.__name__ = f"mlp_{name}"
    column.__doc__ = f"Column ``{name}`` of :func:`mcbench.theory.mlp.mlp_propagation`."
    return column


def seed_weight_entries(widths):
    r"""Seed 002 Thm 1.1: $W^l$ has shape $(n_l, n_{l+1})$, so $N_l N_{l+1}$ entries (NaN at l = L)."""
    n = np.asarray(widths, dtype=float)
    return n[1:] * np.append(n[2:], np.nan)


def _weight_entries(widths):
    n = np.asarray(widths, dtype=float)
    return n[1:] * n[:-1]  # W^l: (n_l, n_{l-1}), from eq. (1) dJ/dW^l_ij = delta^l_i phi(z^{l-1}_j)


def seed_gradient_factorization(spec):
    r"""Seed 002 eq. (4): $E[(\delta_i^l \phi(z_j^{l-1}))^2] = E[(\delta_i^l)^2] E[\phi^2(z_j^{l-1})]$.

    Evaluated with the exact finite-width E[delta^2] and E[h^2] (zero-bias
    relu or a x nets; NaN otherwise), so that only the independence step is
    tested.
    """
    df = mlp_propagation(spec, depth_scales=False)
    h2_prev = np.concatenate([[spec.input_var], df["phi2"].to_numpy()[:-1]])
    return df["qtilde_exact"].to_numpy() * h2_prev


def seed_relu_dphi2_is_dphi(activation, mean, var):
    r"""Seed 002 eq. (12), first equality: $E[\phi'(z)^2] = E[\phi'(z)]$ (relu)."""
    return expect(activation, mean, var, "dphi")


def seed_relu_dphi2_half(activation, mean, var):
    r"""Seed 002 eq. (12): $E[\phi'(z)^2] = 1/2$ (relu)."""
    return 0.5


def _dphi2(activation, mean, var):
    return expect(activation, mean, var, "dphi2")


def seed_he_backward_profile(widths):
    r"""Seed 002 eqs. (9)-(13): with $(\sigma_w^{l+1})^2 = 2/N_{l+1}$, $\tilde q^l = \tilde q^{l+1}$ (all 1)."""
    return np.ones(len(widths) - 1)


def he_fan_out_spec(widths) -> MLPSpec:
    """ReLU net with He's backward condition of seed 002 eq. (13): Var(W^l) = 2 / n_l.

    n_l is W^l's fan-out (the seed writes it N_{l+1} for its W^{l+1}).
    """
    widths = tuple(int(w) for w in widths)
    return MLPSpec(widths, "relu", weight_var=tuple(2.0 / w for w in widths[1:]))


def _he_fan_out_qtilde(widths):
    return mlp_propagation(he_fan_out_spec(widths), depth_scales=False)["qtilde"].to_numpy()


def seed_var_product(mean_x, var_x, mean_y, var_y):
    r"""Seed 004: $\mathrm{Var}[XY] = \mathrm{Var}[X]\mathrm{Var}[Y] + E[X]^2\mathrm{Var}[Y] + E[Y]^2\mathrm{Var}[X]$."""
    return var_x * var_y + mean_x**2 * var_y + mean_y**2 * var_x


def seed_mean_derivative_is_one(activation, mean, var):
    r"""Seed 004: $E[f'(s^i)] = E[f'(0)] = 1$ for tanh."""
    return 1.0


def _mean_derivative(activation, mean, var):
    return expect(activation, mean, var, "dphi")


_WIDTHS = (7, 12, 5, 9, 16)
_LINEAR_SPEC = MLPSpec(_WIDTHS, "linear", weight_var=(0.3, 0.05, 0.4, 0.2), input_var=0.6)
#: Narrow zero-bias relu net: dead layers (all z^l <= 0) are frequent.
_NARROW_RELU = MLPSpec((3, 3, 2, 3, 4), "relu", init="he_normal")

MLP_SEED_CLAIMS: list[SeedClaim] = [
    SeedClaim(
        name="sigmoid_taylor",
        seed="001",
        section="检查常用激活函数 (Taylor expansions)",
        kind="scalar",
        as_written=r"\mathrm{sigmoid}(x) = \frac{1}{2} + \frac{x}{4} - \frac{x^3}{48} + O(x^5)",
        corrected=r"\mathrm{sigmoid}(x) = \frac{1}{2} + \frac{x}{4} - \frac{x^3}{48} + \frac{x^5}{480} + O(x^7)",
        seed_fn=seed_sigmoid_taylor,
        correct_fn=_sigmoid,
        is_erratum=False,
        note="Correct (sigmoid(x) - 1/2 = tanh(x/2)/2). So sigmoid has f(0) = 1/2 and f'(0) = 1/4: "
        "neither alpha = 1 nor beta = 0, hence the seed's 4 sigmoid - 2.",
        example=(1e-3,),
    ),
    SeedClaim(
        name="tanh_taylor",
        seed="001",
        section="检查常用激活函数 (Taylor expansions)",
        kind="scalar",
        as_written=r"\tanh(x) = 0 + x - \frac{x^3}{3} + O(x^5)",
        corrected=r"\tanh(x) = x - \frac{x^3}{3} + \frac{2x^5}{15} + O(x^7)",
        seed_fn=seed_tanh_taylor,
        correct_fn=np.tanh,
        is_erratum=False,
        note="Correct.",
        example=(1e-3,),
    ),
    SeedClaim(
        name="scaled_sigmoid_unit_slope",
        seed="001",
        section="调整 sigmoid: 4 x sigmoid(x) - 2",
        kind="scalar",
        as_written=r"4 \times \mathrm{sigmoid}(x) - 2 \ (\approx x \text{ near } 0)",
        corrected=r"4\,\mathrm{sigmoid}(x) - 2 = 2\tanh(x/2) = x - \frac{x^3}{12} + O(x^5)",
        seed_fn=seed_scaled_sigmoid_linear,
        correct_fn=_scaled_sigmoid,
        is_erratum=False,
        note="Correct: value 0 and slope 1 at 0, like tanh, but the cubic term is 4x smaller "
        "(x^3/12 vs x^3/3), so it stays linear longer.",
        example=(1e-6,),
    ),
    SeedClaim(
        name="xavier_normal_notation",
        seed="001",
        section="Xavier 初始 (normal)",
        kind="fans",
        as_written=r"\mathcal{N}\left(0, \sqrt{2/(n_{t-1} + n_t)}\right)",
        corrected=r"\mathcal{N}\left(0, \frac{2}{n_{t-1} + n_t}\right) \text{ (variance), i.e. std } \sqrt{2/(n_{t-1} + n_t)}",
        seed_fn=seed_xavier_normal_var,
        correct_fn=_xavier_var,
        is_erratum=True,
        note="Right only if the second argument of N is read as a standard deviation; in the "
        "usual N(mean, variance) notation, and next to gamma_t = 2/(n_{t-1} + n_t) which the "
        "slide has just derived as the variance, it states Var = sqrt(gamma_t): 0.1 instead of "
        "0.01 for 100 + 100 units. Flagged as a notation erratum.",
        example=(100, 100),
    ),
    SeedClaim(
        name="xavier_uniform_bound",
        seed="001",
        section="Xavier 初始 (uniform)",
        kind="fans",
        as_written=r"\mathcal{U}\left(-\sqrt{6/(n_{t-1} + n_t)}, \sqrt{6/(n_{t-1} + n_t)}\right),\ "
        r"\mathrm{Var}\,\mathcal{U}[-a, a] = a^2/3",
        corrected=r"a = \sqrt{6/(n_{t-1} + n_t)} \Rightarrow \mathrm{Var} = a^2/3 = 2/(n_{t-1} + n_t)",
        seed_fn=seed_xavier_uniform_var,
        correct_fn=_xavier_var,
        is_erratum=False,
        note="Correct.",
        example=(30, 70),
    ),
    SeedClaim(
        name="linear_activation_variance",
        seed="001",
        section="假设线性的激活函数",
        kind="gaussian",
        as_written=r"\mathrm{Var}[h_i^t] = \mathrm{Var}[\alpha h_i' + \beta] = \alpha^2 \mathrm{Var}[h_i']"
        r"\ \Rightarrow \alpha = 1,\ \beta = 0",
        corrected=r"\mathrm{Var}[\alpha h' + \beta] = \alpha^2 \mathrm{Var}[h']",
        seed_fn=seed_linear_activation_var,
        correct_fn=_activation_var,
        is_erratum=False,
        note="Correct (a shift does not change a variance; E[h^t] = beta needs beta = 0).",
        example=("linear", 0.0, 1.3),
    ),
    SeedClaim(
        name="linear_forward_variance",
        seed="001",
        section="正向方差",
        kind="mlp",
        as_written=r"\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}]",
        corrected=r"\mathrm{Var}[h_i^t] = n_{t-1}\gamma_t \mathrm{Var}[h_j^{t-1}] \text{ (no activation, zero bias)}",
        seed_fn=seed_linear_forward,
        correct_fn=_mlp_column("q"),
        is_erratum=False,
        note="Correct for a linear net (the step E[w^2 h^2] = Var(w) Var(h) uses E[h] = 0).",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="linear_backward_variance",
        seed="001",
        section="反向均值和方差",
        kind="mlp",
        as_written=r"\mathrm{Var}\left[\frac{\partial \ell}{\partial h_i^{t-1}}\right] = n_t\gamma_t "
        r"\mathrm{Var}\left[\frac{\partial \ell}{\partial h_j^t}\right] \Rightarrow n_t\gamma_t = 1",
        corrected=r"\mathrm{Var}[\partial\ell/\partial h^{t-1}_i] = n_t\gamma_t \mathrm{Var}[\partial\ell/\partial h^t_j]",
        seed_fn=seed_linear_backward,
        correct_fn=_mlp_column("qtilde"),
        is_erratum=False,
        note="Correct for a linear net; qtilde^L = 1 (J = v . z^L). Forward and backward "
        "conditions differ unless n_{t-1} = n_t, hence Xavier's compromise.",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="thm11_weight_shape",
        seed="002",
        section="Theorem 1.1, eq. (3)",
        kind="widths",
        as_written=r"\mathbf{W}^l.\mathrm{shape} = (n_l, n_{l+1}),\ "
        r"\|\nabla_{W^l} J\|^2 \approx N_l N_{l+1} \mathbb{E}[(\partial J/\partial W_{ij}^l)^2]",
        corrected=r"\mathbf{W}^l.\mathrm{shape} = (n_l, n_{l-1}),\ "
        r"\|\nabla_{W^l} J\|^2 \approx N_l N_{l-1} \mathbb{E}[(\partial J/\partial W_{ij}^l)^2]",
        seed_fn=seed_weight_entries,
        correct_fn=_weight_entries,
        is_erratum=True,
        note="Eq. (1) itself has dJ/dW^l_ij = delta^l_i phi(z^{l-1}_j): i runs over layer l and "
        "j over layer l - 1. The seed's count N_l N_{l+1} is W^{l+1}'s size.",
        example=(_WIDTHS,),
    ),
    SeedClaim(
        name="thm11_independence",
        seed="002",
        section="Theorem 1.1, eq. (4)",
        kind="mlp",
        as_written=r"\text{[paraphrased] since } \delta_i^l \text{ and } \phi(z_j^{l-1}) \text{ are i.i.d.: } "
        r"\mathbb{E}[(\partial J/\partial W_{ij}^l)^2] = \mathbb{E}[(\delta_i^l)^2]\,\mathbb{E}[\phi^2(z_j^{l-1})]",
        corrected=r"\delta_i^l \text{ and } \phi(z_j^{l-1}) \text{ are neither identically distributed nor independent; "
        r"the factorisation holds at infinite width (mean field). Zero-bias relu at finite width: }"
        r"\mathbb{E}[(\delta_i^l\phi(z_j^{l-1}))^2] = \mathbb{E}[(\delta_i^l)^2]\,\mathbb{E}[\phi^2(z_j^{l-1})] / a_l,\ "
        r"a_l = \prod_{k<l}(1 - 2^{-n_k})",
        seed_fn=seed_gradient_factorization,
        correct_fn=_mlp_column("wgrad_ms_exact"),
        is_erratum=True,
        note="The premise is false: delta^l depends on z^l = W^l h^{l-1} through phi'. In a "
        "relu net a dead layer (h^{l-1} = 0, probability 1 - a_l) zeroes both delta^l and the "
        "gradient, so E[delta^2] carries the factor a_l and the product undercounts by it "
        "(0.875 at l = 2 for width 3); for tanh a numpy Monte Carlo gives -24% at width 4. "
        "Exact for linear nets (disjoint weights) and in the mean-field limit.",
        example=(_NARROW_RELU,),
    ),
    SeedClaim(
        name="eq12_relu_dphi2_equals_dphi",
        seed="002",
        section="eq. (12), first equality",
        kind="gaussian",
        as_written=r"\mathbb{E}[(\phi'(z_i^l))^2] = \mathbb{E}[\phi'(z_i^l)]",
        corrected=r"\mathbb{E}[(\phi'(z))^2] = \mathbb{E}[\phi'(z)] = P(z > 0) \text{ (relu, any law of } z)",
        seed_fn=seed_relu_dphi2_is_dphi,
        correct_fn=_dphi2,
        is_erratum=False,
        note="Correct for any law of z: relu' takes values 0 and 1 only.",
        example=("relu", 0.7, 1.3),
    ),
    SeedClaim(
        name="eq12_relu_half",
        seed="002",
        section="eq. (12)",
        kind="gaussian",
        as_written=r"\mathbb{E}[(\phi'(z_i^l))^2] = \frac{1}{2}",
        corrected=r"\mathbb{E}[(\phi'(z))^2] = \Phi(\mu/\sqrt{q}) \text{ for } z \sim N(\mu, q); "
        r"= 1/2 \text{ iff } \mu = 0",
        seed_fn=seed_relu_dphi2_half,
        correct_fn=_dphi2,
        is_erratum=False,
        note="Correct in the seed's setting (zero-mean pre-activations: zero bias mean). With a "
        "bias mean beta it is Phi(beta/sqrt(q)) (0.69 at beta/sqrt(q) = 0.5); at finite width "
        "dead layers make it a_l/2 (see thm11_independence).",
        example=("relu", 0.0, 1.3),
    ),
    SeedClaim(
        name="eq13_he_fan_out",
        seed="002",
        section="eq. (13)",
        kind="widths",
        as_written=r"(\sigma_w^{l+1})^2 = \frac{2}{N_{l+1}} \Rightarrow \tilde q^l = \tilde q^{l+1}",
        corrected=r"\mathrm{Var}(W^{l+1}) = 2/N_{l+1} \text{ (fan-out of } W^{l+1}) "
        r"\Rightarrow \tilde q^l = \tilde q^{l+1}",
        seed_fn=seed_he_backward_profile,
        correct_fn=_he_fan_out_qtilde,
        is_erratum=False,
        note="Correct (mean field): it is He's backward (fan-out) condition. The usual he_normal "
        "uses fan-in, 2/N_l, which keeps q instead; with it qtilde^l = n_L / n_l, so the two "
        "agree only for constant width.",
        example=(_WIDTHS,),
    ),
    SeedClaim(
        name="glorot_product_formula",
        seed="003",
        section="Question / answer section 3",
        kind="mlp",
        as_written=r"Var(z^i) = Var(x)\prod_{i'=0}^{i-1} n_{i'} Var(W^{i'})",
        corrected=r"\mathrm{Var}(z^l) = \mathrm{Var}(x) \prod_{k=1}^{l} n_{k-1} \mathrm{Var}(W^k) "
        r"\text{ (linear regime, zero bias)}",
        seed_fn=glorot_product_variance,
        correct_fn=_mlp_column("q"),
        is_erratum=False,
        note="Exact for linear nets (Glorot's W^{i'} maps layer i' to i' + 1, our W^{i'+1}). For "
        "tanh it is the f'(0) = 1 linearisation and overestimates: Var(tanh(s)) = 0.394 Var(s) at "
        "Var(s) = 1.",
        example=(_LINEAR_SPEC,),
    ),
    SeedClaim(
        name="var_product_independent",
        seed="004",
        section="一、向前传球, step 4",
        kind="moments",
        as_written=r"\mathrm{Var}[XY] = \mathrm{Var}[X]\mathrm{Var}[Y] + E[X]^2\mathrm{Var}[Y] + E[Y]^2\mathrm{Var}[X]",
        corrected=r"\mathrm{Var}[XY] = E[X^2]E[Y^2] - E[X]^2E[Y]^2 \text{ (X, Y independent)}",
        seed_fn=seed_var_product,
        correct_fn=product_variance,
        is_erratum=False,
        note="Correct for independent X, Y (expand E[X^2] = Var X + E[X]^2).",
        example=(0.7, 1.3, -0.4, 2.1),
    ),
    SeedClaim(
        name="tanh_mean_derivative",
        seed="004",
        section="二、反向传递, first bullet",
        kind="gaussian",
        as_written=r"\mathbb{E}[f'(s^i)] = \mathbb{E}[f'(0)] = 1",
        corrected=r"\mathbb{E}[\tanh'(s)] < 1 \text{ for Var}(s) > 0: 0.990, 0.916, 0.606 "
        r"\text{ at Var}(s) = 0.01, 0.1, 1",
        seed_fn=seed_mean_derivative_is_one,
        correct_fn=_mean_derivative,
        is_erratum=True,
        note="E[s] = 0 does not give E[f'(s)] = f'(E[s]) (f' is not linear); it is the small-"
        "variance limit, 1 - Var(s) + O(Var^2). The backward pass actually needs E[f'(s)^2] = 0.464 "
        "at Var(s) = 1.",
        example=("tanh", 0.0, 1.0),
    ),
]
