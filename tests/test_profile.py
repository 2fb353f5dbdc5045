"""``mcbench profile``: runs end to end at tiny sizes and reports sane numbers.

The timing checks are loose on purpose: CI machines are shared and small, and
a test that flaked on a busy runner would teach people to ignore it. The
phase-sum check uses one thread, where neither the kernel nor the phase
drivers wait on each other.
"""

from __future__ import annotations

import contextlib
import io
import json

import numba
import pandas as pd
import pytest

from mcbench.mc import mlp_propagation
from mcbench.mc.mlp import summarize
from mcbench.perf.kernels import prepare

from mcbench import cli
from mcbench.perf import profile
from mcbench.cli import build_parser

TWO = min(2, numba.config.NUMBA_NUM_THREADS)
TOP_KEYS = {"kernel", "label", "params", "threads", "problem", "compile", "phases", "phases_seconds",
            "kernel_seconds", "unaccounted_seconds", "unaccounted_fraction", "throughput", "limits",
            "fraction_of_limit", "scaling", "memory", "environment"}


def _profile(argv, cold=False):
    """Run ``mcbench profile ARGV --json`` in this process; returns the parsed JSON."""
    args = build_parser().parse_args(["profile", *argv, "--json"])
    args.cold_compile = cold
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert profile.main(args, cli.profile_params(args)) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def relu_report():
    return _profile(["relu_moments", "--d", "8", "--n", "20000", "--threads", "1"])


@pytest.fixture(scope="module")
def mlp_report():
    return _profile(["mlp_propagation", "--width", "32", "--depth", "3", "--batch", "64", "--threads", str(TWO)])


@pytest.fixture(scope="module")
def mvn_report():
    return _profile(["sample_mvn", "--d", "8", "--n", "20000", "--threads", "1"], cold=True)


def _check_common(rep, kernel, phases):
    assert TOP_KEYS <= set(rep)
    assert rep["kernel"] == kernel
    assert [p["phase"] for p in rep["phases"]] == [profile.EMPTY_PASS, *phases]
    for p in rep["phases"]:
        assert p["seconds"] >= 0 and 0 <= p["fraction"] <= 1
    assert rep["phases_seconds"] > 0 and rep["kernel_seconds"] > 0
    assert rep["unaccounted_seconds"] == pytest.approx(rep["kernel_seconds"] - rep["phases_seconds"])
    assert sum(p["fraction"] for p in rep["phases"]) == pytest.approx(1.0)
    shares = sum(p["fraction_of_end_to_end"] for p in rep["phases"])
    assert shares + rep["unaccounted_fraction"] == pytest.approx(1.0)
    assert rep["phases"][0]["phase"] == profile.EMPTY_PASS
    for p in rep["phases"]:
        assert isinstance(p["not_resolved"], bool)
        assert p["seconds"] == 0 or not p["not_resolved"]
    assert rep["other_load_cores"] is None or rep["other_load_cores"] >= 0
    assert rep["fraction_of_limit"], "no fraction of a machine limit reported"
    for name, frac in rep["fraction_of_limit"].items():
        assert 0 < frac < 2, (name, frac)
    lim = rep["limits"]
    assert lim["rng_normals_per_s"] > 1e6 and lim["gemm_gflop_per_s"] > 0.01
    assert [row["threads"] for row in rep["scaling"]] == profile.thread_counts(rep["threads"])
    for row in rep["scaling"]:
        assert row["seconds"] > 0 and row["speedup"] > 0 and row["efficiency"] > 0
    assert rep["scaling"][-1]["seconds"] == rep["kernel_seconds"]
    c = rep["compile"]
    assert c["cached_error"] is None and c["cached_seconds"] >= 0 and c["import_seconds"] > 0
    assert c["cache_hit"], "the cached child recompiled the kernel"
    mem = rep["memory"]
    assert mem["memory_method"] and mem["process_peak_mib"] > 10 and mem["call_peak_mib"] >= 0
    for key in ("numba", "threading_layer", "blas", "cpu"):
        assert key in rep["environment"]


def test_relu_moments(relu_report):
    rep = relu_report
    _check_common(rep, "relu_moments", ["RNG", "TRMM", "ReLU+centre", "SYRK", "merge"])
    assert rep["problem"]["d"] == 8 and rep["problem"]["n"] == 20000
    assert set(rep["fraction_of_limit"]) == {"rng", "gemm"}
    # The phases add up to the kernel's own pipeline; end-to-end adds the Python-side set-up only.
    assert 1 / 4 < rep["kernel_seconds"] / rep["phases_seconds"] < 4
    rates = {p["phase"]: p for p in rep["phases"]}
    assert rates["RNG"]["rate_unit"] == "normals/s" and 0 < rates["RNG"]["fraction_of_limit"] < 3
    assert rates["SYRK"]["not_resolved"] or rates["SYRK"]["rate_unit"] == "GFLOP/s"


