"""Render a validation run into a results folder: CSV, JSON, Markdown, HTML and figures.

:func:`write_report` takes what :func:`mcbench.validation.runner.run_validation` returns
(or any object with the same attributes) and writes into one folder

* ``report.csv``  every comparison row, for machines (:func:`read_table` reads it back);
* ``run.json``    environment, per-check wall times, alpha, summary counts, figure status;
* ``report.md``   the human-readable report, summary first;
* ``report.html`` the same content, self-contained (figures embedded, inline CSS);
* ``fig_*.png``   figures, when matplotlib is installed (the ``plot`` extra).

The Markdown and the HTML are rendered from one list of document blocks, so
the two files cannot disagree about content. Figures are drawn with
matplotlib's object-oriented API on an Agg canvas rather than through
``pyplot``: nothing global (the backend, the list of open figures) is touched,
so a report can be written from a notebook, a CLI or a CI job alike.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mcbench.config import FINITE_WIDTH_SE_FRACTION, FULL_TABLE_MAX_ROWS, MIN_EFFECTIVE, WORST_ROWS
from mcbench.report.document import (
    MD_VERDICT,
    Bullets,
    Cards,
    Heading,
    Image,
    Table,
    Text,
    render_html,
    render_markdown,
)
from mcbench.report.figures import FIGURE_FILES, NO_MATPLOTLIB, is_empty, load_matplotlib, render_figures
from mcbench.report.format import MISSING, fmt_num, fmt_p, fmt_pm, fmt_z, format_frame, verdict_counts_text
from mcbench.validation.claims.checks import DERIVATION_UNRESOLVED, MONTE_CARLO
from mcbench.validation.compare import register_html_renderer
from mcbench.validation.stats import abs_z, summary_counts


def _title_blocks(env: dict) -> list:
    facts = [f"{label} `{env[key]}`" for key, label in
             (("suite", "suite"), ("network", "network"), ("theory", "theory"), ("n_networks", "networks"),
              ("n_inputs", "inputs per network"), ("seed", "RNG seed"), ("commit", "commit"))
             if env.get(key) is not None]
    if env.get("finished"):
        facts.append(f"finished {env['finished']}")
    blocks = [Heading(f"mcbench {'check' if env.get('command') == 'check' else 'validation'} report", 1)]
    if facts:
        blocks.append(Text("Run: " + ", ".join(facts) + "."))
    return blocks


def _summary_blocks(counts: dict, alpha: float, groups: dict) -> list:
    """The first screen: the verdict, the counts, the worst |z| (the rules come after the figures)."""
    n_fail = counts["fail"]
    if n_fail:
        status = f"FAIL: {n_fail} comparison{'s' if n_fail > 1 else ''} rejected at family-wise alpha = {alpha:g}"
    else:
        status = f"OK: no tested comparison is rejected at family-wise alpha = {alpha:g}"
    items = [f"**{counts['comparisons']} comparisons in {counts['checks']} check{'' if counts['checks'] == 1 else 's'}**: {verdict_counts_text(counts)}. "
             "A *check* is one named group of comparisons (a Gaussian, a seed formula, a network: the `check` "
             "column of report.csv) and a *comparison* one Monte Carlo estimate against its theory value"
             + (f"; the run executed {len(groups)} check group{'' if len(groups) == 1 else 's'}, the steps that "
                "`mcbench validate --list` lists and `--only` selects, each yielding one or more checks." if groups
                else ".")]
    worst = counts["worst"]
    if worst is None:
        items.append("Worst |z|: no tested comparison.")
    else:
        items.append(f"**Worst |z| {fmt_z(worst['abs_z'])}** among tested comparisons, at `{worst['check']}` "
                     f"{worst['quantity']} {worst['index']} (z = {fmt_z(worst['z'])}, "
                     f"p_holm = {fmt_p(worst['p_holm'])}, {MD_VERDICT.get(worst['verdict'], worst['verdict'])}); "
                     f"a normal-reference row needs |z| > {fmt_z(counts['holm_critical_z'])} to fail.")
    if counts["failing_checks"]:
        items.append("Failing checks: " + ", ".join(f"`{c}` ({n})" for c, n in counts["failing_checks"].items())
                     + ".")
    return [Heading("Summary"), Text(status, css="status " + ("fail" if n_fail else "ok")), Bullets(items)]


def _rules_blocks(counts: dict, alpha: float) -> list:
    rules = [
        "**z and p**: z = (estimate − theory) / SE; p is two-sided, from the normal distribution when the SE "
        "has an exact form (`dof` = inf), and from Student's t with `dof` degrees of freedom when the SE is "
        "estimated from `dof` + 1 independent replicates.",
        f"**Holm**: one step-down correction across the whole run (not per check), here over the "
        f"{counts['holm_family']} tested comparisons, so a correct build fails a run with probability at most "
        f"alpha = {alpha:g}; a row fails when its adjusted p (`p_holm`) is below alpha.",
        f"**underpowered** = fewer than {MIN_EFFECTIVE} informative samples, not tested (neither pass nor "
        "fail, and outside the Holm family).",
        "**finite-width** = a mean-field row whose predicted 1/n finite-width shift exceeds "
        f"{FINITE_WIDTH_SE_FRACTION:g} of its SE: mean-field cannot be expected to match at this width, so the "
        "row is shown but not tested (outside the Holm family, never a pass); the NLO row beside it is tested.",
        "**seed-erratum** = a formula of the source documents (seeds 000-004) as written, rejected by the data: "
        "the document is wrong, not the build, so it does not fail the run.",
    ]
    definitions = {"title": "What is compared", "verdict": "", "facts": {}, "formulas": {
        "z-score": r"z = (\hat\theta - \theta) / \mathrm{SE}(\hat\theta)",
        "forward variance (q-map)": r"q^{l} = \sigma_w^2\,\mathbb{E}[\phi(z^{l-1})^2] + \sigma_b^2",
        "gradient variance": r"\tilde q^{l} = \sigma_w^2\,\mathbb{E}[\phi'(z^{l})^2]\,\tilde q^{l+1}",
        "correlation (c-map)": r"c^{l} = q_{ab}^{l} / q^{l}",
    }}
    return [Heading("How to read the verdicts"), Bullets(rules), Cards([definitions])]


def _errata_blocks(errata) -> list:
    blocks = [Heading("Errata of the source documents (seeds 000-004)")]
    if is_empty(errata):
        return blocks + [Text("No seed claims were tested in this run.")]

    errs = errata["verdict"] == "seed-erratum"
    by_mc = int((errs & (errata["refuted_by"] == MONTE_CARLO)).sum())
    unresolved = int((errata["refuted_by"] == DERIVATION_UNRESOLVED).sum())
    blocks.append(Text(
        f"{len(errata)} seed claims examined, {int(errs.sum())} of them errata (the cards below show every claim, "
        f"errata and correct ones): {by_mc} refuted by this run's Monte Carlo (they are the rows counted as "
        f"seed-erratum in the summary), {int(errs.sum()) - by_mc} by derivation and quadrature "
        f"(statements and theory-level claims, whose Monte Carlo evidence, where any, is in the MLP checks"
        + (f"; and {unresolved} slip(s) too small for this run's Monte Carlo to resolve: another seed or "
           "a larger suite may or may not reject them" if unresolved else "")
        + "). Each card puts the seed's formula as written beside the corrected one; each z is "
        "(Monte Carlo − value) / SE. Claims the data cannot tell apart are in report.csv."))
    cards = []
    for _, e in errata.iterrows():
        cards.append({
            "title": f"`{e['claim']}`, seed {e['seed']}, {e['section']}",
            "verdict": str(e["verdict"]),
            "formulas": {"as written": str(e["as_written"]), "corrected": str(e["corrected"])},
            "facts": {"values (seed / corrected)": f"{fmt_num(e['seed_value'])} / {fmt_num(e['correct_value'])}",
                      "MC estimate ± SE": fmt_pm(e["estimate"], e["stderr"]),
                      "z (seed / corrected)": f"{fmt_z(e['z_seed'])} / {fmt_z(e['z_correct'])}",
                      "refuted by": str(e["refuted_by"]),
                      "why": "" if "note" not in e or pd.isna(e["note"]) else str(e["note"])},
        })
    return blocks + [Cards(cards)]


def _figure_blocks(outcomes, have_matplotlib: bool) -> list:
    blocks = [Heading("Figures")]
    if not have_matplotlib:
        return blocks + [Text(f"*{NO_MATPLOTLIB}*")]
    for o in outcomes:
        blocks.append(Heading(o.spec.title, 3))
        if o.png is None:
            blocks.append(Text(f"*{o.spec.filename} {o.note}.*"))
        else:
            blocks.append(Image(o.spec.filename, o.spec.title, o.spec.caption, o.png))
    return blocks


#: Columns of the per-check tables (``check`` is the section heading; seed_claim is in the CSV).
_CHECK_COLUMNS = ["quantity", "index", "theory", "estimate", "stderr", "dof", "n_eff", "z", "p", "p_holm",
                  "rel_err", "verdict"]
_VERDICT_RANK = {"fail": 0, "seed-erratum": 1, "pass": 2, "finite-width": 3, "underpowered": 4}


def _worst_first(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered fails first, then errata, passes, underpowered; within each by |z|, largest first.

    Ranking by verdict before |z| keeps a fail visible even when an untested
    (underpowered) row of the same check has a larger |z|.
    """
    absz = np.nan_to_num(abs_z(rows), nan=-1.0)
    rank = rows["verdict"].map(_VERDICT_RANK).fillna(len(_VERDICT_RANK)).to_numpy()
    return rows.iloc[np.lexsort((-absz, rank))]


