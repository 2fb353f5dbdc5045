"""Performance: one timing loop, one table of default problems, machine limits, profile, nightly.

Every timing client (``mcbench nightly``, ``mcbench profile``, asv, pytest-benchmark,
the benchmark scripts) times the kernels of :mod:`mcbench.perf.kernels` on the
problems of :data:`mcbench.config.DEFAULT_PROBLEMS` through
:func:`mcbench.perf.timing.time_calls`, against :mod:`mcbench.perf.limits`.
"""
