"""Charger charts: single-type counts, mixes, and peak load with the chargers added."""

from __future__ import annotations

import altair as alt
import pandas as pd

from evcap.errors import ConfigError
from evcap.marts.common import _float_columns, _require_columns
from evcap.marts.series import Bin, BinnedSeries
from evcap.plots.common import (
    _REASON_SHORT,
    HEIGHT,
    MIX_CHART_MODES,
    WIDTH,
    _is_empty,
    _labelled,
    _top,
    _transformer_title,
    no_data_chart,
)
from evcap.plots.headroom import _unbinned


def charger_fit_chart(
    fit: pd.DataFrame, *, title: str | None = None
) -> alt.TopLevelMixin:
    """The "chargers on" grid: chargers that fit per window, transformer and type.

    One panel per charger type; rows are transformers, columns charging
    windows; the cell says how many chargers fit (or why none do).

    Parameters
    ----------
    fit : pandas.DataFrame
        Rows of ``transformer_charger_fit``: transformer_id, window_name,
        charger_type, max_chargers, charger_power_kw, firm_headroom_kw, reason.
    title : str, optional
        Chart title.
    """
    chart_title = title or "Chargers that fit, per charging window"
    if _is_empty(fit):
        return no_data_chart("no charger fits for the selection", chart_title)
    _require_columns(
        fit,
        ["transformer_id", "window_name", "charger_type", "max_chargers"],
        "charger_fit_chart",
    )
    frame = _labelled(fit)
    frame = _float_columns(frame, ["charger_power_kw", "firm_headroom_kw"])
    frame["max_chargers"] = frame["max_chargers"].fillna(0).astype(int)
    if "reason" not in frame.columns:
        frame["reason"] = None
    frame["label"] = frame["max_chargers"].astype(str)
    zero = frame["max_chargers"] == 0
    frame.loc[zero, "label"] = "0 " + frame.loc[zero, "reason"].map(
        lambda r: _REASON_SHORT.get(str(r), "") if isinstance(r, str) else ""
    )
    types = list(dict.fromkeys(frame.sort_values("charger_power_kw")["charger_type"]))
    if "charger_power_kw" in frame.columns:
        powers = frame.groupby("charger_type")["charger_power_kw"].first()
        frame["charger"] = frame["charger_type"].map(
            lambda t: f"{t} ({powers[t]:g} kW)"
        )
        types = [f"{t} ({powers[t]:g} kW)" for t in types]
    else:
        frame["charger"] = frame["charger_type"]
    keep = [
        "transformer",
        "window_name",
        "charger",
        "max_chargers",
        "label",
        "reason",
    ] + [c for c in ("firm_headroom_kw", "charger_power_kw") if c in frame.columns]
    frame = frame[keep]
    windows = list(dict.fromkeys(fit["window_name"]))
    n_rows = frame["transformer"].nunique()
    tooltip = [
        alt.Tooltip("transformer:N", title="Transformer"),
        alt.Tooltip("window_name:N", title="Window"),
        alt.Tooltip("charger:N", title="Charger"),
        alt.Tooltip("max_chargers:Q", title="Chargers that fit"),
        alt.Tooltip("reason:N", title="Why 0"),
    ]
    if "firm_headroom_kw" in frame.columns:
        tooltip.append(
            alt.Tooltip("firm_headroom_kw:Q", title="Firm headroom (kW)", format=",.1f")
        )
    base = alt.Chart().encode(
        x=alt.X(
            "window_name:N",
            title="Charging window",
            sort=windows,
            axis=alt.Axis(labelAngle=-20, labelLimit=120),
        ),
        y=alt.Y("transformer:N", title="Transformer"),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "max_chargers:Q",
            title="Chargers",
            scale=alt.Scale(scheme="greens", type="symlog", domainMin=0),
        ),
        tooltip=tooltip,
    )
    text = base.mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition(
            "datum.max_chargers > 0", alt.value("black"), alt.value("#999999")
        ),
        tooltip=tooltip,
    )
    layer = alt.layer(cells, text).properties(
        width=max(78 * len(windows), 160), height=min(max(20 * n_rows, 40), 900)
    )
    return _top(
        alt.FacetChart(
            data=frame,
            spec=layer,
            facet=alt.Facet("charger:N", title="Charger type", sort=types),
            columns=2,
        ).properties(
            title=alt.TitleParams(
                chart_title,
                subtitle="transformer_charger_fit · a 0 says why (hover for details)",
            )
        )
    )


