"""Deterministic parallel sampling from N(mean, cov)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mcbench._core.blas import blas_functions
from mcbench._core.checks import check_dtype, check_gaussian, check_positive_int, psd_factor
from mcbench._core.jit import compile_for
from mcbench._core.rng import chunk_plan, gaussian_chunk, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas


@njit(parallel=True, cache=True)
def _sample_kernel(key, trmm, lower_t, mean, chunk, out):
    n = out.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in prange(n_chunks):
        start = c * chunk
        gaussian_chunk(key, c, trmm, lower_t, mean, out[start : min(n, start + chunk)])


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
    """
    n = check_positive_int(n, "n")
    key = stream_key(seed)
    with numba_threads(threads), single_threaded_blas():  # pinned before eigh/Cholesky too (see mc.relu)
        mean_t, lower_t = prepare_gaussian(mean, cov, dtype)
        d = mean_t.shape[0]
        _, chunk = chunk_plan(n, d, chunk_size)
        out = np.empty((n, d), dtype=mean_t.dtype)
        _, trmm = blas_functions(out.dtype)
        compile_for(_sample_kernel, key, trmm, lower_t, mean_t, chunk, out)
        _sample_kernel(key, trmm, lower_t, mean_t, chunk, out)
    return out
