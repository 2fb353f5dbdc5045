"""The standalone benchmark scripts run end to end at toy sizes.

Only their tables' shape and sanity are checked, never a speed: timings are
for benchmarks, not tests. This catches a script that no longer runs, or a
column that lost its meaning, before a 20-minute benchmark run does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives beside mcbench

import benchmarks.bench_mlp as bench_mlp  # noqa: E402
import benchmarks.bench_relu_moments as bench_relu_moments  # noqa: E402


def _other_load_is_recorded(table):
    if sys.platform.startswith("linux"):  # elsewhere there is no /proc/stat and the column is empty
        assert (table["other_load"] >= 0).all(), table["other_load"]


def test_bench_mlp_prints_one_table(capsys):
    table = bench_mlp.main(["--widths", "16", "--depth", "2", "--batch", "64", "--dtypes", "float64",
                            "--repeat", "1"])
    out = capsys.readouterr().out
    assert len(table) == 1 and table["width"].iloc[0] == 16
    row = table.iloc[0]
    assert row["mcbench_GFLOP/s"] > 0 and row["gemm_limit_GFLOP/s"] > 0 and row["x_numpy"] > 0
    assert np.isclose(row["frac_gemm_executed"], row["frac_gemm"] * 3 / 4)  # depth 2: (2L - 1) / 2L
    _other_load_is_recorded(table)
    assert "frac_gemm" in out and "other_load: cores other processes kept busy" in out


def test_bench_relu_moments_prints_one_table(capsys):
    table = bench_relu_moments.main(["--dims", "4", "--dtypes", "float64", "--repeat", "1", "--budget", "4e5",
                                     "--no-plain"])
    out = capsys.readouterr().out
    assert len(table) == 1 and table["d"].iloc[0] == 4 and table["n"].iloc[0] == 100_000
    assert table["fused_Msamples/s"].iloc[0] > 0 and 0 < table["frac_rng"].iloc[0]
    _other_load_is_recorded(table)
    assert "x_blocked" in out and "other_load" in out
