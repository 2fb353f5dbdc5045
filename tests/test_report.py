"""Tests of mcbench.report on a synthetic validation result (no Monte Carlo is run)."""

import base64
import json
import re
import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from mcbench import config, report
from mcbench.report import figures
from mcbench.report import format as fmt
from mcbench.validation.stats import summary_counts

ALPHA = 1e-3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rows(check, quantity, index, theory, z, *, se=0.01, dof=np.inf, n_eff=1e6, verdict="pass", seed_claim=False):
    theory = np.asarray(theory, float)
    z = np.broadcast_to(np.asarray(z, float), theory.shape)
    estimate = theory + z * se
    p = 2 * st.norm.sf(np.abs(z)) if np.isinf(dof) else 2 * st.t.sf(np.abs(z), dof)
    return pd.DataFrame({
        "check": check, "quantity": quantity, "index": [str(i) for i in index], "theory": theory,
        "estimate": estimate, "stderr": se, "dof": dof, "n_eff": n_eff, "z": z, "p": p, "p_holm": np.nan,
        "rel_err": np.abs(estimate - theory) / np.abs(theory), "verdict": verdict, "seed_claim": seed_claim,
    })


def _cov_rows(check, d, rng, **kw):
    ii, jj = np.tril_indices(d)
    return _rows(check, "cov", [f"({i}, {j})" for i, j in zip(ii, jj)], 0.5 + rng.random(ii.size),
                 rng.standard_normal(ii.size), **kw)


def _synthetic_result():
    """A result with a known count of each verdict.

    Checks (run order): relu/zero-mean-d4 (4 mean + 10 cov, all pass), relu/d16 (16 + 136 rows,
    one fail at cov (7, 3)), relu/deep-tail (3 rows, one underpowered with a huge z),
    claims/seed (2 seed claims, one erratum), mlp/relu and mlp/tanh (q and qtilde, 10 layers).
    """
    rng = np.random.default_rng(7)
    frames = [
        _rows("relu/zero-mean-d4", "mean", range(4), 0.4 + rng.random(4), rng.standard_normal(4)),
        _cov_rows("relu/zero-mean-d4", 4, rng, dof=63),
        _rows("relu/d16", "mean", range(16), 0.4 + rng.random(16), rng.standard_normal(16)),
        _cov_rows("relu/d16", 16, rng, dof=63),
        _rows("relu/deep-tail", "mean", range(3), [1e-5, 0.01, 1.1], [40.0, 0.3, -0.5], n_eff=[50, 1e5, 1e6]),
        _rows("claims/seed", "phi2", ["relu"], [0.5], [30.0], seed_claim=True),
        _rows("claims/seed", "c", ["0.5"], [0.6], [0.4], seed_claim=True),
    ]
    profiles = []
    for activation in ("relu", "tanh"):
        for init, gain in (("he_normal", 1.0), ("glorot_normal", 0.5 if activation == "relu" else 0.9)):
            layers = np.arange(1, 11)
            for quantity in ("q", "qtilde", "c"):  # c: the c-map figure only (no table rows)
                theory = gain ** (layers if quantity != "qtilde" else layers[::-1])
                se = 0.02 * theory
                estimate = theory + se * rng.standard_normal(10)
                profiles.append(pd.DataFrame({
                    "check": f"mlp/{activation}/{init}", "activation": activation, "init": init, "depth": 10,
                    "layer": layers, "quantity": quantity, "theory": theory, "estimate": estimate, "stderr": se}))
                if quantity != "c":
                    frames.append(_rows(f"mlp/{activation}/{init}", quantity, layers, theory,
                                        (estimate - theory) / se, se=se))
    table = pd.concat(frames, ignore_index=True)
    # Plant the verdicts the report must show.
    fail = (table["check"] == "relu/d16") & (table["index"] == "(7, 3)")
    table.loc[fail, ["z", "p"]] = [7.5, 2 * st.norm.sf(7.5)]
    table.loc[fail, "verdict"] = "fail"
    table.loc[(table["check"] == "relu/deep-tail") & (table["index"] == "0"), "verdict"] = "underpowered"
    table.loc[(table["check"] == "claims/seed") & (table["index"] == "relu"), "verdict"] = "seed-erratum"
    tested = table["verdict"] != "underpowered"
    table.loc[tested, "p_holm"] = np.minimum(1.0, table.loc[tested, "p"] * tested.sum())

    widths = np.array([32, 64, 128, 256, 512])
    finite_width = pd.concat([pd.DataFrame({
        "width": widths, "depth": depth, "quantity": "q_fluct",
        "estimate": 1.0 + depth / widths + 0.002 * rng.standard_normal(5), "stderr": 0.002,
        "theory_exact": 1.0 + depth / widths, "theory_meanfield": 1.0}) for depth in (2, 8)], ignore_index=True)
    errata = pd.DataFrame({
        "claim": ["relu phi2", "corr map"], "seed": ["seed-A", "seed-B"], "section": ["3.1", "4.2"],
        "as_written": ["E[phi(x)^2] = q", "c' = c | q"], "corrected": ["E[phi(x)^2] = q/2", "c' = c"],
        "seed_value": [1.0, 0.6], "correct_value": [0.5, 0.6], "estimate": [0.5003, 0.6004],
        "stderr": [0.001, 0.001], "z_seed": [-499.7, 0.4], "z_correct": [0.3, 0.4],
        "verdict": ["seed-erratum", "pass"], "refuted_by": ["Monte Carlo", ""]})
    env = {"mcbench": "0.1.0", "commit": "abc123", "numba": "0.60", "numpy": "2.0", "scipy": "1.14",
           "pandas": "2.2", "threading_layer": "omp", "numba_threads": 2, "blas": "openblas (pthreads, 2)",
           "cpu": "Test CPU", "seed": 0, "suite": "quick", "started": "2026-01-01T00:00:00Z",
           "finished": "2026-01-01T00:01:00Z", "seconds": 60.5}
    timings = {c: 0.1 * (k + 1) for k, c in enumerate(table["check"].unique())}
    nlo_gap = pd.DataFrame({"kind": ["mc", "mc", "nlo", "nlo"], "width": [32, 64, 32, 64],
                            "gap": [-0.10, -0.05, -0.11, -0.055], "gap_se": [0.02, 0.01, np.nan, np.nan],
                            "case": "relu-he", "depth": 20, "quantity": "c"})
    return types.SimpleNamespace(table=table, profiles=pd.concat(profiles, ignore_index=True),
                                 finite_width=finite_width, nlo_gap=nlo_gap, errata=errata, env=env, timings=timings,
                                 alpha=ALPHA)


