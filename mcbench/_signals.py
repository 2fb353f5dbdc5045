"""Stop requests (Ctrl-C, SIGTERM): recorded by the handler, raised only at checkpoints.

The CLI turns SIGINT and SIGTERM into exceptions so that every cleanup runs
(a half-written output folder is removed, never renamed into place). Python
runs a signal handler between bytecodes of the main thread, and that can be
inside a Python callback that C code called: Numba's ``_numba_unpickle``
while a kernel call loads its cached code, llvmlite's ctypes callbacks while
a kernel compiles, a ``__del__`` or weakref callback. An exception raised
there is printed as "Exception ignored" and lost, or turns into a
``SystemError`` traceback and exit code 1 (seen in about half of the
signals sent 4 s into ``mcbench validate --only relu/``). The handler cannot
tell whether a C frame lies beneath it, so raising at once is never known to
be safe: the handler only records the request, and :func:`checkpoint` raises
it. Checkpoints sit at the start of the CLI's work, between warm-up kernels,
before each check, kernel timing and timing repeat, while waiting for a
child process, and before an output is published; a stop is honoured within
about one check or one timing repeat.

A CLI process installs the handler when the ``mcbench`` package starts
importing (:func:`install_if_cli`), so a signal during the ~2 s of imports is
kept as well and reported like any other, not as a KeyboardInterrupt
traceback or a silent death by SIGTERM. Once the output is published, a stop
request is too late to take anything back: it is dropped, and the process
exits with the run's own code, its output complete.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a cancelled CI job), unwound like Ctrl-C so every cleanup runs."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_pending: int | None = None


def _on_signal(signum, frame):
    # Never raise here (see the module docstring): the next checkpoint does.
    global _pending
    _pending = signum


def checkpoint():
    """Raise the pending stop request, if any: KeyboardInterrupt for SIGINT, :class:`Terminated` for SIGTERM.

    Call it where an exception unwinds cleanly: in plain Python code of the
    main thread, never from a callback that C code (Numba, ctypes) invoked.
    """
    if _pending is not None:
        raise Terminated if _pending == signal.SIGTERM else KeyboardInterrupt


def _is_cli_process() -> bool:
    """Whether this interpreter was started as the mcbench command (``python -m mcbench`` or the script)."""
    argv = sys.orig_argv
    if "-m" in argv[1:]:
        # ``python [options] -m mcbench ...``: the first -m names the module that runs.
        i = argv.index("-m", 1)
        return argv[i + 1:i + 2] == ["mcbench"]
    return os.path.basename(sys.argv[0] if sys.argv else "") == "mcbench"


def install_if_cli():
    """Record stop requests from the first line of ``mcbench`` on, when this process is the mcbench command.

    Imported as a library, mcbench leaves the process's signal handling
    alone (Ctrl-C in a notebook must still interrupt at once).
    """
    if _is_cli_process() and threading.current_thread() is threading.main_thread():
        for sig in _STOP_SIGNALS:
            signal.signal(sig, _on_signal)


@contextmanager
def stop_requests_raise():
    """Within the block, a SIGINT or SIGTERM is recorded and raised at the next :func:`checkpoint`.

    A request recorded before the block (during the imports of a CLI
    process) is kept. On exit the previous handlers come back, except in a
    CLI process, which ignores stop requests from then on: its output is
    published (or removed) and it exits with the run's own code.
    """
    global _pending
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's
        yield
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # In a CLI process (the previous handler is the one install_if_cli set) the work is
            # done: ignore further requests, since interpreter shutdown restores the default
            # handlers, and a SIGTERM then would kill a finished run with no message.
            signal.signal(sig, signal.SIG_IGN if handler is _on_signal else handler)
        _pending = None
