"""Nightly runs: validation + kernel timings into results/, history, regression flags.

Regression rule for kernel timings (noise-aware): each kernel is timed
``repeat`` times; a kernel is flagged *slower* when its median time exceeds
``factor`` x the previous run's median **and** its fastest repeat is slower
than the previous run's slowest repeat, i.e. the two runs' ranges do not even
overlap. One noisy repeat cannot trigger a flag, and neither can a small
shift inside the run-to-run noise.

Validation rule: a check is flagged when it has a ``fail`` now and had none
in the previous run (a *new* failure).

A missing (NaN) figure never suppresses a flag: each rule is written as
"flag unless the data show otherwise".

Publishing: the run folder carries its own history rows
(``history-rows.csv``), written before the folder is renamed into place; the
rename and the append to ``history.csv`` happen under the history's lock. A
run killed between the two leaves a complete folder whose rows the next run
finds missing from the history and appends (:func:`adopt_unrecorded_runs`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._io import (
    DamagedFile,
    checked_header,
    checked_lines,
    locked,
    read_checked,
    remove_stale_file_temporaries,
    replace_file,
    temporary_folder,
)
from mcbench._signals import checkpoint
from mcbench.env import OtherLoad, busy_note, utc_now
from mcbench.config import NIGHTLY_FACTOR, NIGHTLY_PROBLEMS
from mcbench.perf.kernels import prepare, problem_label
from mcbench.progress import Progress
from mcbench.report import write_report
from mcbench.validation.runner import run_validation
from mcbench.validation.stats import per_check_counts

HISTORY_NAME = "history.csv"
#: A run folder's own history rows, written before it is published (see the module docstring).
RUN_ROWS_NAME = "history-rows.csv"

#: The history's columns and the type of each: "text" (non-empty unless noted), "int", "float".
#: Check rows fill the check fields and leave the kernel fields empty, kernel rows the reverse.
_COMMON = {"run": "text", "date": "text", "commit": "text", "machine": "text", "cpu": "text?", "threads": "int",
           "kind": "text", "name": "text"}
_CHECK = {"rows": "int", "fails": "int", "errata": "int", "underpowered": "int", "worst_abs_z": "float?",
          "seconds": "float"}
_KERNEL = {"median_s": "float", "min_s": "float", "max_s": "float", "repeat": "int", "other_load_cores": "float?"}
HISTORY_COLUMNS = tuple(_COMMON) + tuple(_CHECK) + tuple(_KERNEL)
_FIELDS_OF = {"check": _CHECK, "kernel": _KERNEL}


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
        # "Not shown to be within the rule", so that a NaN flags rather than hides: a range that
        # cannot be compared does not count as overlapping.
        slower = not ratio <= factor and not k["min_s"] <= p["max_s"]
        faster = ratio < 1 / factor and k["max_s"] < p["min_s"]
        # Still flagged on a busy machine (it is slower), but said so: that night's neighbours may be the cause.
        busy = busy_note(k.get("other_load_cores", np.nan)) if slower else ""
        rows.append({"kind": "kernel", "name": k["name"], "previous": p["median_s"], "current": k["median_s"],
                     "ratio": ratio, "flag": "SLOWER" if slower else ("faster" if faster else ""), "note": busy})
    prev_c = previous[previous["kind"] == "check"].set_index("name")
    for _, c in current[current["kind"] == "check"].iterrows():
        before = prev_c["fails"].get(c["name"], 0) if len(prev_c) else 0
        failing = not c["fails"] == 0  # NaN: not shown to pass
        flag = ("still failing" if before > 0 else "NEW FAILURE") if failing else ""
        rows.append({"kind": "check", "name": c["name"], "previous": before, "current": c["fails"],
                     "ratio": np.nan, "flag": flag, "note": ""})
    return pd.DataFrame(rows)


def _bad_history(path: Path) -> str:
    return (f"Move it aside (mv {path} {path}.damaged) and rerun: a new history starts, and every run folder "
            f"beside it keeps its own rows in {RUN_ROWS_NAME}.")


def _parse_history_rows(path: Path, recover: str) -> pd.DataFrame:
    """The rows of a history file (``history.csv`` or a run's ``history-rows.csv``), strictly typed."""
    records, seen = [], {}
    for line, fields in read_checked(path, HISTORY_COLUMNS, recover):
        raw = dict(zip(HISTORY_COLUMNS, fields))

        def bad(what):
            return DamagedFile(f"{path} line {line}: {what}; the file was left untouched. {recover}")

        kind = raw["kind"]
        if kind not in _FIELDS_OF:
            raise bad(f"kind is {kind!r}, not check or kernel")
        other = _KERNEL if kind == "check" else _CHECK
        if any(raw[c] for c in other):
            raise bad(f"a {kind} row fills {', '.join(c for c in other if raw[c])}")
        row = {}
        for column, kind_of in {**_COMMON, **_FIELDS_OF[kind]}.items():
            text = raw[column]
            optional = kind_of.endswith("?")
            if not text:
                if not optional:
                    raise bad(f"{column} is empty")
                row[column] = "" if kind_of.startswith("text") else math.nan
                continue
            try:
                value = {"text": str, "int": int, "float": float}[kind_of.rstrip("?")](text)
            except ValueError:
                raise bad(f"{column} is {text!r}, not a{'n' if kind_of.startswith('int') else ''} "
                          f"{kind_of.rstrip('?')}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(f"{column} is {text!r}, not a finite number")
            row[column] = value
        key = (row["run"], kind, row["name"])
        if key in seen:
            raise bad(f"repeats line {seen[key]} (run {key[0]}, {kind} {key[2]})")
        seen[key] = line
        records.append(row)
    return pd.DataFrame(records, columns=list(HISTORY_COLUMNS))


def read_history(path: Path) -> pd.DataFrame:
    """The nightly history at ``path`` (empty if there is none yet); :class:`DamagedFile` if it does not parse."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return _parse_history_rows(path, _bad_history(path))


def _history_text(rows: pd.DataFrame) -> str:
    """Checked CSV lines of ``rows`` in the history's column order; NaN and absent fields are empty."""
    types = {**_COMMON, **_CHECK, **_KERNEL}

    def text(value, column):
        if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
            return ""
        kind = types[column].rstrip("?")
        # An int column reads back as float once a kernel row leaves it empty (NaN): write it as an int.
        return str(int(value)) if kind == "int" else repr(float(value)) if kind == "float" else str(value)

    return checked_lines([[text(r.get(c), c) for c in HISTORY_COLUMNS] for r in rows.to_dict("records")])


def append_history(path: Path, rows: pd.DataFrame):
    """Append ``rows`` to the history at ``path``; the caller holds :func:`mcbench._io.locked` (``path``).

    The existing file is checked first: a damaged history is never rewritten
    as if it were well-formed.
    """
    path = Path(path)
    exists = path.exists() or path.is_symlink()
    if exists:
        read_history(path)
    old = path.read_text(encoding="utf-8") if exists else checked_header(HISTORY_COLUMNS)
    remove_stale_file_temporaries(path)
    replace_file(path, old + _history_text(rows))


def adopt_unrecorded_runs(out: Path, history: pd.DataFrame) -> pd.DataFrame:
    """Append the rows of every complete run folder in ``out`` that the history lacks; returns the new history.

    Such a folder is a run killed (or out of disk) between publishing its
    folder and appending its rows. Call it holding the history's lock, under
    which no run is between those two steps.
    """
    out = Path(out)
    known = set(history["run"])
    adopted = [_parse_history_rows(folder / RUN_ROWS_NAME, f"Move {folder} aside and rerun.")
               for folder in sorted(out.iterdir())
               if not folder.name.startswith(".") and folder.name not in known and (folder / RUN_ROWS_NAME).is_file()]
    adopted = [rows for rows in adopted if len(rows)]
    if not adopted:
        return history
    rows = pd.concat(adopted, ignore_index=True)
    append_history(out / HISTORY_NAME, rows)
    return pd.concat([history, rows], ignore_index=True)


def run_id(commit: str, out: Path) -> str:
    """``<UTC time>_<commit>``, with a ``-N`` suffix if a run of that name exists already.

    Unique among runs that pick their id holding the history's lock, as :func:`nightly` does.
    """
    base = f"{utc_now(for_path=True)}_{commit.split('-')[0][:10] or 'unknown'}"
    rid, n = base, 1
    while (Path(out) / rid).exists() or (Path(out) / rid).is_symlink():
        n += 1
        rid = f"{base}-{n}"
    return rid


def select_problems(kernels: str | None = None) -> list:
    """The nightly problems whose kernel name contains ``kernels`` (all if None); ValueError if none does."""
    problems = [p for p in NIGHTLY_PROBLEMS if kernels is None or kernels in p[0]]
    if not problems:
        names = sorted({name for name, _ in NIGHTLY_PROBLEMS})
        raise ValueError(f"--kernels {kernels!r} matches no kernel; the kernels are {', '.join(names)}")
    return problems


def check_arguments(out: Path, factor: float):
    """Refuse, before any work, arguments that would only fail once the run is done."""
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f"--factor must be a finite number > 1, got {factor}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder for the results")


def nightly(out: Path, suite="nightly", seed=0, threads=None, compare_to=None, factor=NIGHTLY_FACTOR,
            repeat=5, quiet=False, problems=NIGHTLY_PROBLEMS, only=None, echo=print) -> int:
    """Run the nightly job; returns the exit code (1 on a new failure or a slower kernel).

    Every argument and the history are checked before any work starts
    (ValueError, naming the argument or file); the run then works in a locked
    temporary folder in ``out`` and publishes it with its history rows.
    """
    out = Path(out)
    history_path = out / HISTORY_NAME
    check_arguments(out, factor)
    with temporary_folder(out, "nightly", f"--out {out}") as folder:
        with locked(history_path):
            history = adopt_unrecorded_runs(out, read_history(history_path))
        if compare_to is not None and compare_to not in set(history["run"]):
            raise ValueError(f"--compare-to {compare_to!r}: no such run in {history_path}")
        result = run_validation(suite, seed=seed, threads=threads, quiet=quiet, only=only)
        progress = Progress([1] * len(problems), quiet=quiet, label="kernels")
        timings = time_kernels(problems, repeat=repeat, progress=progress)
        progress.close()
        tmp = folder.path
        write_report(result, tmp)
        timings.to_csv(tmp / "kernels.csv", index=False)
        with locked(history_path):
            # Re-read now, not the copy read at start: another run may have appended meanwhile.
            history = read_history(history_path)
            rid = run_id(result.env["commit"], out)
            rows = history_rows(rid, result.env, result, timings)
            prev = previous_run(history, result.env["machine"], compare_to)
            table = compare(rows, prev, factor)
            table.to_csv(tmp / "comparison.csv", index=False)
            (tmp / "nightly.json").write_text(json.dumps({
                "run": rid, "compared_to": None if prev is None else str(prev["run"].iloc[0]),
                "factor": factor, "rule": __doc__.split("Regression rule")[1].split("Publishing:")[0].strip(),
            }, indent=2, default=str))
            replace_file(tmp / RUN_ROWS_NAME, checked_header(HISTORY_COLUMNS) + _history_text(rows))
            folder.publish(out / rid)
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
