"""Figures of a sweep: the phase diagram and the depth scale (matplotlib, the plot extra)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mcbench._io import TMP_PREFIX

PHASE_DIAGRAM_NAME = "fig_phase_diagram.png"
DEPTH_SCALE_NAME = "fig_depth_scale.png"


def _atomic(draw, path: Path):
    """Draw into a hidden file and rename it to ``path``: an interrupted drawing leaves nothing partial."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    try:
        draw(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def draw_sweep_figures(table, out) -> list[str] | None:
    """Draw the figures the table supports into ``out``; their names, or None without matplotlib.

    The phase diagram needs, for one activation, width and depth, at least 2
    sigma_w^2 and 2 sigma_b^2 values; the depth-scale figure needs the ``c``
    columns (a pair correlation) and at least 2 sigma_w^2 values.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    out = Path(out)
    drawn = []
    if "phase_diagram" not in globals():  # the drawing functions land in the next commit
        return drawn
    by_w = table[np.isfinite(table["sigma_w2"])]
    if by_w.empty:
        return drawn
    first = by_w.iloc[0]
    one = by_w[(by_w["activation"] == first["activation"]) & (by_w["width"] == first["width"])
               & (by_w["depth"] == first["depth"])]
    n_w, n_b = one["sigma_w2"].nunique(), one["sigma_b2"].nunique()
    if n_w >= 2 and n_b >= 2:
        _atomic(lambda p: phase_diagram(one, p), out / PHASE_DIAGRAM_NAME)
        drawn.append(PHASE_DIAGRAM_NAME)
    if n_w >= 2 and np.isfinite(one["c"]).any():
        middle = np.sort(one["sigma_b2"].unique())[n_b // 2]
        _atomic(lambda p: depth_scale_figure(one, middle, p), out / DEPTH_SCALE_NAME)
        drawn.append(DEPTH_SCALE_NAME)
    return drawn
