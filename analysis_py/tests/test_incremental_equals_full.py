"""Incremental ``evcap build`` equals a full refresh, whatever changed (#9 item 5).

A small grid with every defect the generator knows is built once (its last
day held back). Each case clones that database (``create database ...
template``), applies edits of the kind a real EDM sees between two nightly
runs, appends the held-back day, runs an incremental ``dbt build`` (which
must pass its own data tests) and then a full refresh into a second schema:
every mart must then be equal row for row (``rebuilt_at`` and the other
bookkeeping columns aside). One deterministic test per edit kind, and a
hypothesis test over random sequences of them (few examples: each is several
dbt runs).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from conftest import Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from evcap import db
from evcap.dbt_runner import run_dbt
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin

pytestmark = pytest.mark.slow

SPEC = GridSpec(seed=5, meters=16, days=3, interval_minutes=60, defects=True)
EDM = "edm"
INCREMENTAL = "evcap"
FULL = "evcap_full"
# Marts (and the incremental intermediates behind them: calendar cells,
# profile and window loads, issues list) compared, with the columns that identify a row.
MARTS: dict[str, list[str]] = {
    "dim_transformers": ["grid_id", "transformer_id"],
    "fct_transformer_load": ["grid_id", "transformer_id", "interval_start"],
    "transformer_headroom_profile": [
        "grid_id",
        "transformer_id",
        "local_month",
        "local_hour",
    ],
    "transformer_window_headroom": ["grid_id", "transformer_id", "window_name"],
    "transformer_charger_fit": [
        "grid_id",
        "transformer_id",
        "window_name",
        "charger_type",
    ],
    "int_transformer_load_cells": [
        "grid_id",
        "transformer_id",
        "local_month",
        "local_isodow",
        "local_hour",
    ],
    "int_transformer_profile_loads": [
        "grid_id",
        "transformer_id",
        "local_month",
        "local_hour",
    ],
    "int_transformer_window_loads": ["grid_id", "transformer_id", "window_name"],
    "int_data_issues_collected": [
        "grid_id",
        "element_id",
        "issue_code",
        "data_source_id",
    ],
}
# Which run wrote a row is not part of what it says. A cell's loads array
# is compared through what it adds up to (count, sum, min, max here; the
# percentiles in the marts), since equal loads may differ in the last bit.
BOOKKEEPING = {
    "rebuilt_at",
    "loads_rebuilt_at",
    "loads_kw",
    "built_at",
    "cells_built_at",
    "cells_seen_at",
    # the version a cell replaced (none after a full refresh)
    "previous_loads_kw",
    "previous_built_at",
    # the band a window keeps around its percentile: where it lies depends
    # on when the pair was last recomputed in full (the percentile does not)
    "band_low_kw",
    "band_high_kw",
    "loads_at_or_below_band",
    "band_loads_kw",
}


@dataclass(frozen=True)
class Baseline:
    """A database holding the grid (last day held back) built incrementally."""

    server: Server
    database: str
    vars: dict[str, Any]


def _admin(server: Server) -> psycopg.Connection:
    return psycopg.connect(server.admin_dsn, autocommit=True)


def _drop(server: Server, name: str) -> None:
    with _admin(server) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(name)
            )
        )


def _load_holding_back_the_last_day(dsn: str, spec: GridSpec) -> None:
    """The EDM stand-in with ``spec``'s grid, its last day's readings moved
    to ``public.held_back`` (a later night inserts them)."""
    last_day = pd.Timestamp(spec.end_utc) - pd.Timedelta(days=1)
    with psycopg.connect(dsn) as conn:
        install_standin(conn, EDM, replace=True)
        load_grid(conn, build_grid(spec), EDM, progress=False)
        conn.execute(
            "create table public.held_back as select * from"
            " edm.ts_data_source_reading where ts >= %s",
            (last_day,),
        )
        conn.execute(
            "delete from edm.ts_data_source_reading where ts >= %s", (last_day,)
        )
        conn.commit()


@pytest.fixture(scope="module")
def baseline(
    pg_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Baseline]:
    """The grid without its last day, built once with ``dbt build``."""
    if pg_server.name != "pg18-embedded":
        pytest.skip("checked on one server (each case is several dbt runs)")
    name = f"evcap_test_incr_base_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        dsn = db.with_database(pg_server.admin_dsn, name)
        _load_holding_back_the_last_day(dsn, SPEC)
        # A lookback shorter than the history, so an incremental run keeps
        # rows it does not recompute (what the edits must not leave stale).
        base = Baseline(pg_server, name, {"edm_schema": EDM, "lookback_hours": 6})
        _build(dsn, INCREMENTAL, base.vars, tmp_path_factory.mktemp("base"))
        yield base
    finally:
        _drop(pg_server, name)


def _build(
    dsn: str,
    schema: str,
    vars: dict[str, Any],
    target: Path,
    *extra: str,
) -> None:
    run_dbt(["build", *extra], dsn, target_schema=schema, vars=vars, target_path=target)


Edit = Callable[[psycopg.Connection, dict[str, Any]], None]


def _one(conn: psycopg.Connection, query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def meter_moved(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A meter's service drop reconnected under another distribution transformer."""
    meter, old = conn.execute(
        "select meter_id, transformer_id from evcap.int_meters_mapped_to_transformers"
        " where level = 1 and has_consumer_source order by meter_id limit 1"
    ).fetchone() or (None, None)
    assert meter is not None
    other = _one(
        conn,
        "select transformer_id from evcap.dim_transformers"
        " where meters_direct > 0 and transformer_id <> %s"
        " order by transformer_id desc limit 1",
        old,
    )
    conn.execute(
        "update edm.grid_element set upstream_grid_element_id = %s"
        " where grid_element_id = %s",
        (other, meter),
    )


