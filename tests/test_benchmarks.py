"""pytest-benchmark micro-benchmarks of the hot kernels (small sizes).

Every kernel is built by :func:`mcbench.perf.kernels.prepare`, which compiles it
and makes a warm-up call, and is timed with ``benchmark.pedantic`` plus one
more warm-up round, so JIT compilation is never timed. Each test also checks
its result, so with ``--benchmark-disable`` (one plain call each) they are
cheap correctness tests.

Timing runs (saved under ``results/pytest-benchmark``)::

    python -m pytest tests/test_benchmarks.py --benchmark-enable --benchmark-autosave \\
        --benchmark-storage=results/pytest-benchmark
    python -m pytest tests/test_benchmarks.py --benchmark-enable --benchmark-storage=results/pytest-benchmark \\
        --benchmark-compare --benchmark-compare-fail=median:10%
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from mcbench._core.threads import numba_threads
from mcbench.perf.kernels import prepare

ROUNDS = 5
MAX_THREADS = numba.config.NUMBA_NUM_THREADS


def _threads(n):
    if n > MAX_THREADS:
        pytest.skip(f"threads={n} > NUMBA_NUM_THREADS={MAX_THREADS}")
    return n


def _bench(benchmark, kernel, threads=None):
    """Time ``kernel.call`` (warm) at ``threads`` Numba threads; record sizes, throughput and compile time."""
    with numba_threads(threads) as n:
        result = benchmark.pedantic(kernel.call, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    benchmark.extra_info.update(kernel=kernel.name, threads=n, compile_seconds=kernel.compile_seconds,
                                **kernel.params)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable
        benchmark.extra_info.update(kernel.rates(stats.stats.median))
    return result


@pytest.mark.benchmark(group="sample_mvn")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sample_mvn(benchmark, dtype):
    kernel = prepare("sample_mvn", d=16, n=20_000, dtype=dtype)
    x = _bench(benchmark, kernel)
    assert x.shape == (20_000, 16) and x.dtype == np.dtype(dtype)
    assert np.isfinite(x).all()


@pytest.mark.benchmark(group="relu_moments")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_moments(benchmark, dtype, threads):
    threads = _threads(threads)
    with numba_threads(threads):
        kernel = prepare("relu_moments", d=16, n=20_000, dtype=dtype)
    res = _bench(benchmark, kernel, threads)
    assert res.n_samples == 20_000 and res.threads == threads
    assert np.isfinite(res.mean).all() and np.isfinite(res.cov).all() and np.isfinite(res.cov_se).all()
    assert (res.mean >= 0).all() and (np.diag(res.cov) >= 0).all()


@pytest.mark.benchmark(group="mlp_propagation")
@pytest.mark.parametrize("threads", [1, 2])
def test_mlp_propagation(benchmark, threads):
    threads = _threads(threads)
    with numba_threads(threads):
        kernel = prepare("mlp_propagation", width=64, depth=4, batch=128)
    frame = _bench(benchmark, kernel, threads)
    assert len(frame) == 4
    assert np.isfinite(frame[["q", "phi2", "qtilde", "wgrad_ms"]].to_numpy()).all()


@pytest.mark.benchmark(group="bvn_cdf")
def test_bvn_cdf(benchmark):
    kernel = prepare("bvn_cdf", n=10_000)
    p = np.asarray(_bench(benchmark, kernel))
    assert p.shape == (10_000,) and ((p >= 0) & (p <= 1)).all()


@pytest.mark.benchmark(group="theory_relu_moments")
def test_theory_relu_moments(benchmark):
    kernel = prepare("theory_relu_moments", d=16)
    mean, cov = _bench(benchmark, kernel)
    assert mean.shape == (16,) and cov.shape == (16, 16)
    assert np.isfinite(mean).all() and np.isfinite(cov).all()


@pytest.mark.benchmark(group="theory_mlp")
def test_theory_mlp(benchmark):
    kernel = prepare("theory_mlp", width=64, depth=10)
    frame = _bench(benchmark, kernel)
    assert len(frame) == 10
    assert np.isfinite(frame["q"].to_numpy()).all()
