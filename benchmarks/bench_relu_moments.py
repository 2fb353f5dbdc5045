#!/usr/bin/env python
"""Fused ReLU-moment kernel vs numpy baselines, with this machine's limits, in one run.

Usage::

    python3 benchmarks/bench_relu_moments.py [--dims 16 64 256] [--threads 2] [--repeat 3]

Systems (all compute the mean and covariance of ReLU(X), X ~ N(mu, Sigma)):

* ``fused``     mcbench.mc.relu_moments (Numba, parallel chunks, streaming);
* ``numpy``     rng.multivariate_normal + np.maximum + mean + np.cov (holds n x d);
* ``blocked``   Cholesky once; blocks of standard normals, matmul, ReLU,
                accumulate the column sums and X^T X (numpy's BLAS, all threads).

Machine limits, measured in the same process:

* ``rng``   normals/s of mcbench's chunked generator on all threads (the
            kernel's own RNG; numpy's single-threaded generator is also shown);
* ``gemm``  GFLOP/s of BLAS on the kernel's GEMM shapes (chunk x d times d x d),
            one chunk per thread, the way the fused kernel calls it.

Both come from :mod:`mcbench.perf.limits`, the same functions ``mcbench profile``
and the asv suite use. Timings are medians of ``--repeat`` runs after a
warm-up call (JIT compilation is never timed; it is reported separately); a
half-second pause after numpy's multi-threaded BLAS lets its spinning worker
threads go idle before a Numba kernel is timed.

The fused kernel's use of them: ``normals/s`` = samples/s * d against ``rng``,
and ``GFLOP/s`` = samples/s * (2 d^2 + d) against ``gemm``: the flops it
executes (TRMM by the triangular factor, d^2; SYRK for the cross-products,
d^2 + d), i.e. half of what two dense GEMMs would need.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

# Time this checkout's mcbench, not whichever copy happens to be installed.
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))


def numpy_plain(mean, cov, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    y = np.maximum(rng.multivariate_normal(mean, cov, size=n).astype(dtype, copy=False), 0)
    return y.mean(axis=0), np.cov(y, rowvar=False)


def numpy_blocked(mean, cov, n, dtype, seed=0, block=8192):
    rng = np.random.default_rng(seed)
    lower_t = np.linalg.cholesky(cov).T.astype(dtype)
    mean_t = mean.astype(dtype)
    d = mean.shape[0]
    total = np.zeros(d)
    cross = np.zeros((d, d))
    for start in range(0, n, block):
        rows = min(block, n - start)
        x = rng.standard_normal((rows, d), dtype=dtype) @ lower_t
        x += mean_t
        np.maximum(x, 0, out=x)
        total += x.sum(axis=0)
        cross += x.T @ x
    mean_y = total / n
    return mean_y, (cross - n * np.outer(mean_y, mean_y)) / (n - 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 64, 256], help="dimensions d (default 16 64 256)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], help="default float64 float32")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads (default 2, or NUMBA_NUM_THREADS if smaller)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per system; the median counts (default 3)")
    parser.add_argument("--budget", type=float, default=1.5e8,
                        help="samples x d per timed call (default 1.5e8)")
    parser.add_argument("--no-plain", action="store_true", help="skip numpy's multivariate_normal baseline")
    args = parser.parse_args(argv)

    import numba

    from mcbench._core.threads import benchmark_threads

    try:
        args.threads = benchmark_threads(args.threads)
    except ValueError as exc:
        parser.error(str(exc))
    import pandas as pd

    numba.set_num_threads(args.threads)
    from mcbench.config import BUSY_CORES_WARNING
    from mcbench.env import OtherLoad, banner
    from mcbench.perf.kernels import gaussian_problem, prepare
    from mcbench.perf.limits import limit_fractions, machine_limits, numpy_rng_normals_per_second
    from mcbench.perf.timing import let_blas_idle, median_seconds

    rows = []
    for d in args.dims:
        mean, cov = gaussian_problem(d)  # the problem prepare() builds, for the numpy baselines
        n = max(10_000, int(args.budget // d))
        for dt_name in args.dtypes:
            dtype = np.dtype(dt_name)
            fused = prepare("relu_moments", d=d, n=n, dtype=dt_name)  # compiles and warms up, untimed
            let_blas_idle()
            with OtherLoad() as other:
                fused_s = fused.median_seconds(args.repeat)
                blocked_s = median_seconds(lambda: numpy_blocked(mean, cov, n, dtype), args.repeat)
                plain_s = np.nan
                if not args.no_plain:
                    n_plain = min(n, 2_000_000)
                    plain_s = median_seconds(lambda: numpy_plain(mean, cov, n_plain, dtype), 1) * n / n_plain
                let_blas_idle()
                limits = machine_limits(fused.shape(args.threads)["gemm_rows"], d, dtype, args.threads)
            rates = fused.rates(fused_s)
            fractions = limit_fractions(rates, limits)
            rows.append({
                "d": d,
                "dtype": dt_name,
                "n": n,
                "fused_Msamples/s": rates["samples_per_s"] / 1e6,
                "blocked_Msamples/s": n / blocked_s / 1e6,
                "numpy_Msamples/s": n / plain_s / 1e6,
                "x_blocked": blocked_s / fused_s,
                "x_numpy": plain_s / fused_s,
                "fused_Mnormals/s": rates["normals_per_s"] / 1e6,
                "rng_limit_Mnormals/s": limits["rng_normals_per_s"] / 1e6,
                "frac_rng": fractions["rng"],
                "fused_GFLOP/s": rates["gflop_per_s"],
                "gemm_limit_GFLOP/s": limits["gemm_gflop_per_s"],
                "frac_gemm": fractions["gemm"],
                "compile_s": fused.compile_seconds,
                "other_load": other.cores,
            })
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(banner(**{"numpy RNG": f"{numpy_rng_normals_per_second() / 1e6:.0f} M normals/s (1 thread)"}))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("x_blocked, x_numpy: fused speed / baseline speed. frac_rng: fused normals/s / rng_limit. "
          "frac_gemm: fused executed GFLOP/s (2d^2+d per sample) / gemm_limit. compile_s: JIT or cache load, untimed. "
          f"other_load: cores other processes kept busy meanwhile (above {BUSY_CORES_WARNING} the row's numbers "
          "are distorted).")
    return table


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
