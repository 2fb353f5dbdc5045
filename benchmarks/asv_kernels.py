"""asv benchmarks of mcbench's hot kernels, across commits.

One class per kernel of :data:`mcbench.perf.kernels.KERNELS`, each built through
:func:`mcbench.perf.kernels.prepare` (the same problems that nightly runs,
``mcbench profile`` and the pytest-benchmark micro-benchmarks time):

* ``time_kernel``: one call of the prepared kernel;
* ``track_compile_seconds``: ``PreparedKernel.compile_seconds``, the JIT time
  paid by a fresh process. ``setup_cache`` has filled Numba's on-disk cache by
  then, so this is the cache-load time; cold compiles are shown by
  ``mcbench profile``;
* ``track_samples_per_second`` / ``track_evaluations_per_second``,
  ``track_gflops``: throughput (median of a few calls, flops as executed,
  :attr:`PreparedKernel.work`);
* ``track_fraction_of_rng_limit``, ``track_fraction_of_gemm_limit``:
  throughput over this machine's limits (:mod:`mcbench.perf.limits`), measured in the
  same process with the same threads, so the fraction stays comparable when
  the machine changes;
* ``track_efficiency`` (fused ReLU moments): statistical efficiency.

Compilation is never timed
--------------------------
``setup_cache`` (asv runs it once per environment, in its own process, before
any benchmark: all classes share it) prepares every kernel at a tiny size for
every dtype, which compiles them into Numba's disk cache. ``setup`` prepares
the benchmarked problem (data, JIT load and a first full-size call) once per
process and memoises it, because asv re-runs ``setup`` before every timing
sample (and, with ``number > 1``, between calls).

Processes, threads and fork safety
----------------------------------
asv runs every benchmark in a separate interpreter. Numba's threading layers
differ in fork safety: GNU OpenMP (``omp``, which Numba picks when TBB is not
installed) aborts a child forked after a parallel region ran, ``workqueue``
is fork-safe but not thread-safe, ``tbb`` is both. So:

* ``asv.conf.json`` pins ``"launch_method": "spawn"``: a fresh interpreter per
  benchmark, never a fork of one that has run Numba code;
* nothing in this module runs Numba code at import time (asv's ``check`` and
  discovery import it), so even a ``forkserver`` launch would fork a process
  whose thread pool has not started;
* the layer is not forced: ``NUMBA_THREADING_LAYER`` is ``default`` in the
  config's ``env_nobuild`` matrix, so results describe the layer users get;
  list other values there (e.g. ``["default", "workqueue"]``) to compare layers.

The thread count is a parameter: ``setup`` calls ``numba.set_num_threads``;
BLAS is pinned to one thread by the kernels themselves
(:func:`mcbench._core.threads.single_threaded_blas`), as are the limit
measurements. Counts above ``NUMBA_NUM_THREADS`` are skipped. The theory
kernels are serial and have no thread parameter.

Sizes
-----
Chosen so that a full ``asv run`` on 2 cores takes minutes: every call lasts
milliseconds to about half a second.
"""

from __future__ import annotations

import numba
import numpy as np

from mcbench.perf import limits
from mcbench.perf.kernels import prepare

DTYPES = ["float64", "float32"]
THREADS = [1, 2]
#: Smallest problem of each kernel: what setup_cache compiles.
TINY = {
    "sample_mvn": {"d": 2, "n": 256},
    "relu_moments": {"d": 2, "n": 1024},
    "mlp_propagation": {"width": 4, "depth": 2, "batch": 8},
    "bvn_cdf": {"n": 4},
    "theory_relu_moments": {"d": 2},
    "theory_mlp": {"width": 4, "depth": 1},
}
HAS_DTYPE = ("sample_mvn", "relu_moments", "mlp_propagation")

_PREPARED: dict = {}


