"""The chunked generator: distribution, stream derivation and seed handling."""

import numpy as np
import pytest
from scipy import stats

from mcbench._core import rng as _rng
from reference import assert_within_holm


def _normals(seed, chunk, n):
    state = np.empty(4, np.uint64)
    _rng.chunk_state(_rng.stream_key(seed), chunk, state)
    out = np.empty(n)
    _rng.fill_normals(state, out)
    return out


def test_ziggurat_layers_have_equal_area():
    x, fx = _rng._ZIG_X, _rng._ZIG_F
    v = x[1] * np.exp(-0.5 * x[1] ** 2) + np.sqrt(np.pi / 2) * __import__("math").erfc(x[1] / np.sqrt(2))
    # layer i (i >= 1) spans [f(x_i), f(x_{i+1})] vertically with width x_i
    areas = x[1:-1] * (fx[2:] - fx[1:-1])
    np.testing.assert_allclose(areas, v, rtol=1e-9)
    assert x[-1] == 0.0 and np.all(np.diff(x) < 0)


def test_normals_pass_ks_and_moment_checks():
    z = _normals(seed=12345, chunk=0, n=1_000_000)
    # Fixed seed: this is a deterministic check, not a flaky one.
    assert stats.kstest(z, "norm").pvalue > 1e-4
    n = z.size
    moments = [(1, 0.0, 1.0), (2, 1.0, 2.0), (3, 0.0, 15.0), (4, 3.0, 96.0)]  # k, E[Z^k], Var(Z^k)
    assert_within_holm([np.mean(z**k) for k, _, _ in moments], [m for _, m, _ in moments],
                       [np.sqrt(v / n) for _, _, v in moments], label="moments 1-4")


def test_tail_beyond_ziggurat_base_is_sampled_correctly():
    z = _normals(seed=7, chunk=3, n=4_000_000)
    r = _rng._ZIG_R
    tail = np.abs(z[np.abs(z) > r])
    expected = 2 * stats.norm.sf(r) * z.size
    # Conditional tail distribution: P(|Z| > r + 0.5 | |Z| > r)
    frac = np.mean(tail > r + 0.5)
    p = stats.norm.sf(r + 0.5) / stats.norm.sf(r)
    assert_within_holm([tail.size, frac], [expected, p], [np.sqrt(expected), np.sqrt(p * (1 - p) / tail.size)],
                       label="tail count, conditional tail fraction")


def test_chunk_streams_are_distinct_and_reproducible():
    a = _normals(1, 0, 1000)
    assert np.array_equal(a, _normals(1, 0, 1000))
    b = _normals(1, 1, 1000)
    c = _normals(2, 0, 1000)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    # Independent streams: sample correlation consistent with 0 (SE 1/sqrt(n)).
    assert_within_holm([np.corrcoef(a, b)[0, 1]], [0.0], [1 / np.sqrt(1000)], label="stream correlation")


def test_seed_sequence_and_int_seed_agree():
    assert np.array_equal(_rng.stream_key(5), _rng.stream_key(np.random.SeedSequence(5)))
    child = np.random.SeedSequence(5).spawn(1)[0]
    assert not np.array_equal(_rng.stream_key(5), _rng.stream_key(child))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_bad_seed_is_rejected_with_its_name(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        _rng.stream_key(bad)


def test_default_chunk_size_depends_on_n_and_d_only():
    assert _rng.default_chunk_size(100, 4) == _rng.MIN_CHUNK
    assert _rng.default_chunk_size(10**6, 4) == -(-10**6 // _rng.TARGET_CHUNKS)
    assert _rng.default_chunk_size(10**9, 256) == _rng.CHUNK_ELEMENTS // 256
