"""Stop requests (Ctrl-C, SIGTERM) that always take effect, even when they arrive mid-compilation.

The CLI turns SIGINT and SIGTERM into exceptions so that every cleanup runs
(a half-written output folder is removed, never renamed into place). Python
runs a signal handler between bytecodes of the main thread, and that can be
inside one of llvmlite's ctypes callbacks while Numba compiles or loads a
kernel: an exception raised there is printed as "Exception ignored" and
lost, and the run went on to write its full output (seen in a review: a
SIGTERM 3 s into a cold start was ignored). So the handler records the
request, raises at once only when this thread holds no Numba compiler lock,
and otherwise leaves it to the next :func:`checkpoint`: after the warm-up,
before each check or kernel timing, and before an output folder is renamed
into place.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from numba.core.compiler_lock import global_compiler_lock


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a cancelled CI job), unwound like Ctrl-C so every cleanup runs."""


_pending: int | None = None


def _raise_for(signum: int):
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _on_signal(signum, frame):
    global _pending
    _pending = signum
    if not global_compiler_lock.is_locked():
        _raise_for(signum)


def checkpoint():
    """Raise the pending stop request, if a signal arrived when it could not be raised at once."""
    if _pending is not None:
        _raise_for(_pending)


@contextmanager
def stop_requests_raise():
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated` (main thread only)."""
    global _pending
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's
        yield
        return
    _pending = None
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _pending = None
