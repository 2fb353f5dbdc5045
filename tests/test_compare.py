"""mcbench.compare: your network, Monte Carlo against theory, judged by the suite's rules."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mcbench
from mcbench.validation import compare as compare_module
from mcbench.validation import stats


TANH = mcbench.MLPSpec([64] * 6, "tanh", "xavier_normal", bias=("normal", 0.05))


@pytest.fixture(scope="module")
def tanh_comparison():
    return mcbench.compare(TANH, n_networks=16, n_inputs=64, seed=3, pair_correlation=0.5)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_networks": 1}, "n_networks"), ({"n_inputs": 0}, "n_inputs"), ({"seed": -1}, "seed"),
    ({"pair_correlation": 1.5}, "pair_correlation"), ({"theory": "best"}, "theory"), ({"alpha": 0.0}, "alpha"),
    ({"pair_correlation": 0.5, "n_inputs": 7}, "n_inputs"), ({"theory": "exact"}, "theory='exact'"),
])
def test_bad_arguments_are_named(kwargs, name):
    args = {"n_networks": 4, "n_inputs": 8} | kwargs
    with pytest.raises(ValueError, match=name):
        mcbench.compare(TANH, **args)


def test_finite_width_rows_are_outside_holm_and_never_pass():
    rows = stats.comparison_rows("c", "q", [1, 2, 3], [1.0, 1.0, 1.0], [1.0, 1.2, 9.0], [0.1, 0.1, 0.1], dof=20)
    rows.loc[2, "finite_width"] = True
    table = stats.finalize([rows], alpha=1e-3)
    assert list(table["verdict"]) == ["pass", "pass", "finite-width"]
    assert np.isnan(table["p_holm"].iloc[2])
    assert table["p_holm"].iloc[1] == pytest.approx(2 * table["p"].iloc[1])  # a family of 2, not 3
    counts = stats.summary_counts(table, 1e-3)
    assert counts["pass"] == 2 and counts["finite-width"] == 1 and counts["holm_family"] == 2 and counts["ok"]


def test_table_sources_and_verdicts(tanh_comparison):
    t = tanh_comparison.table
    assert len(t) == 8 * TANH.depth == 40
    source = t.groupby("quantity")["theory_source"].first()
    assert source["q"] == source["c"] == source["norm_ratio_m2"] == "nlo"
    assert source["qtilde"] == "mean_field"
    assert tanh_comparison.ok, tanh_comparison.summary()
    assert tanh_comparison.summary().startswith("OK: 40 comparisons: pass ")
    mf = mcbench.theory.mlp_propagation(TANH, 0.5, order="nlo")
    np.testing.assert_allclose(t.loc[t["quantity"] == "q", "theory"], mf["q_nlo"])


def test_exact_law_is_used_for_zero_bias_relu():
    cmp = mcbench.compare(mcbench.MLPSpec([16] * 9, "relu", "he_normal"), n_networks=64, n_inputs=16, seed=1)
    source = cmp.table.groupby("quantity")["theory_source"].first()
    assert set(source) == {"exact"}
    assert cmp.ok and (cmp.table["verdict"] == "pass").all(), cmp.summary()


def test_mean_field_rows_of_a_narrow_deep_net_are_labelled_finite_width():
    spec = mcbench.MLPSpec([16] * 7, "relu", "he_normal")
    cmp = mcbench.compare(spec, n_networks=64, n_inputs=16, seed=2, theory="mean_field")
    m2 = cmp.table[cmp.table["quantity"] == "norm_ratio_m2"]
    assert (m2["verdict"] == "finite-width").all()  # mean field misses E[R^2] by prod(1 + 5/n)
    assert cmp.ok


def test_an_error_in_the_theory_fails(monkeypatch):
    real = compare_module.theory_mlp

    def wrong(*args, **kwargs):
        th = real(*args, **kwargs)
        th["q_nlo"] = th["q_nlo"] * 1.05  # a 5% error
        return th

    monkeypatch.setattr(compare_module, "theory_mlp", wrong)
    cmp = mcbench.compare(TANH, n_networks=16, n_inputs=64, seed=3)
    assert not cmp.ok
    assert cmp.summary().startswith("FAIL")
    assert set(cmp.table.loc[cmp.table["verdict"] == "fail", "quantity"]) == {"q"}


def test_user_registered_activation():
    """The documented example activation (docs/examples/relu6.py), registered under a name of the test's own."""
    example = runpy.run_path(str(Path(__file__).resolve().parents[1] / "docs" / "examples" / "relu6.py"))
    mcbench.register_activation("relu6_test", example["relu6"], example["d_relu6"], overwrite=True)
    spec = mcbench.MLPSpec([48] * 5, "relu6_test", "he_normal", bias=("normal", 0.1))
    cmp = mcbench.compare(spec, n_networks=16, n_inputs=32, seed=4)
    assert cmp.ok, cmp.summary()
    assert (cmp.table.loc[cmp.table["quantity"] == "q", "theory_source"] == "nlo").all()


def test_plot_and_html(tanh_comparison, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    fig = tanh_comparison.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    path = tanh_comparison.to_html(tmp_path / "c.html")
    text = path.read_text()
    assert "mcbench check report" in text and "data:image/png;base64" in text
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'mcbench\[plot\]'"):
        tanh_comparison.plot()


def test_profiles_feed_the_report(tanh_comparison):
    p = tanh_comparison.profiles
    assert set(p["quantity"]) == {"q", "qtilde", "c"} and isinstance(p, pd.DataFrame)