def _check_blocks(table: pd.DataFrame, timings: dict, groups: dict) -> list:
    blocks = [Heading("Checks"), Text(
        f"One section per check, in run order. A check with more than {FULL_TABLE_MAX_ROWS} rows shows its "
        f"{WORST_ROWS} worst (fails first, then by |z|); report.csv has every row.")]
    if is_empty(table):
        return blocks + [Text("The run produced no comparisons.")]
    for check, rows in table.groupby("check", sort=False):
        counts = summary_counts(rows)
        facts = [f"{len(rows)} comparisons: {verdict_counts_text(counts, skip_zero=True)}"]
        if counts["worst"] is not None:
            facts.append(f"worst tested |z| {fmt_z(counts['worst']['abs_z'])}")
        group = next((g for g, names in groups.items() if check in names), None)
        if group is not None and group != check:
            facts.append(f"from check group `{group}`")
        if group is not None and len(groups[group]) > 1:
            facts.append(f"its group's wall time {fmt_num(timings[group], 3)} s for {len(groups[group])} checks")
        elif check in timings:
            facts.append(f"wall time {fmt_num(timings[check], 3)} s")
        elif group in timings:
            facts.append(f"wall time {fmt_num(timings[group], 3)} s")
        blocks += [Heading(f"{'**FAIL** ' if counts['fail'] else ''}`{check}`", 3), Text("; ".join(facts) + ".")]
        shown = rows
        if len(rows) > FULL_TABLE_MAX_ROWS:
            shown = _worst_first(rows).head(WORST_ROWS)
        blocks.append(Table(format_frame(shown, [c for c in _CHECK_COLUMNS if c in rows])))
        if len(shown) < len(rows):
            blocks.append(Text(f"*Showing the {len(shown)} worst of {len(rows)} rows; {len(rows) - len(shown)} "
                                "rows omitted, report.csv has all.*"))
    return blocks


