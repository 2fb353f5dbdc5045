"""The ``mcbench`` command line."""

from __future__ import annotations

import argparse
import math
import os
import importlib.util
import time
import signal
import sys
import tomllib
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench._core.memory import available_bytes, format_bytes
from mcbench._core.threads import resolve_threads
from mcbench._io import atomic_directory
from mcbench._signals import Terminated, checkpoint, stop_requests_raise
from mcbench._version import __version__
from mcbench.config import (
    CHECK_MAX_INPUTS,
    CHECK_MEMORY_HEADROOM,
    CHECK_NETWORKS,
    CHECK_PILOT_NETWORKS,
    CHECK_SECONDS_PER_FLOP,
    CHECK_WORK,
    DEFAULT_ALPHA,
    NIGHTLY_ALPHA,
    NIGHTLY_BUSY_CORES,
    NIGHTLY_FACTOR,
    NIGHTLY_ROUNDS,
    PROFILE_NORMALS,
    PROFILE_PROBLEMS,
    SUITE_DURATIONS,
    SUITES,
    SWEEP_INPUTS,
    SWEEP_NETWORKS,
    SWEEP_PAIR_CORRELATION,
    SWEEP_SIGMA_B2,
)
from mcbench.env import provenance, utc_now
from mcbench.perf.nightly import (
    DASHBOARD_NAME,
    EXIT_REGRESSION,
    EXIT_VALIDATION_FAILED,
    HISTORY_NAME,
    nightly,
    refresh_dashboard,
    select_problems,
)
from mcbench.perf.profile import main as profile_main
from mcbench.report import format_summary_line, write_report
from mcbench.mc import mlp_propagation as mc_mlp
from mcbench.mc.mlp import mlp_flops, workspace_bytes
from mcbench.sweeps import cells as sweep_cells
from mcbench.sweeps import sweep
from mcbench.sweeps.analysis import extrapolate_crossings, gradient_zero_crossings
from mcbench.sweeps.engine import TABLE_NAME, dask_client, local_task_threads
from mcbench.sweeps.engine import check_arguments as check_sweep_arguments
from mcbench.sweeps.figures import draw_sweep_figures
from mcbench.spec import INIT_SCHEMES, MLPSpec, abrelu, activation_names, leaky_relu
from mcbench.validation.compare import THEORIES, compare
from mcbench.validation.runner import catalogue, run_validation
from mcbench.validation.stats import per_check_counts, summary_counts

DESCRIPTION = """\
mcbench: Monte Carlo benchmarks for signal propagation in random networks.

Parallel Numba kernels estimate the moments of ReLU(X) for Gaussian X and the
per-layer forward/backward variances of deep random MLPs; mcbench checks them
against closed-form theory (and against the seed documents' formulas as
written), with a standard error on every estimate and Holm-corrected verdicts.
"""

EXIT_USAGE = 2
#: An unexpected exception: its traceback is printed, and the code differs from every verdict's.
EXIT_CRASH = 4

EPILOG = f"""\
examples:
  mcbench validate                      quick validation ({SUITE_DURATIONS['quick']}; the first run compiles ~1 min more),
                                        report in results/
  mcbench validate --suite nightly      larger Monte Carlo sizes, deep nets against 1/n theory ({SUITE_DURATIONS['nightly']})
  mcbench nightly --out results/        validation + kernel timings + history + regression flags
  mcbench history --out results/        redraw results/history.html from results/history.csv
  mcbench profile relu_moments --d 64   where the time goes in one kernel
  mcbench check --widths 784,512x20,10 --activation tanh --init xavier_normal --bias normal:0.05
                                        your network: Monte Carlo against theory, layer by layer
  mcbench sweep --activation tanh --sigma-w2 0.5:4:36 --sigma-b2 0:0.3:16 --depth 30 --width 256 --dask-local 2
                                        the order-to-chaos phase diagram, on a local Dask cluster

exit codes: 0 all verdicts pass (seed errata and underpowered rows included), no kernel regressed;
            {EXIT_VALIDATION_FAILED} a validation comparison failed;
            {EXIT_USAGE} usage or input error (bad arguments, an unusable --out, a damaged history);
            {EXIT_REGRESSION} nightly: a kernel regressed (flagged SLOWER; SLOWER? on a busy machine does not count);
            130 / 143 interrupted (Ctrl-C) / terminated (SIGTERM): no partial output is left;
            anything else a crash ({EXIT_CRASH}: an unexpected error, traceback printed).
"""


