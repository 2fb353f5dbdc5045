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

from mcbench.config import NLO_CASES as CASES
from mcbench.validation.checks_mlp import nlo_comparison, nlo_spec

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
        rows, _, _ = nlo_comparison(f"{case}-w{width}-d{depth}", nlo_spec(case, width, depth), args.networks,
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
