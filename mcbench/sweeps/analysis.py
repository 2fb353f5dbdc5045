"""What a sweep table says about the critical line: where the gradient ratio changes sign.

On the critical line chi_1 = 1 a gradient neither grows nor decays with depth,
so log(qtilde^1 / qtilde^L) changes sign there (exactly, in mean field, when
every layer sits at q*: the sweep's default ``input_var="q_star"``). Along
sigma_w^2 at fixed everything else, :func:`gradient_zero_crossings` finds the
Monte Carlo crossing by linear interpolation between the two cells that
bracket it, with a delta-method SE from the two cells' SEs (independent
streams, so independent errors), and sets it beside the theory's critical
sigma_w^2 (:func:`mcbench.theory.critical_sigma_w2`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mcbench.theory import critical_sigma_w2

_LINE_KEYS = ["activation", "sigma_b2", "bias", "width", "depth"]


def gradient_zero_crossings(table: pd.DataFrame) -> pd.DataFrame:
    """Monte Carlo zero crossings of the log gradient ratio along sigma_w^2, against theory.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`mcbench.sweep` table (cells given by ``sigma_w2``; init cells are ignored).

    Returns
    -------
    pandas.DataFrame, one row per (activation, sigma_b2, bias, width, depth) line with a sign change
        ``sigma_w2_mc`` and ``sigma_w2_mc_se`` (the interpolated crossing and
        its SE), ``sigma_w2_critical`` (theory, mean field), ``z`` (their
        difference over the SE), ``lower``/``upper`` (the bracketing
        sigma_w^2 values). Lines whose Monte Carlo ratio never changes sign
        are left out; a line that changes sign more than once keeps the
        crossing nearest the theory's.
    """
    cells = table[table["layer"] == 1]
    cells = cells[np.isfinite(cells["sigma_w2"])]
    rows = []
    for key, line in cells.groupby(_LINE_KEYS, sort=True):
        line = line.sort_values("sigma_w2")
        x = line["sigma_w2"].to_numpy()
        y = line["log_grad_ratio"].to_numpy()
        se = line["log_grad_ratio_se"].to_numpy()
        activation, sigma_b2, bias = key[0], key[1], key[2]
        theory = float(critical_sigma_w2(activation, sigma_b2, bias=bias))
        best = None
        for i in range(len(x) - 1):
            y1, y2 = y[i], y[i + 1]
            if not (np.isfinite(y1) and np.isfinite(y2)) or np.sign(y1) == np.sign(y2) or y1 == y2:
                continue
            x1, x2 = x[i], x[i + 1]
            root = x1 - y1 * (x2 - x1) / (y2 - y1)
            # d root / d y1 = -(x2 - x1) y2 / (y2 - y1)^2 and d root / d y2 = (x2 - x1) y1 / (y2 - y1)^2
            g1 = -(x2 - x1) * y2 / (y2 - y1) ** 2
            g2 = (x2 - x1) * y1 / (y2 - y1) ** 2
            root_se = math.hypot(g1 * se[i], g2 * se[i + 1])
            if best is None or abs(root - theory) < abs(best[0] - theory):
                best = (root, root_se, x1, x2)
        if best is None:
            continue
        rows.append(dict(zip(_LINE_KEYS, key)) | {
            "sigma_w2_mc": best[0], "sigma_w2_mc_se": best[1], "sigma_w2_critical": theory,
            "z": (best[0] - theory) / best[1] if best[1] > 0 else math.nan,
            "lower": best[2], "upper": best[3]})
    return pd.DataFrame(rows, columns=_LINE_KEYS + ["sigma_w2_mc", "sigma_w2_mc_se", "sigma_w2_critical", "z",
                                                    "lower", "upper"])


def extrapolate_crossings(crossings: pd.DataFrame) -> pd.DataFrame:
    """The crossing at infinite width: a weighted least-squares line in 1/width through each line's crossings.

    At finite width the Monte Carlo crossing sits O(1/n) below the mean-field
    line (tanh, sigma_b^2 = 0.05, depth 30, 2026-12-03: shifts -0.023,
    -0.014, -0.007 at widths 64, 128, 256), so a single width's z measures
    that shift, not the theory. Lines with crossings at 2 or more widths are
    fitted as sigma_w2(n) = sigma_w2_inf + a / n, weights 1/SE^2 (the widths'
    cells are independent streams).

    Returns
    -------
    pandas.DataFrame, one row per (activation, sigma_b2, bias, depth)
        ``widths`` (as "128,256"), ``sigma_w2_inf`` and its ``sigma_w2_inf_se``,
        ``sigma_w2_critical`` and ``z``.
    """
    keys = ["activation", "sigma_b2", "bias", "depth"]
    rows = []
    for key, line in crossings.groupby(keys, sort=True):
        line = line[np.isfinite(line["sigma_w2_mc_se"]) & (line["sigma_w2_mc_se"] > 0)]
        if line["width"].nunique() < 2:
            continue
        design = np.column_stack([np.ones(len(line)), 1.0 / line["width"].to_numpy(dtype=float)])
        weights = 1.0 / line["sigma_w2_mc_se"].to_numpy() ** 2
        normal = design.T @ (weights[:, None] * design)
        cov = np.linalg.inv(normal)
        coef = cov @ (design.T @ (weights * line["sigma_w2_mc"].to_numpy()))
        theory = float(line["sigma_w2_critical"].iloc[0])
        se = math.sqrt(cov[0, 0])
        rows.append(dict(zip(keys, key)) | {
            "widths": ",".join(str(int(w)) for w in sorted(line["width"])),
            "sigma_w2_inf": coef[0], "sigma_w2_inf_se": se, "sigma_w2_critical": theory,
            "z": (coef[0] - theory) / se})
    return pd.DataFrame(rows, columns=keys + ["widths", "sigma_w2_inf", "sigma_w2_inf_se", "sigma_w2_critical", "z"])
