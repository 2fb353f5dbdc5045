"""mcbench's one timing loop, and the two ways its timings are summarised.

Kernels, machine limits, ``mcbench profile``, nightly, asv and the benchmark
scripts all time through :func:`time_calls`: a kernel by the median of its
timings (:func:`median_seconds`), a limit by the fastest
(:func:`best_seconds`: on a small machine a transient competitor can only
slow a timing down).
"""

from __future__ import annotations

import time

import numpy as np

from mcbench._signals import checkpoint
from mcbench.config import BLAS_SPIN_SECONDS, LIMIT_MIN_SECONDS, LIMIT_REPEAT


def time_calls(fn, repeat: int = 5, min_seconds: float = 0.0) -> np.ndarray:
    """Seconds per call of ``fn()``, ``repeat`` timings, each repeating ``fn`` until ``min_seconds`` pass.

    mcbench's one timing loop: kernels, machine limits, profile and the
    benchmark scripts all time through it.
    """
    times = []
    for _ in range(repeat):
        checkpoint()  # a stop request is honoured within one timing, never inside the timed region
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        times.append(elapsed / calls)
    return np.asarray(times)


def let_blas_idle():
    """Wait until numpy's (or torch's) BLAS workers stop spinning, before timing a Numba kernel.

    After a multi-threaded BLAS call its idle workers spin for a fraction of a
    second; on 2 cores that halves a parallel Numba kernel timed meanwhile.
    """
    time.sleep(BLAS_SPIN_SECONDS)


def median_seconds(fn, repeat: int = 3, min_seconds: float = 0.0, warmup: bool = True) -> float:
    """Median of the seconds per call of ``fn()`` over ``repeat`` timings.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeat : int
        Number of timings; the median resists one-off interruptions.
    min_seconds : float
        Each timing repeats ``fn`` until this much time has passed, so that
        very short calls are not dominated by timer resolution.
    warmup : bool
        Call ``fn`` once first (JIT compilation, page faults, thread start-up
        are then never timed).
    """
    if warmup:
        fn()
    return float(np.median(time_calls(fn, repeat, min_seconds)))


def best_seconds(fn, repeat: int = LIMIT_REPEAT, min_seconds: float = LIMIT_MIN_SECONDS) -> float:
    """Fastest seconds per call of ``fn()`` over ``repeat`` timings, after one warm-up call: a limit's best case."""
    fn()
    return float(np.min(time_calls(fn, repeat, min_seconds)))
