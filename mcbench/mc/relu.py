"""Fused, streaming Monte Carlo of the mean and covariance of ReLU(X), X ~ N(mean, cov)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import prange

from mcbench._core.blas import blas_functions, gram_lower
from mcbench._core.checks import check_positive_int
from mcbench._core.jit import compile_for, jit
from mcbench._core.memory import allocate, check_done
from mcbench._core.rng import chunk_plan, draw_normals, shape_gaussian, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench._signals import checkpoint
from mcbench.config import MAX_SAMPLES, WAVE_BYTES, WAVE_ELEMENTS
from mcbench.mc._long_runs import warn_if_long
from mcbench.mc.sampling import prepare_gaussian


@jit
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




# The kernel's phases (bit flags). The kernel runs them all; ``mcbench profile`` runs one at a time
# through the same function, so what it times is the kernel's own code.
PHASE_RNG = 1  # the chunk stream's standard normals
PHASE_TRMM = 2  # x <- z @ L^T + mean
PHASE_RELU = 4  # ReLU, and centring on the chunk mean
PHASE_SYRK = 8  # the chunk's centred cross-products
PHASE_MERGE = 16  # the wave's chunk statistics merged into the totals, in chunk order
ALL_PHASES = 31
#: Phase names, in pipeline order, as reports show them.
PHASES = {"RNG": PHASE_RNG, "TRMM": PHASE_TRMM, "ReLU+centre": PHASE_RELU, "SYRK": PHASE_SYRK,
          "merge": PHASE_MERGE}


def wave_size(n_chunks: int, chunk: int, d: int, itemsize: int, slots: int) -> int:
    """Chunks per wave: at most ``WAVE_BYTES`` of chunk statistics and ``WAVE_ELEMENTS`` samples x d.

    Whole if that allows, else a multiple of ``slots``. The first bound keeps
    memory independent of n_samples; the second keeps a wave short (about a
    second), so that a stop request is honoured between waves. Every wave
    costs two parallel regions, and on a shared machine each region can cost
    a scheduler time slice, so waves are otherwise as long as allowed. The
    wave changes neither the draws nor the merge order, hence no bit of the result.
    """
    fit = min(WAVE_BYTES // (d * d * itemsize + 24 * d),  # the cross-products, three float64/int64 d-vectors
              max(1, WAVE_ELEMENTS // (chunk * d)))
    return int(min(n_chunks, max(slots, fit - fit % slots)))


@jit
def _chunk_statistics(phases, key, c, trmm, syrk, lower_t, mean, x, state, col_mean, n_pos, m2):
    """Chunk ``c``'s pipeline on its rows ``x``: draw, shape, ReLU and centre, cross-products (``phases`` of them)."""
    if phases & PHASE_RNG:
        draw_normals(key, c, state, x)
    if phases & PHASE_TRMM:
        shape_gaussian(trmm, x, lower_t, mean)
    if phases & PHASE_RELU:
        _relu_center_chunk(x, col_mean, n_pos)
    if phases & PHASE_SYRK:
        gram_lower(syrk, x, m2)


