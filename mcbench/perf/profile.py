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
    The kernels are composed of named phases (bit flags, ``PHASES`` in
    :mod:`mcbench.mc.relu`, :mod:`mcbench.mc.sampling` and
    :mod:`mcbench.mc.mlp`), and their run objects (``ReluMomentsRun``,
    ``SampleRun``, ``MLPRun``) run any subset of them on the kernel's own
    workspace, chunk shapes and parallel slots. The profile times the kernel
    with the pipeline's first k phases, for k = 0 (the empty pass: waves,
    loops, parallel regions) up to all of them; a phase's time is what adding
    it to the pipeline costs. So every phase runs the kernel's own code on
    realistic data (each timed call draws fresh numbers first), in place
    phases never drift, and the rows add up to the kernel's own time:

    * ``relu_moments``: RNG, TRMM, ReLU + centre, SYRK, the ordered merge;
    * ``sample_mvn``: RNG, TRMM (the page faults of the n x d output are in
      the empty pass);
    * ``mlp_propagation``: RNG (weights, inputs and the backward seed v),
      forward GEMM, pointwise + statistics (phi and phi' with their layer's
      statistics in one pass each), backward GEMM.

    An increment that noise makes negative is shown as 0 and starred (not
    resolved). Phases run with BLAS pinned to one thread, as inside the
    kernels: a multi-threaded BLAS call leaves OpenBLAS's threads spinning for
    a fraction of a second, which on 2 cores halves the Numba threads' speed.
    The end-to-end time is the prepared kernel's median call (the public
    function); "unaccounted" is end-to-end minus the full pipeline: the
    Python-side set-up (argument checks, the covariance factorisation, the
    workspace allocation). Shares are of the end-to-end time, so the phases
    and "unaccounted" add up to 100%. Timings on a busy machine mislead, so
    the report records how many cores other processes kept busy meanwhile
    (``/proc/stat``) and warns above a quarter of a core.
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
import pandas as pd

from mcbench._core.rng import stream_key
from mcbench._core.threads import numba_threads, resolve_threads, single_threaded_blas
from mcbench._signals import checkpoint
from mcbench.config import (
    NEGATIVE_UNACCOUNTED_WARNING,
    PROFILE_CHILD_TIMEOUT,
    TIMING_MIN_SECONDS,
    TIMING_REPEAT,
)
from mcbench.env import OtherLoad, busy_note, environment
from mcbench.mc import mlp, relu, sampling
from mcbench.mc.mlp import MLPRun, mlp_flops
from mcbench.mc.relu import ReluMomentsRun
from mcbench.mc.sampling import SampleRun, prepare_gaussian
from mcbench.perf import limits
from mcbench.perf.kernels import gaussian_problem, prepare, problem_label
from mcbench.perf.timing import median_seconds
from mcbench.spec import MLPSpec

#: The compiled entry point of each kernel: the child checks that it came from the cache.
_TOP_LEVEL = {
    "relu_moments": ("mcbench.mc.relu", "_relu_wave"),
    "sample_mvn": ("mcbench.mc.sampling", "_sample_kernel"),
    "mlp_propagation": ("mcbench.mc.mlp", "_mlp_wave"),
}
PROFILED = tuple(_TOP_LEVEL)


# ------------------------------------------------------------------ phases -----

#: The row of the phase table that holds the empty pass (waves, loops, parallel regions).
EMPTY_PASS = "loops+threads (empty pass)"


def kernel_run(kernel, threads: int):
    """The kernel's own run object on ``kernel``'s problem, workspace allocated, and its phases in pipeline order.

    Returns
    -------
    run : ReluMomentsRun, SampleRun or MLPRun
        ``run.run(phases)`` runs the kernel with the phases whose bits are set.
    phases : dict
        ``{name: bit mask}``, in pipeline order.
    """
    p = kernel.full_params
    dtype = np.dtype(p["dtype"])
    key = stream_key(p["seed"])
    if kernel.name == "mlp_propagation":
        spec = MLPSpec([p["width"]] * (p["depth"] + 1), p["activation"], p["init"])
        block = kernel.shape(threads)["block"]  # the block prepare's kernel runs with
        return MLPRun(spec, p["networks"], p["batch"], key, dtype, np.nan, block, threads), mlp.PHASES
    mean_t, lower_t = prepare_gaussian(*gaussian_problem(p["d"]), dtype)
    if kernel.name == "relu_moments":
        return ReluMomentsRun(key, lower_t, mean_t, p["n"], None, threads), relu.PHASES
    return SampleRun(key, lower_t, mean_t, p["n"], None, threads), sampling.PHASES


