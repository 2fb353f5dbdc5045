"""One cell of a sweep: theory and Monte Carlo of one network family, one row per layer.

The input variance
------------------
With ``input_var="q_star"`` (the default) each cell's inputs have the
variance that puts layer 1 at the mean-field fixed point,
input_var = (q* - Var(b)) / sigma_w^2, so every layer of the network sits at
q* and the gradient ratio log(qtilde^1 / qtilde^L) is L log chi_1(q*) in mean
field: it changes sign exactly on the critical line chi_1 = 1. Where no
positive finite q* exists (relu in the chaotic phase, or q* = Var(b)), the
cell falls back to input_var = 1 and says so in the ``input_var`` column.

Columns
-------
See :data:`TABLE_COLUMNS`. Theory: ``*_mf`` mean field, ``*_nlo`` the 1/n
correction (NaN with ``theory="mean_field"``), fixed-point quantities
``q_star, c_star, chi1_star, xi_q, xi_c`` and ``log_grad_ratio_mf``
(cell-level, repeated on each layer's row). Monte Carlo: ``q, c, qtilde``
with ``_se``, the cell's ``log_grad_ratio`` (delta-method SE), and ``z_q,
z_c, z_qtilde`` against the best theory computed (NLO where it is finite,
else mean field). ``qtilde`` is normalised by the loss convention of
:func:`mcbench.mc.mlp_propagation` (delta^L = v ~ N(0, I)).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from mcbench._core.threads import task_threads
from mcbench.mc import mlp_propagation as mc_mlp
from mcbench.sweeps.grid import CELL_COLUMNS, cell_seed, cell_spec
from mcbench.theory import mean_field_q_star
from mcbench.theory import mlp_propagation as theory_mlp

THEORY_ORDERS = ("nlo", "mean_field")
#: A fixed point q* less than this (relative) above Var(b) counts as none (input variance 1 instead).
Q_STAR_FLOOR = 1e-9

TABLE_COLUMNS = (
    ("cell",) + CELL_COLUMNS + ("input_var", "layer",
                                "q_mf", "c_mf", "chi1_mf", "qtilde_mf", "q_nlo", "c_nlo",
                                "q_star", "c_star", "chi1_star", "xi_q", "xi_c", "log_grad_ratio_mf",
                                "q", "q_se", "c", "c_se", "qtilde", "qtilde_se",
                                "log_grad_ratio", "log_grad_ratio_se", "z_q", "z_c", "z_qtilde")
)


def fixed_point_input_var(cell) -> float:
    """The input variance that puts layer 1 at q* (see the module docstring), or 1.0 where there is none."""
    spec = cell_spec(cell, 1.0)
    q_star = mean_field_q_star(spec)  # q* only: the c* and depth scales come with the cell's theory table
    sw2 = spec.layer_weight_vars()[0] * spec.widths[0]
    bias_var = spec.bias_moments()[1]
    # q* within round-off of Var(b) (e.g. 1e-16 for tanh on the critical line at sigma_b^2 = 0, where
    # q* = 0): no positive input variance reaches it
    if not (math.isfinite(q_star) and sw2 > 0 and q_star - bias_var > Q_STAR_FLOOR * max(1.0, q_star)):
        return 1.0
    return (q_star - bias_var) / sw2


def _z(mc, se, th):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (mc - th) / se


def run_cell(cell: dict, *, n_networks: int, n_inputs: int, pair_correlation, seed: int,
             input_var="q_star", theory: str = "nlo", threads=None) -> tuple[pd.DataFrame, float]:
    """Theory and Monte Carlo of one cell: (its table, one row per layer; its wall seconds).

    ``threads=None`` inside a Dask worker takes the worker's ``nthreads``, so
    workers do not oversubscribe the cores; BLAS runs single-threaded during
    the Monte Carlo (:func:`mcbench.mc.mlp_propagation` pins it).
    """
    start = time.perf_counter()
    iv = fixed_point_input_var(cell) if input_var == "q_star" else float(input_var)
    spec = cell_spec(cell, iv)
    th = theory_mlp(spec, pair_correlation, order=theory)
    with task_threads(threads):
        mc = mc_mlp(spec, n_networks, n_inputs, seed=cell_seed(seed, cell["cell"]),
                    pair_correlation=pair_correlation)
    L = spec.depth
    nan = np.full(L, np.nan)
    qt_mf = th["qtilde"].to_numpy()
    cols = {name: [cell[name]] * L for name in ("cell",) + CELL_COLUMNS}
    cols.update(
        input_var=np.full(L, iv), layer=np.arange(1, L + 1),
        q_mf=th["q"].to_numpy(), c_mf=th["c"].to_numpy() if "c" in th else nan,
        chi1_mf=th["chi1"].to_numpy(), qtilde_mf=qt_mf,
        q_nlo=th["q_nlo"].to_numpy() if "q_nlo" in th else nan,
        c_nlo=th["c_nlo"].to_numpy() if "c_nlo" in th else nan,
    )
    for name in ("q_star", "c_star", "chi1_star", "xi_q", "xi_c"):
        cols[name] = np.full(L, th.attrs[name])
    cols["log_grad_ratio_mf"] = np.full(L, math.log(qt_mf[0] / qt_mf[-1]) if qt_mf[-1] > 0 else math.nan)
    for name in ("q", "c", "qtilde"):
        cols[name] = mc[name].to_numpy() if name in mc else nan
        cols[name + "_se"] = mc[name + "_se"].to_numpy() if name in mc else nan
    cols["log_grad_ratio"] = np.full(L, mc.attrs["log_grad_ratio"])
    cols["log_grad_ratio_se"] = np.full(L, mc.attrs["log_grad_ratio_se"])
    best_q = np.where(np.isfinite(cols["q_nlo"]), cols["q_nlo"], cols["q_mf"])
    best_c = np.where(np.isfinite(cols["c_nlo"]), cols["c_nlo"], cols["c_mf"])
    cols["z_q"] = _z(cols["q"], cols["q_se"], best_q)
    cols["z_c"] = _z(cols["c"], cols["c_se"], best_c)
    cols["z_qtilde"] = _z(cols["qtilde"], cols["qtilde_se"], qt_mf)
    return pd.DataFrame(cols, columns=TABLE_COLUMNS), time.perf_counter() - start
