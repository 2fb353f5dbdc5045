"""Monte Carlo estimators (parallel Numba kernels behind a thin Python API)."""

from .mlp import mlp_propagation
from .relu import ReluMomentsResult, relu_moments

__all__ = ["ReluMomentsResult", "mlp_propagation", "relu_moments"]
