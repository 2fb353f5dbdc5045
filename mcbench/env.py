"""The environment a result was produced in: versions, threads, BLAS, CPU, commit.

Every validation report, nightly run and benchmark table records this, so a
number can always be traced to the machine and build that produced it.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import scipy

from mcbench._version import __version__
from mcbench._core.threads import blas_info
from mcbench._core.rng import stream_key
from mcbench.config import BUSY_CORES_WARNING
from mcbench.mc.sampling import sample_mvn


#: Written into the package by the build backend (``_build/backend.py``) when a wheel or sdist is
#: built from a git checkout; git-ignored, and absent from a checkout itself.
BUILD_INFO = Path(__file__).resolve().parent / "_build_info.json"


def _git(args, cwd) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def checkout_provenance(top) -> dict | None:
    """``{"commit", "dirty"}`` of the git checkout ``top`` (tracked files only count as dirty), or None."""
    commit = _git(["rev-parse", "--verify", "HEAD"], top)
    if commit is None:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], top)
    return {"commit": commit, "dirty": bool(status) if status is not None else True}


def _project_checkout(package_dir: Path) -> Path | None:
    """The checkout ``package_dir`` is the ``mcbench`` folder of, or None.

    A package installed inside some other repository (a virtual environment
    in a checkout, site-packages under version control) is not a checkout of
    this project: its enclosing repository's commit would be the wrong one.
    """
    top = _git(["rev-parse", "--show-toplevel"], package_dir)
    if top is None or Path(top).resolve() / "mcbench" != package_dir.resolve():
        return None
    try:
        project = (Path(top) / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return Path(top) if 'name = "mcbench"' in project else None


def source_provenance() -> dict:
    """Where the running mcbench source comes from: ``{"commit", "dirty", "source"}``.

    ``source`` is ``"git"`` when the package directory is a checkout of this
    project (``python -m mcbench`` in a clone, or an editable install): git
    then describes the code that runs. Otherwise (a wheel or a non-editable
    install) it is ``"build"``, read from ``_build_info.json``, which the
    build backend wrote from the checkout it built; ``"unknown"`` when
    neither exists (commit ``"unknown"``, dirty None).
    """
    here = Path(__file__).resolve().parent
    top = _project_checkout(here)
    if top is not None:
        info = checkout_provenance(top)
        if info is not None:
            return info | {"source": "git"}
    try:
        info = json.loads(BUILD_INFO.read_text(encoding="utf-8"))
        return {"commit": str(info["commit"]), "dirty": bool(info["dirty"]), "source": "build"}
    except (OSError, ValueError, KeyError, TypeError):
        return {"commit": "unknown", "dirty": None, "source": "unknown"}


def git_commit(short: bool = False) -> str:
    """The commit of the running mcbench source (:func:`source_provenance`), ``-dirty`` appended if so.

    "unknown" when neither a checkout of this project nor build information says.
    """
    info = source_provenance()
    commit = info["commit"]
    if commit != "unknown" and short:
        commit = commit[:12]
    return commit + ("-dirty" if info["dirty"] else "")


def provenance() -> str:
    """One line for ``--version``: commit, clean or dirty, and where that was read."""
    info = source_provenance()
    state = {True: "dirty", False: "clean", None: "state unknown"}[info["dirty"]]
    return f"commit {info['commit']}, {state}, from {info['source']}"


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
        "dirty": source_provenance()["dirty"],
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
