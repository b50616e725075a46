"""Report sections built from the marts alone: overview, summary table,
single-type fits, data quality.
"""

from __future__ import annotations

import pandas as pd

from evcap import plots
from evcap.report.data import ReportData, _summary_frame
from evcap.report.markup import (
    LOW_COVERAGE,
    MAX_RANKED,
    MAX_TABLE_ROWS,
    Section,
    _esc,
    _note,
    _table,
    _table_or_none,
)


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
                data.window_headroom,
                transformers=data.dim,
                window_name=data.window,
                top=MAX_RANKED,
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
                    data.dim, fit=data.fit, window_name=data.window
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
