"""The same dbt project on a Citus cluster gives the same answers.

Needs the local cluster of ``make citus`` (coordinator + 2 workers); skipped
without it, a failure under ``make test-citus`` (``EVCAP_REQUIRE_CITUS=1``).
Excluded from plain ``make test`` by the ``citus`` marker.

Each grid of GRIDS (a synthetic grid with every defect, and a real one: the
IEEE European LV feeder of pandapower) is loaded twice: into a Citus database
(stand-in laid out for the cluster, ``dbt build --target citus`` reading the
readings relation) and into a plain database on the same server (no Citus
extension: single node, the EDM function path). The last day is held back,
then appended with a late correction and built incrementally. Every model
table is compared row for row between the two, and the synthetic grid's load
also against the independent pandas computation of test_dbt_models (the real
grid's single-node load is checked against its network by test_real_grids).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.types.datetime import TimestamptzLoader
from test_dbt_models import KEYS, expected_load

from evcap.citus_cluster import (
    Cluster,
    cluster_reachable,
    create_database,
    default_cluster,
    drop_database,
    prepare_bulk_load,
)
from evcap.dbt_runner import run_dbt
from evcap.demo import DemoGrid, GridSpec, build_grid, load_grid, readings_frame
from evcap.edm_standin import install_standin
from evcap.errors import SchemaError
from evcap.real_grids import RealGrid, build_real_grid, load_real_grid

pytestmark = [pytest.mark.citus, pytest.mark.slow]

SPEC = GridSpec(seed=7, meters=24, days=3, interval_minutes=60, grids=2, defects=True)
CITUS_VARS = {"evcap_readings_relation": "edm.ts_data_source_reading"}
# Unit tests replace the EDM function with VALUES lists: they test the SQL of
# the function path and run in the single-node build.
CITUS_BUILD = ["build", "--target", "citus", "--exclude-resource-type", "unit_test"]
SINGLE_BUILD = ["build", "--exclude-resource-type", "unit_test"]
# A real grid: 907 buses in a chain, meters up to ~300 elements deep, 15-min
# readings; two local days, the second held back for the incremental run.
REAL_GRID_SOURCE = "pandapower:ieee_european_lv_asymmetric"
REAL_GRID_DAYS = 2
MARTS = (
    "dim_transformers",
    "fct_transformer_load",
    "transformer_headroom_profile",
    "transformer_window_headroom",
    "transformer_charger_fit",
)


@dataclass(frozen=True)
class GridCase:
    """A grid to build on both: the grid, how to load it, where its readings end."""

    grid: DemoGrid | RealGrid
    load: Callable[[psycopg.Connection], object]
    end_utc: pd.Timestamp


def _demo_case() -> GridCase:
    grid = build_grid(SPEC)
    return GridCase(
        grid,
        lambda conn: load_grid(conn, grid, "edm", progress=False),
        pd.Timestamp(SPEC.end_utc),
    )


def _real_case() -> GridCase:
    grid = build_real_grid(REAL_GRID_SOURCE, days=REAL_GRID_DAYS)
    period = pd.Timedelta(seconds=grid.profiles.period_s)
    return GridCase(
        grid,
        lambda conn: load_real_grid(conn, grid, "edm", progress=False),
        pd.Timestamp(grid.profiles.interval_start[-1]) + period,
    )


GRIDS: dict[str, Callable[[], GridCase]] = {
    "demo": _demo_case,
    "ieee-lv-feeder": _real_case,
}
# Tests of the cluster itself (layout, plan, errors): on the synthetic grid only.
DEMO_ONLY = pytest.mark.parametrize("pair", ["demo"], indirect=True)


@dataclass(frozen=True)
class Pair:
    """The same grid in a Citus database and in a single-node database."""

    cluster: Cluster
    citus_dsn: str
    single_dsn: str
    target: Path
    grid: DemoGrid | RealGrid
    held_back_from: pd.Timestamp


class _InfinityTimestamptzLoader(TimestamptzLoader):
    """timestamptz, keeping PostgreSQL's +-infinity (valid_to) as text."""

    def load(self, data: Buffer) -> datetime | str:
        if bytes(data) in (b"infinity", b"-infinity"):
            return bytes(data).decode()
        return super().load(data)


