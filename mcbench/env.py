"""The environment a result was produced in: versions, threads, BLAS, CPU, commit.

Every validation report, nightly run and benchmark table records this, so a
number can always be traced to the machine and build that produced it.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from datetime import datetime, timezone

import numba
import numpy as np
import pandas as pd
import scipy

from mcbench._version import __version__
from mcbench._core.threads import blas_info
from mcbench._core.rng import stream_key
from mcbench.config import BUSY_CORES_WARNING
from mcbench.mc.sampling import sample_mvn


def git_commit(short: bool = False) -> str:
    """The commit of the mcbench source tree, or "unknown" outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
    try:
        out = subprocess.run(args, cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    commit = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def threading_layer() -> str:
    """Numba's threading layer; runs a tiny parallel kernel first if none has run yet."""
    try:
        return numba.threading_layer()
    except ValueError:
        sample_mvn([0.0], [[1.0]], 2, seed=stream_key(0)[0] % 2)
        return numba.threading_layer()


def _busy_cpu_seconds() -> float | None:
    """CPU-seconds all cores have spent busy since boot (Linux ``/proc/stat``), or None elsewhere.

    Busy is everything but idle and iowait; steal (time the hypervisor gave
    to other guests) counts as busy, since it is taken from us too.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError, IndexError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system




def busy_note(other_cores) -> str:
    """"" on a quiet machine, else a short warning naming how many cores other processes kept busy."""
    if other_cores is None or not other_cores > BUSY_CORES_WARNING:  # None or NaN: not measured
        return ""
    return f"busy machine: other processes kept {other_cores:.2f} of {os.cpu_count()} cores busy"


class OtherLoad:
    """Context manager measuring how many cores *other* processes kept busy while its block ran.

    Timings taken on a busy machine are distorted (on 2 cores, one busy
    neighbour can halve a parallel kernel), so timing reports record this
    beside their numbers. On exit, ``cores`` holds the average number of
    cores busy with anything but this process (and the children it waited
    for): machine-wide busy CPU time minus our own, over the wall time. It
    is None where ``/proc/stat`` is unavailable.
    """

    cores: float | None = None

    def __enter__(self):
        self._busy, self._own, self._wall = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        busy, wall = _busy_cpu_seconds(), time.perf_counter() - self._wall
        if busy is not None and self._busy is not None and wall > 0:
            other = (busy - self._busy) - (_own_cpu_seconds() - self._own)
            self.cores = max(0.0, other / wall)  # tick rounding can make an idle machine read slightly negative
        return False


def utc_now(for_path: bool = False) -> str:
    """The UTC time, ISO 8601 (``2026-11-23T13:37:00Z``), or without colons for file names."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ" if for_path else "%Y-%m-%dT%H:%M:%SZ")


def environment(seed=None, **extra) -> dict:
    """A JSON-serialisable record of this process's environment."""
    info = {
        "mcbench": __version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "threading_layer": threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "blas": "; ".join(f"{b['library']} ({b['family']}, {b['num_threads']} threads)" for b in blas_info()),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": socket.gethostname(),
        "platform": platform.platform(),
        "seed": seed,
    }
    info.update(extra)
    return info


def banner(**extra) -> str:
    """One line naming the versions, threading layer, threads and BLAS, for benchmark tables."""
    info = environment()
    parts = [f"mcbench {info['mcbench']} ({info['commit'][:12]})",
             f"numba {info['numba']} ({info['threading_layer']}, {info['numba_threads']} threads)",
             f"numpy {info['numpy']}", f"BLAS {info['blas']}", f"CPU {info['cpu']}"]
    parts += [f"{k} {v}" for k, v in extra.items()]
    return " | ".join(parts)
