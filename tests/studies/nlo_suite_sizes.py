"""Which deep, narrow networks the NLO theory holds for at a suite's Monte Carlo precision.

For each candidate (activation, init, bias, width, depth) this runs the NLO
check at the given sizes and prints the largest |z| of the mean-field rows
and of the NLO rows per quantity. A size belongs in a suite when mean-field
is visibly off (finite-width rows, or |z| > 5) while every NLO row stays
well inside the Holm threshold (|z| < 4 or so): then the O(1/n^2) residual
is below the standard error.

    python tests/studies/nlo_suite_sizes.py --networks 32 --inputs 256 --depths 20 50 --widths 64 128 256
"""

import argparse
import itertools
import time

import numpy as np

from mcbench import MLPSpec
from mcbench.validation.checks_mlp import nlo_comparison

CASES = {
    "tanh": ("tanh", "xavier_normal", "zero"),
    "tanh-chaotic": ("tanh", 1.5, ("normal", 0.1)),
    "erf": ("erf", "xavier_normal", "zero"),
    "gelu-he": ("gelu", "he_normal", "zero"),
    "relu-he": ("relu", "he_normal", "zero"),
    "relu-he-bias": ("relu", "he_normal", ("normal", 0.1)),
    "scaled_sigmoid": ("scaled_sigmoid", "xavier_normal", "zero"),
}


def spec_of(case, width, depth):
    act, init, bias = CASES[case]
    widths = [width] * (depth + 1)
    if isinstance(init, float):
        return MLPSpec(widths, act, weight_var=init / width, bias=bias)
    return MLPSpec(widths, act, init, bias=bias)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=list(CASES))
    ap.add_argument("--widths", nargs="+", type=int, default=[64, 128, 256])
    ap.add_argument("--depths", nargs="+", type=int, default=[20])
    ap.add_argument("--networks", type=int, default=32)
    ap.add_argument("--inputs", type=int, default=256)
    args = ap.parse_args()
    for case, depth, width in itertools.product(args.cases, args.depths, args.widths):
        start = time.perf_counter()
        rows, _, _ = nlo_comparison(f"{case}-w{width}-d{depth}", spec_of(case, width, depth), args.networks,
                                    args.inputs, np.random.SeedSequence(1))
        worst = {r["quantity"].iloc[0]: float(np.nanmax(np.abs(r["z"]))) if np.isfinite(r["z"]).any() else np.nan
                 for r in rows}
        beyond = sum(int(r["finite_width"].sum()) for r in rows)
        nlo = {k.split()[0]: round(v, 1) for k, v in worst.items() if "NLO" in k}
        mf = {k.split()[0]: round(v, 1) for k, v in worst.items() if "mean-field" in k}
        print(f"{case:15s} w{width:<5d} d{depth:<3d} NLO max|z| {nlo}  MF {mf}  finite-width rows {beyond}  "
              f"{time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
