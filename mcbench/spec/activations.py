"""Activations: Numba scalar phi and phi', their registry, and the form the kernels take.

Every activation is a pair of jit-compiled scalar functions ``f(x, a, b)``;
the Monte Carlo kernels receive them as C function pointers (one compiled
kernel serves every activation), the theory as Python callables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numba import cfunc, types

from mcbench._core.jit import jit

# ------------------------------------------------------------ activations ---

_SQRT2 = math.sqrt(2.0)
_SQRT2_OVER_PI = math.sqrt(2.0 / math.pi)
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


@jit
def _linear(x, a, b):
    return a * x + b


@jit
def _d_linear(x, a, b):
    return a


@jit
def _relu(x, a, b):
    return x if x > 0 else 0.0 * x


@jit
def _d_relu(x, a, b):
    return 1.0 if x > 0 else 0.0


@jit
def _piecewise_linear(x, a, b):
    return b * x if x > 0 else a * x


@jit
def _d_piecewise_linear(x, a, b):
    return b if x > 0 else a


@jit
def _tanh(x, a, b):
    return math.tanh(x)


@jit
def _d_tanh(x, a, b):
    t = math.tanh(x)
    return 1.0 - t * t


@jit
def _sigmoid(x, a, b):
    # Split by sign so exp never overflows.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit
def _d_sigmoid(x, a, b):
    s = _sigmoid(x, a, b)
    return s * (1.0 - s)


@jit
def _scaled_sigmoid(x, a, b):
    return 4.0 * _sigmoid(x, a, b) - 2.0


@jit
def _d_scaled_sigmoid(x, a, b):
    return 4.0 * _d_sigmoid(x, a, b)


@jit
def _erf(x, a, b):
    return math.erf(x)


@jit
def _d_erf(x, a, b):
    return 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@jit
def _gelu(x, a, b):
    return 0.5 * x * (1.0 + math.erf(x / _SQRT2))


@jit
def _d_gelu(x, a, b):
    return 0.5 * (1.0 + math.erf(x / _SQRT2)) + x * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@jit
def _silu(x, a, b):
    return x * _sigmoid(x, a, b)


@jit
def _d_silu(x, a, b):
    s = _sigmoid(x, a, b)
    return s * (1.0 + x * (1.0 - s))


@jit
def _elu(x, a, b):
    return x if x > 0 else a * math.expm1(x)


@jit
def _d_elu(x, a, b):
    return 1.0 if x > 0 else a * math.exp(x)


@jit
def _selu(x, a, b):
    return _SELU_SCALE * (x if x > 0 else _SELU_ALPHA * math.expm1(x))


@jit
def _d_selu(x, a, b):
    return _SELU_SCALE * (1.0 if x > 0 else _SELU_ALPHA * math.exp(x))


@jit
def _softplus(x, a, b):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@jit
def _d_softplus(x, a, b):
    return _sigmoid(x, a, b)


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity phi with its derivative phi'.

    ``phi(x, a, b)`` and ``dphi(x, a, b)`` are Numba ``@njit`` scalar functions;
    ``a`` and ``b`` are two float parameters (``linear`` uses them as
    alpha and beta in alpha*x + beta, ``elu`` uses ``a`` as its alpha; others
    ignore them; ``piecewise_linear`` uses them as the slopes a x for x < 0,
    b x for x > 0). ``kind`` tells the theory which closed forms apply
    (``"relu"``, ``"linear"``, ``"erf"``, ``"piecewise_linear"``) or
    ``"generic"`` for adaptive quadrature.

    Examples
    --------
    >>> from mcbench.spec import get_activation
    >>> relu = get_activation("relu")
    >>> relu.kind
    'relu'
    >>> relu.phi(-1.0, relu.a, relu.b) == 0.0, float(relu.phi(2.0, relu.a, relu.b))
    (True, 2.0)
    >>> [float(relu.dphi(x, relu.a, relu.b)) for x in (-1.0, 2.0)]
    [0.0, 1.0]
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


@jit
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
#: Values of ``Activation.kind``: which closed forms the theory may use.
KINDS = ("generic", "relu", "linear", "erf", "piecewise_linear")

_SCALAR_SIGNATURE = types.float64(types.float64, types.float64, types.float64)
_C_FUNCTIONS: dict = {}


def _c_function(fn):
    if fn not in _C_FUNCTIONS:
        try:
            _C_FUNCTIONS[fn] = cfunc(_SCALAR_SIGNATURE, cache=True)(fn.py_func)
        except Exception:  # noqa: BLE001 -- defined in a REPL, notebook, doctest or a run-as-script file:
            # no file to cache beside, or a cache entry whose module cannot be imported again
            _C_FUNCTIONS[fn] = cfunc(_SCALAR_SIGNATURE, cache=False)(fn.py_func)
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
    kind : {"generic", "relu", "linear", "erf", "piecewise_linear"}
        Which closed forms the theory may use; "generic" means quadrature.
    odd : bool
        Whether phi(-x) = -phi(x) (used only for reporting).

    Returns
    -------
    Activation
        The registered activation; ``MLPSpec(..., activation=name)`` finds it.

    Raises
    ------
    ValueError
        ``name`` is empty or already registered (without ``overwrite``), or
        ``kind`` is unknown.
    TypeError
        ``phi`` or ``dphi`` is not a Numba ``@njit`` function.

    Examples
    --------
    A clipped ReLU, min(max(x, 0), 6), with its derivative (1 on (0, 6)):

    >>> from numba import njit
    >>> import mcbench
    >>> @njit
    ... def relu6(x, a, b):
    ...     return min(max(x, 0.0), 6.0)
    >>> @njit
    ... def d_relu6(x, a, b):
    ...     return 1.0 if 0.0 < x < 6.0 else 0.0
    >>> act = mcbench.register_activation("relu6_doc", relu6, d_relu6, overwrite=True)
    >>> spec = mcbench.MLPSpec([16, 16, 16], "relu6_doc", "he_normal")
    >>> [float(v) for v in act([-1.0, 3.0, 9.0])]
    [0.0, 3.0, 6.0]
    """
    if not isinstance(name, str) or not name:
        raise ValueError("activation name must be a non-empty string")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
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

