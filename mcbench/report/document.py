"""A report is a list of blocks; each renders itself as Markdown and as HTML.

The Markdown and the HTML are rendered from one list of blocks, so the two
files cannot disagree about content. Text uses a tiny inline markup
(**bold**, *italic*, `code`) valid in both.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field

import pandas as pd

from mcbench.validation.stats import VERDICTS


def inline_html(text: str) -> str:
    # Quotes need no escaping outside attributes; keeping them makes the text greppable.
    s = html.escape(text, quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", s)


@dataclass
class Heading:
    text: str
    level: int = 2

    def markdown(self):
        return "#" * self.level + " " + self.text

    def html(self):
        return f"<h{self.level}>{inline_html(self.text)}</h{self.level}>"


@dataclass
class Text:
    text: str
    css: str = ""

    def markdown(self):
        return self.text

    def html(self):
        cls = f' class="{self.css}"' if self.css else ""
        return f"<p{cls}>{inline_html(self.text)}</p>"


@dataclass
class Bullets:
    items: list

    def markdown(self):
        return "\n".join(f"- {item}" for item in self.items)

    def html(self):
        return "<ul>\n" + "\n".join(f"<li>{inline_html(item)}</li>" for item in self.items) + "\n</ul>"


#: Verdict cells as shown; fails must be impossible to miss in plain text.
MD_VERDICT = {"fail": "**FAIL**", "seed-erratum": "*seed-erratum*"}
_NUMERIC_CELL = re.compile(r"^[-+]?(\d|\.\d|inf$|—$)")


@dataclass
class Table:
    """Cells already formatted as text; a ``verdict`` column, if any, decorates its rows."""

    frame: pd.DataFrame

    def _verdicts(self):
        return list(self.frame["verdict"]) if "verdict" in self.frame else [""] * len(self.frame)

    def markdown(self):
        def cell(text):
            return str(text).replace("|", "\\|").replace("\n", " ")

        rows = [[cell(c) for c in self.frame.columns]]
        for values, verdict in zip(self.frame.itertuples(index=False), self._verdicts()):
            rows.append([MD_VERDICT.get(verdict, cell(v)) if col == "verdict" else cell(v)
                         for col, v in zip(self.frame.columns, values)])
        # Padding costs nothing in rendered Markdown and keeps the raw file readable.
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def html(self):
        head = "".join(f'<th title="click to sort">{html.escape(str(c))}</th>' for c in self.frame.columns)
        body = []
        for values, verdict in zip(self.frame.itertuples(index=False), self._verdicts()):
            tds = []
            for col, v in zip(self.frame.columns, values):
                text = "FAIL" if col == "verdict" and verdict == "fail" else str(v)
                cls = ' class="num"' if _NUMERIC_CELL.match(text) else ""
                tds.append(f"<td{cls}>{html.escape(text)}</td>")
            cls = f' class="{verdict}"' if verdict in VERDICTS else ""
            body.append(f"<tr{cls}>{''.join(tds)}</tr>")
        tools = ('<input class="filter" type="search" placeholder="filter rows (e.g. fail)" '
                 'aria-label="filter rows">' if len(self.frame) > SORTABLE_MIN_ROWS else "")
        return (f'<div class="scroll">{tools}<table class="sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
                + "\n".join(body) + "\n</tbody></table></div>")


#: Tables longer than this get a filter box (every table is sortable by a click on its header).
SORTABLE_MIN_ROWS = 8


def formula_svg(tex: str) -> str | None:
    """``tex`` typeset by matplotlib's mathtext as inline SVG, or None (no matplotlib, or not mathtext)."""
    try:
        from matplotlib import mathtext
    except ImportError:
        return None
    buf = io.StringIO()
    try:
        mathtext.math_to_image(f"${tex}$", buf, prop=None, dpi=72, format="svg")
    except Exception:  # mathtext covers a subset of TeX (no \text, no environments): show the source
        return None
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline in HTML
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)


def formula_html(tex: str) -> str:
    """A formula as inline SVG when mathtext can typeset it, else as code; the TeX source is the tooltip."""
    svg = formula_svg(tex)
    if svg is None:
        return f"<code>{html.escape(tex)}</code>"
    return f'<span class="formula" title="{html.escape(tex)}">{svg}</span>'


