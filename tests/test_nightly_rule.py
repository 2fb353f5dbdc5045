"""Issue 16: the nightly regression rule (fraction of limit, Mann-Whitney + Holm, noise), exit codes, busy runs.

The rule's tests feed :func:`compare` hand-made per-round values, so they are
exact and take milliseconds; one test runs a tiny nightly to check that the
run folder and the history carry the per-round fractions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from mcbench import cli
from mcbench.perf import kernels as kernels_mod
from mcbench.perf import nightly as nightly_mod

_ROUNDS = 7


def _kernel(fractions, load=0.0, name="relu_moments[d=16]", run="new"):
    text = ";".join(repr(float(f)) for f in fractions)
    return {"run": run, "kind": "kernel", "name": name, "median_s": 1.0, "min_s": 1.0, "max_s": 1.0,
            "other_load_cores": load, "limit": "rng", "rounds_fraction": text, "rounds_s": text}


def _flag(new, old, older=None, **rule):
    prev = pd.DataFrame([_kernel(old, run="old")])
    before = None if older is None else pd.DataFrame([_kernel(older, run="older")])
    return nightly_mod.compare(pd.DataFrame([_kernel(new)]), prev, before_previous=before, **rule).iloc[0]


_BASE = np.linspace(0.78, 0.82, _ROUNDS)


def test_a_clear_drop_of_the_fraction_is_flagged():
    row = _flag(_BASE / 1.3, _BASE)
    assert row["flag"] == "SLOWER" and row["ratio"] == pytest.approx(1.3)
    assert row["statistic"] == "fraction of rng" and row["p_holm"] == pytest.approx(1 / math.comb(14, 7))


def test_a_drop_within_the_factor_is_not_flagged():
    assert _flag(_BASE / 1.15, _BASE)["flag"] == ""  # fully separated, p tiny, but only 15%


def test_a_large_but_inconsistent_drop_is_not_flagged():
    """Median down 30%, but the rounds overlap: Mann-Whitney does not reject."""
    new = np.r_[_BASE[:4] / 1.6, _BASE[4:]][::-1]
    row = _flag(new, _BASE)
    assert row["ratio"] > 1.2 and row["p_holm"] > 0.01 and row["flag"] == ""


def test_a_drop_inside_the_noise_between_the_previous_two_runs_is_not_flagged():
    assert _flag(_BASE / 1.3, _BASE, older=_BASE * 1.4)["flag"] == ""  # previous pair differed by 40%
    assert _flag(_BASE / 1.3, _BASE, older=_BASE * 1.1)["flag"] == "SLOWER"  # by 10%


def test_holm_corrects_over_the_kernels():
    """One overlap in 49 pairs: p = 2/3432 passes alone, fails Holm over 8 kernels at alpha 1e-3."""
    new = _BASE / 1.3
    new[-1] = _BASE[0] + 1e-6  # one round above the slowest old one
    alone = _flag(new, _BASE, alpha=1e-3)
    assert alone["flag"] == "SLOWER"
    cur = pd.DataFrame([_kernel(new, name=f"k{i}") for i in range(8)])
    prev = pd.DataFrame([_kernel(_BASE, name=f"k{i}", run="old") for i in range(8)])
    table = nightly_mod.compare(cur, prev, alpha=1e-3)
    assert (table["flag"] == "").all() and table["p_holm"].iloc[0] == pytest.approx(8 * 2 / 3432)


def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    expected = [0.03, 0.06, 0.06, 0.02, np.nan]  # sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> monotone
    np.testing.assert_allclose(nightly_mod.holm(p), expected)


def test_mann_whitney_is_one_sided_new_below_old():
    assert mannwhitneyu(_BASE / 1.3, _BASE, alternative="less").pvalue < 1e-3
    assert _flag(_BASE * 1.3, _BASE)["flag"] == "faster"


def test_theory_kernels_use_their_seconds():
    def theory(seconds, run):
        return {"run": run, "kind": "kernel", "name": "bvn_cdf", "median_s": float(np.median(seconds)),
                "min_s": 1.0, "max_s": 1.0, "limit": "", "rounds_fraction": "",
                "rounds_s": ";".join(repr(float(s)) for s in seconds)}

    prev = pd.DataFrame([theory(_BASE, "old")])
    row = nightly_mod.compare(pd.DataFrame([theory(_BASE * 1.3, "new")]), prev).iloc[0]
    assert row["statistic"] == "seconds" and row["flag"] == "SLOWER" and row["ratio"] == pytest.approx(1.3)


def test_a_busy_baseline_or_run_makes_the_flag_a_question():
    assert _flag(_BASE / 1.3, _BASE, busy_cores=0.5)["flag"] == "SLOWER"
    busy = nightly_mod.compare(pd.DataFrame([_kernel(_BASE / 1.3, load=0.9)]),
                               pd.DataFrame([_kernel(_BASE, run="old")]), busy_cores=0.5).iloc[0]
    assert busy["flag"] == "SLOWER?" and (busy["previous_load"], busy["current_load"]) == (0.0, 0.9)


def test_a_legacy_history_is_read_and_upgraded(tmp_path):
    path = tmp_path / "history.csv"
    row = ["r1", "2026-01-01T00:00:00Z", "c", "m", "", "1", "kernel", "k", "", "", "", "", "", "", "1.0", "0.9",
           "1.1", "5", ""]
    path.write_text(nightly_mod.checked_header(nightly_mod.LEGACY_COLUMNS) + nightly_mod.checked_lines([row]))
    history = nightly_mod.read_history(path)
    assert list(history.columns) == list(nightly_mod.HISTORY_COLUMNS) and history["median_s"].iloc[0] == 1.0
    nightly_mod.append_history(path, history.assign(run="r2"))
    assert path.read_text().splitlines()[0] + "\n" == nightly_mod.checked_header(nightly_mod.HISTORY_COLUMNS)
    assert list(nightly_mod.read_history(path)["run"]) == ["r1", "r2"]


def test_the_injected_slowdown_is_parsed_strictly(monkeypatch):
    monkeypatch.setenv(kernels_mod.INJECT_VARIABLE, "relu_moments:1.3")
    assert kernels_mod.injected_slowdowns() == {"relu_moments": 1.3}
    for bad in ("relu_moments", "relu_moments:0.9", "theory_mlp:1.3", "relu_moments:x"):
        monkeypatch.setenv(kernels_mod.INJECT_VARIABLE, bad)
        with pytest.raises(ValueError, match=kernels_mod.INJECT_VARIABLE):
            kernels_mod.injected_slowdowns()
    monkeypatch.delenv(kernels_mod.INJECT_VARIABLE)
    assert kernels_mod.injected_slowdowns() == {}


def test_a_crash_has_its_own_exit_code(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("injected")

    monkeypatch.setattr(cli, "cmd_nightly", boom)
    assert cli.main(["nightly", "--quiet"]) == cli.EXIT_CRASH not in (0, 1, 2, 3, 130, 143)
    assert "RuntimeError: injected" in capsys.readouterr().err


def test_the_exit_codes_are_documented():
    text = cli.build_parser().format_help()
    for code in ("0 ", "1 a validation", "2 usage", "3 nightly", "130 / 143", "crash"):
        assert code in text, code


def test_a_kernels_only_run_records_per_round_fractions(tmp_path):
    problems = [("relu_moments", {"d": 4, "n": 20_000}), ("bvn_cdf", {"n": 2000})]
    lines = []
    assert nightly_mod.nightly(tmp_path, validate=False, repeat=3, quiet=True, problems=problems,
                               echo=lines.append) == 0
    [run] = [p for p in tmp_path.iterdir() if p.is_dir()]
    rounds = pd.read_csv(run / "rounds.csv")
    assert len(rounds) == 6 and rounds["fraction"].iloc[:3].between(0, 10).all()
    assert rounds["fraction"].iloc[3:].gt(0).all() and set(rounds["limit"].iloc[3:]) == {"scalar"}  # bvn_cdf
    history = nightly_mod.read_history(tmp_path / "history.csv")
    relu = history.iloc[0]
    assert len(nightly_mod.parse_rounds(relu["rounds_fraction"])) == 3 and relu["limit"] == "rng"
    assert relu["fraction"] == pytest.approx(np.median(rounds["fraction"].iloc[:3]))
    assert (tmp_path / "history.html").is_file() and any("history.html" in line for line in lines)
    # A second run compares with the first; with no run before that, there is no noise figure yet: the
    # console says so (comparison.csv keeps the column numeric, NaN).
    lines.clear()
    assert nightly_mod.nightly(tmp_path, validate=False, repeat=3, quiet=True, problems=problems,
                               echo=lines.append) in (0, 3)
    [table] = [line for line in lines if line.lstrip().startswith("kind")]
    kernel_lines = table.splitlines()[1:]
    assert len(kernel_lines) == 2 and all("n/a (one previous run)" in line for line in kernel_lines)
    assert "NaN" not in table
    [second] = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p != run)
    assert pd.read_csv(second / "comparison.csv")["noise"].isna().all()


def test_the_console_table_says_why_a_noise_figure_is_missing():
    prev = pd.DataFrame([_kernel(_BASE, run="old")])
    older = pd.DataFrame([_kernel(_BASE * 1.1, run="older")])
    current = pd.DataFrame([_kernel(_BASE), _kernel(_BASE, name="bvn_cdf[n=2000]")])  # the second is new
    measured = nightly_mod.compare(current, prev, before_previous=older)
    assert measured["noise"].iloc[0] == pytest.approx(math.log(1.1)) and math.isnan(measured["noise"].iloc[1])
    text = nightly_mod.format_comparison(measured, noise_run=True)
    assert f"{math.log(1.1):.4g}" in text and "n/a (new kernel)" in text
    assert "n/a (one previous run)" in nightly_mod.format_comparison(nightly_mod.compare(current, prev), False)
