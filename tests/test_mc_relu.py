"""The fused ReLU-moment kernel against a plain-numpy reference on the same samples."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from reference import assert_within_holm, extra_peak_mib, random_spd, relu_moments_from_samples

import mcbench
from mcbench import mc


@pytest.mark.parametrize("d, n, chunk", [(1, 5000, None), (4, 20_000, None), (7, 3001, 256), (33, 4000, 512)])
def test_matches_numpy_on_identical_samples_float64(d, n, chunk):
    rng = np.random.default_rng(d)
    mean, cov = rng.standard_normal(d), random_spd(d, rng)
    res = mc.relu_moments(mean, cov, n, seed=9, chunk_size=chunk)
    samples = mcbench.sample_mvn(mean, cov, n, seed=9, chunk_size=chunk)
    ref_mean, ref_cov = relu_moments_from_samples(samples)
    scale = np.abs(ref_cov).max()
    np.testing.assert_allclose(res.mean, ref_mean, rtol=0, atol=1e-13 * max(1, np.abs(ref_mean).max()))
    np.testing.assert_allclose(res.cov, ref_cov, rtol=0, atol=1e-12 * scale)
    assert res.n_samples == n and res.mean.shape == (d,) and res.cov.shape == (d, d)
    assert np.array_equal(res.n_positive, (samples > 0).sum(0))


def test_float32_matches_its_own_samples_to_float32_round_off():
    rng = np.random.default_rng(1)
    d, n = 8, 50_000
    mean, cov = rng.standard_normal(d), random_spd(d, rng)
    res = mc.relu_moments(mean, cov, n, seed=2, dtype=np.float32)
    ref_mean, ref_cov = relu_moments_from_samples(mcbench.sample_mvn(mean, cov, n, seed=2, dtype=np.float32))
    # Per-chunk GEMMs run in float32: round-off measured 3e-8 (cov) and 1e-8 (mean) relative to the
    # largest entry, far below the Monte Carlo error (cov_se / |cov| ~ 1e-2 here).
    np.testing.assert_allclose(res.cov, ref_cov, rtol=0, atol=1e-6 * np.abs(ref_cov).max())
    np.testing.assert_allclose(res.mean, ref_mean, rtol=0, atol=1e-7 * np.abs(ref_mean).max())


def test_standard_errors_have_the_documented_form():
    rng = np.random.default_rng(5)
    d, n = 3, 100_000
    mean, cov = rng.standard_normal(d), random_spd(d, rng)
    res = mc.relu_moments(mean, cov, n, seed=3)
    np.testing.assert_allclose(res.mean_se, np.sqrt(np.diag(res.cov) / n), rtol=1e-12)
    assert res.cov_se_dof == res.n_chunks - 1 and res.cov_se_dof >= 255
    # The replicate SE agrees with the delta-method SE sqrt((mu22 - c^2)/n)
    # computed from the full sample, to within its own sampling noise
    # (relative sd ~ 1/sqrt(2 dof) = 4.4%), Holm over the distinct entries.
    y = np.maximum(mcbench.sample_mvn(mean, cov, n, seed=3), 0)
    yc = y - y.mean(0)
    mu22 = np.einsum("ni,nj->ij", yc**2, yc**2) / n
    delta_se = np.sqrt((mu22 - np.cov(y, rowvar=False) ** 2) / n)
    iu = np.triu_indices(d)
    ratio = (res.cov_se / delta_se)[iu]
    assert_within_holm(ratio, np.ones_like(ratio), np.full_like(ratio, 1 / np.sqrt(2 * res.cov_se_dof)),
                       label="replicate SE / delta-method SE")


def test_deterministic_zero_variance_coordinate_has_zero_se_and_exact_values():
    res = mc.relu_moments([2.0, -1.0, 0.0], np.diag([0.0, 0.0, 1.0]), 10_000, seed=0)
    assert res.mean[0] == 2.0 and res.mean[1] == 0.0
    assert res.cov[0, 0] == 0.0 and res.cov[0, 2] == 0.0 and res.mean_se[0] == 0.0
    assert res.cov_se[0, 0] == 0.0


def test_too_few_chunks_gives_nan_cov_se_not_a_fake_number_and_says_so():
    with pytest.warns(RuntimeWarning, match="n_samples=50 with chunk_size=50 gives 1 chunk"):
        res = mc.relu_moments([0.0], [[1.0]], 50, seed=0)
    assert res.n_chunks == 1 and np.isnan(res.cov_se).all() and res.cov_se_dof == 0
    assert np.isfinite(res.mean_se).all() and np.isfinite(res.cov).all()
    with pytest.warns(RuntimeWarning, match="chunk_size=1000 gives 1 chunk"):
        mc.relu_moments([0.0], [[1.0]], 1001, seed=0, chunk_size=1000)  # 1000 + 1: the lone sample is no replicate


def test_seconds_exclude_compilation():
    res = mc.relu_moments(np.zeros(2), np.eye(2), 1000, seed=0)
    assert res.seconds >= 0 and res.compile_seconds >= 0
    again = mc.relu_moments(np.zeros(2), np.eye(2), 1000, seed=0)
    assert again.compile_seconds == 0.0


@pytest.mark.parametrize("bad, match", [
    (dict(n_samples=0), "n_samples must be >= 2"),
    (dict(cov=[[1.0, 0.2], [0.0, 1.0]]), "not symmetric"),
    (dict(mean=[0.0, np.nan]), "mean contains NaN"),
    (dict(dtype=np.float16), "dtype must be float32 or float64"),
    (dict(threads=0), "threads must be >= 1"),
    (dict(n_samples=1), "n_samples must be >= 2"),
])
def test_bad_arguments_are_named(bad, match):
    kwargs = dict(mean=[0.0, 0.0], cov=np.eye(2), n_samples=100)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        mc.relu_moments(**kwargs)


def test_threads_accepts_numpy_integers():
    assert mc.relu_moments(np.zeros(2), np.eye(2), 100, threads=np.int64(1)).threads == 1


# ------------------------------------------------------------ determinism ---

_DIGEST_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, numpy as np, numba, mcbench
    from mcbench import mc
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6)); cov = a @ a.T / 6; mean = rng.standard_normal(6)
    h = hashlib.sha256()
    for dtype in (np.float64, np.float32):
        r = mc.relu_moments(mean, cov, 300_001, seed=1234, dtype=dtype)
        for arr in (r.mean, r.cov, r.mean_se, r.cov_se, r.n_positive):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(mcbench.sample_mvn(mean, cov, 50_001, seed=99, dtype=dtype).tobytes())
    print(json.dumps({"threads": numba.get_num_threads(), "digest": h.hexdigest()}))
    """
)


