"""HTML building blocks of the report: escaping, number formats, tables, notes."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Transformers drawn in the per-transformer charts when none are given.
DEFAULT_FOCUS = 4
#: Most transformers drawn in per-transformer charts.
MAX_FOCUS = 6
#: Most rows of the summary table and of the ranked charts.
MAX_TABLE_ROWS = 300
MAX_RANKED = 40
#: Windows with a smaller share of usable intervals are flagged.
LOW_COVERAGE = 0.9

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src 'none'; "
    "connect-src 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass
class Section:
    """A part of the report: a heading, optional intro, charts and HTML."""

    heading: str
    intro: str = ""
    charts: list[tuple[str, Any]] = field(default_factory=list)
    html_parts: list[str] = field(default_factory=list)


def _esc(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(str(value), quote=True)


def _fmt(value: object, spec: str = "") -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _table(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, str]],
    *,
    css_class: str = "data",
) -> str:
    """HTML table of ``frame``: (column, header, format spec) per column."""
    head = "".join(f"<th>{_esc(header)}</th>" for _, header, _ in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = []
        for column, _, spec in columns:
            value = record.get(column)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{_esc(_fmt(value, spec))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="{css_class}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _table_or_none(frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]]) -> str:
    """:func:`_table` of the ``columns`` that ``frame`` has, or a "None." note."""
    if frame.empty:
        return _note("None.")
    return _table(frame, [(c, h, f) for c, h, f in columns if c in frame.columns])


def _spec_json(chart: Any) -> str:
    """The chart's Vega-Lite spec as JSON safe inside a script element."""
    spec = chart.to_dict()
    text = json.dumps(spec, allow_nan=False, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
