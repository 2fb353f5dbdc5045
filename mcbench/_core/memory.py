"""Workspace for the parallel kernels: allocated up front, in Python, where a failure is a clear error.

Numba cannot report an exception raised inside a parallel region: an
allocation that fails inside ``prange`` made a worker stop early and the
kernel return zeros, or plausible garbage, with no error (measured: a 10^11
element ``np.empty`` inside ``prange`` returned ``[0., 0.]``). So every kernel
receives all of its workspace from :func:`allocate`, allocates nothing in
proportion to the problem inside a parallel region, and marks each worker's
completion in a ``done`` array that :func:`check_done` reads after the call.
"""

from __future__ import annotations

import os

import numpy as np


def available_bytes() -> int | None:
    """Memory the kernel may take without swapping, or None if unknown.

    ``MemAvailable`` of /proc/meminfo (Linux: free memory plus the page cache that can be
    dropped); elsewhere the free physical pages of ``os.sysconf`` (a lower figure: it
    leaves out the reclaimable cache).
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # no sysconf, or no such name on this platform
        return None


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style text."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"


def allocate(layout: dict, what: str, hint: str) -> dict:
    """Zeroed arrays ``{name: ndarray}`` for ``layout`` ``{name: (shape, dtype)}``, or a MemoryError that says why.

    Parameters
    ----------
    layout : dict
        ``{name: (shape, dtype)}``.
    what : str
        Who needs the memory, for the message (e.g. ``"mlp_propagation"``).
    hint : str
        What the caller can change so that it fits (e.g. fewer threads).

    Raises
    ------
    MemoryError
        Naming the bytes needed, the bytes available (when known) and ``hint``:
        before allocating when the total exceeds the available memory, and
        when an allocation fails (e.g. under ``ulimit -v``).
    """
    need = sum(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize for shape, dtype in layout.values())
    avail = available_bytes()
    if avail is not None and need > avail:
        raise MemoryError(f"{what} needs {format_bytes(need)} of workspace, but only {format_bytes(avail)} is "
                          f"available; {hint}")
    try:
        return {name: np.zeros(shape, dtype) for name, (shape, dtype) in layout.items()}
    except (MemoryError, ValueError) as exc:  # ValueError: a shape beyond the address space
        raise MemoryError(f"{what} needs {format_bytes(need)} of workspace, which could not be allocated "
                          f"({exc}); {hint}") from None


def check_done(done: np.ndarray, what: str) -> None:
    """Raise if a worker of a parallel region stopped before the end of its work.

    Raises
    ------
    RuntimeError
        The kernel's numbers would be wrong, so none are returned.
    """
    if not np.all(done):
        raise RuntimeError(f"{what}: {int(np.sum(done == 0))} of {done.size} parallel workers stopped early "
                           "(an error inside a parallel region, such as a failed allocation); the result would be "
                           "wrong, so none is returned")
