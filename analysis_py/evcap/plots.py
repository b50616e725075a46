"""Altair charts of headroom, charger fits and mixes, fed from the marts.

Two kinds of functions live here:

* ``*_chart`` functions take small DataFrames with the mart column names (or
  the column names of the ``query_*`` helpers below) and return an Altair
  chart, usable in Jupyter, :func:`save_chart` or the HTML report;
* ``query_*`` helpers take a connection and transformer ids and run one
  aggregating SQL query over ``fct_transformer_load`` (binning, quantiles):
  the raw intervals never leave the database, so every chart stays far below
  Altair's 5,000-row limit, which is left in force.

Every ``*_chart`` function returns a readable "no data" chart (a text mark
saying why) for an empty input instead of raising. Power is in kW, transformer
ratings in kVA, times are the grid's local time (``interval_local``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import altair as alt
import pandas as pd
import psycopg
from psycopg import sql

from evcap.db import read_frame
from evcap.errors import ConfigError, SchemaError, UnknownTransformerError

Bin = Literal["hour", "day", "week"]
Stat = Literal["min", "mean", "both"]
By = Literal["month", "hour"]

#: Altair's default row limit; the query helpers aggregate to stay below it.
MAX_ROWS = 5000
BINS: tuple[Bin, ...] = ("hour", "day", "week")
_BIN_HOURS = {"hour": 1, "day": 24, "week": 24 * 7}
_MONTH_LABELS = (
    "['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec']"
    "[datum.value - 1]"
)
_MONTH_NAMES = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
WIDTH = 640
#: dim_transformers.voltage_level of substation transformers: left out of the
#: rankings and map colours by default (their capacity dwarfs the rest).
SUBSTATION_LEVELS = ("HV/MV",)
#: Short labels of transformer_charger_fit.reason for chart cells.
_REASON_SHORT = {
    "missing_rating": "no rating",
    "no_data_in_window": "no data",
    "not_a_distribution_transformer": "subst.",
    "secondary_voltage_unreadable": "V?",
    "secondary_not_low_voltage": "MV",
    "voltage_above_secondary": "voltage",
    "phases_unreadable": "phases?",
    "needs_three_phase": "3-phase",
    "no_headroom": "no room",
    "headroom_below_one_charger": "< 1",
}
HEIGHT = 260
#: Modes :func:`mix_chart` draws: those of :data:`evcap.mix.MODES` whose rows
#: of one transformer and window form one mix. In ``single`` mode each row is
#: an alternative (that type alone), so summing them is meaningless: draw
#: those with :func:`charger_fit_chart` (``evcap plot fit``).
MIX_CHART_MODES: tuple[str, ...] = (
    "count-proportions",
    "power-proportions",
    "max-power",
    "joint",
)

__all__ = [
    "MAX_ROWS",
    "charger_fit_chart",
    "grid_overview_chart",
    "headroom_boxplot_chart",
    "headroom_heatmap_chart",
    "headroom_over_time_chart",
    "load_with_chargers_chart",
    "make_plot",
    "mix_chart",
    "no_data_chart",
    "query_headroom_quantiles",
    "query_headroom_series",
    "query_load_with_chargers",
    "save_chart",
    "transformer_map_chart",
]


# --- small helpers -----------------------------------------------------------


def _top(obj: Any) -> alt.TopLevelMixin:
    """Type the (untyped) Altair object as a top-level chart."""
    chart: alt.TopLevelMixin = obj
    return chart


def no_data_chart(
    message: str, title: str = "", *, width: int = WIDTH
) -> alt.TopLevelMixin:
    """A chart that only says ``message`` (for empty inputs).

    Parameters
    ----------
    message : str
        What is missing, e.g. "no readings for T1 in 2024-06".
    title : str
        Title of the chart it stands in for.
    width : int
        Width in pixels.
    """
    frame = pd.DataFrame({"message": [message]})
    return _top(
        alt.Chart(frame)
        .mark_text(size=15, color="#555555", fontStyle="italic")
        .encode(
            text="message:N",
            x=alt.value(width / 2),
            y=alt.value(45),
        )
        .properties(title=title or "No data", width=width, height=90)
    )


def _is_empty(frame: pd.DataFrame | None, *columns: str) -> bool:
    if frame is None or frame.empty:
        return True
    return any(c in frame.columns and frame[c].isna().all() for c in columns)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{what} needs columns {', '.join(missing)}; "
            f"got {', '.join(map(str, frame.columns))}"
        )


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with a ``transformer`` label column.

    The label is the transformer id, prefixed by the grid id when the frame
    holds several grids (ids are unique only within a grid).
    """
    out = frame.copy()
    ids = out["transformer_id"].astype(str)
    if "grid_id" in out.columns and out["grid_id"].nunique(dropna=True) > 1:
        out["transformer"] = out["grid_id"].astype(str) + " / " + ids
    else:
        out["transformer"] = ids
    return out


