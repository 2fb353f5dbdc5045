"""Validation runs: every check, Monte Carlo against theory, in one honest table.

:func:`run_validation` warms the kernels up, runs the checks of a suite (the
catalogue is the same for every suite; the suite sets the sizes, see
:data:`mcbench.config.SUITE_CONFIGS`), applies Holm's correction across the
whole run and returns a :class:`~mcbench.validation.framework.ValidationResult`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from mcbench._core.tasks import completed_tasks
from mcbench._core.threads import numba_threads, resolve_threads, task_threads
from mcbench._version import __version__
from mcbench._signals import checkpoint
from mcbench.config import DEFAULT_ALPHA, SUITE_CONFIGS, SUITES
from mcbench.env import environment, utc_now
from mcbench.mc import mlp_propagation, relu_moments, sample_mvn
from mcbench.progress import Progress
from mcbench.spec import MLPSpec
from mcbench.theory import mlp_propagation as theory_mlp
from mcbench.theory import norm_cdf
from mcbench.theory import relu_moments as exact_relu
from mcbench.validation import checks_mlp, checks_relu, stats
from mcbench.validation.claims import checks as claim_checks
from mcbench.validation.framework import Check, ValidationResult, check_seed


def catalogue() -> list[Check]:
    """Every check of a run, in order (the same for every suite; the suite sets the sizes)."""
    return checks_relu.checks() + claim_checks.checks() + checks_mlp.checks()


def warm_up():
    """Compile (first run) or load from the disk cache every kernel the checks use.

    Done before the progress line starts, so its ETA is not extrapolated from
    a step that happened to include a one-off compilation.
    """
    steps = [
        lambda: relu_moments([0.0, 0.0], np.eye(2), 256),
        lambda: sample_mvn([0.0, 0.0], np.eye(2), 64),  # the seed-claim checks sample through it
        lambda: exact_relu([0.5, -0.5], [[1.0, 0.5], [0.5, 1.0]]),
        lambda: norm_cdf([0.0]),  # the seed claims' one-dimensional formulas
    ]
    # phi arrives as a function pointer, so the kernel compiles once per backward-store dtype, not
    # per activation: a one-byte mask (relu, and linear, which stores nothing) or phi'(z) (tanh and
    # every other activation). The theory maps differ: closed forms for relu, quadrature for tanh.
    for act in ("relu", "tanh"):
        spec = MLPSpec([4, 4, 4], act, "he_normal")
        steps += [lambda spec=spec: mlp_propagation(spec, 2, 4, pair_correlation=0.5),
                  lambda spec=spec: theory_mlp(spec, pair_correlation=0.5)]
    for step in steps:
        checkpoint()  # a first run compiles for about a minute: stop between kernels when asked
        step()


def run_check(suite: str, seed: int, name: str, threads: int | None = None):
    """Run check ``name`` of ``suite`` as one task: (its output, its wall seconds).

    A Dask worker rebuilds the catalogue and finds the check by name (checks
    hold functions, which are not shipped), then runs it on the worker's
    threads, or ``threads`` (:func:`mcbench._core.threads.task_threads`). Its stream is
    :func:`check_seed` (seed, name), so the output does not depend on where it ran.
    """
    check = next((c for c in catalogue() if c.name == name), None)
    if check is None:
        raise ValueError(f"no check named {name!r} in this mcbench ({__version__}); "
                         "do the workers run the same version as the client?")
    start = time.perf_counter()
    with task_threads(threads):
        output = check.run(SUITE_CONFIGS[suite], check_seed(seed, name))
    return output, time.perf_counter() - start


def _run_here(checks, cfg, seed: int, progress: Progress) -> tuple[list, dict]:
    """The checks one after another in this process; (outputs, seconds per check)."""
    outputs, timings = [], {}
    for check in checks:
        checkpoint()  # a Ctrl-C or SIGTERM that arrived while a kernel compiled or loaded
        progress.begin(check.name)
        start = time.perf_counter()
        outputs.append(check.run(cfg, check_seed(seed, check.name)))
        timings[check.name] = time.perf_counter() - start
        progress.end()
    return outputs, timings


def _run_on_dask(client, checks, suite: str, seed: int, progress: Progress, threads) -> tuple[list, dict]:
    """Each check group one task on ``client``; outputs in catalogue order, whatever order the tasks finish in."""
    results = {}
    with completed_tasks(client, run_check, [((suite, seed, c.name, threads), {}) for c in checks]) as done:
        for i, result in done:
            checkpoint()
            progress.begin(checks[i].name)
            results[i] = result
            progress.end()
    return [results[i][0] for i in range(len(checks))], {c.name: results[i][1] for i, c in enumerate(checks)}


def run_validation(suite: str = "quick", seed: int = 0, threads=None, *, quiet: bool = False,
                   alpha: float = DEFAULT_ALPHA, only=None, client=None) -> ValidationResult:
    """Run a suite's checks and return the Holm-corrected table and figure data.

    Parameters
    ----------
    suite : {"quick", "nightly", "full"}
        The Monte Carlo sizes (:data:`mcbench.config.SUITE_CONFIGS`); quick takes
        :data:`mcbench.config.SUITE_DURATIONS` says how long each takes on 2
        cores once the kernels are compiled (quick about 50 s, nightly about
        4.5 minutes).
    seed : int
        RNG seed; check ``name`` uses the stream :func:`check_seed` (seed, name).
    threads : int, optional
        Numba threads (default: all; on Dask, per task, default the worker's nthreads).
    quiet : bool
        No progress line.
    alpha : float
        Family-wise error rate for Holm across the whole run.
    only : str, optional
        Run only the check groups whose name contains this substring.
    client : distributed.Client, optional
        Run each check group as a task on this Dask cluster (``pip install
        'mcbench[dask]'``); the table is the same, bit for bit, as a local run's.

    Returns
    -------
    ValidationResult
        ``table`` has one named *check* per distinct ``check`` value;
        ``groups`` maps each check group run (catalogue entry) to the checks
        it yielded, and ``timings`` gives its wall time (docs/design.md,
        "Checks and check groups").

    Examples
    --------
    One check group of the quick suite (the ReLU moments of N(0, 1)), about a second:

    >>> import mcbench
    >>> res = mcbench.run_validation("quick", only="relu/d1-standard", quiet=True)
    >>> res.table[["check", "quantity", "verdict"]].values.tolist()
    [['relu/d1-standard', 'mean', 'pass'], ['relu/d1-standard', 'cov', 'pass']]
    >>> res.alpha
    0.001
    """
    task_threads_requested = threads  # on Dask, None means each worker's nthreads
    threads = resolve_threads(threads)  # a bad count fails now, not after the warm-up
    if suite not in SUITE_CONFIGS:
        raise ValueError(f"suite must be one of {', '.join(SUITES)}, got {suite!r}")
    cfg = SUITE_CONFIGS[suite]
    checks = [c for c in catalogue() if suite in c.suites and (only is None or only in c.name)]
    if not checks:
        raise ValueError(f"no check group of suite {suite} has a name containing {only!r} "
                         "(mcbench validate --list shows them)")
    started = utc_now()
    t0 = time.perf_counter()
    progress = Progress([c.cost for c in checks], quiet=quiet, label=f"validate[{suite}]",
                        unit="check group")
    with numba_threads(threads):
        if client is None:
            if not quiet:
                print(f"validate[{suite}]: loading the compiled kernels (compiling them takes ~1 min on a first "
                      "run)...", file=sys.stderr, flush=True)
            warm_up()
            outputs, timings = _run_here(checks, cfg, seed, progress)
        else:
            if not quiet:
                print(f"validate[{suite}]: {len(checks)} check groups as tasks on {client.scheduler.address}; "
                      f"Dask dashboard at {client.dashboard_link}", file=sys.stderr, flush=True)
            outputs, timings = _run_on_dask(client, checks, suite, seed, progress, task_threads_requested)
        progress.close()
        env = environment(seed=seed, suite=suite, started=started, finished=utc_now(),
                          seconds=time.perf_counter() - t0, check_groups=len(checks))
        if client is not None:
            env["engine"] = f"dask {client.scheduler.address}"

    def gather(attr):
        frames = [f for out in outputs for f in getattr(out, attr)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    table = stats.finalize(gather("rows"), alpha=alpha)
    groups = {check.name: list(dict.fromkeys(name for frame in out.rows if "check" in frame
                                      for name in frame["check"]))
              for check, out in zip(checks, outputs)}
    return ValidationResult(groups=groups, table=table, profiles=gather("profiles"), finite_width=gather("finite_width"),
                            nlo_gap=gather("nlo_gap"),
                            errata=claim_checks.errata_verdicts(gather("errata"), table),
                            info=[i for out in outputs for i in out.info], env=env, timings=timings, alpha=alpha)
