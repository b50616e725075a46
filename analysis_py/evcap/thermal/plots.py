"""Charts of the thermal limits (issue #13), fed from ``transformer_thermal_fit``.

:func:`thermal_day_chart` (hot spot over one design day, with and without the
chargers, the limit drawn in), :func:`thermal_counts_chart` (nameplate vs
thermal counts per transformer) and :func:`thermal_chart` (both, for
``evcap plot thermal``). Kept apart from :mod:`evcap.plots`, which only hooks
the ``thermal`` kind in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd
import psycopg

from evcap.errors import ConfigError
from evcap.marts.common import _require_columns
from evcap.plots.common import (
    _MONTH_NAMES,
    HEIGHT,
    WIDTH,
    _is_empty,
    _labelled,
    _top,
    default_charger_type,
    no_data_chart,
)
from evcap.plots.make import _pick_window

__all__ = [
    "thermal_chart",
    "thermal_counts_chart",
    "thermal_data",
    "thermal_day_chart",
    "thermal_day_title",
]


def thermal_day_chart(
    curves: pd.DataFrame,
    *,
    hot_spot_limit_c: float = 120.0,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Hot-spot temperature over a design day, per case, with the limit drawn in.

    Parameters
    ----------
    curves : pandas.DataFrame
        :func:`evcap.thermal.binding_day_curves`: ``case``, ``hour``
        (local, end of each 1-minute step), ``hot_spot_c`` and ``top_oil_c``
        (degC).
    hot_spot_limit_c : float
        The hot-spot limit, degC (a red rule).
    title : str, optional
        Chart title.
    """
    chart_title = title or "Hot spot over the design day"
    if _is_empty(curves, "hot_spot_c"):
        return no_data_chart("no design day for the selection", chart_title)
    _require_columns(curves, ["case", "hour", "hot_spot_c"], "thermal_day_chart")
    # 1-minute samples: every 5th minute keeps the shape and the row count low.
    frame = curves[curves["minute"] % 5 == 4] if "minute" in curves.columns else curves
    frame = frame[["case", "hour", "hot_spot_c"]].copy()
    cases = list(dict.fromkeys(curves["case"]))
    lines = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X(
                "hour:Q",
                title="Local hour",
                scale=alt.Scale(domain=[0, 24]),
                axis=alt.Axis(values=list(range(0, 25, 3))),
            ),
            y=alt.Y("hot_spot_c:Q", title="Hot-spot temperature (°C)"),
            color=alt.Color(
                "case:N",
                title=None,
                sort=cases,
                scale=alt.Scale(domain=cases, range=["#4c78a8", "#54a24b", "#e45756"]),
            ),
            strokeDash=alt.condition(
                alt.datum.case == cases[-1], alt.value([4, 3]), alt.value([1, 0])
            ),
            tooltip=[
                alt.Tooltip("case:N", title="Case"),
                alt.Tooltip("hour:Q", title="Hour", format=".2f"),
                alt.Tooltip("hot_spot_c:Q", title="Hot spot (°C)", format=".1f"),
            ],
        )
    )
    limit = pd.DataFrame({"limit_c": [hot_spot_limit_c]})
    rule = (
        alt.Chart(limit)
        .mark_rule(color="#d62728", strokeWidth=1.5)
        .encode(y="limit_c:Q")
    )
    label = (
        alt.Chart(limit)
        .mark_text(align="left", dx=4, dy=-6, color="#d62728", fontSize=11)
        .encode(
            y="limit_c:Q",
            x=alt.value(4),
            text=alt.value(f"limit {hot_spot_limit_c:g} °C"),
        )
    )
    return _top(
        alt.layer(lines, rule, label).properties(
            width=WIDTH, height=HEIGHT, title=chart_title
        )
    )


def thermal_counts_chart(
    thermal: pd.DataFrame, *, title: str | None = None
) -> alt.TopLevelMixin:
    """Chargers that fit per transformer: nameplate vs thermal limit.

    Parameters
    ----------
    thermal : pandas.DataFrame
        Rows of ``transformer_thermal_fit`` for one window and charger type:
        transformer_id, max_chargers (nameplate), thermal_max_chargers,
        binding_criterion.
    title : str, optional
        Chart title.
    """
    chart_title = title or "Chargers that fit: nameplate vs thermal limit"
    if _is_empty(thermal, "thermal_max_chargers"):
        return no_data_chart("no thermal fits for the selection", chart_title)
    _require_columns(
        thermal,
        ["transformer_id", "max_chargers", "thermal_max_chargers"],
        "thermal_counts_chart",
    )
    frame = _labelled(thermal)
    frame["binding_criterion"] = frame.get("binding_criterion", pd.Series(dtype=str))
    long = pd.concat(
        [
            frame.assign(
                basis="nameplate",
                chargers=pd.to_numeric(frame["max_chargers"]).fillna(0),
            ),
            frame.assign(
                basis="thermal (IEC 60076-7)",
                chargers=pd.to_numeric(frame["thermal_max_chargers"]).fillna(0),
            ),
        ],
        ignore_index=True,
    )[["transformer", "basis", "chargers", "binding_criterion"]]
    long["binding_criterion"] = long["binding_criterion"].astype(object)
    long.loc[long["binding_criterion"].isna(), "binding_criterion"] = ""
    order = list(dict.fromkeys(frame["transformer"]))
    return _top(
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("transformer:N", title="Transformer", sort=order),
            yOffset=alt.YOffset("basis:N"),
            x=alt.X("chargers:Q", title="Chargers that fit"),
            color=alt.Color(
                "basis:N",
                title=None,
                scale=alt.Scale(range=["#bab0ac", "#f58518"]),
            ),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("basis:N", title="Basis"),
                alt.Tooltip("chargers:Q", title="Chargers"),
                alt.Tooltip("binding_criterion:N", title="Thermal limit that binds"),
            ],
        )
        .properties(
            width=WIDTH, height=min(max(26 * len(order), 60), 1200), title=chart_title
        )
    )


