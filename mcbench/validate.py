"""Validation runs: every check, Monte Carlo against theory, in one honest table.

A *check* runs Monte Carlo kernels and the matching closed forms and returns
comparison rows (see :mod:`mcbench.stats`). :func:`run_validation` runs the
checks of a suite, applies Holm's correction across the whole run and returns
a :class:`ValidationResult`, which :mod:`mcbench.report` renders.

Each check draws from its own stream, derived from (run seed, check name), so
adding or reordering checks never changes another check's numbers.
"""

from __future__ import annotations

import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from . import stats as _stats
from .env import environment, utc_now
from ._signals import checkpoint
from .progress import Progress

SUITES = ("quick", "nightly", "full")


@dataclass(frozen=True)
class SuiteConfig:
    """Monte Carlo sizes of a suite. ``scale`` multiplies every sample count."""

    name: str
    relu_samples: int
    mlp_networks: int
    mlp_inputs: int
    mlp_width: int
    mlp_depth: int


# Sizes: the quick suite takes ~30 s on 2 cores (warm cache); nightly ~1.5 min;
# full ~52 min. Mean-field theory is the limit width -> infinity at
# fixed depth, and its finite-width corrections grow with depth/width (for
# the c-map of a ReLU/Xavier net at depth 20: 0.896, 0.934, 0.949 at widths 64,
# 256, 1024 against 0.952; for gelu/He at depth 20, c0 = 0.5: 0.43, 0.48, 0.56
# at widths 128, 512, 2048 against 0.667, confirmed by a plain-numpy Monte
# Carlo: tests/studies/gelu_cmap_finite_width.py), and they compound through
# the backward pass (silu, He init, depth 12: Monte Carlo qtilde at layer 1 is
# 2.72, 1.29, 1.04 x the mean-field value at widths 128, 512, 1536). A nightly run at depth 20, width 256 rejected
# mean-field c at up to 11 SE, and one at depth 12, width 512 rejected silu/He
# qtilde at 7 SE. The bias in units of the standard error grows like
# depth / width * sqrt(networks * inputs * width) = depth * sqrt(networks *
# inputs / width): 17 for quick, 24 for nightly (worst |z| 4.7 over 4,194
# comparisons, none failing). The full suite keeps that figure at 24 and spends
# its extra time on width and on the ReLU-moment sample size, so a correct
# build passes it too; deeper nets are for the finite-width studies, not for a
# pass/fail against mean-field theory.
SUITE_CONFIGS = {
    "quick": SuiteConfig("quick", relu_samples=200_000, mlp_networks=16, mlp_inputs=128, mlp_width=256,
                         mlp_depth=6),
    "nightly": SuiteConfig("nightly", relu_samples=4_000_000, mlp_networks=32, mlp_inputs=256,
                           mlp_width=512, mlp_depth=6),
    "full": SuiteConfig("full", relu_samples=40_000_000, mlp_networks=64, mlp_inputs=512,
                        mlp_width=2048, mlp_depth=6),
}


@dataclass
class CheckOutput:
    """What one check produces: comparison batches and optional figure data."""

    rows: list = field(default_factory=list)
    profiles: list = field(default_factory=list)
    finite_width: list = field(default_factory=list)
    errata: list = field(default_factory=list)
    info: list = field(default_factory=list)  # (title, DataFrame): shown in the report, not tested


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[SuiteConfig, np.random.SeedSequence], CheckOutput]
    cost: float = 1.0  # relative wall time, for the progress bar's ETA
    description: str = ""


@dataclass
class ValidationResult:
    table: pd.DataFrame
    profiles: pd.DataFrame
    finite_width: pd.DataFrame
    errata: pd.DataFrame
    info: list
    env: dict
    timings: dict
    alpha: float

    @property
    def n_fail(self) -> int:
        return int((self.table["verdict"] == "fail").sum())

    @property
    def ok(self) -> bool:
        return self.n_fail == 0


def check_seed(seed, name: str) -> np.random.SeedSequence:
    """The stream of check ``name`` in a run with ``seed``: independent of the catalogue's order."""
    return np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))


