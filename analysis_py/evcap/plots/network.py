"""Network charts: the grid overview (rankings) and the transformer map."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from evcap.marts.common import _float_columns, _require_columns
from evcap.plots.common import (
    SUBSTATION_LEVELS,
    WIDTH,
    _first_window,
    _is_empty,
    _labelled,
    _top,
    default_charger_type,
    default_window,
    no_data_chart,
)


def grid_overview_chart(
    window_headroom: pd.DataFrame,
    *,
    transformers: pd.DataFrame | None = None,
    window_name: str | None = None,
    top: int = 60,
    include_substations: bool = False,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Transformers ranked by firm headroom in a window, coloured by utilisation.

    Parameters
    ----------
    window_headroom : pandas.DataFrame
        Rows of ``transformer_window_headroom``.
    transformers : pandas.DataFrame, optional
        Rows of ``dim_transformers`` (adds rating_kva and meters to tooltips).
    window_name : str, optional
        The window to rank by (default: the one with the most intervals).
    top : int
        Show at most this many transformers, the tightest (least headroom)
        first.
    include_substations : bool
        Keep transformers whose ``voltage_level`` is in
        :data:`SUBSTATION_LEVELS` (needs ``transformers``).
    title : str, optional
        Chart title.

    Notes
    -----
    Utilisation is peak load / capacity in the window (1.0 = at capacity).
    Transformers without a rating have no firm headroom and are left out.
    """
    chart_title = title or "Transformers ranked by firm headroom"
    if _is_empty(window_headroom):
        return no_data_chart("no window headroom for the selection", chart_title)
    _require_columns(
        window_headroom,
        [
            "transformer_id",
            "window_name",
            "firm_headroom_kw",
            "peak_load_kw",
            "capacity_kw",
        ],
        "grid_overview_chart",
    )
    name = window_name or default_window(window_headroom)
    frame = window_headroom[window_headroom["window_name"] == name]
    frame = _float_columns(
        frame,
        ["firm_headroom_kw", "peak_load_kw", "capacity_kw", "coverage"],
    )
    frame = frame.dropna(subset=["firm_headroom_kw"])
    if frame.empty:
        return no_data_chart(f"no firm headroom in window {name}", chart_title)
    left_out = ""
    if transformers is not None and not transformers.empty:
        if not include_substations and "voltage_level" in transformers.columns:
            subs = transformers[transformers["voltage_level"].isin(SUBSTATION_LEVELS)]
            if not subs.empty:
                frame = frame.merge(
                    subs[["grid_id", "transformer_id"]],
                    on=["grid_id", "transformer_id"],
                    how="left",
                    indicator=True,
                )
                frame = frame[frame["_merge"] == "left_only"].drop(columns="_merge")
                left_out = " · substations left out"
        extra = [
            c
            for c in ("rating_kva", "meters_total", "depth")
            if c in transformers.columns
        ]
        frame = frame.merge(
            transformers[["grid_id", "transformer_id", *extra]],
            on=["grid_id", "transformer_id"],
            how="left",
        )
    frame = _labelled(frame)
    frame["utilisation"] = frame["peak_load_kw"] / frame["capacity_kw"]
    frame = frame.sort_values("firm_headroom_kw").head(top)
    tooltip = [
        alt.Tooltip("transformer:N", title="Transformer"),
        alt.Tooltip("firm_headroom_kw:Q", title="Firm headroom (kW)", format=",.1f"),
        alt.Tooltip("peak_load_kw:Q", title="Peak load (kW)", format=",.1f"),
        alt.Tooltip("capacity_kw:Q", title="Capacity (kW)", format=",.1f"),
        alt.Tooltip("utilisation:Q", title="Utilisation", format=".0%"),
    ]
    for column, label, fmt in (
        ("rating_kva", "Rating (kVA)", ",.0f"),
        ("meters_total", "Meters", ",d"),
        ("coverage", "Coverage", ".0%"),
    ):
        if column in frame.columns:
            tooltip.append(alt.Tooltip(f"{column}:Q", title=label, format=fmt))
    keep = ["transformer", "firm_headroom_kw", "peak_load_kw", "capacity_kw"]
    keep += ["utilisation"] + [
        c for c in ("rating_kva", "meters_total", "coverage") if c in frame.columns
    ]
    frame = _float_columns(frame[keep], ["rating_kva", "meters_total"])
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("transformer:N", title="Transformer", sort="x"),
            x=alt.X("firm_headroom_kw:Q", title="Firm (budgeted) headroom (kW)"),
            color=alt.Color(
                "utilisation:Q",
                title="Peak / capacity",
                scale=alt.Scale(scheme="orangered", domain=[0, 1.2], clamp=True),
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=tooltip,
        )
    )
    zero = (
        alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="black").encode(x="x:Q")
    )
    return _top(
        (bars + zero).properties(
            title=alt.TitleParams(
                chart_title,
                subtitle=f"window {name} · tightest first · colour: peak load / "
                f"capacity{left_out}",
            ),
            width=WIDTH - 120,
            height=min(max(16 * len(frame), 60), 1000),
        )
    )


