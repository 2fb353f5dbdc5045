"""Monte Carlo estimators: parallel, deterministic Numba kernels behind a thin Python API.

- :func:`sample_mvn`: samples of N(mean, cov);
- :func:`relu_moments`: mean and covariance of ReLU(X), X ~ N(mean, cov), streaming;
- :func:`mlp_propagation`: per-layer forward and backward statistics of random MLPs.

Every kernel draws chunk (or network) ``c``'s numbers from a stream that is a
pure function of (seed, c) and merges in a fixed order, so the same seed gives
the same bits on any number of threads.
"""

from mcbench.mc.mlp import mlp_propagation
from mcbench.mc.relu import ReluMomentsResult, relu_moments
from mcbench.mc.sampling import sample_mvn

__all__ = ["ReluMomentsResult", "mlp_propagation", "relu_moments", "sample_mvn"]
