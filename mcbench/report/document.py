"""A report is a list of blocks; each renders itself as Markdown and as HTML.

The Markdown and the HTML are rendered from one list of blocks, so the two
files cannot disagree about content. Text uses a tiny inline markup
(**bold**, *italic*, `code`) valid in both.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

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
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = []
        for values, verdict in zip(self.frame.itertuples(index=False), self._verdicts()):
            tds = []
            for col, v in zip(self.frame.columns, values):
                text = "FAIL" if col == "verdict" and verdict == "fail" else str(v)
                cls = ' class="num"' if _NUMERIC_CELL.match(text) else ""
                tds.append(f"<td{cls}>{html.escape(text)}</td>")
            cls = f' class="{verdict}"' if verdict in VERDICTS else ""
            body.append(f"<tr{cls}>{''.join(tds)}</tr>")
        return (f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
                + "\n".join(body) + "\n</tbody></table></div>")


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
"""


def render_markdown(blocks) -> str:
    return "\n\n".join(b.markdown() for b in blocks) + "\n"


def render_html(blocks, title: str) -> str:
    body = "\n".join(b.html() for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")