EXPECTED = {"comparisons": 4 + 10 + 16 + 136 + 3 + 2 + 80, "checks": 8, "fail": 1, "seed-erratum": 1,
            "underpowered": 1}
EXPECTED["pass"] = EXPECTED["comparisons"] - 3


@pytest.fixture(scope="module")
def result():
    return _synthetic_result()


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    """One report for the whole module: rendering the figures is the slow part."""
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report")
    return out, report.write_report(result, out)


def test_summary_counts(result):
    counts = summary_counts(result.table, ALPHA)
    assert {k: counts[k] for k in EXPECTED} == EXPECTED
    assert counts["other"] == 0 and not counts["ok"]
    assert counts["failing_checks"] == {"relu/d16": 1}
    # The underpowered row (z = 40) and the erratum (z = 30) are not tested rows: the fail is the worst.
    assert counts["worst"]["check"] == "relu/d16" and counts["worst"]["index"] == "(7, 3)"
    assert counts["worst"]["abs_z"] == 7.5
    assert counts["holm_family"] == EXPECTED["comparisons"] - 1
    assert counts["holm_critical_z"] == pytest.approx(st.norm.isf(ALPHA / (2 * counts["holm_family"])))
    line = report.format_summary_line(counts)
    assert line.startswith("FAIL: 251 comparisons in 8 checks: pass 248, fail 1, seed-erratum 1, underpowered 1")
    assert "worst |z| 7.50 (relu/d16 cov (7, 3))" in line


def test_summary_counts_all_pass_and_empty(result):
    ok = result.table[result.table["verdict"] == "pass"]
    assert report.format_summary_line(summary_counts(ok)).startswith("OK: 248 comparisons")
    empty = summary_counts(pd.DataFrame())
    assert empty["comparisons"] == 0 and empty["worst"] is None and empty["ok"]


def test_formatting_helpers():
    assert fmt.fmt_num(1 / 3) == "0.333333"
    assert fmt.fmt_num(np.nan) == fmt.MISSING and fmt.fmt_num(np.inf) == "inf"
    assert fmt.fmt_z(-1.234) == "-1.23" and fmt.fmt_z(-np.inf) == "-inf"
    assert fmt.fmt_p(1.5e-7) == "1.50e-07" and fmt.fmt_p(0.0) == "0"
    assert fmt.fmt_count(4_000_000.0) == "4000000" and fmt.fmt_count(np.inf) == "inf"


