"""The types a validation check is made of: nothing here runs a check.

Two units, as docs/design.md#checks-and-check-groups defines them: a *check*
is one named group of comparisons, the ``check`` column of the table (one
Gaussian, one seed formula, one network); a *check group* (a :class:`Check`
of the catalogue) is what runs as one step: what ``mcbench validate --list``
lists, ``--only`` selects and the progress line counts. A check group runs
Monte Carlo kernels and the matching closed forms and returns a
:class:`CheckOutput`: comparison rows (see :mod:`mcbench.validation.stats`)
for one or more checks (none where a seed claim is settled by derivation
alone) and data for figures and tables. The runner gathers the outputs of a
suite into a :class:`ValidationResult`, which :mod:`mcbench.report` renders.

Each check group draws from its own stream, derived from (RNG seed, group
name) by :func:`check_seed`, so adding or reordering groups never changes
another group's numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from mcbench.config import SUITES, SuiteConfig


@dataclass
class CheckOutput:
    """What one check produces: comparison batches and optional figure data."""

    rows: list = field(default_factory=list)
    profiles: list = field(default_factory=list)
    finite_width: list = field(default_factory=list)
    nlo_gap: list = field(default_factory=list)  # the finite-width gap against 1/width (figure data)
    errata: list = field(default_factory=list)
    info: list = field(default_factory=list)  # (title, DataFrame): shown in the report, not tested


@dataclass(frozen=True)
class Check:
    """A check group: one step of a run, yielding the comparison rows of one or more checks."""

    name: str
    run: Callable[[SuiteConfig, np.random.SeedSequence], CheckOutput]
    cost: float = 1.0  # relative wall time, for the progress bar's ETA
    description: str = ""
    suites: tuple = SUITES  # the suites that run it


@dataclass
class ValidationResult:
    table: pd.DataFrame
    profiles: pd.DataFrame
    finite_width: pd.DataFrame
    nlo_gap: pd.DataFrame
    errata: pd.DataFrame
    info: list
    env: dict
    timings: dict  # check group -> wall seconds
    alpha: float
    groups: dict = field(default_factory=dict)  # check group -> the checks (table names) it yielded, in order

    @property
    def n_fail(self) -> int:
        return int((self.table["verdict"] == "fail").sum())

    @property
    def ok(self) -> bool:
        return self.n_fail == 0


def check_seed(seed, name: str) -> np.random.SeedSequence:
    """The stream of check ``name`` in a run with ``seed``: independent of the catalogue's order."""
    return np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))
