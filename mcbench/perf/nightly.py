"""Nightly runs: validation + kernel timings into results/, history, regression flags.

Regression rule for kernel timings (robust on a shared machine): each kernel
is timed in ``rounds`` rounds, and in every round its same-run machine limit
is timed right after it (the RNG limit, normals/s, for ``sample_mvn`` and
``relu_moments``; the GEMM limit, GFLOP/s on the kernel's own shapes, for
``mlp_propagation``; the scalar limit, one core's exp(-x^2/2) evaluations/s,
for the theory kernels ``bvn_cdf`` and ``theory_*``). The statistic is the
per-round *fraction of limit*, throughput / limit: a neighbour that slows the
machine slows both, and the fraction keeps. A kernel is flagged SLOWER only
when all three hold against the previous run on this machine:

1. its median fraction dropped by more than ``factor`` (for seconds: the
   median grew by more than ``factor``);
2. a one-sided Mann-Whitney test of this run's per-round values against the
   previous run's rejects at ``alpha``, Holm-corrected over the kernels;
3. the drop (as a log ratio) exceeds the noise measured between the
   previous two runs (the |log ratio| of their medians).

A flag raised while the baseline or this run had more than ``busy_cores``
cores kept busy by other processes is reported as ``SLOWER?``: it does not
count toward exit code 3, and the run prints how to rerun it. A run recorded
before per-round values were kept is compared by the older range rule
(median up by ``factor`` and non-overlapping ranges).

Validation rule: a check is flagged when it has a ``fail`` now and had none
in the previous run (a *new* failure); any failing comparison ends the run
with exit code 1.

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
from scipy.stats import mannwhitneyu

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
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench._signals import checkpoint
from mcbench.env import OtherLoad, environment, utc_now
from mcbench.config import (
    LIMIT_MIN_SECONDS,
    NIGHTLY_ALPHA,
    NIGHTLY_BUSY_CORES,
    NIGHTLY_FACTOR,
    NIGHTLY_PROBLEMS,
    NIGHTLY_ROUNDS,
    TIMING_MIN_SECONDS,
)
from mcbench.perf.dashboard import write_dashboard
from mcbench.perf.kernels import prepare, problem_label
from mcbench.perf.limits import gemm_limit_call, rng_limit_call, scalar_limit_call
from mcbench.perf.timing import time_calls
from mcbench.progress import Progress
from mcbench.report import write_report
from mcbench.validation.runner import run_validation
from mcbench.validation.stats import per_check_counts

HISTORY_NAME = "history.csv"
DASHBOARD_NAME = "history.html"
#: A run folder's own history rows, written before it is published (see the module docstring).
RUN_ROWS_NAME = "history-rows.csv"

#: The history's columns and the type of each: "text" (non-empty unless noted), "int", "float".
#: Check rows fill the check fields and leave the kernel fields empty, kernel rows the reverse.
_COMMON = {"run": "text", "date": "text", "commit": "text", "machine": "text", "cpu": "text?", "threads": "int",
           "kind": "text", "name": "text"}
_CHECK = {"rows": "int", "fails": "int", "errata": "int", "underpowered": "int", "worst_abs_z": "float?",
          "seconds": "float"}
_KERNEL = {"median_s": "float", "min_s": "float", "max_s": "float", "repeat": "int", "other_load_cores": "float?",
           # Per-round figures (empty in runs recorded before they were kept): throughput in ``unit``,
           # the limit it is a fraction of (rng, gemm or empty), and the per-round values, ";"-joined.
           "unit": "text?", "throughput": "float?", "throughput_min": "float?", "throughput_max": "float?",
           "limit": "text?", "fraction": "float?", "fraction_min": "float?", "fraction_max": "float?",
           "rounds_s": "text?", "rounds_fraction": "text?"}
HISTORY_COLUMNS = tuple(_COMMON) + tuple(_CHECK) + tuple(_KERNEL)
#: The columns of histories written before per-round figures were kept; read, and upgraded on the next append.
LEGACY_COLUMNS = HISTORY_COLUMNS[:HISTORY_COLUMNS.index("unit")]
_FIELDS_OF = {"check": _CHECK, "kernel": _KERNEL}


#: The limit each kernel is a fraction of, and the throughput unit it is measured in.
LIMIT_OF = {"sample_mvn": "rng", "relu_moments": "rng", "mlp_propagation": "gemm", "bvn_cdf": "scalar",
            "theory_relu_moments": "scalar", "theory_mlp": "scalar"}
_UNIT_OF = {"rng": ("normals_per_s", "normals"), "gemm": ("gflop_per_s", "flops"),
            "scalar": ("evaluations_per_s", "evaluations")}


def _limit_call(kernel, threads: int):
    """``(fn, work per call)`` of the machine limit for ``kernel`` (None for a kernel without one)."""
    kind = LIMIT_OF.get(kernel.name)
    if kind == "rng":
        return rng_limit_call(kernel.full_params["dtype"], threads)
    if kind == "gemm":
        shape = kernel.shape(threads)
        fn, flops = gemm_limit_call(shape["gemm_rows"], shape["gemm_d"], shape["dtype"], threads)

        def single_threaded():
            with single_threaded_blas():
                fn()

        return single_threaded, flops
    if kind == "scalar":
        return scalar_limit_call()
    return None


def _joined(values) -> str:
    return ";".join(repr(float(v)) for v in values)


def parse_rounds(text) -> np.ndarray:
    """The per-round values of a history field (``rounds_s``, ``rounds_fraction``); empty if none were kept."""
    if not isinstance(text, str) or not text:
        return np.empty(0)
    return np.array([float(v) for v in text.split(";")])


def time_kernels(problems=NIGHTLY_PROBLEMS, repeat=NIGHTLY_ROUNDS, progress=None, threads=None,
                 min_seconds=TIMING_MIN_SECONDS, rounds_out: list | None = None) -> pd.DataFrame:
    """Time each kernel and its machine limit interleaved, round by round; one row per kernel.

    Parameters
    ----------
    problems : list of (name, params)
        Kernels and their problems (:data:`mcbench.config.NIGHTLY_PROBLEMS`).
    repeat : int
        Rounds. Each round times the kernel (one timing of at least
        ``min_seconds``, :func:`mcbench.perf.timing.time_calls`) and then its
        limit (for at least as long as the kernel's timing took), so the two
        timings behind a fraction lie a fraction of a second apart and span
        the same time.
    progress : Progress, optional
    threads : int, optional
        Numba threads (default: the current setting).
    min_seconds : float
        Least duration of one kernel timing.
    rounds_out : list, optional
        Receives one dict per kernel and round (``kernel, round, seconds,
        throughput, limit, limit_rate, fraction``).

    Returns
    -------
    pandas.DataFrame
        ``kernel``, ``median_s``/``min_s``/``max_s`` over the rounds,
        ``repeat`` (the rounds), ``compile_s``, ``other_load_cores`` (cores other
        processes kept busy meanwhile, :class:`mcbench.env.OtherLoad`), the
        throughput (median, min, max, in ``unit``), ``limit``, the fraction of
        limit (median, min, max) and the per-round ``rounds_s`` and
        ``rounds_fraction`` (";"-joined), plus the rates of the median time.
    """
    rows = []
    with numba_threads(threads) as n_threads:
        for name, params in problems:
            checkpoint()  # a Ctrl-C or SIGTERM that arrived while a kernel compiled or loaded
            label = problem_label(name, params)
            if progress is not None:
                progress.begin(label)
            kernel = prepare(name, **params)
            limit = _limit_call(kernel, n_threads)
            kind = LIMIT_OF.get(name, "")
            unit, work_key = _UNIT_OF[kind] if kind else ("evaluations_per_s", "evaluations")
            if limit is not None:
                limit[0]()  # compile or load the limit's kernel, start its threads
            seconds, fractions, throughputs = [], [], []
            with OtherLoad() as other:
                for r in range(repeat):
                    t = float(time_calls(kernel.call, 1, min_seconds)[0])
                    rate = kernel.work[work_key] / t
                    record = {"kernel": label, "round": r, "seconds": t, "throughput": rate, "unit": unit,
                              "limit": kind, "limit_rate": math.nan, "fraction": math.nan}
                    if limit is not None:
                        # As long as the kernel's timing, so that both average the machine's state
                        # over the same span (a 20 ms limit timing on a shared machine swings 10x).
                        t_limit = float(time_calls(limit[0], 1, max(LIMIT_MIN_SECONDS, t))[0])
                        record["limit_rate"] = limit[1] / t_limit
                        record["fraction"] = rate / record["limit_rate"]
                        fractions.append(record["fraction"])
                    if unit == "gflop_per_s":
                        record["throughput"] = rate / 1e9
                        if limit is not None:
                            record["limit_rate"] /= 1e9
                    seconds.append(t)
                    throughputs.append(record["throughput"])
                    if rounds_out is not None:
                        rounds_out.append(record)
            median = float(np.median(seconds))
            row = {"kernel": label, "median_s": median, "min_s": float(min(seconds)), "max_s": float(max(seconds)),
                   "repeat": repeat, "compile_s": kernel.compile_seconds, "other_load_cores": other.cores,
                   "unit": unit, "throughput": float(np.median(throughputs)),
                   "throughput_min": float(min(throughputs)), "throughput_max": float(max(throughputs)),
                   "limit": kind, "fraction": float(np.median(fractions)) if fractions else math.nan,
                   "fraction_min": float(min(fractions)) if fractions else math.nan,
                   "fraction_max": float(max(fractions)) if fractions else math.nan,
                   "rounds_s": _joined(seconds), "rounds_fraction": _joined(fractions)}
            row.update(kernel.rates(median))
            rows.append(row)
            if progress is not None:
                progress.end()
    return pd.DataFrame(rows)


def history_rows(run_id, env, result, timings: pd.DataFrame) -> pd.DataFrame:
    """One history row per check (none when ``result`` is None: kernels only) and per kernel."""
    base = {"run": run_id, "date": env["finished"], "commit": env["commit"], "machine": env["machine"],
            "cpu": env["cpu"], "threads": env["numba_threads"]}
    rows = []
    checks = [] if result is None else per_check_counts(result.table).to_dict("records")
    for c in checks:
        rows.append({**base, "kind": "check", "name": c["check"], "rows": c["rows"], "fails": c["fail"],
                     "errata": c["seed-erratum"], "underpowered": c["underpowered"],
                     "worst_abs_z": c["worst_abs_z"], "seconds": result.timings.get(c["check"], np.nan)})
    for _, k in timings.iterrows():
        rows.append({**base, "kind": "kernel", "name": k["kernel"], "median_s": k["median_s"],
                     "min_s": k["min_s"], "max_s": k["max_s"], "repeat": k["repeat"],
                     "other_load_cores": k.get("other_load_cores", np.nan),
                     **{c: k.get(c, np.nan) for c in list(_KERNEL)[list(_KERNEL).index("unit"):]}})
    return pd.DataFrame(rows)


def previous_run(history: pd.DataFrame, machine: str, compare_to=None, before=None):
    """The run to compare against: ``compare_to`` if given, else the latest on this machine.

    With ``before`` (a run id), the latest run on this machine recorded before
    that one instead: the run whose difference from the previous one measures
    the noise (rule 3 of the module docstring).
    """
    if history.empty:
        return None
    if compare_to is not None:
        runs = history[history["run"] == compare_to]
        if runs.empty:
            raise ValueError(f"--compare-to {compare_to!r}: no such run in the history")
        return runs
    same = history[history["machine"] == machine]
    if before is not None:
        order = list(dict.fromkeys(history["run"]))
        if before not in order:
            return None
        earlier = set(order[:order.index(before)])
        same = same[same["run"].isin(earlier)]
    if same.empty:
        return None
    return same[same["run"] == same["run"].iloc[-1]]


def _speeds(row) -> tuple[np.ndarray, str]:
    """A kernel row's per-round values, larger = faster: fractions of limit, else 1 / seconds."""
    fractions = parse_rounds(row.get("rounds_fraction"))
    if len(fractions):
        return fractions, "fraction"
    seconds = parse_rounds(row.get("rounds_s"))
    return (1 / seconds, "seconds") if len(seconds) else (np.empty(0), "")


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN and does not count toward the family size)."""
    p = np.asarray(pvalues, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * p[j]))
        out[j] = running
    return out


def smallest_p(rounds: int, rounds_before: int) -> float:
    """The smallest one-sided exact Mann-Whitney p-value two samples of these sizes can reach."""
    return 1 / math.comb(rounds + rounds_before, rounds)


def _load(value) -> float:
    return float(value) if value is not None and value == value else math.nan


def compare(current: pd.DataFrame, previous: pd.DataFrame | None, factor=NIGHTLY_FACTOR, alpha=NIGHTLY_ALPHA,
            busy_cores=NIGHTLY_BUSY_CORES, before_previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Comparison table of this run against the previous one, with flags (rule: the module docstring).

    Parameters
    ----------
    current, previous : pandas.DataFrame
        History rows of this run and of the baseline run (None: nothing to compare with).
    factor : float
        Slowdown (of the median fraction of limit, or of the median seconds) a flag needs.
    alpha : float
        Family-wise level of the Mann-Whitney tests, Holm-corrected over the kernels.
    busy_cores : float
        Cores busy with other processes (in either run) above which a flag is ``SLOWER?``.
    before_previous : pandas.DataFrame, optional
        The run before the baseline: its difference from the baseline is the noise a drop must exceed.

    Returns
    -------
    pandas.DataFrame
        ``kind, name, statistic, previous, current, ratio`` (slowdown: > 1 is
        slower), ``p_holm``, ``noise`` (|log ratio| between the previous two
        runs), ``previous_load``, ``current_load`` (other processes' cores),
        ``flag`` (``SLOWER``, ``SLOWER?``, ``faster``, ``new``; ``NEW
        FAILURE``, ``still failing``) and ``note``.
    """
    columns = ["kind", "name", "statistic", "previous", "current", "ratio", "p_holm", "noise", "previous_load",
               "current_load", "flag", "note"]
    if previous is None:
        return pd.DataFrame(columns=columns)
    rows = []
    prev_k = previous[previous["kind"] == "kernel"].set_index("name")
    older = pd.DataFrame() if before_previous is None else before_previous[before_previous["kind"] == "kernel"]
    older = older.set_index("name") if len(older) else older
    tested = []  # (row index, p-value) of the kernels the new rule applies to
    for _, k in current[current["kind"] == "kernel"].iterrows():
        row = {"kind": "kernel", "name": k["name"], "statistic": "", "previous": np.nan, "current": np.nan,
               "ratio": np.nan, "p_holm": np.nan, "noise": np.nan, "previous_load": np.nan,
               "current_load": _load(k.get("other_load_cores")), "flag": "", "note": ""}
        rows.append(row)
        if k["name"] not in prev_k.index:
            row.update(current=k["median_s"], statistic="seconds", flag="new")
            continue
        p = prev_k.loc[k["name"]]
        row["previous_load"] = _load(p.get("other_load_cores"))
        new, kind = _speeds(k)
        old, old_kind = _speeds(p)
        if not len(new) or kind != old_kind:
            # A baseline recorded before per-round values were kept: the older range rule.
            ratio = k["median_s"] / p["median_s"]
            # "Not shown to be within the rule", so that a NaN flags rather than hides: a range that
            # cannot be compared does not count as overlapping.
            row.update(statistic="seconds", previous=p["median_s"], current=k["median_s"], ratio=ratio,
                       note="range rule (baseline without per-round values)")
            row["slower"] = not ratio <= factor and not k["min_s"] <= p["max_s"]
            row["faster"] = ratio < 1 / factor and k["max_s"] < p["min_s"]
            continue
        ratio = float(np.median(old) / np.median(new))
        shown = (lambda v: float(np.median(v))) if kind == "fraction" else (lambda v: float(np.median(1 / v)))
        row.update(statistic="fraction of " + str(k.get("limit") or "limit") if kind == "fraction" else "seconds",
                   previous=shown(old), current=shown(new), ratio=ratio)
        if len(older) and k["name"] in older.index:
            oldest, oldest_kind = _speeds(older.loc[k["name"]])
            if len(oldest) and oldest_kind == kind:
                row["noise"] = abs(math.log(np.median(oldest) / np.median(old)))
        p_slower = float(mannwhitneyu(new, old, alternative="less").pvalue)
        p_faster = float(mannwhitneyu(new, old, alternative="greater").pvalue)
        row["faster"] = ratio < 1 / factor and p_faster <= alpha
        tested.append((len(rows) - 1, p_slower))
    adjusted = holm([pv for _, pv in tested])
    for (i, _), p_adj in zip(tested, adjusted):
        row = rows[i]
        row["p_holm"] = p_adj
        # Each condition as "not shown to fail", so that a NaN never hides a flag (no noise measured yet:
        # only one earlier run, or none with per-round values).
        row["slower"] = (not row["ratio"] <= factor and not p_adj > alpha
                         and not math.log(row["ratio"]) <= row["noise"])
    for row in rows:
        slower, faster = row.pop("slower", False), row.pop("faster", False)
        if row["flag"]:
            continue
        if slower:
            busy = [f"{which} {load:.2f}" for which, load in (("baseline", row["previous_load"]),
                                                              ("this run", row["current_load"]))
                    if load > busy_cores]
            row["flag"] = "SLOWER?" if busy else "SLOWER"
            if busy:
                row["note"] = ("; ".join(filter(None, [row["note"], "busy machine: other processes kept "
                                                       + ", ".join(busy) + " cores busy"])))
        elif faster:
            row["flag"] = "faster"
    prev_c = previous[previous["kind"] == "check"].set_index("name")
    for _, c in current[current["kind"] == "check"].iterrows():
        before = prev_c["fails"].get(c["name"], 0) if len(prev_c) else 0
        failing = not c["fails"] == 0  # NaN: not shown to pass
        flag = ("still failing" if before > 0 else "NEW FAILURE") if failing else ""
        rows.append({"kind": "check", "name": c["name"], "statistic": "fails", "previous": before,
                     "current": c["fails"], "flag": flag, "note": ""})
    return pd.DataFrame(rows, columns=columns)


