"""Plain-numpy reference implementations that the Numba kernels are checked against.

Deliberately naive: they hold the whole sample in memory and use numpy's own
reductions, so they share no code with the kernels under test.
"""

from __future__ import annotations

import numpy as np


def relu_moments_from_samples(x):
    """Mean and (ddof=1) covariance of max(x, 0) for samples x of shape (n, d)."""
    y = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    return y.mean(axis=0), np.atleast_2d(np.cov(y, rowvar=False))


def random_spd(d, rng, scale=1.0, jitter=0.1):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + jitter * np.eye(d))