@dataclass
class Cards:
    """Erratum cards: a title, a verdict badge, formulas (TeX), facts (label -> text) and a note each."""

    cards: list = field(default_factory=list)  # dicts: title, verdict, formulas {label: tex}, facts {label: text}

    def markdown(self):
        out = []
        for c in self.cards:
            badge = f" ({MD_VERDICT.get(c['verdict'], c['verdict'])})" if c["verdict"] else ""
            lines = [f"**{c['title']}**{badge}", ""]
            lines += [f"- {label}: `{tex}`" for label, tex in c["formulas"].items()]
            lines += [f"- {label}: {text}" for label, text in c["facts"].items() if text]
            out.append("\n".join(lines))
        return "\n\n".join(out)

    def html(self):
        out = ['<div class="cards">']
        for c in self.cards:
            badge = (f'<span class="badge {html.escape(c["verdict"])}">{html.escape(c["verdict"])}</span>'
                     if c["verdict"] else "")
            rows = "".join(f"<dt>{html.escape(label)}</dt><dd>{formula_html(tex)}</dd>"
                           for label, tex in c["formulas"].items())
            rows += "".join(f"<dt>{html.escape(label)}</dt><dd>{inline_html(str(text))}</dd>"
                            for label, text in c["facts"].items() if text)
            out.append(f'<div class="card"><h4>{inline_html(c["title"])} {badge}</h4><dl>{rows}</dl></div>')
        return "\n".join(out + ["</div>"])


@dataclass
class Image:
    filename: str
    title: str
    caption: str
    png: bytes

    def markdown(self):
        return f"![{self.title}]({self.filename})\n\n{self.caption}"

    def html(self):
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(self.title)}">'
                f"<figcaption>{inline_html(self.caption)}</figcaption></figure>")


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 75em;
       margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 1.8em; }
code { background: #f2f2f2; padding: 0 .2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.88em; margin: .6em 0; }
th, td { border: 1px solid #ccc; padding: .2em .5em; white-space: nowrap; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fbd5d5; color: #8b0000; font-weight: bold; }
tr.seed-erratum td { background: #ffe3bf; color: #8a4b00; }
tr.underpowered td { color: #888; background: #f4f4f4; }
p.status { padding: .5em .8em; font-size: 1.1em; }
p.status.ok { background: #dff3df; } p.status.fail { background: #fbd5d5; color: #8b0000; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
tr.finite-width td { color: #555; background: #eef2fb; }
p.status { font-size: 1.6em; font-weight: bold; margin: .3em 0; }
input.filter { display: block; margin: .4em 0; padding: .2em .4em; width: 20em; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #ddd; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(26em, 1fr)); gap: .8em; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: .4em .8em; overflow-x: auto; }
.card h4 { margin: .3em 0; } .card dl { margin: 0; } .card dt { font-weight: bold; font-size: .85em; color: #555; }
.card dd { margin: 0 0 .4em 0; } .formula svg { vertical-align: middle; max-width: 100%; height: auto; }
.badge { font-size: .75em; padding: .1em .5em; border-radius: 1em; background: #ddd; }
.badge.seed-erratum { background: #ffe3bf; color: #8a4b00; } .badge.pass { background: #dff3df; }
.badge.fail { background: #fbd5d5; color: #8b0000; }
"""

#: A click on a header sorts its table (numbers as numbers, a second click reverses); the box filters rows.
_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows), dir = th.dataset.dir === "asc" ? -1 : 1;
      var key = function (r) { var t = r.cells[col].textContent, v = parseFloat(t);
                               return isNaN(v) ? t : v; };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === typeof y) { return (x < y ? -1 : x > y ? 1 : 0) * dir; }
        return (typeof x === "number" ? -1 : 1) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir === 1 ? "asc" : "desc";
    });
  });
  var box = table.parentNode.querySelector("input.filter");
  if (box) { box.addEventListener("input", function () { var q = box.value.toLowerCase();
    Array.from(table.tBodies[0].rows).forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none"; }); }); }
});
"""


def render_markdown(blocks) -> str:
    return "\n\n".join(b.markdown() for b in blocks) + "\n"


def render_html(blocks, title: str) -> str:
    body = "\n".join(b.html() for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
            f"<script>{_JS}</script>\n</body>\n</html>\n")


