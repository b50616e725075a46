"""Sections of the transformers drawn one by one: headroom charts, mixes, load
with chargers, thermal limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import psycopg

from evcap import marts, plots
from evcap.errors import EvcapError
from evcap.marts import read_mart
from evcap.report.data import ReportData
from evcap.report.markup import MAX_RANKED, Section, _note, _table


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
        read_mart(
            conn,
            "transformer_headroom_profile",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
    )
    headroom = Section(
        "Headroom in detail",
        f"Transformers: {names}. Headroom = capacity - load (kW); budgeted "
        "headroom = headroom x capacity budget. Local time.",
    )
    headroom.charts.append(("heatmap", plots.headroom_heatmap_chart(profile)))
    period: marts.By
    for period in ("month", "hour"):
        quantiles = marts.query_headroom_quantiles(
            conn,
            transformers=ids,
            by=period,
            grid_id=grid_id,
            start=start,
            end=end,
            schema=schema,
        )
        headroom.charts.append(
            (
                f"box-{period}",
                plots.headroom_boxplot_chart(
                    keep_focus(quantiles.frame), by=quantiles.by
                ),
            )
        )
    series = marts.query_headroom_series(
        conn, transformers=ids, grid_id=grid_id, start=start, end=end, schema=schema
    )
    stat: plots.Stat = "both" if len(focus) <= 2 else "min"
    headroom.charts.append(
        (
            "over-time",
            plots.headroom_over_time_chart(
                keep_focus(series.frame), stat=stat, bin=series.bin
            ),
        )
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
        frame = marts.query_load_with_chargers(
            conn,
            added_kw=added,
            window_name=data.window,
            start=start,
            end=end,
            schema=schema,
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
    from evcap.thermal import plots as thermal_plots

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
            conn,
            transformers=transformers,
            grid_id=grid_id,
            window=data.window,
            schema=schema,
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
