"""mcbench: Numba Monte Carlo benchmarks for signal propagation in random networks.

Public API
----------
sample_mvn        deterministic parallel sampling from N(mean, cov)
MLPSpec           a random MLP: widths, activation, init, bias, input variance
mc                Monte Carlo estimators (``mc.relu_moments``, ``mc.mlp_propagation``)
theory            closed forms (``theory.relu_moments``, ``theory.mlp_propagation``,
                  ``theory.bvn_cdf``, ``theory.init_variance``, ...)
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .sampling import sample_mvn
from .spec import MLPSpec
from . import mc

try:
    __version__ = _version("mcbench")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["MLPSpec", "mc", "sample_mvn", "theory", "__version__"]


def __getattr__(name):
    # mcbench.theory loads on first use: it pulls in scipy's integrate/special (~0.4 s of import)
    if name == "theory":
        import importlib

        return importlib.import_module(".theory", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
