"""Fused, streaming Monte Carlo of the mean and covariance of ReLU(X), X ~ N(mean, cov)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from mcbench._core.blas import blas_functions, gram_lower
from mcbench._core.checks import check_positive_int
from mcbench._core.jit import compile_for
from mcbench._core.rng import chunk_plan, gaussian_chunk, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench.mc.sampling import prepare_gaussian
from mcbench.config import WAVE_BYTES


@njit(cache=True)
def _relu_center_chunk(x, col_mean, n_pos):
    """In place: x <- max(x, 0) - column mean. Fills col_mean (float64) and n_pos.

    Branch-free so that the inner loop over columns vectorises.
    """
    rows, d = x.shape
    col_sum = np.zeros(d, x.dtype)
    col_pos = np.zeros(d, np.int64)
    for s in range(rows):
        for j in range(d):
            v = max(x[s, j], 0)
            x[s, j] = v
            col_sum[j] += v
            col_pos[j] += v > 0
    shift = np.empty(d, x.dtype)
    for j in range(d):
        col_mean[j] = col_sum[j] / rows
        n_pos[j] = col_pos[j]
        shift[j] = col_mean[j]
    for s in range(rows):
        for j in range(d):
            x[s, j] -= shift[j]




def wave_size(n_chunks: int, d: int, itemsize: int, slots: int) -> int:
    """Chunks per wave: all of them if their statistics fit in ``WAVE_BYTES``, else a multiple of ``slots``."""
    fit = WAVE_BYTES // (d * d * itemsize + 24 * d)  # the cross-products, and three float64/int64 d-vectors
    return int(min(n_chunks, max(slots, fit - fit % slots)))


@njit(parallel=True, cache=True)
def _relu_moment_kernel(key, syrk, trmm, lower_t, mean, n, chunk, slots, wave):
    """Stream ``n`` samples in fixed chunks; returns the merged moments.

    Chunks run in waves of ``wave``, each wave's chunks dealt round-robin to
    ``slots`` parallel workers; their statistics are then merged strictly in
    chunk order, so the result depends neither on ``slots`` (the thread
    count) nor on ``wave``. Per chunk: draw (TRMM), ReLU, centre on the chunk
    mean, then one SYRK for the centred cross-products.

    Returns (mean, m2, rep_s, rep_used, n_pos): m2 is the pooled sum of
    centred cross-products (pairwise merge of Chan, Golub & LeVeque), rep_s
    the weighted Welford sum of squares of the per-chunk unbiased covariance
    estimates about their mean (for the chunk-replicate standard error) over
    rep_used chunks, and n_pos the count of positive samples per coordinate.
    Only lower triangles are computed; the caller mirrors them.
    """
    d = mean.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    dt = lower_t.dtype
    x = np.empty((slots, chunk, d), dt)
    chunk_m2 = np.zeros((wave, d, d), dt)
    chunk_mean = np.empty((wave, d))
    chunk_pos = np.empty((wave, d), np.int64)
    # The merge of chunk s needs the pooled mean before it and three weights: computed serially
    # (O(wave d)), so that the O(wave d^2) merge can run in parallel over the rows of the triangle.
    mean_before = np.empty((wave, d))
    cross = np.empty(wave)
    rows_of = np.empty(wave, np.int64)
    w_frac = np.zeros(wave)

    tot_n = 0
    tot_mean = np.zeros(d)
    tot_m2 = np.zeros((d, d))
    n_pos = np.zeros(d, np.int64)
    rep_w = 0.0
    rep_used = 0
    rep_mean = np.zeros((d, d))
    rep_s = np.zeros((d, d))

    for first in range(0, n_chunks, wave):
        width = min(wave, n_chunks - first)
        for t in prange(slots):
            for s in range(t, width, slots):
                c = first + s
                xs = x[t, : min(chunk, n - c * chunk)]
                gaussian_chunk(key, c, trmm, lower_t, mean, xs)
                _relu_center_chunk(xs, chunk_mean[s], chunk_pos[s])
                gram_lower(syrk, xs, chunk_m2[s])

        for s in range(width):
            rows = min(chunk, n - (first + s) * chunk)
            rows_of[s] = rows
            new_n = tot_n + rows
            frac = rows / new_n
            cross[s] = tot_n * frac  # n_a * n_b / (n_a + n_b)
            if rows >= 2:
                rep_used += 1
                rep_w += rows
                w_frac[s] = rows / rep_w
            for i in range(d):
                mean_before[s, i] = tot_mean[i]
                tot_mean[i] += frac * (chunk_mean[s, i] - tot_mean[i])
                n_pos[i] += chunk_pos[s, i]
            tot_n = new_n

        for i in prange(d):
            for s in range(width):
                rows = rows_of[s]
                delta_i = chunk_mean[s, i] - mean_before[s, i]
                for j in range(i + 1):
                    m2 = np.float64(chunk_m2[s, i, j])
                    tot_m2[i, j] += m2 + cross[s] * delta_i * (chunk_mean[s, j] - mean_before[s, j])
                    if rows >= 2:
                        est = m2 / (rows - 1)
                        dev = est - rep_mean[i, j]
                        rep_mean[i, j] += w_frac[s] * dev
                        rep_s[i, j] += rows * dev * (est - rep_mean[i, j])
    return tot_mean, tot_m2, rep_s, rep_used, n_pos


def _mirror_lower(a):
    return np.tril(a) + np.tril(a, -1).T


@dataclass
class ReluMomentsResult:
    """Monte Carlo estimate of the moments of Y = max(0, X), X ~ N(mean, cov).

    Attributes
    ----------
    mean : ndarray (d,)
        Sample mean of Y.
    cov : ndarray (d, d)
        Sample covariance of Y (ddof = 1).
    mean_se : ndarray (d,)
        Standard error of ``mean``: sqrt(diag(cov) / n). Normal reference.
    cov_se : ndarray (d, d)
        Standard error of ``cov``, from the spread of independent per-chunk
        covariance estimates (chunk replicates / batch means). Compare
        (estimate - truth) / cov_se against Student's t with ``cov_se_dof``
        degrees of freedom. NaN when fewer than 2 chunks.
    cov_se_dof : int
        Degrees of freedom of ``cov_se``: (number of chunks with >= 2 samples) - 1.
    n_positive : ndarray (d,) of int
        How many samples had X_i > 0: the effective sample size for
        coordinate i (a coordinate deep in the negative tail is underpowered).
    n_samples, chunk_size, n_chunks, threads : int
    dtype : numpy.dtype
        Arithmetic dtype of sampling and per-chunk products (merging is float64).
    seconds : float
        Wall time of the kernel, excluding compilation.
    compile_seconds : float
        JIT compile (or cache load) time spent in this call; 0 if already compiled.
    """

    mean: np.ndarray
    cov: np.ndarray
    mean_se: np.ndarray
    cov_se: np.ndarray
    cov_se_dof: int
    n_positive: np.ndarray
    n_samples: int
    chunk_size: int
    n_chunks: int
    threads: int
    dtype: np.dtype
    seconds: float
    compile_seconds: float = field(default=0.0)

    @property
    def samples_per_second(self) -> float:
        return self.n_samples / self.seconds if self.seconds > 0 else float("inf")


def relu_moments(mean, cov, n_samples, seed=0, dtype=np.float64, *, chunk_size=None, threads=None):
    """Monte Carlo mean and covariance of ReLU(X), X ~ N(mean, cov), with standard errors.

    The kernel never holds ``n_samples x d``: memory is
    O(chunk_size * d * threads) for the samples and at most ``WAVE_BYTES``
    (32 MiB) for the per-chunk d x d statistics of one wave. Each chunk of samples has
    its own random stream derived from (seed, chunk index), is drawn, passed
    through ReLU, centred and reduced with one GEMM; chunk statistics are
    merged in chunk order with the pairwise update of Chan, Golub & LeVeque,
    so any thread count gives bitwise-identical results.

    The samples are exactly those of ``mcbench.sample_mvn(mean, cov,
    n_samples, seed, dtype, chunk_size=...)``, which makes a plain-numpy
    reference check possible.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric PSD (singular allowed).
    n_samples : int
        Number of Monte Carlo samples, >= 2. ``cov_se`` needs at least two
        chunks of two or more samples; with fewer it is NaN and a
        ``RuntimeWarning`` says so.
    seed : int or numpy.random.SeedSequence
    dtype : float32 or float64
        Dtype of the sampling and per-chunk GEMM; the merge is always float64.
    chunk_size : int, optional
        Samples per chunk (default: :func:`mcbench._core.rng.default_chunk_size`).
    threads : int, optional
        Numba threads for this call (BLAS is pinned to 1 thread meanwhile).

    Returns
    -------
    ReluMomentsResult
    """
    n = check_positive_int(n_samples, "n_samples", minimum=2, why="a covariance needs two samples")
    key = stream_key(seed)
    # BLAS is pinned before the factorisation too: a multi-threaded eigh/Cholesky
    # leaves OpenBLAS workers spinning for a while, which halved the kernel's
    # throughput on 2 cores (measured by `mcbench profile`).
    with numba_threads(threads) as n_threads, single_threaded_blas():
        mean_t, lower_t = prepare_gaussian(mean, cov, dtype)
        d = mean_t.shape[0]
        n_chunks, chunk = chunk_plan(n, d, chunk_size)
        slots = min(n_threads, n_chunks)
        wave = wave_size(n_chunks, d, lower_t.dtype.itemsize, slots)
        args = (key, *blas_functions(lower_t.dtype), lower_t, mean_t, n, chunk, slots, wave)
        compile_s = compile_for(_relu_moment_kernel, *args)
        start = time.perf_counter()
        tot_mean, tot_m2, rep_s, rep_used, n_pos = _relu_moment_kernel(*args)
        seconds = time.perf_counter() - start
    cov_est = _mirror_lower(tot_m2) / (n - 1)
    if rep_used >= 2:
        cov_se = np.sqrt(np.maximum(_mirror_lower(rep_s), 0.0) / (rep_used - 1) / n)
    else:  # NaN, not a made-up number; but said aloud, since every estimate should carry an error
        cov_se = np.full((d, d), np.nan)
        warnings.warn(f"cov_se is NaN: it comes from the spread of per-chunk covariances, and n_samples={n} "
                      f"with chunk_size={chunk} gives {rep_used} chunk(s) of >= 2 samples; pass a smaller "
                      f"chunk_size or a larger n_samples (at least 2 such chunks)", RuntimeWarning, stacklevel=2)
    return ReluMomentsResult(
        mean=tot_mean,
        cov=cov_est,
        mean_se=np.sqrt(np.maximum(np.diag(cov_est), 0.0) / n),
        cov_se=cov_se,
        cov_se_dof=max(rep_used - 1, 0),
        n_positive=n_pos,
        n_samples=n,
        chunk_size=chunk,
        n_chunks=n_chunks,
        threads=n_threads,
        dtype=lower_t.dtype,
        seconds=seconds,
        compile_seconds=compile_s,
    )
