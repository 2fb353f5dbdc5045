"""The ReLU-moment checks: Monte Carlo mean and covariance of ReLU(X) against the exact closed form.

A fixed catalogue of Gaussians (:func:`relu_cases`): zero and non-zero means,
correlations of +-0.99 and +-1, near-singular and rank-deficient covariances,
zero variances, a deep-tail coordinate, d from 1 to 64.
"""

from __future__ import annotations

import numpy as np

from mcbench.config import SuiteConfig
from mcbench.mc import relu_moments as mc_relu
from mcbench.theory import relu_moments as exact_relu
from mcbench.validation import stats as _stats
from mcbench.validation.framework import Check, CheckOutput


def _spd(d, rng, jitter=0.05):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + jitter * np.eye(d)


def relu_cases():
    """The fixed catalogue of (name, mean, cov) for the ReLU-moment checks."""
    rng = np.random.default_rng(20261123)
    corr = lambda r: np.array([[1.0, r], [r, 1.0]])  # noqa: E731
    u, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    near_singular = (u * np.array([2.0, 1.0, 0.5, 0.3, 0.1, 1e-7])) @ u.T
    b = rng.standard_normal((5, 3))
    return [
        ("relu/d1-standard", np.zeros(1), np.ones((1, 1))),
        ("relu/d1-shifted", np.array([0.7]), np.array([[2.0]])),
        ("relu/zero-mean-d4", np.zeros(4), _spd(4, rng)),
        ("relu/nonzero-mean-d8", rng.standard_normal(8), _spd(8, rng)),
        ("relu/corr+0.99", np.array([0.3, -0.2]), corr(0.99)),
        ("relu/corr-0.99", np.array([0.5, 0.4]), corr(-0.99)),
        ("relu/corr+1", np.array([0.5, 0.2]), np.array([[1.0, 2.0], [2.0, 4.0]])),
        ("relu/corr-1", np.array([0.1, 0.3]), np.array([[1.0, -1.0], [-1.0, 1.0]])),
        ("relu/near-singular-d6", 0.3 * rng.standard_normal(6), 0.5 * (near_singular + near_singular.T)),
        ("relu/rank3-d5", rng.standard_normal(5), b @ b.T),
        ("relu/zero-variance", np.array([1.5, -0.5, 0.2]), np.diag([0.0, 0.0, 1.0])),
        ("relu/deep-tail", np.array([-4.0, -2.0, 1.0]), np.eye(3)),
        ("relu/large-mean", np.array([30.0, -30.0, 5.0]), np.eye(3)),
        ("relu/d16", 0.5 * rng.standard_normal(16), _spd(16, rng)),
        ("relu/d64", 0.5 * rng.standard_normal(64), _spd(64, rng)),
    ]


def relu_comparison(name, mean, cov, n_samples, seed, dtype=np.float64):
    """Comparison rows of one ReLU-moment case: mean (d) and the lower triangle of cov."""
    res = mc_relu(mean, cov, n_samples, seed=seed, dtype=dtype)
    exact_mean, exact_cov = exact_relu(mean, cov)
    d = len(exact_mean)
    ii, jj = np.tril_indices(d)
    return [
        _stats.comparison_rows(name, "mean", range(d), exact_mean, res.mean, res.mean_se,
                               n_eff=res.n_positive),
        _stats.comparison_rows(name, "cov", [f"({i}, {j})" for i, j in zip(ii, jj)], exact_cov[ii, jj],
                               res.cov[ii, jj], res.cov_se[ii, jj], dof=res.cov_se_dof,
                               n_eff=np.minimum(res.n_positive[ii], res.n_positive[jj])),
    ]


def _relu_check(name, mean, cov):
    def run(cfg: SuiteConfig, seed):
        n = cfg.relu_samples if len(mean) <= 16 else max(cfg.relu_samples // 4, 50_000)
        return CheckOutput(rows=relu_comparison(name, mean, cov, n, seed))

    return Check(name, run, cost=1.0 if len(mean) <= 16 else 3.0,
                 description=f"ReLU moments, d={len(mean)}: Monte Carlo vs exact closed form")




def checks() -> list[Check]:
    """One check per case of :func:`relu_cases`."""
    return [_relu_check(*case) for case in relu_cases()]