def mix_chart(mix: pd.DataFrame, *, title: str | None = None) -> alt.TopLevelMixin:
    """Charger-mix scenarios: chargers per type, and power used vs left over.

    Parameters
    ----------
    mix : pandas.DataFrame
        Output of ``evcap.fit``: grid_id, transformer_id, window_name, mode,
        charger_type, count, charger_power_kw, power_kw, budget_kw,
        leftover_kw, reason.
    title : str, optional
        Chart title.

    Returns
    -------
    altair.VConcatChart
        Top: stacked bars of the number of chargers per type, per window;
        bottom: the window's budget split into power used and left over (kW).
        Columns are the mix modes, rows the transformers.

    Raises
    ------
    ConfigError
        When ``mix`` has rows of mode ``single`` (alternatives, not one mix:
        use :func:`charger_fit_chart`), or lacks a column.
    """
    chart_title = title or "Charger-mix scenarios"
    if _is_empty(mix):
        return no_data_chart("no charger mixes for the selection", chart_title)
    if "mode" in mix.columns and (mix["mode"].astype(str) == "single").any():
        raise ConfigError(
            "mix_chart draws one mix per mode; in mode 'single' each row is an "
            "alternative (that charger type alone), so the rows do not add up: "
            "draw them with charger_fit_chart (`evcap plot fit`), or choose one "
            f"of {', '.join(MIX_CHART_MODES)}"
        )
    _require_columns(
        mix,
        [
            "transformer_id",
            "window_name",
            "mode",
            "charger_type",
            "count",
            "power_kw",
            "budget_kw",
            "leftover_kw",
        ],
        "mix_chart",
    )
    frame = _labelled(mix)
    frame = _float_columns(
        frame, ["power_kw", "budget_kw", "leftover_kw", "charger_power_kw"]
    )
    frame["count"] = pd.to_numeric(frame["count"], errors="coerce").fillna(0)
    windows = list(dict.fromkeys(frame["window_name"]))
    if "charger_power_kw" in frame.columns:
        by_power = frame.sort_values(["charger_power_kw", "charger_type"])
    else:
        by_power = frame.sort_values("charger_type")
    types = list(dict.fromkeys(by_power["charger_type"]))
    n_rows = frame["transformer"].nunique()
    row = alt.Row("transformer:N", title="Transformer") if n_rows > 1 else None
    counts_data = frame[
        ["transformer", "window_name", "mode", "charger_type", "count", "power_kw"]
    ]
    counts = (
        alt.Chart(counts_data)
        .mark_bar()
        .encode(
            x=alt.X(
                "window_name:N",
                title="Charging window",
                sort=windows,
                axis=alt.Axis(labelAngle=-20, labelLimit=120),
            ),
            y=alt.Y("sum(count):Q", title="Chargers", stack="zero"),
            color=alt.Color("charger_type:N", title="Charger type", sort=types),
            column=alt.Column("mode:N", title="Mix mode"),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("window_name:N", title="Window"),
                alt.Tooltip("mode:N", title="Mode"),
                alt.Tooltip("charger_type:N", title="Charger type"),
                alt.Tooltip("sum(count):Q", title="Chargers"),
                alt.Tooltip("sum(power_kw):Q", title="Power (kW)", format=",.1f"),
            ],
        )
        .properties(width=max(55 * len(windows), 160), height=180)
    )
    if row is not None:
        counts = counts.encode(row=row)
    grouped = frame.groupby(
        ["transformer", "window_name", "mode"], as_index=False, sort=False
    ).agg(
        used_kw=("power_kw", "sum"),
        leftover_kw=("leftover_kw", "first"),
        budget_kw=("budget_kw", "first"),
    )
    power = grouped.melt(
        id_vars=["transformer", "window_name", "mode", "budget_kw"],
        value_vars=["used_kw", "leftover_kw"],
        var_name="part",
        value_name="kw",
    )
    power["part"] = power["part"].map({"used_kw": "used", "leftover_kw": "left over"})
    power["kw"] = power["kw"].clip(lower=0.0)
    power_chart = (
        alt.Chart(power)
        .mark_bar()
        .encode(
            x=alt.X(
                "window_name:N",
                title="Charging window",
                sort=windows,
                axis=alt.Axis(labelAngle=-20, labelLimit=120),
            ),
            y=alt.Y("kw:Q", title="Power (kW)", stack="zero"),
            color=alt.Color(
                "part:N",
                title="Budget",
                scale=alt.Scale(
                    domain=["used", "left over"], range=["#1f77b4", "#d9d9d9"]
                ),
            ),
            order=alt.Order("part:N", sort="descending"),
            column=alt.Column("mode:N", title="Mix mode"),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("window_name:N", title="Window"),
                alt.Tooltip("mode:N", title="Mode"),
                alt.Tooltip("part:N", title="Part"),
                alt.Tooltip("kw:Q", title="kW", format=",.1f"),
                alt.Tooltip("budget_kw:Q", title="Budget (kW)", format=",.1f"),
            ],
        )
        .properties(width=max(55 * len(windows), 160), height=140)
    )
    if row is not None:
        power_chart = power_chart.encode(row=row)
    return _top(
        alt.vconcat(counts, power_chart)
        .resolve_scale(color="independent")
        .properties(
            title=alt.TitleParams(
                chart_title,
                subtitle=f"{_transformer_title(frame)} · chargers per type, and "
                "the budget used vs left over",
            )
        )
    )


