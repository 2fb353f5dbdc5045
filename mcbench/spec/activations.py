"""Specification of a deep random MLP: widths, activation, weight init, bias, input.

The data flow of mcbench starts here: an :class:`MLPSpec` is what both the
theory (:func:`mcbench.theory.mlp_propagation`) and the Monte Carlo
(:func:`mcbench.mc.mlp_propagation`) consume.

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
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numba import cfunc, njit, types

# ------------------------------------------------------------ activations ---

_SQRT2 = math.sqrt(2.0)
_SQRT2_OVER_PI = math.sqrt(2.0 / math.pi)
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


@njit(cache=True)
def _linear(x, a, b):
    return a * x + b


@njit(cache=True)
def _d_linear(x, a, b):
    return a


@njit(cache=True)
def _relu(x, a, b):
    return x if x > 0 else 0.0 * x


@njit(cache=True)
def _d_relu(x, a, b):
    return 1.0 if x > 0 else 0.0


@njit(cache=True)
def _tanh(x, a, b):
    return math.tanh(x)


@njit(cache=True)
def _d_tanh(x, a, b):
    t = math.tanh(x)
    return 1.0 - t * t


@njit(cache=True)
def _sigmoid(x, a, b):
    # Split by sign so exp never overflows.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True)
def _d_sigmoid(x, a, b):
    s = _sigmoid(x, a, b)
    return s * (1.0 - s)


@njit(cache=True)
def _scaled_sigmoid(x, a, b):
    return 4.0 * _sigmoid(x, a, b) - 2.0


@njit(cache=True)
def _d_scaled_sigmoid(x, a, b):
    return 4.0 * _d_sigmoid(x, a, b)


@njit(cache=True)
def _erf(x, a, b):
    return math.erf(x)


@njit(cache=True)
def _d_erf(x, a, b):
    return 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@njit(cache=True)
def _gelu(x, a, b):
    return 0.5 * x * (1.0 + math.erf(x / _SQRT2))


@njit(cache=True)
def _d_gelu(x, a, b):
    return 0.5 * (1.0 + math.erf(x / _SQRT2)) + x * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@njit(cache=True)
def _silu(x, a, b):
    return x * _sigmoid(x, a, b)


@njit(cache=True)
def _d_silu(x, a, b):
    s = _sigmoid(x, a, b)
    return s * (1.0 + x * (1.0 - s))


@njit(cache=True)
def _elu(x, a, b):
    return x if x > 0 else a * math.expm1(x)


@njit(cache=True)
def _d_elu(x, a, b):
    return 1.0 if x > 0 else a * math.exp(x)


@njit(cache=True)
def _selu(x, a, b):
    return _SELU_SCALE * (x if x > 0 else _SELU_ALPHA * math.expm1(x))


@njit(cache=True)
def _d_selu(x, a, b):
    return _SELU_SCALE * (1.0 if x > 0 else _SELU_ALPHA * math.exp(x))


@njit(cache=True)
def _softplus(x, a, b):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True)
def _d_softplus(x, a, b):
    return _sigmoid(x, a, b)


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity phi with its derivative phi'.

    ``phi(x, a, b)`` and ``dphi(x, a, b)`` are Numba ``@njit`` scalar functions;
    ``a`` and ``b`` are two float parameters (``linear`` uses them as
    alpha and beta in alpha*x + beta, ``elu`` uses ``a`` as its alpha; others
    ignore them). ``kind`` tells the theory which closed forms apply
    (``"relu"``, ``"linear"``, ``"erf"``) or ``"generic"`` for Gauss-Hermite
    quadrature.
    """

    name: str
    phi: Callable = field(repr=False)
    dphi: Callable = field(repr=False)
    a: float = 0.0
    b: float = 0.0
    kind: str = "generic"
    odd: bool = False

    def __call__(self, x):
        """phi applied elementwise to a numpy array (float64)."""
        return _apply(self.kernel_functions()[0], np.asarray(x, dtype=np.float64), self.a, self.b)

    def derivative(self, x):
        """phi' applied elementwise to a numpy array (float64)."""
        return _apply(self.kernel_functions()[1], np.asarray(x, dtype=np.float64), self.a, self.b)

    def kernel_functions(self):
        """(phi, dphi) as C function pointers, the form the Monte Carlo kernels take.

        Passing pointers typed only by their signature lets one compiled (and
        disk-cached) kernel serve every activation; passing the njit
        dispatchers themselves would specialise, and recompile, the kernel
        for each activation in every new process.
        """
        return _c_function(self.phi), _c_function(self.dphi)

    def with_params(self, a=None, b=None) -> "Activation":
        return Activation(self.name, self.phi, self.dphi, self.a if a is None else float(a),
                          self.b if b is None else float(b), self.kind, self.odd)