def test_all_files_written(written):
    out, paths = written
    names = {p.name for p in paths.values()}
    assert names == {"report.csv", "run.json", "report.md", "report.html", *report.FIGURE_FILES}
    assert all(p.parent == out and p.exists() for p in paths.values())


def test_csv_round_trips(written, result):
    out, _ = written
    pd.testing.assert_frame_equal(report.read_table(out / "report.csv"), result.table, check_dtype=False)


def test_run_json(written, result):
    out, _ = written
    run = json.loads((out / "run.json").read_text())
    assert run["alpha"] == ALPHA and run["env"] == result.env
    assert run["timings"] == pytest.approx(result.timings)
    assert {k: run["summary"][k] for k in EXPECTED} == EXPECTED
    assert set(run["figures"].values()) == {"written"}


def test_markdown(written):
    out, _ = written
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# mcbench validation report")
    summary, checks = md.index("## Summary"), md.index("## Checks")
    assert summary < md.index("## Errata of the source documents (seeds 000-004)") < checks < md.index("## Environment")
    head = md[summary:checks]
    assert "**251 comparisons in 8 checks**: pass 248, fail 1, seed-erratum 1, underpowered 1." in head
    assert "**Worst |z| 7.50** among tested comparisons, at `relu/d16` cov (7, 3)" in head
    assert "alpha = 0.001" in head and "fewer than 1000 informative samples, not tested" in head
    assert "Student's t" in head and "as written, rejected by the data" in head
    # The verdict comes first, then the figures, then the errata cards (formula as written and corrected).
    assert head.index("FAIL: 1 comparison rejected") < head.index("## Figures") < head.index("## Errata")
    assert "E[phi(x)^2] = q/2" in head and "c' = c | q" in head and "0.5003 ± 0.001" in head
    # The big check is truncated to its 10 worst rows, the fail first; the d4 check is shown whole.
    d16 = md[md.index("### **FAIL** `relu/d16`"):md.index("### `relu/deep-tail`")]
    assert d16.count("\n| cov ") + d16.count("\n| mean ") == config.WORST_ROWS
    assert "| **FAIL**" in d16 and d16.index("(7, 3)") < d16.index("| pass")
    assert "142 rows omitted, report.csv has all" in d16
    d4 = md[md.index("### `relu/zero-mean-d4`"):md.index("relu/d16", md.index("### `relu/zero-mean-d4`"))]
    assert d4.count("\n| cov ") == 10 and "omitted" not in d4
    assert "| Test CPU" in md and "## Wall time per check" in md
    for name in report.FIGURE_FILES:
        assert f"]({name})" in md


def test_html_self_contained(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(report.FIGURE_FILES)
    for name, data in zip(report.FIGURE_FILES, images):  # embedded bytes are the written files
        assert base64.b64decode(data) == (out / name).read_bytes()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//|url\(|@import|<link|<script[^>]*\bsrc""", page)  # inline scripts only
    assert '<tr class="fail">' in page and '<tr class="seed-erratum">' in page
    assert '<tr class="underpowered">' in page and "<h2>Figures</h2>" in page


def test_pngs_valid(written):
    out, _ = written
    for name in report.FIGURE_FILES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, name


def test_relu_cov_heatmap_picks_largest_check(result):
    check, z = figures._relu_cov_matrix(result.table)
    assert check == "relu/d16" and z.shape == (16, 16)
    assert z[7, 3] == z[3, 7] == 7.5 and np.allclose(z, z.T)


def test_empty_figure_data_is_skipped(result, tmp_path):
    pytest.importorskip("matplotlib")
    bare = types.SimpleNamespace(**{**vars(result), "profiles": pd.DataFrame(), "finite_width": pd.DataFrame(),
                                    "nlo_gap": pd.DataFrame(),
                                    "errata": pd.DataFrame()})
    paths = report.write_report(bare, tmp_path)
    assert {"fig_zscores", "fig_relu_cov_heatmap"} <= set(paths)
    for stem in ("fig_variance_depth", "fig_gradient_depth", "fig_finite_width"):
        assert stem not in paths and not (tmp_path / f"{stem}.png").exists()
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "fig_finite_width.png skipped: no data in this run" in md
    assert "No seed claims were tested in this run." in md


def test_without_matplotlib(result, tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not report.plots_available()
    paths = report.write_report(result, tmp_path)
    assert set(paths) == {"csv", "json", "md", "html"}
    assert not list(tmp_path.glob("*.png"))
    for name in ("report.md", "report.html"):
        assert report.NO_MATPLOTLIB in (tmp_path / name).read_text(encoding="utf-8")
    assert "data:image/png" not in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "run.json").read_text())["summary"]["fail"] == 1
