"""The hot kernels, one registry for every timing client.

Nightly runs, ``mcbench profile``, the asv suite, the pytest-benchmark
micro-benchmarks and the benchmark scripts all time the same kernels on the
same problems through :func:`prepare`, which does the data preparation and
JIT warm-up up front (so compilation is never timed) and returns a
:class:`PreparedKernel`: a zero-argument callable plus the work it does per
call (samples, normals, flops) for throughput figures. The problems start
from :data:`mcbench.config.DEFAULT_PROBLEMS`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mcbench._core.rng import chunk_plan
from mcbench.config import DEFAULT_MEMORY_BUDGET, DEFAULT_PROBLEMS
from mcbench.mc import mlp_propagation, relu_moments, sample_mvn
from mcbench.mc.mlp import block_size, mlp_flops
from mcbench.perf.timing import time_calls
from mcbench.spec import MLPSpec
from mcbench.theory import bvn_cdf, mlp_propagation as theory_mlp, relu_moments as theory_relu_moments


@dataclass
class PreparedKernel:
    """A kernel ready to time.

    Attributes
    ----------
    name : str
    params : dict
    call : callable
        Runs the kernel once on the prepared problem.
    work : dict
        Work per call: ``samples``, ``normals`` (standard normals drawn) and
        ``flops`` (floating-point operations of its GEMM-like parts), where
        they apply.
    compile_seconds : float
        JIT compile or cache-load time spent in preparation: the kernel's own
        compile time where it reports one (``relu_moments``,
        ``mlp_propagation``), otherwise the first call on a tiny problem
        (2 to 256 samples or evaluations, whose run time is microseconds).
    """

    name: str
    params: dict
    call: Callable
    work: dict = field(default_factory=dict)
    compile_seconds: float = 0.0

    def time(self, repeat: int = 5, min_seconds: float = 0.0) -> np.ndarray:
        """Wall times of ``repeat`` calls (each repeated until ``min_seconds`` if > 0), seconds per call."""
        return time_calls(self.call, repeat, min_seconds)

    def median_seconds(self, repeat: int = 5, min_seconds: float = 0.0) -> float:
        """Median seconds per call over ``repeat`` timings (:meth:`time`); ``prepare`` already warmed it up."""
        return float(np.median(self.time(repeat, min_seconds)))

    @property
    def full_params(self) -> dict:
        """The problem's parameters, the defaults of :data:`mcbench.config.DEFAULT_PROBLEMS` filled in."""
        return DEFAULT_PROBLEMS[self.name] | self.params

    def shape(self, threads: int) -> dict:
        """How the kernel cuts its problem at ``threads`` threads, and its GEMM shape for the limits.

        ``relu_moments``/``sample_mvn``: ``d, n, chunk, n_chunks, slots``;
        ``mlp_propagation``: ``width, depth, batch, networks, block, slots``;
        both: ``dtype`` and ``gemm_rows``, ``gemm_d`` (the ``rows x d @ d x d``
        product that :func:`mcbench.perf.limits.gemm_gflops` should time).
        """
        p = self.full_params
        dtype = np.dtype(p["dtype"])
        if self.name == "mlp_propagation":
            width, networks = p["width"], p["networks"]
            spec = MLPSpec([width] * (p["depth"] + 1), p["activation"], p["init"])
            block = block_size(spec, p["batch"], dtype, DEFAULT_MEMORY_BUDGET, False)
            return {"width": width, "depth": p["depth"], "batch": p["batch"], "networks": networks, "block": block,
                    "slots": min(threads, networks), "dtype": dtype.name, "gemm_rows": block, "gemm_d": width}
        if self.name not in ("relu_moments", "sample_mvn"):
            raise ValueError(f"no chunk shape for kernel {self.name!r}")
        d, n = p["d"], p["n"]
        n_chunks, chunk = chunk_plan(n, d)
        return {"d": d, "n": n, "chunk": chunk, "n_chunks": n_chunks, "slots": min(threads, n_chunks),
                "dtype": dtype.name, "gemm_rows": chunk, "gemm_d": d}

    def rates(self, seconds: float) -> dict:
        """Throughput for one call taking ``seconds``: samples/s, normals/s, GFLOP/s."""
        out = {}
        if "samples" in self.work:
            out["samples_per_s"] = self.work["samples"] / seconds
        if "normals" in self.work:
            out["normals_per_s"] = self.work["normals"] / seconds
        if "flops" in self.work:
            out["gflop_per_s"] = self.work["flops"] / seconds / 1e9
        if "evaluations" in self.work:
            out["evaluations_per_s"] = self.work["evaluations"] / seconds
        return out


