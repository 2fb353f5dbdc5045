"""A deep random MLP: widths, weight init schemes, bias law, input variance.

An :class:`MLPSpec` is what both the theory (:func:`mcbench.theory.mlp_propagation`)
and the Monte Carlo (:func:`mcbench.mc.mlp_propagation`) consume.

Conventions
-----------
Layer ``l = 1..L`` maps ``h^{l-1}`` (width ``n_{l-1}``) to the pre-activation
``z^l = W^l h^{l-1} + b^l`` (width ``n_l``), and ``h^l = phi(z^l)``; the input
is ``h^0 = x ~ N(0, input_var I)``. ``W^l`` has shape ``(n_l, n_{l-1})``, so
``fan_in = n_{l-1}`` and ``fan_out = n_l``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from mcbench.spec.activations import Activation, get_activation

# ------------------------------------------------------------------ inits ---

#: scheme -> (distribution, variance rule)
INIT_SCHEMES = {
    "lecun_normal": ("normal", "fan_in"),
    "lecun_uniform": ("uniform", "fan_in"),
    "xavier_normal": ("normal", "fan_avg"),
    "xavier_uniform": ("uniform", "fan_avg"),
    "glorot_normal": ("normal", "fan_avg"),
    "glorot_uniform": ("uniform", "fan_avg"),
    "he_normal": ("normal", "he"),
    "he_uniform": ("uniform", "he"),
}


def init_variance(scheme: str, fan_in: int, fan_out: int) -> float:
    """Var(W_ij) of an init scheme.

    ``lecun_*``: 1/fan_in; ``xavier_*``/``glorot_*``: 2/(fan_in + fan_out)
    (Glorot & Bengio's compromise between the forward condition
    fan_in Var(W) = 1 and the backward one fan_out Var(W) = 1); ``he_*``:
    2/fan_in. The uniform variants draw U(-a, a) with a = sqrt(3 Var), whose
    variance a^2/3 equals the normal variant's exactly (for Xavier,
    a = sqrt(6/(fan_in + fan_out))).

    Examples
    --------
    >>> from mcbench.spec import init_variance
    >>> init_variance("he_normal", 100, 50)
    0.02
    >>> init_variance("xavier_uniform", 100, 50) == init_variance("xavier_normal", 100, 50) == 2 / 150
    True
    >>> init_variance("lecun_normal", 100, 50)
    0.01
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init {scheme!r}; known: {', '.join(INIT_SCHEMES)}")
    for label, v in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{label} must be a positive integer, got {v!r}")
    rule = INIT_SCHEMES[scheme][1]
    if rule == "fan_in":
        return 1.0 / fan_in
    if rule == "he":
        return 2.0 / fan_in
    return 2.0 / (fan_in + fan_out)


def uniform_bound(variance: float) -> float:
    """Half-width a of U(-a, a) with variance a^2/3 = ``variance``.

    Examples
    --------
    >>> import math
    >>> from mcbench.spec import init_variance, uniform_bound
    >>> a = uniform_bound(init_variance("xavier_uniform", 100, 50))
    >>> math.isclose(a, math.sqrt(6 / 150))
    True
    >>> math.isclose(a**2 / 3, 2 / 150)
    True
    """
    return math.sqrt(3.0 * variance)


# ------------------------------------------------------------------- spec ---


