"""Aggregating reads of ``fct_transformer_load`` for the charts and the report.

Each ``query_*`` function runs one SQL query that bins or summarises the
intervals in the database (local time), so the raw intervals never leave it
and every chart stays far below Altair's 5,000-row limit. Power in kW.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import psycopg
from psycopg import sql

from evcap.errors import ConfigError
from evcap.marts.common import (
    _FILTER,
    _filter_params,
    _float_columns,
    _relation,
    _require_columns,
    _run,
)

Bin = Literal["hour", "day", "week"]
By = Literal["month", "hour"]


@dataclass(frozen=True)
class BinnedSeries:
    """A per-transformer series binned in local time, and the bin it used.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per transformer and bin (columns as the query says).
    bin : {"hour", "day", "week"}
        The bin width (``"auto"`` resolved).
    """

    frame: pd.DataFrame
    bin: Bin


@dataclass(frozen=True)
class Quantiles:
    """Headroom quantiles per transformer and local month or hour.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per transformer and ``period`` (kW columns).
    by : {"month", "hour"}
        What ``period`` is: local month (1-12) or local hour (0-23).
    """

    frame: pd.DataFrame
    by: By


#: Altair's default row limit; the query helpers aggregate to stay below it.
MAX_ROWS = 5000
BINS: tuple[Bin, ...] = ("hour", "day", "week")
_BIN_HOURS = {"hour": 1, "day": 24, "week": 24 * 7}


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
    *,
    transformers: Sequence[str] | None = None,
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
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    min_coverage: float | None = None,
    schema: str = "evcap",
    max_rows: int = MAX_ROWS,
) -> BinnedSeries:
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
    BinnedSeries
        ``.bin`` the bin used; ``.frame``: grid_id, transformer_id,
        bin_start (local), intervals,
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
            transformers=transformers,
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
    return BinnedSeries(frame, bin)


def query_headroom_quantiles(
    conn: psycopg.Connection,
    *,
    transformers: Sequence[str] | None = None,
    by: By = "month",
    grid_id: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    min_coverage: float | None = None,
    schema: str = "evcap",
) -> Quantiles:
    """Distribution of budgeted headroom per transformer and local month or hour.

    The quantiles are computed in SQL (``percentile_cont``) over every
    interval of ``fct_transformer_load``; only the five-number summaries come
    back (at most 24 rows per transformer).

    Returns
    -------
    Quantiles
        ``.by`` as given; ``.frame``: grid_id, transformer_id, period (local month 1-12 or hour 0-23),
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
    return Quantiles(frame, by)


def query_load_with_chargers(
    conn: psycopg.Connection,
    *,
    added_kw: pd.DataFrame,
    window_name: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    schema: str = "evcap",
    max_rows: int = MAX_ROWS,
) -> BinnedSeries:
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
    BinnedSeries
        ``.bin`` the bin used; ``.frame``: grid_id, transformer_id,
        window_name, added_kw, bin_start, max_load_kw,
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
            transformers=transformers,
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
    return BinnedSeries(frame, bin)
