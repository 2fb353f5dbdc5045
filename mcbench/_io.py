"""Atomic writes into results/: a killed run leaves no partial folder or corrupt file.

A run folder is built under a hidden temporary name next to its final place
and renamed into place only when complete (rename is atomic within a file
system). The history file is appended by writing a complete new copy beside
it, fsync-ing it, and renaming it over the old one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from mcbench._signals import checkpoint

# The umask can only be read by setting it; do that once, at import, not while other threads may
# be creating files with the temporary umask of 0.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_directory(final: Path):
    """Yield a temporary directory that becomes ``final`` when the block succeeds.

    ``final`` must not exist yet. On an exception (or KeyboardInterrupt, which
    the CLI also raises on SIGTERM) the temporary directory is removed and
    ``final`` is never created; on SIGKILL only a hidden ``.tmp-<pid>-*``
    folder can remain, which no reader treats as a run and the next run
    deletes (:func:`remove_stale_temporaries`).
    """
    final = Path(final)
    if final.exists():
        raise FileExistsError(f"output folder {final} already exists; choose another --out")
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-{final.name}-", dir=final.parent))
    try:
        yield tmp
        checkpoint()  # a stop request that could not be raised while the block ran: never publish
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes it owner-only; a results folder is shared like any other
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path):
    """Delete ``.tmp-<pid>-*`` leftovers of runs that were killed (their pid is gone)."""
    for path in Path(folder).glob(".tmp-*"):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _fsync_file(path: Path):
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def append_history(history: Path, rows: pd.DataFrame):
    """Append ``rows`` to the CSV ``history`` via write-then-rename."""
    history = Path(history)
    history.parent.mkdir(parents=True, exist_ok=True)
    if history.exists():
        old = pd.read_csv(history)
        combined = pd.concat([old, rows], ignore_index=True, sort=False)
    else:
        combined = rows
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-{history.name}-", dir=history.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            combined.to_csv(fh, index=False)
        _fsync_file(tmp)
        os.replace(tmp, history)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
