"""Calibration study: is fit_depth_scale's SE honest, and which threshold / weights keep it unbiased?

Not a test (pytest does not collect it; ~45 s on one core). It is the evidence
behind DEPTH_FIT_MIN_SE and DEPTH_FIT_ITERATIONS in ``mcbench/config.py``:
synthetic runs c^l = c* + A exp(-l / xi) + N(0, se^2) at layers 1..L, fitted by
``mcbench.sweeps.figures.fit_depth_scale``; z = (xi_hat - xi) / SE should have
mean 0 and sd 1. Each setting is run with the module's threshold and number of
re-fits patched.

Run: ``python3 tests/studies/depth_fit_calibration.py``
"""

from __future__ import annotations

import numpy as np

from mcbench.sweeps import figures

SCENARIOS = [  # (A, xi, L, se)
    (0.5, 5.0, 20, 0.002),
    (0.5, 5.0, 20, 0.01),
    (0.3, 3.0, 12, 0.003),
    (0.5, 10.0, 20, 0.005),
]
REPLICATES = 4000


def z_scores(amp, xi, depth, se, rng):
    layers = np.arange(1, depth + 1)
    c_star = 1.0
    z = []
    for _ in range(REPLICATES):
        c = c_star - amp * np.exp(-layers / xi) + rng.normal(0.0, se, depth)
        est, est_se = figures.fit_depth_scale(layers, c, np.full(depth, se), c_star)
        z.append((est - xi) / est_se)
    return np.array(z)


def main():
    rng = np.random.default_rng(0)
    print("A     xi    L   se      SEs  re-fits  mean z  sd z   NaN")
    for amp, xi, depth, se in SCENARIOS:
        for min_se in (3.0, 4.0, 5.0):
            for iterations in (0, 3):
                figures.DEPTH_FIT_MIN_SE, figures.DEPTH_FIT_ITERATIONS = min_se, iterations
                z = z_scores(amp, xi, depth, se, rng)
                ok = np.isfinite(z)
                print(f"{amp:<5} {xi:<5} {depth:<3} {se:<7} {min_se:<4} {iterations:<8} {z[ok].mean():+.3f}  "
                      f"{z[ok].std(ddof=1):.3f}  {int((~ok).sum())}")


if __name__ == "__main__":
    main()
