"""Issue 16, part 3: the history dashboard renders in a real (headless) browser, offline.

Skipped, with the reason, where no Chromium is installed (Debian's
``/usr/bin/chromium``, or ``chromium``/``chromium-browser``/``google-chrome``
on PATH); it never downloads one.
"""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from mcbench.perf import dashboard
from mcbench.perf import nightly as nightly_mod

BROWSER = next((b for b in ("/usr/bin/chromium", *map(shutil.which, ("chromium", "chromium-browser",
                                                                      "google-chrome"))) if b and shutil.which(b)),
               None)


def _history(n_runs=5):
    rows = []
    for i in range(n_runs):
        base = {"run": f"2026-01-0{i + 1}T000000Z_c{i}", "date": f"2026-01-0{i + 1}T00:00:00Z", "commit": f"c{i}abcdef",
                "machine": "m", "cpu": "", "threads": 2}
        slow = 1.5 if i == n_runs - 1 else 1.0  # the last run is clearly slower
        fr = [0.8 / slow + 0.001 * j for j in range(7)]
        rows.append(base | {"kind": "kernel", "name": "relu_moments[d=16]", "median_s": 0.1 * slow, "min_s": 0.09,
                            "max_s": 0.11, "repeat": 7, "other_load_cores": 0.0, "unit": "normals_per_s",
                            "throughput": 1e8 / slow, "throughput_min": 0.9e8 / slow, "throughput_max": 1.1e8 / slow,
                            "limit": "rng", "fraction": fr[3], "fraction_min": fr[0], "fraction_max": fr[-1],
                            "rounds_s": ";".join(["0.1"] * 7), "rounds_fraction": ";".join(map(repr, fr))})
        rows.append(base | {"kind": "check", "name": "mlp/meanfield/tanh", "rows": 10, "fails": int(i >= 3),
                            "errata": 0, "underpowered": 0, "worst_abs_z": 2.0 + i, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_the_page_names_the_regression_and_the_first_failing_run():
    history = _history()
    flags = nightly_mod.history_flags(history, busy_cores=1e9)
    page, _ = dashboard.render_dashboard(history, flags, plots=False)
    assert "SLOWER" in page and "relu_moments[d=16]" in page
    first = dashboard.first_failing_runs(history)
    assert list(first["began"]) == ["2026-01-04T000000Z_c3"]  # the streak's first run, not the latest


def test_without_matplotlib_the_page_says_how_to_get_figures(monkeypatch):
    monkeypatch.setattr(dashboard, "load_matplotlib", lambda: None)
    page, note = dashboard.render_dashboard(_history(), None)
    assert "pip install &#x27;mcbench[plot]&#x27;" in page and "<img" not in page and note == dashboard.NO_PLOTS


@pytest.mark.skipif(BROWSER is None, reason="no Chromium found (/usr/bin/chromium, chromium, google-chrome)")
def test_the_dashboard_renders_in_headless_chromium(tmp_path):
    pytest.importorskip("matplotlib", reason="figures need matplotlib (pip install 'mcbench[plot]')")
    html = tmp_path / "history.html"
    dashboard.write_dashboard(_history(), nightly_mod.history_flags(_history(), busy_cores=1e9), html)
    page = html.read_text()
    assert page.count("<img") == 2 and "http" not in page.replace("http-equiv", "")  # offline: nothing fetched
    shot = tmp_path / "shot.png"
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert "Regressions, newest first" in dom.stdout and "SLOWER" in dom.stdout
    subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,900", html.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
