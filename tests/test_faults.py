"""The fault catalogue of the mcbench command: signals, concurrent runs, damaged or unusable inputs, crashes.

Each test reproduces one way a run used to lose or corrupt results (issue 13)
and checks the defined outcome instead. Sizes are tiny (``--only relu/d1``,
one small kernel), so each test takes seconds once the Numba cache is warm.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mcbench import _io, cli
from mcbench.perf import nightly as nightly_mod

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
VALIDATE = [sys.executable, "-m", "mcbench", "validate", "--suite", "quick", "--only", "relu/d1", "--quiet"]
STOP_LINE = {signal.SIGINT: "mcbench validate: interrupted; no partial output was left behind",
             signal.SIGTERM: "mcbench validate: terminated; no partial output was left behind"}


def _handler_installed(pid: int) -> bool:
    """Whether process ``pid`` catches SIGTERM (SigCgt in /proc), i.e. mcbench's first line has run.

    Before that the interpreter itself is starting, and no program can handle
    a signal before its first line runs.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _start(args, cwd=None):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=cwd)
    while not _handler_installed(proc.pid):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.001)
    return proc


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to see when handlers are installed")
def test_signals_at_random_times_always_end_cleanly(tmp_path):
    """20 SIGINT/SIGTERM at random times over a whole run, from import to exit: each ends in one defined way.

    Before the fix about half of the signals sent while a kernel ran (or
    loaded its cached code) ended in a SystemError traceback and exit code 1,
    and a signal during the imports gave a KeyboardInterrupt traceback or a
    silent death by SIGTERM. Now a signal before the output is published ends
    in 130/143 with one line on stderr and nothing left under the parent
    folder; one after it leaves the complete output and the run's own code.
    """
    # The first run fills the Numba cache (a minute on a fresh clone); the second, warm, one is timed:
    # timing the first would spread the delays over the compile and most signals would land too late.
    for name in ("cold", "warm"):
        start = time.perf_counter()
        proc = _start(VALIDATE + ["--out", str(tmp_path / name)])
        assert proc.wait(timeout=600) == 0, proc.communicate()
    duration = time.perf_counter() - start
    rng = random.Random(13)
    outcomes = []
    for i in range(20):
        parent = tmp_path / f"try{i}"
        parent.mkdir()
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        delay = rng.uniform(0, 1.1 * duration)  # a few land after the run: that outcome is checked too
        proc = _start(VALIDATE + ["--out", str(parent / "run")])
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=600)
        left = sorted(p.name for p in parent.iterdir())
        if proc.returncode == 0:  # published before the signal came: complete, and no complaint
            assert left == ["run"] and err == "", (delay, err)
            assert {"report.csv", "report.md", "run.json"} <= {p.name for p in (parent / "run").iterdir()}
            outcomes.append("completed")
        else:
            assert proc.returncode == 128 + sig, (delay, proc.returncode, err)
            assert err.splitlines() == [STOP_LINE[sig]], (delay, err)
            assert left == [], (delay, left)
            outcomes.append("stopped")
    print(f"20 signals over {duration:.1f} s: {outcomes.count('stopped')} stopped, "
          f"{outcomes.count('completed')} after completion")
    assert outcomes.count("stopped") >= 10  # delays are uniform over 1.1 runs: most land inside one


# ------------------------------------------------------------------ shared results/ ---

_TINY = [("relu_moments", {"d": 2, "n": 2_000})]
_NIGHTLY = dict(suite="quick", only="relu/d1-standard", repeat=1, quiet=True, problems=_TINY, factor=1e9)

_APPENDER = """
import sys
import pandas as pd
from mcbench._io import locked
from mcbench.perf.nightly import append_history
path, tag = sys.argv[1], sys.argv[2]
for i in range(60):
    row = {"run": f"{tag}-{i}", "date": "2026-01-01T00:00:00Z", "commit": "c", "machine": "m", "cpu": "",
           "threads": 1, "kind": "kernel", "name": "k", "median_s": 1.0, "min_s": 1.0, "max_s": 1.0, "repeat": 1}
    with locked(path):
        append_history(path, pd.DataFrame([row]))
"""