def _digest(threads):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, text=True,
                         check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_wave_length_changes_no_bit(monkeypatch):
    # Chunks are merged in chunk order whatever the wave they ran in: one wave of all 41 chunks and
    # waves of one chunk per slot must give the same bits (the default holds a wave in 32 MiB).
    from mcbench.mc import relu as relu_module

    mean, cov = np.array([0.3, -0.2, 0.0]), random_spd(3, np.random.default_rng(4))
    kwargs = dict(n_samples=20_500, seed=2, chunk_size=500, threads=2)
    one_wave = mc.relu_moments(mean, cov, **kwargs)
    assert relu_module.wave_size(one_wave.n_chunks, 500, 3, 8, 2) == one_wave.n_chunks == 41
    monkeypatch.setattr(relu_module, "WAVE_BYTES", 1)
    assert relu_module.wave_size(41, 500, 3, 8, 2) == 2
    short_waves = mc.relu_moments(mean, cov, **kwargs)
    for name in ("mean", "cov", "cov_se", "n_positive"):
        np.testing.assert_array_equal(getattr(one_wave, name), getattr(short_waves, name), err_msg=name)


def test_a_wave_bounded_by_time_changes_no_bit(monkeypatch):
    # WAVE_ELEMENTS keeps a wave to about a second so that a stop request is honoured; cutting the
    # work into more waves must not change the result.
    from mcbench.mc import relu as relu_module

    mean, cov = np.array([0.3, -0.2, 0.0]), random_spd(3, np.random.default_rng(4))
    kwargs = dict(n_samples=20_500, seed=2, chunk_size=500, threads=2)
    one_wave = mc.relu_moments(mean, cov, **kwargs)
    monkeypatch.setattr(relu_module, "WAVE_ELEMENTS", 1500 * 3)  # three chunks' worth: two per wave
    assert relu_module.wave_size(41, 500, 3, 8, 2) == 2
    short_waves = mc.relu_moments(mean, cov, **kwargs)
    for name in ("mean", "cov", "cov_se", "n_positive"):
        np.testing.assert_array_equal(getattr(one_wave, name), getattr(short_waves, name), err_msg=name)


def test_bitwise_identical_across_thread_counts_and_runs():
    one, two, two_again = _digest(1), _digest(2), _digest(2)
    assert (one["threads"], two["threads"]) == (1, 2)
    assert one["digest"] == two["digest"] == two_again["digest"]


# -------------------------------------------------------------- streaming ---

@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units are platform-specific")
def test_memory_does_not_grow_with_n_samples():
    # 4M x 16 float64 samples would be 512 MB; the streaming kernel's extra
    # peak must stay at the chunk buffers (a few MB), whatever n is.
    assert extra_peak_mib("import numpy as np\nfrom mcbench import mc",
                          "mc.relu_moments(np.zeros(16), np.eye(16), n, seed=0)", 4_000_000, warm_n=1000) < 64
