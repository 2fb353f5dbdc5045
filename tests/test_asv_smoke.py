"""Smoke test of the asv suite, so that a broken benchmark fails CI.

The main part needs no asv: the benchmark classes are plain Python, and every
benchmark method is run once here, after ``setup``, at its smallest
parameters (the first value of each parameter list). With asv installed (it
is in the ``test`` extra), ``asv check`` also validates the suite the way asv
discovers it, and one tiny benchmark runs through ``asv run --quick
--python=same --dry-run`` (spawned process, shared ``setup_cache``). Under
``CI=true`` a missing asv is an error, not a skip, so CI cannot silently lose
the asv smoke test.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives beside mcbench, not inside it

import benchmarks.asv_kernels as asv_kernels  # noqa: E402  (an import error here must fail, not skip)

HAS_ASV = importlib.util.find_spec("asv") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
needs_asv = pytest.mark.skipif(not HAS_ASV and not IN_CI,
                               reason="asv not installed (pip install '.[test]' or '.[bench]')")

BENCHMARK_PREFIXES = ("time_", "track_", "mem_", "peakmem_", "timeraw_")


def _benchmark_classes():
    for name, cls in vars(asv_kernels).items():
        if inspect.isclass(cls) and not name.startswith("_") and cls.__module__ == asv_kernels.__name__:
            yield name, cls


def _cases():
    for cls_name, cls in _benchmark_classes():
        for method in sorted(m for m in dir(cls) if m.startswith(BENCHMARK_PREFIXES)):
            yield pytest.param(cls, method, id=f"{cls_name}.{method}")


def _asv_env(home=None):
    env = dict(os.environ)
    # With --python=same asv imports mcbench from the running environment: make the source tree win.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if home is not None:
        # asv keeps its machine description in ~/.asv-machine.json: give it a scratch home (and keep
        # the user's site-packages, which also hang off HOME).
        env["PYTHONUSERBASE"] = site.getuserbase()
        env["HOME"] = str(home)
    return env


def test_every_kernel_has_a_class():
    from mcbench.perf.kernels import KERNELS

    covered = {cls.kernel for _, cls in _benchmark_classes()}
    assert covered == set(KERNELS)


def test_warm_jit_cache(monkeypatch):
    """setup_cache's warm-up (float64 only here, to keep it cheap) records a compile time per kernel."""
    monkeypatch.setattr(asv_kernels, "DTYPES", ["float64"])
    out = asv_kernels.warm_jit_cache()
    assert set(out) == set(asv_kernels.TINY)
    for name, per_dtype in out.items():
        for value in per_dtype.values():
            assert isinstance(value, float), f"{name}: {value}"


@pytest.mark.parametrize("cls, method", list(_cases()))
def test_benchmark_runs_once(cls, method):
    params = [values[0] for values in getattr(cls, "params", [])]
    bench = cls()
    cache = {"smoke": True}  # stands in for setup_cache's return value
    bench.setup(cache, *params)  # the first parameters (1 thread) are never a skip
    value = getattr(bench, method)(cache, *params)
    if method.startswith("track_"):
        assert isinstance(value, float) and math.isfinite(value) and value >= 0, value
        assert getattr(getattr(cls, method), "unit", None), f"{method} has no unit"


def test_attributes_are_sane():
    for name, cls in _benchmark_classes():
        params = getattr(cls, "params", [])
        assert len(params) == len(cls.param_names), name
        assert 0 < cls.timeout <= 600, name
        assert cls.warmup_time == 0.0, name


@needs_asv
def test_asv_check():
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=ROOT, env=_asv_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout, proc.stdout + proc.stderr


@needs_asv
def test_asv_run_one_benchmark(tmp_path):
    """One small benchmark through asv's runner: spawned process, setup_cache, params, result parsing."""
    env = _asv_env(home=tmp_path)
    machine = subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert machine.returncode == 0, machine.stdout + machine.stderr
    cmd = [sys.executable, "-m", "asv", "run", "--quick", "--python=same", "--dry-run", "--show-stderr",
           "--bench", r"asv_kernels\.BivariateNormalCDF\.time_kernel"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Setting up asv_kernels" in out and "BivariateNormalCDF.time_kernel" in out, out
    assert "failed" not in out.lower() and "n/a" not in out.lower(), out
