"""Finite-width study: the gelu/He c-map at depth 20, by plain numpy and by scipy quadrature.

Not a test (pytest does not collect it; ~25 s on 2 cores). It is the
independent evidence behind the note in ``mcbench/validate.py``: the mean-field
c-map of a gelu network with He init, c0 = 0.5, reaches c = 0.667 at layer 20,
while Monte Carlo at finite width stays well below it and approaches it only
slowly as the width grows (0.43, 0.48, 0.56 at widths 128, 512, 2048).

Run: ``python3 tests/studies/gelu_cmap_finite_width.py``
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special

DEPTH, C0, WEIGHT_GAIN = 20, 0.5, 2.0  # He init: Var(W) = 2 / fan_in; inputs N(0, I)


def gelu(z):
    return z * 0.5 * (1.0 + special.erf(z / np.sqrt(2.0)))


def gaussian_pair_expectation(f, q, q12):
    """E[f(z1, z2)] for (z1, z2) ~ N(0, [[q, q12], [q12, q]]), by 2-d adaptive quadrature."""
    s, a = np.sqrt(q), q12 / np.sqrt(q)
    b = np.sqrt(max(q - a * a, 0.0))

    def integrand(v, u):
        return f(s * u, a * u + b * v) * np.exp(-(u * u + v * v) / 2) / (2 * np.pi)

    return integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-14, epsrel=1e-12)[0]


def mean_field_c():
    q, q12, out = WEIGHT_GAIN, WEIGHT_GAIN * C0, [C0]
    for _ in range(DEPTH - 1):
        q, q12 = (WEIGHT_GAIN * gaussian_pair_expectation(lambda x, y: gelu(x) ** 2, q, q12),
                  WEIGHT_GAIN * gaussian_pair_expectation(lambda x, y: gelu(x) * gelu(y), q, q12))
        out.append(q12 / q)
    return np.array(out)


def monte_carlo_c(width, networks, pairs=16, seed=0):
    """Pooled c per layer: sum z_a z_b / sqrt(sum z_a^2 sum z_b^2) over networks, pairs and units."""
    rng = np.random.default_rng(seed)
    s_ab, s_aa, s_bb = np.zeros(DEPTH), np.zeros(DEPTH), np.zeros(DEPTH)
    for _ in range(networks):
        xa = rng.standard_normal((pairs, width))
        xb = C0 * xa + np.sqrt(1 - C0 * C0) * rng.standard_normal((pairs, width))
        h = np.concatenate([xa, xb])
        for layer in range(DEPTH):
            z = h @ (rng.standard_normal((width, width)) * np.sqrt(WEIGHT_GAIN / width)).T
            za, zb = z[:pairs], z[pairs:]
            s_ab[layer] += (za * zb).sum()
            s_aa[layer] += (za * za).sum()
            s_bb[layer] += (zb * zb).sum()
            h = gelu(z)
    return s_ab / np.sqrt(s_aa * s_bb)


if __name__ == "__main__":
    shown = [4, 9, 14, 19]  # layers 5, 10, 15, 20
    print("layer           ", [i + 1 for i in shown])
    print("mean-field      ", np.round(mean_field_c()[shown], 3))
    for width, networks in [(128, 200), (512, 60), (2048, 12)]:
        print(f"MC width {width:<5}  ", np.round(monte_carlo_c(width, networks)[shown], 3), flush=True)
