#!/usr/bin/env python
"""MLP Monte Carlo kernel vs numpy, torch and the BLAS GEMM rate, in one run.

Usage::

    python3 benchmarks/bench_mlp.py [--widths 256 1024] [--depth 20] [--batch 8192] [--threads 2]

All systems compute the same per-layer statistics for the same work: for each
of ``networks`` random ReLU networks (He init), ``batch`` Gaussian inputs go
forward through ``depth`` layers of ``width`` units and the data gradient goes
back (delta^L = v ~ N(0, I)); per layer they gather E[z^2], E[phi(z)^2],
E[phi'(z)^2], E[delta^2] and the weight-gradient mean square.

* ``mcbench``  mcbench.mc.mlp_propagation (Numba; networks in parallel, BLAS
               single-threaded per network, statistics fused into one pass);
* ``numpy``    the same pipeline in plain numpy (one network at a time,
               numpy's multi-threaded BLAS);
* ``torch``    torch on CPU with autograd for the backward pass (skipped when
               torch is not installed: ``pip install torch``);
* ``gemm``     the machine limit: BLAS GEMM GFLOP/s on the same shapes, the
               better of (one multi-threaded GEMM) and (one single-threaded
               GEMM per thread in parallel), measured in this run.

GFLOP/s counts 4 * batch * n_{l-1} * n_l per layer and network (forward and
backward data-gradient GEMMs), the benchmark's stated convention. Every system skips the
first layer's backward GEMM (nothing needs delta^0), so it executes a factor
(2 depth - 1) / (2 depth) of that; ``frac_gemm_executed`` is the fraction of
the GEMM limit in executed flops. After a warm-up call of each system, every one
of ``--repeat`` rounds times one call of each system and then the GEMM limit,
so the timings behind a ratio lie seconds apart, not minutes (on a shared
machine the cores' speed drifts by tens of percent). Rates are medians over
rounds; ``frac_gemm``, ``x_numpy`` and ``x_torch`` are medians of the
per-round ratios. JIT compilation is reported separately and never timed. Limits and
timings come from :mod:`mcbench.perf.limits`, shared with ``mcbench profile`` and asv.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

# Time this checkout's mcbench, not whichever copy happens to be installed.
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))


def numpy_pipeline(width, depth, batch, networks, dtype, seed=0):
    rng = np.random.default_rng(seed)
    stats = np.zeros((depth, 5))
    std = np.sqrt(2.0 / width)
    for _ in range(networks):
        weights = [(rng.standard_normal((width, width), dtype=dtype) * std).astype(dtype) for _ in range(depth)]
        h = rng.standard_normal((batch, width), dtype=dtype)
        hs = [h]
        for l in range(depth):
            z = hs[-1] @ weights[l].T
            h = np.maximum(z, 0)
            stats[l, 0] += np.einsum("ij,ij->", z, z)
            stats[l, 1] += np.einsum("ij,ij->", h, h)
            stats[l, 2] += np.count_nonzero(h)
            hs.append(h)
        delta = rng.standard_normal((batch, width), dtype=dtype)
        for l in range(depth - 1, -1, -1):
            d2 = np.einsum("ij,ij->i", delta, delta)
            stats[l, 3] += d2.sum()
            stats[l, 4] += d2 @ np.einsum("ij,ij->i", hs[l], hs[l])
            if l:
                delta = delta @ weights[l]
                delta *= hs[l] > 0
    return stats


def torch_pipeline(torch, width, depth, batch, networks, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    stats = torch.zeros((depth, 5), dtype=torch.float64)
    std = (2.0 / width) ** 0.5
    for _ in range(networks):
        weights = [torch.randn(width, width, generator=gen, dtype=tdtype) * std for _ in range(depth)]
        h = torch.randn(batch, width, generator=gen, dtype=tdtype)
        hs, zs = [h], []
        for l in range(depth):
            z = h @ weights[l].T
            if l == 0:  # a leaf: autograd then skips the input and weight gradients, as mcbench does
                z = z.detach().requires_grad_(True)
            else:
                z.retain_grad()
            h = torch.relu(z)
            zs.append(z)
            hs.append(h)
        v = torch.randn(batch, width, generator=gen, dtype=tdtype)
        (zs[-1] * v).sum().backward()
        with torch.no_grad():
            for l in range(depth):
                z, hl, delta = zs[l], hs[l + 1], zs[l].grad
                stats[l, 0] += (z * z).sum()
                stats[l, 1] += (hl * hl).sum()
                stats[l, 2] += (hl > 0).sum()
                d2 = (delta * delta).sum(1)
                stats[l, 3] += d2.sum()
                stats[l, 4] += (d2 * (hs[l] * hs[l]).sum(1)).sum()
    return stats


def median_ratio(numerators, denominators):
    """Median over rounds of numerator / denominator, both timed in the same round."""
    return statistics.median(n / d for n, d in zip(numerators, denominators))


def gemm_limit(width, rows, dtype, threads):
    """Best GEMM GFLOP/s on (rows x width) @ (width x width): one multi-threaded GEMM, or one per thread."""
    from mcbench.perf.limits import gemm_gflops
    from mcbench.perf.timing import best_seconds, let_blas_idle

    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, width)).astype(dtype)
    b = rng.standard_normal((width, width)).astype(dtype)
    threaded = 2.0 * rows * width * width / best_seconds(lambda: a @ b) / 1e9
    let_blas_idle()
    return max(threaded, gemm_gflops(rows, width, dtype, threads))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 1024], help="default 256 1024")
    parser.add_argument("--depth", type=int, default=20, help="layers (default 20)")
    parser.add_argument("--batch", type=int, default=8192, help="inputs per network (default 8192)")
    parser.add_argument("--networks", type=int, default=None, help="networks (default: threads, at least 2)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], help="default float32 float64")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba and torch threads (default 2, or NUMBA_NUM_THREADS if smaller)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timing rounds (one call of every system, then the GEMM limit); default 5")
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
    from mcbench.perf.kernels import prepare
    from mcbench.mc.mlp import mlp_flops
    from mcbench.perf.timing import let_blas_idle, median_seconds

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    networks = args.networks or max(2, args.threads)  # >= 2: the replicates behind a standard error
    rows = []
    for width in args.widths:
        for dt_name in args.dtypes:
            dtype = np.dtype(dt_name)
            let_blas_idle()  # numpy's BLAS workers from the previous row
            # ReLU, He init, seed 1: prepare() compiles and warms the kernel up, untimed.
            kernel = prepare("mlp_propagation", width=width, depth=args.depth, batch=args.batch,
                             networks=networks, dtype=dt_name)
            widths = [width] * (args.depth + 1)
            gflop = mlp_flops(widths, networks, args.batch) / 1e9  # the stated convention, 4 B n^2 per layer
            executed = mlp_flops(widths, networks, args.batch, executed=True) / 1e9 / gflop
            block = kernel.shape(args.threads)["block"]
            systems = {"mcbench": kernel.call,
                       "numpy": lambda: numpy_pipeline(width, args.depth, args.batch, networks, dtype)}
            if torch is not None:
                systems["torch"] = lambda: torch_pipeline(torch, width, args.depth, args.batch, networks, dtype)
            for name in ("numpy", "torch"):  # warm-up of the baselines (prepare() warmed mcbench up)
                if name in systems:
                    systems[name]()
            # All systems and the limit interleaved, round by round: on a shared machine the speed
            # of the cores drifts by tens of percent between seconds, so a ratio is only meaningful
            # between timings taken close together. Each ratio is the median of its per-round ratios.
            times = {name: [] for name in systems}
            limits = []
            with OtherLoad() as other:
                for _ in range(args.repeat):
                    for name, call in systems.items():
                        times[name].append(median_seconds(call, 1, warmup=False))
                        if name != "mcbench":  # its BLAS calls are single-threaded: no spinning workers
                            let_blas_idle()
                    limits.append(gemm_limit(width, block, dtype, args.threads))

            mc_t = times["mcbench"]
            mc_s, np_s = statistics.median(mc_t), statistics.median(times["numpy"])
            th_s = statistics.median(times["torch"]) if torch is not None else np.nan
            limit = statistics.median(limits)
            frac = median_ratio([gflop / t for t in mc_t], limits)
            x_numpy = median_ratio(times["numpy"], mc_t)
            x_torch = median_ratio(times["torch"], mc_t) if torch is not None else np.nan
            rows.append({
                "width": width, "depth": args.depth, "batch": args.batch, "dtype": dt_name,
                "mcbench_GFLOP/s": gflop / mc_s, "numpy_GFLOP/s": gflop / np_s,
                "torch_GFLOP/s": gflop / th_s, "gemm_limit_GFLOP/s": limit,
                "frac_gemm": frac, "frac_gemm_executed": frac * executed, "x_numpy": x_numpy, "x_torch": x_torch,
                "block": block, "compile_s": kernel.compile_seconds, "other_load": other.cores,
            })
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(banner(torch=torch.__version__ if torch is not None else "not installed, skipped (pip install torch)",
                 networks=networks))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("GFLOP/s count 4*batch*n^2 per layer and network; GFLOP/s and gemm_limit are medians over rounds, each round "
          "timing one call of every system and then the GEMM limit on the same shapes. frac_gemm, x_numpy, x_torch: "
          "medians over rounds of the per-round ratios (mcbench / gemm_limit, mcbench speed / baseline speed). "
          "frac_gemm_executed: the same for the flops every system executes (no backward GEMM at layer 1). "
          "block: inputs per block. compile_s: untimed. other_load: cores other processes kept busy during the "
          f"row's rounds (above {BUSY_CORES_WARNING} the row's numbers are distorted).")
    return table


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
