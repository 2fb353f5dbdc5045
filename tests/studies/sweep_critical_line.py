"""Study: where the Monte Carlo gradient ratio changes sign, against tanh's critical line (sigma_b^2 = 0.05).

Run: ``python tests/studies/sweep_critical_line.py`` (~1-2 min on 2 cores).

For tanh with Gaussian bias of variance 0.05, depth 30, inputs at the fixed
point q*, it sweeps sigma_w^2 in {1.70, 1.80} at widths 64, 128, 256, 512 and
prints each width's interpolated zero crossing of log(qtilde^1 / qtilde^L)
with its SE, then the 1/width extrapolation, beside the theory's critical
sigma_w^2 (mcbench.theory.critical_sigma_w2, checked against plain quadrature
in tests/test_sweep_theory.py). docs/theory.md quotes its output.
"""

import mcbench
from mcbench.sweeps.analysis import extrapolate_crossings, gradient_zero_crossings

if __name__ == "__main__":
    table = mcbench.sweep({"activation": ["tanh"], "sigma_w2": [1.70, 1.80], "width": [64, 128, 256, 512]},
                          sigma_b2=0.05, depth=30, n_networks=64, n_inputs=32, pair_correlation=None,
                          theory="mean_field", seed=0)
    crossings = gradient_zero_crossings(table)
    crossings["shift"] = crossings["sigma_w2_mc"] - crossings["sigma_w2_critical"]
    print(crossings[["width", "sigma_w2_mc", "sigma_w2_mc_se", "shift", "z"]].to_string(index=False))
    for widths in ([128, 256], [64, 128, 256, 512]):
        line = extrapolate_crossings(crossings[crossings["width"].isin(widths)])
        print(line[["widths", "sigma_w2_inf", "sigma_w2_inf_se", "sigma_w2_critical", "z"]].to_string(index=False))
