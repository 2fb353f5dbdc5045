"""mcbench: Numba Monte Carlo benchmarks for signal propagation in random networks.

This module is the public API: what is listed in ``__all__`` is what a user
may rely on. Everything else (underscored modules, the internals of
:mod:`mcbench.validation`, :mod:`mcbench.report` and :mod:`mcbench.perf`) may
change without notice.

Networks
--------
MLPSpec            a random MLP: widths, activation, init, bias, input variance
register_activation  add an activation (Numba phi, phi') usable everywhere
activation_names   the registered activations

Monte Carlo and theory, side by side
------------------------------------
mc                 Monte Carlo estimators: ``mc.sample_mvn``, ``mc.relu_moments``,
                   ``mc.mlp_propagation``; every estimate with a standard error
theory             closed forms: ``theory.relu_moments``, ``theory.mlp_propagation``,
                   ``theory.bvn_cdf``, ``theory.init_variance``, ...
sample_mvn         deterministic parallel sampling from N(mean, cov)

Validation
----------
compare            your network: Monte Carlo against theory per layer, with verdicts (a ``Comparison``)
run_validation     run a suite of checks; Holm-corrected verdicts
write_report       render a run as CSV, Markdown, HTML and figures

Sweeps
------
sweep              theory and Monte Carlo over a grid of networks (the order-to-chaos
                   phase diagram), locally or as tasks on a Dask cluster

Examples
--------
>>> import numpy as np
>>> import mcbench
>>> res = mcbench.mc.relu_moments([0.0], [[1.0]], n_samples=100_000, seed=0)
>>> exact_mean, _ = mcbench.theory.relu_moments([0.0], [[1.0]])
>>> bool(abs(res.mean[0] - exact_mean[0]) < 5 * res.mean_se[0])
True
"""

# First, before the imports below (~2 s): a CLI process must keep a stop request that arrives during them.
from mcbench import _signals

_signals.install_if_cli()

from mcbench import mc, theory
from mcbench._version import __version__
from mcbench.mc import sample_mvn
from mcbench.report import write_report
from mcbench.spec import MLPSpec, activation_names, register_activation
from mcbench.sweeps import sweep
from mcbench.validation.compare import Comparison, compare
from mcbench.validation.runner import run_validation

__all__ = [
    "Comparison",
    "MLPSpec",
    "__version__",
    "activation_names",
    "compare",
    "mc",
    "register_activation",
    "run_validation",
    "sample_mvn",
    "sweep",
    "theory",
    "write_report",
]