def test_mlp_propagation_scaling(mlp_report):
    rep = mlp_report
    _check_common(rep, "mlp_propagation", ["RNG", "forward GEMM", "pointwise+stats", "backward GEMM"])
    assert rep["threads"] == TWO and len(rep["scaling"]) == TWO
    assert rep["params"]["networks"] >= TWO  # one network per thread
    assert set(rep["fraction_of_limit"]) == {"gemm"}


def test_sample_mvn_cold_and_cached_compile(mvn_report):
    rep = mvn_report
    _check_common(rep, "sample_mvn", ["RNG", "TRMM"])
    c = rep["compile"]
    assert c["cold_error"] is None
    assert c["cold_seconds"] > c["cached_seconds"], c


def test_text_report(relu_report, mvn_report):
    for rep in (relu_report, mvn_report):
        text = profile.format_report(rep)
        for needle in ("compile", "cold", "cached", "phases", "end-to-end", "unaccounted", "limits", "scaling",
                       "memory"):
            assert needle in text, needle


@pytest.mark.parametrize("argv, message", [
    (["relu_moments", "--width", "64"], "--width does not apply to relu_moments; its problem options are --d, --n"),
    (["mlp_propagation", "--d", "8", "--n", "9"], "--d, --n do not apply to mlp_propagation"),
])
def test_an_option_of_the_other_kernel_is_a_usage_error_not_ignored(capsys, argv, message):
    assert cli.main(["profile", *argv]) == 2
    assert message in capsys.readouterr().err


def test_profile_defaults():
    def params(*argv):
        return cli.profile_params(build_parser().parse_args(["profile", *argv]))

    assert params("relu_moments") == {"d": 64, "n": 312_500, "dtype": "float64"}
    assert params("sample_mvn", "--d", "8", "--n", "5") == {"d": 8, "n": 5, "dtype": "float64"}
    assert params("mlp_propagation", "--depth", "3", "--dtype", "float32") == {
        "width": 256, "depth": 3, "batch": 2048, "activation": "relu", "dtype": "float32"}


def test_unknown_kernel_is_a_usage_error(capsys):
    assert cli.main(["profile", "bvn_cdf"]) == 2
    assert "cannot profile" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["relu", "sampling", "mlp"])
def test_the_profiled_phases_cover_the_kernel(module):
    """Every bit of the kernel's pipeline is one of the profiled phases: a phase added to a kernel must be named."""
    import functools
    import operator

    from mcbench import mc

    kernel_module = getattr(mc, module)
    assert functools.reduce(operator.or_, kernel_module.PHASES.values()) == kernel_module.ALL_PHASES
    bits = list(kernel_module.PHASES.values())
    assert sum(bin(b).count("1") for b in bits) == bin(kernel_module.ALL_PHASES).count("1")  # disjoint


def test_text_report_warns_when_timings_are_distorted(relu_report):
    calm = dict(relu_report, other_load_cores=0.0, unaccounted_fraction=0.02)
    assert "!" not in "".join(profile._distortion_notes(calm))
    busy = dict(calm, other_load_cores=1.2)
    assert "other processes kept 1.20 of" in profile.format_report(busy)
    slow_alone = dict(calm, phases_seconds=1.5 * calm["kernel_seconds"], unaccounted_fraction=-0.5)
    assert "1.50x the end-to-end time" in profile.format_report(slow_alone)
    swallowed = dict(calm, phases=[dict(p, not_resolved=True) for p in calm["phases"]])
    assert "too short for this method to resolve" in profile.format_report(swallowed)


def test_other_load_sees_a_busy_neighbour():
    """A child process spinning on a core for the whole block counts as about one other busy core."""
    import subprocess
    import sys
    import time

    from mcbench.env import OtherLoad

    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 30: pass"])
    try:
        time.sleep(0.3)  # past the interpreter's start-up
        with OtherLoad() as load:
            time.sleep(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    if load.cores is None:
        pytest.skip("no /proc/stat on this platform")
    assert load.cores > 0.5, load.cores


def test_thread_counts():
    assert profile.thread_counts(1) == [1]
    assert profile.thread_counts(2) == [1, 2]
    assert profile.thread_counts(3) == [1, 2, 3]
    assert profile.thread_counts(6) == [1, 2, 4, 6]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_profiled_run_is_the_kernel(activation):
    """The profile times the kernel's own run object on the kernel's own problem: its sums are the kernel's.

    If the profile built its problem differently from ``prepare`` (another
    seed, block, dtype or spec), this fails.
    """
    kernel = prepare("mlp_propagation", width=24, depth=4, batch=40, networks=2, activation=activation,
                     init="he_normal", dtype="float32")
    run, phases = profile.kernel_run(kernel, TWO)
    with profile.numba_threads(TWO), profile.single_threaded_blas():
        run.run()
    spec = run.spec
    replay = summarize(run.stats, spec, 40, False)
    direct = mlp_propagation(spec, 2, 40, seed=kernel.full_params["seed"], dtype="float32", threads=TWO)
    pd.testing.assert_frame_equal(replay, direct.drop(columns=[], errors="ignore"), check_exact=True)
