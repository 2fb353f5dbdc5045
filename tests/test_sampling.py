"""sample_mvn: shapes, dtypes, correctness of the covariance, and input validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import assert_within_holm, gaussian_cov_se, random_spd

import mcbench


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shape_dtype_and_chunk_boundaries(dtype):
    x = mcbench.sample_mvn(np.zeros(3), np.eye(3), 1001, seed=1, dtype=dtype, chunk_size=100)
    assert x.shape == (1001, 3) and x.dtype == dtype
    # The remainder chunk is filled too (no uninitialised rows).
    assert np.all(np.isfinite(x)) and np.all(x[-1] != 0)


def test_float32_is_float64_rounded_once():
    mean, cov = np.array([1.0, -2.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    x64 = mcbench.sample_mvn(mean, cov, 5000, seed=4)
    x32 = mcbench.sample_mvn(mean, cov, 5000, seed=4, dtype=np.float32)
    np.testing.assert_allclose(x32, x64, rtol=2e-6, atol=2e-6)


def test_sample_mean_and_covariance_match_within_holm_bounds():
    rng = np.random.default_rng(0)
    d, n = 5, 200_000
    cov = random_spd(d, rng)
    mean = rng.standard_normal(d)
    x = mcbench.sample_mvn(mean, cov, n, seed=11)
    iu = np.tril_indices(d)
    assert_within_holm(np.concatenate([x.mean(0), np.cov(x, rowvar=False)[iu]]), np.concatenate([mean, cov[iu]]),
                       np.concatenate([np.sqrt(np.diag(cov) / n), gaussian_cov_se(cov, n)[iu]]), label="mean, cov")


def test_singular_covariance_is_sampled_on_its_subspace():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 2))
    cov = a @ a.T  # rank 2
    x = mcbench.sample_mvn(np.ones(6), cov, 2000, seed=2)
    centred = x - 1.0
    assert np.linalg.matrix_rank(centred, tol=1e-8 * np.abs(centred).max()) == 2
    iu = np.tril_indices(6)  # on the subspace the usual Gaussian covariance SEs hold
    assert_within_holm(np.cov(x, rowvar=False)[iu], cov[iu], gaussian_cov_se(cov, len(x))[iu], label="cov")


def test_zero_variance_coordinate_is_constant():
    x = mcbench.sample_mvn([3.0, 0.0], [[0.0, 0.0], [0.0, 1.0]], 500, seed=0)
    assert np.all(x[:, 0] == 3.0)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "mean, cov, n, match",
    [
        ([0, 0], [[1, 0.5], [0.4, 1]], 10, "not symmetric"),
        ([0, 0], [[1, 2], [2, 1]], 10, "smallest eigenvalue is -1"),
        ([0, 0], [[1, 0], [0, np.nan]], 10, "cov contains NaN"),
        ([0, np.inf], np.eye(2), 10, "mean contains NaN or inf"),
        ([0, 0, 0], np.eye(2), 10, "shape mismatch"),
        ([0, 0], np.ones((2, 3)), 10, "cov must be a square"),
        ([0, 0], np.eye(2), 0, "n must be >= 1"),
        ([0, 0], [[-1, 0], [0, 1]], 10, r"cov\[0,0\]"),
    ],
)
def test_bad_input_raises_clear_value_error(mean, cov, n, match):
    with pytest.raises(ValueError, match=match):
        mcbench.sample_mvn(mean, cov, n)


def test_non_integer_n_is_rejected():
    with pytest.raises(TypeError, match="n must be an integer"):
        mcbench.sample_mvn([0.0], [[1.0]], 10.5)


def test_bad_dtype_is_rejected():
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        mcbench.sample_mvn([0.0], [[1.0]], 10, dtype=np.int64)


_finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 5), data=st.data())
def test_any_asymmetric_cov_is_rejected(d, data):
    a = np.array(data.draw(st.lists(_finite, min_size=d * d, max_size=d * d))).reshape(d, d)
    cov = a @ a.T + np.eye(d)
    i, j = data.draw(st.lists(st.integers(0, d - 1), min_size=2, max_size=2, unique=True))  # off-diagonal
    cov[i, j] += 1e-3 * (1 + abs(cov[i, j]))
    with pytest.raises(ValueError, match="not symmetric"):
        mcbench.sample_mvn(np.zeros(d), cov, 4)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 5), data=st.data())
def test_any_indefinite_cov_is_rejected_with_its_smallest_eigenvalue(d, data):
    q, _ = np.linalg.qr(np.array(data.draw(st.lists(_finite, min_size=d * d, max_size=d * d))).reshape(d, d)
                        + 5 * np.eye(d))
    eig = np.array(data.draw(st.lists(st.floats(0.1, 10), min_size=d, max_size=d)))
    eig[0] = -data.draw(st.floats(1e-3, 10))
    cov = (q * eig) @ q.T
    cov = 0.5 * (cov + cov.T)
    with pytest.raises(ValueError, match="smallest eigenvalue"):
        mcbench.sample_mvn(np.zeros(d), cov, 4)


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 4), where=st.integers(0, 15), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_any_non_finite_entry_is_rejected(d, where, bad):
    cov = np.eye(d)
    cov.flat[where % (d * d)] = bad
    with pytest.raises(ValueError, match="cov contains NaN or inf"):
        mcbench.sample_mvn(np.zeros(d), cov, 4)
