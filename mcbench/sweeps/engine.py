"""Run the cells of a sweep: in this process, or as tasks on a Dask cluster, with the same bits.

Where the cells run
-------------------
With no ``client`` the cells run one after another in this process, each on
all the Numba threads. With a ``distributed.Client`` each cell is one task;
a task uses ``threads`` Numba threads if given, else its worker's
``nthreads``, and one BLAS thread. A worker runs one task's Monte Carlo at a
time; the theory is Python and holds the GIL, so several tasks in one worker
process only slow each other down. Give workers one thread each and as many
worker processes as cores (``dask worker --nworkers CORES --nthreads 1``),
which is what :func:`dask_client` starts locally. A cell's numbers are a
pure function of (seed, cell key, sizes): the Monte Carlo streams do not
depend on thread counts, and the table is assembled in grid order, not in
the order tasks finish. A worker that dies mid-task has its task rerun on
another worker by the Dask scheduler, with the same result.

Resuming
--------
With ``out`` every finished cell is written at once, atomically, to
``out/cells/<hash>.csv`` (floats with 17 significant digits, which read back
bit for bit), next to ``out/sweep.json`` that records the arguments. A rerun
with the same arguments computes only the cells that are missing; adding
cells to the grid is fine (a cell's numbers do not depend on the others); a
rerun with other sizes, seed, pair correlation, input variance or theory is
refused. ``sweep.csv`` (and ``sweep.parquet`` with pyarrow) are written, each
atomically, when every cell is done. An interrupted run (Ctrl-C, SIGTERM)
leaves only whole cell files. Two runs into one folder at once are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._core.checks import check_positive_int
from mcbench._core.tasks import completed_tasks
from mcbench._io import TMP_PREFIX, locked, replace_file, replace_file_with
from mcbench._signals import checkpoint
from mcbench._version import __version__
from mcbench.config import (SWEEP_FLOP_RATE, SWEEP_INPUTS, SWEEP_NETWORKS, SWEEP_PAIR_CORRELATION,
                            SWEEP_SIGMA_B2, SWEEP_THEORY_LAYER_SECONDS)
from mcbench.progress import Progress
from mcbench.sweeps.cell import TABLE_COLUMNS, THEORY_ORDERS, run_cell
from mcbench.sweeps.grid import cells as grid_cells

MANIFEST_NAME = "sweep.json"
CELLS_DIR = "cells"
TABLE_NAME = "sweep.csv"
PARQUET_NAME = "sweep.parquet"
#: Bumped when the stored cell format changes; a folder of another format is refused.
STORE_FORMAT = 1
_STRING_COLUMNS = ("cell", "activation", "init", "bias")
DASK_INSTALL = "pip install 'mcbench[dask]'"
#: Dask config for the workers' environment. A Dask nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its
#: worker processes; any fixed value turns off glibc's dynamic mmap threshold, so the theory's numpy
#: temporaries are mmap-ed and unmapped each time: 2.0x slower (2.80 s against 1.39 s for a depth-20
#: tanh cell's theory, 2026-12-03). None unsets it (for `dask worker`: the environment variable
#: DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None).
NANNY_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def check_arguments(n_networks, n_inputs, pair_correlation, seed, input_var, theory) -> dict:
    """The run arguments of :func:`sweep`, checked (a ValueError names the bad one), as its manifest records them."""
    n_networks = check_positive_int(n_networks, "n_networks", minimum=2,
                                    why="the networks are the replicates behind every standard error")
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    if pair_correlation is not None:
        if isinstance(pair_correlation, bool) or not isinstance(pair_correlation, (int, float)) \
                or not -1.0 <= float(pair_correlation) <= 1.0:
            raise ValueError(f"pair_correlation must be a number in [-1, 1] or None, got {pair_correlation!r}")
        pair_correlation = float(pair_correlation)
        if n_inputs % 2:
            raise ValueError(f"n_inputs must be even with pair_correlation (pairs of inputs), got {n_inputs}")
    seed = check_positive_int(seed, "seed", minimum=0)
    if input_var != "q_star":
        if isinstance(input_var, bool) or not isinstance(input_var, (int, float)) \
                or not math.isfinite(input_var) or input_var < 0:
            raise ValueError(f"input_var must be 'q_star' or a finite number >= 0, got {input_var!r}")
        input_var = float(input_var)
    if theory not in THEORY_ORDERS:
        raise ValueError(f"theory must be one of {', '.join(THEORY_ORDERS)}, got {theory!r}")
    return {"n_networks": n_networks, "n_inputs": n_inputs, "pair_correlation": pair_correlation,
            "seed": seed, "input_var": input_var, "theory": theory}


def cell_cost(cell, args: dict) -> float:
    """Expected seconds of a cell on one core, for the progress ETA: Monte Carlo GEMMs plus theory, per layer."""
    gemm = 4.0 * float(cell["width"]) ** 2 * args["n_networks"] * args["n_inputs"] / SWEEP_FLOP_RATE
    theory = SWEEP_THEORY_LAYER_SECONDS["single" if args["pair_correlation"] is None else "pair"]
    return float(cell["depth"]) * (gemm + theory)


class CellStore:
    """Finished cells of one sweep in ``out/cells/``, each written atomically; ``out/sweep.json`` holds the arguments."""

    def __init__(self, out: Path, arguments: dict):
        self.out = Path(out)
        self.arguments = arguments
        self.folder = self.out / CELLS_DIR

    def open(self):
        """Create the folder (or check that its recorded arguments match); a clear ValueError otherwise."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"out: cannot create {self.folder} ({exc.strerror or exc}); choose a writable folder") \
                from None
        manifest = self.out / MANIFEST_NAME
        if manifest.exists():
            try:
                recorded = json.loads(manifest.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"out: {manifest} is not a sweep manifest ({exc}); choose another folder") from None
            if recorded.get("format") != STORE_FORMAT:
                raise ValueError(f"out: {self.out} holds a sweep of another format "
                                 f"({recorded.get('format')!r}, this is {STORE_FORMAT}); choose another folder")
            if recorded.get("mcbench") != __version__:
                raise ValueError(f"out: {self.out} holds cells computed by mcbench {recorded.get('mcbench')}, "
                                 f"this is {__version__}; choose another folder")
            before = recorded.get("arguments", {})
            differ = [f"{k}={before.get(k)!r} there, {v!r} now" for k, v in self.arguments.items()
                      if before.get(k) != v]
            if differ:
                raise ValueError(f"out: {self.out} holds a sweep run with other arguments ({'; '.join(differ)}); "
                                 "rerun with the same arguments to resume it, or choose another folder")
        else:
            replace_file(manifest, json.dumps({"format": STORE_FORMAT, "mcbench": __version__,
                                               "arguments": self.arguments}, indent=1))
        for folder in (self.folder, self.out):  # killed writers' leftovers: we hold the folder's lock
            for tmp in folder.glob(TMP_PREFIX + "*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".csv")

    def load(self, key: str) -> pd.DataFrame | None:
        path = self.path(key)
        if not path.exists():
            return None
        frame = read_table(path)
        if frame.empty or (frame["cell"] != key).any():
            raise ValueError(f"out: {path} does not hold cell {key!r}; the folder was edited, choose another")
        return frame

    def save(self, key: str, frame: pd.DataFrame):
        replace_file(self.path(key), table_text(frame))


def table_text(frame: pd.DataFrame) -> str:
    """CSV text whose floats read back bit for bit (17 significant digits)."""
    return frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")


def read_table(path) -> pd.DataFrame:
    """Read a sweep CSV back exactly (round-trip float parsing, ``init`` "" kept as a string)."""
    numeric = [c for c in TABLE_COLUMNS if c not in _STRING_COLUMNS]
    # pandas 3 parses floats exactly by default (and deprecates the option); pandas 2 needs it asked for
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, dtype={c: str for c in _STRING_COLUMNS}, keep_default_na=False,
                       na_values={c: ["", "nan", "NaN"] for c in numeric}, **exact)


