"""``mcbench profile KERNEL``: where one hot kernel's time goes, against this machine's limits.

Kernels: ``relu_moments``, ``sample_mvn``, ``mlp_propagation``, built on the
same problems as every other timing client through
:func:`mcbench.perf.kernels.prepare`, and compared with the limits of
:mod:`mcbench.perf.limits`, so the numbers agree with the asv suite, nightly runs
and ``benchmarks/bench_relu_moments.py`` within noise.

What is measured, and how
-------------------------
compile
    Two fresh interpreters build the kernel with ``prepare`` and report its
    ``compile_seconds``. *Cold*: ``NUMBA_CACHE_DIR`` points at an empty
    temporary folder, so every njit function compiles from scratch (a fresh
    install). *Cached*: the default cache, which this process has just filled
    by preparing the kernel itself, so it measures loading the compiled code
    (what every later run pays); the child also reports whether the top-level
    kernel really came from the cache. Import time of ``mcbench`` is shown
    beside them.
phases
    Each phase of the kernel runs alone, through the kernel's own internal
    functions, on the kernel's chunk shapes and number of parallel slots
    (``prange`` over ``min(threads, chunks)`` slots), over all of the
    problem's chunks:

    * ``relu_moments``: RNG (``chunk_state`` + ``fill_normals``), TRMM
      (``times_upper``), ReLU + centre (``_relu_center_chunk``), SYRK
      (``gram_lower``) and the ordered merge. The merge is not a function of
      its own, so it is timed as the real kernel on the same number of chunks
      of 2 samples each: the per-sample work vanishes, leaving the merge plus
      each chunk's fixed cost.
    * ``sample_mvn``: RNG and TRMM (the writes into the n x d output array,
      page faults included, remain in "unaccounted").
    * ``mlp_propagation`` (one network per slot, inputs in the kernel's
      blocks): RNG (weights, inputs and the backward seed v), forward GEMM,
      pointwise + statistics (``_forward_pointwise`` + ``_backward_pointwise``,
      each applying phi or phi' and gathering its layer's statistics in one
      pass), backward GEMM.

    Inputs are realistic (normals, Gaussian samples, ReLU outputs, real
    activations), prepared once by the same functions. In-place phases
    (TRMM, ReLU + centre, pointwise + statistics) work on a fresh copy of their input
    each time, as repeated in-place application would drift into overflow or
    denormals; the copy's own time, measured by a copy-only pass, is
    subtracted. Phases run with BLAS pinned to one thread, inputs included:
    a multi-threaded BLAS call leaves OpenBLAS's threads spinning for a
    fraction of a second, which on 2 cores halves the Numba threads' speed.
    The end-to-end time is the prepared kernel's median call; "unaccounted" is
    end-to-end minus the summed phases: the mean shift, weight scaling, thread
    start-up, Python-side set-up (and its LAPACK calls, whose spinning BLAS
    threads compete with the kernel), cache effects between phases. It may be
    negative when phases run slower alone. Shares are of the end-to-end
    time, so the phases and "unaccounted" add up to 100%. A phase no slower
    than the copy of its input is shown as 0 and starred: this method cannot
    resolve it. Timings on a busy machine mislead, so the report records how
    many cores other processes kept busy meanwhile (``/proc/stat``) and warns
    above a quarter of a core, and also when the phases alone overshoot the
    end-to-end time by more than 10%.
limits
    :func:`mcbench.perf.limits.machine_limits` in this process, same threads:
    RNG normals/s and GEMM GFLOP/s on the kernel's ``chunk x d @ d x d`` (MLP:
    ``block x width @ width x width``) shapes, one product per thread.
    Flops are those the kernel executes (``PreparedKernel.work``).
scaling
    The prepared kernel timed at 1, 2, 4, ... and N threads (N = ``--threads``
    or ``NUMBA_NUM_THREADS``); speed-up = t(1) / t(k), efficiency = speed-up / k.
memory
    Numba allocates through its own runtime (malloc), which ``tracemalloc``
    does not see, so the cached-compile child reads its resident set from
    ``/proc/self/status``: the process peak (``VmHWM``) after ``prepare``, and
    the extra peak of one warm call (``VmHWM`` after the call, with the peak
    reset through ``/proc/self/clear_refs`` just before, minus ``VmRSS``
    before the call). Without ``/proc``: ``getrusage`` ``ru_maxrss``
    differences, a lower bound (the method is reported).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from numba import njit, prange

import pandas as pd

from mcbench.perf import limits
from mcbench._signals import checkpoint
from mcbench._core.blas import blas_functions, gram_lower, times_upper
from mcbench._core.rng import chunk_state, fill_normals, gaussian_chunk, stream_key
from mcbench._core.threads import numba_threads, resolve_threads, single_threaded_blas
from mcbench.perf.kernels import gaussian_problem, prepare, problem_label
from mcbench.mc.mlp import (
    BACKWARD_STREAM,
    N_STATS,
    S_PHI2,
    _backward_pointwise,
    _draw_inputs,
    _draw_weights,
    _forward_pointwise,
    _kind_code,
    _KIND_LINEAR,
    _factor_dtype,
    mlp_flops,
)
from mcbench.mc.relu import _relu_center_chunk, relu_moments
from mcbench.mc.sampling import prepare_gaussian
from mcbench.config import NEGATIVE_UNACCOUNTED_WARNING, PROFILE_CHILD_TIMEOUT, TIMING_MIN_SECONDS, TIMING_REPEAT
from mcbench.env import OtherLoad, busy_note, environment
from mcbench.perf.timing import median_seconds
from mcbench.spec import MLPSpec

#: The compiled entry point of each kernel: the child checks that it came from the cache.
_TOP_LEVEL = {
    "relu_moments": ("mcbench.mc.relu", "_relu_moment_kernel"),
    "sample_mvn": ("mcbench.mc.sampling", "_sample_kernel"),
    "mlp_propagation": ("mcbench.mc.mlp", "_mlp_kernel"),
}
PROFILED = tuple(_TOP_LEVEL)


# ----------------------------------------------------------- phase drivers -----

_COPY, _RNG, _TRMM, _RELU, _SYRK = range(5)


@njit(cache=True)
def _chunk_phase(phase, key, c, trmm, syrk, lower_t, src, x, m2, col_mean, n_pos):
    """One phase of one chunk: RNG and copy write ``x``; SYRK reads ``src``; TRMM/ReLU copy ``src`` first."""
    if phase == _RNG:
        state = np.empty(4, np.uint64)
        chunk_state(key, c, state)
        fill_normals(state, x)
    elif phase == _SYRK:
        gram_lower(syrk, src, m2)
    else:
        x[:] = src
        if phase == _TRMM:
            times_upper(trmm, x, lower_t)
        elif phase == _RELU:
            _relu_center_chunk(x, col_mean, n_pos)


@njit(parallel=True, cache=True)
def _chunk_phases(phase, key, trmm, syrk, lower_t, src, x, m2, col_mean, n_pos, n, chunk):
    """Run ``phase`` over every chunk of an ``n``-sample job, chunks dealt round-robin to ``x.shape[0]`` slots.

    One parallel region, as in the kernels (``relu_moments`` deals a wave of
    chunks the same way; ``sample_mvn`` gives each thread a contiguous run).
    """
    slots = x.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for s in prange(slots):
        for c in range(s, n_chunks, slots):
            rows = min(chunk, n - c * chunk)
            _chunk_phase(phase, key, c, trmm, syrk, lower_t, src[s, :rows], x[s, :rows], m2[s],
                         col_mean[s], n_pos[s])


_M_COPY, _M_RNG, _M_FWD, _M_POINT, _M_BWD, _M_PREPARE = range(6)


@njit(cache=True)
def _network_phase(phase, key, net, w, w_std, input_std, h, zp, gp, dp, factor, zs, ds, ps, hn2,
                   hn2s, st, bias, phi, dphi, a, b, kind, n_inputs, block):
    """One phase of one network, over all its input blocks (uniform widths).

    ``h``, ``zp``, ``gp``, ``dp``, ``factor`` (depth + 1, block, width) hold
    one block's activations, pre-activations, pre-mask backward products,
    deltas and what the backward pass reads of each layer (the ReLU mask or
    phi'(z), in the kernel's dtype for it), filled by ``_M_PREPARE`` through
    the kernel's own functions; timed phases read them and write the scratch
    ``zs``, ``ds``, ``ps`` (block, width), so every repetition sees the same
    data.
    """
    depth = w.shape[0]
    state = np.empty(4, np.uint64)
    if phase == _M_RNG:
        chunk_state(key, net, state)
        fill_normals(state, w)
    if phase == _M_PREPARE:  # the kernel's own draws (zero bias), in its order
        chunk_state(key, net, state)
        for l in range(depth):
            _draw_weights(state, w[l].reshape(-1), w_std[l], False)
        _draw_inputs(state, h[0], input_std, np.nan, hn2[0])
        for s in range(hn2.shape[1]):
            st[0, S_PHI2] += hn2[0, s]
        for l in range(depth):
            np.dot(h[l], w[l].T, zp[l + 1])
            h[l + 1][:] = zp[l + 1]
            _forward_pointwise(h[l + 1], bias, phi, dphi, a, b, kind, factor[l + 1], hn2[0], hn2[l + 1], st[l + 1])
        chunk_state(key, BACKWARD_STREAM + net, state)
        fill_normals(state, dp[depth])
        _backward_pointwise(dp[depth], factor[depth, :0], _KIND_LINEAR, 1.0, hn2[depth - 1], st[depth])
        for l in range(depth - 1, 0, -1):
            np.dot(dp[l + 1], w[l], gp[l])
            dp[l][:] = gp[l]
            _backward_pointwise(dp[l], factor[l], kind, a, hn2[l - 1], st[l])
        return
    for start in range(0, n_inputs, block):
        rows = min(block, n_inputs - start)
        if phase == _M_RNG:
            fill_normals(state, h[0, :rows])
            fill_normals(state, dp[depth, :rows])
        elif phase == _M_FWD:
            for l in range(depth):
                np.dot(h[l, :rows], w[l].T, zs[:rows])
        elif phase == _M_BWD:
            for l in range(depth - 1, 0, -1):
                np.dot(dp[l + 1, :rows], w[l], ds[:rows])
        else:  # copy baseline, or copy + pointwise and statistics
            for l in range(depth):
                zs[:rows] = zp[l + 1, :rows]
                if phase == _M_POINT:
                    _forward_pointwise(zs[:rows], bias, phi, dphi, a, b, kind, ps[:rows], hn2[0, :rows], hn2s[:rows],
                                       st[l + 1])
            for l in range(depth, 0, -1):
                ds[:rows] = dp[depth, :rows] if l == depth else gp[l, :rows]
                if phase != _M_POINT:
                    continue
                if l == depth:  # delta^L = v: statistics only, as in the kernel
                    _backward_pointwise(ds[:rows], ps[:0], _KIND_LINEAR, 1.0, hn2[l - 1, :rows], st[l])
                else:
                    _backward_pointwise(ds[:rows], factor[l, :rows], kind, a, hn2[l - 1, :rows], st[l])


@njit(parallel=True, cache=True)
def _network_phases(phase, key, w, w_std, input_std, h, zp, gp, dp, factor, zs, ds, ps, hn2, hn2s, st,
                    bias, phi, dphi, a, b, kind, n_networks, n_inputs, block):
    """Run ``phase`` for every network, dealt round-robin to ``w.shape[0]`` slots, as ``_mlp_kernel`` does."""
    slots = w.shape[0]
    for s in prange(slots):
        for net in range(s, n_networks, slots):
            _network_phase(phase, key, net, w[s], w_std, input_std, h[s], zp[s], gp[s], dp[s], factor[s],
                           zs[s], ds[s], ps[s], hn2[s], hn2s[s], st[s], bias, phi, dphi, a, b, kind,
                           n_inputs, block)


# ------------------------------------------------------------------ phases -----


def _phase_table(times: dict, copy_seconds: float, copied: tuple) -> tuple[dict, set]:
    """Subtract the copy baseline from the phases that copy their input first (``copied``).

    Returns ``({name: seconds}, swallowed)``. A phase no slower than its copy
    alone is below what this method resolves: it is set to 0 and named in
    ``swallowed``, so the report can say so rather than show a clean zero.
    """
    seconds, swallowed = {}, set()
    for name, t in times.items():
        if name in copied:
            t -= copy_seconds
            if t <= 0.0:
                swallowed.add(name)
                t = 0.0
        seconds[name] = t
    return seconds, swallowed


def _gaussian_phases(kernel, threads, repeat, min_seconds):
    """Phases of ``relu_moments`` / ``sample_mvn``: raw {name: seconds}, work per phase, problem shape.

    The shape also holds the copy baseline and the in-place phases it is
    subtracted from (by :func:`profile`, through :func:`_phase_table`).
    """
    shape = kernel.shape(threads)
    p = kernel.full_params
    d, n, dtype = shape["d"], shape["n"], np.dtype(shape["dtype"])
    n_chunks, chunk, slots = shape["n_chunks"], shape["chunk"], shape["slots"]
    x = np.empty((slots, chunk, d), dtype)
    m2 = np.zeros((slots, d, d), dtype)
    col_mean = np.empty((slots, d))
    n_pos = np.empty((slots, d), np.int64)
    syrk, trmm = blas_functions(dtype)
    key = stream_key(p["seed"])

    def run(phase, src):
        _chunk_phases(phase, key, trmm, syrk, lower_t, src, x, m2, col_mean, n_pos, n, chunk)

    def timed(phase, src):
        return median_seconds(lambda: run(phase, src), repeat, min_seconds)

    # BLAS on one thread throughout, as inside the kernels; also while preparing
    # the inputs, because a multi-threaded BLAS call leaves OpenBLAS threads
    # spinning (competing with the timed phases) for a fraction of a second.
    with numba_threads(threads), single_threaded_blas():
        mean, cov = gaussian_problem(d)
        mean_t, lower_t = prepare_gaussian(mean, cov, dtype)
        # Realistic inputs, made by the kernel's own functions: normals (TRMM's
        # input), Gaussian samples (ReLU's), centred ReLU outputs (SYRK's).
        run(_RNG, x)
        normals = x.copy()
        samples = np.empty_like(x)
        for s in range(slots):
            gaussian_chunk(key, s, trmm, lower_t, mean_t, samples[s])
        run(_RELU, samples)
        centred = x.copy()

        copy_s = timed(_COPY, normals)
        raw = {"RNG": timed(_RNG, x), "TRMM": timed(_TRMM, normals)}
        if kernel.name == "relu_moments":
            raw["ReLU+centre"] = timed(_RELU, samples)
            raw["SYRK"] = timed(_SYRK, centred)
    if kernel.name == "relu_moments":
        # The real kernel (which pins BLAS itself) on 2-sample chunks: its per-sample work
        # vanishes, leaving the ordered merge and each chunk's fixed cost.
        merge = [relu_moments(mean, cov, 2 * n_chunks, p["seed"], dtype, chunk_size=2, threads=threads).seconds
                 for _ in range(repeat + 1)]
        raw["merge"] = float(np.median(merge[1:]))  # the first call warms up
    trmm_flops = float(n) * d * d
    work = {"RNG": (n * d, "normals"), "TRMM": (trmm_flops, "flops")}
    if kernel.name == "relu_moments":
        work["SYRK"] = (kernel.work["flops"] - trmm_flops, "flops")
    return raw, work, shape | {"copy_baseline_seconds": copy_s, "in_place_phases": ("TRMM", "ReLU+centre")}


def _mlp_phase_args(kernel, threads):
    """``_network_phases``' arguments after ``phase`` for ``kernel``'s problem, its spec and shape, and ``st``.

    The arrays start empty; ``_M_PREPARE`` fills them and, on one block of
    inputs, accumulates exactly the kernel's per-network sums in ``st``
    (slots, depth + 1, N_STATS), which is also returned on its own.
    """
    shape = kernel.shape(threads)
    p = kernel.full_params
    width, depth, batch, networks = shape["width"], shape["depth"], shape["batch"], shape["networks"]
    block, slots, dtype = shape["block"], shape["slots"], np.dtype(shape["dtype"])
    spec = MLPSpec([width] * (depth + 1), p["activation"], p["init"])
    act = spec.activation
    kind = _kind_code(act)
    layers = (slots, depth + 1, block, width)
    h, zp, gp, dp = (np.zeros(layers, dtype) for _ in range(4))
    factor = np.zeros(layers, _factor_dtype(kind, dtype))
    zs, ds = (np.zeros((slots, block, width), dtype) for _ in range(2))
    ps = np.zeros((slots, block, width), factor.dtype)
    w = np.empty((slots, depth, width, width), dtype)
    hn2s = np.ones((slots, block))
    hn2 = np.ones((slots, depth + 1, block))
    st = np.zeros((slots, depth + 1, N_STATS))
    phi, dphi = act.kernel_functions()
    args = (stream_key(p["seed"]), w, np.sqrt(spec.layer_weight_vars()), float(np.sqrt(spec.input_var)),
            h, zp, gp, dp, factor, zs, ds, ps, hn2, hn2s, st, np.zeros(width), phi, dphi,
            act.a, act.b, kind, networks, batch, block)
    return args, spec, shape, st


def _mlp_phases(kernel, threads, repeat, min_seconds):
    """Phases of ``mlp_propagation``: raw {name: seconds}, work per phase, problem shape (as :func:`_gaussian_phases`)."""
    args, spec, shape, _ = _mlp_phase_args(kernel, threads)
    width, depth, batch, networks = shape["width"], shape["depth"], shape["batch"], shape["networks"]

    def run(phase):
        _network_phases(phase, *args)

    def timed(phase):
        return median_seconds(lambda: run(phase), repeat, min_seconds)

    with numba_threads(threads), single_threaded_blas():  # as in _gaussian_phases
        run(_M_PREPARE)
        copy_s = timed(_M_COPY)
        raw = {"forward GEMM": timed(_M_FWD), "pointwise+stats": timed(_M_POINT), "backward GEMM": timed(_M_BWD),
               "RNG": timed(_M_RNG)}  # last: it overwrites the prepared weights and inputs with fresh draws
    forward = mlp_flops(spec.widths, networks, batch) / 2
    work = {"RNG": (networks * (depth * width * width + 2 * batch * width), "normals"),
            "forward GEMM": (forward, "flops"), "backward GEMM": (kernel.work["flops"] - forward, "flops")}
    order = ["RNG", "forward GEMM", "pointwise+stats", "backward GEMM"]
    return {k: raw[k] for k in order}, work, shape | {"copy_baseline_seconds": copy_s,
                                                      "in_place_phases": ("pointwise+stats",)}


# --------------------------------------------------------- child processes -----

_CHILD = """\
import json, sys, time
start = time.perf_counter()
import mcbench.perf.kernels
import_seconds = time.perf_counter() - start
from mcbench.perf.profile import _child_report
print(json.dumps(_child_report(json.loads(sys.argv[1]), import_seconds)))
"""


def _proc_status() -> dict | None:
    """{"VmRSS": KiB, "VmHWM": KiB} of this process, or None without /proc."""
    try:
        with open("/proc/self/status") as fh:
            out = {}
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
            return out if len(out) == 2 else None
    except OSError:
        return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _max_rss_kib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # bytes on macOS, KiB elsewhere


def _child_report(spec: dict, import_seconds: float) -> dict:
    """In a fresh interpreter: prepare the kernel, report compile time, cache use and memory."""
    name, params, threads = spec["kernel"], spec["params"], spec["threads"]
    exact = _proc_status() is not None and _reset_peak()
    with numba_threads(threads):
        kernel = prepare(name, **params)
        after_prepare = _proc_status() if exact else None
        rusage_before = _max_rss_kib()
        exact = exact and _reset_peak()
        kernel.call()
        after_call = _proc_status() if exact else None
    module, attr = _TOP_LEVEL[name]
    stats = getattr(importlib.import_module(module), attr).stats
    out = {"import_seconds": import_seconds, "compile_seconds": kernel.compile_seconds,
           "cache_hits": sum(stats.cache_hits.values()), "cache_misses": sum(stats.cache_misses.values())}
    if exact:
        out.update(memory_method="VmHWM/VmRSS from /proc/self/status, peak reset via /proc/self/clear_refs",
                   process_peak_mib=after_prepare["VmHWM"] / 1024,
                   call_peak_mib=max(after_call["VmHWM"] - after_prepare["VmRSS"], 0) / 1024)
    else:
        out.update(memory_method="getrusage ru_maxrss (lifetime peak; the call's figure is a lower bound)",
                   process_peak_mib=rusage_before / 1024, call_peak_mib=(_max_rss_kib() - rusage_before) / 1024)
    return out


def _wait_checking_stops(proc, timeout: float) -> bool:
    """Wait for ``proc`` up to ``timeout`` s, honouring stop requests meanwhile; False if it timed out.

    A cold compile takes tens of seconds, and a stop request is only raised at a checkpoint.
    """
    deadline = time.monotonic() + timeout
    while True:
        checkpoint()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            proc.wait(timeout=min(0.1, left))
            return True
        except subprocess.TimeoutExpired:
            pass


def run_child(name: str, params: dict, threads: int, cold: bool, timeout: float = PROFILE_CHILD_TIMEOUT) -> dict:
    """Prepare kernel ``name`` in a fresh interpreter; ``cold`` gives it an empty Numba cache.

    Returns the child's report, or ``{"error": message}`` if it failed or timed out.
    """
    env = dict(os.environ)
    # The child must import this very mcbench (source tree or installed).
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    spec = json.dumps({"kernel": name, "params": params, "threads": threads})
    with tempfile.TemporaryDirectory(prefix="mcbench-cold-cache-") as empty:
        if cold:
            env["NUMBA_CACHE_DIR"] = empty
        # Files, not pipes: a child that fills a pipe nobody reads while we wait in slices would hang.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD, spec], env=env, stdout=out, stderr=err,
                                    text=True)
            try:
                if not _wait_checking_stops(proc, timeout):
                    return {"error": f"timed out after {timeout:g} s"}
            finally:
                if proc.poll() is None:  # a stop request or the timeout: the child must not outlive us
                    proc.kill()
                    proc.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit code {proc.returncode}: {tail[0]}"}
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unreadable output: {stdout[-200:]!r}"}


# ---------------------------------------------------------------- profile -----


def thread_counts(n: int) -> list[int]:
    """1, 2, 4, ... below ``n``, then ``n``."""
    counts, k = [], 1
    while k < n:
        counts.append(k)
        k *= 2
    return counts + [n]


def profile(name: str, params: dict, threads: int | None = None, cold_compile: bool = True,
            repeat: int = TIMING_REPEAT, min_seconds: float = TIMING_MIN_SECONDS) -> dict:
    """Profile kernel ``name`` on ``prepare(name, **params)``; returns a JSON-serialisable dict.

    Parameters
    ----------
    name : {"relu_moments", "sample_mvn", "mlp_propagation"}
    params : dict
        Problem parameters for :func:`mcbench.perf.kernels.prepare`.
    threads : int, optional
        Largest thread count (default ``NUMBA_NUM_THREADS``); phases and
        limits run with it, scaling goes from 1 up to it.
    cold_compile : bool
        Also time a compile with an empty cache (tens of seconds).
    repeat, min_seconds
        Timing repeats (median) and the least duration of one repeat.

    Returns
    -------
    dict
        ``kernel, params, threads, problem, compile, phases, phases_seconds,
        kernel_seconds, unaccounted_seconds, unaccounted_fraction,
        other_load_cores, throughput, limits, fraction_of_limit, scaling,
        memory, environment``. Each phase has ``seconds``, ``fraction`` (of
        the sum of phases), ``fraction_of_end_to_end``,
        ``below_copy_baseline`` (True when the phase ran no slower than the
        copy of its input, so its 0 s means "not resolved", not "free") and,
        where its work is known, ``rate``, ``rate_unit`` and
        ``fraction_of_limit``. ``other_load_cores`` is the average number of
        cores other processes kept busy during the timings (None without
        ``/proc/stat``).
    """
    if name not in PROFILED:
        raise ValueError(f"cannot profile {name!r}; choose one of {', '.join(PROFILED)}")
    n_max = resolve_threads(threads if threads is not None else numba.config.NUMBA_NUM_THREADS)
    params = dict(params)
    if name == "mlp_propagation":
        params.setdefault("networks", max(2, n_max))  # one network per thread

    with numba_threads(n_max):
        kernel = prepare(name, **params)  # also fills the on-disk cache for the cached child
    compile_info = {"in_process_seconds": kernel.compile_seconds}
    cached = run_child(name, params, n_max, cold=False)
    cold = run_child(name, params, n_max, cold=True) if cold_compile else {"error": "skipped"}
    compile_info.update(
        cold_seconds=cold.get("compile_seconds"),
        cached_seconds=cached.get("compile_seconds"),
        cache_hit=cached.get("cache_hits", 0) > 0 and cached.get("cache_misses", 1) == 0,
        import_seconds=cached.get("import_seconds"),
        cold_error=cold.get("error"),
        cached_error=cached.get("error"),
        method="prepare() in fresh interpreters: cold with an empty NUMBA_CACHE_DIR, cached with the default cache",
    )

    with OtherLoad() as other:  # every timing below: a busy machine distorts them, so the report says how busy
        scaling = []
        for t in thread_counts(n_max):
            with numba_threads(t):
                scaling.append({"threads": t, "seconds": kernel.median_seconds(repeat, min_seconds)})
        phase_fn = _mlp_phases if name == "mlp_propagation" else _gaussian_phases
        raw, work, shape = phase_fn(kernel, n_max, repeat, min_seconds)
        lim = limits.machine_limits(shape["gemm_rows"], shape["gemm_d"], shape["dtype"], n_max)
    seconds, swallowed = _phase_table(raw, shape["copy_baseline_seconds"], shape["in_place_phases"])
    for row in scaling:
        row["speedup"] = scaling[0]["seconds"] / row["seconds"]
        row["efficiency"] = row["speedup"] / row["threads"]
    kernel_s = scaling[-1]["seconds"]
    limit_of = {"normals": ("rng_normals_per_s", 1.0, "normals/s"), "flops": ("gemm_gflop_per_s", 1e-9, "GFLOP/s")}
    total = sum(seconds.values())
    phases = []
    for phase, sec in seconds.items():
        row = {"phase": phase, "seconds": sec, "fraction": sec / total if total > 0 else float("nan"),
               "fraction_of_end_to_end": sec / kernel_s, "below_copy_baseline": phase in swallowed}
        if phase in work and sec > 0:
            amount, kind = work[phase]
            key, scale, unit = limit_of[kind]
            row.update(rate=amount / sec * scale, rate_unit=unit, fraction_of_limit=amount / sec * scale / lim[key])
        phases.append(row)

    rates = kernel.rates(kernel_s)
    fractions = limits.limit_fractions(rates, lim)
    memory = {k: cached.get(k) for k in ("memory_method", "process_peak_mib", "call_peak_mib")}
    return {
        "kernel": name,
        "label": problem_label(name, params),
        "params": params,
        "threads": n_max,
        "problem": shape,
        "compile": compile_info,
        "phases": phases,
        "phases_seconds": total,
        "kernel_seconds": kernel_s,
        "unaccounted_seconds": kernel_s - total,
        "unaccounted_fraction": (kernel_s - total) / kernel_s,
        "other_load_cores": other.cores,
        "throughput": rates,
        "limits": lim,
        "fraction_of_limit": fractions,
        "scaling": scaling,
        "memory": memory,
        "environment": environment(),
    }


# ----------------------------------------------------------------- output -----


def _fmt(value, spec=".3g", missing="n/a"):
    return missing if value is None or (isinstance(value, float) and not np.isfinite(value)) else format(value, spec)




def _distortion_notes(rep: dict) -> list[str]:
    """Warnings that the phase table cannot be read at face value: a busy machine, or phases slower alone."""
    notes = []
    busy = busy_note(rep.get("other_load_cores"))
    if busy:
        notes.append(f"  ! {busy} while this ran: every timing here is distorted; profile on an idle machine")
    if rep["unaccounted_fraction"] < NEGATIVE_UNACCOUNTED_WARNING:
        notes.append(f"  ! the phases, run alone, took {rep['phases_seconds'] / rep['kernel_seconds']:.2f}x the "
                     "end-to-end time: phases were slowed (a busy machine, or cache effects between phases), "
                     "so their shares are upper bounds")
    return notes


def format_report(rep: dict) -> str:
    """The human-readable tables of a :func:`profile` report."""
    env, c, lim = rep["environment"], rep["compile"], rep["limits"]
    lines = [
        f"mcbench profile {rep['label']}  threads={rep['threads']} ({env['threading_layer']})  "
        f"numba {env['numba']}  numpy {env['numpy']}  {env['cpu']}",
        f"BLAS {env['blas']} (pinned to 1 thread inside the kernels and the phases)",
        "",
        "compile (fresh interpreter, prepare()):",
        f"  cold   {_fmt(c['cold_seconds'], '.2f')} s  (empty NUMBA_CACHE_DIR)"
        + (f"  [{c['cold_error']}]" if c.get("cold_error") else ""),
        f"  cached {_fmt(c['cached_seconds'], '.3f')} s  ("
        + ("loaded from the cache" if c["cache_hit"] else "NOT a cache hit: recompiled") + ")"
        + (f"  [{c['cached_error']}]" if c.get("cached_error") else ""),
        f"  import mcbench {_fmt(c['import_seconds'], '.2f')} s; this process {c['in_process_seconds']:.3f} s",
        "",
    ]
    hidden = ("gemm_rows", "gemm_d", "copy_baseline_seconds", "in_place_phases")
    shape = {k: v for k, v in rep["problem"].items() if k not in hidden}
    in_place = ", ".join(rep["problem"].get("in_place_phases", ())) or "none"
    lines.append("phases (" + ", ".join(f"{k} {v}" for k, v in shape.items())
                 + f"; copy baseline {rep['problem']['copy_baseline_seconds']:.3g} s subtracted from the phases "
                 f"that work in place on a fresh copy of their input: {in_place}):")
    end_to_end = rep["kernel_seconds"]

    def share(seconds):
        return f"{100 * seconds / end_to_end:.1f}%"

    rows = [{"phase": p["phase"] + (" *" if p.get("below_copy_baseline") else ""),
             "seconds": _fmt(p["seconds"], ".4g"), "share": f"{100 * p['fraction_of_end_to_end']:.1f}%",
             "rate": (_fmt(p.get("rate")) + " " + p["rate_unit"]) if "rate" in p else "",
             "of limit": _fmt(p.get("fraction_of_limit"), ".2f", "")} for p in rep["phases"]]
    rows += [{"phase": "sum of phases", "seconds": _fmt(rep["phases_seconds"], ".4g"),
              "share": share(rep["phases_seconds"])},
             {"phase": "unaccounted", "seconds": _fmt(rep["unaccounted_seconds"], ".3g"),
              "share": share(rep["unaccounted_seconds"])},
             {"phase": "end-to-end", "seconds": _fmt(end_to_end, ".4g"), "share": "100.0%"}]
    lines += ["  " + line for line in pd.DataFrame(rows).fillna("").to_string(index=False).splitlines()]
    if any(p.get("below_copy_baseline") for p in rep["phases"]):
        lines.append("  * no slower than the copy of its input: too short for this method to resolve (shown as 0)")
    lines += _distortion_notes(rep)
    lines += ["  (share: of the end-to-end time; each phase runs alone over the whole problem, on the kernel's "
              "shapes and its parallel slots, min(threads, chunks or networks);",
              "   \"of limit\": the phase's rate over the limit below, "
              "measured separately; above 1 means the limit's run was the slower one, e.g. on a busy machine;",
              "   unaccounted: end-to-end minus the phases, i.e. set-up, thread start-up and cache effects "
              "between phases; on a problem of a few milliseconds the Python-side set-up dominates it)"]
    t, f = rep["throughput"], rep["fraction_of_limit"]
    lines += ["", f"limits ({lim['threads']} threads, {lim['dtype']}): RNG {lim['rng_normals_per_s']:.3g} normals/s; "
              f"GEMM {lim['gemm_gflop_per_s']:.3g} GFLOP/s on {lim['gemm_shape']}, one per thread"]
    per_sample = ("inputs/s (each input through one network, forward and backward)"
                  if rep["kernel"] == "mlp_propagation" else "samples/s")
    reached = [f"{t['samples_per_s']:.3g} {per_sample}"]
    if "rng" in f:
        reached.append(f"{t['normals_per_s']:.3g} normals/s = {f['rng']:.2f} of RNG limit")
    if "gemm" in f:
        reached.append(f"{t['gflop_per_s']:.3g} GFLOP/s = {f['gemm']:.2f} of GEMM limit")
    lines += ["reached: " + "; ".join(reached), "", "scaling:"]
    scaling = pd.DataFrame(rep["scaling"])
    lines += ["  " + line for line in scaling.to_string(index=False, float_format=lambda v: f"{v:.4g}").splitlines()]
    m = rep["memory"]
    lines += ["", f"memory: process peak {_fmt(m['process_peak_mib'], '.0f')} MiB, one warm call adds "
              f"{_fmt(m['call_peak_mib'], '.1f')} MiB at its peak ({m['memory_method']})"]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(args, params: dict) -> int:
    """Entry point of ``mcbench profile``; returns the exit code.

    ``args`` is the CLI namespace (kernel, threads, json), ``params`` the
    problem built from it (:func:`mcbench.cli.profile_params`). An optional
    ``cold_compile`` attribute (not a CLI flag) set to False skips the
    cold-compile child, for tests.
    """
    rep = profile(args.kernel, params, args.threads, getattr(args, "cold_compile", True))
    print(json.dumps(rep, default=_jsonable) if args.json else format_report(rep))
    return 0
