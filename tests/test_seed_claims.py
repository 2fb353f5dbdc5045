"""Seed 000 claims: errata really are wrong, the rest really are right."""

import math

import numpy as np
import pytest

import _quadrature as quadref
from mcbench.theory import relu_cov_zero_mean, relu_moments
from mcbench.validation.claims import CLAIMS_BY_NAME, SEED_CLAIMS, SeedClaim
from reference import rel_diff

KINDS = {"univariate", "univariate_zero_mean", "bivariate_zero_mean", "bivariate", "multivariate"}
ERRATA = [c for c in SEED_CLAIMS if c.is_erratum and c.seed_fn is not None]
CORRECT = [c for c in SEED_CLAIMS if not c.is_erratum]


def test_registry_is_well_formed():
    assert len(CLAIMS_BY_NAME) == len(SEED_CLAIMS)
    for c in SEED_CLAIMS:
        assert isinstance(c, SeedClaim)
        assert c.seed == "000"
        assert c.kind in KINDS
        assert c.as_written and c.corrected and c.note and c.section
        assert c.correct_fn is not None
        assert c.seed_fn is not None or c.is_erratum  # statements are only registered as errata
    expected_errata = {
        "truncated_normal_label", "zero_mean_var_numeric", "zero_mean_cross_moment",
        "zero_mean_mean_product", "zero_mean_cov", "nonzero_mean_no_closed_form",
    }
    assert {c.name for c in SEED_CLAIMS if c.is_erratum} == expected_errata


def test_every_relu_moment_claim_is_sampled_or_named_as_not():
    # validate_claims.ESTIMATORS is keyed by claim name apart from the registry: a new claim about
    # a ReLU moment left out of it would silently lose its Monte Carlo evidence.
    from mcbench.validation.claims import ALL_SEED_CLAIMS
    from mcbench.validation.claims.checks import ESTIMATORS

    gaussian_kinds = {"univariate", "univariate_zero_mean", "bivariate", "bivariate_zero_mean", "multivariate"}
    unsampled = {c.name for c in ALL_SEED_CLAIMS if c.kind in gaussian_kinds and c.name not in ESTIMATORS}
    # A naming claim (E[X | X > 0] vs E[X+]) and a claim of no closed form (no seed formula):
    # neither has a ReLU moment to sample.
    assert unsampled == {"truncated_normal_label", "nonzero_mean_no_closed_form"}
    assert set(ESTIMATORS) <= {c.name for c in ALL_SEED_CLAIMS}


@pytest.mark.parametrize("claim", ERRATA, ids=lambda c: c.name)
def test_errata_disagree_on_their_example(claim):
    assert rel_diff(claim.seed_fn(*claim.example), claim.correct_fn(*claim.example)) > 1e-3


@pytest.mark.parametrize("claim", CORRECT, ids=lambda c: c.name)
def test_correct_claims_agree_on_their_example(claim):
    assert rel_diff(claim.seed_fn(*claim.example), claim.correct_fn(*claim.example)) <= 1e-12


@pytest.mark.parametrize("name", ["relu_mean", "relu_second_moment", "relu_var"])
def test_univariate_claims_agree_over_a_range(name):
    claim = CLAIMS_BY_NAME[name]
    mu = np.linspace(-4.0, 4.0, 33)
    sigma = np.full_like(mu, 1.7)
    assert rel_diff(claim.seed_fn(mu, sigma), claim.correct_fn(mu, sigma)) <= 1e-12


def test_seed_variance_cancels_in_the_right_tail():
    # Right formula, wrong numerics: E[X+^2] - E[X+]^2 at mu/sigma = 1e8.
    claim = CLAIMS_BY_NAME["relu_var"]
    assert claim.correct_fn(1e8, 1.0) == 1.0
    assert abs(claim.seed_fn(1e8, 1.0) - 1.0) > 0.5


def test_zero_mean_claims_refuse_nonzero_means():
    for name in ("zero_mean_mean", "zero_mean_var", "zero_mean_var_numeric"):
        with pytest.raises(ValueError):
            CLAIMS_BY_NAME[name].seed_fn(0.1, 1.0)


