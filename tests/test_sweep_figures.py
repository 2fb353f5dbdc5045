"""The sweep's figures and depth-scale fit, on a synthetic sweep table built from the theory plus noise."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

import mcbench
from mcbench.config import DEPTH_FIT_MIN_SE
from mcbench.sweeps.figures import depth_fit_layers, depth_scale_figure, fit_depth_scale, phase_diagram
from mcbench.theory import mlp_propagation

C0 = 0.5  # correlation of the input pair


def synthetic_sweep_table(activation, sigma_w2s, sigma_b2s, *, width=256, depth=12, c_se=0.003, rel_se=0.02,
                          seed=0) -> pd.DataFrame:
    """A sweep table (one row per (cell, layer)) whose Monte Carlo columns are the mean-field theory plus
    Gaussian noise of the stated SE. The 1/n columns are NaN (not needed here)."""
    rng = np.random.default_rng(seed)
    frames = []
    for sw2 in sigma_w2s:
        for sb2 in sigma_b2s:
            spec = mcbench.MLPSpec([width] * (depth + 1), activation, weight_var=sw2 / width, bias=("normal", sb2))
            th = mlp_propagation(spec, pair_correlation=C0)
            a = th.attrs
            L = depth
            q_se = rel_se * th["q"].to_numpy()
            qt_se = rel_se * th["qtilde"].to_numpy()
            q = th["q"].to_numpy() + rng.normal(0, q_se)
            qt = th["qtilde"].to_numpy() + rng.normal(0, qt_se)
            c = th["c"].to_numpy() + rng.normal(0, c_se, L)
            lgr = math.log(qt[0] / qt[-1])
            lgr_se = math.hypot(qt_se[0] / qt[0], qt_se[-1] / qt[-1])
            frames.append(pd.DataFrame({
                "cell": f"{activation}/w{sw2:g}/b{sb2:g}/n{width}/L{depth}", "activation": activation,
                "init": "weight_var", "sigma_w2": sw2, "sigma_b2": sb2, "bias": "normal", "width": width,
                "depth": depth, "input_var": 1.0, "layer": th["layer"],
                "q_mf": th["q"], "c_mf": th["c"], "chi1_mf": th["chi1"], "qtilde_mf": th["qtilde"],
                "q_nlo": np.nan, "c_nlo": np.nan, "q_star": a["q_star"], "c_star": a["c_star"],
                "chi1_star": a["chi1_star"], "xi_q": a["xi_q"], "xi_c": a["xi_c"],
                "log_grad_ratio_mf": math.log(th["qtilde"].iloc[0] / th["qtilde"].iloc[-1]),
                "q": q, "q_se": q_se, "c": c, "c_se": c_se, "qtilde": qt, "qtilde_se": qt_se,
                "log_grad_ratio": lgr, "log_grad_ratio_se": lgr_se,
                "z_q": (q - th["q"]) / q_se, "z_c": (c - th["c"]) / c_se, "z_qtilde": (qt - th["qtilde"]) / qt_se,
            }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def table():
    # erf: closed-form maps (fast); its line runs from sigma_w^2 = pi/4 at sigma_b^2 = 0 to 1.96 at 0.3.
    return synthetic_sweep_table("erf", [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
                                 [0.0, 0.05, 0.1, 0.2, 0.3])


# -------------------------------------------------------------------- fit_depth_scale


@pytest.mark.parametrize("xi, amp, c_star", [(2.5, -0.4, 1.0), (6.0, 0.3, 0.2), (15.0, -0.5, 0.7)])
def test_fit_recovers_an_exact_exponential(xi, amp, c_star):
    layers = np.arange(1, 21)
    c = c_star + amp * np.exp(-layers / xi)
    got, se = fit_depth_scale(layers, c, np.zeros(20), c_star)
    assert got == pytest.approx(xi, rel=1e-10) and se == 0.0
    # with (unrealised) noise SEs the line is still exact, and the SE is positive
    got, se = fit_depth_scale(layers[::-1], c[::-1], np.full(20, 1e-4), c_star)  # order does not matter
    assert got == pytest.approx(xi, rel=1e-10) and se > 0


def test_fit_se_is_honest_over_replicates():
    # 200 synthetic runs of c^l = c* + A exp(-l / xi) + N(0, se^2): z = (xi_hat - xi) / SE should be ~N(0, 1).
    # Tolerances: the sd of 200 z's has SE ~0.05 and their mean ~0.07, and the 4000-replicate study
    # behind config.DEPTH_FIT_MIN_SE (tests/studies/depth_fit_calibration.py) puts the fit's own bias
    # within 0.09 SE: |mean| < 0.25, |sd - 1| < 0.15 (weights from the observed |c - c*| miss the mean).
    rng = np.random.default_rng(20261203)
    layers = np.arange(1, 21)
    xi, amp, c_star, se = 5.0, 0.5, 0.3, 0.01  # the deviation falls to 3 SE near layer 14
    z = []
    for _ in range(200):
        c = c_star + amp * np.exp(-layers / xi) + rng.normal(0.0, se, layers.size)
        est, est_se = fit_depth_scale(layers, c, np.full(layers.size, se), c_star)
        z.append((est - xi) / est_se)
    z = np.array(z)
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.25, z.mean()
    assert abs(z.std(ddof=1) - 1.0) < 0.15, z.std(ddof=1)


def test_fit_uses_the_layers_before_the_first_within_the_noise():
    layers = np.arange(1, 9)
    c_star, se = 1.0, 0.01
    d = np.array([0.5, 0.3, 0.15, 0.08, 0.025, 0.2, 0.2, 0.2])  # layer 5 is within 3 SE: 6-8 are not used
    use = depth_fit_layers(layers, c_star - d, np.full(8, se), c_star)
    assert use.tolist() == [True] * 4 + [False] * 4
    assert d[4] <= DEPTH_FIT_MIN_SE * se < d[3]
    # a layer without an SE is skipped, not an end
    c_se = np.full(8, se)
    c_se[1] = np.nan
    assert depth_fit_layers(layers, c_star - d, c_se, c_star).tolist() == [True, False, True, True] + [False] * 4


def test_fit_is_nan_without_three_usable_layers_or_a_decay():
    layers = np.arange(1, 6)
    assert all(map(math.isnan, fit_depth_scale(layers, [0.5, 0.9, 0.999, 1.0, 1.0], [0.01] * 5, 1.0)))
    growing = 1.0 - 0.01 * np.exp(layers / 3.0)
    assert all(map(math.isnan, fit_depth_scale(layers, growing, [1e-4] * 5, 1.0)))
    assert all(map(math.isnan, fit_depth_scale(layers, growing, [1e-4] * 5, math.nan)))


def test_synthetic_table_is_what_the_sweep_table_says(table):
    # a sanity check of the fixture: cell-level columns repeat, z's are N(0, 1)-like, layers run 1..L
    assert table.groupby("cell")["layer"].apply(lambda s: s.tolist() == list(range(1, 13))).all()
    assert (table.groupby("cell")["xi_c"].nunique(dropna=False) == 1).all()
    assert abs(table["z_c"].std() - 1.0) < 0.1


# ---------------------------------------------------------------------------- figures


def _needs_matplotlib():
    pytest.importorskip("matplotlib", reason="the sweep figures need the plot extra (pip install 'mcbench[plot]')")


def test_phase_diagram_is_written(table, tmp_path):
    _needs_matplotlib()
    out = phase_diagram(table, tmp_path / "phase.png")
    assert out == tmp_path / "phase.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000


def test_phase_diagram_with_a_missing_cell(table, tmp_path):
    _needs_matplotlib()
    gap = table[~((table["sigma_w2"] == 1.5) & (table["sigma_b2"] == 0.1))]
    assert phase_diagram(gap, tmp_path / "gap.png").stat().st_size > 30_000


def test_depth_scale_figure_is_written(table, tmp_path):
    _needs_matplotlib()
    out = depth_scale_figure(table, 0.12, tmp_path / "xi.png")  # drawn at the nearest sigma_b^2, 0.1
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000


def test_figures_want_one_family(table, tmp_path):
    _needs_matplotlib()
    two = pd.concat([table, table.assign(width=512, cell=table["cell"] + "/wide")])
    with pytest.raises(ValueError, match="several widths"):
        phase_diagram(two, tmp_path / "x.png")
    assert phase_diagram(two, tmp_path / "x.png", width=512).exists()
    clash = pd.concat([table, table.assign(input_var=2.0, cell=table["cell"] + "/x2")])
    with pytest.raises(ValueError, match="several cells at"):
        depth_scale_figure(clash, 0.1, tmp_path / "y.png")


def test_without_matplotlib_the_error_names_the_extra(table, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'mcbench\[plot\]'"):
        phase_diagram(table, tmp_path / "phase.png")
    with pytest.raises(ImportError, match=r"pip install 'mcbench\[plot\]'"):
        depth_scale_figure(table, 0.1, tmp_path / "xi.png")
    assert not any(tmp_path.iterdir())