#: The piecewise-linear family behind :func:`abrelu` and :func:`leaky_relu`. It is deliberately not
#: in the registry (:func:`activation_names`), so ``validate``'s catalogue, one mean-field check per
#: registered activation, and its report.csv are unchanged by it.
_PIECEWISE_LINEAR = Activation("leaky_relu", _piecewise_linear, _d_piecewise_linear, 0.01, 1.0,
                               "piecewise_linear", False)


def get_activation(activation) -> Activation:
    """Look up an activation by name (or pass an :class:`Activation` through).

    Examples
    --------
    >>> from mcbench.spec import get_activation
    >>> act = get_activation("tanh")
    >>> act.name, act.odd
    ('tanh', True)
    >>> get_activation(act) is act
    True
    >>> [round(float(v), 6) for v in act([0.0, 1.0])]
    [0.0, 0.761594]
    """
    if isinstance(activation, Activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {activation!r}; known: {', '.join(sorted(_ACTIVATIONS))}"
        ) from None


def activation_names() -> list[str]:
    """The names of the registered activations, sorted.

    Examples
    --------
    >>> import mcbench
    >>> names = mcbench.activation_names()
    >>> "relu" in names and "tanh" in names
    True
    >>> names == sorted(names)
    True
    """
    return sorted(_ACTIVATIONS)


def linear(alpha=1.0, beta=0.0) -> Activation:
    """The activation alpha*x + beta (seed 001's check of a linear activation).

    Examples
    --------
    >>> from mcbench.spec import linear
    >>> act = linear(2.0, 1.0)
    >>> act.kind
    'linear'
    >>> float(act.phi(3.0, act.a, act.b)), float(act.dphi(3.0, act.a, act.b))
    (7.0, 2.0)
    """
    return _ACTIVATIONS["linear"].with_params(alpha, beta)


def abrelu(a: float, b: float) -> Activation:
    """The piecewise-linear activation phi(x) = a x for x < 0, b x for x > 0.

    ``abrelu(0, 1)`` is ReLU and ``abrelu(s, 1)`` the leaky ReLU of slope s;
    ``abrelu(-1, 1)`` is |x|. The theory uses closed forms (Gaussian
    integrals of piecewise-linear functions, :mod:`mcbench.theory.gaussian`).

    Parameters
    ----------
    a, b : float
        Slopes for x < 0 and x > 0 (finite).

    Returns
    -------
    Activation
        Named ``leaky_relu``, kind ``"piecewise_linear"``, with these slopes
        (pass it as ``MLPSpec(widths, abrelu(a, b), ...)``; it is not
        looked up by name).

    Examples
    --------
    >>> from mcbench.spec import abrelu
    >>> [float(v) for v in abrelu(-0.5, 2.0)([-2.0, 3.0])]
    [1.0, 6.0]
    """
    for label, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{label} must be a finite real number, got {value!r}")
    return _PIECEWISE_LINEAR.with_params(a, b)


def leaky_relu(slope: float = 0.01) -> Activation:
    """Leaky ReLU, phi(x) = slope x for x < 0 and x for x > 0: ``abrelu(slope, 1)``.

    Parameters
    ----------
    slope : float
        Slope for x < 0 (finite).

    Returns
    -------
    Activation

    Examples
    --------
    >>> from mcbench.spec import leaky_relu
    >>> float(leaky_relu(0.1)([-1.0])[0])
    -0.1
    """
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope):
        raise ValueError(f"slope must be a finite real number, got {slope!r}")
    return abrelu(slope, 1.0)