@jit(parallel=True)
def _relu_wave(first, phases, key, syrk, trmm, lower_t, mean, n, chunk,
               x, states, chunk_m2, chunk_mean, chunk_pos, mean_before, cross, rows_of, w_frac, done,
               counts, rep_w, tot_mean, tot_m2, n_pos, rep_mean, rep_s):
    """One wave: chunks ``first .. first + wave - 1`` of an ``n``-sample job, then their ordered merge.

    The wave's chunks are dealt round-robin to the ``x.shape[0]`` slots
    (``x`` (slots, chunk, d) and ``states`` (slots, 4) are each slot's
    scratch; ``done[t]`` marks slot t finished). Their statistics are then
    merged into the running totals strictly in chunk order, so the result
    depends neither on the slot (thread) count nor on the wave. ``counts``
    holds (samples so far, chunk replicates used), ``rep_w`` (1,) the
    replicates' summed weight.

    Totals: ``tot_mean`` and ``tot_m2``, the pooled mean and sum of centred
    cross-products (pairwise merge of Chan, Golub & LeVeque); ``rep_mean``,
    ``rep_s``: weighted Welford mean and sum of squares of the per-chunk
    unbiased covariance estimates (for the chunk-replicate standard error);
    ``n_pos``: positive samples per coordinate. Only lower triangles are
    computed; the caller mirrors them. Nothing is allocated here: the
    workspace comes from the caller (see :mod:`mcbench._core.memory`).
    """
    d = mean.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    slots = x.shape[0]
    width = min(chunk_m2.shape[0], n_chunks - first)
    for t in prange(slots):
        for s in range(t, width, slots):
            c = first + s
            _chunk_statistics(phases, key, c, trmm, syrk, lower_t, mean, x[t, : min(chunk, n - c * chunk)],
                              states[t], chunk_mean[s], chunk_pos[s], chunk_m2[s])
        done[t] = 1
    if not phases & PHASE_MERGE:
        return

    # The merge of chunk s needs the pooled mean before it and three weights: computed serially
    # (O(wave d)), so that the O(wave d^2) merge can run in parallel over the rows of the triangle.
    tot_n = counts[0]
    for s in range(width):
        rows = min(chunk, n - (first + s) * chunk)
        rows_of[s] = rows
        new_n = tot_n + rows
        frac = rows / new_n
        cross[s] = tot_n * frac  # n_a * n_b / (n_a + n_b)
        if rows >= 2:
            counts[1] += 1
            rep_w[0] += rows
            w_frac[s] = rows / rep_w[0]
        for i in range(d):
            mean_before[s, i] = tot_mean[i]
            tot_mean[i] += frac * (chunk_mean[s, i] - tot_mean[i])
            n_pos[i] += chunk_pos[s, i]
        tot_n = new_n
    counts[0] = tot_n

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


