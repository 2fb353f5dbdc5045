"""The fused ReLU-moment kernel against the exact closed forms: calibration and Holm bounds."""

import numpy as np
import pytest
from scipy import stats

from mcbench import mc
from mcbench.validation.stats import holm, z_and_p
from mcbench.theory.relu import relu_moments as exact_relu_moments
from reference import random_spd


def _problem():
    rng = np.random.default_rng(42)
    cov = random_spd(4, rng, jitter=0.2)
    return 0.6 * rng.standard_normal(4), cov


@pytest.fixture(scope="module")
def large_run():
    """One 2M-sample run, its problem and the exact moments, shared by the agreement and power tests."""
    mean, cov = _problem()
    return mc.relu_moments(mean, cov, 2_000_000, seed=2026), exact_relu_moments(mean, cov)


def test_z_scores_over_many_seeds_follow_their_reference_distribution():
    """Honest standard errors: z of the mean ~ N(0,1); t = z of cov ~ Student t(dof).

    200 independent seeds x 4 mean coordinates and 10 covariance entries; we
    convert each z to its reference CDF value (which is Uniform(0,1) when the
    SE is honest) and KS-test each quantity's values. Fixed seeds: the test is
    deterministic. Power, measured by scaling every SE: at 1.0 the variance of
    the z-scores is 0.98 (bound |var - 1| < 0.2); at 0.8 it is 1.53 and at 1.2
    it is 0.68, so a 20% error in the standard errors fails this test (the KS
    part alone only catches grosser shape errors: Holm p 0.02 and 0.15 there).
    """
    mean, cov = _problem()
    exact_mean, exact_cov = exact_relu_moments(mean, cov)
    ii, jj = np.tril_indices(4)
    u_mean, u_cov = [], []
    for seed in range(200):
        res = mc.relu_moments(mean, cov, 20_000, seed=seed)
        u_mean.append(stats.norm.cdf((res.mean - exact_mean) / res.mean_se))
        t = (res.cov[ii, jj] - exact_cov[ii, jj]) / res.cov_se[ii, jj]
        u_cov.append(stats.t.cdf(t, res.cov_se_dof))
    # Entries of one seed are correlated, so test each coordinate's 200 iid values separately,
    # Holm-combined over the 14 quantities.
    p = [stats.kstest(np.array(u_mean)[:, i], "uniform").pvalue for i in range(4)]
    p += [stats.kstest(np.array(u_cov)[:, k], "uniform").pvalue for k in range(len(ii))]
    assert np.min(holm(p)) > 1e-3, np.round(p, 4)
    # And the spread: each quantity's 200 iid z-scores have variance 1 (exact chi-square test,
    # two-sided, Holm over the 14 quantities).
    z = stats.norm.ppf(np.column_stack([u_mean, u_cov]))
    k = z.shape[0] - 1
    chi2 = k * z.var(axis=0, ddof=1)
    p_var = 2 * np.minimum(stats.chi2.cdf(chi2, k), stats.chi2.sf(chi2, k))
    assert np.min(holm(p_var)) > 1e-3, np.round(p_var, 4)


def test_large_run_agrees_with_closed_forms_within_holm_bounds(large_run):
    res, (exact_mean, exact_cov) = large_run
    ii, jj = np.tril_indices(4)
    _, p_mean = z_and_p(res.mean, exact_mean, res.mean_se)
    _, p_cov = z_and_p(res.cov[ii, jj], exact_cov[ii, jj], res.cov_se[ii, jj], dof=res.cov_se_dof)
    assert np.min(holm(np.concatenate([p_mean, p_cov]))) > 1e-3


def test_a_wrong_closed_form_is_caught(large_run):
    """The same comparison must fail for a closed form off by 1% (guards against a test that cannot fail)."""
    res, (_, exact_cov) = large_run
    ii, jj = np.tril_indices(4)
    _, p_cov = z_and_p(res.cov[ii, jj], 1.01 * exact_cov[ii, jj], res.cov_se[ii, jj], dof=res.cov_se_dof)
    assert np.min(holm(p_cov)) < 1e-3


def test_the_tests_holm_helper_can_fail():
    """tests/reference.assert_within_holm, used by other tests, rejects a real gap and keeps a small one."""
    from reference import assert_within_holm

    assert_within_holm([0.1, -0.2], [0.0, 0.0], [0.1, 0.1])  # z = 1, -2 over a family of 2
    with pytest.raises(AssertionError, match="Holm"):
        assert_within_holm([0.5, 0.0], [0.0, 0.0], [0.1, 0.1])  # z = 5
