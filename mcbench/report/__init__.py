"""Reports: a validation run rendered as CSV, JSON, Markdown, self-contained HTML and figures.

- :mod:`.format`: how numbers are shown, and the one-line summary;
- :mod:`.document`: the block model that renders both Markdown and HTML;
- :mod:`.figures`: the matplotlib figures (optional ``plot`` extra);
- :mod:`.write`: assembly and :func:`write_report`.
"""

from mcbench.report.figures import FIGURE_FILES, NO_MATPLOTLIB, plots_available
from mcbench.report.format import format_summary_line
from mcbench.report.write import read_table, write_report

__all__ = ["FIGURE_FILES", "NO_MATPLOTLIB", "format_summary_line", "plots_available", "read_table", "write_report"]