class ReluMomentsRun:
    """One ``relu_moments`` problem, its workspace allocated: run it whole, or one phase at a time.

    :func:`relu_moments` runs it with every phase; ``mcbench profile`` times
    each phase alone through :meth:`run` on the same workspace, so it times
    the kernel's own code. Memory: ``threads x chunk x d`` samples and at most
    ``WAVE_BYTES`` of chunk statistics, whatever ``n_samples`` is.
    """

    def __init__(self, key, lower_t, mean, n, chunk_size, threads):
        self.key, self.lower_t, self.mean, self.n = key, lower_t, mean, n
        d = mean.shape[0]
        self.n_chunks, self.chunk = chunk_plan(n, d, chunk_size)
        self.slots = min(threads, self.n_chunks)
        self.wave = wave_size(self.n_chunks, self.chunk, d, lower_t.dtype.itemsize, self.slots)
        self.syrk, self.trmm = blas_functions(lower_t.dtype)
        w, dt = self.wave, lower_t.dtype
        self.ws = allocate({
            "x": ((self.slots, self.chunk, d), dt), "states": ((self.slots, 4), np.uint64),
            "chunk_m2": ((w, d, d), dt), "chunk_mean": ((w, d), np.float64), "chunk_pos": ((w, d), np.int64),
            "mean_before": ((w, d), np.float64), "cross": ((w,), np.float64), "rows_of": ((w,), np.int64),
            "w_frac": ((w,), np.float64), "done": ((self.slots,), np.uint8),
            "counts": ((2,), np.int64), "rep_w": ((1,), np.float64), "tot_mean": ((d,), np.float64),
            "tot_m2": ((d, d), np.float64), "n_pos": ((d,), np.int64), "rep_mean": ((d, d), np.float64),
            "rep_s": ((d, d), np.float64),
        }, "relu_moments", "use fewer threads or a smaller chunk_size")

    def _args(self, first, phases):
        ws = self.ws
        return (first, phases, self.key, self.syrk, self.trmm, self.lower_t, self.mean, self.n, self.chunk,
                ws["x"], ws["states"], ws["chunk_m2"], ws["chunk_mean"], ws["chunk_pos"], ws["mean_before"],
                ws["cross"], ws["rows_of"], ws["w_frac"], ws["done"], ws["counts"], ws["rep_w"], ws["tot_mean"],
                ws["tot_m2"], ws["n_pos"], ws["rep_mean"], ws["rep_s"])

    def compile(self) -> float:
        """Compile (or load from the cache) the wave kernel; seconds spent, 0 if already in memory."""
        return compile_for(_relu_wave, *self._args(0, ALL_PHASES))

    def run(self, phases: int = ALL_PHASES, eta_label: str | None = None) -> None:
        """All waves with ``phases`` (bit flags), totals reset first; a stop request is honoured between waves.

        With ``eta_label``, a run projected to last longer than
        ``LONG_RUN_SECONDS`` says so (a RuntimeWarning) after its first wave.
        """
        for name in ("counts", "rep_w", "tot_mean", "tot_m2", "n_pos", "rep_mean", "rep_s"):
            self.ws[name][...] = 0
        start = time.perf_counter()
        for first in range(0, self.n_chunks, self.wave):
            checkpoint()
            self.ws["done"][:] = 0
            _relu_wave(*self._args(first, phases))
            check_done(self.ws["done"], "relu_moments")
            if eta_label and first == 0 and self.n_chunks > self.wave:
                warn_if_long(eta_label, time.perf_counter() - start, self.wave / self.n_chunks)


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

    Examples
    --------
    >>> from mcbench import mc
    >>> res = mc.relu_moments([0.0], [[1.0]], n_samples=10_000, seed=0)
    >>> type(res).__name__
    'ReluMomentsResult'
    >>> res.n_samples, res.mean.shape, res.cov_se.shape
    (10000, (1,), (1, 1))
    >>> bool(0 < res.n_positive[0] < res.n_samples), bool(res.cov_se_dof == res.n_chunks - 1)
    (True, True)
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

    Examples
    --------
    >>> import numpy as np
    >>> from mcbench import mc, theory
    >>> mean, cov = [0.0, 0.5], [[1.0, 0.3], [0.3, 2.0]]
    >>> res = mc.relu_moments(mean, cov, n_samples=100_000, seed=0)
    >>> res.mean.shape, res.cov.shape, res.n_samples
    ((2,), (2, 2), 100000)
    >>> exact_mean, exact_cov = theory.relu_moments(mean, cov)
    >>> bool((np.abs(res.mean - exact_mean) < 5 * res.mean_se).all())   # within a few SE of theory
    True
    >>> bool((np.abs(res.cov - exact_cov) < 5 * res.cov_se).all())
    True
    """
    n = check_positive_int(n_samples, "n_samples", minimum=2, why="a covariance needs two samples")
    if n > MAX_SAMPLES:
        raise ValueError(f"n_samples must be at most {MAX_SAMPLES:.3g} (2**53, where sample counts stop being "
                         f"exact in float64), got {n:.3g}")
    key = stream_key(seed)
    # BLAS is pinned before the factorisation too: a multi-threaded eigh/Cholesky
    # leaves OpenBLAS workers spinning for a while, which halved the kernel's
    # throughput on 2 cores (measured by `mcbench profile`).
    with numba_threads(threads) as n_threads, single_threaded_blas():
        mean_t, lower_t = prepare_gaussian(mean, cov, dtype)
        d = mean_t.shape[0]
        run = ReluMomentsRun(key, lower_t, mean_t, n, chunk_size, n_threads)
        chunk, n_chunks = run.chunk, run.n_chunks
        compile_s = run.compile()
        start = time.perf_counter()
        run.run(eta_label=f"relu_moments(n_samples={n}, d={d})")
        seconds = time.perf_counter() - start
    ws = run.ws
    tot_mean, tot_m2, rep_s, n_pos = ws["tot_mean"], ws["tot_m2"], ws["rep_s"], ws["n_pos"]
    rep_used = int(ws["counts"][1])
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
