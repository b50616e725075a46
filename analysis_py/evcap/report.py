"""One self-contained HTML report for a grid or a list of transformers.

The page holds a summary table, the charts of :mod:`evcap.plots` and the
data-quality findings. It opens offline: the Vega, Vega-Lite and vega-embed
JavaScript (bundled by vl-convert-python) is inlined, a Content-Security-Policy
forbids every network request, and no font or image is fetched.

Every value from the database is HTML-escaped; chart specs travel as JSON in
``<script type="application/json">`` blocks with ``<``, ``>`` and ``&``
escaped. A small inline script renders the charts and writes what happened
into ``<pre id="evcap-status">`` (charts rendered, errors, non-blank pixels per
chart), which the browser test reads.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import psycopg
from psycopg import sql

from evcap import __version__, plots
from evcap.db import read_frame
from evcap.errors import ConfigError, EvcapError
from evcap.marts import mart_exists, read_mart

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


# --- data ------------------------------------------------------------------------


@dataclass
class ReportData:
    """The mart rows a report shows (already filtered)."""

    dim: pd.DataFrame
    window_headroom: pd.DataFrame
    fit: pd.DataFrame
    window: str
    issues: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


def _read_issues(
    conn: psycopg.Connection,
    schema: str,
    transformers: Sequence[str] | None,
    grid_id: str | None,
) -> pd.DataFrame | None:
    """Rows of ``int_data_issues_collected`` (None when the model is absent)."""
    if not mart_exists(conn, "int_data_issues_collected", schema):
        return None
    query = sql.SQL(
        "select * from {} where (%(grid)s::text is null or grid_id = %(grid)s)"
        " order by issue_code, grid_id, element_id"
    ).format(sql.Identifier(schema, "int_data_issues_collected"))
    frame = read_frame(conn, query, {"grid": grid_id})
    if transformers is not None and not frame.empty:
        # transformer-level findings only for the chosen transformers; the
        # grid-level ones (orphan meters, cycles) stay: they may hide load.
        is_transformer = frame["element_type"] == "Transformer"
        frame = frame[~is_transformer | frame["element_id"].isin(list(transformers))]
    return frame


def load_report_data(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = "nightly",
    schema: str = "evcap",
) -> ReportData:
    """Read the marts the report needs.

    Raises
    ------
    UnknownTransformerError
        When a transformer id or the grid is not in ``dim_transformers``.
    SchemaError
        When a mart is missing.
    """
    plots.check_transformers(conn, transformers, grid_id=grid_id, schema=schema)
    dim = read_mart(conn, "dim_transformers", schema, transformers, grid_id)
    heads = read_mart(
        conn, "transformer_window_headroom", schema, transformers, grid_id
    )
    fit = read_mart(conn, "transformer_charger_fit", schema, transformers, grid_id)
    notes: list[str] = []
    windows = [str(w) for w in dict.fromkeys(heads["window_name"])]
    chosen = window if window in windows else None
    if chosen is None:
        chosen = plots.default_window(heads) if windows else (window or "all_time")
        if window is not None and windows:
            notes.append(
                f"window {window!r} is not in the marts; showing {chosen!r} "
                f"(known: {', '.join(windows)})"
            )
    issues = _read_issues(conn, schema, transformers, grid_id)
    return ReportData(dim, heads, fit, chosen, issues, notes)


def _focus(data: ReportData, transformers: Sequence[str] | None) -> pd.DataFrame:
    """(grid_id, transformer_id) of the transformers drawn one by one."""
    if transformers is not None:
        focus = data.dim[data.dim["transformer_id"].isin(list(transformers))]
        return focus[["grid_id", "transformer_id"]].head(MAX_FOCUS)
    heads = data.window_headroom[data.window_headroom["window_name"] == data.window]
    heads = heads.dropna(subset=["firm_headroom_kw"])
    heads = heads.assign(
        firm=pd.to_numeric(heads["firm_headroom_kw"], errors="coerce")
    ).sort_values(["firm", "grid_id", "transformer_id"])
    return heads[["grid_id", "transformer_id"]].head(DEFAULT_FOCUS)


def _summary_frame(data: ReportData) -> tuple[pd.DataFrame, list[str]]:
    """Per transformer: nameplate, headroom in the window, chargers per type."""
    dim = data.dim
    heads = data.window_headroom[data.window_headroom["window_name"] == data.window]
    keep = [
        "grid_id",
        "transformer_id",
        "firm_headroom_kw",
        "peak_load_kw",
        "coverage",
    ]
    frame = dim.merge(
        heads[[c for c in keep if c in heads.columns]],
        on=["grid_id", "transformer_id"],
        how="left",
    )
    for column in (
        "rating_kva",
        "capacity_kw",
        "firm_headroom_kw",
        "peak_load_kw",
        "coverage",
    ):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["utilisation"] = frame["peak_load_kw"] / frame["capacity_kw"]
    types: list[str] = []
    fit = data.fit[data.fit["window_name"] == data.window]
    if not fit.empty:
        order = fit.sort_values(["charger_power_kw", "charger_type"])
        types = [str(t) for t in dict.fromkeys(order["charger_type"])]
        pivot = fit.pivot_table(
            index=["grid_id", "transformer_id"],
            columns="charger_type",
            values="max_chargers",
            aggfunc="max",
        ).reset_index()
        pivot.columns = [str(c) for c in pivot.columns]
        frame = frame.merge(pivot, on=["grid_id", "transformer_id"], how="left")
    frame = frame.sort_values(
        ["firm_headroom_kw", "grid_id", "transformer_id"], na_position="last"
    )
    return frame, types


# --- sections --------------------------------------------------------------------


def _overview_section(data: ReportData) -> Section:
    section = Section(
        "Grid overview",
        f"Firm headroom is the minimum budgeted headroom over the intervals of "
        f"window {data.window}; utilisation is peak load / capacity.",
    )
    section.charts.append(
        (
            "overview",
            plots.grid_overview_chart(
                data.window_headroom, data.dim, window_name=data.window, top=MAX_RANKED
            ),
        )
    )
    has_coords = {"latitude", "longitude"} <= set(data.dim.columns) and bool(
        data.dim[["latitude", "longitude"]].notna().all(axis=1).any()
    )
    if has_coords:
        section.charts.append(
            (
                "map",
                plots.transformer_map_chart(
                    data.dim, data.fit, window_name=data.window
                ),
            )
        )
    else:
        section.html_parts.append(
            _note("No map: dim_transformers has no latitude/longitude.")
        )
    return section


def _summary_section(data: ReportData) -> Section:
    frame, types = _summary_frame(data)
    columns: list[tuple[str, str, str]] = [
        ("transformer_id", "Transformer", ""),
        ("rating_kva", "Rating (kVA)", ",.0f"),
        ("capacity_kw", "Capacity (kW)", ",.1f"),
        ("meters_total", "Meters", ""),
        ("firm_headroom_kw", f"Firm headroom, {data.window} (kW)", ",.1f"),
        ("peak_load_kw", "Peak load (kW)", ",.1f"),
        ("utilisation", "Peak / capacity", ".0%"),
        ("coverage", "Coverage", ".0%"),
    ]
    if frame["grid_id"].nunique() > 1:
        columns.insert(0, ("grid_id", "Grid", ""))
    columns += [(t, f"{t} that fit", ",.0f") for t in types]
    columns.append(("data_issues", "Data issues", ""))
    columns = [c for c in columns if c[0] in frame.columns]
    intro = (
        f"{len(frame)} transformers; tightest first. Chargers that fit in window "
        f"{data.window}, per charger type (0 when a check fails: see the grid below)."
    )
    section = Section("Summary", intro)
    if len(frame) > MAX_TABLE_ROWS:
        section.html_parts.append(
            _note(
                f"Showing the {MAX_TABLE_ROWS} tightest of {len(frame)} transformers;"
                " the marts hold them all."
            )
        )
    section.html_parts.append(_table(frame.head(MAX_TABLE_ROWS), columns))
    return section


def _fit_section(data: ReportData) -> Section:
    fit = data.fit
    section = Section(
        "Chargers that fit, per charging window",
        "Single charger type at a time (transformer_charger_fit): "
        "floor(firm headroom / charger power), 0 with a reason when a check fails.",
    )
    dim = data.dim
    if not fit.empty and "voltage_level" in dim.columns:
        subs = dim[dim["voltage_level"].isin(plots.SUBSTATION_LEVELS)]
        if not subs.empty:
            fit = fit.merge(
                subs[["grid_id", "transformer_id"]],
                on=["grid_id", "transformer_id"],
                how="left",
                indicator=True,
            )
            fit = fit[fit["_merge"] == "left_only"].drop(columns="_merge")
            section.html_parts.append(
                _note(
                    "Substation transformers (HV/MV) are left out here; "
                    "the summary table has their counts."
                )
            )
    if not fit.empty:
        ranked = (
            fit[fit["window_name"] == data.window]
            .assign(firm=pd.to_numeric(fit["firm_headroom_kw"], errors="coerce"))
            .drop_duplicates(["grid_id", "transformer_id"])
            .sort_values(["firm", "grid_id", "transformer_id"], na_position="first")
        )
        keys = ranked[["grid_id", "transformer_id"]].head(MAX_RANKED)
        if len(ranked) > MAX_RANKED:
            section.html_parts.append(
                _note(
                    f"Showing the {MAX_RANKED} tightest of {len(ranked)} transformers."
                )
            )
        fit = fit.merge(keys, on=["grid_id", "transformer_id"])
    section.charts.append(("fit", plots.charger_fit_chart(fit)))
    return section


def _mix_frame(
    conn: psycopg.Connection,
    focus: pd.DataFrame,
    schema: str,
) -> tuple[pd.DataFrame | None, str]:
    """Mixes of the focus transformers from :func:`evcap.mix.fit`, or a note."""
    try:
        from evcap.mix import fit as mix_fit
        from evcap.mix import load_charger_types
    except ImportError as exc:  # the mix layer is optional for the report
        return None, f"Mix not available: evcap.mix cannot be imported ({exc})."
    frames = []
    try:
        chargers = load_charger_types()
        shares = [100.0 / len(chargers)] * len(chargers)
        for grid, keys in focus.groupby("grid_id", sort=True):
            ids = [str(t) for t in keys["transformer_id"]]
            for mode, extra in (
                ("max-power", {}),
                ("count-proportions", {"proportions": shares}),
            ):
                frames.append(
                    mix_fit(
                        conn,
                        transformers=ids,
                        window=None,
                        chargers=chargers,
                        mode=mode,  # type: ignore[arg-type]
                        grid_id=str(grid),
                        schema=schema,
                        **extra,  # type: ignore[arg-type]
                    )
                )
    except (EvcapError, TypeError, ValueError) as exc:
        conn.rollback()
        return None, f"Mix not available: {exc}"
    if not frames:
        return None, "Mix not available: no transformer with headroom to fit."
    return pd.concat(frames, ignore_index=True), (
        "Mix modes: max-power (the integer mix using the most of the budget) and "
        "count-proportions (equal numbers of each type), every charging window."
    )


def _focus_sections(
    conn: psycopg.Connection,
    data: ReportData,
    focus: pd.DataFrame,
    schema: str,
    start: dt.date | None,
    end: dt.date | None,
    mix: bool,
) -> list[Section]:
    names = ", ".join(str(t) for t in focus["transformer_id"])
    sections: list[Section] = []
    if focus.empty:
        empty = Section("Transformers in detail")
        empty.charts.append(
            (
                "detail",
                plots.no_data_chart(
                    "no transformer with headroom data to show in detail",
                    "Transformers in detail",
                ),
            )
        )
        return [empty]
    grids = sorted({str(g) for g in focus["grid_id"]})
    grid_id = grids[0] if len(grids) == 1 else None
    ids = [str(t) for t in focus["transformer_id"]]

    def keep_focus(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.merge(focus, on=["grid_id", "transformer_id"])

    profile = keep_focus(
        read_mart(conn, "transformer_headroom_profile", schema, ids, grid_id)
    )
    headroom = Section(
        "Headroom in detail",
        f"Transformers: {names}. Headroom = capacity - load (kW); budgeted "
        "headroom = headroom x capacity budget. Local time.",
    )
    headroom.charts.append(("heatmap", plots.headroom_heatmap_chart(profile)))
    for by in ("month", "hour"):
        quantiles = keep_focus(
            plots.query_headroom_quantiles(
                conn, ids, by=by, grid_id=grid_id, start=start, end=end, schema=schema
            )
        )
        quantiles.attrs["by"] = by
        headroom.charts.append((f"box-{by}", plots.headroom_boxplot_chart(quantiles)))
    series = keep_focus(
        plots.query_headroom_series(
            conn, ids, grid_id=grid_id, start=start, end=end, schema=schema
        )
    )
    bin_name = plots.choose_bin(
        conn, ids, grid_id=grid_id, start=start, end=end, schema=schema
    )
    series.attrs["bin"] = bin_name
    stat: plots.Stat = "both" if len(focus) <= 2 else "min"
    headroom.charts.append(
        ("over-time", plots.headroom_over_time_chart(series, stat=stat))
    )
    sections.append(headroom)

    mix_section = Section("Charger-mix scenarios")
    mixes: pd.DataFrame | None = None
    if mix:
        mixes, note = _mix_frame(conn, focus, schema)
        mix_section.html_parts.append(_note(note))
        if mixes is not None:
            mix_section.charts.append(("mix", plots.mix_chart(mixes)))
    else:
        mix_section.html_parts.append(_note("Mix scenarios not requested."))
    sections.append(mix_section)

    added = _added_power(data, focus, mixes)
    load = Section(
        "Load with the chargers added",
        f"Chargers run only in window {data.window}; their power is added to "
        "the load of every interval in it.",
    )
    if added.empty:
        load.charts.append(
            (
                "with-chargers",
                plots.no_data_chart(
                    "no chargers fit on these transformers",
                    "Peak load with the chargers added",
                ),
            )
        )
    else:
        frame = plots.query_load_with_chargers(
            conn, added, window_name=data.window, start=start, end=end, schema=schema
        )
        load.intro += " " + "; ".join(
            f"{row.transformer_id}: +{row.added_kw:,.1f} kW ({row.what})"
            for row in added.itertuples()
        )
        load.charts.append(("with-chargers", plots.load_with_chargers_chart(frame)))
    sections.append(load)
    return sections


def _added_power(
    data: ReportData, focus: pd.DataFrame, mixes: pd.DataFrame | None
) -> pd.DataFrame:
    """Power the chargers add per focus transformer in the report's window.

    From the max-power mix when there is one, else the single-type fit of the
    lowest-power charger type.
    """
    rows: list[dict[str, Any]] = []
    if mixes is not None and not mixes.empty:
        chosen = mixes[
            (mixes["mode"] == "max-power") & (mixes["window_name"] == data.window)
        ]
        for (grid, tid), group in chosen.groupby(["grid_id", "transformer_id"]):
            power = float(pd.to_numeric(group["power_kw"]).fillna(0).sum())
            count = int(pd.to_numeric(group["count"]).fillna(0).sum())
            if power > 0:
                rows.append(
                    {
                        "grid_id": grid,
                        "transformer_id": tid,
                        "added_kw": power,
                        "what": f"{count} charger{'s' if count != 1 else ''}, "
                        "max-power mix",
                    }
                )
    else:
        fit = data.fit[data.fit["window_name"] == data.window]
        if not fit.empty:
            ctype = plots.default_charger_type(fit)
            fit = fit[fit["charger_type"] == ctype].merge(
                focus, on=["grid_id", "transformer_id"]
            )
            for row in fit.to_dict("records"):
                count = int(row["max_chargers"])
                power = (
                    count
                    * float(row["charger_power_kw"])
                    * float(row.get("coincidence_factor") or 1.0)
                )
                if power > 0:
                    rows.append(
                        {
                            "grid_id": row["grid_id"],
                            "transformer_id": row["transformer_id"],
                            "added_kw": power,
                            "what": f"{count} x {ctype}",
                        }
                    )
    return pd.DataFrame(rows, columns=["grid_id", "transformer_id", "added_kw", "what"])


def _thermal_section(
    conn: psycopg.Connection,
    data: ReportData,
    transformers: Sequence[str] | None,
    grid_id: str | None,
    schema: str,
) -> Section:
    """Thermal limits (issue #13): nameplate vs IEC 60076-7 counts, one design day."""
    from evcap import thermal_plots

    section = Section(
        "Thermal limits (IEC 60076-7)",
        "Chargers that fit by hot spot (<= 120 °C), top oil (<= 105 °C), "
        "relative ageing (<= 1 per day) and load (<= 1.5 per unit) on each "
        "month's design day (every hour's highest load of that month, that "
        "month's normal ambient cycle), next to the nameplate count. "
        "Written by `evcap thermal` to transformer_thermal_fit.",
    )
    try:
        rows, curves, meta = thermal_plots.thermal_data(
            conn, transformers, grid_id=grid_id, window=data.window, schema=schema
        )
    except EvcapError as exc:
        section.html_parts.append(_note(f"Thermal limits not available: {exc}"))
        return section
    if rows.empty:
        section.html_parts.append(_note("No thermal fits for the selection."))
        return section
    if not curves.empty:
        limit = float(meta.get("hot_spot_limit_c", 120.0))
        section.charts.append(
            (
                "thermal-day",
                thermal_plots.thermal_day_chart(
                    curves,
                    hot_spot_limit_c=limit,
                    title=thermal_plots.thermal_day_title(meta),
                ),
            )
        )
    shown = rows.head(MAX_RANKED)
    section.charts.append(
        (
            "thermal-counts",
            thermal_plots.thermal_counts_chart(
                shown,
                title=f"Chargers that fit ({meta.get('window')}, "
                f"{meta.get('charger_type')}): nameplate vs thermal limit",
            ),
        )
    )
    section.html_parts.append(
        _table(
            shown,
            [
                ("grid_id", "Grid", ""),
                ("transformer_id", "Transformer", ""),
                ("max_chargers", "Nameplate", ""),
                ("thermal_max_chargers", "Thermal", ""),
                ("binding_criterion", "Binding limit", ""),
                ("binding_month", "Month", ".0f"),
                ("binding_hour_local", "Hour", ".0f"),
                ("peak_hot_spot_c", "Hot spot at N (°C)", ".1f"),
                ("baseline_peak_hot_spot_c", "Hot spot, no chargers (°C)", ".1f"),
            ],
        )
    )
    return section


def _quality_section(data: ReportData) -> Section:
    section = Section(
        "Data quality",
        "What evcap had to leave out or could not read. Transformers without a "
        "usable rating, secondary voltage or (for three-phase chargers) phases "
        "get no charger count; meters the topology cannot place lower the "
        "coverage of the transformer they were last known under; low meter "
        "coverage makes headroom look larger than it is.",
    )
    dim = data.dim
    flagged = dim[dim["data_issues"].notna()] if "data_issues" in dim else dim.iloc[0:0]
    section.html_parts.append("<h3>Transformers with nameplate or topology issues</h3>")
    section.html_parts.append(
        _table_or_none(
            flagged,
            [
                ("grid_id", "Grid", ""),
                ("transformer_id", "Transformer", ""),
                ("rating_kva", "Rating (kVA)", ",.0f"),
                ("meters_total", "Meters", ""),
                ("meters_unplaced", "Unplaced meters", ""),
                ("data_issues", "Issues", ""),
            ],
        )
    )
    heads = data.window_headroom
    heads = heads[heads["window_name"] == data.window]
    if not heads.empty:
        coverage = pd.to_numeric(heads["coverage"], errors="coerce")
        low = heads[(coverage < LOW_COVERAGE) | coverage.isna()]
    else:
        low = heads
    section.html_parts.append(
        f"<h3>Low meter coverage in window {_esc(data.window)} "
        f"(under {LOW_COVERAGE:.0%} of intervals usable)</h3>"
    )
    section.html_parts.append(
        _table_or_none(
            low,
            [
                ("grid_id", "Grid", ""),
                ("transformer_id", "Transformer", ""),
                ("window_name", "Window", ""),
                ("intervals_in_window", "Intervals", ""),
                ("intervals_used", "Used", ""),
                ("intervals_low_coverage", "Low coverage", ""),
                ("coverage", "Coverage", ".0%"),
            ],
        )
    )
    section.html_parts.append(
        "<h3>Orphan and unplaced meters, topology cycles, unreadable nameplates"
        " and rejected readings</h3>"
    )
    issues = data.issues
    if issues is None:
        section.html_parts.append(
            _note(
                "Not available: the model int_data_issues_collected is not in "
                "this schema."
            )
        )
    elif issues.empty:
        section.html_parts.append(_note("None."))
    else:
        counts = (
            issues.groupby("issue_code", as_index=False)
            .agg(elements=("element_id", "nunique"), rows=("element_id", "size"))
            .sort_values("issue_code")
        )
        section.html_parts.append(
            _table(
                counts,
                [
                    ("issue_code", "Issue", ""),
                    ("elements", "Elements", ""),
                    ("rows", "Findings", ""),
                ],
            )
        )
        shown = issues.head(MAX_TABLE_ROWS)
        section.html_parts.append(
            "<details><summary>"
            f"{_esc(len(issues))} findings (first {_esc(len(shown))})</summary>"
            + _table(
                shown,
                [
                    (c, h, "")
                    for c, h in (
                        ("grid_id", "Grid"),
                        ("element_id", "Element"),
                        ("element_type", "Type"),
                        ("issue_code", "Issue"),
                        ("detail", "Detail"),
                        ("readings", "Readings"),
                    )
                    if c in shown.columns
                ],
            )
            + "</details>"
        )
    return section


# --- page ------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica,
       Arial, sans-serif; margin: 0 auto; max-width: 1300px; padding: 1rem 2rem;
       color: #222; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #666; margin-top: 0; }
.note { color: #555; font-style: italic; }
table.data { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: 2px 6px; }
table.data th { background: #f3f3f3; text-align: left; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
.evcap-chart { margin: 1rem 0; }
.chart-error { color: #b22222; }
#evcap-status { display: none; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var status = {done: false, charts: 0, rendered: 0, errors: [], warnings: [],
                per_chart: []};
  function note(list, what) {
    try { list.push(String(what).slice(0, 500)); } catch (e) { list.push("?"); }
  }
  var origError = console.error, origWarn = console.warn;
  console.error = function () {
    note(status.errors, Array.prototype.join.call(arguments, " "));
    return origError.apply(console, arguments);
  };
  console.warn = function () {
    note(status.warnings, Array.prototype.join.call(arguments, " "));
    return origWarn.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    note(status.errors, "error: " + (e.message || e.type));
  });
  window.addEventListener("unhandledrejection", function (e) {
    note(status.errors, "unhandled rejection: " + e.reason);
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    note(status.errors, "blocked by CSP: " + e.blockedURI + " (" +
         e.violatedDirective + ")");
  });
  function inspect(div) {
    var canvas = div.querySelector("canvas");
    var info = {id: div.id, ok: false, width: 0, height: 0, ink: 0, colours: 0};
    if (!canvas || !canvas.width || !canvas.height) { return info; }
    info.width = canvas.width; info.height = canvas.height;
    var data = canvas.getContext("2d").getImageData(
      0, 0, canvas.width, canvas.height).data;
    var seen = {}, colours = 0, ink = 0;
    for (var i = 0; i < data.length; i += 4) {
      var a = data[i + 3];
      if (a === 0) { continue; }
      if (!(data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255)) {
        ink += 1;
      }
      if (colours < 5000) {
        var key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        if (!seen[key]) { seen[key] = 1; colours += 1; }
      }
    }
    info.ink = ink; info.colours = colours; info.ok = ink > 0;
    return info;
  }
  function finish() {
    status.done = true;
    document.getElementById("evcap-status").textContent =
      JSON.stringify(status);
    document.body.setAttribute("data-evcap-done", "1");
  }
  function run() {
    var divs = document.querySelectorAll(".evcap-chart");
    status.charts = divs.length;
    if (typeof vegaEmbed !== "function") {
      note(status.errors, "vegaEmbed is not loaded");
      finish();
      return;
    }
    var options = {renderer: "canvas", actions: {export: true, source: false,
                   compiled: false, editor: false}};
    var jobs = Array.prototype.map.call(divs, function (div) {
      var spec = JSON.parse(
        document.getElementById(div.getAttribute("data-spec")).textContent);
      return vegaEmbed(div, spec, options).then(function (result) {
        return result.view.runAsync().then(function () {
          status.rendered += 1;
          status.per_chart.push(inspect(div));
        });
      }).catch(function (err) {
        note(status.errors, div.id + ": " + err);
        div.insertAdjacentHTML("beforeend",
          '<p class="chart-error">This chart could not be drawn.</p>');
        status.per_chart.push({id: div.id, ok: false, error: String(err)});
      });
    });
    Promise.all(jobs).then(finish, function (err) {
      note(status.errors, "report: " + err);
      finish();
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
"""


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
            f"<style>{_STYLE}</style>",
            f'<script type="text/javascript">{_javascript_bundle()}</script>',
            "</head>",
            "<body>",
            *body,
            '<pre id="evcap-status"></pre>',
            *specs,
            f'<script type="text/javascript">{_SCRIPT}</script>',
            "</body>",
            "</html>",
        ]
    )


def build_report(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = "nightly",
    schema: str = "evcap",
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    mix: bool = True,
    title: str | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if transformers is not None and not list(transformers):
        raise ConfigError("transformers is an empty list; pass None for all")
    data = load_report_data(conn, transformers, grid_id, window, schema)
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
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = "nightly",
    schema: str = "evcap",
    *,
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
        transformers,
        grid_id,
        window,
        schema,
        start=start,
        end=end,
        mix=mix,
        title=title,
    )
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