def _transformer_title(frame: pd.DataFrame) -> str:
    labels = sorted(frame["transformer"].unique())
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{len(labels)} transformers"


def _float_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


def save_chart(
    chart: alt.TopLevelMixin, out: str | Path, *, scale: float = 2.0
) -> Path:
    """Write ``chart`` to ``out``: ``.html`` (JavaScript inlined, opens offline),
    ``.png`` or ``.svg`` (rendered by vl-convert), or ``.json`` (the spec).

    Raises
    ------
    ConfigError
        For another file extension.
    """
    path = Path(out)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        path.write_text(chart.to_html(inline=True), encoding="utf-8")
    elif suffix == ".png":
        import vl_convert

        path.write_bytes(vl_convert.vegalite_to_png(chart.to_dict(), scale=scale))
    elif suffix == ".svg":
        import vl_convert

        path.write_text(vl_convert.vegalite_to_svg(chart.to_dict()), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(chart.to_json(), encoding="utf-8")
    else:
        raise ConfigError(
            f"cannot write a chart to {path.name!r}: use .html, .png, .svg or .json"
        )
    return path


# --- SQL helpers ---------------------------------------------------------------


def _relation(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _run(conn: psycopg.Connection, query: sql.Composable, params: Any) -> pd.DataFrame:
    try:
        return read_frame(conn, query, params)
    except psycopg.errors.UndefinedTable as exc:
        conn.rollback()
        raise SchemaError(
            f"{str(exc).splitlines()[0]}: the evcap marts are missing in this "
            "schema; run `evcap build` (or pass --schema)"
        ) from exc


_FILTER = sql.SQL(
    "(%(grid_id)s::text is null or grid_id = %(grid_id)s::text)"
    " and (%(ids)s::text[] is null or transformer_id = any(%(ids)s::text[]))"
)


def _filter_params(
    transformers: Sequence[str] | None, grid_id: str | None
) -> dict[str, Any]:
    return {
        "grid_id": grid_id,
        "ids": list(transformers) if transformers is not None else None,
    }


def check_transformers(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None,
    *,
    grid_id: str | None = None,
    schema: str = "evcap",
) -> None:
    """Raise when a transformer id (or the grid) is not in ``dim_transformers``.

    Raises
    ------
    UnknownTransformerError
        Naming the ids that do not exist.
    SchemaError
        When ``dim_transformers`` is missing.
    """
    query = sql.SQL("select distinct transformer_id from {} where {}").format(
        _relation(schema, "dim_transformers"), _FILTER
    )
    found = _run(conn, query, _filter_params(transformers, grid_id))
    known = set(found["transformer_id"].astype(str)) if not found.empty else set()
    if transformers is None:
        if not known and grid_id is not None:
            raise UnknownTransformerError(
                f"grid {grid_id!r} has no transformers in {schema}.dim_transformers"
            )
        return
    unknown = [t for t in transformers if t not in known]
    if unknown:
        where = f" in grid {grid_id!r}" if grid_id else ""
        raise UnknownTransformerError(
            f"unknown transformer(s){where}: {', '.join(unknown)}; "
            f"see {schema}.dim_transformers for the ids"
        )


def _date_bounds(
    start: dt.date | None, end: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Local [start, end] dates, both inclusive, as a half-open datetime range."""
    lo = dt.datetime.combine(start, dt.time()) if start is not None else None
    hi = (
        dt.datetime.combine(end, dt.time()) + dt.timedelta(days=1)
        if end is not None
        else None
    )
    if isinstance(start, dt.datetime):
        lo = start
    if isinstance(end, dt.datetime):
        hi = end
    return lo, hi


_TIME_FILTER = sql.SQL(
    " and (%(lo)s::timestamp is null or interval_local >= %(lo)s::timestamp)"
    " and (%(hi)s::timestamp is null or interval_local < %(hi)s::timestamp)"
    " and (%(min_cov)s::float8 is null or meter_coverage >= %(min_cov)s::float8)"
)


def choose_bin(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None = None,
    *,
    grid_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    schema: str = "evcap",
    max_rows: int = MAX_ROWS,
) -> Bin:
    """The finest of hour / day / week that keeps the series under ``max_rows``.

    Estimated from the number of transformers and the span of
    ``interval_local`` in the selection (one cheap aggregate query).
    """
    lo, hi = _date_bounds(start, end)
    query = sql.SQL(
        "select count(distinct (grid_id, transformer_id)) as n,"
        " min(interval_local) as first, max(interval_local) as last"
        " from {} where {}"
    ).format(_relation(schema, "fct_transformer_load"), _FILTER + _TIME_FILTER)
    params = _filter_params(transformers, grid_id) | {
        "lo": lo,
        "hi": hi,
        "min_cov": None,
    }
    row = _run(conn, query, params).iloc[0]
    if not row["n"] or row["first"] is None:
        return "day"
    span_h = (row["last"] - row["first"]).total_seconds() / 3600.0
    for name in BINS:
        if int(row["n"]) * (span_h / _BIN_HOURS[name] + 2) <= max_rows:
            return name
    return "week"


def query_headroom_series(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None = None,
    *,
    grid_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    min_coverage: float | None = None,
    schema: str = "evcap",
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """Budgeted headroom and load per transformer, binned in local time (SQL).

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the marts.
    transformers : sequence of str, optional
        Transformer ids (all when None).
    grid_id : str, optional
        Restrict to one grid (ids are unique only within a grid).
    start, end : datetime.date, optional
        First and last local day, both inclusive.
    bin : {"hour", "day", "week", "auto"}
        Bin width, truncated in the grid's local time; "auto" picks the finest
        that keeps the result under ``max_rows`` rows (:func:`choose_bin`).
    min_coverage : float, optional
        Leave out intervals where a smaller share of meters reported.
    schema : str
        Schema of the marts.
    max_rows : int
        Refuse results larger than this (Altair's row limit).

    Returns
    -------
    pandas.DataFrame
        grid_id, transformer_id, bin_start (local), intervals,
        min_budgeted_headroom_kw, mean_budgeted_headroom_kw (period-weighted),
        max_load_kw, mean_load_kw, capacity_kw — all in kW.

    Raises
    ------
    ConfigError
        For an unknown bin, or when the result would exceed ``max_rows`` rows.
    SchemaError
        When ``fct_transformer_load`` is missing.
    """
    if bin == "auto":
        bin = choose_bin(
            conn,
            transformers,
            grid_id=grid_id,
            start=start,
            end=end,
            schema=schema,
            max_rows=max_rows,
        )
    if bin not in BINS:
        raise ConfigError(f"bin must be one of {', '.join(BINS)}, got {bin!r}")
    lo, hi = _date_bounds(start, end)
    query = sql.SQL(
        """
        select
            grid_id,
            transformer_id,
            date_trunc(%(bin)s, interval_local) as bin_start,
            count(*) as intervals,
            min(budgeted_headroom_kw) as min_budgeted_headroom_kw,
            sum(budgeted_headroom_kw * period_s)
                / nullif(sum(period_s) filter (
                    where budgeted_headroom_kw is not null), 0)
                as mean_budgeted_headroom_kw,
            max(load_kw) as max_load_kw,
            sum(load_kw * period_s) / nullif(sum(period_s), 0) as mean_load_kw,
            max(capacity_kw) as capacity_kw
        from {relation}
        where {filter}
        group by grid_id, transformer_id, date_trunc(%(bin)s, interval_local)
        order by grid_id, transformer_id, bin_start
        limit %(limit)s
        """
    ).format(
        relation=_relation(schema, "fct_transformer_load"),
        filter=_FILTER + _TIME_FILTER,
    )
    params = _filter_params(transformers, grid_id) | {
        "bin": bin,
        "lo": lo,
        "hi": hi,
        "min_cov": min_coverage,
        "limit": max_rows + 1,
    }
    frame = _run(conn, query, params)
    if len(frame) > max_rows:
        raise ConfigError(
            f"more than {max_rows} {bin} bins for the chosen transformers and "
            "dates: use a coarser --bin, fewer transformers or a shorter "
            "--start/--end range"
        )
    frame = _float_columns(
        frame,
        [
            "min_budgeted_headroom_kw",
            "mean_budgeted_headroom_kw",
            "max_load_kw",
            "mean_load_kw",
            "capacity_kw",
        ],
    )
    frame.attrs["bin"] = bin
    return frame


def query_headroom_quantiles(
    conn: psycopg.Connection,
    transformers: Sequence[str] | None = None,
    *,
    by: By = "month",
    grid_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    min_coverage: float | None = None,
    schema: str = "evcap",
) -> pd.DataFrame:
    """Distribution of budgeted headroom per transformer and local month or hour.

    The quantiles are computed in SQL (``percentile_cont``) over every
    interval of ``fct_transformer_load``; only the five-number summaries come
    back (at most 24 rows per transformer).

    Returns
    -------
    pandas.DataFrame
        grid_id, transformer_id, period (local month 1-12 or hour 0-23),
        intervals, min_budgeted_headroom_kw, p25_budgeted_headroom_kw,
        p50_budgeted_headroom_kw, p75_budgeted_headroom_kw,
        max_budgeted_headroom_kw, mean_budgeted_headroom_kw (kW).

    Raises
    ------
    ConfigError
        When ``by`` is not "month" or "hour".
    SchemaError
        When ``fct_transformer_load`` is missing.
    """
    if by not in ("month", "hour"):
        raise ConfigError(f"by must be 'month' or 'hour', got {by!r}")
    lo, hi = _date_bounds(start, end)
    query = sql.SQL(
        """
        select
            grid_id,
            transformer_id,
            period,
            intervals,
            min_kw as min_budgeted_headroom_kw,
            q[1] as p25_budgeted_headroom_kw,
            q[2] as p50_budgeted_headroom_kw,
            q[3] as p75_budgeted_headroom_kw,
            max_kw as max_budgeted_headroom_kw,
            mean_kw as mean_budgeted_headroom_kw
        from (
            select
                grid_id,
                transformer_id,
                cast(extract({part} from interval_local) as integer) as period,
                count(*) as intervals,
                min(budgeted_headroom_kw) as min_kw,
                percentile_cont(array[0.25, 0.5, 0.75])
                    within group (order by budgeted_headroom_kw) as q,
                max(budgeted_headroom_kw) as max_kw,
                avg(budgeted_headroom_kw) as mean_kw
            from {relation}
            where {filter} and budgeted_headroom_kw is not null
            group by grid_id, transformer_id, 3
        ) as summaries
        order by grid_id, transformer_id, period
        """
    ).format(
        part=sql.SQL(by),
        relation=_relation(schema, "fct_transformer_load"),
        filter=_FILTER + _TIME_FILTER,
    )
    params = _filter_params(transformers, grid_id) | {
        "lo": lo,
        "hi": hi,
        "min_cov": min_coverage,
    }
    frame = _run(conn, query, params)
    frame = _float_columns(frame, [c for c in frame.columns if c.endswith("_kw")])
    frame.attrs["by"] = by
    return frame


def query_load_with_chargers(
    conn: psycopg.Connection,
    added_kw: pd.DataFrame,
    *,
    window_name: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    schema: str = "evcap",
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """Peak load per bin before and after adding chargers that run in a window.

    The chargers' power is added to every interval inside the charging window
    (seed ``charging_windows``: local month, hour and ISO weekday ranges,
    inclusive, wrapping when start > end) and to no other.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the marts and seeds.
    added_kw : pandas.DataFrame
        grid_id, transformer_id, added_kw: the chargers' simultaneous power
        per transformer (e.g. the sum of ``power_kw`` of a mix), kW.
    window_name : str
        The charging window the chargers run in.
    start, end, bin, schema, max_rows
        As in :func:`query_headroom_series`.

    Returns
    -------
    pandas.DataFrame
        grid_id, transformer_id, window_name, added_kw, bin_start, max_load_kw,
        max_load_with_chargers_kw, capacity_kw (kW).

    Raises
    ------
    ConfigError
        For an unknown window or bin, or too many rows.
    SchemaError
        When a mart or the seed is missing.
    """
    _require_columns(added_kw, ["grid_id", "transformer_id", "added_kw"], "added_kw")
    windows = _run(
        conn,
        sql.SQL("select window_name from {} order by window_name").format(
            _relation(schema, "charging_windows")
        ),
        None,
    )
    known = list(windows["window_name"]) if not windows.empty else []
    if window_name not in known:
        raise ConfigError(
            f"unknown charging window {window_name!r}; known: {', '.join(known)}"
        )
    transformers = [str(t) for t in added_kw["transformer_id"]]
    grids = {str(g) for g in added_kw["grid_id"]}
    if bin == "auto":
        bin = choose_bin(
            conn,
            transformers,
            grid_id=next(iter(grids)) if len(grids) == 1 else None,
            start=start,
            end=end,
            schema=schema,
            max_rows=max_rows,
        )
    if bin not in BINS:
        raise ConfigError(f"bin must be one of {', '.join(BINS)}, got {bin!r}")
    lo, hi = _date_bounds(start, end)

    def in_range(part: str, lo_col: str, hi_col: str) -> sql.Composed:
        return sql.SQL(
            "(case when w.{lo} is null or w.{hi} is null then true"
            " when w.{lo} <= w.{hi} then extract({part} from f.interval_local)"
            " between w.{lo} and w.{hi}"
            " else extract({part} from f.interval_local) >= w.{lo}"
            " or extract({part} from f.interval_local) <= w.{hi} end)"
        ).format(
            part=sql.SQL(part), lo=sql.Identifier(lo_col), hi=sql.Identifier(hi_col)
        )

    in_window = sql.SQL(" and ").join(
        [
            in_range("month", "month_start", "month_end"),
            in_range("hour", "hour_start", "hour_end"),
            in_range("isodow", "isodow_start", "isodow_end"),
        ]
    )
    query = sql.SQL(
        """
        with added as (
            select *
            from unnest(%(grids)s::text[], %(ids)s::text[], %(kw)s::float8[])
                as a (grid_id, transformer_id, added_kw)
        ),
        w as (
            select * from {windows} where window_name = %(window)s
        )
        select
            f.grid_id,
            f.transformer_id,
            %(window)s as window_name,
            max(a.added_kw) as added_kw,
            date_trunc(%(bin)s, f.interval_local) as bin_start,
            max(f.load_kw) as max_load_kw,
            max(f.load_kw + case when {in_window} then a.added_kw else 0 end)
                as max_load_with_chargers_kw,
            max(f.capacity_kw) as capacity_kw
        from {relation} as f
        inner join added as a
            on f.grid_id = a.grid_id and f.transformer_id = a.transformer_id
        cross join w
        where (%(lo)s::timestamp is null or f.interval_local >= %(lo)s::timestamp)
            and (%(hi)s::timestamp is null or f.interval_local < %(hi)s::timestamp)
        group by f.grid_id, f.transformer_id, date_trunc(%(bin)s, f.interval_local)
        order by f.grid_id, f.transformer_id, bin_start
        limit %(limit)s
        """
    ).format(
        windows=_relation(schema, "charging_windows"),
        relation=_relation(schema, "fct_transformer_load"),
        in_window=in_window,
    )
    params = {
        "grids": [str(g) for g in added_kw["grid_id"]],
        "ids": transformers,
        "kw": [float(v) for v in added_kw["added_kw"]],
        "window": window_name,
        "bin": bin,
        "lo": lo,
        "hi": hi,
        "limit": max_rows + 1,
    }
    frame = _run(conn, query, params)
    if len(frame) > max_rows:
        raise ConfigError(
            f"more than {max_rows} {bin} bins: use a coarser --bin, fewer "
            "transformers or a shorter --start/--end range"
        )
    frame = _float_columns(frame, [c for c in frame.columns if c.endswith("_kw")])
    frame.attrs["bin"] = bin
    return frame


# --- charts --------------------------------------------------------------------


def headroom_over_time_chart(
    series: pd.DataFrame, *, stat: Stat = "both", title: str | None = None
) -> alt.TopLevelMixin:
    """Budgeted headroom over time, one line per transformer (and statistic).

    Parameters
    ----------
    series : pandas.DataFrame
        Output of :func:`query_headroom_series`: transformer_id, bin_start,
        min_budgeted_headroom_kw, mean_budgeted_headroom_kw (kW).
    stat : {"min", "mean", "both"}
        Which statistic of each bin to draw; "both" draws the minimum solid
        and the mean dashed.
    title : str, optional
        Chart title (default names the transformers and the bin width).

    Raises
    ------
    ConfigError
        For an unknown ``stat`` or missing columns.
    """
    if stat not in ("min", "mean", "both"):
        raise ConfigError(f"stat must be 'min', 'mean' or 'both', got {stat!r}")
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
    bin_name = str(series.attrs.get("bin", "bin"))
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
    quantiles: pd.DataFrame, *, title: str | None = None
) -> alt.TopLevelMixin:
    """Box plots of budgeted headroom per local month or hour, per transformer.

    Boxes span the quartiles, whiskers the minimum and maximum, the black tick
    is the median; transformers sit side by side within each month or hour.

    Parameters
    ----------
    quantiles : pandas.DataFrame
        Output of :func:`query_headroom_quantiles` (its ``attrs["by"]`` says
        month or hour; a ``period`` column holds the month 1-12 or hour 0-23).
    title : str, optional
        Chart title.
    """
    by = str(quantiles.attrs.get("by", "month"))
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
    series: pd.DataFrame, *, title: str | None = None
) -> alt.TopLevelMixin:
    """Peak load over time with and without the added chargers, and capacity.

    Parameters
    ----------
    series : pandas.DataFrame
        Output of :func:`query_load_with_chargers`: transformer_id, bin_start,
        max_load_kw, max_load_with_chargers_kw, capacity_kw, added_kw,
        window_name (kW).
    title : str, optional
        Chart title.
    """
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
    bin_name = str(series.attrs.get("bin", "bin"))
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


def grid_overview_chart(
    window_headroom: pd.DataFrame,
    transformers: pd.DataFrame | None = None,
    *,
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
    fit: pd.DataFrame | None = None,
    *,
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


# --- one entry point for the CLI ------------------------------------------------

PlotKind = Literal[
    "headroom",
    "monthly",
    "hourly",
    "heatmap",
    "fit",
    "mix",
    "with-chargers",
    "overview",
    "map",
    "thermal",  # issue #13
]
PLOT_KINDS: tuple[str, ...] = get_args(PlotKind)
"""The chart kinds of :func:`make_plot` (and of ``evcap plot``)."""


_NAME_LABELS = {"window_name": "charging window", "charger_type": "charger type"}


def _check_name(
    conn: psycopg.Connection, name: str, mart: str, column: str, schema: str
) -> None:
    """Raise ConfigError unless ``name`` is a value of ``mart.column``."""
    known = _run(
        conn,
        sql.SQL("select distinct {c} from {t} order by {c}").format(
            c=sql.Identifier(column), t=_relation(schema, mart)
        ),
        None,
    )
    names = [str(v) for v in known[column]] if not known.empty else []
    if name not in names:
        raise ConfigError(
            f"unknown {_NAME_LABELS[column]} {name!r}; known: "
            f"{', '.join(names) or 'none (build the marts)'}"
        )


def _pick_window(frame: pd.DataFrame, window: str | None) -> str | None:
    """``window`` when given; else "nightly" when present, else the widest."""
    if window is not None:
        return window
    if frame.empty:
        return None
    names = set(frame["window_name"].astype(str))
    return "nightly" if "nightly" in names else default_window(frame)


def make_plot(
    conn: psycopg.Connection,
    kind: PlotKind,
    transformers: Sequence[str] | None = None,
    *,
    grid_id: str | None = None,
    window: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    stat: Stat = "both",
    charger_type: str | None = None,
    mode: str = "max-power",
    schema: str = "evcap",
) -> alt.TopLevelMixin:
    """Read what chart ``kind`` needs from the database and draw it.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the marts.
    kind : str
        headroom, monthly, hourly, heatmap, fit, mix, with-chargers, overview
        or map (see the ``*_chart`` functions).
    transformers : sequence of str, optional
        Transformer ids (all of ``grid_id`` when None).
    grid_id, start, end, bin, stat, schema
        As in :func:`query_headroom_series` / :func:`headroom_over_time_chart`.
    window : str, optional
        Charging window: overview, map and with-chargers default to
        "nightly" (when present), fit and mix to every window.
    charger_type : str, optional
        Map and with-chargers: the charger type (default the lowest power).
    mode : str
        Mix: the :func:`evcap.mix.fit` mode; proportion modes use equal
        shares of the seed charger types.

    Raises
    ------
    ConfigError
        For an unknown kind, window (not in ``transformer_window_headroom``),
        charger type (not in ``transformer_charger_fit``), bin, or a mix mode
        not in :data:`MIX_CHART_MODES` (``single``: use kind fit).
    UnknownTransformerError
        When a transformer id is not in ``dim_transformers``.
    SchemaError
        When the marts are missing.
    """
    from evcap.marts import read_mart

    check_transformers(conn, transformers, grid_id=grid_id, schema=schema)
    ids = list(transformers) if transformers is not None else None
    if kind == "mix" and mode not in MIX_CHART_MODES:
        hint = " (its rows are alternatives: use kind fit)" if mode == "single" else ""
        raise ConfigError(
            f"mix mode {mode!r} cannot be drawn as a mix{hint}; choose one of "
            f"{', '.join(MIX_CHART_MODES)}"
        )
    if window is not None and kind in (
        "fit",
        "overview",
        "map",
        "with-chargers",
        "thermal",
    ):
        _check_name(conn, window, "transformer_window_headroom", "window_name", schema)
    if charger_type is not None and kind in ("map", "with-chargers", "thermal"):
        _check_name(
            conn, charger_type, "transformer_charger_fit", "charger_type", schema
        )
    if kind == "headroom":
        series = query_headroom_series(
            conn, ids, grid_id=grid_id, start=start, end=end, bin=bin, schema=schema
        )
        return headroom_over_time_chart(series, stat=stat)
    if kind in ("monthly", "hourly"):
        by: By = "month" if kind == "monthly" else "hour"
        quantiles = query_headroom_quantiles(
            conn, ids, by=by, grid_id=grid_id, start=start, end=end, schema=schema
        )
        return headroom_boxplot_chart(quantiles)
    if kind == "heatmap":
        profile = read_mart(conn, "transformer_headroom_profile", schema, ids, grid_id)
        return headroom_heatmap_chart(profile)
    if kind == "fit":
        fit = read_mart(conn, "transformer_charger_fit", schema, ids, grid_id)
        if window is not None:
            fit = fit[fit["window_name"] == window]
        return charger_fit_chart(fit)
    if kind == "mix":
        try:
            from evcap.mix import fit as mix_fit
            from evcap.mix import load_charger_types
        except ImportError as exc:
            raise ConfigError(
                f"the mix layer (evcap.mix) is not available: {exc}"
            ) from exc

        extra: dict[str, Any] = {}
        if "proportions" in mode:
            chargers = load_charger_types()
            extra["proportions"] = [100.0 / len(chargers)] * len(chargers)
        mixes = mix_fit(
            conn,
            transformers=ids,
            window=window,
            mode=mode,  # type: ignore[arg-type]
            grid_id=grid_id,
            schema=schema,
            **extra,
        )
        return mix_chart(mixes)
    if kind == "thermal":  # issue #13
        from evcap.thermal_plots import thermal_chart

        return thermal_chart(
            conn,
            ids,
            grid_id=grid_id,
            window=window,
            charger_type=charger_type,
            schema=schema,
        )
    if kind in ("overview", "map", "with-chargers"):
        heads = read_mart(conn, "transformer_window_headroom", schema, ids, grid_id)
        chosen = _pick_window(heads, window)
        if kind == "overview":
            dim = read_mart(conn, "dim_transformers", schema, ids, grid_id)
            return grid_overview_chart(heads, dim, window_name=chosen)
        fit = read_mart(conn, "transformer_charger_fit", schema, ids, grid_id)
        if kind == "map":
            dim = read_mart(conn, "dim_transformers", schema, ids, grid_id)
            return transformer_map_chart(
                dim, fit, window_name=chosen, charger_type=charger_type
            )
        title = "Peak load with the chargers added"
        fit = fit[fit["window_name"] == chosen]
        if fit.empty or chosen is None:
            return no_data_chart(f"no charger fits in window {chosen}", title)
        ctype = charger_type or default_charger_type(fit)
        fit = fit[fit["charger_type"] == ctype]
        coincidence = (
            pd.to_numeric(fit["coincidence_factor"]).fillna(1.0)
            if "coincidence_factor" in fit.columns
            else 1.0
        )
        added = fit.assign(
            added_kw=pd.to_numeric(fit["max_chargers"]).fillna(0)
            * pd.to_numeric(fit["charger_power_kw"])
            * coincidence
        )
        added = added[added["added_kw"] > 0][["grid_id", "transformer_id", "added_kw"]]
        if added.empty:
            return no_data_chart(f"no {ctype} chargers fit in window {chosen}", title)
        series = query_load_with_chargers(
            conn,
            added,
            window_name=chosen,
            start=start,
            end=end,
            bin=bin,
            schema=schema,
        )
        return load_with_chargers_chart(
            series, title=f"Peak load with the {ctype} chargers that fit added"
        )
    raise ConfigError(f"unknown plot kind {kind!r}")


# --- defaults --------------------------------------------------------------------


def default_window(window_headroom: pd.DataFrame) -> str:
    """The window covering the most intervals (the "all time" window)."""
    if "intervals_in_window" in window_headroom.columns:
        totals = (
            window_headroom.groupby("window_name")["intervals_in_window"]
            .sum()
            .sort_values(ascending=False, kind="stable")
        )
        if not totals.empty:
            return str(totals.index[0])
    return _first_window(window_headroom)


def _first_window(frame: pd.DataFrame) -> str:
    names = [str(n) for n in dict.fromkeys(frame["window_name"])]
    for name in names:
        if name.replace("_", " ").startswith("all"):
            return name
    return names[0]


def default_charger_type(fit: pd.DataFrame) -> str:
    """The charger type with the lowest power (the one most of fit)."""
    if "charger_power_kw" in fit.columns:
        ordered = fit.sort_values(["charger_power_kw", "charger_type"])
        return str(ordered["charger_type"].iloc[0])
    return str(sorted(fit["charger_type"].astype(str))[0])


MONTH_NAMES = _MONTH_NAMES
