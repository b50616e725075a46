"""What a night reads: per-table read counters around an ``evcap build``.

A night (an incremental ``evcap build``) should read its days, not the
history. PostgreSQL counts, per table, the rows its sequential scans read and
the rows fetched through its indexes (``pg_stat_user_tables``); a snapshot
before and after a build gives what that build read. ``run_bench.py`` takes
them around the last night with no new data and the +1 day night, prints the
tables read most and checks that no partition of the load table holding
history was read whole by sequential scans.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import yaml
from psycopg import sql

from evcap import db

T = TypeVar("T")

# The load table (the roll-up), partitioned by UTC month: its partitions are
# its child tables in pg_inherits, named <table>_pYYYYMM
# (macros/evcap_partitions.sql).
LOAD_TABLE = "int_transformer_loads_rolled_up"
LOAD_PARTITION_MONTH = re.compile(rf"^{LOAD_TABLE}_p(\d{{4}})(\d{{2}})$")
READ_COUNTERS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch")
# A backend sends its table statistics at most once a second and when it
# exits, which may be after dbt has: wait this long before a snapshot, so
# that the previous run's reads are in it.
STATS_SETTLE_S = 2.0
NIGHTS = {"no_new_data": "no new data", "one_new_day": "+1 day"}


def read_counters(dsn: str, schema: str) -> dict[int, dict[str, Any]]:
    """Read counters of every table of ``schema`` (``pg_stat_user_tables``), by relid.

    Each: relname, parent (the table it is a partition of, else None),
    seq_scan, seq_tup_read, idx_scan, idx_tup_fetch and n_live_tup. Waits
    ``STATS_SETTLE_S`` first, then reads until two reads half a second apart
    agree (a few at most), each after ``pg_stat_clear_snapshot()``.
    """
    query = """
        select
            s.relid::bigint,
            s.relname,
            (
                select parent.relname
                from pg_inherits as i
                inner join pg_class as parent on parent.oid = i.inhparent
                where i.inhrelid = s.relid
                limit 1
            ) as parent,
            coalesce(s.seq_scan, 0),
            coalesce(s.seq_tup_read, 0),
            coalesce(s.idx_scan, 0),
            coalesce(s.idx_tup_fetch, 0),
            coalesce(s.n_live_tup, 0)
        from pg_stat_user_tables as s
        where s.schemaname = %s
    """
    keys = ("relname", "parent", *READ_COUNTERS, "n_live_tup")

    def counters(snapshot: dict[int, dict[str, Any]]) -> dict[int, tuple[int, ...]]:
        return {
            relid: tuple(rel[k] for k in READ_COUNTERS)
            for relid, rel in snapshot.items()
        }

    time.sleep(STATS_SETTLE_S)
    previous: dict[int, dict[str, Any]] | None = None
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(5):
            conn.execute("select pg_stat_clear_snapshot()")
            snapshot = {
                int(row[0]): dict(zip(keys, row[1:], strict=True))
                for row in conn.execute(query, (schema,)).fetchall()
            }
            if previous is not None and counters(snapshot) == counters(previous):
                break
            previous = snapshot
            time.sleep(0.5)
    return snapshot


def read_deltas(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What every table of ``after`` read since ``before``, by name.

    Per table the counters' deltas, ``rows_read`` (seq_tup_read +
    idx_tup_fetch), its parent and ``live_rows``: the fewer of its live rows
    at either end (a night reads the stored rows before it adds its own). A
    table new since ``before`` (a partition created, a table model rebuilt
    under its name) counts from zero; one dropped in between is not seen.
    """
    deltas: dict[str, dict[str, Any]] = {}
    for relid, now in after.items():
        was = before.get(relid)
        delta: dict[str, Any] = {
            k: now[k] - (was[k] if was else 0) for k in READ_COUNTERS
        }
        delta["rows_read"] = delta["seq_tup_read"] + delta["idx_tup_fetch"]
        delta["parent"] = now["parent"]
        delta["live_rows"] = (
            now["n_live_tup"]
            if was is None
            else min(was["n_live_tup"], now["n_live_tup"])
        )
        deltas[now["relname"]] = delta
    return deltas


def night_window_start(dsn: str, schema: str) -> dt.datetime | None:
    """Where a night's reads of the load table may begin; None when it is empty.

    The latest stored interval minus ``var('lookback_hours')`` (dbt_project.yml):
    a night recomputes its lookback and adds the new intervals after it.
    """
    project = yaml.safe_load((db.project_dir() / "dbt_project.yml").read_text())
    lookback = dt.timedelta(hours=float(project["vars"]["lookback_hours"]))
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("select max(interval_start) from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(LOAD_TABLE)
            )
        ).fetchone()
    latest: dt.datetime | None = row[0] if row else None
    return None if latest is None else latest - lookback


