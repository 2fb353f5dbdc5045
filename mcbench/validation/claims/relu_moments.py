"""Seed 000's ReLU-moment formulas, exactly as written, next to corrected ones.

Seed 000 (``shared/seeds/000_0ff68952681534ed.txt``; a Q&A answer on "the
mean and variance of a zero-truncated multivariate normal and the moments of
ReLU outputs") states closed forms for E[X^+], E[(X^+)^2], Var(X^+) and, in d
dimensions, for the covariance of Z^+ = max(Z, 0), Z ~ N(mu, Sigma). Each
statement is registered in :data:`SEED_CLAIMS` as a
:class:`~mcbench.validation.claims.record.SeedClaim` with a callable
implementing the formula *as written* (``seed_fn``) and one computing the
correct value from :mod:`mcbench.theory` (``correct_fn``). The calling
conventions are those of :mod:`mcbench.validation.claims.record`.
"""

from __future__ import annotations

import math

import numpy as np

from mcbench._core.checks import check_mean_cov
from mcbench.theory.normal import norm_cdf, norm_pdf
from mcbench.theory.relu import (
    relu_cov_zero_mean,
    relu_mean_1d,
    relu_moments,
    relu_second_moment_1d,
    relu_var_1d,
    truncated_normal_mean,
)
from mcbench.validation.claims.record import SeedClaim

SEED = "000"


# --------------------------------------------------------- seed formulas as written


def _mu_sigma(mu, sigma):
    return np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)


def _require_zero_mean(mu) -> None:
    if np.any(np.asarray(mu) != 0.0):
        raise ValueError("the seed states this formula for mu = 0 only")


def _cov2(cov) -> tuple[float, float, float, float]:
    """(sigma_ii, sigma_jj, sigma_ij, rho) of a validated 2x2 covariance."""
    _, cov = check_mean_cov(np.zeros(2), cov)
    sii, sjj, sij = cov[0, 0], cov[1, 1], cov[0, 1]
    return sii, sjj, sij, sij / math.sqrt(sii * sjj)


def seed_relu_mean(mu, sigma):
    r"""Seed: $E[X_+] = \sigma \phi(-\mu/\sigma) + \mu \Phi(\mu/\sigma)$."""
    mu, sigma = _mu_sigma(mu, sigma)
    return sigma * norm_pdf(-mu / sigma) + mu * norm_cdf(mu / sigma)


def seed_relu_second_moment(mu, sigma):
    r"""Seed: $E[X_+^2] = \mu \sigma \phi(\mu/\sigma) + (\mu^2 + \sigma^2) \Phi(\mu/\sigma)$."""
    mu, sigma = _mu_sigma(mu, sigma)
    return mu * sigma * norm_pdf(mu / sigma) + (mu * mu + sigma * sigma) * norm_cdf(mu / sigma)


def seed_relu_var(mu, sigma):
    r"""Seed: $\mathrm{Var}(X_+) = E[X_+^2] - (E[X_+])^2$ with the two formulas above."""
    m = seed_relu_mean(mu, sigma)
    return seed_relu_second_moment(mu, sigma) - m * m


def seed_zero_mean_mean(mu, sigma):
    r"""Seed (mu = 0): $E[X_+] = \sigma \phi(0) = \sigma / \sqrt{2\pi}$."""
    _require_zero_mean(mu)
    return np.asarray(sigma, dtype=np.float64) / math.sqrt(2.0 * math.pi)


def seed_zero_mean_second_moment(mu, sigma):
    r"""Seed (mu = 0): $E[X_+^2] = \sigma^2 \Phi(0) = \sigma^2 / 2$."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma * sigma / 2.0


def seed_zero_mean_var(mu, sigma):
    r"""Seed (mu = 0): $\mathrm{Var}(X_+) = \sigma^2 (1/2 - 1/(2\pi))$."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma * sigma * (0.5 - 1.0 / (2.0 * math.pi))


def seed_zero_mean_var_numeric(mu, sigma):
    r"""Seed (mu = 0): $\mathrm{Var}(X_+) \approx 0.3431 \sigma^2$ (the quoted number)."""
    _require_zero_mean(mu)
    sigma = np.asarray(sigma, dtype=np.float64)
    return 0.3431 * sigma * sigma


def seed_zero_mean_cross_moment(cov):
    r"""Seed: $E[Z_{+,i} Z_{+,j}] = \frac{1}{2\pi}(\sigma_{ij} \arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2})$."""
    sii, sjj, sij, rho = _cov2(cov)
    return (sij * math.asin(rho) + math.sqrt(max(sii * sjj - sij * sij, 0.0))) / (2.0 * math.pi)


