"""Nightly runs: validation + kernel timings into results/, history, regression flags.

Regression rule for kernel timings (noise-aware): each kernel is timed
``repeat`` times; a kernel is flagged *slower* when its median time exceeds
``factor`` x the previous run's median **and** its fastest repeat is slower
than the previous run's slowest repeat, i.e. the two runs' ranges do not even
overlap. One noisy repeat cannot trigger a flag, and neither can a small
shift inside the run-to-run noise.

Validation rule: a check is flagged when it has a ``fail`` now and had none
in the previous run (a *new* failure).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._io import append_history, atomic_directory
from mcbench._signals import checkpoint
from mcbench.env import OtherLoad, busy_note, utc_now
from mcbench.config import NIGHTLY_FACTOR, NIGHTLY_PROBLEMS
from mcbench.perf.kernels import prepare, problem_label
from mcbench.progress import Progress
from mcbench.report import write_report
from mcbench.validation.runner import run_validation
from mcbench.validation.stats import per_check_counts

HISTORY_NAME = "history.csv"


def time_kernels(problems=NIGHTLY_PROBLEMS, repeat=5, progress=None) -> pd.DataFrame:
    """Median/min/max seconds per call and throughput of each hot kernel.

    ``other_load_cores``: cores other processes kept busy while the kernel
    was timed (see :class:`mcbench.env.OtherLoad`), so a slow night on a busy
    machine can be told from a regression.
    """
    rows = []
    for name, params in problems:
        checkpoint()  # a Ctrl-C or SIGTERM that arrived while a kernel compiled or loaded
        label = problem_label(name, params)
        if progress is not None:
            progress.begin(label)
        kernel = prepare(name, **params)
        with OtherLoad() as other:
            times = kernel.time(repeat=repeat, min_seconds=0.05)
        median = float(np.median(times))
        row = {"kernel": label, "median_s": median, "min_s": float(times.min()), "max_s": float(times.max()),
               "repeat": repeat, "compile_s": kernel.compile_seconds, "other_load_cores": other.cores}
        row.update(kernel.rates(median))
        rows.append(row)
        if progress is not None:
            progress.end()
    return pd.DataFrame(rows)


def history_rows(run_id, env, result, timings: pd.DataFrame) -> pd.DataFrame:
    """One history row per check and per kernel."""
    base = {"run": run_id, "date": env["finished"], "commit": env["commit"], "machine": env["machine"],
            "cpu": env["cpu"], "threads": env["numba_threads"]}
    rows = []
    for c in per_check_counts(result.table).to_dict("records"):
        rows.append({**base, "kind": "check", "name": c["check"], "rows": c["rows"], "fails": c["fail"],
                     "errata": c["seed-erratum"], "underpowered": c["underpowered"],
                     "worst_abs_z": c["worst_abs_z"], "seconds": result.timings.get(c["check"], np.nan)})
    for _, k in timings.iterrows():
        rows.append({**base, "kind": "kernel", "name": k["kernel"], "median_s": k["median_s"],
                     "min_s": k["min_s"], "max_s": k["max_s"], "repeat": k["repeat"],
                     "other_load_cores": k.get("other_load_cores", np.nan)})
    return pd.DataFrame(rows)


def previous_run(history: pd.DataFrame, machine: str, compare_to=None):
    """The run to compare against: ``compare_to`` if given, else the latest on this machine."""
    if history.empty:
        return None
    if compare_to is not None:
        runs = history[history["run"] == compare_to]
        if runs.empty:
            raise ValueError(f"--compare-to {compare_to!r}: no such run in the history")
        return runs
    same = history[history["machine"] == machine]
    if same.empty:
        return None
    return same[same["run"] == same["run"].iloc[-1]]


def compare(current: pd.DataFrame, previous: pd.DataFrame | None, factor=NIGHTLY_FACTOR) -> pd.DataFrame:
    """Comparison table of this run against the previous one, with flags."""
    if previous is None:
        return pd.DataFrame(columns=["kind", "name", "previous", "current", "ratio", "flag", "note"])
    rows = []
    prev_k = previous[previous["kind"] == "kernel"].set_index("name")
    for _, k in current[current["kind"] == "kernel"].iterrows():
        if k["name"] not in prev_k.index:
            rows.append({"kind": "kernel", "name": k["name"], "previous": np.nan, "current": k["median_s"],
                         "ratio": np.nan, "flag": "new", "note": ""})
            continue
        p = prev_k.loc[k["name"]]
        ratio = k["median_s"] / p["median_s"]
        slower = ratio > factor and k["min_s"] > p["max_s"]
        faster = ratio < 1 / factor and k["max_s"] < p["min_s"]
        # Still flagged on a busy machine (it is slower), but said so: that night's neighbours may be the cause.
        busy = busy_note(k.get("other_load_cores", np.nan)) if slower else ""
        rows.append({"kind": "kernel", "name": k["name"], "previous": p["median_s"], "current": k["median_s"],
                     "ratio": ratio, "flag": "SLOWER" if slower else ("faster" if faster else ""), "note": busy})
    prev_c = previous[previous["kind"] == "check"].set_index("name")
    for _, c in current[current["kind"] == "check"].iterrows():
        before = prev_c["fails"].get(c["name"], 0) if len(prev_c) else 0
        flag = "NEW FAILURE" if c["fails"] > 0 and before == 0 else ("still failing" if c["fails"] else "")
        rows.append({"kind": "check", "name": c["name"], "previous": before, "current": c["fails"],
                     "ratio": np.nan, "flag": flag, "note": ""})
    return pd.DataFrame(rows)


def run_id(commit: str, out: Path) -> str:
    """``<UTC time>_<commit>``, with a ``-N`` suffix if a run of that name exists already."""
    base = f"{utc_now(for_path=True)}_{commit.split('-')[0][:10] or 'unknown'}"
    rid, n = base, 1
    while (Path(out) / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def nightly(out: Path, suite="nightly", seed=0, threads=None, compare_to=None, factor=NIGHTLY_FACTOR,
            repeat=5, quiet=False, problems=NIGHTLY_PROBLEMS, only=None, echo=print) -> int:
    """Run the nightly job; returns the exit code (1 on a new failure or a slower kernel)."""
    out = Path(out)
    history_path = out / HISTORY_NAME
    history = pd.read_csv(history_path) if history_path.exists() else pd.DataFrame()
    result = run_validation(suite, seed=seed, threads=threads, quiet=quiet, only=only)
    progress = Progress([1] * len(problems), quiet=quiet, label="kernels")
    timings = time_kernels(problems, repeat=repeat, progress=progress)
    progress.close()
    rid = run_id(result.env["commit"], out)
    rows = history_rows(rid, result.env, result, timings)
    prev = previous_run(history, result.env["machine"], compare_to)
    table = compare(rows, prev, factor)
    with atomic_directory(out / rid) as tmp:
        write_report(result, tmp)
        timings.to_csv(tmp / "kernels.csv", index=False)
        table.to_csv(tmp / "comparison.csv", index=False)
        (tmp / "nightly.json").write_text(json.dumps({
            "run": rid, "compared_to": None if prev is None else str(prev["run"].iloc[0]),
            "factor": factor, "rule": __doc__.split("Regression rule")[1].strip(),
        }, indent=2, default=str))
    # Re-read at append time, not the copy read at start: another run may have appended meanwhile.
    append_history(history_path, rows)
    flagged = table[table["flag"].isin(["SLOWER", "NEW FAILURE"])] if len(table) else table
    echo(f"nightly run {rid}: {result.n_fail} failing comparisons, {len(timings)} kernels timed -> {out / rid}")
    if prev is None:
        echo("no previous run on this machine to compare with")
    else:
        echo(f"compared with {prev['run'].iloc[0]} (factor {factor}):")
        shown = table[(table["kind"] == "kernel") | (table["flag"] != "")]
        echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 1 if (result.n_fail or len(flagged)) else 0