def _read(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.adapters.register_loader("timestamptz", _InfinityTimestamptzLoader)
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _build(pair: Pair, citus: bool, *extra: str) -> None:
    if citus:
        run_dbt(
            [*CITUS_BUILD, *extra],
            pair.citus_dsn,
            vars=CITUS_VARS,
            target_path=pair.target / "citus",
        )
    else:
        run_dbt(
            [*SINGLE_BUILD, *extra], pair.single_dsn, target_path=pair.target / "single"
        )


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    """The running local cluster (skip, or fail under make test-citus, if down)."""
    found = default_cluster()
    if not cluster_reachable(found):
        message = f"no Citus cluster at {found.dsn()}: run `make citus`"
        if os.environ.get("EVCAP_REQUIRE_CITUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module", params=list(GRIDS))
def pair(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pair]:
    """Both databases loaded with one grid of GRIDS without its last day, built once."""
    suffix = uuid.uuid4().hex[:8]
    citus_db, single_db = f"evcap_citus_{suffix}", f"evcap_single_{suffix}"
    case = GRIDS[str(request.param)]()
    held_back_from = case.end_utc - pd.Timedelta(days=1)
    try:
        citus_dsn = create_database(cluster, citus_db)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create database {}").format(sql.Identifier(single_db))
            )
        single_dsn = cluster.dsn(single_db)
        for dsn, citus in ((citus_dsn, True), (single_dsn, False)):
            with psycopg.connect(dsn) as conn:
                install_standin(conn, "edm", replace=True, citus=citus)
                if citus:
                    prepare_bulk_load(conn)
                case.load(conn)
                # the feed has not delivered the last day yet
                conn.execute(
                    "create table edm.held_back as select * from"
                    " edm.ts_data_source_reading where ts >= %s",
                    (held_back_from,),
                )
                conn.execute(
                    "delete from edm.ts_data_source_reading where ts >= %s",
                    (held_back_from,),
                )
                conn.commit()
        made = Pair(
            cluster,
            citus_dsn,
            single_dsn,
            tmp_path_factory.mktemp(f"dbt-citus-{request.param}"),
            case.grid,
            held_back_from,
        )
        _build(made, citus=True)
        _build(made, citus=False)
        yield made
    finally:
        drop_database(cluster, citus_db)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(single_db)
                )
            )


def _model_tables(dsn: str, views: bool = True) -> list[str]:
    """Tables (month partitions included) and, with ``views``, views of evcap."""
    kinds = "('BASE TABLE', 'VIEW')" if views else "('BASE TABLE')"
    frame = _read(
        dsn,
        "select table_name from information_schema.tables"
        f" where table_schema = 'evcap' and table_type in {kinds}"
        " order by 1",
    )
    return [str(name) for name in frame["table_name"]]


# When a run wrote the row (or the cells it was built from, or the version a
# cell replaced): differs between any two builds; and a window's band state.
RUN_COLUMNS = (
    "rebuilt_at",
    "loads_rebuilt_at",
    "built_at",
    "cells_built_at",
    "cells_seen_at",
    "previous_built_at",
    # The band a window keeps around its percentile is centred when the pair
    # was last recomputed in full, which a last-bit difference of a rewritten
    # load can decide (a peak cell "now holds less"); the percentile is
    # compared.
    "band_low_kw",
    "band_high_kw",
    "loads_at_or_below_band",
    "band_loads_kw",
)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in an order that does not depend on the engine (floats rounded for it).

    Columns of RUN_COLUMNS are left out.
    """
    frame = frame.drop(columns=[c for c in RUN_COLUMNS if c in frame.columns])
    key = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            key[column] = values.round(6)
        else:
            key[column] = values.map(repr)
    order = key.sort_values(list(key.columns)).index
    return frame.loc[order].reset_index(drop=True)


def _is_float_array(value: object) -> bool:
    """True for a non-empty list of numbers (a float8[] value)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(x, (int, float)) for x in value)
    )