def test_zero_mean_errors_vanish_only_in_special_cases():
    cross = CLAIMS_BY_NAME["zero_mean_cross_moment"]
    prod = CLAIMS_BY_NAME["zero_mean_mean_product"]
    cov = CLAIMS_BY_NAME["zero_mean_cov"]
    uncorrelated = np.array([[2.0, 0.0], [0.0, 0.5]])  # sigma_ij = 0, sigma_ii sigma_jj = 1
    for c in (cross, prod, cov):
        assert c.seed_fn(uncorrelated) == pytest.approx(c.correct_fn(uncorrelated), rel=1e-12, abs=1e-15)
    # rho = 1, unit variance: the seed's "E[Z+^2]" is sigma^2/4, not sigma^2/2
    assert cross.seed_fn(np.ones((2, 2))) == pytest.approx(0.25, rel=1e-15)
    assert cross.correct_fn(np.ones((2, 2))) == pytest.approx(0.5, rel=1e-15)
    # The seed's covariance can be negative for positively correlated inputs.
    assert cov.seed_fn(np.array([[4.0, 1.0], [1.0, 4.0]])) < 0 < cov.correct_fn(np.array([[4.0, 1.0], [1.0, 4.0]]))


def test_corrected_zero_mean_formulas_against_quadrature():
    c = np.array([[2.0, -0.9], [-0.9, 0.7]])
    sd = np.sqrt(np.diag(c))
    rho = c[0, 1] / (sd[0] * sd[1])
    ref_cross = sd[0] * sd[1] * quadref.relu_cross_std(0.0, 0.0, rho)
    assert CLAIMS_BY_NAME["zero_mean_cross_moment"].correct_fn(c) == pytest.approx(ref_cross, rel=1e-10)
    ref_cov = sd[0] * sd[1] * quadref.relu_cov_std(0.0, 0.0, rho)
    assert relu_cov_zero_mean(c)[0, 1] == pytest.approx(ref_cov, rel=1e-10)
    # the corrected text's formula, literally
    expected = (c[0, 1] * (math.pi / 2 + math.asin(rho)) + math.sqrt(c[0, 0] * c[1, 1] - c[0, 1] ** 2)) / (2 * math.pi)
    assert expected == pytest.approx(ref_cross, rel=1e-12)


def test_nonzero_mean_closed_form_exists():
    """The "no closed form" statement: the closed form matches quadrature."""
    claim = CLAIMS_BY_NAME["nonzero_mean_no_closed_form"]
    assert claim.seed_fn is None
    mean, cov = claim.example
    sd = np.sqrt(np.diag(cov))
    rho = cov[0, 1] / (sd[0] * sd[1])
    ref = sd[0] * sd[1] * quadref.relu_cov_std(mean[0] / sd[0], mean[1] / sd[1], rho)
    assert claim.correct_fn(mean, cov) == pytest.approx(ref, rel=1e-10)
    # and it is not the zero-mean value
    assert abs(claim.correct_fn(mean, cov) - relu_moments(np.zeros(2), cov)[1][0, 1]) > 1e-3


def test_a_known_erratum_the_monte_carlo_cannot_resolve_never_reads_pass():
    """Whether a small slip (0.3431 for 0.3408) reaches significance depends on the seed; its verdict must not."""
    import pandas as pd

    from mcbench.validation.claims.checks import DERIVATION_UNRESOLVED, errata_verdicts

    errata = pd.DataFrame({"check": ["seed/x/slip", "seed/x/big", "seed/x/right"], "verdict": ["", "", ""],
                           "refuted_by": ["", "", ""], "known_erratum": [True, True, False]})
    table = pd.DataFrame({"check": ["seed/x/slip", "seed/x/big", "seed/x/right"], "seed_claim": [True] * 3,
                          "verdict": ["pass", "seed-erratum", "pass"]})
    out = errata_verdicts(errata, table).set_index("check")
    assert out.loc["seed/x/slip", ["verdict", "refuted_by"]].tolist() == ["seed-erratum", DERIVATION_UNRESOLVED]
    assert out.loc["seed/x/big", ["verdict", "refuted_by"]].tolist() == ["seed-erratum", "Monte Carlo"]
    assert out.loc["seed/x/right", ["verdict", "refuted_by"]].tolist() == ["pass", ""]
