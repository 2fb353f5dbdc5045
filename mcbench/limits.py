"""This machine's limits for the hot kernels, measured in the calling process.

A kernel's throughput means little on its own: 2 GFLOP/s is excellent on one
machine and poor on the next. Every timing client (``mcbench profile``, the asv
suite, ``benchmarks/bench_relu_moments.py``) therefore divides by two limits
measured here, in the same process and with the same thread settings as the
kernel it is comparing:

* **RNG**: standard normals per second of mcbench's own chunked generator
  (``chunk_state`` + ``fill_normals``), one chunk per task, all requested
  Numba threads busy. A kernel that draws ``k`` normals per sample cannot
  beat ``limit / k`` samples per second.
* **GEMM**: GFLOP/s of BLAS GEMM on the kernels' shapes, ``(rows x d) @ (d x d)``,
  one independent product per Numba thread and BLAS pinned to one thread: the
  way the fused kernels call BLAS from inside ``prange``.

Both are best cases for the work the kernels do, not hardware peaks: they
include the same call overheads and cache behaviour the kernels see. Being
limits, they are the *fastest* of several timings (each at least
:data:`MIN_SECONDS`), not the median: on a small machine a transient
competitor can only slow a timing down. One such competitor is worth knowing
about: after any multi-threaded BLAS call from Python (a numpy matmul, a
Cholesky), OpenBLAS's idle worker threads keep spinning for a fraction of a
second, and on 2 cores that halves Numba's parallel throughput meanwhile.

There is one timing loop in mcbench, :func:`mcbench.kernels.time_calls`;
:meth:`~mcbench.kernels.PreparedKernel.time` and :func:`median_seconds` both
use it, so limits and kernels are timed the same way.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from ._rng import chunk_state, fill_normals, stream_key
from ._threads import numba_threads, single_threaded_blas
from .kernels import time_calls

#: Normals per RNG task; 8 tasks per thread keep every thread busy to the end.
RNG_TASK_SIZE = 1 << 16
RNG_TASKS_PER_THREAD = 8
#: Flops per thread in one GEMM timing call, so that a call lasts ~10 ms or more.
GEMM_FLOPS_PER_CALL = 2e8
#: Timings per limit (the fastest counts) and the least duration of each.
REPEAT = 5
MIN_SECONDS = 0.02


#: How long OpenBLAS's idle workers keep spinning after a multi-threaded call (generous).
BLAS_SPIN_SECONDS = 0.5


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


def best_seconds(fn, repeat: int = REPEAT, min_seconds: float = MIN_SECONDS) -> float:
    """Fastest seconds per call of ``fn()`` over ``repeat`` timings, after one warm-up call: a limit's best case."""
    fn()
    return float(np.min(time_calls(fn, repeat, min_seconds)))


@njit(parallel=True, cache=True)
def _rng_tasks(key, buf):
    for c in prange(buf.shape[0]):
        state = np.empty(4, np.uint64)
        chunk_state(key, c, state)
        fill_normals(state, buf[c])


@njit(parallel=True, cache=True)
def _gemm_per_thread(a, b, out, reps):
    for t in prange(a.shape[0]):
        for _ in range(reps):
            np.dot(a[t], b, out[t])


def rng_normals_per_second(dtype="float64", threads: int | None = None, repeat: int = REPEAT) -> float:
    """Normals per second of mcbench's chunked generator on ``threads`` Numba threads.

    Parameters
    ----------
    dtype : float64 or float32
        Output dtype (the draw is float64 either way; float32 halves the stores).
    threads : int, optional
        Numba threads (default: the current setting).
    repeat : int
        Timings; the fastest is used.
    """
    with numba_threads(threads) as n:
        buf = np.empty((n * RNG_TASKS_PER_THREAD, RNG_TASK_SIZE), np.dtype(dtype))
        key = stream_key(0)
        seconds = best_seconds(lambda: _rng_tasks(key, buf), repeat)
    return buf.size / seconds


def gemm_gflops(rows: int, d: int, dtype="float64", threads: int | None = None, repeat: int = REPEAT) -> float:
    """GFLOP/s of ``(rows x d) @ (d x d)`` GEMMs, one per Numba thread, BLAS single-threaded.

    Parameters
    ----------
    rows, d : int
        The product's shape: a kernel's chunk (or input block) and dimension
        (or layer width).
    dtype : float64 or float32
    threads : int, optional
        Numba threads, each running its own GEMMs (default: the current setting).
    repeat : int
        Timings; the fastest is used.

    Returns
    -------
    float
        ``2 rows d^2`` flops per product, summed over threads, per second, / 1e9.
    """
    dtype = np.dtype(dtype)
    flops = 2.0 * rows * d * d
    reps = max(1, int(GEMM_FLOPS_PER_CALL // flops))
    with numba_threads(threads) as n:
        a = np.random.default_rng(1).standard_normal((n, rows, d)).astype(dtype)
        b = np.random.default_rng(2).standard_normal((d, d)).astype(dtype)
        out = np.empty((n, rows, d), dtype)
        with single_threaded_blas():
            seconds = best_seconds(lambda: _gemm_per_thread(a, b, out, reps), repeat)
    return n * reps * flops / seconds / 1e9


def numpy_rng_normals_per_second(dtype="float64", size: int = 1 << 23, repeat: int = REPEAT) -> float:
    """Normals per second of numpy's ``default_rng().standard_normal`` (one thread), for reference."""
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    return size / best_seconds(lambda: rng.standard_normal(size, dtype=dtype), repeat)


def machine_limits(rows: int, d: int, dtype="float64", threads: int | None = None, repeat: int = REPEAT) -> dict:
    """Both limits for a kernel working on ``rows x d`` blocks.

    Returns
    -------
    dict
        ``rng_normals_per_s``, ``gemm_gflop_per_s``, and the settings they were
        measured with: ``threads``, ``dtype``, ``gemm_shape`` ("rows x d @ d x d").
    """
    with numba_threads(threads) as n:
        return {
            "rng_normals_per_s": rng_normals_per_second(dtype, n, repeat),
            "gemm_gflop_per_s": gemm_gflops(rows, d, dtype, n, repeat),
            "threads": n,
            "dtype": np.dtype(dtype).name,
            "gemm_shape": f"{rows} x {d} @ {d} x {d}",
        }


def limit_fractions(rates: dict, lim: dict) -> dict:
    """Fractions of the machine limits reached: ``rng`` (normals/s) and ``gemm`` (GFLOP/s), where they apply.

    ``rates`` is :meth:`mcbench.kernels.PreparedKernel.rates`; ``lim`` is
    :func:`machine_limits` or a dict with only one of its two limits.
    """
    out = {}
    if "normals_per_s" in rates and "rng_normals_per_s" in lim:
        out["rng"] = rates["normals_per_s"] / lim["rng_normals_per_s"]
    if "gflop_per_s" in rates and "gemm_gflop_per_s" in lim:
        out["gemm"] = rates["gflop_per_s"] / lim["gemm_gflop_per_s"]
    return out
