"""What a network is: activations (phi, phi', their registry), init schemes and :class:`MLPSpec`.

The data flow of mcbench starts here: an :class:`MLPSpec` is what both the
theory (:func:`mcbench.theory.mlp_propagation`) and the Monte Carlo
(:func:`mcbench.mc.mlp_propagation`) consume.
"""

from mcbench.spec.activations import (
    Activation,
    abrelu,
    activation_names,
    get_activation,
    leaky_relu,
    linear,
    register_activation,
)
from mcbench.spec.network import INIT_SCHEMES, MLPSpec, init_variance, uniform_bound

__all__ = [
    "INIT_SCHEMES",
    "Activation",
    "MLPSpec",
    "abrelu",
    "activation_names",
    "get_activation",
    "init_variance",
    "leaky_relu",
    "linear",
    "register_activation",
    "uniform_bound",
]
