"""`mcbench check`: argument errors (exit 2, named), a passing run (exit 0), an injected error (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcbench import cli
from mcbench.report import write as report_write
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


# --spec FILE.toml: every key set in the file, against the same options as flags.
SPEC_CASES = [
    ('widths = [16, 32, 32, 32, 4]\nactivation = "tanh"\ninit = "xavier_normal"\nbias = "normal:0.05"\n'
     'input_var = 1.5\npair_correlation = 0.5\nnetworks = 8\ninputs = 16\ntheory = "mean_field"\n',
     ["--widths", "16,32x3,4", "--activation", "tanh", "--init", "xavier_normal", "--bias", "normal:0.05",
      "--input-var", "1.5", "--pair-correlation", "0.5", "--networks", "8", "--inputs", "16",
      "--theory", "mean_field"]),
    ('widths = "16,32x3,4"\nweight_var = 1.6\nbias = "constant:0.1"\nnetworks = 8\ninputs = 16\n',
     ["--widths", "16,32x3,4", "--weight-var", "1.6", "--bias", "constant:0.1", "--networks", "8",
      "--inputs", "16"]),
]


@pytest.mark.parametrize("toml, flags", SPEC_CASES, ids=["init", "weight_var"])
def test_a_spec_file_gives_the_same_table_as_the_flags(toml, flags, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report_write, "load_matplotlib", lambda: None)  # no figures: 3 s of a 4 s run
    spec = tmp_path / "net.toml"
    spec.write_text(toml)
    assert cli.main(["check", "--spec", str(spec), "--quiet", "--out", str(tmp_path / "spec")]) == 0
    from_spec = capsys.readouterr().out.splitlines()[:-1]  # the last line holds the wall time
    assert cli.main(["check", *flags, "--quiet", "--out", str(tmp_path / "flags")]) == 0
    from_flags = capsys.readouterr().out.splitlines()[:-1]
    assert from_spec == from_flags
    assert (tmp_path / "spec" / "report.csv").read_text() == (tmp_path / "flags" / "report.csv").read_text()


@pytest.mark.parametrize("toml, extra, named", [
    ('widths = [16, 8]\nactivaton = "tanh"\n', [], ["'activaton'", "known keys: widths, activation, init"]),
    ('widths = [16, 8]\nactivation = "tanh"\n', ["--activation", "relu"], ["--activation", "activation too"]),
    ('widths = [16, 8]\n', ["--widths", "4,4"], ["--widths", "widths too"]),
    ('widths = [16, 8]\nbias = "gauss:1"\n', [], ["key 'bias'", "gauss:1"]),
    ('widths = [16, 8]\nbias = {kind = "normal", value = 0.1}\n', [], ["key 'bias'"]),
    ('widths = [16, 8]\nnetworks = 0\n', [], ["key 'networks'"]),
    ('widths = [16]\n', [], ["key 'widths'"]),
    ('widths = [16, 8]\ninit = "bogus"\n', [], ["init (in --spec", "'bogus'"]),
    ('widths = [16, 8]\nweight_var = 1.0\n', ["--init", "he_normal"], ["--init and weight_var (in --spec"]),
    ('widths = [16, 8]\nweight_var = [1.0, 2.0]\n', [], ["weight_var (in --spec", "one entry per layer"]),
    ('widths = [16, 8]\npair_correlation = 0.5\ninputs = 15\n', [], ["inputs (in --spec", "even"]),
    ('activation = "tanh"\n', [], ["no widths", "--widths"]),
    ('widths = [16, 8\n', [], ["not valid TOML"]),
])
def test_a_bad_spec_file_exits_2_before_any_work(toml, extra, named, tmp_path, monkeypatch, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text(toml)

    def no_work(*args, **kwargs):
        raise AssertionError("the Monte Carlo started")

    monkeypatch.setattr(cli, "compare", no_work)
    monkeypatch.setattr(cli, "mc_mlp", no_work)
    rc = cli.main(["check", "--spec", str(spec), *extra, "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    for text in named:
        assert text in err
    assert not (tmp_path / "out").exists()


def test_the_example_spec_is_the_documented_network():
    args = cli.resolve_check_options(cli.build_parser().parse_args(
        ["check", "--spec", str(Path(__file__).parents[1] / "docs" / "examples" / "deep_tanh.toml")]))
    flags = cli.resolve_check_options(cli.build_parser().parse_args(
        ["check", "--widths", "784,512x20,10", "--activation", "tanh", "--init", "xavier_normal",
         "--bias", "normal:0.05"]))
    assert {key: getattr(args, key) for key in cli.CHECK_SPEC_KEYS} == \
        {key: getattr(flags, key) for key in cli.CHECK_SPEC_KEYS}


def test_a_check_too_big_for_the_memory_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the Monte Carlo or the theory started")

    monkeypatch.setattr(cli, "compare", no_work)
    monkeypatch.setattr(cli, "mc_mlp", no_work)
    monkeypatch.setattr(cli, "available_bytes", lambda: 4 * 2**30)  # a 4 GiB machine
    rc = cli.main(["check", "--widths", "784,4096x50,10", "--activation", "tanh", "--threads", "1", "--quiet",
                   "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    # one network in flight (one thread) holds 49 x 4096^2 + 784 x 4096 + 4096 x 10 doubles of weights
    assert "--widths 784,4096x50,10 with 32 networks (--networks) needs about 6.4 GiB" in err
    assert "4 GiB is available" in err and "6.15 GiB of weights" in err and "(--threads;" in err
    assert not (tmp_path / "out").exists()


def test_the_memory_estimate_is_what_the_monte_carlo_allocates(monkeypatch):
    from mcbench.mc import mlp as mlp_module

    allocated = []
    real = mlp_module.allocate

    def counting(layout, what, hint):
        arrays = real(layout, what, hint)
        allocated.append(sum(a.nbytes for a in arrays.values()))
        return arrays

    monkeypatch.setattr(mlp_module, "allocate", counting)
    for act, pair in (("tanh", 0.5), ("relu", None), ("linear", None)):
        spec = cli.MLPSpec([24, 40, 40, 8], act, "he_normal")
        mlp_module.mlp_propagation(spec, 3, 10, pair_correlation=pair, memory_budget=4000, threads=1)
        est = mlp_module.workspace_bytes(spec, 3, 10, 1, pair_correlation=pair, memory_budget=4000)
        assert allocated[-1] == est["total"] and est["block"] < 10  # the budget cut the block


def test_the_estimate_is_printed_before_the_monte_carlo(tmp_path, monkeypatch, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "compare", stop)
    rc = cli.main(["check", "--widths", "784,512x20,10", "--activation", "tanh", "--threads", "1", "--out",
                   str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 130
    assert "32 networks x 63 inputs" in err and "Monte Carlo about 4 s on 1 thread, 3" in err and "MiB of memory" in err
