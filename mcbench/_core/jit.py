"""mcbench's one jit decorator, and compile-time bookkeeping (compile kernels outside the timed region).

Every Numba function in mcbench is compiled through :func:`jit`, so the
options they share live here: an on-disk cache (a fresh process loads the
compiled kernels in a second instead of compiling for a minute), Python's
error model (a division by zero raises instead of producing a silent inf),
and, only where a test pins the result, fastmath flags for reductions.
"""

from __future__ import annotations

import time

import numba

#: Fastmath flags a reduction may use: reassociation and fused multiply-adds, so that LLVM vectorises
#: the serial float64 sums that would otherwise cost more than the GEMMs they follow. Only these two
#: (no nnan/ninf/arcp): the order is still fixed by the code, so results are bitwise reproducible for
#: any thread count, and tests/test_mc_mlp.py checks every statistic against a plain-numpy replay.
REDUCE = frozenset({"reassoc", "contract"})


def jit(fn=None, *, parallel: bool = False, fastmath=frozenset(), inline: str = "never"):
    """Compile ``fn`` with Numba in nopython mode and mcbench's shared options.

    Parameters
    ----------
    fn : callable, optional
        The function; ``@jit`` and ``@jit(...)`` both work.
    parallel : bool
        Allow ``prange`` (one parallel region per call to the function).
    fastmath : set of str
        LLVM fastmath flags; mcbench uses :data:`REDUCE` or none.
    inline : {"never", "always"}
        Numba-level inlining (for tiny helpers in hot loops).

    Returns
    -------
    numba dispatcher, or a decorator when ``fn`` is None
    """
    options = {"cache": True, "error_model": "python", "parallel": parallel, "fastmath": set(fastmath),
               "inline": inline}
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


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