# ------------------------------------------------------------ ReLU checks ---


def _spd(d, rng, jitter=0.05):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + jitter * np.eye(d)


def relu_cases():
    """The fixed catalogue of (name, mean, cov) for the ReLU-moment checks."""
    rng = np.random.default_rng(20261123)
    corr = lambda r: np.array([[1.0, r], [r, 1.0]])  # noqa: E731
    u, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    near_singular = (u * np.array([2.0, 1.0, 0.5, 0.3, 0.1, 1e-7])) @ u.T
    b = rng.standard_normal((5, 3))
    return [
        ("relu/d1-standard", np.zeros(1), np.ones((1, 1))),
        ("relu/d1-shifted", np.array([0.7]), np.array([[2.0]])),
        ("relu/zero-mean-d4", np.zeros(4), _spd(4, rng)),
        ("relu/nonzero-mean-d8", rng.standard_normal(8), _spd(8, rng)),
        ("relu/corr+0.99", np.array([0.3, -0.2]), corr(0.99)),
        ("relu/corr-0.99", np.array([0.5, 0.4]), corr(-0.99)),
        ("relu/corr+1", np.array([0.5, 0.2]), np.array([[1.0, 2.0], [2.0, 4.0]])),
        ("relu/corr-1", np.array([0.1, 0.3]), np.array([[1.0, -1.0], [-1.0, 1.0]])),
        ("relu/near-singular-d6", 0.3 * rng.standard_normal(6), 0.5 * (near_singular + near_singular.T)),
        ("relu/rank3-d5", rng.standard_normal(5), b @ b.T),
        ("relu/zero-variance", np.array([1.5, -0.5, 0.2]), np.diag([0.0, 0.0, 1.0])),
        ("relu/deep-tail", np.array([-4.0, -2.0, 1.0]), np.eye(3)),
        ("relu/large-mean", np.array([30.0, -30.0, 5.0]), np.eye(3)),
        ("relu/d16", 0.5 * rng.standard_normal(16), _spd(16, rng)),
        ("relu/d64", 0.5 * rng.standard_normal(64), _spd(64, rng)),
    ]


def relu_comparison(name, mean, cov, n_samples, seed, dtype=np.float64):
    """Comparison rows of one ReLU-moment case: mean (d) and the lower triangle of cov."""
    from .mc import relu_moments as mc_relu
    from .theory import relu_moments as exact_relu

    res = mc_relu(mean, cov, n_samples, seed=seed, dtype=dtype)
    exact_mean, exact_cov = exact_relu(mean, cov)
    d = len(exact_mean)
    ii, jj = np.tril_indices(d)
    return [
        _stats.comparison_rows(name, "mean", range(d), exact_mean, res.mean, res.mean_se,
                               n_eff=res.n_positive),
        _stats.comparison_rows(name, "cov", [f"({i}, {j})" for i, j in zip(ii, jj)], exact_cov[ii, jj],
                               res.cov[ii, jj], res.cov_se[ii, jj], dof=res.cov_se_dof,
                               n_eff=np.minimum(res.n_positive[ii], res.n_positive[jj])),
    ]