def transformer_map_chart(
    transformers: pd.DataFrame,
    *,
    fit: pd.DataFrame | None = None,
    window_name: str | None = None,
    charger_type: str | None = None,
    include_substations: bool = False,
    max_points: int = 4000,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Map of transformers (longitude / latitude) coloured by chargers that fit.

    A plain longitude / latitude scatter (x stretched by cos(latitude)), with
    a line to each transformer's upstream transformer; no map tiles (works
    offline). Several grids get one panel each (the first four).

    Parameters
    ----------
    transformers : pandas.DataFrame
        Rows of ``dim_transformers`` with latitude and longitude (degrees).
    fit : pandas.DataFrame, optional
        Rows of ``transformer_charger_fit``; without it, colour is capacity.
    window_name, charger_type : str, optional
        Which fit to colour by (defaults: the first window named like "all",
        else the first; the lowest-power charger type).
    include_substations : bool
        Colour transformers whose ``voltage_level`` is in
        :data:`SUBSTATION_LEVELS` too (default: grey, as their counts dwarf
        the rest).
    max_points : int
        Draw at most this many transformers (the lowest colour values), to
        stay under Altair's row limit.
    title : str, optional
        Chart title.
    """
    chart_title = title or "Where the chargers fit"
    if (
        _is_empty(transformers, "latitude", "longitude")
        or "latitude" not in transformers.columns
        or "longitude" not in transformers.columns
    ):
        return no_data_chart(
            "no transformer coordinates (dim_transformers.latitude/longitude)",
            chart_title,
        )
    frame = _float_columns(
        transformers, ["latitude", "longitude", "rating_kva", "capacity_kw"]
    )
    frame = frame.dropna(subset=["latitude", "longitude"])
    if frame.empty:
        return no_data_chart("no transformer coordinates", chart_title)
    frame = _labelled(frame)
    colour_field = "capacity_kw"
    colour_title = "Capacity (kW)"
    subtitle = "colour: capacity"
    if fit is not None and not fit.empty:
        window = window_name or _first_window(fit)
        chosen = fit[fit["window_name"] == window]
        ctype = charger_type or default_charger_type(chosen)
        chosen = chosen[chosen["charger_type"] == ctype]
        frame = frame.merge(
            chosen[["grid_id", "transformer_id", "max_chargers"]],
            on=["grid_id", "transformer_id"],
            how="left",
        )
        frame["max_chargers"] = pd.to_numeric(
            frame["max_chargers"], errors="coerce"
        ).astype("float64")
        if not include_substations and "voltage_level" in frame.columns:
            is_sub = frame["voltage_level"].isin(SUBSTATION_LEVELS)
            frame.loc[is_sub, "max_chargers"] = float("nan")
        colour_field = "max_chargers"
        colour_title = f"{ctype} that fit"
        subtitle = f"colour: {ctype} chargers that fit in window {window}"
    keep = [
        "grid_id",
        "transformer_id",
        "transformer",
        "latitude",
        "longitude",
        colour_field,
    ] + [
        c
        for c in ("rating_kva", "upstream_transformer_id")
        if c in frame.columns and c != colour_field
    ]
    frame = frame[list(dict.fromkeys(keep))]
    if len(frame) > max_points:
        # Altair's row limit: draw the most constrained transformers
        total = len(frame)
        frame = frame.sort_values(
            [colour_field, "grid_id", "transformer_id"], na_position="last"
        ).head(max_points)
        subtitle += f" · the {max_points:,} lowest of {total:,}"
    tooltip = [
        alt.Tooltip("transformer:N", title="Transformer"),
        alt.Tooltip(f"{colour_field}:Q", title=colour_title, format=",.0f"),
        alt.Tooltip("latitude:Q", title="Latitude", format=".5f"),
        alt.Tooltip("longitude:Q", title="Longitude", format=".5f"),
    ]
    colour = alt.Color(
        f"{colour_field}:Q",
        title=colour_title,
        scale=alt.Scale(scheme="viridis", type="symlog"),
    )

    def one_map(part: pd.DataFrame, width: int, height: int) -> Any:
        # plain x/y in degrees, the x extent scaled by cos(latitude) so that
        # distances look right (no projection: panels must not share one)
        lat_mid = math.radians(float(part["latitude"].mean()))
        d_lon = float(part["longitude"].max() - part["longitude"].min())
        d_lat = float(part["latitude"].max() - part["latitude"].min())
        if d_lon > 0 and d_lat > 0:
            aspect = d_lon * math.cos(lat_mid) / d_lat
            width = int(min(max(height * aspect, 0.6 * width), 1.4 * width))
        axis = alt.Axis(format=".3f", grid=False, tickCount=4)
        position = {
            "x": alt.X(
                "longitude:Q",
                title="Longitude (°)",
                scale=alt.Scale(zero=False, nice=False, padding=24),
                axis=axis,
            ),
            "y": alt.Y(
                "latitude:Q",
                title="Latitude (°)",
                scale=alt.Scale(zero=False, nice=False, padding=24),
                axis=axis,
            ),
        }
        unknown = (
            alt.Chart(part)
            .mark_circle(size=140, color="#bbbbbb", stroke="#333333", strokeWidth=0.5)
            .encode(**position, tooltip=tooltip)
            .transform_filter(f"!isValid(datum.{colour_field})")
        )
        points = (
            alt.Chart(part)
            .mark_circle(size=140, opacity=0.9, stroke="#333333", strokeWidth=0.5)
            .encode(**position, color=colour, tooltip=tooltip)
        )
        labels = (
            alt.Chart(part)
            .mark_text(dy=-13, fontSize=10, color="#333333")
            .encode(**position, text="transformer_id:N")
        )
        layers: list[Any] = []
        if "upstream_transformer_id" in part.columns:
            coords = part[["grid_id", "transformer_id", "latitude", "longitude"]]
            links = part.dropna(subset=["upstream_transformer_id"]).merge(
                coords.rename(
                    columns={
                        "transformer_id": "upstream_transformer_id",
                        "latitude": "up_latitude",
                        "longitude": "up_longitude",
                    }
                ),
                on=["grid_id", "upstream_transformer_id"],
            )
            if not links.empty:
                links = links[["latitude", "longitude", "up_latitude", "up_longitude"]]
                layers.append(
                    alt.Chart(links)
                    .mark_rule(color="#aaaaaa", strokeWidth=1)
                    .encode(
                        x=position["x"],
                        y=position["y"],
                        x2="up_longitude:Q",
                        y2="up_latitude:Q",
                    )
                )
        layers += [unknown, points, labels]
        return alt.layer(*layers).properties(width=width, height=height)

    title_params = alt.TitleParams(
        chart_title, subtitle=f"{subtitle} · grey: no value · lines lead upstream"
    )
    grids = [str(g) for g in dict.fromkeys(frame["grid_id"])]
    if len(grids) == 1:
        return _top(
            one_map(frame, WIDTH - 120, 420).properties(title=title_params, padding=24)
        )
    # grids lie apart: one map each (first 4), sharing the colour scale
    panels = [
        one_map(frame[frame["grid_id"] == grid], 380, 320).properties(title=grid)
        for grid in grids[:4]
    ]
    if len(grids) > 4:
        title_params.subtitle = [
            str(title_params.subtitle),
            f"first 4 of {len(grids)} grids",
        ]
    return _top(
        alt.concat(*panels, columns=2)
        .resolve_scale(x="independent", y="independent")
        .properties(title=title_params, padding=24)
    )