def _prepared(name: str, threads: int | None, **params):
    """``prepare(name, **params)`` once per process, with ``threads`` Numba threads set.

    asv calls ``setup`` before every timing sample; the kernels are pure, so the
    prepared problem is reused rather than rebuilt.
    """
    if threads is not None:
        if threads > numba.config.NUMBA_NUM_THREADS:
            raise NotImplementedError(f"threads={threads} > NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}")
        numba.set_num_threads(threads)
    key = (name, tuple(sorted(params.items())))
    if key not in _PREPARED:
        _PREPARED[key] = prepare(name, **params)
    return _PREPARED[key]


class _KernelBenchmark:
    """Shared attributes and benchmarks; subclasses set ``kernel``, ``params`` and ``problem``."""

    kernel = ""
    timeout = 300.0
    number = 1  # asv times each call alone when setup exists (asv#966); calls last 0.1 ms to 0.5 s
    repeat = (3, 10, 5.0)  # (min samples, max samples, max seconds)
    warmup_time = 0.0  # prepare() already made a full-size warm-up call
    timing_repeat = 3  # calls behind each throughput figure (median)

    def problem(self, *params) -> tuple[dict, int | None]:
        """(prepare parameters, threads or None) for one parameter combination."""
        raise NotImplementedError

    def setup_cache(self):
        # asv keys setup_cache by where it is defined, so this one runs once for the whole suite.
        return warm_jit_cache()

    setup_cache.timeout = 900  # cold compiles of every kernel and dtype, on 2 cores

    def setup(self, cache, *params):
        problem, self.threads = self.problem(*params)
        self.k = _prepared(self.kernel, self.threads, **problem)

    def seconds(self) -> float:
        return self.k.median_seconds(self.timing_repeat, min_seconds=0.05)

    def rate(self, key: str) -> float:
        return self.k.rates(self.seconds())[key]

    def fraction(self, which: str) -> float:
        """Fraction of the ``rng`` or ``gemm`` limit; only that limit is measured (asv runs each track alone)."""
        shape = self.k.shape(self.threads)
        if which == "rng":
            lim = {"rng_normals_per_s": limits.rng_normals_per_second(shape["dtype"], self.threads)}
        else:
            lim = {"gemm_gflop_per_s": limits.gemm_gflops(shape["gemm_rows"], shape["gemm_d"], shape["dtype"],
                                                          self.threads)}
        return limits.limit_fractions(self.k.rates(self.seconds()), lim)[which]

    def time_kernel(self, cache, *params):
        self.k.call()

    def track_compile_seconds(self, cache, *params):
        return self.k.compile_seconds

    track_compile_seconds.unit = "seconds"


def warm_jit_cache() -> dict:
    """Compile every kernel, every dtype, at its smallest size into Numba's on-disk cache.

    Returns ``{kernel: {dtype: compile seconds}}``; a kernel that fails here
    is recorded as its error message and left to fail in its own benchmarks'
    ``setup`` only, so one broken kernel does not stop the whole suite.
    """
    out = {}
    for name, tiny in TINY.items():
        out[name] = {}
        for dtype in DTYPES if name in HAS_DTYPE else [None]:
            extra = {} if dtype is None else {"dtype": dtype}
            try:
                out[name][dtype or "-"] = prepare(name, **tiny, **extra).compile_seconds
            except Exception as exc:  # noqa: BLE001  (reported, not hidden: setup re-raises it)
                out[name][dtype or "-"] = f"{type(exc).__name__}: {exc}"
    return out


class _Throughput:
    """Samples/s and GFLOP/s, and their fractions of the machine limits."""

    def track_samples_per_second(self, cache, *params):
        return self.rate("samples_per_s")

    track_samples_per_second.unit = "samples/s"

    def track_gflops(self, cache, *params):
        return self.rate("gflop_per_s")

    track_gflops.unit = "GFLOP/s"

    def track_fraction_of_gemm_limit(self, cache, *params):
        """Executed GFLOP/s over BLAS GEMM GFLOP/s on the kernel's shapes, one GEMM per thread."""
        return self.fraction("gemm")

    track_fraction_of_gemm_limit.unit = "fraction"