def thermal_data(
    conn: psycopg.Connection,
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = None,
    charger_type: str | None = None,
    schema: str = "evcap",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The thermal fits of one window and charger type, and one design day.

    Reads ``transformer_thermal_fit`` (written by ``evcap thermal``), or
    computes it when the table is missing. The design day drawn is the first
    of ``transformers`` when given, else the transformer whose count is set by
    a temperature or ageing limit with the hottest design day without chargers.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame, dict)
        The fit rows, the day curves (empty when no transformer has a design
        day) and ``{"window", "charger_type", "grid_id", "transformer_id",
        "month", "chargers", "hot_spot_limit_c"}``.
    """
    from evcap.marts import mart_exists, read_mart
    from evcap.thermal import (
        CRITERIA,
        binding_day_curves,
        load_inputs,
        thermal_fit,
    )

    ids = list(transformers) if transformers is not None else None
    if mart_exists(conn, "transformer_thermal_fit", schema=schema):
        rows = read_mart(
            conn,
            "transformer_thermal_fit",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
    else:
        rows = thermal_fit(conn, schema=schema, grid_id=grid_id, transformers=ids)
    meta: dict[str, Any] = {"window": window, "charger_type": charger_type}
    if rows.empty:
        return rows, pd.DataFrame(), meta
    chosen = _pick_window(rows, window) or str(rows["window_name"].iloc[0])
    rows = rows[rows["window_name"] == chosen]
    ctype = charger_type
    if ctype is None:
        ctype = (
            "L2_7.2kW"
            if "L2_7.2kW" in set(rows["charger_type"])
            else default_charger_type(rows)
        )
    rows = rows[rows["charger_type"] == ctype].reset_index(drop=True)
    meta.update({"window": chosen, "charger_type": ctype})
    if rows.empty:
        return rows, pd.DataFrame(), meta
    meta["hot_spot_limit_c"] = float(rows["hot_spot_limit_c"].iloc[0])
    candidates = rows[rows["binding_criterion"].isin(CRITERIA)]
    if ids:
        pick = rows[rows["transformer_id"] == ids[0]]
        candidates = pick if not pick.empty else candidates
    elif not candidates.empty:
        candidates = candidates.sort_values(
            "baseline_peak_hot_spot_c", ascending=False, kind="stable"
        )
    if candidates.empty:
        return rows, pd.DataFrame(), meta
    row = candidates.iloc[0].to_dict()
    inputs = load_inputs(
        conn,
        schema=schema,
        grid_id=str(row["grid_id"]),
        transformers=[str(row["transformer_id"])],
    )
    try:
        day = binding_day_curves(inputs, row=row)
        curves = day.curves
    except ConfigError:
        return rows, pd.DataFrame(), meta
    meta.update(
        {
            "grid_id": row["grid_id"],
            "transformer_id": row["transformer_id"],
            "month": day.month,
            "chargers": day.chargers,
            "binding_criterion": row.get("binding_criterion"),
        }
    )
    return rows, curves, meta


def thermal_day_title(meta: dict[str, Any]) -> str:
    """Title of the design-day chart of :func:`thermal_data`'s ``meta``."""
    month = meta.get("month")
    name = _MONTH_NAMES[int(month) - 1] if month else "?"
    return (
        f"{meta.get('transformer_id')}: hot spot on the {name} design day, "
        f"{meta.get('window')} window, {meta.get('charger_type')} "
        f"(binds: {meta.get('binding_criterion')})"
    )


def thermal_chart(
    conn: psycopg.Connection,
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = None,
    charger_type: str | None = None,
    schema: str = "evcap",
) -> alt.TopLevelMixin:
    """``evcap plot thermal``: nameplate vs thermal counts, and one design day.

    See :func:`thermal_data` for what is read and which day is drawn.
    """
    rows, curves, meta = thermal_data(
        conn,
        transformers=transformers,
        grid_id=grid_id,
        window=window,
        charger_type=charger_type,
        schema=schema,
    )
    counts: Any = thermal_counts_chart(
        rows,
        title=f"Chargers that fit ({meta.get('window')}, {meta.get('charger_type')}): "
        "nameplate vs thermal limit",
    )
    if curves.empty:
        return _top(counts)
    day: Any = thermal_day_chart(
        curves,
        hot_spot_limit_c=float(meta.get("hot_spot_limit_c", 120.0)),
        title=thermal_day_title(meta),
    )
    return _top(alt.vconcat(day, counts).resolve_scale(color="independent"))
