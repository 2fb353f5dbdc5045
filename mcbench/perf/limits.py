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
:data:`LIMIT_MIN_SECONDS`), not the median: on a small machine a transient
competitor can only slow a timing down. One such competitor is worth knowing
about: after any multi-threaded BLAS call from Python (a numpy matmul, a
Cholesky), OpenBLAS's idle worker threads keep spinning for a fraction of a
second, and on 2 cores that halves Numba's parallel throughput meanwhile.

There is one timing loop in mcbench, :func:`mcbench.perf.timing.time_calls`;
limits and kernels are timed the same way.
"""

from __future__ import annotations

import math
import numba
import numpy as np
from numba import prange

from mcbench._core.jit import jit
from mcbench._core.rng import draw_normals, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench.config import (
    GEMM_FLOPS_PER_CALL,
    LIMIT_REPEAT,
    RNG_TASK_SIZE,
    RNG_TASKS_PER_THREAD,
    SCALAR_LIMIT_EVALUATIONS,
)
from mcbench.perf.timing import best_seconds


@jit(parallel=True)
def _rng_tasks(key, buf, states):
    # the kernels' own RNG phase (draw_normals), one task per row; states (tasks, 4) is the scratch
    for c in prange(buf.shape[0]):
        draw_normals(key, c, states[c], buf[c])


@jit(parallel=True)
def _gemm_per_thread(a, b, out, reps):
    for t in prange(a.shape[0]):
        for _ in range(reps):
            np.dot(a[t], b, out[t])


@jit
def _scalar_probe(x):
    acc = 0.0
    for i in range(x.shape[0]):
        acc += math.exp(-0.5 * x[i] * x[i])
    return acc


def scalar_limit_call():
    """The scalar limit's timed call and its evaluations: ``(fn, evaluations per call)``.

    One core's rate of exp(-x^2/2), the kind of scalar transcendental work
    the theory kernels (``bvn_cdf``, ``theory_*``) do in one thread: a
    neighbour that slows them slows this too, so their fraction of it keeps.
    """
    x = np.linspace(-4.0, 4.0, SCALAR_LIMIT_EVALUATIONS)
    return (lambda: _scalar_probe(x)), x.size


def rng_limit_call(dtype="float64", threads: int | None = None):
    """The RNG limit's timed call and the normals it draws: ``(fn, normals per call)``.

    ``fn`` runs mcbench's chunked generator, one task per row, on the Numba
    threads current when it is *called* (``threads`` sizes the buffers: 8
    tasks per thread). :func:`rng_normals_per_second` times it alone; nightly
    times it between a kernel's rounds (:func:`mcbench.perf.nightly.time_kernels`).
    """
    n = numba.get_num_threads() if threads is None else threads
    buf = np.empty((n * RNG_TASKS_PER_THREAD, RNG_TASK_SIZE), np.dtype(dtype))
    states = np.empty((buf.shape[0], 4), np.uint64)
    key = stream_key(0)
    return (lambda: _rng_tasks(key, buf, states)), buf.size


def gemm_limit_call(rows: int, d: int, dtype="float64", threads: int | None = None):
    """The GEMM limit's timed call and its flops: ``(fn, flops per call)``.

    ``fn`` runs one ``(rows x d) @ (d x d)`` GEMM loop per thread (``threads``
    sizes the operands); call it inside :func:`mcbench._core.threads.single_threaded_blas`.
    """
    dtype = np.dtype(dtype)
    flops = 2.0 * rows * d * d
    reps = max(1, int(GEMM_FLOPS_PER_CALL // flops))
    n = numba.get_num_threads() if threads is None else threads
    a = np.random.default_rng(1).standard_normal((n, rows, d)).astype(dtype)
    b = np.random.default_rng(2).standard_normal((d, d)).astype(dtype)
    out = np.empty((n, rows, d), dtype)
    return (lambda: _gemm_per_thread(a, b, out, reps)), n * reps * flops


def rng_normals_per_second(dtype="float64", threads: int | None = None, repeat: int = LIMIT_REPEAT) -> float:
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
        fn, normals = rng_limit_call(dtype, n)
        seconds = best_seconds(fn, repeat)
    return normals / seconds


def gemm_gflops(rows: int, d: int, dtype="float64", threads: int | None = None, repeat: int = LIMIT_REPEAT) -> float:
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
    with numba_threads(threads) as n:
        fn, flops = gemm_limit_call(rows, d, dtype, n)
        with single_threaded_blas():
            seconds = best_seconds(fn, repeat)
    return flops / seconds / 1e9


def numpy_rng_normals_per_second(dtype="float64", size: int = 1 << 23, repeat: int = LIMIT_REPEAT) -> float:
    """Normals per second of numpy's ``default_rng().standard_normal`` (one thread), for reference."""
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    return size / best_seconds(lambda: rng.standard_normal(size, dtype=dtype), repeat)


def machine_limits(rows: int, d: int, dtype="float64", threads: int | None = None, repeat: int = LIMIT_REPEAT) -> dict:
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

    ``rates`` is :meth:`mcbench.perf.kernels.PreparedKernel.rates`; ``lim`` is
    :func:`machine_limits` or a dict with only one of its two limits.
    """
    out = {}
    if "normals_per_s" in rates and "rng_normals_per_s" in lim:
        out["rng"] = rates["normals_per_s"] / lim["rng_normals_per_s"]
    if "gflop_per_s" in rates and "gemm_gflop_per_s" in lim:
        out["gemm"] = rates["gflop_per_s"] / lim["gemm_gflop_per_s"]
    return out
