#!/usr/bin/env python
"""Sweep scaling on this machine: one sweep run here, on a 1-worker and on a 2-worker LocalCluster, in one run.

Usage::

    python benchmarks/sweep_scaling.py [--cells 16] [--width 128] [--depth 20] [--json OUT.json]

It prints, for each engine, the wall time, the sum of the cells' own times
(measured inside the task), the speed-up against the local run, and the
overhead per task: the wall time the engine's slots spent on anything but
cells, per cell, ``(wall x slots - sum of cell times) / cells``. Cluster
start-up (workers importing mcbench and loading the compiled kernels) is
timed apart. It checks that all three tables have the same digest. The
``projection`` block scales the measured one-core cost per cell to 500 cells
on 8 nodes x 32 cores.

Run nothing else meanwhile: the machine's 2 cores are the measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mcbench  # noqa: E402
from mcbench.sweeps import digest  # noqa: E402
from mcbench.sweeps.engine import dask_client, local_task_threads  # noqa: E402


def run(args):
    grid = {"activation": ["tanh"], "sigma_w2": list(np.linspace(1.0, 3.0, args.cells // 2)),
            "sigma_b2": [0.05, 0.2]}
    sizes = dict(depth=args.depth, width=args.width, n_networks=args.networks, n_inputs=args.inputs,
                 theory="mean_field", seed=0)
    mcbench.sweep({"activation": ["tanh"], "sigma_w2": [1.0]}, **(sizes | {"depth": 2}))  # load the kernels
    rows, digests = [], {}
    start = time.perf_counter()
    local = mcbench.sweep(grid, **sizes)
    rows.append({"engine": "local (2 Numba threads)", "slots": 1, "startup_s": 0.0,
                 "wall_s": time.perf_counter() - start, "cell_s": local.attrs["cell_seconds"]})
    digests["local"] = digest(local)
    for workers in (1, 2):
        t0 = time.perf_counter()
        threads = local_task_threads(workers)
        with dask_client(local_workers=workers) as client:
            # every worker imports mcbench and loads the compiled kernels: start-up, not overhead per task
            client.run(lambda: mcbench.sweep({"activation": ["tanh"], "sigma_w2": [1.0]}, **(sizes | {"depth": 2})))
            startup = time.perf_counter() - t0
            start = time.perf_counter()
            table = mcbench.sweep(grid, client=client, threads=threads, **sizes)
            wall = time.perf_counter() - start
        rows.append({"engine": f"LocalCluster {workers} worker(s), {threads} Numba thread(s) each", "slots": workers,
                     "startup_s": startup, "wall_s": wall, "cell_s": table.attrs["cell_seconds"]})
        digests[f"dask-{workers}"] = digest(table)
    cells = len(local["cell"].unique())
    base = rows[0]["wall_s"]
    for r in rows:
        r["speedup_vs_local"] = base / r["wall_s"]
        r["overhead_ms_per_task"] = 1e3 * (r["wall_s"] * r["slots"] - r["cell_s"]) / cells
    same = len(set(digests.values())) == 1
    one_core_cell = rows[-1]["cell_s"] / cells  # the 2-worker run: one thread per cell
    cores = 8 * 32
    projection = {"cells": 500, "nodes": 8, "cores_per_node": 32, "one_core_seconds_per_cell": one_core_cell,
                  "projected_seconds": 500 * one_core_cell / cores
                  + 500 / cores * rows[-1]["overhead_ms_per_task"] / 1e3}
    return {"cells": cells, "sizes": sizes, "rows": rows, "same_bits": same, "digests": digests,
            "projection_500_cells": projection}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=16)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--networks", type=int, default=32)
    p.add_argument("--inputs", type=int, default=64)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    out = run(args)
    print(f"{out['cells']} cells, {out['sizes']}")
    print(f"{'engine':40s} {'startup s':>9s} {'wall s':>8s} {'cells s':>8s} {'speed-up':>8s} {'overhead ms/task':>16s}")
    for r in out["rows"]:
        print(f"{r['engine']:40s} {r['startup_s']:9.1f} {r['wall_s']:8.2f} {r['cell_s']:8.2f} "
              f"{r['speedup_vs_local']:8.2f} {r['overhead_ms_per_task']:16.1f}")
    print(f"same bits on all three: {out['same_bits']}")
    pr = out["projection_500_cells"]
    print(f"projection: 500 cells at {pr['one_core_seconds_per_cell']:.2f} s per cell on one core, on "
          f"8 x 32 cores: {pr['projected_seconds']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0 if out["same_bits"] else 1


if __name__ == "__main__":
    sys.exit(main())
