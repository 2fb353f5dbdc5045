"""Monte Carlo estimators (parallel Numba kernels behind a thin Python API)."""

from .relu import ReluMomentsResult, relu_moments

__all__ = ["ReluMomentsResult", "relu_moments"]
