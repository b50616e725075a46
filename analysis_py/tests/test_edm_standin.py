"""Tests of the EDM stand-in (evcap.edm_standin) against direct queries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from functools import cache

import psycopg
import pytest

from evcap.demo import DemoGrid, GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin
from evcap.errors import SchemaError

SPEC = GridSpec(meters=24, days=2, grids=2)
DEFECTS = GridSpec(meters=16, days=1, defects=True)


@cache
def _grid(spec: GridSpec) -> DemoGrid:
    return build_grid(spec)


@pytest.fixture
def loaded(pg_conn: psycopg.Connection) -> psycopg.Connection:
    """A fresh database with the stand-in and a two-grid demo loaded."""
    install_standin(pg_conn, "edm")
    load_grid(pg_conn, _grid(SPEC), "edm", progress=False)
    return pg_conn


def _downstream_py(
    grid: DemoGrid, grid_id: str, element: str, include_self: bool
) -> set[str]:
    """Walk the generator's elements downwards from ``element`` (cycle-safe)."""
    elements = grid.elements[grid.elements["grid_id"] == grid_id]
    children: dict[str, list[str]] = defaultdict(list)
    for e, u in zip(
        elements["grid_element_id"], elements["upstream_grid_element_id"], strict=True
    ):
        if isinstance(u, str):
            children[u].append(str(e))
    if element not in set(elements["grid_element_id"]):
        return set()
    seen = {element}
    stack = [element]
    while stack:
        for child in children[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    if not include_self:
        seen.discard(element)
    return seen


def _downstream_db(
    conn: psycopg.Connection, grid_id: str, element: str, include_self: bool | None
) -> list[tuple[str, str]]:
    if include_self is None:  # the default argument
        rows = conn.execute(
            "select grid_id, grid_element_id from edm.grid_get_downstream(%s, %s)",
            (grid_id, element),
        ).fetchall()
    else:
        rows = conn.execute(
            "select grid_id, grid_element_id from edm.grid_get_downstream(%s, %s, %s)",
            (grid_id, element, include_self),
        ).fetchall()
    return [(str(g), str(e)) for g, e in rows]


# ------------------------------------------------------- ts_data_source_select


def test_ts_select_equals_the_internal_table(loaded: psycopg.Connection) -> None:
    via_function = loaded.execute(
        "select ds.grid_element_data_source_id, s.timestamp, s.value, s.period,"
        " s.received"
        " from edm.grid_element_data_source as ds"
        " cross join lateral edm.ts_data_source_select("
        "   ds.grid_element_data_source_id, 'kWh') as s"
        " order by 1, 2"
    ).fetchall()
    direct = loaded.execute(
        "select data_source_id, ts, value, period_s, received_at"
        " from edm.ts_data_source_reading where metric = 'kWh' order by 1, 2"
    ).fetchall()
    assert via_function == direct
    assert len(direct) == _grid(SPEC).n_readings


@pytest.mark.parametrize(
    ("lower", "upper", "bounds"),
    [
        (
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
            dt.datetime(2024, 1, 2, 3, tzinfo=dt.UTC),
            "[)",
        ),
        (
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
            dt.datetime(2024, 1, 2, 3, tzinfo=dt.UTC),
            "(]",
        ),
        (None, dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC), "[)"),
    ],
)
def test_ts_select_with_a_timerange(
    loaded: psycopg.Connection,
    lower: dt.datetime | None,
    upper: dt.datetime,
    bounds: str,
) -> None:
    source = _grid(SPEC).data_sources["grid_element_data_source_id"].iloc[3]
    got = loaded.execute(
        "select timestamp, value from edm.ts_data_source_select("
        " %s::uuid, 'kWh', tstzrange(%s, %s, %s)) order by 1",
        (source, lower, upper, bounds),
    ).fetchall()
    low_op = ">" if bounds[0] == "(" else ">="
    high_op = "<=" if bounds[1] == "]" else "<"
    where = f"ts {high_op} %s" + ("" if lower is None else f" and ts {low_op} %s")
    params: tuple[object, ...] = (
        (source, upper) if lower is None else (source, upper, lower)
    )
    direct = loaded.execute(
        "select ts, value from edm.ts_data_source_reading"
        f" where data_source_id = %s::uuid and metric = 'kWh' and {where} order by 1",
        params,
    ).fetchall()
    assert got == direct
    assert got, "the range should select some readings"
    everything = loaded.execute(
        "select count(*) from edm.ts_data_source_select(%s::uuid, 'kWh')", (source,)
    ).fetchone()
    assert everything is not None
    assert everything[0] > len(got)