@njit(cache=True)
def _apply_flat(fn, x, out, a, b):
    # fn is a C function pointer (typed by signature only), so this one cached
    # specialisation serves every activation; an njit dispatcher argument
    # would key the on-disk cache by the dispatcher's identity, which never
    # matches across processes.
    for i in range(x.size):
        out[i] = fn(x[i], a, b)


def _apply(fn, x, a, b):
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty_like(flat)
    _apply_flat(fn, flat, out, a, b)
    return out.reshape(np.shape(x))


_ACTIVATIONS: dict[str, Activation] = {}

_SCALAR_SIGNATURE = types.float64(types.float64, types.float64, types.float64)
_C_FUNCTIONS: dict = {}


def _c_function(fn):
    if fn not in _C_FUNCTIONS:
        _C_FUNCTIONS[fn] = cfunc(_SCALAR_SIGNATURE, cache=True)(fn.py_func)
    return _C_FUNCTIONS[fn]


def register_activation(name, phi, dphi, *, a=0.0, b=0.0, kind="generic", odd=False, overwrite=False):
    """Register a custom activation under ``name``.

    Parameters
    ----------
    phi, dphi : Numba ``@njit`` functions ``f(x: float, a: float, b: float) -> float``
        The activation and its derivative. They run inside the Monte Carlo
        kernels, so they must be Numba-compilable.
    a, b : float
        Default parameters passed to phi and dphi.
    kind : {"generic", "relu", "linear", "erf"}
        Which closed forms the theory may use; "generic" means quadrature.
    odd : bool
        Whether phi(-x) = -phi(x) (used only for reporting).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("activation name must be a non-empty string")
    if name in _ACTIVATIONS and not overwrite:
        raise ValueError(f"activation {name!r} is already registered (pass overwrite=True to replace it)")
    for label, fn in (("phi", phi), ("dphi", dphi)):
        if not hasattr(fn, "py_func"):
            raise TypeError(f"{label} for activation {name!r} must be a numba.njit function")
    act = Activation(name, phi, dphi, float(a), float(b), kind, odd)
    _ACTIVATIONS[name] = act
    return act


for _name, _phi, _dphi, _kind, _odd, _a in [
    ("linear", _linear, _d_linear, "linear", False, 1.0),
    ("relu", _relu, _d_relu, "relu", False, 0.0),
    ("tanh", _tanh, _d_tanh, "generic", True, 0.0),
    ("sigmoid", _sigmoid, _d_sigmoid, "generic", False, 0.0),
    ("scaled_sigmoid", _scaled_sigmoid, _d_scaled_sigmoid, "generic", True, 0.0),
    ("erf", _erf, _d_erf, "erf", True, 0.0),
    ("gelu", _gelu, _d_gelu, "generic", False, 0.0),
    ("silu", _silu, _d_silu, "generic", False, 0.0),
    ("elu", _elu, _d_elu, "generic", False, 1.0),
    ("selu", _selu, _d_selu, "generic", False, 0.0),
    ("softplus", _softplus, _d_softplus, "generic", False, 0.0),
]:
    register_activation(_name, _phi, _dphi, a=_a, kind=_kind, odd=_odd)


def get_activation(activation) -> Activation:
    """Look up an activation by name (or pass an :class:`Activation` through)."""
    if isinstance(activation, Activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {activation!r}; known: {', '.join(sorted(_ACTIVATIONS))}"
        ) from None


def activation_names() -> list[str]:
    return sorted(_ACTIVATIONS)


def linear(alpha=1.0, beta=0.0) -> Activation:
    """The activation alpha*x + beta (seed 001's check of a linear activation)."""
    return _ACTIVATIONS["linear"].with_params(alpha, beta)


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
    """Half-width a of U(-a, a) with variance a^2/3 = ``variance``."""
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
        init = "weight_var" if self.weight_var is not None else self.init
        act = self.activation.name
        if act == "linear":
            act = f"linear({self.activation.a:g},{self.activation.b:g})"
        return f"{act}/{init}/{'x'.join(map(str, self.widths[:2]))}..x{self.depth}"


def _check_bias(bias):
    if bias == "zero" or bias is None:
        return ("zero", 0.0)
    if isinstance(bias, tuple) and len(bias) == 2 and bias[0] in ("normal", "constant"):
        value = float(bias[1])
        if not np.isfinite(value):
            raise ValueError(f"bias parameter must be finite, got {bias[1]!r}")
        if bias[0] == "normal" and value < 0:
            raise ValueError(f"bias variance must be non-negative, got {value}")
        return (bias[0], value)
    raise ValueError(f"bias must be 'zero', ('normal', var) or ('constant', value), got {bias!r}")
