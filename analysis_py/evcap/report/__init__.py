"""One self-contained HTML report for a grid or a list of transformers.

The page holds a summary table, the charts of :mod:`evcap.plots` and the
data-quality findings. It opens offline: the Vega, Vega-Lite and vega-embed
JavaScript (bundled by vl-convert-python) is inlined, a Content-Security-Policy
forbids every network request, and no font or image is fetched.

Every value from the database is HTML-escaped; chart specs travel as JSON in
``<script type="application/json">`` blocks with ``<``, ``>`` and ``&``
escaped. A small inline script (package data ``assets/report.js``) renders
the charts and writes what happened into ``<pre id="evcap-status">`` (charts
rendered, errors, non-blank pixels per chart), which the browser test reads.

Modules: :mod:`~evcap.report.data` (what the marts say),
:mod:`~evcap.report.sections` and :mod:`~evcap.report.focus` (the sections),
:mod:`~evcap.report.markup` (HTML pieces), :mod:`~evcap.report.page` (the
page and the entry points).
"""

from evcap.report.data import ReportData, load_report_data
from evcap.report.markup import Section
from evcap.report.page import build_report, render_html, write_report

__all__ = [
    "ReportData",
    "Section",
    "build_report",
    "load_report_data",
    "render_html",
    "write_report",
]
