"""`mcbench check`: argument errors (exit 2, named), a passing run (exit 0), an injected error (exit 1)."""

from __future__ import annotations

import json

import pytest

from mcbench import cli
from mcbench.validation import compare as compare_module

SMALL = ["check", "--widths", "16,32x3,4", "--activation", "tanh", "--init", "xavier_normal", "--networks", "8",
         "--inputs", "16", "--quiet"]


def test_widths_repeat():
    assert cli._widths("784,512x3,10") == [784, 512, 512, 512, 10]


@pytest.mark.parametrize("extra, named", [
    (["--widths", "16,0"], "--widths"), (["--widths", "16"], "--widths"), (["--bias", "gauss:1"], "--bias"),
    (["--activation", "nope"], "--activation"), (["--activation", "abrelu:1"], "--activation"),
    (["--pair-correlation", "2"], "--pair-correlation"), (["--precision", "5"], "--precision"),
    (["--init", "bogus"], "--init"), (["--alpha", "0"], "--alpha"), (["--register", "/nonexistent.py"], "--register"),
])
def test_bad_arguments_exit_2_and_are_named(extra, named, tmp_path, capsys):
    argv = SMALL + ["--out", str(tmp_path / "out")] + extra
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse's own type errors
        rc = exc.code
    assert rc == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_passing_run_writes_the_report(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(SMALL + ["--bias", "normal:0.05", "--pair-correlation", "0.5", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "OK: 32 comparisons" in printed and "worst |z|" in printed
    assert {"report.csv", "report.md", "report.html", "run.json"} <= {p.name for p in out.iterdir()}
    run = json.loads((out / "run.json").read_text())
    assert run["env"]["command"] == "check" and run["summary"]["ok"]


def test_an_injected_theory_error_exits_1(tmp_path, monkeypatch, capsys):
    real = compare_module.theory_mlp

    def wrong(*args, **kwargs):
        th = real(*args, **kwargs)
        th["q_nlo"] *= 1.1  # a 10% error
        return th

    monkeypatch.setattr(compare_module, "theory_mlp", wrong)
    rc = cli.main(SMALL + ["--networks", "32", "--out", str(tmp_path / "run")])
    assert rc == 1
    assert "FAIL" in capsys.readouterr().out
    assert (tmp_path / "run" / "report.html").exists()


def test_precision_chooses_the_networks(tmp_path, capsys):
    args = cli.build_parser().parse_args(SMALL[:-5] + ["--inputs", "16", "--precision", "0.02"])
    spec = cli.MLPSpec(args.widths, "tanh", "xavier_normal")
    loose, _ = cli.check_sizes(spec, cli.build_parser().parse_args(SMALL[:-5] + ["--precision", "0.2"]), 0)
    tight, inputs = cli.check_sizes(spec, args, 0)
    assert inputs == 16 and tight > loose >= 2
