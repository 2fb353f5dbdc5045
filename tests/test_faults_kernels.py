"""The kernels' fault catalogue: memory faults, huge sizes, stop requests inside kernels, bad values.

Each test reproduces a fault a hostile user found (issue 13) and checks that
it now gives a clear error, or the right answer, never a plausible wrong number.
"""

from __future__ import annotations

import ast
import inspect
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numba import prange

from mcbench import MLPSpec, mc, theory
from mcbench._core import memory
from mcbench.mc import mlp as mlp_module
from mcbench.mc import relu as relu_module
from mcbench.mc import sampling as sampling_module
from mcbench.perf import limits

PARALLEL_KERNELS = [relu_module._relu_wave, mlp_module._mlp_wave, sampling_module._sample_kernel,
                    limits._rng_tasks, limits._gemm_per_thread]


# ---------------------------------------------------------------- memory faults ---


def test_a_network_too_large_for_memory_is_a_memory_error_naming_the_bytes():
    # Was: q printed as 0.0 (the allocation failed inside prange and the worker stopped silently).
    with pytest.raises(MemoryError, match=r"mlp_propagation needs 149 GiB of workspace.*74.5 GiB are its weights"):
        mc.mlp_propagation(MLPSpec([100_000, 100_000]), n_networks=2, n_inputs=2)


