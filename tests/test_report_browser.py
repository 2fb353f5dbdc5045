"""report.html of a small `mcbench check` run, rendered in headless Chromium (Playwright, system browser).

Skipped, with the reason, when Playwright or a Chromium binary is missing. Set MCBENCH_SCREENSHOT to a
path to save the first screen as PNG (results/example/report-first-screen.png is made this way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mcbench import cli

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                     "(pip install playwright; never `playwright install`: the system "
                                     "Chromium is used)")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary found (apt install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "run"
    rc = cli.main(["check", "--widths", "32,64x4,8", "--activation", "tanh", "--init", "xavier_normal",
                   "--bias", "normal:0.05", "--pair-correlation", "0.5", "--networks", "8", "--inputs", "32",
                   "--quiet", "--out", str(out)])
    assert rc == 0
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.goto((out / "report.html").as_uri())
        pg.wait_for_load_state("load")
        if os.environ.get("MCBENCH_SCREENSHOT"):
            pg.screenshot(path=os.environ["MCBENCH_SCREENSHOT"])
        yield pg
        browser.close()


def test_verdict_in_first_screen(page):
    box = page.locator("p.status").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900
    assert page.locator("p.status").inner_text().startswith("OK")


def test_no_horizontal_scrollbar(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_every_image_loads(page):
    images = page.locator("img")
    assert images.count() >= 2
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_sort_reorders_rows(page):
    table = page.locator("table.sortable").filter(has=page.locator("th", has_text="z")).first
    col = table.locator("th").all_inner_texts().index("z")

    def column():
        return [float(t) for t in table.locator(f"tbody tr td:nth-child({col + 1})").all_inner_texts()]

    before = column()
    table.locator("th").nth(col).click()
    after = column()
    assert after == sorted(before) and after != before
    table.locator("th").nth(col).click()
    assert column() == sorted(before, reverse=True)


def test_filter_hides_rows(page):
    box = page.locator("input.filter").first
    box.fill("no row contains this")
    assert page.evaluate("""() => { const t = document.querySelector('input.filter').parentNode
        .querySelector('table'); return Array.from(t.tBodies[0].rows).every(r => r.style.display === 'none'); }""")
    box.fill("")


def test_formulas_render(page):
    """Inline SVG formulas (the errata cards of validate use them; here, the check report's formula key)."""
    n = page.evaluate("document.querySelectorAll('.formula svg').length")
    assert n >= 1
    assert page.evaluate("Array.from(document.querySelectorAll('.formula svg'))"
                         ".every(s => s.getBoundingClientRect().width > 0)")
