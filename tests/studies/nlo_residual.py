"""Study: the O(1/n^2) residual of the NLO theory at fixed depth (tanh, sigma_w^2 = 1.5, sigma_b^2 = 0.1, depth 10).

Not a test. For widths 8, 16, 32, 64 (input width = width) it compares
``mlp_propagation(order="nlo")`` and mean-field with a large Monte Carlo
and fits log|error| against log(width). The Monte Carlo samples the exact
model law layer by layer: for Gaussian weights and biases, given h^{l-1} the
units z^l_i are i.i.d. N(0, sigma_b^2 + s ||h^{l-1}||^2) (a property of the
model, not of the 1/n theory), so one input per network costs O(n) per layer
and millions of networks are affordable. Reported: E[(z^L)^2] (q) and
Var((1/n) sum z^2) (ms_var) at the last layer, errors with their Monte Carlo
standard errors, and the log-log slopes (expect -1 for mean-field, -2 for NLO).

Run (about 1-2 min, one thread):
``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python tests/studies/nlo_residual.py``
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from mcbench.spec import MLPSpec  # noqa: E402
from mcbench.theory.mlp import mlp_propagation  # noqa: E402

DEPTH, SW2, SB2 = 10, 1.5, 0.1
WIDTHS = (8, 16, 32, 64)
N_NETWORKS = 2_000_000
CHUNK = 100_000


def monte_carlo(n, rng):
    """Last-layer per-network m_hat = (1/n) sum_i z_i^2, for N_NETWORKS networks of width n."""
    out = np.empty(N_NETWORKS)
    for start in range(0, N_NETWORKS, CHUNK):
        h = rng.standard_normal((CHUNK, n))  # x ~ N(0, I_n)
        for _ in range(DEPTH):
            g = SB2 + SW2 / n * (h * h).sum(1)  # kernel given h
            z = np.sqrt(g)[:, None] * rng.standard_normal((CHUNK, n))
            h = np.tanh(z)
        out[start:start + CHUNK] = (z * z).mean(1)
    return out


def main():
    rng = np.random.default_rng(2024)
    rows = []
    for n in WIDTHS:
        spec = MLPSpec((n,) * (DEPTH + 1), "tanh", weight_var=SW2 / n, bias=("normal", SB2))
        df = mlp_propagation(spec, order="nlo", depth_scales=False).iloc[-1]
        m = monte_carlo(n, rng)
        q, q_se = m.mean(), m.std() / math.sqrt(m.size)
        d = m - q
        v, v_se = (d * d).mean(), math.sqrt(((d**4).mean() - (d * d).mean() ** 2) / m.size)
        mf_v = 2 * df["q"] ** 2 / n
        rows.append((n, q - df["q"], q - df["q_nlo"], q_se, v - mf_v, v - df["ms_var_nlo"], v_se, df["q"], v))
        print(f"n={n:3d}  q: MC {q:.6f}  err MF {rows[-1][1]:+.2e}  err NLO {rows[-1][2]:+.2e}  (se {q_se:.1e})   "
              f"ms_var: MC {v:.3e}  rel err MF {rows[-1][4] / v:+.2e}  NLO {rows[-1][5] / v:+.2e}  (rel se {v_se / v:.1e})",
              flush=True)
    r = np.array(rows)
    logn = np.log(r[:, 0])
    for label, col, se in [("q MF", 1, 3), ("q NLO", 2, 3), ("ms_var MF", 4, 6), ("ms_var NLO", 5, 6)]:
        err = np.abs(r[:, col])
        slope = np.polyfit(logn, np.log(err), 1)[0]
        resolved = "resolved" if np.all(err > 3 * r[:, se]) else "NOT resolved (|err| < 3 se somewhere: slope is noise)"
        print(f"slope of log|{label} error| vs log n: {slope:+.2f}   {resolved}")


if __name__ == "__main__":
    main()
