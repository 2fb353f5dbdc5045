"""The mcbench command: help, exit codes, report files, nightly history, atomic writes."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from mcbench import cli
from mcbench.perf import nightly as nightly_mod


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mcbench", *args], capture_output=True, text=True,
                          timeout=600, **kw)


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["nightly", "--help"], ["profile", "--help"]])
def test_help_explains_itself(args):
    out = _run(*args)
    assert out.returncode == 0
    assert "usage: mcbench" in out.stdout and len(out.stdout) > 300


def test_cli_defaults_come_from_the_config():
    """Suites and defaults are read from mcbench.config, the one place every tunable lives."""
    from mcbench import config

    parser = cli.build_parser()
    assert parser.parse_args(["nightly"]).factor == config.NIGHTLY_FACTOR
    assert parser.parse_args(["validate"]).suite == "quick"
    for suite in config.SUITES:
        assert parser.parse_args(["validate", "--suite", suite]).suite == suite


def test_no_command_prints_help_and_exits_2():
    out = _run()
    assert out.returncode == 2 and "validate" in out.stdout


def test_validate_writes_a_report_and_exits_0(tmp_path):
    out_dir = tmp_path / "run"
    code = cli.main(["validate", "--only", "relu/d1", "--out", str(out_dir), "--quiet", "--seed", "3"])
    assert code == 0
    for name in ("report.csv", "report.md", "report.html", "run.json"):
        assert (out_dir / name).is_file(), name
    table = pd.read_csv(out_dir / "report.csv")
    assert set(table["verdict"]) <= {"pass", "underpowered"}
    run = json.loads((out_dir / "run.json").read_text())
    assert run["env"]["seed"] == 3 and "threading_layer" in run["env"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_validate_refuses_an_existing_folder(tmp_path, capsys):
    assert cli.main(["validate", "--only", "relu/d1", "--out", str(tmp_path), "--quiet"]) == 2


def test_an_injected_wrong_closed_form_fails_the_run(tmp_path, monkeypatch):
    """A closed form off by 2% must turn into `fail` verdicts and exit code 1."""
    from mcbench.validation import checks_relu

    right = checks_relu.exact_relu

    def wrong(mean, cov):
        m, c = right(mean, cov)
        return m, 1.02 * c

    monkeypatch.setattr(checks_relu, "exact_relu", wrong)
    code = cli.main(["validate", "--only", "relu/zero-mean-d4", "--out", str(tmp_path / "bad"), "--quiet"])
    assert code == 1
    table = pd.read_csv(tmp_path / "bad" / "report.csv")
    assert (table["verdict"] == "fail").sum() >= 1


_TINY = [("relu_moments", {"d": 4, "n": 20_000})]


def test_nightly_appends_history_and_flags_a_slower_kernel(tmp_path):
    lines = []
    # busy_cores: this tests the rule, not the machine; a shared test machine is often "busy".
    common = dict(suite="quick", only="relu/d1-standard", repeat=5, quiet=True, problems=_TINY, echo=lines.append,
                  busy_cores=1e9, dashboard=False)
    assert nightly_mod.nightly(tmp_path, **common) == 0
    history = nightly_mod.read_history(tmp_path / "history.csv")
    assert set(history["kind"]) == {"check", "kernel"}
    assert (history.loc[history["kind"] == "kernel", "other_load_cores"] >= 0).all()
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(runs) == 1 and (runs[0] / "kernels.csv").is_file() and (runs[0] / "report.md").is_file()
    # Pretend the previous run reached the whole limit in every round: now we are clearly "slower".
    k = history["kind"] == "kernel"
    history.loc[k, ["median_s", "min_s", "max_s"]] = 1e-6
    history.loc[k, "rounds_fraction"] = ";".join(["1.0"] * 5)
    (tmp_path / "history.csv").unlink()
    nightly_mod.append_history(tmp_path / "history.csv", history)  # with fresh checksums
    assert nightly_mod.nightly(tmp_path, **common) == nightly_mod.EXIT_REGRESSION == 3
    assert any("SLOWER" in line for line in lines)
    assert len(nightly_mod.read_history(tmp_path / "history.csv")["run"].unique()) == 2


def test_a_baseline_without_rounds_falls_back_to_the_range_rule():
    prev = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 1.0, "min_s": 0.5, "max_s": 2.0, "run": "a"}])
    noisy = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 1.5, "min_s": 1.2, "max_s": 1.8}])
    clear = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 3.0, "min_s": 2.5, "max_s": 3.5}])
    assert nightly_mod.compare(noisy, prev)["flag"].iloc[0] == ""
    assert nightly_mod.compare(clear, prev)["flag"].iloc[0] == "SLOWER"
    assert nightly_mod.compare(clear, prev)["note"].iloc[0].startswith("range rule")  # says which rule


def test_a_slower_kernel_on_a_busy_machine_is_flagged_slower_with_a_question_mark():
    prev = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 1.0, "min_s": 0.9, "max_s": 1.1, "run": "a",
                          "other_load_cores": 0.0}])
    busy = pd.DataFrame([{"kind": "kernel", "name": "k", "median_s": 3.0, "min_s": 2.5, "max_s": 3.5,
                          "other_load_cores": 1.5}])
    quiet = busy.assign(other_load_cores=0.01)
    row = nightly_mod.compare(busy, prev).iloc[0]
    assert row["flag"] == "SLOWER?" and "this run 1.50" in row["note"]
    assert (row["previous_load"], row["current_load"]) == (0.0, 1.5)  # side by side
    assert nightly_mod.compare(quiet, prev)["flag"].iloc[0] == "SLOWER"
    assert nightly_mod.compare(quiet, prev.assign(other_load_cores=0.9))["flag"].iloc[0] == "SLOWER?"  # baseline


def test_list_shows_the_check_group_names_that_only_selects(capsys):
    assert cli.main(["validate", "--list", "--only", "mlp/meanfield/t"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["mlp/meanfield/tanh"] and "mean-field maps" in lines[0]
    assert cli.main(["validate", "--list", "--only", "nosuchcheck"]) == 2
    assert "no check group of suite quick has a name containing 'nosuchcheck'" in capsys.readouterr().err


def test_checks_and_check_groups_are_counted_alike_everywhere(tmp_path, monkeypatch, capsys):
    """docs/design.md#checks-and-check-groups: --list, --only, the progress line and the timings count check
    groups; the summary line, the console table, report.csv/md and run.json's summary count checks."""
    from mcbench.report import write as report_write

    monkeypatch.setattr(report_write, "load_matplotlib", lambda: None)  # figures are not counted; save 3 s
    only = "mlp/meanfield/si"  # sigmoid and silu: two groups, each yielding one check per init scheme
    assert cli.main(["validate", "--list", "--only", only]) == 0
    groups = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    out = tmp_path / "run"
    assert cli.main(["validate", "--only", only, "--out", str(out)]) == 0  # not quiet: the progress line
    printed = capsys.readouterr()
    progress = [line for line in printed.err.splitlines() if line.startswith("validate[quick] [")]
    assert [line.split("check group ")[1].split()[:2] for line in progress] == \
        [[f"{i}/{len(groups)}", group] for i, group in enumerate(groups, 1)]
    run = json.loads((out / "run.json").read_text())
    assert list(run["check_groups"]) == list(run["timings"]) == groups and run["env"]["check_groups"] == len(groups)
    checks = [check for names in run["check_groups"].values() for check in names]
    assert len(checks) > len(groups)  # a group with several checks is part of the selection
    assert list(dict.fromkeys(pd.read_csv(out / "report.csv")["check"])) == checks
    assert run["summary"]["checks"] == len(checks)
    assert f"comparisons in {len(checks)} checks: " in printed.out  # the summary line
    assert sum(line.split()[0] in checks for line in printed.out.splitlines() if line.strip()) == len(checks)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert f"comparisons in {len(checks)} checks**" in md and f"executed {len(groups)} check groups" in md
    assert md.count("from check group `mlp/meanfield/si") == len(checks)
    assert "## Wall time per check group" in md


