"""Compile-time bookkeeping: compile kernels outside the timed region."""

from __future__ import annotations

import time

import numba


def compile_for(dispatcher, *args) -> float:
    """Compile (or load from cache) ``dispatcher`` for ``args``' types; returns seconds spent.

    Returns 0.0 when the specialisation is already in memory, so callers can
    report compile time separately from run time.
    """
    sig = tuple(numba.typeof(a) for a in args)
    if sig in dispatcher.overloads:
        return 0.0
    start = time.perf_counter()
    dispatcher.compile(sig)
    return time.perf_counter() - start
