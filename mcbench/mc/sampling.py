"""Deterministic parallel sampling from N(mean, cov)."""

from __future__ import annotations

import numpy as np
from numba import prange

from mcbench._core.blas import blas_functions
from mcbench._core.checks import check_dtype, check_gaussian, check_positive_int, psd_factor
from mcbench._core.jit import compile_for, jit
from mcbench._core.memory import allocate, check_done
from mcbench._core.rng import chunk_plan, draw_normals, shape_gaussian, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench._signals import checkpoint
from mcbench.config import MAX_SAMPLES


# The sampler's phases (bit flags): ``mcbench profile`` runs them one at a time through the kernel itself.
PHASE_RNG = 1  # the chunk stream's standard normals, written into the output
PHASE_TRMM = 2  # x <- z @ L^T + mean, in place
ALL_PHASES = 3
PHASES = {"RNG": PHASE_RNG, "TRMM": PHASE_TRMM}


@jit(parallel=True)
def _sample_kernel(phases, key, trmm, lower_t, mean, chunk, out, states, done):
    """Chunks of ``out`` (n, d) dealt round-robin to ``states.shape[0]`` slots; ``done[t]`` marks slot t finished."""
    n = out.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    slots = states.shape[0]
    for t in prange(slots):
        for c in range(t, n_chunks, slots):
            start = c * chunk
            x = out[start : min(n, start + chunk)]
            if phases & PHASE_RNG:
                draw_normals(key, c, states[t], x)
            if phases & PHASE_TRMM:
                shape_gaussian(trmm, x, lower_t, mean)
        done[t] = 1


class SampleRun:
    """One ``sample_mvn`` problem with its output allocated: run it whole, or one phase at a time."""

    def __init__(self, key, lower_t, mean, n, chunk_size, threads):
        self.key, self.lower_t, self.mean = key, lower_t, mean
        n_chunks, self.chunk = chunk_plan(n, mean.shape[0], chunk_size)
        slots = min(threads, n_chunks)
        self.ws = allocate({"out": ((n, mean.shape[0]), lower_t.dtype), "states": ((slots, 4), np.uint64),
                            "done": ((slots,), np.uint8)}, "sample_mvn", "draw fewer samples per call")
        _, self.trmm = blas_functions(lower_t.dtype)

    def _args(self, phases):
        ws = self.ws
        return (phases, self.key, self.trmm, self.lower_t, self.mean, self.chunk, ws["out"], ws["states"], ws["done"])

    def compile(self) -> float:
        """Compile (or load from the cache) the kernel; seconds spent, 0 if already in memory."""
        return compile_for(_sample_kernel, *self._args(ALL_PHASES))

    def run(self, phases: int = ALL_PHASES) -> np.ndarray:
        """Fill the output with ``phases`` of the pipeline; returns it."""
        checkpoint()
        self.ws["done"][:] = 0
        _sample_kernel(*self._args(phases))
        check_done(self.ws["done"], "sample_mvn")
        return self.ws["out"]


def prepare_gaussian(mean, cov, dtype):
    """Validate (mean, cov) and return ``(mean, lower_t)`` in ``dtype`` for the kernels.

    ``lower_t`` is the transpose of a lower-triangular factor L with
    L L^T = cov (Cholesky, or a QR-retriangularised eigen-root when cov is
    singular), C-contiguous.
    """
    mean, cov, eigenvalues = check_gaussian(mean, cov)
    dt = check_dtype(dtype)
    lower = psd_factor(cov, eigenvalues)
    return np.ascontiguousarray(mean, dtype=dt), np.ascontiguousarray(lower.T, dtype=dt)


def sample_mvn(mean, cov, n, seed=0, dtype=np.float64, *, chunk_size=None, threads=None):
    """Draw ``n`` samples from N(mean, cov), deterministically and in parallel.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric positive semi-definite; singular (rank-deficient) is fine.
    n : int
        Number of samples, >= 1.
    seed : int or numpy.random.SeedSequence
        The same seed gives bitwise-identical output for any thread count.
    dtype : float32 or float64
        Output dtype. Normals are drawn in float64 and rounded once.
    chunk_size : int, optional
        Samples per independent stream; default :func:`mcbench._core.rng.default_chunk_size`.
        Changing it changes which numbers are drawn (not their distribution).
    threads : int, optional
        Numba threads for this call (default: the current setting).

    Returns
    -------
    ndarray, shape (n, d), dtype ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> import mcbench
    >>> cov = [[1.0, 0.5], [0.5, 2.0]]
    >>> x = mcbench.sample_mvn([1.0, -1.0], cov, 20_000, seed=0)
    >>> x.shape, x.dtype
    ((20000, 2), dtype('float64'))
    >>> bool((x == mcbench.sample_mvn([1.0, -1.0], cov, 20_000, seed=0, threads=1)).all())   # same seed, same bits
    True
    >>> bool(np.allclose(x.mean(axis=0), [1.0, -1.0], atol=0.05)), bool(np.allclose(np.cov(x.T), cov, atol=0.1))
    (True, True)
    >>> mcbench.sample_mvn([0.0, 0.0], cov, 10, dtype=np.float32).dtype
    dtype('float32')
    """
    n = check_positive_int(n, "n")
    if n > MAX_SAMPLES:
        raise ValueError(f"n must be at most {MAX_SAMPLES:.3g} (2**53), got {n:.3g}")
    key = stream_key(seed)
    with numba_threads(threads) as n_threads, single_threaded_blas():  # pinned before eigh/Cholesky too
        mean_t, lower_t = prepare_gaussian(mean, cov, dtype)
        run = SampleRun(key, lower_t, mean_t, n, chunk_size, n_threads)
        run.compile()
        return run.run()