def phase_times(kernel, threads: int, repeat: int, min_seconds: float) -> dict:
    """Seconds of the empty pass and of each phase, added to the pipeline in order: ``{name: seconds}``.

    The first entry is :data:`EMPTY_PASS`; the others are the increments
    t(first k phases) - t(first k - 1 phases), so all of them add up to the
    time of the whole pipeline.
    """
    with numba_threads(threads), single_threaded_blas():  # as inside the kernels
        run, phases = kernel_run(kernel, threads)
        run.compile()
        masks, mask = [0], 0
        for bit in phases.values():
            mask |= bit
            masks.append(mask)
        times = [median_seconds(lambda m=m: run.run(m), repeat, min_seconds) for m in masks]
    return {EMPTY_PASS: times[0]} | {name: times[k + 1] - times[k] for k, name in enumerate(phases)}


def phase_work(kernel, shape: dict) -> dict:
    """Work per phase for its rate: ``{name: (amount, "normals" or "flops")}``."""
    if kernel.name == "mlp_propagation":
        width, depth, batch, networks = shape["width"], shape["depth"], shape["batch"], shape["networks"]
        forward = mlp_flops([width] * (depth + 1), networks, batch) / 2
        return {"RNG": (networks * (depth * width * width + 2 * batch * width), "normals"),
                "forward GEMM": (forward, "flops"), "backward GEMM": (kernel.work["flops"] - forward, "flops")}
    n, d = shape["n"], shape["d"]
    work = {"RNG": (n * d, "normals"), "TRMM": (float(n) * d * d, "flops")}
    if kernel.name == "relu_moments":
        work["SYRK"] = (kernel.work["flops"] - float(n) * d * d, "flops")
    return work


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
        ``not_resolved`` (True when adding the phase made no measurable
        difference, so its 0 s means "not resolved", not "free") and,
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
        shape = kernel.shape(n_max)
        seconds = phase_times(kernel, n_max, repeat, min_seconds)
        lim = limits.machine_limits(shape["gemm_rows"], shape["gemm_d"], shape["dtype"], n_max)
    unresolved = {name for name, sec in seconds.items() if sec <= 0.0}  # noise made the increment negative
    seconds = {name: max(sec, 0.0) for name, sec in seconds.items()}
    work = phase_work(kernel, shape)
    for row in scaling:
        row["speedup"] = scaling[0]["seconds"] / row["seconds"]
        row["efficiency"] = row["speedup"] / row["threads"]
    kernel_s = scaling[-1]["seconds"]
    limit_of = {"normals": ("rng_normals_per_s", 1.0, "normals/s"), "flops": ("gemm_gflop_per_s", 1e-9, "GFLOP/s")}
    total = sum(seconds.values())
    phases = []
    for phase, sec in seconds.items():
        row = {"phase": phase, "seconds": sec, "fraction": sec / total if total > 0 else float("nan"),
               "fraction_of_end_to_end": sec / kernel_s, "not_resolved": phase in unresolved}
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
        notes.append(f"  ! the phase timings add up to {rep['phases_seconds'] / rep['kernel_seconds']:.2f}x the "
                     "end-to-end time, which includes them: the timings were disturbed (a busy machine), "
                     "so the shares are not to be trusted")
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
    hidden = ("gemm_rows", "gemm_d")
    shape = {k: v for k, v in rep["problem"].items() if k not in hidden}
    lines.append("phases (" + ", ".join(f"{k} {v}" for k, v in shape.items())
                 + "; the kernel itself, run with its first k phases: each row is what adding the phase costs):")
    end_to_end = rep["kernel_seconds"]

    def share(seconds):
        return f"{100 * seconds / end_to_end:.1f}%"

    rows = [{"phase": p["phase"] + (" *" if p.get("not_resolved") else ""),
             "seconds": _fmt(p["seconds"], ".4g"), "share": f"{100 * p['fraction_of_end_to_end']:.1f}%",
             "rate": (_fmt(p.get("rate")) + " " + p["rate_unit"]) if "rate" in p else "",
             "of limit": _fmt(p.get("fraction_of_limit"), ".2f", "")} for p in rep["phases"]]
    rows += [{"phase": "sum of phases", "seconds": _fmt(rep["phases_seconds"], ".4g"),
              "share": share(rep["phases_seconds"])},
             {"phase": "unaccounted", "seconds": _fmt(rep["unaccounted_seconds"], ".3g"),
              "share": share(rep["unaccounted_seconds"])},
             {"phase": "end-to-end", "seconds": _fmt(end_to_end, ".4g"), "share": "100.0%"}]
    lines += ["  " + line for line in pd.DataFrame(rows).fillna("").to_string(index=False).splitlines()]
    if any(p.get("not_resolved") for p in rep["phases"]):
        lines.append("  * adding it made no measurable difference: too short for this method to resolve (shown as 0)")
    lines += _distortion_notes(rep)
    lines += ["  (share: of the end-to-end time; each row is what adding that phase to the kernel's pipeline costs, "
              "the kernel run on its own shapes and parallel slots, min(threads, chunks or networks);",
              "   \"of limit\": the phase's rate over the limit below, "
              "measured separately; above 1 means the limit's run was the slower one, e.g. on a busy machine;",
              "   unaccounted: end-to-end minus the whole pipeline, i.e. the Python-side set-up (argument checks, "
              "factorisation, workspace); on a problem of a few milliseconds it dominates)"]
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