def test_ts_select_unknown_source_or_metric_is_empty(
    loaded: psycopg.Connection,
) -> None:
    unknown = loaded.execute(
        "select * from edm.ts_data_source_select(%s, 'kWh')", (uuid.uuid4(),)
    ).fetchall()
    assert unknown == []
    source = _grid(SPEC).data_sources["grid_element_data_source_id"].iloc[0]
    other_metric = loaded.execute(
        "select * from edm.ts_data_source_select(%s::uuid, 'V')", (source,)
    ).fetchall()
    assert other_metric == []


def test_ts_select_returns_the_edm_composite_type(loaded: psycopg.Connection) -> None:
    row = loaded.execute(
        "select pg_typeof(s) from edm.grid_element_data_source ds"
        " cross join lateral edm.ts_data_source_select("
        "   ds.grid_element_data_source_id, 'kWh') s limit 1"
    ).fetchone()
    assert row is not None
    assert str(row[0]) == "edm.ts_data_source_double"


# ---------------------------------------------------------- grid_get_downstream


def _probe_elements(grid: DemoGrid, grid_id: str) -> list[str]:
    """A substation, transformers of each level, a line, a meter."""
    el = grid.elements[grid.elements["grid_id"] == grid_id]
    tx = grid.transformers[grid.transformers["grid_id"] == grid_id]
    picks = [str(el.loc[el["type"] == "Substation", "grid_element_id"].iloc[0])]
    for level in ("HV/MV", "MV/MV", "MV/LV", "LV/LV"):
        ids = tx.loc[tx["voltage_level"] == level, "transformer_id"]
        if len(ids):
            picks.append(str(ids.iloc[0]))
    picks.append(str(el.loc[el["type"] == "ACLineSegment", "grid_element_id"].iloc[5]))
    picks.append(str(el.loc[el["type"] == "Meter", "grid_element_id"].iloc[0]))
    return picks


@pytest.mark.parametrize("include_self", [True, False, None])
def test_downstream_equals_a_python_walk(
    loaded: psycopg.Connection, include_self: bool | None
) -> None:
    grid = _grid(SPEC)
    for grid_id in SPEC.grid_ids:
        for element in _probe_elements(grid, grid_id):
            rows = _downstream_db(loaded, grid_id, element, include_self)
            assert len(rows) == len(set(rows)), "duplicates"
            assert {g for g, _ in rows} <= {grid_id}
            expected = _downstream_py(grid, grid_id, element, include_self is not False)
            assert {e for _, e in rows} == expected, (grid_id, element)


def test_downstream_of_the_root_is_the_whole_grid(loaded: psycopg.Connection) -> None:
    grid = _grid(SPEC)
    for grid_id in SPEC.grid_ids:
        rows = _downstream_db(loaded, grid_id, "SUB-01", True)
        assert len(rows) == (grid.elements["grid_id"] == grid_id).sum()


def test_downstream_returns_grid_element_rows(loaded: psycopg.Connection) -> None:
    row = loaded.execute(
        "select meta, upstream_grid_element_id, type"
        " from edm.grid_get_downstream('demo-north', 'TX-0001', false)"
        " where type = 'Transformer' limit 1"
    ).fetchone()
    assert row is not None
    assert "rating_kva" in row[0]


@pytest.mark.parametrize(
    ("grid_id", "element"),
    [("no-such-grid", "TX-0001"), ("demo-north", "TX-9999"), ("demo-north", "")],
)
def test_downstream_of_unknown_ids_is_empty(
    loaded: psycopg.Connection, grid_id: str, element: str
) -> None:
    assert _downstream_db(loaded, grid_id, element, True) == []
    assert _downstream_db(loaded, grid_id, element, False) == []