def test_under_a_memory_cap_the_mlp_raises_instead_of_returning_wrong_statistics():
    # Was: under ulimit -v, MLPSpec([2048] * 4) gave q = 1.0 +- 1.0 instead of 2.0.
    child = textwrap.dedent("""
        import resource, numpy as np
        from mcbench import MLPSpec, mc
        mc.mlp_propagation(MLPSpec([8] * 4), 2, 4)  # compile or load the kernel before the cap
        with open("/proc/self/status") as fh:
            vm = next(int(l.split()[1]) for l in fh if l.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 150 * 2**20, resource.RLIM_INFINITY))
        try:
            out = mc.mlp_propagation(MLPSpec([2048] * 4), 2, 64, threads=2)
            print("RESULT", out["q"].tolist())
        except MemoryError as exc:
            print("MEMORYERROR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert "MEMORYERROR mlp_propagation needs" in out.stdout, out.stdout + out.stderr
    assert "could not be allocated" in out.stdout


def _allocations_inside_prange(fn) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn.py_func)))
    found = []
    for loop in ast.walk(tree):
        if isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call) and getattr(loop.iter.func, "id", "") == "prange":
            for node in ast.walk(loop):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                        "empty", "zeros", "ones", "full", "empty_like", "zeros_like", "copy"):
                    found.append(f"{fn.__name__}: np.{node.func.attr} at line {node.lineno}")
    return found


@pytest.mark.parametrize("kernel", PARALLEL_KERNELS, ids=lambda k: k.__name__)
def test_no_parallel_kernel_allocates_inside_prange(kernel):
    """An allocation that fails inside prange is not reported by Numba: the workspace comes from the caller."""
    assert _allocations_inside_prange(kernel) == []


def test_the_audit_catches_an_allocation_inside_prange():
    def bad(out):
        for t in prange(out.shape[0]):  # parsed, never run
            scratch = np.empty(10)
            out[t] = scratch[0]

    class Fake:
        py_func = bad
        __name__ = "bad"

    assert _allocations_inside_prange(Fake()) == ["bad: np.empty at line 3"]


def test_a_worker_that_stops_early_is_an_error_not_a_result():
    memory.check_done(np.ones(2, np.uint8), "k")
    with pytest.raises(RuntimeError, match="1 of 2 parallel workers stopped early"):
        memory.check_done(np.array([1, 0], np.uint8), "k")


# ------------------------------------------------------------------- huge sizes ---


@pytest.mark.parametrize("call, message", [
    (lambda: mc.relu_moments([0, 0], np.eye(2), n_samples=2**63), "n_samples must be at most 9.01e"),
    (lambda: mc.relu_moments([0, 0], np.eye(2), n_samples=10**18), "n_samples must be at most 9.01e"),
    (lambda: mc.sample_mvn([0, 0], np.eye(2), n=10**18), "n must be at most 9.01e"),
    (lambda: mc.mlp_propagation(MLPSpec([4, 4]), 2, 10**18), "n_inputs x the widest layer must be at most"),
])
def test_sizes_whose_arithmetic_would_overflow_are_refused(call, message):
    # Was: n_samples=2**63 returned mean [0, 0]; 10**18 hung and ignored Ctrl-C.
    with pytest.raises(ValueError, match=message):
        call()


_LONG = {
    "relu_moments": "mc.relu_moments([0.0, 0.0], np.eye(2), n_samples=10**14, seed=0)",
    "mlp_propagation": "mc.mlp_propagation(MLPSpec([256] * 5), 2, 10**12)",
}


@pytest.mark.parametrize("kernel", list(_LONG))
def test_a_long_kernel_says_how_long_and_stops_on_ctrl_c(kernel):
    """Waves of about a second, with a checkpoint between them: Ctrl-C ends a 10**14-sample run promptly."""
    child = textwrap.dedent(f"""
        import sys, time, warnings
        import numpy as np
        from mcbench import MLPSpec, mc
        warnings.simplefilter("always")
        def say(message, *args, **kwargs):
            print("WARNING", message, flush=True)
        warnings.showwarning = say
        mc.relu_moments([0.0], [[1.0]], 1000); mc.mlp_propagation(MLPSpec([4, 4]), 2, 4)  # load the kernels
        print("START", flush=True)
        try:
            {_LONG[kernel]}
        except KeyboardInterrupt:
            print("STOPPED", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("WARNING"):  # the first wave is done: the projection is out
            break
    time.sleep(1.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    waited = time.perf_counter() - sent
    text = "".join(lines) + rest
    assert "will take about" in text and ("years" in text or "days" in text), text + err
    assert "STOPPED" in text, text + err
    assert waited < 10, f"the stop request took {waited:.1f} s"


# ------------------------------------------------------------------- bad values ---


@pytest.mark.parametrize("mean, cov, message", [
    ([0j, 1.0], np.eye(2), "mean must be real"),
    ([0.0, 0.0], np.eye(2) * (1 + 1e-3j), "cov must be real"),
    ([0.0, 0.0], np.eye(2) * 1e308, "cov entries must be at most"),
    ([1e150, 0.0], np.eye(2), "mean entries at most"),
    (["a", 0.0], np.eye(2), "mean must be an array of real numbers"),
])
def test_bad_gaussians_are_refused_by_theory_and_monte_carlo_alike(mean, cov, message):
    # Was: the imaginary part dropped with a warning; 1e308 overflowed to zero samples and an inf theory.
    with pytest.raises(ValueError, match=message):
        mc.relu_moments(mean, cov, 1000)
    with pytest.raises(ValueError, match=message):
        theory.relu_moments(mean, cov)


@pytest.mark.parametrize("kwargs, message", [
    (dict(bias=("normal", "abc")), r"bias variance \(bias\[1\] of \('normal', 'abc'\)\) must be a real number"),
    (dict(bias=("constant", None)), r"bias value .* must be a real number"),
    (dict(input_var="1"), "input_var must be a real number, got '1'"),
    (dict(input_var=-1.0), "input_var must be finite and non-negative"),
])
def test_bad_spec_values_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPSpec([4, 4], **kwargs)


def test_zero_input_variance_is_a_legitimate_degenerate_network():
    # Was: a SystemError (a division by ||x||^2 = 0 inside a parallel worker).
    spec = MLPSpec([8, 8, 8], "tanh", "lecun_normal", bias=("normal", 0.5), input_var=0.0)
    out = mc.mlp_propagation(spec, 4, 10, seed=0)
    assert np.isfinite(out["q"]).all() and (out["q"] > 0).all()  # the biases still propagate
    assert out["norm_ratio_mean"].isna().all()  # ||h^l||^2 / ||x||^2 is undefined, not made up


def test_a_chunk_larger_than_the_samples_is_cut_to_them():
    # Was: the buffers were sized by chunk_size (10**9 rows for 100 samples).
    with pytest.warns(RuntimeWarning, match="cov_se is NaN"):  # one chunk: no replicate spread
        res = mc.relu_moments([0.0], [[1.0]], 100, seed=0, chunk_size=10**9)
        same = mc.relu_moments([0.0], [[1.0]], 100, seed=0, chunk_size=100)
    assert res.chunk_size == 100 and res.n_chunks == 1
    np.testing.assert_array_equal(res.mean, same.mean)


# ----------------------------------------------------------------- waves, bits ---


@pytest.mark.parametrize("wave_flops, waves, input_waves", [(3e10, 1, False), (2e6, 2, False), (1e5, 24, True)])
def test_mlp_waves_change_no_bit(monkeypatch, wave_flops, waves, input_waves):
    """Whole networks per call, several rounds per call, or input blocks per call: the same numbers."""
    spec = MLPSpec([16, 32, 32, 16], "tanh", "he_normal", bias=("normal", 0.1))
    kwargs = dict(n_networks=5, n_inputs=96, seed=3, pair_correlation=0.5, threads=2, memory_budget=16_000)
    reference = mc.mlp_propagation(spec, **kwargs)
    monkeypatch.setattr(mlp_module, "MLP_WAVE_FLOPS", wave_flops)
    run = mlp_module.MLPRun(spec, 5, 96, None, np.dtype("float64"), 0.5,
                            mlp_module.block_size(spec, 96, np.float64, 16_000, True), 2)
    assert len(run.waves) == waves and any(w[2] > 0 for w in run.waves) == input_waves
    again = mc.mlp_propagation(spec, **kwargs)
    assert again.equals(reference)