def gaussian_problem(d: int, seed: int = 0):
    """The Gaussian every ReLU-moment and sampling benchmark uses: (mean (d,), cov (d, d)), cov SPD."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    return 0.5 * rng.standard_normal(d), a @ a.T / d + 0.1 * np.eye(d)


def _prepare_sample_mvn(d, n, dtype, seed):
    mean, cov = gaussian_problem(d)
    start = time.perf_counter()
    sample_mvn(mean, cov, 256, seed=seed, dtype=dtype)
    compile_s = time.perf_counter() - start
    return (lambda: sample_mvn(mean, cov, n, seed=seed, dtype=dtype),
            {"samples": n, "normals": n * d, "flops": float(n) * d * d}, compile_s)


def _prepare_relu_moments(d, n, dtype, seed):
    mean, cov = gaussian_problem(d)
    compile_s = relu_moments(mean, cov, 1024, seed=seed, dtype=dtype).compile_seconds
    # TRMM (d^2 flops per sample) + SYRK (d^2 + d): what the kernel actually executes.
    return (lambda: relu_moments(mean, cov, n, seed=seed, dtype=dtype),
            {"samples": n, "normals": n * d, "flops": float(n) * (2 * d * d + d)}, compile_s)


def _prepare_mlp(width, depth, batch, networks, dtype, activation, init, seed):
    spec = MLPSpec([width] * (depth + 1), activation, init)
    compile_s = mlp_propagation(MLPSpec([4, 4, 4], activation, init), 2, 8, dtype=dtype).attrs["compile_seconds"]
    flops = mlp_flops(spec.widths, networks, batch, executed=True)
    return (lambda: mlp_propagation(spec, networks, batch, seed=seed, dtype=dtype),
            {"samples": networks * batch, "flops": flops}, compile_s)


def _prepare_bvn_cdf(n, seed):
    rng = np.random.default_rng(seed)
    h, k = rng.uniform(-4, 4, n), rng.uniform(-4, 4, n)
    rho = rng.uniform(-1, 1, n)
    start = time.perf_counter()
    bvn_cdf(h[:4], k[:4], rho[:4])
    compile_s = time.perf_counter() - start
    return lambda: bvn_cdf(h, k, rho), {"evaluations": n}, compile_s


def _prepare_theory_relu(d):
    mean, cov = gaussian_problem(d)
    start = time.perf_counter()
    theory_relu_moments(mean[:2], cov[:2, :2])
    compile_s = time.perf_counter() - start
    return lambda: theory_relu_moments(mean, cov), {"evaluations": d * (d + 1) // 2}, compile_s


def _prepare_theory_mlp(width, depth, activation, init, pair_correlation):
    spec = MLPSpec([width] * (depth + 1), activation, init)
    start = time.perf_counter()
    theory_mlp(MLPSpec([4, 4], activation, init), pair_correlation=pair_correlation)
    compile_s = time.perf_counter() - start
    return (lambda: theory_mlp(spec, pair_correlation=pair_correlation),
            {"evaluations": depth}, compile_s)


KERNELS = {
    "sample_mvn": _prepare_sample_mvn,
    "relu_moments": _prepare_relu_moments,
    "mlp_propagation": _prepare_mlp,
    "bvn_cdf": _prepare_bvn_cdf,
    "theory_relu_moments": _prepare_theory_relu,
    "theory_mlp": _prepare_theory_mlp,
}


#: Calibration only (see the module docstring): ``name:factor[,name:factor...]``, factor > 1.
INJECT_VARIABLE = "MCBENCH_INJECT_SLOWDOWN"
#: The size parameter an injected slowdown scales, per kernel.
_INJECT_SIZE = {"sample_mvn": "n", "relu_moments": "n", "mlp_propagation": "batch", "bvn_cdf": "n"}


def injected_slowdowns() -> dict:
    """``{kernel: factor}`` from :data:`INJECT_VARIABLE` (empty when unset); ValueError if malformed."""
    text = os.environ.get(INJECT_VARIABLE, "").strip()
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, factor = item.partition(":")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if name not in _INJECT_SIZE or not value > 1:
            raise ValueError(f"{INJECT_VARIABLE}={text!r}: each item must be KERNEL:FACTOR with FACTOR > 1 and "
                             f"KERNEL one of {', '.join(_INJECT_SIZE)}")
        out[name] = value
    return out


def prepare(name: str, **params) -> PreparedKernel:
    """Build kernel ``name`` on its default problem (``params`` override :data:`mcbench.config.DEFAULT_PROBLEMS`).

    The kernel is compiled (or loaded from the cache) and called once at full
    size, so that no timing includes compilation, page faults or thread start-up.

    Parameters
    ----------
    name : str
        One of :data:`KERNELS`.
    **params
        Problem parameters; unknown names are an error.

    Returns
    -------
    PreparedKernel
    """
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; known: {', '.join(KERNELS)}")
    unknown = sorted(set(params) - set(DEFAULT_PROBLEMS[name]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for kernel {name!r}; "
                         f"it takes {', '.join(DEFAULT_PROBLEMS[name])}")
    full = DEFAULT_PROBLEMS[name] | params
    call, work, compile_s = KERNELS[name](**full)
    factor = injected_slowdowns().get(name)
    if factor is not None:  # calibration only: repeat a fraction (factor - 1) of the work after each call
        size = _INJECT_SIZE[name]
        extra = KERNELS[name](**(full | {size: max(2, round((factor - 1) * full[size]))}))[0]
        base = call

        def call():
            base()
            extra()

    call()  # first full-size call: page faults, BLAS thread start, caches
    return PreparedKernel(name, dict(params), call, work, compile_s)


def problem_label(name: str, params: dict) -> str:
    """``name[k=v,...]``: how reports name a kernel on a problem."""
    return name + ("[" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + "]" if params else "")
