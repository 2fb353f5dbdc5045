"""Saying how long a long Monte Carlo run will take, once its first wave has measured the pace."""

from __future__ import annotations

import warnings

from mcbench.config import LONG_RUN_SECONDS


def duration_text(seconds: float) -> str:
    """``42 s``, ``3.5 h``, ``12 days`` or ``3.1e+04 years``."""
    for limit, unit, scale in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600), (3.2e7, "days", 86400)):
        if seconds < limit:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 3.15576e7:.3g} years"


def warn_if_long(label: str, elapsed: float, fraction_done: float) -> None:
    """A RuntimeWarning with the projected duration when it exceeds ``LONG_RUN_SECONDS``.

    Parameters
    ----------
    label : str
        The call, e.g. ``relu_moments(n_samples=1e15, d=2)``.
    elapsed : float
        Seconds the first wave took.
    fraction_done : float
        The share of the work that wave did.
    """
    total = elapsed / max(fraction_done, 1e-300)
    if total > LONG_RUN_SECONDS:
        warnings.warn(f"{label} will take about {duration_text(total)} at the pace of its first wave; "
                      "Ctrl-C (or SIGTERM under the mcbench command) stops it between waves", RuntimeWarning,
                      stacklevel=4)
