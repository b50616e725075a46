"""The self-contained page: inline Vega bundle, CSS and script (package data
files ``assets/report.css`` and ``assets/report.js``), and the report entry
points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import altair as alt
import psycopg

from evcap import __version__
from evcap.errors import ConfigError
from evcap.report.data import _focus, load_report_data
from evcap.report.focus import _focus_sections, _thermal_section
from evcap.report.markup import _CSP, Section, _esc, _note, _spec_json
from evcap.report.sections import (
    _fit_section,
    _overview_section,
    _quality_section,
    _summary_section,
)


def _asset(name: str) -> str:
    """Text of a package data file under ``evcap/report/assets``."""
    return (resources.files("evcap.report") / "assets" / name).read_text("utf-8")


def _javascript_bundle() -> str:
    """vega-embed + Vega-Lite + Vega, bundled by vl-convert-python (offline)."""
    import vl_convert

    # the Vega-Lite version of Altair's specs, e.g. "v5.20.1" -> "5.20"
    vl_version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    # the stub marks ``snippet`` required; at run time None means "set globals"
    bundle = str(vl_convert.javascript_bundle(vl_version=vl_version))  # type: ignore[call-arg]
    if "</script" in bundle.lower():  # would end the inline script early
        bundle = bundle.replace("</script", "<\\/script").replace(
            "</SCRIPT", "<\\/SCRIPT"
        )
    return bundle


def render_html(
    title: str,
    subtitle: str,
    sections: Sequence[Section],
    notes: Sequence[str] = (),
) -> str:
    """Assemble the self-contained page (escaping every text it is given)."""
    body: list[str] = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(subtitle)}</p>',
    ]
    body += [_note(n) for n in notes]
    toc = "".join(
        f'<li><a href="#s{i}">{_esc(s.heading)}</a></li>'
        for i, s in enumerate(sections)
    )
    body.append(f"<nav><ol>{toc}</ol></nav>")
    specs: list[str] = []
    counter = 0
    for i, section in enumerate(sections):
        body.append(f'<section id="s{i}"><h2>{_esc(section.heading)}</h2>')
        if section.intro:
            body.append(f"<p>{_esc(section.intro)}</p>")
        body += section.html_parts
        for name, chart in section.charts:
            counter += 1
            chart_id = f"chart-{counter}-{name}"
            body.append(
                f'<div class="evcap-chart" id="{_esc(chart_id)}" '
                f'data-spec="spec-{_esc(chart_id)}"></div>'
            )
            specs.append(
                f'<script type="application/json" id="spec-{_esc(chart_id)}">'
                f"{_spec_json(chart)}</script>"
            )
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title>",
            f"<style>\n{_asset('report.css')}</style>",
            f'<script type="text/javascript">{_javascript_bundle()}</script>',
            "</head>",
            "<body>",
            *body,
            '<pre id="evcap-status"></pre>',
            *specs,
            f'<script type="text/javascript">\n{_asset("report.js")}</script>',
            "</body>",
            "</html>",
        ]
    )


def build_report(
    conn: psycopg.Connection,
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = "nightly",
    schema: str = "evcap",
    start: dt.date | None = None,
    end: dt.date | None = None,
    mix: bool = True,
    title: str | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if transformers is not None and not list(transformers):
        raise ConfigError("transformers is an empty list; pass None for all")
    data = load_report_data(
        conn, transformers=transformers, grid_id=grid_id, window=window, schema=schema
    )
    focus = _focus(data, transformers)
    sections: list[Section] = [
        _summary_section(data),
        _overview_section(data),
        _fit_section(data),
    ]
    sections += _focus_sections(conn, data, focus, schema, start, end, mix)
    sections.append(_thermal_section(conn, data, transformers, grid_id, schema))
    sections.append(_quality_section(data))
    grids = sorted({str(g) for g in data.dim["grid_id"]}) if not data.dim.empty else []
    scope = (
        f"transformers {', '.join(transformers)}"
        if transformers is not None
        else f"grid {', '.join(grids) or grid_id or '(none)'}"
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (
        f"{scope} · window {data.window} · schema {schema} · "
        f"evcap {__version__} · {stamp}"
    )
    notes = list(data.notes)
    if transformers is None and not focus.empty:
        notes.append(
            "Detail charts show the "
            f"{len(focus)} transformers with the least firm headroom in "
            f"{data.window}: {', '.join(str(t) for t in focus['transformer_id'])}."
        )
    return render_html(title or "EV charger capacity report", subtitle, sections, notes)


def write_report(
    conn: psycopg.Connection,
    out_path: str | Path,
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = "nightly",
    schema: str = "evcap",
    start: dt.date | None = None,
    end: dt.date | None = None,
    mix: bool = True,
    title: str | None = None,
) -> Path:
    """Write one self-contained HTML report and return its path.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the marts.
    out_path : str or Path
        The HTML file to write (parent directories are created).
    transformers : sequence of str, optional
        Transformer ids; None = every transformer (of ``grid_id``).
    grid_id : str, optional
        Restrict to one grid.
    window : str, optional
        Charging window of the summary, ranking, map and "with chargers" view
        (default ``nightly``; the window covering the most intervals when that
        one is not in the marts).
    schema : str
        Schema of the marts.
    start, end : datetime.date, optional
        Local date range (inclusive) of the time-series and box-plot views.
    mix : bool
        Compute charger-mix scenarios with :func:`evcap.mix.fit` (a note
        replaces them when the mix layer is unavailable).
    title : str, optional
        Page title.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    UnknownTransformerError
        When a transformer id or the grid is unknown.
    SchemaError
        When the marts are missing (run ``evcap build``).
    """
    page = build_report(
        conn,
        transformers=transformers,
        grid_id=grid_id,
        window=window,
        schema=schema,
        start=start,
        end=end,
        mix=mix,
        title=title,
    )
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