def transformer_removed(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A distribution transformer taken out: what it fed hangs from nothing."""
    tid = _one(
        conn,
        "select transformer_id from evcap.dim_transformers"
        " where meters_direct > 0 and upstream_transformer_id is not null"
        " order by transformer_id limit 1",
    )
    conn.execute(
        "update edm.grid_element set upstream_grid_element_id = null"
        " where upstream_grid_element_id = %s",
        (tid,),
    )
    conn.execute("delete from edm.grid_element where grid_element_id = %s", (tid,))


def transformer_renamed(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A transformer's element id changed (GIS re-keyed it)."""
    tid = _one(
        conn,
        "select transformer_id from evcap.dim_transformers"
        " where meters_direct > 0 order by transformer_id desc limit 1",
    )
    new = tid + "-R"
    conn.execute(
        "insert into edm.grid_element select grid_id, %s, type, customer_type,"
        " phases, is_underground, is_producer, is_consumer, is_switchable,"
        " switch_is_open, terminal1_cn, terminal2_cn, power_flow_direction,"
        " upstream_grid_element_id, geometry, meta from edm.grid_element"
        " where grid_element_id = %s",
        (new, tid),
    )
    conn.execute(
        "update edm.grid_element set upstream_grid_element_id = %s"
        " where upstream_grid_element_id = %s",
        (new, tid),
    )
    conn.execute("delete from edm.grid_element where grid_element_id = %s", (tid,))


def meter_added_with_backfill(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A new meter whose history arrives at once (every day, held-back one too)."""
    meter, source = conn.execute(
        "select e.grid_element_id, d.grid_element_data_source_id"
        " from edm.grid_element as e join edm.grid_element_data_source as d"
        " on d.grid_id = e.grid_id and d.grid_element_id = e.grid_element_id"
        " where e.type = 'Meter' and d.type = 'CONSUMER'"
        " order by e.grid_element_id limit 1"
    ).fetchone() or (None, None)
    assert meter is not None
    new_meter, new_source = meter + "-NEW", uuid.uuid4()
    conn.execute(
        "insert into edm.grid_element select grid_id, %s, type, customer_type,"
        " phases, is_underground, is_producer, is_consumer, is_switchable,"
        " switch_is_open, terminal1_cn, terminal2_cn, power_flow_direction,"
        " upstream_grid_element_id, geometry, meta from edm.grid_element"
        " where grid_element_id = %s",
        (new_meter, meter),
    )
    conn.execute(
        "insert into edm.grid_element_data_source select %s, grid_id, %s, type,"
        " provider, direction, friendly_id || '-NEW', phases, metrics, valid"
        " from edm.grid_element_data_source where grid_element_data_source_id = %s",
        (new_source, new_meter, source),
    )
    for table in ("edm.ts_data_source_reading", "public.held_back"):
        conn.execute(
            sql.SQL(
                "insert into {table} select %s, metric, ts, value * 1.5, period_s,"
                " received_at from {table} where data_source_id = %s"
            ).format(table=sql.SQL(table)),
            (new_source, source),
        )


def valid_range_changed(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A data source's valid range starts a day later (installed later)."""
    conn.execute(
        "update edm.grid_element_data_source"
        " set valid = tstzrange(lower(valid) + interval '1 day', upper(valid))"
        " where grid_element_data_source_id = ("
        "   select grid_element_data_source_id from edm.grid_element_data_source"
        "   where type = 'CONSUMER' order by grid_element_id limit 1)"
    )


def reading_corrected_late(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A meter's reading three hours before the night's data, corrected later."""
    conn.execute(
        "insert into edm.ts_data_source_reading"
        " select data_source_id, metric, ts, value * 2 + 0.5, period_s,"
        " received_at + interval '1 day' from edm.ts_data_source_reading"
        " where data_source_id = ("
        "   select grid_element_data_source_id from edm.grid_element_data_source"
        "   where type = 'CONSUMER' order by grid_element_id desc limit 1)"
        " and ts = (select max(ts) - interval '3 hours'"
        "   from edm.ts_data_source_reading)"
    )


def readings_withdrawn(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """Every reading below one transformer at a local 23:00 withdrawn.

    The transformer's row of that hour goes and the rows above it change:
    the load table's first change is the last hour of a local day, so the
    replaced range must reach back into that day for its cells to follow.
    """
    vars["lookback_hours"] = 30  # the recomputed hours reach a local 23:00
    tid = _one(
        conn,
        "select t.transformer_id from evcap.dim_transformers as t"
        " where t.meters_direct > 0 and not exists ("
        "   select 1 from evcap.dim_transformers as c"
        "   where c.upstream_transformer_id = t.transformer_id)"
        " order by t.transformer_id limit 1",
    )
    timezone = _one(conn, "select local_timezone from evcap.int_grids_configured")
    at = _one(
        conn,
        "select max(ts) from edm.ts_data_source_reading"
        " where extract(hour from ts at time zone %s) = 23",
        timezone,
    )
    deleted = conn.execute(
        "delete from edm.ts_data_source_reading as r"
        " using edm.grid_element_data_source as d,"
        " evcap.int_meters_mapped_to_transformers as m"
        " where r.data_source_id = d.grid_element_data_source_id"
        " and d.grid_element_id = m.meter_id and m.level = 1"
        " and m.transformer_id = %s and r.ts = %s",
        (tid, at),
    ).rowcount
    assert deleted > 0


def latest_readings_withdrawn(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """The latest 26 hours of readings withdrawn (a bad batch taken back).

    Within the recomputed hours (lookback 30 h), so the loads follow; the
    rows that vanish end after every row the night writes and reach into
    the local day before, whose cells must follow too.
    """
    vars["lookback_hours"] = 30
    deleted = conn.execute(
        "delete from edm.ts_data_source_reading"
        " where ts > (select max(ts) - interval '26 hours'"
        " from edm.ts_data_source_reading)"
    ).rowcount
    assert deleted > 0


def timezone_changed(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """var local_timezone changed (the grid is elsewhere than assumed)."""
    vars["local_timezone"] = "Europe/Berlin"


def rating_changed(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A transformer's nameplate rating corrected in the EDM."""
    conn.execute(
        "update edm.grid_element set meta = jsonb_set(meta, '{rating_kva}', '500')"
        " where grid_element_id = ("
        "   select transformer_id from evcap.dim_transformers"
        "   where rating_kva is not null and meters_direct > 0"
        "   order by transformer_id limit 1)"
    )


def grid_added(conn: psycopg.Connection, vars: dict[str, Any]) -> None:
    """A second grid (its own ids, a shorter history) arrives in the EDM."""
    n = _one(conn, "select count(*) from edm.grid where grid_id like 'added%%'")
    added = f"added-{n}"
    install_standin(conn, "edm_new", replace=True)
    # Another seed each time: data source ids differ from every grid before.
    spec = GridSpec(seed=9 + n, meters=16, days=2, interval_minutes=60)
    load_grid(conn, spec, "edm_new", progress=False)
    conn.execute(
        "insert into edm.grid select %s, description, last_updated from edm_new.grid",
        (added,),
    )
    conn.execute(
        "insert into edm.grid_element select %s, grid_element_id, type,"
        " customer_type, phases, is_underground, is_producer, is_consumer,"
        " is_switchable, switch_is_open, terminal1_cn, terminal2_cn,"
        " power_flow_direction, upstream_grid_element_id, geometry, meta"
        " from edm_new.grid_element",
        (added,),
    )
    conn.execute(
        "insert into edm.grid_element_data_source select"
        " grid_element_data_source_id, %s, grid_element_id, type, provider,"
        " direction, friendly_id, phases, metrics, valid"
        " from edm_new.grid_element_data_source",
        (added,),
    )
    conn.execute(
        "insert into edm.ts_data_source_reading select * from"
        " edm_new.ts_data_source_reading"
    )
    conn.execute("drop schema edm_new cascade")


EDITS: dict[str, Edit] = {
    "meter_moved": meter_moved,
    "transformer_removed": transformer_removed,
    "transformer_renamed": transformer_renamed,
    "meter_added_with_backfill": meter_added_with_backfill,
    "valid_range_changed": valid_range_changed,
    "timezone_changed": timezone_changed,
    "reading_corrected_late": reading_corrected_late,
    "readings_withdrawn": readings_withdrawn,
    "latest_readings_withdrawn": latest_readings_withdrawn,
    "rating_changed": rating_changed,
    "grid_added": grid_added,
    "nothing_but_a_new_day": lambda conn, vars: None,
}


# Rows that record a change for the models downstream, not data: a cell a
# recomputation emptied stays as a tombstone (a full refresh has none).
BOOKKEEPING_ROWS = {"int_transformer_load_cells": "first_interval_start is not null"}


def _mart(conn: psycopg.Connection, schema: str, name: str) -> pd.DataFrame:
    query = sql.SQL("select * from {}").format(sql.Identifier(schema, name))
    if name in BOOKKEEPING_ROWS:
        query = sql.SQL("{} where {}").format(query, sql.SQL(BOOKKEEPING_ROWS[name]))
    frame = db.read_frame(conn, query)
    frame = frame.drop(columns=[c for c in BOOKKEEPING if c in frame.columns])
    keys = [k for k in MARTS[name] if k in frame.columns]
    return frame.sort_values(keys, na_position="first").reset_index(drop=True)


def _differences(dsn: str) -> dict[str, str]:
    """Marts that differ between the two schemas, with a short description."""
    out: dict[str, str] = {}
    with psycopg.connect(dsn) as conn:
        for name in MARTS:
            inc = _mart(conn, INCREMENTAL, name)
            full = _mart(conn, FULL, name)
            try:
                pd.testing.assert_frame_equal(
                    inc, full, check_dtype=False, rtol=1e-9, atol=1e-9
                )
            except AssertionError as exc:
                out[name] = f"{len(inc)} vs {len(full)} rows: {str(exc)[:150]}"
    return out


def _run_case(base: Baseline, edits: list[str], tmp: Path) -> dict[str, str]:
    """Clone the baseline, edit, append the day, build both ways, compare."""
    name = f"evcap_test_incr_{uuid.uuid4().hex[:8]}"
    with _admin(base.server) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(base.database)
            )
        )
    try:
        dsn = db.with_database(base.server.admin_dsn, name)
        vars = dict(base.vars)
        for i, kind in enumerate(edits):
            with psycopg.connect(dsn) as conn:
                EDITS[kind](conn, vars)
                if i == 0:
                    conn.execute(
                        "insert into edm.ts_data_source_reading"
                        " select * from public.held_back"
                    )
                conn.commit()
            # The nightly run: must pass its own data tests.
            _build(dsn, INCREMENTAL, vars, tmp / f"inc{i}")
        _build(
            dsn,
            FULL,
            vars,
            tmp / "full",
            "--full-refresh",
            "--resource-type",
            "model",
            "--resource-type",
            "seed",
        )
        return _differences(dsn)
    finally:
        _drop(base.server, name)


# What an incremental run may get wrong shows first in the load table and the
# marts built from it; a difference anywhere else is reported apart.
FROM_FCT = {
    "fct_transformer_load",
    "int_transformer_load_cells",
    "transformer_headroom_profile",
    "transformer_window_headroom",
    "transformer_charger_fit",
}


@pytest.mark.parametrize("kind", list(EDITS))
def test_incremental_build_equals_full_refresh_after(
    kind: str, baseline: Baseline, tmp_path: Path
) -> None:
    differences = _run_case(baseline, [kind], tmp_path)
    beyond_fct = sorted(set(differences) - FROM_FCT)
    if beyond_fct:
        pytest.fail(f"differ beyond fct_transformer_load: {beyond_fct} {differences}")
    assert not differences, (sorted(differences), differences)


def test_incremental_equals_full_after_the_latest_day_withdrawn(
    baseline: Baseline, tmp_path: Path
) -> None:
    """A night after the new day's, with that day's readings withdrawn.

    No row is written after the ones that vanish: the calendar cells of the
    withdrawn local days must still lose their loads (they kept them).
    """
    differences = _run_case(
        baseline, ["nothing_but_a_new_day", "latest_readings_withdrawn"], tmp_path
    )
    assert not differences, (sorted(differences), differences)


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(st.lists(st.sampled_from(sorted(EDITS)), min_size=2, max_size=3))
def test_incremental_equals_full_after_random_edit_sequences(
    baseline: Baseline, tmp_path_factory: pytest.TempPathFactory, edits: list[str]
) -> None:
    differences = _run_case(baseline, edits, tmp_path_factory.mktemp("seq"))
    assert not differences, (edits, sorted(differences), differences)


# Makes one used cell's min load exceed its max, among the cells whose
# built_at is {stamp} the newest one (the latest run's).
CORRUPT_ONE_CELL = """
    update evcap.int_transformer_load_cells as cell
    set min_load_kw = cell.max_load_kw + 1
    where (cell.grid_id, cell.transformer_id, cell.local_month,
           cell.local_isodow, cell.local_hour) = (
        select picked.grid_id, picked.transformer_id, picked.local_month,
            picked.local_isodow, picked.local_hour
        from evcap.int_transformer_load_cells as picked
        where picked.intervals_used > 0
          and picked.built_at {stamp} (
              select max(newest.built_at)
              from evcap.int_transformer_load_cells as newest
          )
        limit 1
    )
"""


def test_fact_tests_check_the_slice_the_latest_run_rewrote(
    baseline: Baseline, tmp_path: Path
) -> None:
    """A wrong row or cell the latest run wrote fails a test; an old one is not read."""
    name = f"evcap_test_slice_{uuid.uuid4().hex[:8]}"
    with _admin(baseline.server) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(baseline.database)
            )
        )
    try:
        dsn = db.with_database(baseline.server.admin_dsn, name)
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "insert into edm.ts_data_source_reading select * from public.held_back"
            )
            conn.commit()
        _build(dsn, INCREMENTAL, baseline.vars, tmp_path / "inc")
        selector = [
            "test",
            "--select",
            "assert_energy_conservation",
            "int_transformer_loads_rolled_up,test_type:data",
            "int_transformer_load_cells,test_type:data",
        ]

        def failing_tests() -> int:
            result = run_dbt(
                selector,
                dsn,
                target_schema=INCREMENTAL,
                vars=baseline.vars,
                target_path=tmp_path / "test",
                check=False,
            )
            return sum(
                1 for r in result.run_results["results"] if r["status"] == "fail"
            )

        assert failing_tests() == 0
        with psycopg.connect(dsn) as conn:
            first, latest = conn.execute(
                "select min(interval_start), max(interval_start)"
                " from evcap.fct_transformer_load"
            ).fetchone() or (None, None)
            # The stored load (fct_transformer_load is a view over it).
            # Outside the slice (before the cut-off): not read, so not caught.
            conn.execute(
                "update evcap.int_transformer_loads_rolled_up"
                " set load_kw = load_kw + 7"
                " where interval_start = %s",
                (first,),
            )
            # A calendar cell an earlier run wrote: not read, so not caught.
            conn.execute(CORRUPT_ONE_CELL.format(stamp="<"))
            conn.commit()
        assert failing_tests() == 0
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "update evcap.int_transformer_loads_rolled_up"
                " set load_kw = load_kw + 7"
                " where interval_start = %s",
                (latest,),
            )
            # A calendar cell the latest run wrote.
            conn.execute(CORRUPT_ONE_CELL.format(stamp="="))
            conn.commit()
        # Energy conservation and load = consumer - producer catch the load
        # row, the cells' min <= max test the cell.
        assert failing_tests() == 3
    finally:
        _drop(baseline.server, name)