def seed_zero_mean_mean_product(cov):
    r"""Seed: $E[Z_{+,i}] E[Z_{+,j}] = \frac{\sigma_{ii}\sigma_{jj}}{2\pi}$."""
    sii, sjj, _, _ = _cov2(cov)
    return sii * sjj / (2.0 * math.pi)


def seed_zero_mean_cov(cov):
    r"""Seed: $\mathrm{Cov} = \frac{1}{2\pi}(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sigma_{ii}\sigma_{jj})$."""
    sii, sjj, sij, rho = _cov2(cov)
    return (sij * math.asin(rho) + math.sqrt(max(sii * sjj - sij * sij, 0.0)) - sii * sjj) / (2.0 * math.pi)


def seed_mean_vector(mean, cov):
    r"""Seed: $(E[Z_+])_i = \sigma_{ii}^{1/2}\phi(-\mu_i/\sigma_{ii}^{1/2}) + \mu_i\Phi(\mu_i/\sigma_{ii}^{1/2})$."""
    mean, cov = check_mean_cov(mean, cov)
    return seed_relu_mean(mean, np.sqrt(np.diag(cov)))


def seed_cov_diagonal(mean, cov):
    r"""Seed: $\mathrm{Cov}(Z_{+,i}, Z_{+,i})$ is the univariate variance of Section 1."""
    mean, cov = check_mean_cov(mean, cov)
    return seed_relu_var(mean, np.sqrt(np.diag(cov)))


# ------------------------------------------------------------- correct versions


def _zero_mean_cross_moment(cov):
    _, cov = check_mean_cov(np.zeros(2), cov)
    m, c = relu_moments(np.zeros(2), cov)
    return float(c[0, 1] + m[0] * m[1])


def _zero_mean_mean_product(cov):
    _, cov = check_mean_cov(np.zeros(2), cov)
    return float(relu_mean_1d(0.0, math.sqrt(cov[0, 0])) * relu_mean_1d(0.0, math.sqrt(cov[1, 1])))


def _zero_mean_cov(cov):
    return float(relu_cov_zero_mean(cov)[0, 1])


def _bivariate_cov(mean, cov):
    return float(relu_moments(mean, cov)[1][0, 1])


def _mean_vector(mean, cov):
    return relu_moments(mean, cov)[0]


def _cov_diagonal(mean, cov):
    return np.diag(relu_moments(mean, cov)[1]).copy()


_COV_EXAMPLE = np.array([[1.0, 0.5], [0.5, 1.0]])
_COV_UNEQUAL = np.array([[4.0, 1.0], [1.0, 1.0]])

