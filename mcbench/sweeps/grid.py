"""The cells of a sweep: a grid of networks, each with a key and a seed that depend on nothing else.

A cell is one network family: activation, weights (an init scheme, or
sigma_w^2 with Gaussian weights of variance sigma_w^2 / width), bias
(sigma_b^2 and its kind), width and depth. Its *key* is a canonical string of
those values (floats in their shortest round-trip form), and its RNG seed is
``SeedSequence(seed, spawn_key=<four 32-bit words of sha256(key)>)``: a pure
function of (seed, key). Adding cells to a grid, reordering it or running it
on other machines changes no cell's numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import numbers

import numpy as np
import pandas as pd

from mcbench.config import SWEEP_SIGMA_B2
from mcbench.spec import INIT_SCHEMES, MLPSpec, get_activation

#: Columns of a cell, in key order; a grid may give any of them (the rest come from the defaults).
CELL_COLUMNS = ("activation", "init", "sigma_w2", "sigma_b2", "bias", "width", "depth")
#: Bias kinds: ``normal`` draws b ~ N(0, sigma_b^2); ``constant`` sets every b = +sqrt(sigma_b^2),
#: so E[b^2] = sigma_b^2 either way.
BIAS_KINDS = ("normal", "constant")


def _number(value, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"grid column {name!r} must hold finite numbers, got {value!r}")
    value = float(value)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"grid column {name!r} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def _integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"grid column {name!r} must hold integers >= {minimum}, got {value!r}")
    return int(value)


def _cell(raw: dict) -> dict:
    """One cell's values checked and normalised (every error names the grid column)."""
    act = raw["activation"]
    get_activation(act)  # unknown names fail here, naming the known ones
    init, sw2 = raw.get("init"), raw.get("sigma_w2")
    init = None if init is None or (isinstance(init, float) and math.isnan(init)) or init == "" else init
    sw2 = None if sw2 is None or (isinstance(sw2, float) and math.isnan(sw2)) else sw2
    if (init is None) == (sw2 is None):
        raise ValueError("each cell needs exactly one of the grid columns 'init' (a scheme) and 'sigma_w2' "
                         f"(Gaussian weights of variance sigma_w2 / width); got init={init!r}, sigma_w2={sw2!r}")
    if init is not None and init not in INIT_SCHEMES:
        raise ValueError(f"grid column 'init': unknown scheme {init!r}; known: {', '.join(INIT_SCHEMES)}")
    bias = raw["bias"]
    if bias not in BIAS_KINDS:
        raise ValueError(f"grid column 'bias' must be one of {', '.join(BIAS_KINDS)}, got {bias!r}")
    return {
        "activation": str(act),
        "init": "" if init is None else str(init),
        # sigma_w^2 = 0 cuts every layer from its input: no signal to propagate, and no fixed point
        "sigma_w2": math.nan if sw2 is None else _number(sw2, "sigma_w2", positive=True),
        "sigma_b2": _number(raw["sigma_b2"], "sigma_b2"),
        "bias": bias,
        "width": _integer(raw["width"], "width", 1),
        "depth": _integer(raw["depth"], "depth", 2),
    }