def test_grid_ids_isolate_repeated_element_ids(loaded: psycopg.Connection) -> None:
    grid = _grid(SPEC)
    north = _downstream_db(loaded, "demo-north", "TX-0001", True)
    south = _downstream_db(loaded, "demo-south", "TX-0001", True)
    assert {g for g, _ in north} == {"demo-north"}
    assert {g for g, _ in south} == {"demo-south"}
    assert {e for _, e in north} == _downstream_py(grid, "demo-north", "TX-0001", True)
    assert {e for _, e in south} == _downstream_py(grid, "demo-south", "TX-0001", True)
    assert {e for _, e in north} != {e for _, e in south}


def test_downstream_stops_at_a_topology_cycle(pg_conn: psycopg.Connection) -> None:
    install_standin(pg_conn, "edm")
    grid = _grid(DEFECTS)
    load_grid(pg_conn, grid, "edm", progress=False)
    cycle = grid.defects[grid.defects["kind"] == "topology_cycle"].iloc[0]
    seg_a, seg_b = str(cycle["detail"]).split(" <-> ")
    rows = _downstream_db(pg_conn, str(cycle["grid_id"]), seg_a, True)
    assert {e for _, e in rows} == {seg_a, seg_b, str(cycle["grid_element_id"])}
    rows = _downstream_db(pg_conn, str(cycle["grid_id"]), seg_a, False)
    assert {e for _, e in rows} == {seg_b, str(cycle["grid_element_id"])}


# -------------------------------------------------------------------- install


def test_install_creates_the_edm_objects(pg_conn: psycopg.Connection) -> None:
    geometry = install_standin(pg_conn, "edm")
    assert geometry in ("text", "geometry(Geometry,4326)")
    tables = {
        r[0]
        for r in pg_conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'edm'"
        ).fetchall()
    }
    assert {
        "grid",
        "grid_element",
        "grid_element_data_source",
        "ts_data_source_reading",
        "evcap_standin",
    } <= tables
    functions = {
        r[0]
        for r in pg_conn.execute(
            "select p.proname from pg_proc p join pg_namespace n"
            " on n.oid = p.pronamespace where n.nspname = 'edm'"
        ).fetchall()
    }
    assert {"ts_data_source_select", "grid_get_downstream"} <= functions


def test_install_refuses_a_foreign_schema(pg_conn: psycopg.Connection) -> None:
    pg_conn.execute("create schema edm")
    pg_conn.execute("create table edm.grid (grid_id text primary key)")
    pg_conn.execute("insert into edm.grid values ('real')")
    pg_conn.commit()
    for replace in (False, True):
        with pytest.raises(SchemaError, match="evcap did not create"):
            install_standin(pg_conn, "edm", replace=replace)
        pg_conn.rollback()
    assert pg_conn.execute("select grid_id from edm.grid").fetchall() == [("real",)]


def test_install_twice_needs_replace(pg_conn: psycopg.Connection) -> None:
    install_standin(pg_conn, "edm")
    load_grid(pg_conn, _grid(DEFECTS), "edm", progress=False)
    with pytest.raises(SchemaError, match="replace"):
        install_standin(pg_conn, "edm")
    pg_conn.rollback()
    count = pg_conn.execute("select count(*) from edm.grid").fetchone()
    assert count == (1,)
    install_standin(pg_conn, "edm", replace=True)
    assert pg_conn.execute("select count(*) from edm.grid").fetchone() == (0,)
    marker = pg_conn.execute("select count(*) from edm.evcap_standin").fetchone()
    assert marker == (1,)


def test_install_into_an_empty_schema_and_other_names(
    pg_conn: psycopg.Connection,
) -> None:
    pg_conn.execute('create schema "edm demo"')
    pg_conn.commit()
    install_standin(pg_conn, "edm demo")
    load_grid(pg_conn, _grid(DEFECTS), "edm demo", progress=False)
    row = pg_conn.execute('select count(*) from "edm demo".grid_element').fetchone()
    assert row == (len(_grid(DEFECTS).elements),)