def _bounded_int(text, minimum, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def _positive_int(text):
    return _bounded_int(text, 1, "a positive integer")


def _seed(text):
    return _bounded_int(text, 0, "a non-negative integer")


def _widths(text):
    """``784,512x20,10`` -> [784, 512, ..., 512, 10]."""
    widths = []
    for part in text.split(","):
        width, _, times = part.strip().partition("x")
        try:
            n, k = int(width), int(times) if times else 1
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be comma-separated widths, N or NxK, got {part!r}") from None
        if n < 1 or k < 1:
            raise argparse.ArgumentTypeError(f"widths and repeats must be >= 1, got {part!r}")
        widths += [n] * k
    if len(widths) < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 widths (input and one layer), got {text!r}")
    return widths


def _values(text):
    """``START:STOP:COUNT`` (evenly spaced, ends included) or ``a,b,c`` -> list of floats."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            count = int(count)
            if count < 1:
                raise ValueError
            # 12 significant digits: 0:0.3:13 gives 0.05, not linspace's 0.049999999999999996 (cells are keyed by value)
            values = [float(f"{v:.12g}") for v in np.linspace(float(start), float(stop), count)]
        else:
            values = [float(v) for v in text.split(",")]
        if not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be START:STOP:COUNT or a comma list of finite numbers, got {text!r}") \
            from None


def _int_values(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive integers, comma-separated, got {text!r}")
    return values


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _optional_float(text):
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or none, got {text!r}") from None


def _input_var(text):
    return "q_star" if text == "q_star" else _optional_float(text)


def _bias(text):
    if text == "zero":
        return "zero"
    kind, _, value = text.partition(":")
    try:
        if kind in ("normal", "constant"):
            return (kind, float(value))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be zero, normal:VAR or constant:VALUE, got {text!r}")


#: ``mcbench check --spec FILE.toml``: the keys a spec file may set -> (the flag it replaces, default).
#: Values take the flag's form (``bias = "normal:0.05"``), except that ``widths`` may also be a list of
#: integers and ``weight_var`` a list with one variance per layer.
CHECK_SPEC_KEYS = {
    "widths": ("--widths", None),
    "activation": ("--activation", "relu"),
    "init": ("--init", "he_normal"),
    "weight_var": ("--weight-var", None),
    "bias": ("--bias", "zero"),
    "input_var": ("--input-var", 1.0),
    "pair_correlation": ("--pair-correlation", None),
    "networks": ("--networks", None),
    "inputs": ("--inputs", None),
    "theory": ("--theory", "auto"),
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spec_value(key: str, value):
    """One value of a ``--spec`` file, in the form the flag's parser gives; ValueError (without the key) if bad."""
    try:
        if key == "widths":
            if isinstance(value, str):
                return _widths(value)
            if isinstance(value, list) and len(value) >= 2 and all(_is_int(w) and w >= 1 for w in value):
                return list(value)
            raise ValueError(f"must be a list of at least 2 integers >= 1 or a string like \"784,512x20,10\", "
                             f"got {value!r}")
        if key == "bias":
            if isinstance(value, str):
                return _bias(value)
            raise ValueError(f"must be a string: \"zero\", \"normal:VAR\" or \"constant:VALUE\", got {value!r}")
        if key in ("activation", "init", "theory"):
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {value!r}")
            if key == "theory" and value not in THEORIES:
                raise ValueError(f"must be one of {', '.join(THEORIES)}, got {value!r}")
            return value
        if key in ("networks", "inputs"):
            if _is_int(value) and value >= 1:
                return value
            raise ValueError(f"must be a positive integer, got {value!r}")
        if key == "weight_var":
            if _is_number(value) or (isinstance(value, list) and value and all(_is_number(v) for v in value)):
                return float(value) if _is_number(value) else [float(v) for v in value]
            raise ValueError(f"must be a number or a list of numbers (one per layer), got {value!r}")
        if _is_number(value):  # input_var, pair_correlation
            return float(value)
        raise ValueError(f"must be a number, got {value!r}")
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None


def read_check_spec(path: Path) -> dict:
    """The settings of a ``--spec`` TOML file, checked: ``{key: value}`` in the flags' parsed form.

    Raises
    ------
    ValueError
        The file is missing or not TOML, a key is unknown (named, with the
        known ones listed) or a value is bad (its key named).
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ValueError(f"--spec {path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--spec {path}: not valid TOML ({exc})") from None
    unknown = [key for key in data if key not in CHECK_SPEC_KEYS]
    if unknown:
        raise ValueError(f"--spec {path}: unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; known keys: {', '.join(CHECK_SPEC_KEYS)}")
    settings = {}
    for key, value in data.items():
        try:
            settings[key] = _spec_value(key, value)
        except ValueError as exc:
            raise ValueError(f"--spec {path}: key {key!r} {exc}") from None
    return settings


def resolve_check_options(args):
    """Merge ``--spec`` into ``args`` and fill in the defaults; ``args.source[key]`` names where each came from.

    Raises ValueError when a flag is given that the spec file also sets
    (naming both), or when neither gives the widths.
    """
    settings = read_check_spec(args.spec) if args.spec is not None else {}
    both = [key for key in settings if getattr(args, key) is not None]
    if both:
        flags = ", ".join(CHECK_SPEC_KEYS[key][0] for key in both)
        raise ValueError(f"{flags} conflict{'s' if len(both) == 1 else ''} with --spec {args.spec}, which sets "
                         f"{', '.join(both)} too: give each option either as a flag or in the file, not both")
    given = {key for key in CHECK_SPEC_KEYS if key in settings or getattr(args, key) is not None}
    args.source = {}
    for key, (flag, default) in CHECK_SPEC_KEYS.items():
        if key in settings:
            setattr(args, key, settings[key])
            args.source[key] = f"{key} (in --spec {args.spec})"
        else:
            args.source[key] = flag
            if getattr(args, key) is None:
                setattr(args, key, default)
    if args.widths is None:
        raise ValueError("no widths: give --widths n0,n1,...,nL or --spec FILE.toml with a widths key")
    if {"init", "weight_var"} <= given:
        raise ValueError(f"{args.source['init']} and {args.source['weight_var']} both set the weight variance: "
                         "give one of them")
    return args


def _add_common(p):
    p.add_argument("--seed", type=_seed, default=0, help="run seed, a non-negative integer (default 0); "
                                                        "same seed, same numbers")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="Numba threads (default: all cores, NUMBA_NUM_THREADS)")
    p.add_argument("--quiet", action="store_true", help="no progress line")




def _add_dask_options(p, tasks: str):
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--dask-local", type=_positive_int, default=None, metavar="N",
                        help=f"run the {tasks} as tasks on a new local Dask cluster of N worker processes (the "
                             "cores shared between them; pip install 'mcbench[dask]')")
    engine.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"run the {tasks} as tasks on the Dask cluster at ADDRESS, e.g. tcp://HOST:8786")


def _add_run_options(p, default_suite: str, suite_help: str):
    p.add_argument("--suite", choices=SUITES, default=default_suite, help=suite_help)
    p.add_argument("--only", default=None, metavar="TEXT",
                   help="run only the check groups whose name contains TEXT, e.g. relu/ or mlp/meanfield/tanh "
                        "(mcbench validate --list shows them; a group yields one or more of the report's checks)")




def profile_params(args) -> dict:
    """``prepare`` parameters from the ``mcbench profile`` arguments; options of the other kind are an error."""
    kind = "mlp" if args.kernel == "mlp_propagation" else "gaussian"
    other = "gaussian" if kind == "mlp" else "mlp"
    stray = [f"--{name}" for name in PROFILE_PROBLEMS[other] if getattr(args, name, None) is not None]
    if stray:
        raise ValueError(f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not apply to {args.kernel}; "
                         "its problem options are "
                         + ", ".join(f"--{name}" for name in PROFILE_PROBLEMS[kind]))
    params = {name: default if getattr(args, name, None) is None else getattr(args, name)
              for name, default in PROFILE_PROBLEMS[kind].items()}
    if kind == "gaussian" and params["n"] is None:
        params["n"] = max(1000, int(PROFILE_NORMALS // params["d"]))
    return params | {"dtype": args.dtype}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcbench", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mcbench {__version__} ({provenance()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser(
        "validate", help="run the validation checks and write a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run every check (ReLU moments on a catalogue of Gaussians, every seed claim, the MLP\n"
                    "propagation checks), compare Monte Carlo with theory, apply Holm's correction across\n"
                    "the run, and write report.csv, report.md, report.html, PNG figures and run.json.\n\n"
                    "Verdicts: pass; fail (exit code 1); seed-erratum (a seed formula as written, refuted by\n"
                    "the data: expected, shown beside the corrected formula); underpowered (fewer than\n"
                    "1000 informative samples: not tested).",
    )
    _add_run_options(v, "quick", ", ".join(f"{name} ({SUITE_DURATIONS[name]})" for name in SUITES) + "; default quick")
    v.add_argument("--out", type=Path, default=None,
                   help="output folder, must not exist (default: results/validate-SUITE-UTCSTAMP)")
    v.add_argument("--alpha", type=float, default=None,
                   help="family-wise error rate for Holm across the run (default 1e-3)")
    v.add_argument("--list", action="store_true",
                   help="list the check groups of --suite (those --only selects, if given) with what each "
                        "compares and why its sizes, and exit")
    _add_dask_options(v, "check groups")
    _add_common(v)

    n = sub.add_parser(
        "nightly", help="validation + kernel timings into results/, with regression flags",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the nightly validation suite and time each hot kernel interleaved with its\n"
                    "machine limit, round by round; write OUT/<UTC time>_<commit>/ atomically, append to\n"
                    "OUT/history.csv and redraw OUT/history.html. A kernel is flagged SLOWER when its median\n"
                    "fraction of limit (RNG, GEMM or scalar) worsened by more than --factor, a\n"
                    "one-sided Mann-Whitney test of the per-round values rejects at --alpha (Holm over the\n"
                    "kernels), and the drop exceeds the noise between the previous two runs. On a busy\n"
                    "machine (--busy-cores) a flag is SLOWER? and does not count (see docs/cli.md).\n\n"
                    "cron:  30 2 * * *  cd /path/to/mcbench && python -m mcbench nightly --out results/ --quiet",
        epilog="exit codes:" + EPILOG.split("exit codes:")[1],
    )
    n.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    n.add_argument("--compare-to", default=None, help="run id in the history to compare with "
                                                      "(default: the latest run on this machine)")
    n.add_argument("--factor", type=float, default=NIGHTLY_FACTOR,
                   help=f"slowdown of the median fraction of limit that a flag needs (default {NIGHTLY_FACTOR})")
    n.add_argument("--alpha", type=float, default=NIGHTLY_ALPHA,
                   help=f"level of the Mann-Whitney tests, Holm over the kernels (default {NIGHTLY_ALPHA})")
    n.add_argument("--busy-cores", type=float, default=NIGHTLY_BUSY_CORES,
                   help="cores busy with other processes (baseline or this run) above which a flag is only "
                        f"SLOWER? (default {NIGHTLY_BUSY_CORES})")
    n.add_argument("--repeat", type=_positive_int, default=NIGHTLY_ROUNDS,
                   help=f"timing rounds per kernel, each the kernel then its limit (default {NIGHTLY_ROUNDS})")
    _add_run_options(n, "nightly", "validation suite to run (default nightly)")
    n.add_argument("--skip-validation", action="store_true",
                   help="time the kernels only (e.g. to rerun a SLOWER? flag on a quiet machine)")
    n.add_argument("--kernels", default=None,
                   help="time only kernels whose name contains this text (default: all)")
    _add_common(n)

    c = sub.add_parser(
        "check", help="your network: Monte Carlo against theory per layer, with verdicts and a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run Monte Carlo on random networks of the given architecture and compare every layer's\n"
                    "q, qtilde, phi2, dphi2, wgrad_ms, norm-ratio moments (and c with --pair-correlation) with\n"
                    "theory: exact where the finite-width law holds, 1/n (NLO) for q, c and E[R^2], mean field\n"
                    "otherwise. Rows whose theory is not expected to match at this width are labelled\n"
                    "finite-width and not tested. Holm across the table; exit 1 on a failed comparison.",
    )
    c.add_argument("--spec", type=Path, default=None, metavar="FILE.toml",
                   help="read the network and the run sizes from a TOML file whose keys mirror the flags ("
                        + ", ".join(CHECK_SPEC_KEYS) + "); a flag that the file also sets is an error "
                        "(docs/examples/deep_tanh.toml)")
    # The options a --spec file may set default to None here, so that a flag given beside a file that
    # sets it too is seen (and refused); resolve_check_options fills in the defaults of CHECK_SPEC_KEYS.
    c.add_argument("--widths", type=_widths,
                   help="n0,n1,...,nL; NxK repeats width N K times, e.g. 784,512x20,10 "
                        "(required, unless --spec sets widths)")
    c.add_argument("--activation",
                   help="a registered activation (" + ", ".join(activation_names())
                        + "), leaky_relu[:SLOPE] or abrelu:A,B (a x for x<0, b x for x>0); default relu")
    c.add_argument("--register", type=Path, default=None, metavar="FILE.py",
                   help="run this Python file first (it calls mcbench.register_activation), so --activation "
                        "can name your own activation")
    c.add_argument("--init", help=f"weight init: {', '.join(INIT_SCHEMES)} (default he_normal)")
    c.add_argument("--weight-var", type=float, metavar="VAR",
                   help="Var(W_ij) of every layer, instead of --init (Gaussian weights)")
    c.add_argument("--bias", type=_bias,
                   help="zero (default), normal:VAR (Gaussian bias of variance VAR) or constant:VALUE")
    c.add_argument("--input-var", type=float, help="input x ~ N(0, VAR I) (default 1)")
    c.add_argument("--pair-correlation", type=float, default=None,
                   help="also compare the correlation c of an input pair with this correlation, in [-1, 1]")
    c.add_argument("--theory", choices=THEORIES, help="which theory (default auto: the best "
                                                      "that applies per quantity)")
    c.add_argument("--networks", type=_positive_int, default=None,
                   help=f"random networks, the replicates behind every SE (default {CHECK_NETWORKS})")
    c.add_argument("--inputs", type=_positive_int, default=None,
                   help="inputs per network (default: sized so the Monte Carlo takes ~4 s on one core)")
    c.add_argument("--precision", type=float, default=None,
                   help="target relative SE of q at the last layer; chooses --networks from a pilot run")
    c.add_argument("--alpha", type=float, default=None, help="family-wise error rate for Holm (default 1e-3)")
    c.add_argument("--out", type=Path, default=None,
                   help="output folder, must not exist (default: results/check-UTCSTAMP)")
    _add_common(c)
    w = sub.add_parser(
        "sweep", help="theory and Monte Carlo over a grid of networks: the order-to-chaos phase diagram",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For every cell of the grid (the product of the lists below) run the mean-field and 1/n\n"
                    "theory and a Monte Carlo of random MLPs of that width and depth, and write one row per\n"
                    "(cell, layer) to OUT/sweep.csv (and sweep.parquet with pyarrow): q, c, qtilde with SEs\n"
                    "and z, chi_1, q*, c*, xi_q, xi_c, and the log gradient ratio log(qtilde^1/qtilde^L).\n"
                    "Figures: the phase diagram over (sigma_w^2, sigma_b^2) with the critical line chi_1 = 1,\n"
                    "and the depth scale xi_c against sigma_w^2. Each cell's inputs start at its fixed point\n"
                    "q* (--input-var). Finished cells are kept in OUT/cells/: rerun the same command to resume.\n\n"
                    "Ranges: START:STOP:COUNT (COUNT evenly spaced values, both ends included) or a comma list.\n"
                    "Engine: here by default; --dask-local N starts N Dask worker processes, --scheduler\n"
                    "tcp://HOST:8786 uses a running cluster (pip install 'mcbench[dask]'); same numbers on all.",
        epilog="example:\n  mcbench sweep --activation tanh --sigma-w2 0.5:4:36 --sigma-b2 0:0.3:16 --depth 30 "
               "--width 256 --out results/sweep-tanh",
    )
    w.add_argument("--activation", type=_names, default=["tanh"],
                   help="activation(s), comma-separated (default tanh): " + ", ".join(activation_names()))
    weights = w.add_mutually_exclusive_group()
    weights.add_argument("--sigma-w2", type=_values, default=None, metavar="RANGE",
                         help="sigma_w^2 = width x Var(W) of Gaussian weights (default 0.5:4:8)")
    weights.add_argument("--init", type=_names, default=None,
                         help=f"init scheme(s) instead of --sigma-w2: {', '.join(INIT_SCHEMES)}")
    w.add_argument("--sigma-b2", type=_values, default=[SWEEP_SIGMA_B2], metavar="RANGE",
                   help=f"bias variance(s) (default {SWEEP_SIGMA_B2})")
    w.add_argument("--bias", choices=("normal", "constant"), default="normal",
                   help="normal: b ~ N(0, sigma_b^2) (default); constant: every b = sqrt(sigma_b^2)")
    w.add_argument("--depth", type=_int_values, default=[30], metavar="L[,L...]", help="depth(s) (default 30)")
    w.add_argument("--width", type=_int_values, default=[256], metavar="N[,N...]", help="width(s) (default 256)")
    w.add_argument("--networks", type=_positive_int, default=SWEEP_NETWORKS,
                   help=f"random networks per cell, the replicates behind every SE (default {SWEEP_NETWORKS})")
    w.add_argument("--inputs", type=_positive_int, default=SWEEP_INPUTS,
                   help=f"inputs per network, even (default {SWEEP_INPUTS})")
    w.add_argument("--pair-correlation", type=_optional_float, default=SWEEP_PAIR_CORRELATION,
                   help=f"correlation of each input pair, for c (default {SWEEP_PAIR_CORRELATION}; none: no c)")
    w.add_argument("--input-var", type=_input_var, default="q_star",
                   help="input variance: q_star (default; each cell starts at its fixed point) or a number")
    w.add_argument("--theory", choices=("nlo", "mean_field"), default="nlo",
                   help="nlo (default) adds the 1/n columns q_nlo, c_nlo; mean_field is ~2x faster")
    w.add_argument("--out", type=Path, default=None,
                   help="output folder; an existing one of the same sweep is resumed (default results/sweep-UTCSTAMP)")
    _add_dask_options(w, "cells")
    _add_common(w)

    h = sub.add_parser(
        "history", help="draw the nightly history as one offline HTML page",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="From OUT/history.csv draw, per kernel, throughput and fraction of limit against the run\n"
                    "(min-max band of the rounds, SLOWER flags marked); per check family the worst |z| and the\n"
                    "first run where a check began to fail; and list the regressions, newest first. Figures\n"
                    "need matplotlib (pip install 'mcbench[plot]'); without it the page has the tables only.",
    )
    h.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    h.add_argument("--html", type=Path, default=None, help=f"page to write (default OUT/{DASHBOARD_NAME})")
    h.add_argument("--factor", type=float, default=NIGHTLY_FACTOR, help="as for nightly, for the flags shown")
    h.add_argument("--alpha", type=float, default=NIGHTLY_ALPHA, help="as for nightly, for the flags shown")
    h.add_argument("--busy-cores", type=float, default=NIGHTLY_BUSY_CORES, help="as for nightly")

    p = sub.add_parser(
        "profile", help="where the time goes in one kernel, against this machine's limits",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Profile one hot kernel: compile time (cold and cached), run time split into\n"
                    "phases, normals/s and GFLOP/s against the RNG and GEMM limits measured on this\n"
                    "machine, scaling from 1 to N threads, and peak memory. Phase shares are of the\n"
                    "end-to-end time; the report warns when other processes kept the machine busy\n"
                    "while it timed, since its numbers are then distorted.",
    )
    p.add_argument("kernel", help="relu_moments, sample_mvn or mlp_propagation")
    # Problem options default to None here, so that one given for the other kind of kernel is
    # an error rather than silently ignored; PROFILE_PROBLEMS fills in the rest.
    d = PROFILE_PROBLEMS["gaussian"]
    p.add_argument("--d", type=_positive_int, help=f"relu_moments/sample_mvn: dimension (default {d['d']})")
    p.add_argument("--n", type=_positive_int, help="relu_moments/sample_mvn: samples (default: ~2e7 / d)")
    m = PROFILE_PROBLEMS["mlp"]
    p.add_argument("--width", type=_positive_int, help=f"mlp_propagation: width (default {m['width']})")
    p.add_argument("--depth", type=_positive_int, help=f"mlp_propagation: depth (default {m['depth']})")
    p.add_argument("--batch", type=_positive_int,
                   help=f"mlp_propagation: inputs per network (default {m['batch']})")
    p.add_argument("--activation", help=f"mlp_propagation: activation (default {m['activation']}): "
                                        f"{', '.join(activation_names())}")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="arithmetic dtype of the kernel (default float64)")
    p.add_argument("--threads", type=_positive_int, default=None, help="maximum threads for the scaling run")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-cold-compile", dest="cold_compile", action="store_false",
                   help="skip the cold-compile measurement (a fresh process with an empty cache, 10-20 s)")
    return parser


def _default_out(suite: str) -> Path:
    return Path("results") / f"validate-{suite}-{utc_now(for_path=True)}"


def cmd_validate(args) -> int:
    if args.list:
        return list_checks(args.only, args.suite)
    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    if not 0 < alpha < 1:
        raise ValueError(f"--alpha must lie in (0, 1), got {alpha}")
    out = args.out or _default_out(args.suite)
    # The output folder is made (hidden) before the run: one that cannot be written fails now, not after it.
    with atomic_directory(out) as tmp, dask_client(args.scheduler, args.dask_local) as client:
        result = run_validation(args.suite, seed=args.seed, threads=local_task_threads(args.dask_local, args.threads),
                                quiet=args.quiet, alpha=alpha, only=args.only, client=client)
        paths = write_report(result, tmp)
    summary = per_check_summary(result.table)
    print(summary.to_string(index=False) if len(summary) else
          "no comparison rows: the selected check groups set seed formulas side by side (see the errata table)")
    print(format_summary_line(summary_counts(result.table)))
    _print_report_location(out, paths)
    return 0 if result.ok else 1


def _print_report_location(out, paths, suffix: str = "") -> None:
    """Where the report is, and a note when its figures were skipped (no matplotlib)."""
    if not any(str(k).startswith("fig_") for k in paths):
        print("figures skipped (pip install 'mcbench[plot]')")
    print(f"report: {out / 'report.html'} (also report.md, report.csv, figures, run.json){suffix}")


def list_checks(only=None, suite=None) -> int:
    """Print the check groups (of ``suite``, containing ``only``, if given) and their descriptions."""
    checks = [c for c in catalogue() if (only is None or only in c.name) and (suite is None or suite in c.suites)]
    if not checks:
        raise ValueError(f"no check group of suite {suite} has a name containing {only!r}")
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.name:<{width}}  {c.description}")
    # Flush here, not at exit: into a closed pipe (| head) the error must reach main()'s handler; a
    # listing under the pipe buffer's 8 KB would otherwise fail at interpreter exit (code 120).
    sys.stdout.flush()
    return 0


def per_check_summary(table):
    """One line per check: rows and verdict counts, worst |z| among its pass/fail rows."""
    return per_check_counts(table).rename(columns={"seed-erratum": "erratum", "worst_abs_z": "worst|z|"}).round(
        {"worst|z|": 2})


def register_file(path: Path):
    """Import ``path`` as module ``mcbench_user_<stem>`` (importable by name, so Numba can cache its functions)."""
    name = f"mcbench_user_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)


def check_activation(text: str, name: str = "--activation"):
    """``--activation``: a registered name, ``leaky_relu[:SLOPE]`` or ``abrelu:A,B`` (``name`` says where it came from)."""
    act, _, params = text.partition(":")
    try:
        values = [float(v) for v in params.split(",")] if params else []
    except ValueError:
        raise ValueError(f"{name} {text!r}: parameters must be numbers") from None
    if act == "abrelu":
        if len(values) != 2:
            raise ValueError(f"{name} abrelu needs two slopes, abrelu:A,B; got {text!r}")
        return abrelu(*values)
    if act == "leaky_relu" and len(values) <= 1:
        return leaky_relu(*values)
    if act in activation_names() and not params:
        return act
    raise ValueError(f"{name} {text!r} is unknown; known: {', '.join(activation_names())}, "
                     "leaky_relu[:SLOPE], abrelu:A,B (or register your own with --register FILE.py)")


def spec_error_source(message: str, source: dict) -> str:
    """The option (flag or spec key) an MLPSpec error message is about, for its prefix."""
    for key in ("weight_var", "input_var", "widths", "bias"):
        if message.startswith(key):
            return source[key]
    return "the network"


def check_inputs(spec, args) -> int:
    """``--inputs``, or the default: as many as keep the Monte Carlo at ``CHECK_WORK`` multiply-adds."""
    macs = float(sum(a * b for a, b in zip(spec.widths[:-1], spec.widths[1:])))
    inputs = args.inputs or int(min(CHECK_MAX_INPUTS, max(2, CHECK_WORK / ((args.networks or CHECK_NETWORKS) * macs))))
    if args.pair_correlation is not None and inputs % 2 and args.inputs is None:
        inputs += 1
    return inputs


def check_resources(spec, args, networks: int, inputs: int, threads: int) -> dict:
    """Memory and time of a check's Monte Carlo, estimated before it starts.

    Memory: the workspace :func:`mcbench.mc.mlp.workspace_bytes` lays out
    (about threads x (one network's weights + its input block's buffers)) plus
    ``CHECK_MEMORY_HEADROOM``; time: ``mlp_flops`` x ``CHECK_SECONDS_PER_FLOP``
    over the networks in flight (the theory comes on top).

    Returns
    -------
    dict
        ``bytes``, ``seconds``, ``threads`` (networks in flight).

    Raises
    ------
    ValueError
        The estimate exceeds the available memory (MemAvailable), naming
        --widths, --networks and --threads; nothing has run.
    """
    where = f"{args.source['widths']} {spec.label().rsplit('/', 1)[1]}"
    try:
        ws = workspace_bytes(spec, networks, inputs, threads, pair_correlation=args.pair_correlation)
    except ValueError as exc:  # not even a 2-input block fits the per-network budget
        raise ValueError(f"{where}: {exc}") from None
    need = ws["total"] + CHECK_MEMORY_HEADROOM
    available = available_bytes()
    if available is not None and need > available:
        raise ValueError(
            f"{where} with {networks} networks ({args.source['networks']}) needs about {format_bytes(need)} of memory, "
            f"but {format_bytes(available)} is available: "
            + (f"{ws['slots']} networks in flight (one per thread) each hold" if ws["slots"] > 1 else
               "the network in flight holds")
            + f" {format_bytes(ws['weights'])} of weights and {format_bytes(ws['per_network'] - ws['weights'])} of "
            f"activations. Use narrower or fewer layers ({args.source['widths']}), or fewer threads (--threads; "
            f"{args.source['networks']} below the thread count also means fewer networks in flight)")
    seconds = mlp_flops(spec.widths, networks, inputs) * CHECK_SECONDS_PER_FLOP / ws["slots"]
    return {"bytes": need, "seconds": seconds, "threads": ws["slots"]}


def _duration(seconds: float) -> str:
    """``about 40 s``-style text of an estimate."""
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min" if seconds < 7200 else f"about {seconds / 3600:.1f} h"


def check_sizes(spec, args, seed) -> tuple[int, int]:
    """(n_networks, n_inputs) of ``mcbench check``: given, defaults sized by work, or from --precision."""
    networks = args.networks or CHECK_NETWORKS
    inputs = check_inputs(spec, args)
    if args.precision is not None and args.networks is None:
        # Pilot on its own stream (its numbers are discarded): SE(q^L) / q^L ~ 1 / sqrt(networks).
        pilot = mc_mlp(spec, CHECK_PILOT_NETWORKS, inputs, seed=np.random.SeedSequence([seed, 1]),
                       pair_correlation=args.pair_correlation, threads=args.threads)
        rel = float(pilot["q_se"].iloc[-1] / abs(pilot["q"].iloc[-1]))
        networks = max(2, math.ceil(CHECK_PILOT_NETWORKS * (rel / args.precision) ** 2))
    return networks, inputs


def cmd_check(args) -> int:
    args = resolve_check_options(args)
    name = args.source
    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    if not 0 < alpha < 1:
        raise ValueError(f"--alpha must lie in (0, 1), got {alpha}")
    if args.precision is not None and not 0 < args.precision < 1:
        raise ValueError(f"--precision must lie in (0, 1) (a relative SE), got {args.precision}")
    if args.pair_correlation is not None and not -1 <= args.pair_correlation <= 1:
        raise ValueError(f"{name['pair_correlation']} must lie in [-1, 1], got {args.pair_correlation}")
    if args.pair_correlation is not None and args.inputs is not None and args.inputs % 2:
        raise ValueError(f"{name['inputs']} must be even with {name['pair_correlation']} (pairs of inputs), "
                         f"got {args.inputs}")
    if args.register is not None:
        if not args.register.is_file():
            raise ValueError(f"--register {args.register}: no such file")
        register_file(args.register)
    if args.weight_var is None and args.init not in INIT_SCHEMES:
        raise ValueError(f"{name['init']} {args.init!r} is unknown; known: {', '.join(INIT_SCHEMES)}")
    activation = check_activation(args.activation, name["activation"])
    try:
        spec = MLPSpec(args.widths, activation, args.init, weight_var=args.weight_var, bias=args.bias,
                       input_var=args.input_var)
    except ValueError as exc:
        raise ValueError(f"{spec_error_source(str(exc), name)}: {exc}") from None
    # Memory before any work (a network too big for this machine is refused now, not after minutes of
    # theory); with --precision the pilot sets the networks later, and at most `threads` are in flight.
    threads = resolve_threads(args.threads)
    check_resources(spec, args, args.networks or (CHECK_NETWORKS if args.precision is None else
                                                  max(threads, CHECK_PILOT_NETWORKS)),
                    check_inputs(spec, args), threads)
    out = args.out or Path("results") / f"check-{utc_now(for_path=True)}"
    start = time.perf_counter()
    with atomic_directory(out) as tmp:
        networks, inputs = check_sizes(spec, args, args.seed)
        if not args.quiet:
            est = check_resources(spec, args, networks, inputs, threads)
            print(f"check {spec.label()}: {networks} networks x {inputs} inputs, theory {args.theory}; "
                  f"Monte Carlo {_duration(est['seconds'])} on {est['threads']} thread"
                  f"{'s' if est['threads'] > 1 else ''}, {format_bytes(est['bytes'])} of memory "
                  "(the theory comes on top; a first run compiles for ~1 min)...", file=sys.stderr, flush=True)
        result = compare(spec, n_networks=networks, n_inputs=inputs, seed=args.seed,
                         pair_correlation=args.pair_correlation, theory=args.theory, alpha=alpha,
                         threads=args.threads)
        paths = write_report(result, tmp)
    print(verdict_table(result.table).to_string(index=False))
    print(result.summary())
    worst = result.counts["worst"]
    print("worst |z|: " + ("no tested comparison" if worst is None else
                           f"{worst['abs_z']:.2f} ({worst['quantity']} at layer {worst['index']}, "
                           f"p_holm {worst['p_holm']:.2g}, {worst['verdict']})"))
    _print_report_location(out, paths, f"; wall time {time.perf_counter() - start:.1f} s")
    return 0 if result.ok else 1


def verdict_table(table):
    """One line per quantity: theory used, verdict counts, worst tested |z| and its layer."""
    rows = []
    for quantity, grp in table.groupby("quantity", sort=False):
        tested = grp[grp["verdict"].isin(("pass", "fail"))]
        worst = tested.loc[tested["z"].abs().idxmax()] if len(tested) and tested["z"].notna().any() else None
        rows.append({"quantity": quantity, "theory": ",".join(dict.fromkeys(grp["theory_source"])),
                     "layers": len(grp), **{v: int((grp["verdict"] == v).sum()) for v in
                                            ("pass", "fail", "finite-width", "underpowered")},
                     "worst|z|": round(abs(float(worst["z"])), 2) if worst is not None else float("nan"),
                     "at layer": worst["index"] if worst is not None else "-"})
    return pd.DataFrame(rows)


def cmd_nightly(args) -> int:
    problems = select_problems(args.kernels)
    return nightly(args.out, suite=args.suite, seed=args.seed, threads=args.threads,
                   compare_to=args.compare_to, factor=args.factor, repeat=args.repeat, quiet=args.quiet,
                   problems=problems, only=args.only, alpha=args.alpha, busy_cores=args.busy_cores,
                   validate=not args.skip_validation)


#: The sweep API's names for what the CLI calls flags, for its error messages.
SWEEP_FLAGS = {"grid column 'sigma_w2'": "--sigma-w2", "grid column 'sigma_b2'": "--sigma-b2",
               "grid column 'init'": "--init", "grid column 'width'": "--width", "grid column 'depth'": "--depth",
               "n_networks": "--networks", "n_inputs": "--inputs", "pair_correlation": "--pair-correlation",
               "input_var": "--input-var"}


def cmd_sweep(args) -> int:
    grid = {"activation": args.activation}
    if args.init is not None:
        grid["init"] = args.init
    else:
        grid["sigma_w2"] = args.sigma_w2 if args.sigma_w2 is not None else list(np.linspace(0.5, 4.0, 8))
    grid |= {"sigma_b2": args.sigma_b2, "width": args.width, "depth": args.depth}
    out = args.out or Path("results") / f"sweep-{utc_now(for_path=True)}"
    try:  # a bad grid or argument fails now, before a cluster starts, in the flags' words
        cells = sweep_cells(grid, bias=args.bias)
        check_sweep_arguments(args.networks, args.inputs, args.pair_correlation, args.seed, args.input_var,
                              args.theory)
    except ValueError as exc:
        message = str(exc)
        for api, flag in SWEEP_FLAGS.items():
            message = message.replace(api, flag)
        raise ValueError(message) from None
    if not args.quiet:
        print(f"sweep: {len(cells)} cells into {out} (a first run compiles the kernels for ~1 min)",
              file=sys.stderr)
    with dask_client(args.scheduler, args.dask_local) as client:
        table = sweep(grid, n_networks=args.networks, n_inputs=args.inputs, pair_correlation=args.pair_correlation,
                      seed=args.seed, client=client, out=out, input_var=args.input_var, theory=args.theory,
                      bias=args.bias, threads=local_task_threads(args.dask_local, args.threads), quiet=args.quiet)
    a = table.attrs
    print(f"sweep: {a['cells']} cells ({a['computed']} computed, {a['reused']} reused) x layers = {len(table)} rows "
          f"in {a['wall_seconds']:.1f} s ({a['engine']})")
    crossings = gradient_zero_crossings(table)
    if len(crossings):
        print("critical line: where the Monte Carlo gradient ratio log(qtilde^1/qtilde^L) changes sign along "
              "sigma_w^2 (interpolated between the cells lower and upper), against theory; z = (Monte Carlo - "
              "theory) / SE. At finite width it sits O(1/width) below (docs/theory.md, Sweeps):")
        print(crossings.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        limit = extrapolate_crossings(crossings)
        if len(limit):
            print("extrapolated to infinite width (a + b / width through the widths' crossings):")
            print(limit.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    figures = draw_sweep_figures(table, out)
    print(f"table: {out / TABLE_NAME}" + (f"; figures: {', '.join(figures)}" if figures else
                                         "; figures skipped (pip install 'mcbench[plot]')"
                                         if figures is None else ""))
    return 0


def cmd_history(args) -> int:
    if not (args.out / HISTORY_NAME).is_file():
        raise ValueError(f"--out {args.out}: no {HISTORY_NAME} there (mcbench nightly writes it)")
    print(refresh_dashboard(args.out, args.html, factor=args.factor, alpha=args.alpha, busy_cores=args.busy_cores))
    return 0


def cmd_profile(args) -> int:
    return profile_main(args, profile_params(args))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"validate": cmd_validate, "check": cmd_check, "nightly": cmd_nightly, "history": cmd_history,
               "profile": cmd_profile, "sweep": cmd_sweep}[args.command]
    # Python's default SIGTERM kills the process at once, skipping the cleanup that removes a
    # half-written output folder; as an exception it unwinds exactly as Ctrl-C does.
    try:
        with stop_requests_raise():
            checkpoint()  # a stop request that arrived while the package imported
            return handler(args)
    except (ValueError, FileExistsError) as exc:
        print(f"mcbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (mcbench validate --list | head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        kept = ("the finished cells are kept, each whole, in the output folder's cells/: rerun the same command "
                "to resume"
                if args.command == "sweep" else "no partial output was left behind")
        print(f"mcbench {args.command}: {'terminated' if terminated else 'interrupted'}; {kept}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except Exception:  # noqa: BLE001 - a crash must not read as exit code 1 (a failed comparison)
        traceback.print_exc()
        print(f"mcbench {args.command}: crashed (exit code {EXIT_CRASH}); the traceback above says where",
              file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
