"""The ``mcbench`` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from mcbench._io import atomic_directory
from mcbench._signals import Terminated, checkpoint, stop_requests_raise
from mcbench._version import __version__
from mcbench.config import (
    DEFAULT_ALPHA,
    NIGHTLY_ALPHA,
    NIGHTLY_BUSY_CORES,
    NIGHTLY_FACTOR,
    NIGHTLY_ROUNDS,
    PROFILE_NORMALS,
    PROFILE_PROBLEMS,
    SUITE_DURATIONS,
    SUITES,
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
from mcbench.spec import activation_names
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
  mcbench validate                      quick validation (~30 s; the first run compiles ~1 min more),
                                        report in results/
  mcbench validate --suite nightly      larger Monte Carlo sizes (~1.5 min)
  mcbench nightly --out results/        validation + kernel timings + history + regression flags
  mcbench history --out results/        redraw results/history.html from results/history.csv
  mcbench profile relu_moments --d 64   where the time goes in one kernel

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


def _add_common(p):
    p.add_argument("--seed", type=_seed, default=0, help="run seed, a non-negative integer (default 0); "
                                                        "same seed, same numbers")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="Numba threads (default: all cores, NUMBA_NUM_THREADS)")
    p.add_argument("--quiet", action="store_true", help="no progress line")




def _add_run_options(p, default_suite: str, suite_help: str):
    p.add_argument("--suite", choices=SUITES, default=default_suite, help=suite_help)
    p.add_argument("--only", default=None, metavar="TEXT",
                   help="run only checks whose name contains TEXT, e.g. relu/ or mlp/meanfield/tanh "
                        "(mcbench validate --list shows the names)")




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
                   help="list the checks (those --only selects, if given) with what each compares, and exit")
    _add_common(v)

    n = sub.add_parser(
        "nightly", help="validation + kernel timings into results/, with regression flags",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the nightly validation suite and time each hot kernel interleaved with its\n"
                    "machine limit, round by round; write OUT/<UTC time>_<commit>/ atomically, append to\n"
                    "OUT/history.csv and redraw OUT/history.html. A kernel is flagged SLOWER when its median\n"
                    "fraction of limit (theory kernels: median seconds) worsened by more than --factor, a\n"
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
        return list_checks(args.only)
    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    if not 0 < alpha < 1:
        raise ValueError(f"--alpha must lie in (0, 1), got {alpha}")
    out = args.out or _default_out(args.suite)
    # The output folder is made (hidden) before the run: one that cannot be written fails now, not after it.
    with atomic_directory(out) as tmp:
        result = run_validation(args.suite, seed=args.seed, threads=args.threads, quiet=args.quiet,
                                alpha=alpha, only=args.only)
        write_report(result, tmp)
    summary = per_check_summary(result.table)
    print(summary.to_string(index=False) if len(summary) else
          "no comparison rows: the selected checks set seed formulas side by side (see the errata table)")
    print(format_summary_line(summary_counts(result.table)))
    print(f"report: {out / 'report.md'} (also report.html, report.csv, figures, run.json)")
    return 0 if result.ok else 1


def list_checks(only=None) -> int:
    """Print the check names (containing ``only``, if given) and their descriptions."""
    checks = [c for c in catalogue() if only is None or only in c.name]
    if not checks:
        raise ValueError(f"no check name contains {only!r}")
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.name:<{width}}  {c.description}")
    return 0


def per_check_summary(table):
    """One line per check: rows and verdict counts, worst |z| among its pass/fail rows."""
    return per_check_counts(table).rename(columns={"seed-erratum": "erratum", "worst_abs_z": "worst|z|"}).round(
        {"worst|z|": 2})


def cmd_nightly(args) -> int:
    problems = select_problems(args.kernels)
    return nightly(args.out, suite=args.suite, seed=args.seed, threads=args.threads,
                   compare_to=args.compare_to, factor=args.factor, repeat=args.repeat, quiet=args.quiet,
                   problems=problems, only=args.only, alpha=args.alpha, busy_cores=args.busy_cores,
                   validate=not args.skip_validation)


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
    handler = {"validate": cmd_validate, "nightly": cmd_nightly, "history": cmd_history,
               "profile": cmd_profile}[args.command]
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
        print(f"mcbench {args.command}: {'terminated' if terminated else 'interrupted'}; "
              "no partial output was left behind", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except Exception:  # noqa: BLE001 - a crash must not read as exit code 1 (a failed comparison)
        traceback.print_exc()
        print(f"mcbench {args.command}: crashed (exit code {EXIT_CRASH}); the traceback above says where",
              file=sys.stderr)
        return EXIT_CRASH


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
