"""A user activation for `mcbench check --register docs/examples/relu6.py --activation relu6`.

The clipped ReLU min(max(x, 0), 6) and its derivative, as Numba functions f(x, a, b).
"""

from numba import njit

import mcbench


@njit
def relu6(x, a, b):
    return min(max(x, 0.0), 6.0)


@njit
def d_relu6(x, a, b):
    return 1.0 if 0.0 < x < 6.0 else 0.0


mcbench.register_activation("relu6", relu6, d_relu6, overwrite=True)