def _rows_read(dsn: str) -> dict[int, tuple[str, str, int, int]]:
    """Per table (by oid): schema, name, rows read by sequential scans and
    rows fetched through indexes so far."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select relid, schemaname, relname, seq_tup_read,"
            " coalesce(idx_tup_fetch, 0) from pg_stat_user_tables"
            " where schemaname in (%s, %s)",
            (INCREMENTAL, EDM),
        ).fetchall()
    return {relid: (schema, name, seq, idx) for relid, schema, name, seq, idx in rows}


def _night_reads(
    dsn: str, vars: dict[str, Any], target: Path, *selection: str
) -> dict[str, tuple[int, int, int]]:
    """One incremental build (of ``selection``, default all): per table
    ("schema.name") read across it, rows by sequential scans and rows
    through indexes, and rows it holds after."""
    before = _rows_read(dsn)
    _build(dsn, INCREMENTAL, vars, target, *selection)
    # Each backend reports its counts when it ends (dbt's have).
    time.sleep(2)
    after = _rows_read(dsn)
    out = {}
    with psycopg.connect(dsn) as conn:
        for relid in after.keys() & before.keys():
            schema, name, seq, idx = after[relid]
            held = _one(
                conn,
                sql.SQL("select count(*) from {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                ),
            )
            out[f"{schema}.{name}"] = (
                seq - before[relid][2],
                idx - before[relid][3],
                held,
            )
    return out


# Winter months only: the summer charging windows get no used cell; the last
# day is held back for the second night.
WINTER_SPEC = GridSpec(seed=5, meters=16, days=76, interval_minutes=60)


def test_nights_read_their_days_not_the_history(
    pg_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a night reads of the readings, the loads and the calendar cells.

    After a full build of two and a half winter months (the last day held
    back), a night with no new data, then one with the held-back day.
    Counted from the server's table statistics (rows read by sequential
    scans and fetched through indexes) across each incremental ``dbt
    build``. The nights run with sequential scans off: on tables this small
    the planner reads a whole table rather than probe an index, at a
    utility's size it probes; so a table still read whole is one no index
    could serve, and index reads count what the models ask for.

    Seen before the fixes: the summer windows (no used cell) were recomputed
    every night for every transformer, reading every calendar cell; on
    PostgreSQL 15 the energy test read every data source's whole history
    (on 18 it did not: both servers are checked); the new day's calendar
    cells were recomputed from every stored row on their weekdays.
    """
    name = f"evcap_test_reads_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    vars = {"edm_schema": EDM}
    try:
        dsn = db.with_database(pg_server.admin_dsn, name)
        _load_holding_back_the_last_day(dsn, WINTER_SPEC)
        _build(dsn, INCREMENTAL, vars, tmp_path / "full")
        monkeypatch.setenv("PGOPTIONS", "-c enable_seqscan=off")

        quiet = _night_reads(dsn, vars, tmp_path / "quiet")
        cells_seq, cells_idx, cells = quiet[f"{INCREMENTAL}.int_transformer_load_cells"]
        assert cells > 0
        # A few index probes per transformer, not every cell.
        assert cells_seq + cells_idx < cells / 4, quiet

        with psycopg.connect(dsn) as conn:
            conn.execute(
                "insert into edm.ts_data_source_reading select * from public.held_back"
            )
            conn.commit()
        # The +1 day night in three: before the calendar cells, the cells
        # alone (what they read of the load rows), then what follows them.
        cells = "int_transformer_load_cells"
        upstream = _night_reads(
            dsn, vars, tmp_path / "new_day", "--exclude", f"{cells}+"
        )
        cells_alone = _night_reads(dsn, vars, tmp_path / "cells", "--select", cells)
        downstream = _night_reads(
            dsn,
            vars,
            tmp_path / "after_cells",
            "--select",
            f"{cells}+",
            "--exclude",
            cells,
        )
        readings_seq, readings_idx, readings = upstream[f"{EDM}.ts_data_source_reading"]
        # Every reader (roll-up, rejected readings, latest readings, the
        # energy test) reads a few days of each source, not 76.
        assert readings_seq == 0, upstream
        assert readings_idx < readings / 4, upstream

        # The cells read the day's load rows twice (which were rewritten;
        # those added to the stored cells), not every row on the day's
        # weekdays (eleven weeks of them). Checked on PostgreSQL 18: 15
        # plans whole reads of load partitions this small (seen: each read
        # about once by index with sequential scans off), which at 20,000
        # meters it does not (76,056 rows read there: the day's).
        with psycopg.connect(dsn) as conn:
            day_rows = _one(
                conn,
                "select count(*) from evcap.int_transformer_loads_rolled_up"
                " where rebuilt_at = ("
                "   select max(rebuilt_at) from evcap.int_transformer_loads_rolled_up)",
            )
        cells_read = sum(
            seq + idx
            for table, (seq, idx, _held) in cells_alone.items()
            if table.startswith(f"{INCREMENTAL}.int_transformer_loads_rolled_up_p")
        )
        if pg_server.name == "pg18-embedded":
            assert 0 < day_rows <= cells_read < 3 * day_rows, (day_rows, cells_alone)

        # What that night wrote equals a full rebuild (eleven weeks of the
        # same weekdays: the appended day's rows are added to stored cells).
        _build(
            dsn,
            FULL,
            vars,
            tmp_path / "full_again",
            "--full-refresh",
            "--resource-type",
            "model",
            "--resource-type",
            "seed",
        )
        differences = _differences(dsn)
        assert not differences, (sorted(differences), differences)

        for night in (quiet, upstream, cells_alone, downstream):
            partitions = {
                table: counts
                for table, counts in night.items()
                if table.startswith(f"{INCREMENTAL}.int_transformer_loads_rolled_up_p")
            }
            assert partitions, sorted(night)
            # No load partition read whole by a sequential scan.
            for table, (seq, _idx, held) in partitions.items():
                assert seq < held, (table, night)
    finally:
        _drop(pg_server, name)