def sweep(grid, *, depth=None, width=None, n_networks: int = SWEEP_NETWORKS, n_inputs: int = SWEEP_INPUTS,
          pair_correlation=SWEEP_PAIR_CORRELATION, seed: int = 0, client=None, out=None,
          input_var="q_star", theory: str = "nlo", sigma_b2: float = SWEEP_SIGMA_B2, bias: str = "normal",
          threads=None, quiet: bool = True) -> pd.DataFrame:
    """Monte Carlo and theory over a grid of networks: one tidy row per (cell, layer).

    Parameters
    ----------
    grid : dict of lists, or pandas.DataFrame
        The cells (see :func:`mcbench.sweeps.grid.cells`): ``activation``,
        ``init`` or ``sigma_w2``, and optionally ``sigma_b2``, ``bias``,
        ``width``, ``depth``. A dict spans the product of its lists.
    depth, width : int, optional
        Depth L and width n of cells whose grid does not give them.
    n_networks, n_inputs : int
        Monte Carlo sizes per cell: networks (the replicates behind every SE,
        >= 2) and inputs per network (even with ``pair_correlation``).
    pair_correlation : float in [-1, 1] or None
        Correlation of each input pair; None drops the ``c`` columns.
    seed : int
        Sweep seed; cell k draws from :func:`mcbench.sweeps.grid.cell_seed`
        (seed, key of k), whatever else the grid holds.
    client : distributed.Client, optional
        Run each cell as a task on this Dask cluster (``pip install
        'mcbench[dask]'``); None runs the cells here.
    out : path, optional
        Keep finished cells in this folder and resume from it (see
        :mod:`mcbench.sweeps.engine`); writes ``sweep.csv`` (and
        ``sweep.parquet`` with pyarrow) there at the end, holding this
        grid's cells (cells of earlier, larger grids stay in ``cells/``).
    input_var : "q_star" or float
        Input variance; "q_star" starts each cell at its mean-field fixed
        point (:mod:`mcbench.sweeps.cell`).
    theory : {"nlo", "mean_field"}
        "nlo" adds the 1/n columns ``q_nlo``, ``c_nlo`` (about 2x the theory
        time of mean field alone at depth 30).
    sigma_b2, bias : float, {"normal", "constant"}
        Defaults for cells whose grid does not give them (0.05 and normal,
        as on the command line).
    threads : int, optional
        Numba threads per cell (default: all here; on Dask, the worker's nthreads).
    quiet : bool
        No progress line (default True; the CLI shows it).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`mcbench.sweeps.cell.TABLE_COLUMNS`, rows in grid order
        then layer. ``attrs``: ``cells`` (count), ``computed`` (cells run now),
        ``reused`` (cells read from ``out``), ``wall_seconds``,
        ``cell_seconds`` (sum of the computed cells' own wall times) and
        ``engine`` ("local" or the scheduler address).

    Raises
    ------
    ValueError
        A bad grid or argument (named), or an ``out`` folder of another
        sweep; all before any cell runs.

    Examples
    --------
    >>> import mcbench
    >>> t = mcbench.sweep({"activation": ["tanh"], "sigma_w2": [1.0, 2.5]}, depth=4, width=16,
    ...                   n_networks=4, n_inputs=8, sigma_b2=0.05, theory="mean_field")
    >>> t.shape[0], t.attrs["computed"]          # 2 cells x 4 layers
    (8, 2)
    >>> t.groupby("sigma_w2")["chi1_star"].first().round(3).tolist()   # ordered, then chaotic
    [0.759, 1.134]
    """
    args = check_arguments(n_networks, n_inputs, pair_correlation, seed, input_var, theory)
    table = grid_cells(grid, depth=depth, width=width, sigma_b2=sigma_b2, bias=bias)
    if out is None:
        return _run(table, args, client, None, threads, quiet)
    out = Path(out)
    with contextlib.ExitStack() as stack:
        try:
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(locked(out / MANIFEST_NAME, wait=False))
        except BlockingIOError:
            raise ValueError(f"out: another sweep is writing into {out}; wait for it or choose another folder") \
                from None
        except OSError as exc:
            raise ValueError(f"out: cannot use {out} ({exc.strerror or exc}); choose a writable folder") from None
        store = CellStore(out, args)
        store.open()
        result = _run(table, args, client, store, threads, quiet)
        checkpoint()  # a stop request that arrived during the last cell: no final table
        replace_file(out / TABLE_NAME, table_text(result))
        _write_parquet(result, out / PARQUET_NAME, quiet)
        return result


