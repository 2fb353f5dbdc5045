"""Input validation shared by the sampling, Monte Carlo and theory APIs.

Every public entry point funnels its arguments through these helpers, so a bad
argument always produces the same kind of message: the argument's name, then
what is wrong with it.
"""

from __future__ import annotations

import numbers

import numpy as np
from mcbench.config import COV_RTOL, MAX_COV, MAX_MEAN



def check_positive_int(value, name: str, minimum: int = 1, why: str = "") -> int:
    """Return ``value`` as a Python int, or raise if it is not an integer >= minimum (``why`` explains the minimum)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}" + (f" ({why})" if why else ""))
    return value


def check_dtype(dtype) -> np.dtype:
    """Accept float32 or float64 (anything ``np.dtype`` maps onto them)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_mean_cov(mean, cov) -> tuple[np.ndarray, np.ndarray]:
    """Validate a Gaussian's parameters and return them as float64 arrays.

    Same checks as :func:`check_gaussian`, without its eigenvalues.
    """
    mean, cov, _ = check_gaussian(mean, cov)
    return mean, cov


def check_gaussian(mean, cov) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a Gaussian's parameters; return them as float64 arrays, with cov's eigenvalues.

    Parameters
    ----------
    mean : array_like, shape (d,)
        Mean vector. A scalar is accepted for d = 1.
    cov : array_like, shape (d, d)
        Covariance matrix: finite, symmetric and positive semi-definite
        (singular matrices are allowed). A scalar is accepted for d = 1.

    Returns
    -------
    mean : ndarray, shape (d,), float64
    cov : ndarray, shape (d, d), float64, exactly symmetric
    eigenvalues : ndarray, shape (d,), float64, ascending
        Computed for the PSD check anyway; :func:`psd_factor` reuses them.

    Raises
    ------
    ValueError
        With a message naming ``mean`` or ``cov`` and the defect: wrong shape,
        shapes that do not match, NaN or inf, asymmetry, or a negative
        eigenvalue (the smallest one is quoted).
    """
    for name, value in (("mean", mean), ("cov", cov)):
        if np.iscomplexobj(value):  # np.asarray(..., float64) would drop the imaginary part with only a warning
            raise ValueError(f"{name} must be real, got complex values")
    try:
        mean = np.asarray(mean, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"mean must be an array of real numbers ({exc})") from None
    try:
        cov = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cov must be an array of real numbers ({exc})") from None
    if mean.ndim == 0:
        mean = mean.reshape(1)
    if cov.ndim == 0:
        cov = cov.reshape(1, 1)
    if mean.ndim != 1:
        raise ValueError(f"mean must be a 1-d vector, got an array of shape {mean.shape}")
    if mean.shape[0] < 1:
        raise ValueError("mean must have at least one entry (d >= 1), got an empty vector")
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square 2-d matrix, got an array of shape {cov.shape}")
    if cov.shape[0] != mean.shape[0]:
        raise ValueError(
            f"shape mismatch: mean has d={mean.shape[0]} entries but cov is "
            f"{cov.shape[0]}x{cov.shape[1]}"
        )
    if not np.all(np.isfinite(mean)):
        raise ValueError("mean contains NaN or inf")
    if not np.all(np.isfinite(cov)):
        raise ValueError("cov contains NaN or inf")
    scale = float(np.max(np.abs(cov))) if cov.size else 0.0
    if scale > MAX_COV or float(np.max(np.abs(mean))) > MAX_MEAN:
        raise ValueError(f"cov entries must be at most {MAX_COV:g} and mean entries at most {MAX_MEAN:g} in size "
                         f"(got max |cov| = {scale:.3g}, max |mean| = {float(np.max(np.abs(mean))):.3g}): beyond that, "
                         "second moments overflow float64; rescale the problem")
    asym = float(np.max(np.abs(cov - cov.T))) if cov.size else 0.0
    if asym > COV_RTOL * max(scale, 1e-300):
        raise ValueError(
            f"cov is not symmetric: max |cov - cov.T| = {asym:.3g} "
            f"(relative {asym / scale:.3g}, tolerance {COV_RTOL:g})"
        )
    cov = 0.5 * (cov + cov.T)
    eigenvalues = np.linalg.eigvalsh(cov)
    min_eig = float(eigenvalues[0])
    tol = COV_RTOL * max(scale, 1e-300) * cov.shape[0]
    if np.any(np.diag(cov) < 0):
        i = int(np.argmin(np.diag(cov)))
        raise ValueError(
            f"cov is not positive semi-definite: diagonal entry cov[{i},{i}] = {cov[i, i]:.6g} < 0 "
            f"(smallest eigenvalue is {min_eig:.6g})"
        )
    if min_eig < -tol:
        raise ValueError(
            f"cov is not positive semi-definite: smallest eigenvalue is {min_eig:.6g} "
            f"(tolerance {-tol:.3g})"
        )
    return mean, cov, eigenvalues


def psd_factor(cov: np.ndarray, eigenvalues: np.ndarray | None = None) -> np.ndarray:
    """A lower-triangular L with L @ L.T == cov (to round-off), also for singular PSD cov.

    ``eigenvalues`` (ascending, as :func:`check_gaussian` returns them) spare
    a second eigendecomposition when cov is clearly positive definite, the
    common case; the eigenvectors are computed only for a singular cov.

    Cholesky is used when cov is clearly positive definite. For a singular (or
    numerically singular) matrix, Cholesky may still "succeed" on round-off
    and return an L whose trailing columns are O(sqrt(eps)) noise, which puts
    samples off the support. There we build the symmetric root from the
    eigendecomposition with the null eigenvalues set to exactly 0, then
    re-triangularise it by a QR of its transpose: root.T = Q R gives
    root root.T = R.T R, and R.T is lower-triangular. The kernels rely on the
    factor being triangular (they multiply with TRMM).
    """
    d = cov.shape[0]
    w = np.linalg.eigvalsh(cov) if eigenvalues is None else eigenvalues
    null_tol = 16 * d * np.finfo(float).eps * max(float(w[-1]), 1e-300)
    if w[0] > null_tol:
        return np.linalg.cholesky(cov)
    w, v = np.linalg.eigh(cov)
    w = np.where(w > null_tol, w, 0.0)
    root = v * np.sqrt(w)
    lower = np.linalg.qr(root.T, mode="r").T
    signs = np.where(np.diag(lower) < 0, -1.0, 1.0)
    return np.ascontiguousarray(lower * signs[np.newaxis, :])
