"""Thread control: keep BLAS and Numba from oversubscribing the cores.

The fused kernels run ``prange`` over chunks and call BLAS (through Numba's
``np.dot``, which uses SciPy's BLAS) from inside each chunk. If BLAS also
spawns its own threads, 2 Numba threads x 2 BLAS threads fight over 2 cores;
measured here, that halves GEMM throughput. :func:`single_threaded_blas` pins
every loaded BLAS library to one thread for the duration of a kernel call and
restores the previous setting afterwards.

Only ``ctypes`` is used, so this adds no dependency: the loaded OpenBLAS
(including the ``scipy_``-prefixed builds in NumPy and SciPy wheels), MKL and
BLIS libraries are found in ``/proc/self/maps`` (Linux) or next to NumPy and
SciPy (other platforms).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading

import numba
import numpy
import scipy
import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, whose thread count we set)

from mcbench._core.checks import check_positive_int
from mcbench.config import BENCHMARK_THREADS

_LOCK = threading.RLock()  # re-entrant: a caller may pin BLAS around a kernel that pins it again

# (family, getter, setter) symbol candidates, tried in order.
_SYMBOLS = [
    ("openblas", f"{p}openblas_get_num_threads{s}", f"{p}openblas_set_num_threads{s}")
    for p in ("scipy_", "")
    for s in ("64_", "")
] + [
    ("mkl", "MKL_Get_Max_Threads", "MKL_Set_Num_Threads"),
    ("blis", "bli_thread_get_num_threads", "bli_thread_set_num_threads"),
]

_CACHE: list | None = None


def _candidate_paths() -> list[str]:
    names = ("openblas", "mkl_rt", "libblis")
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.rsplit(None, 1)[-1] if "/" in line else ""
                if any(n in os.path.basename(path) for n in names) and path not in paths:
                    paths.append(path)
    except OSError:
        for mod in (numpy, scipy):
            libdir = os.path.join(os.path.dirname(mod.__file__), os.pardir, mod.__name__ + ".libs")
            for pattern in ("*openblas*", "*mkl_rt*", "*blis*"):
                paths.extend(sorted(glob.glob(os.path.join(libdir, pattern))))
    return paths


def _blas_handles():
    """[(path, family, get_fn, set_fn)] for every loaded BLAS with a thread API."""
    global _CACHE
    if _CACHE is not None:
        return _CACHE
    found = []
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for family, get_name, set_name in _SYMBOLS:
            get_fn = getattr(lib, get_name, None)
            set_fn = getattr(lib, set_name, None)
            if get_fn is not None and set_fn is not None:
                get_fn.restype = ctypes.c_int
                set_fn.argtypes = [ctypes.c_int]
                found.append((path, family, get_fn, set_fn))
                break
    _CACHE = found
    return found


def blas_info() -> list[dict]:
    """The loaded BLAS libraries: ``[{"library", "family", "num_threads"}]``."""
    return [
        {"library": os.path.basename(path), "family": family, "num_threads": int(get_fn())}
        for path, family, get_fn, _ in _blas_handles()
    ]


@contextlib.contextmanager
def single_threaded_blas():
    """Pin every loaded BLAS to 1 thread inside the block, then restore it."""
    with _LOCK:
        handles = _blas_handles()
        before = [get_fn() for _, _, get_fn, _ in handles]
        for _, _, _, set_fn in handles:
            set_fn(1)
        try:
            yield
        finally:
            for (_, _, _, set_fn), n in zip(handles, before):
                set_fn(n)


def resolve_threads(threads: int | None) -> int:
    """Validate a requested Numba thread count (None: the current setting)."""
    if threads is None:
        return numba.get_num_threads()
    threads = check_positive_int(threads, "threads")
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads={threads} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}; "
            "set the environment variable before starting Python to allow more"
        )
    return threads




def benchmark_threads(requested: int | None) -> int:
    """Threads for a benchmark script: ``requested``, or ``BENCHMARK_THREADS`` capped at ``NUMBA_NUM_THREADS``.

    Raises ValueError (naming the limit) when ``requested`` exceeds what Numba allows.
    """
    if requested is None:
        return min(BENCHMARK_THREADS, numba.config.NUMBA_NUM_THREADS)
    return resolve_threads(requested)


@contextlib.contextmanager
def numba_threads(threads: int | None):
    """Run the block with ``threads`` Numba threads (None: leave as is)."""
    n = resolve_threads(threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)


#: One task's kernels at a time per process: a Dask worker with nthreads > 1 runs tasks in several
#: threads, and Numba's default (workqueue) threading layer must not be entered from two at once;
#: the task that runs uses all the worker's threads instead.
_TASK_LOCK = threading.Lock()


def _dask_worker_nthreads() -> int | None:
    """The ``nthreads`` of the Dask worker running this code, or None outside a worker (or without distributed)."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return int(get_worker().state.nthreads)
    except ValueError:  # not running in a worker
        return None


@contextlib.contextmanager
def task_threads(threads: int | None = None):
    """Run one task's kernels: with ``threads`` Numba threads, or inside a Dask worker its ``nthreads``.

    The worker's count is capped at ``NUMBA_NUM_THREADS``; outside a worker,
    None leaves the setting as it is. Tasks of one process take turns.
    """
    if threads is None:
        nthreads = _dask_worker_nthreads()
        threads = None if nthreads is None else min(nthreads, numba.config.NUMBA_NUM_THREADS)
    with _TASK_LOCK, numba_threads(threads) as n:
        yield n