def _relu_check(name, mean, cov):
    def run(cfg: SuiteConfig, seed):
        n = cfg.relu_samples if len(mean) <= 16 else max(cfg.relu_samples // 4, 50_000)
        return CheckOutput(rows=relu_comparison(name, mean, cov, n, seed))

    return Check(name, run, cost=1.0 if len(mean) <= 16 else 3.0,
                 description=f"ReLU moments, d={len(mean)}: Monte Carlo vs exact closed form")


# --------------------------------------------------------------- registry ---


def catalogue() -> list[Check]:
    """Every check of a run, in order (the same for every suite; the suite sets the sizes).

    MLP and seed-claim checks live in their modules."""
    from . import validate_claims, validate_mlp  # they build on Check, defined here

    return [_relu_check(*case) for case in relu_cases()] + validate_claims.checks() + validate_mlp.checks()


def warm_up():
    """Compile (first run) or load from the disk cache every kernel the checks use.

    Done before the progress line starts, so its ETA is not extrapolated from
    a step that happened to include a one-off compilation.
    """
    from .mc import mlp_propagation, relu_moments
    from .sampling import sample_mvn
    from .spec import MLPSpec
    from .theory import norm_cdf
    from .theory import relu_moments as exact_relu
    from .theory.mlp import mlp_propagation as theory_mlp

    steps = [
        lambda: relu_moments([0.0, 0.0], np.eye(2), 256),
        lambda: sample_mvn([0.0, 0.0], np.eye(2), 64),  # the seed-claim checks sample through it
        lambda: exact_relu([0.5, -0.5], [[1.0, 0.5], [0.5, 1.0]]),
        lambda: norm_cdf([0.0]),  # the seed claims' one-dimensional formulas
    ]
    # phi arrives as a function pointer, so the kernel compiles once per backward-store dtype, not
    # per activation: a one-byte mask (relu, and linear, which stores nothing) or phi'(z) (tanh and
    # every other activation). The theory maps differ: closed forms for relu, quadrature for tanh.
    for act in ("relu", "tanh"):
        spec = MLPSpec([4, 4, 4], act, "he_normal")
        steps += [lambda spec=spec: mlp_propagation(spec, 2, 4, pair_correlation=0.5),
                  lambda spec=spec: theory_mlp(spec, pair_correlation=0.5)]
    for step in steps:
        checkpoint()  # a first run compiles for about a minute: stop between kernels when asked
        step()


def run_validation(suite: str = "quick", seed: int = 0, threads=None, *, quiet: bool = False,
                   alpha: float = _stats.DEFAULT_ALPHA, only=None) -> ValidationResult:
    """Run a suite's checks and return the Holm-corrected table and figure data.

    Parameters
    ----------
    suite : {"quick", "nightly", "full"}
        quick: about 30 s on 2 cores (after the first, compiling, run);
        nightly: about 1.5 minutes; full: width 2048, about 52 minutes.
    seed : int
        Run seed; check ``name`` uses the stream :func:`check_seed` (seed, name).
    threads : int, optional
        Numba threads (default: all).
    quiet : bool
        No progress line.
    alpha : float
        Family-wise error rate for Holm across the whole run.
    only : str, optional
        Run only checks whose name contains this substring.
    """
    from ._threads import numba_threads, resolve_threads

    threads = resolve_threads(threads)  # a bad count fails now, not after the warm-up
    if suite not in SUITE_CONFIGS:
        raise ValueError(f"suite must be one of {', '.join(SUITES)}, got {suite!r}")
    cfg = SUITE_CONFIGS[suite]
    checks = [c for c in catalogue() if only is None or only in c.name]
    if not checks:
        raise ValueError(f"no check name contains {only!r}")
    started = utc_now()
    t0 = time.perf_counter()
    if not quiet:
        print(f"validate[{suite}]: loading the compiled kernels (compiling them takes ~1 min on a first run)...",
              file=sys.stderr, flush=True)
    warm_up()
    progress = Progress([c.cost for c in checks], quiet=quiet, label=f"validate[{suite}]")
    outputs, timings = [], {}
    with numba_threads(threads):
        for check in checks:
            checkpoint()  # a Ctrl-C or SIGTERM that arrived while a kernel compiled or loaded
            progress.begin(check.name)
            start = time.perf_counter()
            outputs.append(check.run(cfg, check_seed(seed, check.name)))
            timings[check.name] = time.perf_counter() - start
            progress.end()
        progress.close()
        env = environment(seed=seed, suite=suite, started=started, finished=utc_now(),
                          seconds=time.perf_counter() - t0, check_runs=len(checks))

    def gather(attr):
        frames = [f for out in outputs for f in getattr(out, attr)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    from .validate_claims import errata_verdicts

    table = _stats.finalize(gather("rows"), alpha=alpha)
    return ValidationResult(table=table, profiles=gather("profiles"), finite_width=gather("finite_width"),
                            errata=errata_verdicts(gather("errata"), table), info=[i for out in outputs for i in out.info], env=env, timings=timings, alpha=alpha)
