"""Dask: sweeps and validation runs give a local run's bits on 1 and 2 worker processes; a killed worker.

LocalClusters of at most 2 worker processes, one thread each; a few seconds
each (the workers import mcbench and load the compiled kernels from the cache).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import mcbench
from mcbench.report import write_report
from mcbench.sweeps import digest
from mcbench.sweeps.engine import dask_client

distributed = pytest.importorskip("distributed", reason="the Dask tests need the dask extra: "
                                                        "pip install 'mcbench[dask]'")

#: 4 cells across tanh's critical line; each ~0.3-0.6 s on one thread (mostly the c-map's theory).
GRID = {"activation": ["tanh"], "sigma_w2": [1.0, 2.5], "sigma_b2": [0.0, 0.05]}
SIZES = dict(depth=6, width=48, n_networks=16, n_inputs=32, theory="mean_field", seed=11)


@pytest.fixture(scope="module")
def local_digest():
    return digest(mcbench.sweep(GRID, **SIZES))




@pytest.mark.parametrize("workers", [1, 2])
def test_dask_gives_the_local_bits(workers, local_digest):
    with dask_client(local_workers=workers) as client:  # what --dask-local starts
        table = mcbench.sweep(GRID, client=client, **SIZES)
        assert len(client.scheduler_info()["workers"]) == workers
    assert table.attrs["engine"].startswith("tcp://")
    assert digest(table) == local_digest


def test_a_killed_worker_costs_nothing_but_time(local_digest):
    """SIGKILL a worker while it runs a cell: the scheduler reruns the task elsewhere, same bits."""
    killed = {}
    with dask_client(local_workers=2) as client:
        pids = client.run(os.getpid)

        def kill_a_busy_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = {w: keys for w, keys in client.processing().items() if keys}
                if busy:
                    worker = sorted(busy)[0]
                    killed.update(worker=worker, keys=list(busy[worker]))
                    os.kill(pids[worker], signal.SIGKILL)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        table = mcbench.sweep(GRID, client=client, **SIZES)
        killer.join()
    assert killed, "no worker was ever seen busy"
    assert digest(table) == local_digest


def test_validate_on_dask_writes_the_local_report(tmp_path):
    """Each check one task on 2 workers: report.csv is byte for byte the local run's."""
    local = mcbench.run_validation("quick", seed=2, only="relu/", quiet=True)
    with dask_client(local_workers=2) as client:
        remote = mcbench.run_validation("quick", seed=2, only="relu/", quiet=True, client=client)
    write_report(local, tmp_path / "local")
    write_report(remote, tmp_path / "dask")
    assert len(local.table) > 20
    assert (tmp_path / "local" / "report.csv").read_bytes() == (tmp_path / "dask" / "report.csv").read_bytes()