def _info_blocks(info) -> list:
    """Tables that illustrate rather than test (finite-width gaps, drift depths)."""
    if not info:
        return []
    blocks = [Heading("Illustrations (not tested)"), Text(
        "These tables show what the theory predicts beyond the tested range, or how far a finite "
        "network is from its mean-field limit; they carry no verdict.")]
    for title, frame in info:
        blocks.append(Heading(title, 3))
        shown = frame.copy()
        for col in shown.columns:
            if pd.api.types.is_float_dtype(shown[col]):
                shown[col] = [fmt_num(v) for v in shown[col]]
        blocks.append(Table(shown.astype(str)))
    return blocks


def _environment_blocks(env: dict) -> list:
    def text(v):
        if isinstance(v, float):
            return fmt_num(v)
        return json.dumps(v) if isinstance(v, (dict, list, tuple)) else str(v)

    frame = pd.DataFrame({"key": list(env), "value": [text(v) for v in env.values()]})
    return [Heading("Environment"), Table(frame) if len(frame) else Text("No environment recorded.")]


def _timing_blocks(timings: dict, env: dict, groups: dict) -> list:
    unit = "check group" if groups else "check"
    blocks = [Heading(f"Wall time per {unit}")]
    if not timings:
        return blocks + [Text("No timings recorded.")]
    seconds = pd.Series(timings, dtype=float).sort_values(ascending=False)
    total = float(seconds.sum())
    line = f"Sum over {unit}s: {fmt_num(total, 3)} s"
    if isinstance(env.get("seconds"), (int, float)):
        line += f"; whole run: {fmt_num(env['seconds'], 3)} s"
    frame = pd.DataFrame({unit: seconds.index, **({"checks": [len(groups.get(g, [])) for g in seconds.index]}
                                                  if groups else {}),
                          "seconds": [fmt_num(s, 3) for s in seconds],
                          "share": [f"{100 * s / total:.1f} %" if total > 0 else MISSING for s in seconds]})
    return blocks + [Text(line + " (slowest first)."), Table(frame)]


