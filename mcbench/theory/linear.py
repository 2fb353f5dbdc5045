r"""The linearised network: what a Taylor expansion of phi at 0 predicts for the forward variance.

Near z = 0 an activation behaves like its tangent line, phi(z) ~ phi(0) +
phi'(0) z (seed 001's argument for sigmoid, tanh and 4 sigmoid - 2). With
zero-mean pre-activations, E[phi(z)^2] ~ phi(0)^2 + phi'(0)^2 q, so the
q-map of :mod:`mcbench.theory.mlp` becomes linear:

    q^1 = sigma_w1^2 input_var + sigma_b^2,
    q^l = sigma_wl^2 (phi(0)^2 + phi'(0)^2 q^{l-1}) + sigma_b^2,

with sigma_wl^2 = s_l n_{l-1}. It holds while q stays small; the validation
reports the depth at which the exact q-map leaves it by more than 10%.
"""

from __future__ import annotations

import numpy as np

from mcbench.spec import MLPSpec


def linear_prediction_q(spec: MLPSpec) -> np.ndarray:
    """q^l, l = 1..L, of the network with phi replaced by its tangent line at 0.

    Parameters
    ----------
    spec : MLPSpec
        A network whose bias has mean 0 (``"zero"`` or ``"normal"``): the
        expansion is about z = 0.

    Returns
    -------
    ndarray, shape (L,), units of input_var

    Examples
    --------
    >>> from mcbench.spec import MLPSpec
    >>> from mcbench.theory import linear_prediction_q
    >>> linear_prediction_q(MLPSpec([8, 8, 8], "tanh", "lecun_normal", input_var=0.01))
    array([0.01, 0.01])
    """
    kind, value = spec.bias
    if kind == "constant" and value != 0.0:
        raise ValueError(f"bias must have mean 0 for the expansion about z = 0, got {spec.bias!r}")
    bias_var = value if kind == "normal" else 0.0
    slope2 = float(spec.activation.derivative(np.zeros(1))[0] ** 2)
    offset2 = float(spec.activation(np.zeros(1))[0] ** 2)
    sigma_w2 = spec.layer_weight_vars() * np.asarray(spec.widths[:-1], dtype=float)
    q = np.empty(spec.depth)
    q[0] = sigma_w2[0] * spec.input_var + bias_var
    for l in range(1, spec.depth):
        q[l] = sigma_w2[l] * (slope2 * q[l - 1] + offset2) + bias_var
    return q
