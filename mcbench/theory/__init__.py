"""Closed-form theory that the Monte Carlo estimates are checked against.

Public API
----------
Normal distribution functions (standardised units):

- :func:`norm_cdf` (x) -> Phi(x), :func:`norm_pdf` (x) -> phi(x)
- :func:`bvn_cdf` (h, k, rho) -> Phi2(h, k; rho) = P(X < h, Y < k)

Moments of ReLU of Gaussians (units of X, squared units for second moments):

- :func:`relu_mean_1d`, :func:`relu_second_moment_1d`, :func:`relu_var_1d`
  (mu, sigma), numpy-broadcast
- :func:`relu_moments` (mean (d,), cov (d, d)) -> (mean (d,), cov (d, d)),
  exact for any mean
- :func:`relu_cov_zero_mean` (cov (d, d)) -> cov (d, d), the arc-cosine form


Gaussian expectations of activations (:mod:`.gaussian`), z ~ N(mean, var):

- :func:`expect` (activation, mean, var, fn) with fn in "phi", "phi2", "dphi",
  "dphi2", "z_phi_dphi"; :func:`expect_pair` (activation, mean, q1, q2, q12, fn)
  -> E[f(u) f(v)], f = phi or phi'; :func:`phi2_var_derivative`

Mean-field MLP theory (:mod:`.mlp`):

- :func:`mlp_propagation` (spec, pair_correlation) -> per-layer DataFrame
- ``mlp_propagation(spec, c0, order="nlo")`` adds the 1/n columns of
  :mod:`.nlo` (:func:`nlo_propagation`; per-layer maps :func:`nlo_layer_maps`)
- :func:`mean_field_fixed_point`, :func:`critical_sigma_w2` (the order-to-chaos line chi_1 = 1),
  :func:`exact_norm_ratio_moments`,
  :func:`glorot_product_variance`, :func:`he_condition_weight_var`,
  :func:`xavier_variances`
"""

from mcbench.spec import init_variance, uniform_bound
from mcbench.theory.normal import bvn_cdf, norm_cdf, norm_pdf
from mcbench.theory.gaussian import expect, expect_pair, phi2_var_derivative, product_variance
from mcbench.theory.mlp import (
    critical_sigma_w2,
    exact_norm_ratio_moments,
    glorot_product_variance,
    he_condition_weight_var,
    mean_field_fixed_point,
    mean_field_q_star,
    mlp_propagation,
    xavier_variances,
)
from mcbench.theory.nlo import layer_maps as nlo_layer_maps
from mcbench.theory.nlo import nlo_propagation
from mcbench.theory.relu import (
    relu_cov_zero_mean,
    relu_mean_1d,
    relu_moments,
    relu_second_moment_1d,
    relu_var_1d,
    truncated_normal_mean,
)
from mcbench.theory.linear import linear_prediction_q

__all__ = [
    "init_variance",
    "uniform_bound",
    "bvn_cdf",
    "critical_sigma_w2",
    "exact_norm_ratio_moments",
    "expect",
    "expect_pair",
    "glorot_product_variance",
    "he_condition_weight_var",
    "mean_field_fixed_point",
    "mean_field_q_star",
    "mlp_propagation",
    "nlo_layer_maps",
    "nlo_propagation",
    "norm_cdf",
    "norm_pdf",
    "phi2_var_derivative",
    "relu_cov_zero_mean",
    "relu_mean_1d",
    "relu_moments",
    "relu_second_moment_1d",
    "relu_var_1d",
    "product_variance",
    "truncated_normal_mean",
    "linear_prediction_q",
    "xavier_variances",
]