def load_with_chargers_chart(
    series: BinnedSeries | pd.DataFrame,
    *,
    bin: Bin | None = None,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Peak load over time with and without the added chargers, and capacity.

    Parameters
    ----------
    series : BinnedSeries or pandas.DataFrame
        Output of :func:`evcap.marts.query_load_with_chargers`, or its
        ``frame``: transformer_id, bin_start, max_load_kw,
        max_load_with_chargers_kw, capacity_kw, added_kw, window_name (kW).
    bin : {"hour", "day", "week"}, optional
        The bin width, for the axis title (default: that of a
        :class:`~evcap.marts.BinnedSeries`, else "bin").
    title : str, optional
        Chart title.
    """
    series, bin_name = _unbinned(series, bin)
    chart_title = title or "Peak load with the chargers added"
    if _is_empty(series):
        return no_data_chart("no readings for the selection", chart_title)
    _require_columns(
        series,
        [
            "transformer_id",
            "bin_start",
            "max_load_kw",
            "max_load_with_chargers_kw",
            "capacity_kw",
        ],
        "load_with_chargers_chart",
    )
    frame = _labelled(series)
    long = frame.melt(
        id_vars=["transformer", "bin_start"],
        value_vars=["max_load_kw", "max_load_with_chargers_kw"],
        var_name="series",
        value_name="kw",
    )
    long["series"] = long["series"].map(
        {
            "max_load_kw": "today's peak load",
            "max_load_with_chargers_kw": "with the chargers",
        }
    )
    capacity = frame.groupby("transformer", as_index=False).agg(
        capacity_kw=("capacity_kw", "max")
    )
    capacity = capacity.dropna()
    capacity["series"] = "capacity"
    detail = ""
    if "added_kw" in frame.columns and "window_name" in frame.columns:
        added = frame.groupby("transformer")["added_kw"].first()
        window = str(frame["window_name"].iloc[0])
        if len(added) == 1:
            detail = f" · +{float(added.iloc[0]):,.1f} kW in window {window}"
        else:
            detail = f" · chargers in window {window}"
    domain = ["today's peak load", "with the chargers", "capacity"]
    colours = ["#7f7f7f", "#ff7f0e", "#b22222"]
    lines = (
        alt.Chart(long)
        .mark_line(strokeWidth=1.3, interpolate="step-after")
        .encode(
            x=alt.X("bin_start:T", title="Local time"),
            y=alt.Y("kw:Q", title="Load (kW)"),
            color=alt.Color(
                "series:N", title=None, scale=alt.Scale(domain=domain, range=colours)
            ),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("bin_start:T", title=f"{bin_name} starting"),
                alt.Tooltip("series:N", title="Series"),
                alt.Tooltip("kw:Q", title="Peak (kW)", format=",.1f"),
            ],
        )
    )
    rule = (
        alt.Chart(capacity)
        .mark_rule(strokeDash=[6, 3], strokeWidth=2)
        .encode(
            y="capacity_kw:Q",
            color=alt.Color("series:N", scale=alt.Scale(domain=domain, range=colours)),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("capacity_kw:Q", title="Capacity (kW)", format=",.1f"),
            ],
        )
    )
    if frame["transformer"].nunique() > 1:
        # several transformers: one panel each (a facet needs one data set)
        both = pd.concat([long, capacity], ignore_index=True)
        panel = alt.layer(
            lines.properties(data=alt.Undefined).transform_filter("isValid(datum.kw)"),
            rule.properties(data=alt.Undefined).transform_filter(
                "isValid(datum.capacity_kw)"
            ),
        ).properties(width=WIDTH, height=160)
        return _top(
            alt.FacetChart(
                data=both,
                spec=panel,
                facet=alt.Facet("transformer:N", title=None),
                columns=1,
            )
            .resolve_scale(y="independent")
            .properties(
                title=alt.TitleParams(
                    chart_title, subtitle=f"{bin_name} peaks, local time{detail}"
                )
            )
        )
    return _top(
        (lines + rule).properties(
            title=alt.TitleParams(
                chart_title,
                subtitle=f"{_transformer_title(frame)} · {bin_name} peaks, "
                f"local time{detail}",
            ),
            width=WIDTH,
            height=HEIGHT,
        )
    )
