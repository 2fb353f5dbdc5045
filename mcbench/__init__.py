"""mcbench: Numba Monte Carlo benchmarks for signal propagation in random networks.

Public API
----------
sample_mvn        deterministic parallel sampling from N(mean, cov)
mc                Monte Carlo estimators (``mc.relu_moments``)
theory            closed forms (``theory.relu_moments``, ``theory.bvn_cdf``, ...)
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .sampling import sample_mvn
from . import mc

try:
    __version__ = _version("mcbench")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["sample_mvn", "__version__"]