def _length(value: list[float] | None) -> int:
    """Length of an array value; -1 for null."""
    return -1 if value is None else len(value)


def assert_same_tables(pair: Pair) -> list[str]:
    """Every model table of the two databases holds the same rows."""
    tables = _model_tables(pair.single_dsn)
    assert "fct_transformer_load" in tables
    assert "int_transformer_loads_rolled_up" in tables
    assert _model_tables(pair.citus_dsn) == tables
    for table in tables:
        query = f"select * from evcap.{table}"
        single = _canonical(_read(pair.single_dsn, query))
        citus = _canonical(_read(pair.citus_dsn, query))
        if table in MARTS:
            assert len(single) > 0, table
        assert list(citus.columns) == list(single.columns), table
        assert len(citus) == len(single), table
        for column in single.columns:
            left, right = citus[column], single[column]
            if pd.api.types.is_float_dtype(right):
                np.testing.assert_allclose(
                    left.astype(float),
                    right.astype(float),
                    rtol=1e-9,
                    atol=1e-9,
                    err_msg=f"{table}.{column}",
                )
            elif right.map(_is_float_array).any():
                # arrays of floats (a load cell's sorted loads): same length,
                # values equal to the last bits a sum's order may change
                assert left.map(_length).tolist() == right.map(_length).tolist(), (
                    f"{table}.{column}"
                )
                np.testing.assert_allclose(
                    np.asarray([x for v in left if v is not None for x in v], float),
                    np.asarray([x for v in right if v is not None for x in v], float),
                    rtol=1e-9,
                    atol=1e-9,
                    err_msg=f"{table}.{column}",
                )
            else:
                assert left.map(repr).tolist() == right.map(repr).tolist(), (
                    f"{table}.{column}"
                )
    return tables


def test_full_build_gives_the_same_rows_as_one_node(pair: Pair) -> None:
    tables = assert_same_tables(pair)
    assert set(MARTS) <= set(tables)


@DEMO_ONLY
def test_tables_are_laid_out_for_the_cluster(pair: Pair) -> None:
    """Reference tables, and transformer-keyed tables co-located by transformer_id."""
    layout = _read(
        pair.citus_dsn,
        "select table_name::text as name, citus_table_type as kind,"
        " distribution_column as column_name, colocation_id from citus_tables",
    ).set_index("name")
    hashed = layout[layout["kind"] == "distributed"]
    assert hashed.loc["edm.ts_data_source_reading", "column_name"] == "data_source_id"
    keyed = [
        "evcap.int_transformer_loads_rolled_up",
        "evcap.int_transformer_profile_loads",
        "evcap.transformer_window_headroom",
        "evcap.transformer_charger_fit",
    ]
    assert set(hashed.loc[keyed, "column_name"]) == {"transformer_id"}
    assert hashed.loc[keyed, "colocation_id"].nunique() == 1
    reference = set(layout.index[layout["kind"] == "reference"])
    assert {
        "edm.grid_element",
        "edm.grid_element_data_source",
        "evcap.dim_transformers",
        "evcap.int_transformer_ancestors",
        "evcap.int_meters_mapped_to_transformers",
        "evcap.charger_types",
        "evcap.charging_windows",
    } <= reference
    # the load table's month partitions are distributed with it
    partitions = _read(
        pair.citus_dsn,
        "select c.relname::text as name, p.logicalrelid is not null as laid_out,"
        " p.colocationid from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " left join pg_dist_partition p on p.logicalrelid = c.oid"
        " where i.inhparent = 'evcap.int_transformer_loads_rolled_up'::regclass",
    )
    assert len(partitions) > 0
    assert partitions["laid_out"].all(), partitions
    assert set(partitions["colocationid"]) == {
        hashed.loc["evcap.int_transformer_loads_rolled_up", "colocation_id"]
    }
    # nothing evcap built stayed a plain coordinator table
    built = set(_model_tables(pair.citus_dsn, views=False)) - set(partitions["name"])
    assert {f"evcap.{t}" for t in built} <= set(layout.index)


