"""Headroom charts: over time, by month or hour (box plots), month x hour heat map."""

from __future__ import annotations

import altair as alt
import pandas as pd

from evcap.errors import ConfigError
from evcap.marts.common import _float_columns, _require_columns
from evcap.marts.series import Bin, BinnedSeries, By, Quantiles
from evcap.plots.common import (
    _MONTH_LABELS,
    HEIGHT,
    WIDTH,
    Stat,
    _is_empty,
    _labelled,
    _top,
    _transformer_title,
    no_data_chart,
)


def headroom_over_time_chart(
    series: BinnedSeries | pd.DataFrame,
    *,
    stat: Stat = "both",
    bin: Bin | None = None,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Budgeted headroom over time, one line per transformer (and statistic).

    Parameters
    ----------
    series : BinnedSeries or pandas.DataFrame
        Output of :func:`evcap.marts.query_headroom_series`, or its ``frame``:
        transformer_id, bin_start, min_budgeted_headroom_kw,
        mean_budgeted_headroom_kw (kW).
    stat : {"min", "mean", "both"}
        Which statistic of each bin to draw; "both" draws the minimum solid
        and the mean dashed.
    bin : {"hour", "day", "week"}, optional
        The bin width, for the axis title (default: that of a
        :class:`~evcap.marts.BinnedSeries`, else "bin").
    title : str, optional
        Chart title (default names the transformers and the bin width).

    Raises
    ------
    ConfigError
        For an unknown ``stat`` or missing columns.
    """
    if stat not in ("min", "mean", "both"):
        raise ConfigError(f"stat must be 'min', 'mean' or 'both', got {stat!r}")
    series, bin_name = _unbinned(series, bin)
    chart_title = title or "Excess (budgeted) headroom over time"
    if _is_empty(series):
        return no_data_chart("no readings for the selection", chart_title)
    _require_columns(
        series,
        [
            "transformer_id",
            "bin_start",
            "min_budgeted_headroom_kw",
            "mean_budgeted_headroom_kw",
        ],
        "headroom_over_time_chart",
    )
    frame = _labelled(series)
    columns = {
        "min": ["min_budgeted_headroom_kw"],
        "mean": ["mean_budgeted_headroom_kw"],
        "both": ["min_budgeted_headroom_kw", "mean_budgeted_headroom_kw"],
    }[stat]
    names = {
        "min_budgeted_headroom_kw": f"minimum per {bin_name}",
        "mean_budgeted_headroom_kw": f"mean per {bin_name}",
    }
    long = frame.melt(
        id_vars=["transformer", "bin_start"],
        value_vars=columns,
        var_name="statistic",
        value_name="headroom_kw",
    )
    long["statistic"] = long["statistic"].map(names)
    long = long[["transformer", "bin_start", "statistic", "headroom_kw"]]
    subtitle = f"{_transformer_title(frame)} · {bin_name} bins, local time"
    lines = (
        alt.Chart(long)
        .mark_line(strokeWidth=1.5, interpolate="step-after")
        .encode(
            x=alt.X("bin_start:T", title="Local time"),
            y=alt.Y("headroom_kw:Q", title="Budgeted headroom (kW)"),
            color=alt.Color("transformer:N", title="Transformer"),
            strokeDash=alt.StrokeDash(
                "statistic:N",
                title="Statistic",
                sort=[names[c] for c in columns],
            ),
            tooltip=[
                alt.Tooltip("transformer:N", title="Transformer"),
                alt.Tooltip("bin_start:T", title=f"{bin_name} starting"),
                alt.Tooltip("statistic:N", title="Statistic"),
                alt.Tooltip("headroom_kw:Q", title="Headroom (kW)", format=",.1f"),
            ],
        )
    )
    zero = (
        alt.Chart(pd.DataFrame({"y": [0.0]}))
        .mark_rule(color="#b22222", strokeWidth=1)
        .encode(y="y:Q")
    )
    return _top(
        (zero + lines).properties(
            title=alt.TitleParams(chart_title, subtitle=subtitle),
            width=WIDTH,
            height=HEIGHT,
        )
    )


def headroom_boxplot_chart(
    quantiles: Quantiles | pd.DataFrame,
    *,
    by: By | None = None,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Box plots of budgeted headroom per local month or hour, per transformer.

    Boxes span the quartiles, whiskers the minimum and maximum, the black tick
    is the median; transformers sit side by side within each month or hour.

    Parameters
    ----------
    quantiles : Quantiles or pandas.DataFrame
        Output of :func:`evcap.marts.query_headroom_quantiles`, or its
        ``frame`` (a ``period`` column holds the month 1-12 or hour 0-23).
    by : {"month", "hour"}, optional
        What ``period`` is (default: that of a :class:`~evcap.marts.Quantiles`,
        else month).
    title : str, optional
        Chart title.
    """
    if isinstance(quantiles, Quantiles):
        by = by or quantiles.by
        quantiles = quantiles.frame
    by = by or "month"
    chart_title = title or f"Budgeted headroom by local {by}"
    if _is_empty(quantiles):
        return no_data_chart("no readings for the selection", chart_title)
    _require_columns(
        quantiles,
        [
            "transformer_id",
            "period",
            "min_budgeted_headroom_kw",
            "p25_budgeted_headroom_kw",
            "p50_budgeted_headroom_kw",
            "p75_budgeted_headroom_kw",
            "max_budgeted_headroom_kw",
        ],
        "headroom_boxplot_chart",
    )
    frame = _labelled(quantiles)
    frame["period"] = frame["period"].astype(int)
    if by == "month":
        x = alt.X(
            "period:O",
            title="Local month",
            axis=alt.Axis(labelExpr=_MONTH_LABELS, labelAngle=0),
            scale=alt.Scale(domain=list(range(1, 13))),
        )
    else:
        x = alt.X(
            "period:O",
            title="Local hour of day",
            axis=alt.Axis(labelAngle=0),
            scale=alt.Scale(domain=list(range(24))),
        )
    tooltip = [
        alt.Tooltip("transformer:N", title="Transformer"),
        alt.Tooltip("period:O", title=f"Local {by}"),
        alt.Tooltip("min_budgeted_headroom_kw:Q", title="Min (kW)", format=",.1f"),
        alt.Tooltip("p25_budgeted_headroom_kw:Q", title="25 % (kW)", format=",.1f"),
        alt.Tooltip("p50_budgeted_headroom_kw:Q", title="Median (kW)", format=",.1f"),
        alt.Tooltip("p75_budgeted_headroom_kw:Q", title="75 % (kW)", format=",.1f"),
        alt.Tooltip("max_budgeted_headroom_kw:Q", title="Max (kW)", format=",.1f"),
    ]
    if "intervals" in frame.columns:
        tooltip.append(alt.Tooltip("intervals:Q", title="Intervals"))
    base = alt.Chart(frame).encode(
        x=x,
        xOffset=alt.XOffset("transformer:N"),
        color=alt.Color("transformer:N", title="Transformer"),
        tooltip=tooltip,
    )
    whiskers = base.mark_rule().encode(
        y=alt.Y("min_budgeted_headroom_kw:Q", title="Budgeted headroom (kW)"),
        y2="max_budgeted_headroom_kw:Q",
    )
    boxes = base.mark_bar(opacity=0.75).encode(
        y="p25_budgeted_headroom_kw:Q", y2="p75_budgeted_headroom_kw:Q"
    )
    medians = base.mark_tick(color="black", thickness=2).encode(
        y="p50_budgeted_headroom_kw:Q"
    )
    return _top(
        (whiskers + boxes + medians).properties(
            title=alt.TitleParams(
                chart_title,
                subtitle=f"{_transformer_title(frame)} · box: quartiles, "
                "whiskers: min-max, tick: median",
            ),
            width=WIDTH,
            height=HEIGHT,
        )
    )


def headroom_heatmap_chart(
    profile: pd.DataFrame,
    *,
    value: str = "min_headroom_kw",
    columns: int = 2,
    title: str | None = None,
) -> alt.TopLevelMixin:
    """Local month x hour heatmap of headroom, one panel per transformer.

    Parameters
    ----------
    profile : pandas.DataFrame
        Rows of ``transformer_headroom_profile`` (transformer_id, local_month,
        local_hour and the statistic ``value``).
    value : str
        The column to colour by, kW (default the minimum headroom; red below 0).
    columns : int
        Panels per row.
    title : str, optional
        Chart title.
    """
    chart_title = title or "Minimum headroom by local month and hour"
    if _is_empty(profile, value):
        return no_data_chart("no headroom profile for the selection", chart_title)
    _require_columns(
        profile,
        ["transformer_id", "local_month", "local_hour", value],
        "headroom_heatmap_chart",
    )
    keep = ["grid_id", "transformer_id", "local_month", "local_hour", value]
    keep += [c for c in ("intervals", "capacity_kw") if c in profile.columns]
    frame = _labelled(profile[[c for c in keep if c in profile.columns]])
    frame = _float_columns(frame, [value, "capacity_kw"])
    frame["local_month"] = frame["local_month"].astype(int)
    frame["local_hour"] = frame["local_hour"].astype(int)
    tooltip = [
        alt.Tooltip("transformer:N", title="Transformer"),
        alt.Tooltip("local_month:O", title="Local month"),
        alt.Tooltip("local_hour:O", title="Local hour"),
        alt.Tooltip(f"{value}:Q", title=f"{value} (kW)", format=",.1f"),
    ]
    if "intervals" in frame.columns:
        tooltip.append(alt.Tooltip("intervals:Q", title="Intervals"))
    n_panels = frame["transformer"].nunique()
    extent = float(frame[value].abs().max()) or 1.0
    heat = (
        alt.Chart()
        .mark_rect()
        .encode(
            x=alt.X(
                "local_hour:O",
                title="Local hour of day",
                scale=alt.Scale(domain=list(range(24))),
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y(
                "local_month:O",
                title="Local month",
                scale=alt.Scale(domain=list(range(1, 13))),
                axis=alt.Axis(labelExpr=_MONTH_LABELS),
            ),
            color=alt.Color(
                f"{value}:Q",
                title="Headroom (kW)",
                # symmetric around 0: red below capacity, yellow at 0, green above
                scale=alt.Scale(scheme="redyellowgreen", domain=[-extent, extent]),
            ),
            tooltip=tooltip,
        )
        .properties(width=300 if n_panels > 1 else 480, height=200)
    )
    return _top(
        alt.FacetChart(
            data=frame,
            spec=heat,
            facet=alt.Facet("transformer:N", title=None),
            columns=min(columns, n_panels),
        ).properties(
            title=alt.TitleParams(
                chart_title,
                subtitle="transformer_headroom_profile · red = load above capacity",
            )
        )
    )


def _unbinned(
    series: BinnedSeries | pd.DataFrame, bin: Bin | None
) -> tuple[pd.DataFrame, str]:
    """The frame of ``series`` and the bin name for axis titles."""
    if isinstance(series, BinnedSeries):
        return series.frame, bin or series.bin
    return series, bin or "bin"