def _write_parquet(frame: pd.DataFrame, path: Path, quiet: bool):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        if not quiet:
            print(f"sweep: {path.name} skipped ({DASK_INSTALL} adds pyarrow); {TABLE_NAME} has the same table",
                  file=sys.stderr)
        return
    replace_file_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _run(table: pd.DataFrame, args: dict, client, store, threads, quiet: bool) -> pd.DataFrame:
    start = time.perf_counter()
    records = table.to_dict("records")
    done = {}
    if store is not None:
        for rec in records:
            frame = store.load(rec["cell"])
            if frame is not None:
                done[rec["cell"]] = frame
    todo = [rec for rec in records if rec["cell"] not in done]
    reused = len(done)
    label = "sweep" if client is None else "sweep[dask]"
    if not quiet:
        if reused:
            print(f"sweep: {reused} of {len(records)} cells already in {store.out}; computing the other {len(todo)}",
                  file=sys.stderr)
        if client is not None:
            print(f"sweep: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
    progress = Progress([cell_cost(rec, args) for rec in todo], quiet=quiet, label=label)
    kwargs = dict(n_networks=args["n_networks"], n_inputs=args["n_inputs"],
                  pair_correlation=args["pair_correlation"], seed=args["seed"],
                  input_var=args["input_var"], theory=args["theory"])
    seconds = 0.0

    def finish(rec, frame, cell_s):
        nonlocal seconds
        seconds += cell_s
        done[rec["cell"]] = frame
        if store is not None:
            store.save(rec["cell"], frame)

    if client is None:
        for rec in todo:
            checkpoint()
            progress.begin(rec["cell"])
            frame, cell_s = run_cell(rec, threads=threads, **kwargs)
            finish(rec, frame, cell_s)
            progress.end()
    elif todo:
        token = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
        keys = [f"mcbench-cell-{token}-{hashlib.sha256(rec['cell'].encode()).hexdigest()[:16]}" for rec in todo]
        with completed_tasks(client, run_cell, [((rec,), kwargs | {"threads": threads}) for rec in todo],
                             keys) as finished_tasks:
            for i, (frame, cell_s) in finished_tasks:
                checkpoint()
                progress.begin(todo[i]["cell"])
                finish(todo[i], frame, cell_s)
                progress.end()
    progress.close()
    result = pd.concat([done[rec["cell"]] for rec in records], ignore_index=True)
    result.attrs.update(cells=len(records), computed=len(todo), reused=reused,
                        wall_seconds=time.perf_counter() - start, cell_seconds=seconds,
                        engine="local" if client is None else str(client.scheduler.address))
    return result


def digest(frame: pd.DataFrame) -> str:
    """sha256 over every numeric column's float64 bytes, in order: equal digests, equal bits."""
    h = hashlib.sha256()
    for name in frame.columns:
        if name in _STRING_COLUMNS:
            h.update("\n".join(frame[name].astype(str)).encode())
        else:
            h.update(np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()


def local_task_threads(local_workers: int | None, threads: int | None = None) -> int | None:
    """Numba threads per task on a ``LocalCluster`` of ``local_workers``: ``threads``, or cores // workers."""
    if local_workers is None:
        return threads
    return threads or max(1, (os.cpu_count() or 1) // local_workers)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, local_workers: int | None = None):
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new ``LocalCluster``.

    The ``LocalCluster`` has ``local_workers`` worker processes of one Dask
    thread each (one task at a time); pass :func:`local_task_threads` as the
    tasks' Numba threads so that the workers share the cores. Yields None
    when neither is given (run here).
    """
    if scheduler is None and local_workers is None:
        yield None
        return
    if scheduler is not None and local_workers is not None:
        raise ValueError("give --scheduler (an existing cluster) or --dask-local (a new local one), not both")
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(f"running on Dask needs the dask extra: {DASK_INSTALL}") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ValueError(f"--scheduler {scheduler}: cannot connect ({exc}); is `dask scheduler` running there?") \
                from None
        with client:
            yield client
        return
    local_workers = check_positive_int(local_workers, "dask-local")
    # Worker processes of one thread each: a cell's theory holds the GIL, so tasks in threads of one
    # process would take turns (measured: 1 worker x 2 threads took 1.6x the local run's time).
    # NANNY_ENVIRON drops the nanny's MALLOC_TRIM_THRESHOLD_, which made the theory 2x slower.
    with dask.config.set(NANNY_ENVIRON), \
            LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client