@DEMO_ONLY
def test_load_matches_pandas(pair: Pair) -> None:
    """The cluster's roll-up against the independent pandas computation."""
    assert isinstance(pair.grid, DemoGrid)
    readings = readings_frame(pair.grid, SPEC)
    readings = readings[pd.to_datetime(readings["ts"], utc=True) < pair.held_back_from]
    expected = expected_load(pair.grid, readings)
    actual = _read(
        pair.citus_dsn,
        "select grid_id, transformer_id, interval_start, load_kw"
        " from evcap.fct_transformer_load",
    )
    actual["interval_start"] = pd.to_datetime(actual["interval_start"], utc=True)
    actual = actual.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        actual[KEYS], expected[KEYS], check_dtype=False, check_index_type=False
    )
    np.testing.assert_allclose(
        actual["load_kw"].astype(float), expected["load_kw"].astype(float), rtol=1e-9
    )


def _explain(dsn: str, query: str) -> str:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"explain (verbose) {query}").fetchall()
    return "\n".join(str(row[0]) for row in rows)


@DEMO_ONLY
def test_roll_up_runs_on_the_workers(pair: Pair) -> None:
    """EXPLAIN: the readings are deduped, checked and summed per shard on workers.

    The heavy step is the load table's one pass over the readings
    (int_transformer_loads_rolled_up; fct_transformer_load is a view on it).
    """
    compiled = sorted(
        (pair.target / "citus").glob("compiled/**/int_transformer_loads_rolled_up.sql")
    )
    assert compiled, "dbt wrote no compiled int_transformer_loads_rolled_up"
    query = compiled[0].read_text()
    plan = _explain(pair.citus_dsn, query)
    (pair.target / "int_transformer_loads_rolled_up.explain.txt").write_text(plan)
    shards = _read(
        pair.citus_dsn,
        "select count(*) as n from pg_dist_shard"
        " where logicalrelid = 'edm.ts_data_source_reading'::regclass",
    )["n"][0]
    assert shards > 1
    # the distributed subplan that reads the readings' shards
    scans = [
        block
        for block in re.split(r"(?=->\s+Custom Scan \(Citus Adaptive\))", plan)
        if "ts_data_source_reading_" in block
    ]
    assert scans, plan
    # the one that aggregates on the workers (others may read the readings
    # too, e.g. the latest reading per source)
    summed = [b for b in scans if "Aggregate" in b.split("Node: host=", 1)[-1]]
    assert summed, plan
    block = summed[0]
    assert f"Task Count: {shards}" in block, block
    worker_ports = {str(p) for p in pair.cluster.ports[1:]}
    nodes = set(re.findall(r"Node: host=\S+ port=(\d+)", block))
    assert nodes, block
    assert nodes <= worker_ports, block
    # on the worker: the dedupe (Unique over the shard's sort) and the
    # per-shard partial aggregate by (feeding transformer, interval)
    task = block.split("Node: host=", 1)[1]
    assert "Aggregate" in task, task
    assert "Unique" in task or "Sort" in task, task