def test_list_into_a_closed_pipe_is_quiet():
    """As in ``mcbench validate --list | head -1``; the reader is gone before the first line (imports take ~1 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "mcbench", "validate", "--list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == "", err


def test_a_selection_without_comparisons_still_reports(tmp_path, capsys):
    """seed/003's claims are theory-level: formulas side by side, no Monte Carlo rows. This used to crash."""
    assert cli.main(["validate", "--only", "seed/003", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "no comparison rows" in capsys.readouterr().out
    assert "glorot_product_formula" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_while_writing_the_report_leaves_nothing_behind(tmp_path, monkeypatch, capsys, sig, code, word):
    """SIGTERM (kill, timeout, a cancelled CI job) cleans up like Ctrl-C: one line, no partial folder."""
    write_report = cli.write_report

    def write_then_signal(result, folder):
        write_report(result, folder)  # a whole report in the hidden temporary folder...
        os.kill(os.getpid(), sig)  # ...and the signal arrives before it is renamed into place

    monkeypatch.setattr(cli, "write_report", write_then_signal)
    argv = ["validate", "--only", "relu/d1-standard", "--quiet", "--out", str(tmp_path / "run")]
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(argv) == code
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert f"{word}; no partial output was left behind" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) is before  # restored for the rest of the process


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_compilation_is_not_lost(tmp_path, monkeypatch, capsys, sig, code):
    """Raised inside llvmlite's ctypes callbacks, the exception would be swallowed and the run would go on.

    Here the signal arrives while the warm-up holds Numba's compiler lock, as
    a compilation or a cache load does: the run must still stop at the next
    checkpoint, before any check, and write nothing.
    """
    from numba.core.compiler_lock import global_compiler_lock

    import mcbench.validation.runner as validate

    def warm_up_then_signal():
        with global_compiler_lock:
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the handler has run by now, inside the lock, and must not have raised
        ran.append("warm-up")

    ran = []
    monkeypatch.setattr(validate, "warm_up", warm_up_then_signal)
    assert cli.main(["validate", "--only", "relu/d1-standard", "--quiet", "--out", str(tmp_path / "run")]) == code
    assert ran == ["warm-up"] and list(tmp_path.iterdir()) == []
    assert "no partial output was left behind" in capsys.readouterr().err


def test_a_killed_nightly_leaves_no_partial_run_or_corrupt_history(tmp_path):
    """SIGKILL the nightly job at several moments; results/ must stay consistent."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [sys.executable, "-m", "mcbench", "nightly", "--out", str(tmp_path), "--suite", "quick",
            "--only", "relu/d1", "--kernels", "bvn_cdf", "--repeat", "2", "--quiet",
            # Timing noise between runs must not decide this test: it is about atomicity, so
            # no slowdown may flag (a SLOWER flag would exit 1 for a reason unrelated to kills).
            "--factor", "1e9"]

    def run_to_completion():
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

    run_to_completion()
    good_history = nightly_mod.read_history(tmp_path / "history.csv")
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        for run in visible:
            if run.is_dir():  # every visible run folder is complete
                assert (run / "report.md").is_file() and (run / "kernels.csv").is_file(), run
        history = nightly_mod.read_history(tmp_path / "history.csv")  # parses strictly: never half-written
        assert len(history) >= len(good_history)
    # The next run sweeps the killed runs' hidden temporaries, including a planted one whose lock
    # nobody holds (the kills above need not have left any, and the sweep must be seen to work).
    (tmp_path / ".tmp-planted").mkdir(exist_ok=True)
    (tmp_path / ".tmp-planted" / ".lock").touch()
    run_to_completion()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