class _RngBound(_Throughput):
    """Throughput tracks plus the fraction of the RNG limit, for kernels bound by drawing normals."""

    def track_fraction_of_rng_limit(self, cache, *params):
        """Normals/s over mcbench's generator alone on the same threads."""
        return self.fraction("rng")

    track_fraction_of_rng_limit.unit = "fraction"


class _Evaluations:
    """Evaluations/s (``PreparedKernel.work["evaluations"]``), for the serial theory kernels."""

    def track_evaluations_per_second(self, cache, *params):
        return self.rate("evaluations_per_s")

    track_evaluations_per_second.unit = "evaluations/s"


class _GaussianKernel(_RngBound, _KernelBenchmark):
    """n x d Gaussian samples, n = ``normals`` / d: the same RNG work at every d."""

    normals = 0
    params = [[16, 64, 256], DTYPES, THREADS]
    param_names = ["d", "dtype", "threads"]

    def problem(self, d, dtype, threads):
        return {"d": d, "n": self.normals // d, "dtype": dtype}, threads


class SampleMVN(_GaussianKernel):
    """``mcbench.sample_mvn``: n x d samples of N(mean, cov) (RNG, TRMM, output writes)."""

    kernel = "sample_mvn"
    normals = 2**21


class ReluMoments(_GaussianKernel):
    """``mcbench.mc.relu_moments``: the fused RNG -> TRMM -> ReLU -> SYRK -> merge kernel."""

    kernel = "relu_moments"
    normals = 2**22

    def track_efficiency(self, cache, *params):
        """Statistical efficiency: 1 / (mean(cov_se)^2 * seconds per call).

        The variance reached per second of computing: doubling the speed, or
        halving the variance at the same speed, doubles it. It depends on the
        machine's speed, but at a fixed machine it is comparable across
        algorithm changes that trade speed for variance (chunking, dtype,
        variance reduction), where samples/s alone is not. Deterministic up to
        the timing: the seed is fixed.
        """
        res = self.k.call()
        return 1.0 / (float(np.nanmean(res.cov_se)) ** 2 * self.seconds())

    track_efficiency.unit = "1/(SE^2 s)"


class MLPPropagation(_Throughput, _KernelBenchmark):
    """``mcbench.mc.mlp_propagation``: forward and backward Monte Carlo through random ReLU MLPs."""

    kernel = "mlp_propagation"
    params = [[256, 1024], [2, 8], DTYPES, THREADS]
    param_names = ["width", "depth", "dtype", "threads"]

    def problem(self, width, depth, dtype, threads):
        # 2 networks (the registry's default): one per thread at 2 threads.
        return {"width": width, "depth": depth, "batch": 128, "dtype": dtype}, threads


class BivariateNormalCDF(_Evaluations, _KernelBenchmark):
    """``mcbench.theory.bvn_cdf`` on random (h, k, rho); serial."""

    kernel = "bvn_cdf"
    params = [[10_000, 100_000]]
    param_names = ["n"]

    def problem(self, n):
        return {"n": n}, None


class TheoryReluMoments(_Evaluations, _KernelBenchmark):
    """``mcbench.theory.relu_moments``: exact mean and covariance of ReLU(X); serial."""

    kernel = "theory_relu_moments"
    params = [[16, 64, 256]]
    param_names = ["d"]

    def problem(self, d):
        return {"d": d}, None


class TheoryMLP(_Evaluations, _KernelBenchmark):
    """``mcbench.theory.mlp_propagation``: mean-field q-, c- and backward maps layer by layer; serial."""

    kernel = "theory_mlp"
    params = [[10, 50], ["tanh", "relu"]]
    param_names = ["depth", "activation"]

    def problem(self, depth, activation):
        init = "he_normal" if activation == "relu" else "xavier_normal"
        return {"width": 256, "depth": depth, "activation": activation, "init": init}, None