SEED_CLAIMS: list[SeedClaim] = [
    SeedClaim(
        name="relu_mean",
        seed=SEED,
        section="1. Univariate case / Mean",
        kind="univariate",
        as_written=r"\mathbb{E}[X_+] = \sigma \phi\left(\frac{-\mu}{\sigma}\right) + \mu \Phi\left(\frac{\mu}{\sigma}\right)",
        corrected=r"\mathbb{E}[X_+] = \mu \Phi(\mu/\sigma) + \sigma \phi(\mu/\sigma)",
        seed_fn=seed_relu_mean,
        correct_fn=relu_mean_1d,
        is_erratum=False,
        note="Correct (phi is even, so phi(-mu/sigma) = phi(mu/sigma)). As written it is "
        "undefined at sigma = 0 with mu = 0 and cancels for mu/sigma << 0.",
        example=(0.7, 1.3),
    ),
    SeedClaim(
        name="truncated_normal_label",
        seed=SEED,
        section="1. Univariate case / Mean",
        kind="univariate",
        as_written=r"This is the mean of a right-truncated normal distribution (truncated at 0): "
        r"\sigma \phi(-\mu/\sigma) + \mu \Phi(\mu/\sigma)",
        corrected=r"That is E[\max(X, 0)] (a censored / rectified normal). The mean of the normal "
        r"truncated to X > 0 (left-truncated) is E[X | X > 0] = \mu + \sigma \phi(\mu/\sigma)/\Phi(\mu/\sigma)",
        seed_fn=seed_relu_mean,
        correct_fn=truncated_normal_mean,
        is_erratum=True,
        note="Mislabelled: the formula is the ReLU mean, which equals P(X > 0) times the "
        "truncated-normal mean; keeping X > 0 is left truncation. Only the label is wrong.",
        example=(0.0, 1.0),
    ),
    SeedClaim(
        name="relu_second_moment",
        seed=SEED,
        section="1. Univariate case / Variance",
        kind="univariate",
        as_written=r"\mathbb{E}[X_+^2] = \mu \sigma \phi\left(\frac{\mu}{\sigma}\right) + (\mu^2 + \sigma^2)\Phi\left(\frac{\mu}{\sigma}\right)",
        corrected=r"\mathbb{E}[X_+^2] = (\mu^2 + \sigma^2)\Phi(\mu/\sigma) + \mu\sigma\phi(\mu/\sigma)",
        seed_fn=seed_relu_second_moment,
        correct_fn=relu_second_moment_1d,
        is_erratum=False,
        note="Correct.",
        example=(-0.4, 2.0),
    ),
    SeedClaim(
        name="relu_var",
        seed=SEED,
        section="1. Univariate case / Variance",
        kind="univariate",
        as_written=r"\mathrm{Var}(X_+) = \mathbb{E}[X_+^2] - (\mathbb{E}[X_+])^2",
        corrected=r"\mathrm{Var}(X_+) = \mathbb{E}[X_+^2] - (\mathbb{E}[X_+])^2 "
        r"(evaluate as \sigma^2(1 - 2\Phi(-a) + v(-a)) for a = \mu/\sigma > 0)",
        seed_fn=seed_relu_var,
        correct_fn=relu_var_1d,
        is_erratum=False,
        note="Mathematically correct; numerically the difference cancels for |mu|/sigma "
        "large (about 3 digits lost at mu/sigma = 30, all of them near 1e8).",
        example=(1.5, 0.8),
    ),
    SeedClaim(
        name="zero_mean_mean",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathbb{E}[X_+] = \sigma\phi(0) = \frac{\sigma}{\sqrt{2\pi}} \approx 0.3989\sigma",
        corrected=r"\mathbb{E}[X_+] = \sigma/\sqrt{2\pi} \approx 0.398942\sigma",
        seed_fn=seed_zero_mean_mean,
        correct_fn=relu_mean_1d,
        is_erratum=False,
        note="Correct.",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_second_moment",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathbb{E}[X_+^2] = \sigma^2\Phi(0) = \frac{\sigma^2}{2}",
        corrected=r"\mathbb{E}[X_+^2] = \sigma^2/2",
        seed_fn=seed_zero_mean_second_moment,
        correct_fn=relu_second_moment_1d,
        is_erratum=False,
        note="Correct.",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_var",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\mathrm{Var}(X_+) = \frac{\sigma^2}{2} - \left(\frac{\sigma}{\sqrt{2\pi}}\right)^2 = \sigma^2\left(\frac{1}{2} - \frac{1}{2\pi}\right)",
        corrected=r"\mathrm{Var}(X_+) = \sigma^2(1/2 - 1/(2\pi))",
        seed_fn=seed_zero_mean_var,
        correct_fn=relu_var_1d,
        is_erratum=False,
        note="Correct formula (but see zero_mean_var_numeric for the number quoted with it).",
        example=(0.0, 1.7),
    ),
    SeedClaim(
        name="zero_mean_var_numeric",
        seed=SEED,
        section="1. Simplification for zero-mean input",
        kind="univariate_zero_mean",
        as_written=r"\sigma^2\left(\frac{1}{2} - \frac{1}{2\pi}\right) \approx 0.3431\sigma^2",
        corrected=r"\sigma^2(1/2 - 1/(2\pi)) \approx 0.340845\sigma^2",
        seed_fn=seed_zero_mean_var_numeric,
        correct_fn=relu_var_1d,
        is_erratum=True,
        note="Arithmetic slip: 1/2 - 1/(2 pi) = 0.3408451, not 0.3431 (0.66% too large).",
        example=(0.0, 1.0),
    ),
    SeedClaim(
        name="zero_mean_cross_moment",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \frac{1}{2\pi}\left(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2}\right)",
        corrected=r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \frac{1}{2\pi}\left(\sigma_{ij}\left(\frac{\pi}{2} + \arcsin\rho\right) + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2}\right) "
        r"= \frac{\sqrt{\sigma_{ii}\sigma_{jj}}}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta),\ \theta = \arccos\rho",
        seed_fn=seed_zero_mean_cross_moment,
        correct_fn=_zero_mean_cross_moment,
        is_erratum=True,
        note="Missing the sigma_ij pi/2 term (the arc-cosine kernel of degree 1, Cho & Saul "
        "2009). The two agree only when sigma_ij = 0; e.g. at rho = 1 the seed gives "
        "sigma^2/4 instead of E[Z_+^2] = sigma^2/2.",
        example=(_COV_EXAMPLE,),
    ),
    SeedClaim(
        name="zero_mean_mean_product",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathbb{E}[Z_{+,i}]\mathbb{E}[Z_{+,j}] = \frac{\sigma_{ii}\sigma_{jj}}{2\pi}",
        corrected=r"\mathbb{E}[Z_{+,i}]\mathbb{E}[Z_{+,j}] = \frac{\sqrt{\sigma_{ii}\sigma_{jj}}}{2\pi}",
        seed_fn=seed_zero_mean_mean_product,
        correct_fn=_zero_mean_mean_product,
        is_erratum=True,
        note="Variances used where standard deviations belong (sigma_ii is a variance in the "
        "seed's own notation). Invisible when sigma_ii sigma_jj = 1, e.g. unit variances.",
        example=(_COV_UNEQUAL,),
    ),
    SeedClaim(
        name="zero_mean_cov",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries (zero mean)",
        kind="bivariate_zero_mean",
        as_written=r"\mathrm{Cov}(Z_{+,i}, Z_{+,j}) = \frac{1}{2\pi}\left(\sigma_{ij}\arcsin\rho + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sigma_{ii}\sigma_{jj}\right)",
        corrected=r"\mathrm{Cov}(Z_{+,i}, Z_{+,j}) = \frac{1}{2\pi}\left(\sigma_{ij}\left(\frac{\pi}{2} + \arcsin\rho\right) + \sqrt{\sigma_{ii}\sigma_{jj} - \sigma_{ij}^2} - \sqrt{\sigma_{ii}\sigma_{jj}}\right)",
        seed_fn=seed_zero_mean_cov,
        correct_fn=_zero_mean_cov,
        is_erratum=True,
        note="Inherits both errors above. It happens to be right for unit variances with "
        "rho = 0 only; with rho = 0.5 and unit variances it gives 0.0204 instead of 0.1454, "
        "and it can be negative for positively correlated inputs.",
        example=(_COV_EXAMPLE,),
    ),
    SeedClaim(
        name="nonzero_mean_no_closed_form",
        seed=SEED,
        section="2. Multivariate case / Off-diagonal entries",
        kind="bivariate",
        as_written=r"For general non-zero means \mu_i, \mu_j, there is no simple closed-form "
        r"expression, and you'll typically use numerical integration or approximation methods.",
        corrected=r"With a = \mu_i/\sigma_i, b = \mu_j/\sigma_j, s = \sqrt{1-\rho^2}: "
        r"\mathbb{E}[Z_{+,i}Z_{+,j}] = \sigma_i\sigma_j[(ab + \rho)\Phi_2(a, b; \rho) "
        r"+ a\phi(b)\Phi((a - \rho b)/s) + b\phi(a)\Phi((b - \rho a)/s) + s\phi(a)\phi((b - \rho a)/s)] "
        r"(Rosenbaum 1961), in terms of the bivariate normal CDF \Phi_2.",
        seed_fn=None,
        correct_fn=_bivariate_cov,
        is_erratum=True,
        note="False: the cross moment is closed-form up to Phi2 (itself a standard special "
        "function, like Phi); see mcbench.theory.relu_moments.",
        example=(np.array([0.7, -1.2]), np.array([[1.0, 0.6], [0.6, 2.0]])),
    ),
    SeedClaim(
        name="mean_vector",
        seed=SEED,
        section="2. Multivariate case / Mean vector",
        kind="multivariate",
        as_written=r"(\mathbb{E}[Z_+])_i = \sigma_{ii}^{1/2}\phi\left(\frac{-\mu_i}{\sigma_{ii}^{1/2}}\right) + \mu_i\Phi\left(\frac{\mu_i}{\sigma_{ii}^{1/2}}\right)",
        corrected=r"(\mathbb{E}[Z_+])_i = \mu_i\Phi(\mu_i/\sqrt{\sigma_{ii}}) + \sqrt{\sigma_{ii}}\phi(\mu_i/\sqrt{\sigma_{ii}})",
        seed_fn=seed_mean_vector,
        correct_fn=_mean_vector,
        is_erratum=False,
        note="Correct (elementwise univariate mean).",
        example=(np.array([0.3, -0.5, 1.2]), np.diag([1.0, 2.0, 0.5])),
    ),
    SeedClaim(
        name="cov_diagonal",
        seed=SEED,
        section="2. Multivariate case / Diagonal entries",
        kind="multivariate",
        as_written=r"\mathrm{Cov}(Z_{+,i}, Z_{+,i}) is the univariate variance of Section 1.",
        corrected=r"\mathrm{Cov}(Z_{+,i}, Z_{+,i}) = \mathrm{Var}(Z_{+,i}) (univariate).",
        seed_fn=seed_cov_diagonal,
        correct_fn=_cov_diagonal,
        is_erratum=False,
        note="Correct.",
        example=(np.array([0.3, -0.5, 1.2]), np.array([[1.0, 0.2, 0.1], [0.2, 2.0, -0.3], [0.1, -0.3, 0.5]])),
    ),
]

#: Claims by name.
CLAIMS_BY_NAME: dict[str, SeedClaim] = {c.name: c for c in SEED_CLAIMS}