def measured_night(
    dsn: str, schema: str, run: Callable[[], T]
) -> tuple[T, dict[str, Any]]:
    """``run()`` and what the tables of ``schema`` read in it: ``deltas``
    (``read_deltas``), ``window_start``."""
    window_start = night_window_start(dsn, schema)
    before = read_counters(dsn, schema)
    value = run()
    deltas = read_deltas(before, read_counters(dsn, schema))
    return value, {"deltas": deltas, "window_start": window_start}


def relations_read(deltas: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The tables that read rows, most rows first, with their counters."""
    read = sorted(
        ((name, d) for name, d in deltas.items() if d["rows_read"]),
        key=lambda kv: (-kv[1]["rows_read"], kv[0]),
    )
    return {
        name: {k: d[k] for k in ("rows_read", *READ_COUNTERS, "live_rows")}
        for name, d in read
    }


def load_partitions_read(night: dict[str, Any]) -> list[dict[str, Any]]:
    """Every partition of the load table in a night (``measured_night``).

    Per partition its rows read, ``whole_reads`` (the rows its sequential
    scans read over its live rows: 1 or more when sequential scans read as
    many rows as it holds, in one scan or several) and ``history``: whether
    it holds rows before the night's window (``night_window_start``). One
    whose month begins inside the window holds the night's days only (the
    first days of a month) and may be read whole. An unpartitioned load
    table counts as one partition holding history.
    """
    deltas: dict[str, dict[str, Any]] = night["deltas"]
    window_start: dt.datetime | None = night["window_start"]
    parts = {n: d for n, d in deltas.items() if d["parent"] == LOAD_TABLE}
    if not parts and LOAD_TABLE in deltas:
        parts = {LOAD_TABLE: deltas[LOAD_TABLE]}
    found = []
    for name, d in sorted(parts.items()):
        month = LOAD_PARTITION_MONTH.match(name)
        history = (
            month is None
            or window_start is None
            or dt.datetime(int(month[1]), int(month[2]), 1, tzinfo=dt.UTC)
            < window_start
        )
        found.append(
            {
                "partition": name,
                "history": history,
                "rows_read": d["rows_read"],
                "seq_scan": d["seq_scan"],
                "seq_tup_read": d["seq_tup_read"],
                "idx_tup_fetch": d["idx_tup_fetch"],
                "live_rows": d["live_rows"],
                "whole_reads": d["seq_tup_read"] / max(d["live_rows"], 1),
            }
        )
    return found


def night_reads(nights: dict[str, dict[str, Any]], appended: int) -> dict[str, Any]:
    """The results of the measured nights (``NIGHTS``: name -> measured_night's)."""
    partitions = {night: load_partitions_read(n) for night, n in nights.items()}
    load_rows = {
        night: sum(p["rows_read"] for p in parts) for night, parts in partitions.items()
    }
    worst = max(
        (
            {"night": night, **p}
            for night, parts in partitions.items()
            for p in parts
            if p["history"]
        ),
        key=lambda p: p["whole_reads"],
        default=None,
    )
    return {
        "night_reads": {
            night: relations_read(n["deltas"]) for night, n in nights.items()
        },
        "night_window_start": {night: n["window_start"] for night, n in nights.items()},
        "night_load_partitions": partitions,
        "night_load_rows_read": load_rows,
        "night_load_rows_read_per_appended_reading": (
            load_rows["one_new_day"] / appended if appended else math.nan
        ),
        "load_partition_worst": worst,
    }


def print_night_reads(
    name: str, night: dict[str, Any], schema: str, n: int = 5
) -> None:
    """The ``n`` tables of ``schema`` the night read most rows of."""
    read = relations_read(night["deltas"])
    total = sum(d["rows_read"] for d in read.values())
    print(
        f"  rows read by the night ({NIGHTS[name]}): {total:,} from"
        f" {len(read)} tables of {schema}; most:"
    )
    print(
        f"    {'table':<44} {'rows read':>10} {'seq scans':>9}"
        f" {'by seq scan':>11} {'live rows':>10}"
    )
    for table, d in list(read.items())[:n]:
        print(
            f"    {table:<44} {d['rows_read']:>10,} {d['seq_scan']:>9,}"
            f" {d['seq_tup_read']:>11,} {d['live_rows']:>10,}"
        )
    for p in load_partitions_read(night):
        if p["rows_read"]:
            print(
                f"    load partition {p['partition'].removeprefix(LOAD_TABLE)}:"
                f" seq scans read {p['whole_reads']:.2f}x its rows"
                + ("" if p["history"] else " (no history: not checked)")
            )