def test_two_processes_appending_60_rows_each_keep_all_120(tmp_path):
    """Unlocked read-modify-write kept 82 of 120 rows; under the history lock every row survives."""
    path = tmp_path / "history.csv"
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), tag], env=ENV) for tag in "ab"]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    history = nightly_mod.read_history(path)
    assert len(history) == 120 and len(set(history["run"])) == 120
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_two_nightlies_started_together_both_publish(tmp_path):
    """Run names were unique to the second only: the second run died with 'Directory not empty'."""
    args = [sys.executable, "-m", "mcbench", "nightly", "--out", str(tmp_path), "--suite", "quick", "--only",
            "relu/d1-standard", "--kernels", "bvn_cdf", "--repeat", "1", "--factor", "1e9", "--quiet"]
    procs = [subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    history = nightly_mod.read_history(tmp_path / "history.csv")
    assert len(runs) == 2 and sorted(set(history["run"])) == runs


def test_the_same_second_gives_a_new_name(tmp_path, monkeypatch):
    monkeypatch.setattr(nightly_mod, "utc_now", lambda for_path=False: "2026-01-01T000000Z")
    (tmp_path / "2026-01-01T000000Z_abc").mkdir()
    assert nightly_mod.run_id("abc", tmp_path) == "2026-01-01T000000Z_abc-2"


def test_a_live_temporary_of_another_machine_is_not_swept(tmp_path):
    """Judged by pid, a live run's folder from another machine or container was deleted; now its lock decides."""
    with _io.temporary_folder(tmp_path, "live", "--out") as live:
        (live.path / "report.csv").write_text("x")
        foreign = tmp_path / ".tmp-999999-live-on-another-host"  # an old-style name with a pid unknown here
        foreign.mkdir()
        stale = tmp_path / ".tmp-stale"
        stale.mkdir()
        (stale / _io.LOCK_NAME).touch()  # its owner is gone: nobody holds the lock
        _io.remove_stale_temporaries(tmp_path)
        assert live.path.is_dir() and foreign.is_dir() and not stale.exists()
    assert not live.path.exists()  # the block ended without publishing


# ------------------------------------------------------------- late failures, early ---


def _no_work(*args, **kwargs):
    raise AssertionError("the run started before its arguments were checked")


def _late_failure_cases(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    ok = tmp_path / "results"
    foreign, dup, isdir = tmp_path / "foreign", tmp_path / "dup", tmp_path / "isdir"
    for folder in (ok, foreign, dup, isdir):
        folder.mkdir()
    (foreign / "history.csv").write_text("run,kind,name,median_s\nr,kernel,k,1.0\n")
    row = {"run": "r1", "date": "2026-01-01T00:00:00Z", "commit": "c", "machine": "m", "cpu": "", "threads": 1,
           "kind": "kernel", "name": "k", "median_s": 1.0, "min_s": 1.0, "max_s": 1.0, "repeat": 1}
    nightly_mod.append_history(dup / "history.csv", pd.DataFrame([row, row]))
    (isdir / "history.csv").mkdir()
    n = ["nightly", "--quiet"]
    return {
        "validate --out under a file": (["validate", "--out", str(afile / "run")], "a-file"),
        "validate --out is a file": (["validate", "--out", str(afile)], "already exists"),
        "validate --out unwritable": (["validate", "--out", "/sys/mcbench-run"], "cannot create a folder"),
        "nightly --out is a file": (n + ["--out", str(afile)], "is a file"),
        "nightly --out under a file": (n + ["--out", str(afile / "results")], "cannot create a folder"),
        "nightly --compare-to unknown": (n + ["--out", str(ok), "--compare-to", "nope"], "--compare-to 'nope'"),
        "history with a foreign header": (n + ["--out", str(foreign)], "line 1: header is not"),
        "history with a duplicate row": (n + ["--out", str(dup)], "line 3: repeats line 2"),
        "history is a directory": (n + ["--out", str(isdir)], "is a directory"),
        "nightly --factor nan": (n + ["--out", str(ok), "--factor", "nan"], "--factor must be a finite number"),
        "nightly --kernels matching nothing": (n + ["--out", str(ok), "--kernels", "nope"], "--kernels 'nope'"),
    }


@pytest.mark.parametrize("case", [
    "validate --out under a file", "validate --out is a file", "validate --out unwritable",
    "nightly --out is a file", "nightly --out under a file", "nightly --compare-to unknown",
    "history with a foreign header", "history with a duplicate row", "history is a directory",
    "nightly --factor nan", "nightly --kernels matching nothing"])
def test_an_unusable_argument_fails_before_any_work(tmp_path, monkeypatch, capsys, case):
    """Each of these used to surface only after validation and timing had run, some as tracebacks."""
    argv, expected = _late_failure_cases(tmp_path)[case]
    monkeypatch.setattr(cli, "run_validation", _no_work)
    monkeypatch.setattr(nightly_mod, "run_validation", _no_work)
    before = _contents(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"mcbench {argv[0]}: error: ") and expected in err[0], err
    assert _contents(tmp_path) == before  # nothing made or changed


def _contents(folder):
    """Every path under ``folder`` and each file's bytes, but the history's lock file (empty, made on first use)."""
    return {p: p.read_bytes() if p.is_file() else None for p in folder.rglob("*") if p.name != "history.csv.lock"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_out_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run_validation", _no_work)
    tmp_path.chmod(0o555)
    try:
        assert cli.main(["validate", "--out", str(tmp_path / "run")]) == 2
    finally:
        tmp_path.chmod(0o755)
    assert "cannot create a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ damaged history ---


def _one_run_history(folder):
    row = {"run": "r1", "date": "2026-01-01T00:00:00Z", "commit": "c", "machine": "m", "cpu": "cpu", "threads": 1,
           "kind": "kernel", "name": "relu_moments(d=16, n=2000000)", "median_s": 1.0, "min_s": 0.9, "max_s": 1.1,
           "repeat": 5}
    nightly_mod.append_history(folder / "history.csv", pd.DataFrame([row]))
    return (folder / "history.csv").read_bytes()


@pytest.mark.parametrize("cut, line", [
    (lambda text: text[: text.rindex(b"1.1")], 2),  # mid-line: the max_s field is gone (read as NaN before)
    (lambda text: text[: text.rindex(b"n=2000000")], 2),  # inside the name: a "new" kernel before
    (lambda text: text.replace(b",0.9,", b",0.5,"), 2),  # an edited figure
])
def test_a_damaged_history_is_refused_and_left_untouched(tmp_path, monkeypatch, capsys, cut, line):
    monkeypatch.setattr(nightly_mod, "run_validation", _no_work)
    damaged = cut(_one_run_history(tmp_path))
    (tmp_path / "history.csv").write_bytes(damaged)
    assert cli.main(["nightly", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"history.csv line {line}:" in err and "mv " in err and "left untouched" in err
    assert (tmp_path / "history.csv").read_bytes() == damaged


def test_nan_never_hides_a_flag():
    prev = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 1.0, "min_s": 0.9, "max_s": float("nan"),
                          "run": "a"},
                         {"kind": "check", "name": "c", "fails": float("nan"), "run": "a"}])
    cur = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 2.68, "min_s": 2.6, "max_s": 2.7},
                        {"kind": "check", "name": "c", "fails": 3}])
    flags = nightly_mod.compare(cur, prev).set_index("name")["flag"]
    assert flags["k"] == "SLOWER" and flags["c"] == "NEW FAILURE"


