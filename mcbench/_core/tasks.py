"""Tasks on a Dask cluster: submit, then take the results as they finish (the sweep's cells, the suites' checks).

``distributed`` is imported here only when a client is given, so a client
exists and the dask extra is installed; nothing else of mcbench is imported.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def completed_tasks(client, fn, calls, keys=None):
    """Submit ``fn(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``; yield an iterator of
    ``(index, result)`` in the order the tasks finish.

    ``keys`` names the tasks (default: new names). On leaving the block,
    normally or by an exception (Ctrl-C included), every task still queued or
    running is cancelled, so nothing keeps running on the cluster.
    """
    from distributed import as_completed

    # Without keys every call is a new task (pure=False), even if an equal call ran on the client before.
    naming = (lambda i: {"pure": False}) if keys is None else (lambda i: {"key": keys[i]})
    futures = [client.submit(fn, *args, **kwargs, **naming(i)) for i, (args, kwargs) in enumerate(calls)]
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        yield ((index[future.key], future.result()) for future in as_completed(futures))
    finally:
        client.cancel(futures)
