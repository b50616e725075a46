"""The mart rows a report shows, and which transformers it draws one by one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import psycopg

from evcap import marts, plots
from evcap.marts import read_mart
from evcap.report.markup import DEFAULT_FOCUS, MAX_FOCUS


@dataclass
class ReportData:
    """The mart rows a report shows (already filtered)."""

    dim: pd.DataFrame
    window_headroom: pd.DataFrame
    fit: pd.DataFrame
    window: str
    issues: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


def load_report_data(
    conn: psycopg.Connection,
    *,
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
    marts.check_transformers(
        conn, transformers=transformers, grid_id=grid_id, schema=schema
    )
    dim = read_mart(
        conn,
        "dim_transformers",
        schema=schema,
        transformers=transformers,
        grid_id=grid_id,
    )
    heads = read_mart(
        conn,
        "transformer_window_headroom",
        schema=schema,
        transformers=transformers,
        grid_id=grid_id,
    )
    fit = read_mart(
        conn,
        "transformer_charger_fit",
        schema=schema,
        transformers=transformers,
        grid_id=grid_id,
    )
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
    issues = marts.read_data_issues(
        conn, schema=schema, transformers=transformers, grid_id=grid_id
    )
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