# ------------------------------------------------------------- publish, then record ---


class _Crash(BaseException):
    """Stands for a kill -9 or a full disk: nothing after it runs."""


def test_a_crash_between_publishing_and_recording_is_recovered(tmp_path, monkeypatch):
    """A complete run folder without its history row: the next run appends the folder's own rows."""
    def crash(path, rows):
        raise _Crash

    with monkeypatch.context() as m:
        m.setattr(nightly_mod, "append_history", crash)
        with pytest.raises(_Crash):
            nightly_mod.nightly(tmp_path, echo=lambda line: None, **_NIGHTLY)
    [first] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert not (tmp_path / "history.csv").exists()  # the state a kill between the two steps leaves
    assert nightly_mod.nightly(tmp_path, echo=lambda line: None, **_NIGHTLY) == 0
    history = nightly_mod.read_history(tmp_path / "history.csv")
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 2 and sorted(set(history["run"])) == runs
    own = nightly_mod.read_history(first / nightly_mod.RUN_ROWS_NAME)
    pd.testing.assert_frame_equal(history[history["run"] == first.name].reset_index(drop=True), own)


# ------------------------------------------------------------------------ permissions ---


def test_appending_keeps_the_history_mode_and_a_new_one_honours_the_umask(tmp_path):
    """mkstemp made every rewritten history 0600."""
    path = tmp_path / "history.csv"
    old = os.umask(0o022)
    try:
        _one_run_history(tmp_path)
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o664)
        row = nightly_mod.read_history(path).assign(run="r2")
        with _io.locked(path):
            nightly_mod.append_history(path, row)
        assert path.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