def format_comparison(table: pd.DataFrame, noise_run: bool) -> str:
    """:func:`compare`'s table as the console shows it; a missing noise figure says why instead of NaN.

    ``noise_run``: whether there was a run before the baseline to measure the noise against. The
    CSV (comparison.csv) keeps the column numeric, NaN where no noise figure exists.
    """
    shown = table.copy()

    def noise(row) -> str:
        if row["kind"] != "kernel":
            return ""
        if isinstance(row["noise"], float) and math.isfinite(row["noise"]):
            return f"{row['noise']:.4g}"
        if not noise_run:
            return "n/a (one previous run)"
        return "n/a (new kernel)" if row["flag"] == "new" else "n/a (no comparable figure in the run before)"

    if len(shown):
        shown["noise"] = [noise(row) for _, row in shown.iterrows()]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _bad_history(path: Path) -> str:
    return (f"Move it aside (mv {path} {path}.damaged) and rerun: a new history starts, and every run folder "
            f"beside it keeps its own rows in {RUN_ROWS_NAME}.")


def _is_legacy(path: Path) -> bool:
    """Whether ``path`` is a history written before per-round figures were kept (its header says so)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline() == checked_header(LEGACY_COLUMNS)
    except (OSError, UnicodeDecodeError):
        return False  # read_checked names the problem


def _parse_history_rows(path: Path, recover: str) -> pd.DataFrame:
    """The rows of a history file (``history.csv`` or a run's ``history-rows.csv``), strictly typed.

    A legacy history (:data:`LEGACY_COLUMNS`) reads with the newer kernel fields empty.
    """
    records, seen = [], {}
    columns = LEGACY_COLUMNS if _is_legacy(path) else HISTORY_COLUMNS
    for line, fields in read_checked(path, columns, recover):
        raw = dict.fromkeys(HISTORY_COLUMNS, "") | dict(zip(columns, fields))

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
        history = read_history(path)
    if exists and _is_legacy(path):  # upgraded: rewritten whole under the current header
        old = checked_header(HISTORY_COLUMNS) + _history_text(history)
    else:
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


#: Exit codes of :func:`nightly` (``mcbench nightly``); 2, 130 and 143 come from the command line.
EXIT_OK, EXIT_VALIDATION_FAILED, EXIT_REGRESSION = 0, 1, 3


def check_arguments(out: Path, factor: float, alpha: float = NIGHTLY_ALPHA, busy_cores: float = NIGHTLY_BUSY_CORES):
    """Refuse, before any work, arguments that would only fail once the run is done."""
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f"--factor must be a finite number > 1, got {factor}")
    if not 0 < alpha < 1:
        raise ValueError(f"--alpha must lie in (0, 1), got {alpha}")
    if not (busy_cores >= 0 and math.isfinite(busy_cores)):
        raise ValueError(f"--busy-cores must be a finite number >= 0, got {busy_cores}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder for the results")


def rerun_command(out: Path, kernels, compare_to: str) -> str:
    """The command that retimes ``kernels`` (problem labels) against ``compare_to``, validation skipped."""
    names = sorted({k.split("[")[0] for k in kernels})
    which = f" --kernels {names[0]}" if len(names) == 1 else ""
    return f"python -m mcbench nightly --out {out} --skip-validation{which} --compare-to {compare_to}"


def nightly(out: Path, suite="nightly", seed=0, threads=None, compare_to=None, factor=NIGHTLY_FACTOR,
            repeat=NIGHTLY_ROUNDS, quiet=False, problems=NIGHTLY_PROBLEMS, only=None, echo=print,
            alpha=NIGHTLY_ALPHA, busy_cores=NIGHTLY_BUSY_CORES, validate=True, dashboard=True) -> int:
    """Run the nightly job; returns the exit code.

    Every argument and the history are checked before any work starts
    (ValueError, naming the argument or file); the run then works in a locked
    temporary folder in ``out`` and publishes it with its history rows.

    Parameters
    ----------
    out : path
        Results folder: run folders, ``history.csv``, ``history.html``.
    suite, seed, threads, only
        The validation run (:func:`mcbench.validation.runner.run_validation`).
    compare_to : str, optional
        Baseline run id (default: the latest run on this machine).
    factor, alpha, busy_cores
        The regression rule's thresholds (module docstring).
    repeat : int
        Timing rounds per kernel (kernel, then its limit).
    problems : list
        Kernels to time (:data:`mcbench.config.NIGHTLY_PROBLEMS`).
    validate : bool
        False: time the kernels only (no checks, no report).
    dashboard : bool
        Refresh ``out/history.html`` after the run.

    Returns
    -------
    int
        :data:`EXIT_OK`; :data:`EXIT_VALIDATION_FAILED` (1) when a comparison
        failed; else :data:`EXIT_REGRESSION` (3) when a kernel is flagged
        ``SLOWER`` (``SLOWER?``, a flag on a busy machine, does not count).
    """
    out = Path(out)
    history_path = out / HISTORY_NAME
    check_arguments(out, factor, alpha, busy_cores)
    with temporary_folder(out, "nightly", f"--out {out}") as folder:
        with locked(history_path):
            history = adopt_unrecorded_runs(out, read_history(history_path))
        if compare_to is not None and compare_to not in set(history["run"]):
            raise ValueError(f"--compare-to {compare_to!r}: no such run in {history_path}")
        started = utc_now()
        result = run_validation(suite, seed=seed, threads=threads, quiet=quiet, only=only) if validate else None
        progress = Progress([1] * len(problems), quiet=quiet, label="kernels")
        rounds = []
        timings = time_kernels(problems, repeat=repeat, progress=progress, threads=threads, rounds_out=rounds)
        progress.close()
        env = result.env if result is not None else environment(seed=seed, suite=None, started=started,
                                                                finished=utc_now())
        tmp = folder.path
        if result is not None:
            write_report(result, tmp)
        timings.to_csv(tmp / "kernels.csv", index=False)
        pd.DataFrame(rounds).to_csv(tmp / "rounds.csv", index=False)
        with locked(history_path):
            # Re-read now, not the copy read at start: another run may have appended meanwhile.
            history = read_history(history_path)
            rid = run_id(env["commit"], out)
            rows = history_rows(rid, env, result, timings)
            prev = previous_run(history, env["machine"], compare_to)
            older = None if prev is None else previous_run(history, env["machine"], before=prev["run"].iloc[0])
            table = compare(rows, prev, factor, alpha, busy_cores, older)
            table.to_csv(tmp / "comparison.csv", index=False)
            (tmp / "nightly.json").write_text(json.dumps({
                "run": rid, "compared_to": None if prev is None else str(prev["run"].iloc[0]),
                "noise_from": None if older is None else str(older["run"].iloc[0]),
                "factor": factor, "alpha": alpha, "busy_cores": busy_cores, "rounds": repeat,
                "validated": result is not None, "commit": env["commit"], "dirty": env.get("dirty"),
                "rule": __doc__.split("Regression rule")[1].split("Validation rule")[0].strip(),
            }, indent=2, default=str))
            replace_file(tmp / RUN_ROWS_NAME, checked_header(HISTORY_COLUMNS) + _history_text(rows))
            folder.publish(out / rid)
            append_history(history_path, rows)
    n_fail = 0 if result is None else result.n_fail
    echo(f"nightly run {rid}: {n_fail if result is not None else 'no'} failing comparisons"
         f"{'' if result is not None else ' (validation skipped)'}, {len(timings)} kernels timed -> {out / rid}")
    flags = table["flag"] if len(table) else pd.Series(dtype=str)
    if prev is None:
        echo("no previous run on this machine to compare with")
    else:
        n_tested = int(table["p_holm"].notna().sum())
        if n_tested and smallest_p(repeat, repeat) * n_tested > alpha:
            echo(f"note: with {repeat} rounds per kernel the Mann-Whitney test cannot reject at alpha {alpha} "
                 f"over {n_tested} kernels: no kernel can be flagged (use more --repeat)")
        echo(f"compared with {prev['run'].iloc[0]} (factor {factor}, alpha {alpha}, Holm over {n_tested} kernels; "
             f"noise from {'-' if older is None else older['run'].iloc[0]}):")
        echo(format_comparison(table[(table["kind"] == "kernel") | (table["flag"] != "")], older is not None))
        busy = table[flags == "SLOWER?"]
        if len(busy):
            echo(f"{len(busy)} kernel(s) flagged SLOWER? on a busy machine (other processes' cores above "
                 f"{busy_cores}); not counted as a regression. Rerun them when the machine is quiet:\n  "
                 + rerun_command(out, busy["name"], str(prev["run"].iloc[0])))
    if dashboard:
        echo(refresh_dashboard(out, factor=factor, alpha=alpha, busy_cores=busy_cores))
    if n_fail:
        return EXIT_VALIDATION_FAILED
    return EXIT_REGRESSION if (flags == "SLOWER").any() else EXIT_OK


def history_flags(history: pd.DataFrame, factor=NIGHTLY_FACTOR, alpha=NIGHTLY_ALPHA,
                  busy_cores=NIGHTLY_BUSY_CORES) -> pd.DataFrame:
    """Replay the rule over the history: every run against the run before it on its machine.

    Returns
    -------
    pandas.DataFrame
        :func:`compare`'s table for every run with a baseline, plus ``run`` and ``baseline``.
    """
    tables = []
    for run in dict.fromkeys(history["run"]):
        current = history[history["run"] == run]
        machine = current["machine"].iloc[0]
        prev = previous_run(history, machine, before=run)
        if prev is None:
            continue
        older = previous_run(history, machine, before=prev["run"].iloc[0])
        table = compare(current, prev, factor, alpha, busy_cores, older)
        tables.append(table.assign(run=run, baseline=prev["run"].iloc[0]))
    if not tables:
        return pd.DataFrame(columns=["run", "baseline", "kind", "name", "flag", "ratio", "note"])
    return pd.concat(tables, ignore_index=True)


def refresh_dashboard(out: Path, html: Path | None = None, plots: bool = True, **rule) -> str:
    """Rewrite the history dashboard (default ``out/history.html``) from ``out/history.csv``; returns a line.

    ``rule``: ``factor``, ``alpha``, ``busy_cores`` for the flags (:func:`history_flags`).
    """
    out = Path(out)
    html = out / DASHBOARD_NAME if html is None else Path(html)
    with locked(out / HISTORY_NAME):
        history = read_history(out / HISTORY_NAME)
    try:
        note = write_dashboard(history, history_flags(history, **rule), html, plots=plots)
    except OSError as exc:  # the run itself is recorded; a dashboard that cannot be written is only reported
        return f"history dashboard: not written ({exc})"
    return f"history dashboard: {html}" + (f" ({note})" if note else "")