def test_incremental_day_gives_the_same_rows(pair: Pair) -> None:
    """The held-back day and a late correction, built incrementally on both."""
    before = _read(
        pair.citus_dsn, "select count(*) as n from evcap.fct_transformer_load"
    )
    corrected_at = pair.held_back_from - pd.Timedelta(hours=6)
    for dsn in (pair.citus_dsn, pair.single_dsn):
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "insert into edm.ts_data_source_reading select * from edm.held_back"
            )
            row = conn.execute(
                "select r.data_source_id, r.period_s"
                " from edm.ts_data_source_reading r"
                " join edm.grid_element_data_source s"
                " on s.grid_element_data_source_id = r.data_source_id"
                " where s.type = 'CONSUMER' and r.ts = %s order by 1 limit 1",
                (corrected_at,),
            ).fetchone()
            assert row is not None
            conn.execute(
                "insert into edm.ts_data_source_reading"
                " values (%s, 'kWh', %s, 123.0, %s, %s)",
                (
                    row[0],
                    corrected_at,
                    row[1],
                    pair.held_back_from + pd.Timedelta(days=2),
                ),
            )
            conn.execute("drop table edm.held_back")
            conn.commit()
    _build(pair, citus=True)
    _build(pair, citus=False)
    after = _read(
        pair.citus_dsn, "select count(*) as n from evcap.fct_transformer_load"
    )
    assert after["n"][0] > before["n"][0]
    assert_same_tables(pair)
    if isinstance(pair.grid, DemoGrid):
        # the rejected-reading counts compared above are not empty: the
        # injected negative readings are counted on the cluster too
        injected = int((pair.grid.defects["kind"] == "negative_reading").sum())
        counted = _read(
            pair.citus_dsn,
            "select coalesce(sum(readings), 0) as n"
            " from evcap.int_rejected_readings_counted"
            " where reject_reason = 'negative_energy'",
        )["n"][0]
        assert injected >= 1
        assert counted == injected
    # and the incremental result equals a full rebuild on the cluster
    incremental = _canonical(
        _read(pair.citus_dsn, "select * from evcap.fct_transformer_load")
    )
    _build(
        pair,
        True,
        "--full-refresh",
        "--select",
        "int_transformer_loads_rolled_up",
        "fct_transformer_load",
    )
    rebuilt = _canonical(
        _read(pair.citus_dsn, "select * from evcap.fct_transformer_load")
    )
    pd.testing.assert_frame_equal(incremental, rebuilt, check_exact=False, rtol=1e-9)


@DEMO_ONLY
def test_citus_target_without_readings_relation_is_a_clear_error(pair: Pair) -> None:
    """On Citus the function path cannot push down: dbt says which var to set."""
    result = run_dbt(
        ["compile", "--target", "citus", "--select", "stg_edm__meter_readings"],
        pair.citus_dsn,
        target_path=pair.target / "no-var",
        check=False,
    )
    assert result.returncode != 0
    assert "Compilation Error" in result.output
    assert "set the dbt var evcap_readings_relation" in result.output


@DEMO_ONLY
def test_citus_stand_in_needs_a_coordinator(pair: Pair) -> None:
    with (
        psycopg.connect(pair.single_dsn) as conn,
        pytest.raises(SchemaError, match="Citus coordinator"),
    ):
        install_standin(conn, "edm_other", citus=True)


@DEMO_ONLY
def test_heavy_model_memory_reaches_the_workers(pair: Pair) -> None:
    """The heavy models' SET LOCAL work_mem is in force where the shards are read."""
    inline = ["--inline", "{{ evcap_set_work_mem() }}"]
    hook = run_dbt(
        ["--quiet", "compile", "--target", "citus", *inline],
        pair.citus_dsn,
        vars=CITUS_VARS,
        target_path=pair.target / "hook",
    ).output.strip()
    assert "work_mem" in hook
    with psycopg.connect(pair.citus_dsn) as conn:
        for statement in hook.split(";"):
            conn.execute(statement)
        expected = conn.execute("show work_mem").fetchone()
        on_shards = conn.execute(
            "select distinct current_setting('work_mem')"
            " from edm.ts_data_source_reading"
        ).fetchall()
        conn.rollback()
    assert expected is not None
    assert expected[0] != "4MB"
    assert on_shards == [expected]
