#!/usr/bin/env python
"""Calibrate nightly's regression rule on this machine: false flags, with and without a busy neighbour, and detection.

Usage::

    python benchmarks/calibrate_nightly.py [--runs 6] [--injected 3] [--rounds 7] [--slowdown relu_moments:1.3]
                                           [--factor 1.2] [--alpha 0.01] [--busy-cores 0.25] [--keep DIR]

What it does, all on the unchanged commit, through the Python API
(:func:`mcbench.perf.nightly.nightly` with ``validate=False``: kernel timings
only) into a temporary results folder:

1. one baseline run, then ``--runs`` runs (default 6), every second one with
   a CPU-burning neighbour (``python -c 'while 1: pass'``, started before the
   run and stopped after it by this script). Each run is compared with the
   one before it; any flag is a *false* flag, since nothing changed.
2. ``--injected`` runs (default 3) with a real slowdown: the environment
   variable ``MCBENCH_INJECT_SLOWDOWN`` (set by this script only, see
   :mod:`mcbench.perf.kernels`) makes the named kernel do 30% more work.
   Each is compared with the last clean quiet run (``compare_to``); a run that
   does not flag the slowed kernel is a missed detection. The neighbour runs
   during the second of them, so detection is tested busy and quiet.

It prints one line per run (neighbour, other processes' cores in the
baseline and the run, flags, exit code) and the counts. Problems are small
(about 10 s per run on 2 cores), so the whole calibration takes 2-4 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

# Calibrate this checkout's mcbench, not whichever copy happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcbench.config import NIGHTLY_ALPHA, NIGHTLY_BUSY_CORES, NIGHTLY_FACTOR, NIGHTLY_ROUNDS  # noqa: E402
from mcbench.perf import nightly as nightly_mod  # noqa: E402
from mcbench.perf.kernels import INJECT_VARIABLE  # noqa: E402

#: Small versions of the nightly problems: one kernel of each kind (RNG limit, GEMM limit, no limit).
CALIBRATION_PROBLEMS = [
    ("sample_mvn", {"d": 16, "n": 200_000}),
    ("relu_moments", {"d": 16, "n": 200_000}),
    ("mlp_propagation", {"width": 128, "depth": 4, "batch": 512}),
    ("bvn_cdf", {"n": 100_000}),
    ("theory_relu_moments", {"d": 32}),
]


@contextlib.contextmanager
def neighbour(active: bool):
    """A CPU-burning process for the duration of the block (when ``active``), stopped at its end."""
    proc = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if active else None
    try:
        yield
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()


@contextlib.contextmanager
def injected(spec: str | None):
    """Set :data:`INJECT_VARIABLE` to ``spec`` within the block (unset when None)."""
    old = os.environ.get(INJECT_VARIABLE)
    if spec:
        os.environ[INJECT_VARIABLE] = spec
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(INJECT_VARIABLE, None)
        else:
            os.environ[INJECT_VARIABLE] = old


def one_run(out: Path, args, busy: bool, spec: str | None = None, compare_to: str | None = None) -> dict:
    """One kernels-only nightly run; returns its id, exit code and comparison table."""
    with injected(spec), neighbour(busy):
        code = nightly_mod.nightly(out, validate=False, repeat=args.rounds, quiet=True, problems=CALIBRATION_PROBLEMS,
                                   factor=args.factor, alpha=args.alpha, busy_cores=args.busy_cores,
                                   compare_to=compare_to, echo=lambda line: None, dashboard=False)
    runs = [p for p in sorted(out.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    run = max(runs, key=lambda p: p.stat().st_mtime)
    table = pd.read_csv(run / "comparison.csv", keep_default_na=False, na_values=[""])
    return {"run": run.name, "code": code, "table": table, "busy": busy, "spec": spec}


def describe(label: str, r: dict) -> str:
    t = r["table"]
    if t.empty:
        return f"{label:<12} neighbour={'yes' if r['busy'] else 'no ':<3} (baseline)  exit {r['code']}"
    k = t[t["kind"] == "kernel"]
    flags = ", ".join(f"{n.split('[')[0]}:{f} x{ratio:.2f}" for n, f, ratio in zip(k["name"], k["flag"], k["ratio"])
                      if f in ("SLOWER", "SLOWER?")) or "none"
    worst = k.loc[k["ratio"].idxmax()]
    return (f"{label:<12} neighbour={'yes' if r['busy'] else 'no ':<3} load base/run "
            f"{k['previous_load'].max():.2f}/{k['current_load'].max():.2f}  worst ratio "
            f"{worst['name'].split('[')[0]} x{worst['ratio']:.2f} (p_holm {worst['p_holm']:.2g})  flags: {flags}  "
            f"exit {r['code']}")


def flagged(r: dict, kernel: str | None = None) -> tuple[bool, bool]:
    """(any SLOWER or SLOWER? flag, any SLOWER flag) in a run, on ``kernel`` only if given."""
    k = r["table"][r["table"]["kind"] == "kernel"]
    if kernel is not None:
        k = k[k["name"].str.startswith(kernel + "[")]
    return bool(k["flag"].isin(["SLOWER", "SLOWER?"]).any()), bool((k["flag"] == "SLOWER").any())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="clean runs after the baseline (default 6)")
    parser.add_argument("--injected", type=int, default=3, help="runs with the injected slowdown (default 3)")
    parser.add_argument("--rounds", type=int, default=NIGHTLY_ROUNDS, help=f"rounds (default {NIGHTLY_ROUNDS})")
    parser.add_argument("--slowdown", default="relu_moments:1.3", help="KERNEL:FACTOR (default relu_moments:1.3)")
    parser.add_argument("--factor", type=float, default=NIGHTLY_FACTOR)
    parser.add_argument("--alpha", type=float, default=NIGHTLY_ALPHA)
    parser.add_argument("--busy-cores", type=float, default=NIGHTLY_BUSY_CORES)
    parser.add_argument("--keep", type=Path, default=None, help="results folder to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    slowed = args.slowdown.split(":")[0]
    with tempfile.TemporaryDirectory(prefix="mcbench-calibrate-") as tmp:
        out = args.keep or Path(tmp)
        print(f"calibrating in {out}: {len(CALIBRATION_PROBLEMS)} kernels, {args.rounds} rounds, factor "
              f"{args.factor}, alpha {args.alpha}, busy above {args.busy_cores} cores", flush=True)
        print(describe("baseline", one_run(out, args, busy=False)), flush=True)
        clean = []
        for i in range(args.runs):
            clean.append(one_run(out, args, busy=i % 2 == 1))
            print(describe(f"clean {i + 1}", clean[-1]), flush=True)
        # The baseline of a real nightly is the previous night's run: take the last clean run without
        # the neighbour, so that the noise between it and the one before it is that of a busy night.
        last_clean = [r for r in clean if not r["busy"]][-1]["run"]
        hits = []
        for i in range(args.injected):
            hits.append(one_run(out, args, busy=i % 3 == 1, spec=args.slowdown, compare_to=last_clean))
            print(describe(f"injected {i + 1}", hits[-1]), flush=True)
    quiet = [r for r in clean if not r["busy"]]
    busy = [r for r in clean if r["busy"]]
    print(f"\nfalse flags (any SLOWER/SLOWER?): {sum(flagged(r)[0] for r in quiet)} of {len(quiet)} quiet runs, "
          f"{sum(flagged(r)[0] for r in busy)} of {len(busy)} runs with a neighbour; "
          f"counted as regressions (SLOWER, exit 3): {sum(flagged(r)[1] for r in clean)} of {len(clean)}")
    print(f"injected {args.slowdown}: {slowed} flagged in {sum(flagged(r, slowed)[0] for r in hits)} of {len(hits)} "
          f"runs (as SLOWER, exit 3: {sum(flagged(r, slowed)[1] for r in hits)}; the others SLOWER? on a busy machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