@dataclass(frozen=True)
class MLPSpec:
    """A random MLP at initialisation.

    Parameters
    ----------
    widths : sequence of int, length L + 1 >= 2
        ``[n0, n1, ..., nL]``: input width, then each layer's width.
    activation : str or Activation
        Name from :func:`activation_names` (``linear``, ``relu``, ``tanh``,
        ``sigmoid``, ``scaled_sigmoid`` (4 sigmoid - 2), ``erf``, ``gelu``,
        ``silu``, ``elu``, ``selu``, ``softplus``), or a registered/custom
        :class:`Activation` (e.g. ``mcbench.spec.linear(alpha, beta)``).
    init : str
        Weight init scheme (:data:`INIT_SCHEMES`); ignored when ``weight_var``
        is given.
    weight_var : float, sequence of float, or None
        Explicit Var(W_ij): one value for all layers, or one per layer
        (Gaussian weights).
    bias : "zero", ("normal", var) or ("constant", value)
        Bias at initialisation, the same law for every layer.
    input_var : float
        Input x ~ N(0, input_var I).

    Examples
    --------
    >>> import mcbench
    >>> spec = mcbench.MLPSpec([784, 256, 256, 10], "relu", "he_normal")
    >>> spec.depth
    3
    >>> spec.label()
    'relu/he_normal/784,256x2,10'
    >>> [round(float(v), 6) for v in spec.layer_weight_vars()]   # 2 / fan_in
    [0.002551, 0.007812, 0.007812]

    Explicit weight variances and a random bias:

    >>> spec = mcbench.MLPSpec([16, 16, 16], "tanh", weight_var=1.5 / 16, bias=("normal", 0.05))
    >>> spec.bias
    ('normal', 0.05)
    """

    widths: tuple
    activation: Activation | str = "relu"
    init: str = "he_normal"
    weight_var: float | tuple | None = None
    bias: str | tuple = "zero"
    input_var: float = 1.0

    def __post_init__(self):
        widths = tuple(self.widths) if np.ndim(self.widths) else None
        if widths is None or len(widths) < 2:
            raise ValueError(f"widths must list at least 2 layer widths [n0, ..., nL], got {self.widths!r}")
        for i, w in enumerate(widths):
            if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
                raise ValueError(f"widths[{i}] must be an integer >= 1, got {w!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        object.__setattr__(self, "activation", get_activation(self.activation))
        if self.weight_var is None:
            if self.init not in INIT_SCHEMES:
                raise ValueError(f"unknown init {self.init!r}; known: {', '.join(INIT_SCHEMES)}")
        else:
            wv = np.broadcast_to(np.asarray(self.weight_var, dtype=float), (self.depth,)) \
                if np.ndim(self.weight_var) == 0 else np.asarray(self.weight_var, dtype=float)
            if wv.shape != (self.depth,):
                raise ValueError(f"weight_var must be a scalar or have one entry per layer ({self.depth}), "
                                 f"got shape {wv.shape}")
            if not np.all(np.isfinite(wv)) or np.any(wv < 0):
                raise ValueError(f"weight_var must be finite and non-negative, got {self.weight_var!r}")
            object.__setattr__(self, "weight_var", tuple(float(v) for v in wv))
        object.__setattr__(self, "bias", _check_bias(self.bias))
        object.__setattr__(self, "input_var", _real_number(self.input_var, "input_var"))
        if not np.isfinite(self.input_var) or self.input_var < 0:
            raise ValueError(f"input_var must be finite and non-negative, got {self.input_var!r}")

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.widths) - 1

    def layer_weight_vars(self) -> np.ndarray:
        """Var(W^l) for l = 1..L, shape (L,)."""
        if self.weight_var is not None:
            return np.asarray(self.weight_var, dtype=float)
        return np.array([init_variance(self.init, self.widths[l - 1], self.widths[l])
                         for l in range(1, self.depth + 1)])

    def weight_distribution(self) -> str:
        """``"normal"`` or ``"uniform"``."""
        return "normal" if self.weight_var is not None else INIT_SCHEMES[self.init][0]

    def bias_moments(self) -> tuple[float, float]:
        """(mean, variance) of each bias entry."""
        kind = self.bias[0]
        if kind == "zero":
            return 0.0, 0.0
        if kind == "normal":
            return 0.0, float(self.bias[1])
        return float(self.bias[1]), 0.0

    def label(self) -> str:
        """``activation/init/widths``, the widths as ``mcbench check --widths`` writes them (``784,256x2,10``)."""
        init = "weight_var" if self.weight_var is not None else self.init
        act = self.activation.name
        if act == "linear":
            act = f"linear({self.activation.a:g},{self.activation.b:g})"
        elif self.activation.kind == "piecewise_linear":
            act = f"abrelu({self.activation.a:g},{self.activation.b:g})"
        runs = []  # consecutive equal widths as (width, count)
        for w in self.widths:
            if runs and runs[-1][0] == w:
                runs[-1][1] += 1
            else:
                runs.append([w, 1])
        widths = ",".join(f"{w}x{k}" if k > 1 else str(w) for w, k in runs)
        return f"{act}/{init}/{widths}"


def _real_number(value, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name`` (strings, complex numbers, None are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_bias(bias):
    if bias == "zero" or bias is None:
        return ("zero", 0.0)
    if isinstance(bias, tuple) and len(bias) == 2 and bias[0] in ("normal", "constant"):
        what = "bias variance" if bias[0] == "normal" else "bias value"
        value = _real_number(bias[1], f"{what} (bias[1] of {bias!r})")
        if not np.isfinite(value):
            raise ValueError(f"bias parameter must be finite, got {bias[1]!r}")
        if bias[0] == "normal" and value < 0:
            raise ValueError(f"bias variance must be non-negative, got {value}")
        return (bias[0], value)
    raise ValueError(f"bias must be 'zero', ('normal', var) or ('constant', value), got {bias!r}")