# ------------------------------------------------------------------ I/O ---


def _json_safe(obj):
    """``obj`` with numpy scalars as Python ones and non-finite floats as strings/None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_table(path) -> pd.DataFrame:
    """Read a ``report.csv`` back with the types it was written with.

    ``index`` mixes layers ("3") and entries ("(0, 1)"); read naively, a check
    with only layers would come back as integers, so the label columns are
    forced to text.
    """
    return pd.read_csv(path, dtype={"check": str, "quantity": str, "index": str, "verdict": str})


def write_report(result, out_dir) -> dict[str, Path]:
    """Write a validation run's report files into ``out_dir``.

    Parameters
    ----------
    result : object
        Anything with the attributes of :class:`mcbench.validation.runner.ValidationResult`:
        ``table``, ``profiles``, ``finite_width``, ``errata`` (DataFrames, the
        last three possibly empty), ``env`` (dict), ``timings`` (check ->
        seconds) and ``alpha`` (Holm family-wise error rate).
    out_dir : path-like
        Folder to write into (created if missing).

    Returns
    -------
    dict
        ``csv``, ``json``, ``md``, ``html`` and one entry per figure written
        (keyed by file stem, e.g. ``fig_zscores``) -> path. Without matplotlib
        no figure is written and the reports say so (:data:`NO_MATPLOTLIB`).

    Examples
    --------
    >>> import tempfile
    >>> import mcbench
    >>> res = mcbench.run_validation("quick", only="relu/d1-standard", quiet=True)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = mcbench.write_report(res, folder)
    ...     all(p.exists() for p in paths.values())
    True
    >>> sorted(k for k in paths if not k.startswith("fig_"))
    ['csv', 'html', 'json', 'md']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, env, timings = result.table, dict(result.env or {}), dict(result.timings or {})
    counts = summary_counts(table, result.alpha)
    paths = {"csv": out_dir / "report.csv", "json": out_dir / "run.json", "md": out_dir / "report.md",
             "html": out_dir / "report.html"}

    table.to_csv(paths["csv"], index=False)

    mpl = load_matplotlib()
    outcomes = render_figures(result, out_dir, mpl) if mpl is not None else []
    for o in outcomes:
        if o.png is not None:
            paths[Path(o.spec.filename).stem] = out_dir / o.spec.filename

    figures = {o.spec.filename: o.note for o in outcomes} if mpl is not None else \
        {f: NO_MATPLOTLIB for f in FIGURE_FILES}
    run = {"env": env, "timings": timings, "alpha": result.alpha, "summary": counts, "figures": figures}
    groups = getattr(result, "groups", None)
    if groups:  # validation runs: check group -> the checks it yielded (docs/design.md#checks-and-check-groups)
        run["check_groups"] = groups
    paths["json"].write_text(json.dumps(_json_safe(run), indent=2, allow_nan=False) + "\n", encoding="utf-8")

    blocks = _report_blocks(result, counts, outcomes, mpl is not None)
    paths["md"].write_text(render_markdown(blocks), encoding="utf-8")
    paths["html"].write_text(render_html(blocks, _report_title(env)), encoding="utf-8")
    return paths


def _report_title(env: dict) -> str:
    kind = "check" if env.get("command") == "check" else "validation"
    return " ".join([f"mcbench {kind} report"] + [str(env[k]) for k in ("suite", "network", "finished") if env.get(k)])


def _report_blocks(result, counts: dict, outcomes, have_matplotlib: bool) -> list:
    env, timings = dict(result.env or {}), dict(result.timings or {})
    groups = dict(getattr(result, "groups", None) or {})  # validation runs: check group -> its checks
    return (_title_blocks(env) + _summary_blocks(counts, result.alpha, groups)
            + _figure_blocks(outcomes, have_matplotlib) + _errata_blocks(result.errata)
            + _rules_blocks(counts, result.alpha) + _check_blocks(result.table, timings, groups)
            + _info_blocks(getattr(result, "info", None)) + _environment_blocks(env)
            + _timing_blocks(timings, env, groups))


def report_html(result) -> str:
    """The self-contained ``report.html`` of ``result`` (as :func:`write_report` writes it), as text.

    Figures are drawn in memory and embedded; nothing is written.
    """
    mpl = load_matplotlib()
    outcomes = render_figures(result, None, mpl) if mpl is not None else []
    blocks = _report_blocks(result, summary_counts(result.table, result.alpha), outcomes, mpl is not None)
    return render_html(blocks, _report_title(dict(result.env or {})))


register_html_renderer(report_html)  # Comparison.to_html (the validation layer cannot import this one)