def cells(grid, *, depth=None, width=None, sigma_b2: float = SWEEP_SIGMA_B2, bias: str = "normal") -> pd.DataFrame:
    """The cells of ``grid``, checked, one row each, with their ``cell`` keys.

    Parameters
    ----------
    grid : dict of lists, or pandas.DataFrame
        A dict spans the Cartesian product of its lists (in the order given);
        a DataFrame lists cells row by row. Columns: ``activation``, and
        either ``init`` or ``sigma_w2``, and optionally ``sigma_b2``,
        ``bias`` (normal or constant), ``width``, ``depth``.
    depth, width : int, optional
        The default depth L and width n of cells whose grid does not give
        them (every cell needs both).
    sigma_b2 : float
        Default bias variance (0.05).
    bias : {"normal", "constant"}
        Default bias kind.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell`` (the key) and :data:`CELL_COLUMNS`; ``init`` is ""
        for sigma_w2 cells and ``sigma_w2`` is NaN for init cells.

    Raises
    ------
    ValueError
        An unknown column, an empty grid, a cell without a width or depth, a
        bad value (the message names the column), or the same cell twice.

    Examples
    --------
    >>> from mcbench.sweeps.grid import cells
    >>> c = cells({"activation": ["tanh"], "sigma_w2": [1.0, 2.0], "sigma_b2": [0.05]}, depth=10, width=64)
    >>> c["cell"].tolist()
    ['tanh|sigma_w2=1.0|sigma_b2=0.05|normal|width=64|depth=10', 'tanh|sigma_w2=2.0|sigma_b2=0.05|normal|width=64|depth=10']
    """
    if isinstance(grid, pd.DataFrame):
        rows = grid.to_dict("records")
        given = set(grid.columns)
    elif isinstance(grid, dict):
        given = set(grid)
        lists = {}
        for name, values in grid.items():
            values = [values] if isinstance(values, (str, numbers.Number)) else list(values)
            if not values:
                raise ValueError(f"grid column {name!r} is empty")
            lists[name] = values
        rows = [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]
    else:
        raise ValueError(f"grid must be a dict of lists or a pandas.DataFrame, got {type(grid).__name__}")
    unknown = given - set(CELL_COLUMNS)
    if unknown:
        raise ValueError(f"unknown grid column(s) {', '.join(map(repr, sorted(unknown)))}; "
                         f"known: {', '.join(CELL_COLUMNS)}")
    if "activation" not in given:
        raise ValueError("the grid needs an 'activation' column")
    if not rows:
        raise ValueError("the grid has no cells")
    defaults = {"sigma_b2": sigma_b2, "bias": bias, "width": width, "depth": depth}
    out = []
    for row in rows:
        full = {**defaults, **row}
        for name in ("width", "depth"):
            if full[name] is None:
                raise ValueError(f"no {name} for the cells: give a grid column {name!r} or the {name}= argument")
        cell = _cell(full)
        out.append({"cell": cell_key(cell), **cell})
    frame = pd.DataFrame(out, columns=("cell",) + CELL_COLUMNS)
    dup = frame["cell"].duplicated()
    if dup.any():
        raise ValueError(f"the grid lists cell {frame['cell'][dup].iloc[0]!r} more than once")
    return frame


def cell_key(cell: dict) -> str:
    """The canonical key of a cell: every value that defines the network, floats as ``repr`` writes them."""
    weights = f"init={cell['init']}" if cell["init"] else f"sigma_w2={float(cell['sigma_w2'])!r}"
    return (f"{cell['activation']}|{weights}|sigma_b2={float(cell['sigma_b2'])!r}|{cell['bias']}"
            f"|width={int(cell['width'])}|depth={int(cell['depth'])}")


def cell_seed(seed: int, key: str) -> np.random.SeedSequence:
    """The RNG stream of cell ``key`` in a sweep with ``seed``: a pure function of the two."""
    digest = hashlib.sha256(key.encode()).digest()
    words = tuple(int.from_bytes(digest[4 * i:4 * i + 4], "little") for i in range(4))
    return np.random.SeedSequence(int(seed), spawn_key=words)


def cell_spec(cell, input_var: float = 1.0) -> MLPSpec:
    """The :class:`MLPSpec` of a cell (constant width, ``depth`` weight layers)."""
    width, depth = int(cell["width"]), int(cell["depth"])
    sb2 = float(cell["sigma_b2"])
    if sb2 == 0.0:
        bias = "zero"
    elif cell["bias"] == "normal":
        bias = ("normal", sb2)
    else:
        bias = ("constant", math.sqrt(sb2))
    if cell["init"]:
        return MLPSpec([width] * (depth + 1), cell["activation"], cell["init"], bias=bias, input_var=input_var)
    return MLPSpec([width] * (depth + 1), cell["activation"], weight_var=float(cell["sigma_w2"]) / width,
                   bias=bias, input_var=input_var)
