"""Sweeps over grids of networks, locally or on Dask: :func:`sweep` (the order-to-chaos phase diagram).

:func:`sweep` runs theory and Monte Carlo for every cell of a grid of
(activation, sigma_w^2 or init, sigma_b^2, width, depth) and returns one tidy
row per (cell, layer); :mod:`mcbench.sweeps.figures` draws the phase diagram
and the depth scales. The engine and the resume rules are described in
:mod:`mcbench.sweeps.engine`, the cells and their seeds in
:mod:`mcbench.sweeps.grid`, the columns in :mod:`mcbench.sweeps.cell`.
"""

from mcbench.sweeps.cell import TABLE_COLUMNS
from mcbench.sweeps.engine import digest, read_table, sweep
from mcbench.sweeps.grid import cells

__all__ = ["TABLE_COLUMNS", "cells", "digest", "read_table", "sweep"]
