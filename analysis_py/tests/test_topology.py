"""The topology walk against an independent networkx computation.

Hand-built grids in the EDM stand-in, each aimed at one way real topology
breaks a naive walk: a radial feeder over 6,000 elements deep, a meshed LV
network with normally-open switches (and a loop closed by one), loops of
lines without a transformer, a dangling upstream id, a loop of transformers.
The expected placement of every meter is computed here with networkx over
the rows we loaded, never from the dbt models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import psycopg
import pytest

import evcap
from evcap.dbt_runner import DbtResult, run_dbt
from evcap.edm_standin import install_standin
from evcap.report import build_report

pytestmark = pytest.mark.slow

START = pd.Timestamp("2024-06-01 00:00", tz="UTC")
HOURS = 2
DEEP_UPPER = 3_000  # line segments between the substation and T-DEEP
DEEP_LOWER = 3_200  # line segments below T-DEEP: bottom meter > 6,000 deep


@dataclass
class Grid:
    """Rows of one grid, built by hand."""

    grid_id: str
    elements: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        element_id: str,
        kind: str,
        upstream: str | None,
        *,
        switch_is_open: bool | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        self.elements.append(
            {
                "grid_id": self.grid_id,
                "grid_element_id": element_id,
                "type": kind,
                "upstream_grid_element_id": upstream,
                "switch_is_open": switch_is_open,
                "phases": "ABC",
                "meta": meta,
            }
        )
        return element_id

    def transformer(self, element_id: str, upstream: str | None) -> str:
        meta = {"rating_kva": 500, "secondary_voltage": 240, "voltage_level": "MV/LV"}
        return self.add(element_id, "Transformer", upstream, meta=meta)

    def meter(self, element_id: str, upstream: str) -> str:
        return self.add(element_id, "Meter", upstream)


def deep_radial() -> Grid:
    """Substation transformer -> 3,000 lines -> T-DEEP -> 3,200 lines.

    Meters hang every 400 lines along both parts and at the very bottom.
    """
    g = Grid("deep")
    g.transformer("T-SUB", None)
    up = "T-SUB"
    for i in range(1, DEEP_UPPER + 1):
        up = g.add(f"LA{i}", "ACLineSegment", up)
        if i % 400 == 0:
            g.meter(f"MA{i}", up)
    g.transformer("T-DEEP", up)
    up = "T-DEEP"
    for i in range(1, DEEP_LOWER + 1):
        up = g.add(f"LB{i}", "ACLineSegment", up)
        if i % 400 == 0:
            g.meter(f"MB{i}", up)
    g.meter("M-BOTTOM", up)
    return g


def meshed_lv() -> Grid:
    """Two transformers meshed on LV, tie switches open, one loop.

    T1 -> a1 -> a2 -> a3 -> S-TIE (switch_is_open) and T2 -> b1 -> b2; a
    stub c1 behind S-NO (meta normally_open "true", switch state unknown)
    and d1 behind S-META (meta open: JSON true). T3 sits in a loop closed by
    the open switch S-LOOP: T3 -> x1 -> S-LOOP -> x2 -> T3.
    """
    g = Grid("mesh")
    g.transformer("T-MV", None)
    g.add("MV1", "ACLineSegment", "T-MV")
    g.transformer("T1", "MV1")
    g.transformer("T2", "MV1")
    g.add("a1", "ACLineSegment", "T1")
    g.add("a2", "ACLineSegment", "a1")
    g.add("a3", "ACLineSegment", "a2")
    g.add("S-TIE", "Switch", "a3", switch_is_open=True)
    g.add("b1", "ACLineSegment", "T2")
    g.add("b2", "ACLineSegment", "b1")
    # the GIS traced through the tie: e1 points at the open switch
    g.add("e1", "ACLineSegment", "S-TIE")
    g.add("S-NO", "Switch", "a2", meta={"normally_open": "true"})
    g.add("c1", "ACLineSegment", "S-NO")
    g.add("S-META", "Switch", "b2", switch_is_open=False, meta={"open": True})
    g.add("d1", "ACLineSegment", "S-META")
    # a closed switch with false flags feeds on
    g.add("S-CLOSED", "Switch", "b1", switch_is_open=False, meta={"open": "false"})
    g.add("f1", "ACLineSegment", "S-CLOSED")
    for m, up in (
        ("M-a1", "a1"),
        ("M-a3", "a3"),
        ("M-b1", "b1"),
        ("M-b2", "b2"),
        ("M-e1", "e1"),
        ("M-c1", "c1"),
        ("M-d1", "d1"),
        ("M-f1", "f1"),
    ):
        g.meter(m, up)
    # the loop closed by an open switch: T3 is fed through it
    g.transformer("T3", "x2")
    g.add("x1", "ACLineSegment", "T3")
    g.add("S-LOOP", "Switch", "x1", meta={"normally_open": True})
    g.add("x2", "ACLineSegment", "S-LOOP")
    g.meter("M-x1", "x1")
    g.meter("M-x2", "x2")
    return g


def broken() -> Grid:
    """Loops of lines, a dangling id, a loop of transformers."""
    g = Grid("broken")
    g.transformer("T-TOP", None)
    g.meter("M-ok", "T-TOP")
    # two lines pointing at each other, a meter and a whole branch below
    g.add("l1", "ACLineSegment", "l2")
    g.add("l2", "ACLineSegment", "l1")
    g.meter("M-loop", "l1")
    g.add("l3", "ACLineSegment", "l2")
    g.meter("M-below-loop", "l3")
    # a transformer below the loop of lines: reached by nothing
    g.transformer("T-LOST", "l3")
    g.meter("M-lost", "T-LOST")
    # upstream id that is no element
    g.add("l5", "ACLineSegment", "NOT-THERE")
    g.meter("M-dangling", "l5")
    # a line at the top of the grid without a transformer
    g.add("l6", "ACLineSegment", None)
    g.meter("M-top", "l6")
    # transformers feeding each other: T-A -> T-B -> T-A, T-C below T-B
    g.transformer("T-A", "T-B")
    g.transformer("T-B", "T-A")
    g.transformer("T-C", "T-B")
    g.meter("M-A", "T-A")
    g.meter("M-B", "T-B")
    g.meter("M-C", "T-C")
    return g


#: transformer -> (meta, phases, expected secondary V, kVA, phase count,
#: is_distribution); None = unreadable
NOTATIONS: dict[str, tuple[dict[str, Any], str | None, Any, Any, Any, Any]] = {
    "T-SUBST": (
        {"secondary_voltage": "25000Y/14400", "rating_kva": "10 MVA",
         "voltage_level": "HV/MV"},
        "3", 25000.0, 10000.0, 3, False,
    ),
    "T-WYE": (
        {"secondary_voltage": "208Y/120", "rating_kva": "0.25 MVA",
         "voltage_level": "MV/LV"},
        "ABCN", 208.0, 250.0, 3, True,
    ),
    "T-480": (
        {"secondary_voltage": "480Y/277", "rating_kva": "500 kVA",
         "voltage_level": "MV/LV"},
        "ABC", 480.0, 500.0, 3, True,
    ),
    "T-SPLIT": (
        {"secondary_voltage": "120/240", "rating_kva": "50",
         "voltage_level": "MV/LV"},
        "S", 240.0, 50.0, 1, True,
    ),
    "T-KV": (
        {"secondary_voltage": "0.4 kV", "rating_kva": 250, "voltage_level": "MV/LV"},
        "3PH", 400.0, 250.0, 3, True,
    ),
    "T-400V": (
        {"secondary_voltage": "400 V", "rating_kva": "250 kVA"},
        "1PH", 400.0, 250.0, 1, None,
    ),
    "T-BADV": (
        {"secondary_voltage": "two-forty", "rating_kva": 100,
         "voltage_level": "MV/LV"},
        "BC", None, 100.0, 2, True,
    ),
    "T-BADPH": (
        {"secondary_voltage": "480", "rating_kva": 100, "voltage_level": "MV/LV"},
        "XYZ", 480.0, 100.0, None, True,
    ),
    "T-BADKVA": (
        {"secondary_voltage": 240, "rating_kva": "100 kW", "voltage_level": "MV/LV"},
        "AN", 240.0, None, 1, True,
    ),
}  # fmt: skip


def notations() -> Grid:
    """A substation and distribution transformers in every notation."""
    g = Grid("notations")
    for tid, (meta, phases, *_) in NOTATIONS.items():
        upstream = None if tid == "T-SUBST" else "T-SUBST"
        g.add(tid, "Transformer", upstream, meta=meta)
        g.elements[-1]["phases"] = phases
        g.meter(f"M-{tid}", tid)
    return g


NESTED_DEPTH = 300  # transformers, each fed through a line by the one above


def nested_transformers() -> Grid:
    """A chain of 300 transformers, a meter under each: no nesting cap."""
    g = Grid("nested")
    up: str | None = None
    for i in range(1, NESTED_DEPTH + 1):
        tid = g.transformer(f"T{i}", up)
        g.meter(f"M{i}", tid)
        up = g.add(f"L{i}", "ACLineSegment", tid)
    return g


GRIDS = (deep_radial, meshed_lv, broken, notations, nested_transformers)


# ------------------------------------------------------- independent truth


def _is_open(switch_is_open: Any, meta: Any) -> bool:
    return bool(switch_is_open) or any(
        str((meta or {}).get(key)).lower() == "true"
        for key in ("normally_open", "normal_open", "open")
    )


def _graphs(elements: pd.DataFrame) -> tuple[nx.DiGraph, nx.DiGraph, set[str]]:
    """Feed graphs of one grid: open elements cut, and open elements ignored."""
    ids = set(elements["grid_element_id"])
    transformers = set(
        elements.loc[elements["type"] == "Transformer", "grid_element_id"]
    )
    is_open = {
        row.grid_element_id: _is_open(row.switch_is_open, row.meta)
        for row in elements.itertuples(index=False)
    }
    closed = nx.DiGraph()
    ignoring_switches = nx.DiGraph()
    closed.add_nodes_from(ids)
    ignoring_switches.add_nodes_from(ids)
    for row in elements.itertuples(index=False):
        upstream = row.upstream_grid_element_id
        if upstream is None or upstream not in ids:
            continue
        ignoring_switches.add_edge(upstream, row.grid_element_id)
        if not is_open[upstream]:
            closed.add_edge(upstream, row.grid_element_id)
    return closed, ignoring_switches, transformers


def _nearest_transformers(graph: nx.DiGraph, transformers: set[str]) -> dict[str, str]:
    """Element -> the transformer whose sub-tree (down to the next one) holds it."""
    below = graph.copy()
    below.remove_edges_from([(u, v) for u, v in graph.edges if u in transformers])
    placed: dict[str, str] = {}
    for t in transformers:
        for child in graph.successors(t):
            for node in {child} | nx.descendants(below, child):
                assert node not in placed, "one feeding transformer each"
                placed[node] = t
    return placed


@dataclass(frozen=True)
class Truth:
    """Feeding transformer (open switches cut), last known one (ignored), loops."""

    placed: dict[tuple[str, str], str]
    last_known: dict[tuple[str, str], str]
    in_cycle: set[tuple[str, str]]


def truth(elements: pd.DataFrame) -> Truth:
    """The expected placement of every element, computed with networkx."""
    placed: dict[tuple[str, str], str] = {}
    last_known: dict[tuple[str, str], str] = {}
    in_cycle: set[tuple[str, str]] = set()
    for grid_id, frame in elements.groupby("grid_id"):
        g = str(grid_id)
        closed, ignoring, transformers = _graphs(frame)
        for node, t in _nearest_transformers(closed, transformers).items():
            placed[(g, node)] = t
        for node, t in _nearest_transformers(ignoring, transformers).items():
            last_known[(g, node)] = t
        # loops of non-transformers and everything fed from them, down to
        # (and including) the next transformer
        lines = ignoring.subgraph(set(ignoring) - transformers)
        looped = {n for cycle in nx.simple_cycles(lines) for n in cycle}
        below = ignoring.copy()
        below.remove_edges_from(
            [(u, v) for u, v in ignoring.edges if u in transformers]
        )
        for node in looped | {d for n in looped for d in nx.descendants(below, n)}:
            in_cycle.add((g, node))
    return Truth(placed, last_known, in_cycle)


# ------------------------------------------------------------------ fixture


@dataclass(frozen=True)
class Built:
    dsn: str
    target: Path
    elements: pd.DataFrame
    build: DbtResult


def _load(conn: psycopg.Connection, grids: list[Grid]) -> pd.DataFrame:
    rows = [row for g in grids for row in g.elements]
    with conn.cursor() as cur:
        cur.executemany(
            "insert into edm.grid (grid_id, description) values (%s, %s)",
            [(g.grid_id, f"topology test {g.grid_id}") for g in grids],
        )
        with cur.copy(
            "copy edm.grid_element (grid_id, grid_element_id, type,"
            " upstream_grid_element_id, switch_is_open, phases, meta) from stdin"
        ) as copy:
            for r in rows:
                copy.write_row(
                    (
                        r["grid_id"],
                        r["grid_element_id"],
                        r["type"],
                        r["upstream_grid_element_id"],
                        r["switch_is_open"],
                        r["phases"],
                        None if r["meta"] is None else json.dumps(r["meta"]),
                    )
                )
        # one CONSUMER source per meter, HOURS hourly readings of 1 kWh
        cur.execute(
            "insert into edm.grid_element_data_source (grid_element_data_source_id,"
            " grid_id, grid_element_id, type, metrics, valid)"
            " select gen_random_uuid(), grid_id, grid_element_id, 'CONSUMER',"
            " '{kWh}', '(,)' from edm.grid_element where type = 'Meter'"
        )
        cur.execute(
            "insert into edm.ts_data_source_reading"
            " select s.grid_element_data_source_id, 'kWh', %s + h * interval '1 hour',"
            " 1.0, 3600, %s + (h + 1) * interval '1 hour'"
            " from edm.grid_element_data_source as s, generate_series(0, %s) as h",
            (START, START, HOURS - 1),
        )
    conn.commit()
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def built(
    pg_server: Any,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    dsn = database_factory(pg_server, "topo")
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        elements = _load(conn, [make() for make in GRIDS])
    target = tmp_path_factory.mktemp("dbt-topology")
    result = run_dbt(["build"], dsn, target_path=target)
    return Built(dsn, target, elements, result)


def _read(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


# -------------------------------------------------------------------- tests


def test_build_passes_its_own_tests(built: Built) -> None:
    assert "Completed successfully" in built.build.output


def test_every_meter_placed_as_networkx_places_it(built: Built) -> None:
    expected = truth(built.elements)
    walked = _read(
        built.dsn,
        "select grid_id, element_id, element_type, walk_status,"
        " feeding_transformer_id, last_known_transformer_id"
        " from evcap.int_elements_walked_to_transformers",
    )
    meters = walked[walked["element_type"] == "Meter"]
    assert len(meters) == (built.elements["type"] == "Meter").sum()
    for row in meters.itertuples(index=False):
        key = (row.grid_id, row.element_id)
        assert row.feeding_transformer_id == expected.placed.get(key), key
        if key not in expected.placed:
            assert row.walk_status != "found_transformer", key
            assert row.last_known_transformer_id == expected.last_known.get(key), key
    # the bottom of the deep feeder is placed, 3,201 elements below T-DEEP
    bottom = walked.set_index(["grid_id", "element_id"]).loc[("deep", "M-BOTTOM")]
    assert bottom["feeding_transformer_id"] == "T-DEEP"
    hops = _read(
        built.dsn,
        "select hops from evcap.int_elements_walked_to_transformers"
        " where grid_id = 'deep' and element_id = 'M-BOTTOM'",
    )
    assert hops["hops"].tolist() == [DEEP_LOWER + 1]


def test_meter_map_levels_match_networkx(built: Built) -> None:
    expected = truth(built.elements)
    kinds = {
        (g, e): t
        for g, e, t in built.elements[
            ["grid_id", "grid_element_id", "type"]
        ].itertuples(index=False)
    }
    mapped = _read(
        built.dsn,
        "select grid_id, meter_id, transformer_id, level, is_placed"
        " from evcap.int_meters_mapped_to_transformers",
    )
    checked = 0
    for (grid_id, meter_id), first in expected.placed.items():
        if kinds[(grid_id, meter_id)] != "Meter" or grid_id == "broken":
            continue  # the loop of transformers in 'broken': checked below
        chain = [first]
        while (nxt := expected.placed.get((grid_id, chain[-1]))) is not None:
            chain.append(nxt)
        got = mapped[(mapped["grid_id"] == grid_id) & (mapped["meter_id"] == meter_id)]
        got = got.sort_values("level")
        assert got["transformer_id"].tolist() == chain, (grid_id, meter_id)
        assert got["level"].tolist() == list(range(1, len(chain) + 1))
        assert got["is_placed"].all()
        checked += 1
    assert checked >= 20
    # 300 transformers deep: the bottom meter sits under all of them
    bottom = mapped[(mapped["grid_id"] == "nested") & (mapped["meter_id"] == "M300")]
    assert len(bottom) == NESTED_DEPTH
    assert bottom["level"].max() == NESTED_DEPTH
    top = _read(
        built.dsn,
        "select max(load_kw) as load_kw, max(meters_expected) as expected"
        " from evcap.fct_transformer_load"
        " where grid_id = 'nested' and transformer_id = 'T1'",
    )
    assert top["expected"].item() == NESTED_DEPTH
    assert top["load_kw"].item() == pytest.approx(float(NESTED_DEPTH))
    # the deep meters roll up to the substation transformer
    deep = mapped[(mapped["grid_id"] == "deep") & (mapped["meter_id"] == "M-BOTTOM")]
    assert deep.sort_values("level")["transformer_id"].tolist() == ["T-DEEP", "T-SUB"]


def test_open_switches_cut_and_unplaced_meters_lower_coverage(built: Built) -> None:
    walked = _read(
        built.dsn,
        "select element_id, walk_status, feeding_transformer_id,"
        " last_known_transformer_id, walk_end_id"
        " from evcap.int_elements_walked_to_transformers where grid_id = 'mesh'",
    ).set_index("element_id")
    for meter, transformer in (
        ("M-a1", "T1"),
        ("M-a3", "T1"),
        ("M-b1", "T2"),
        ("M-b2", "T2"),
        ("M-f1", "T2"),  # behind a closed switch with false flags
        ("M-x1", "T3"),  # in the loop, on the still-connected side
    ):
        assert walked.loc[meter, "feeding_transformer_id"] == transformer, meter
    for meter, switch, last_known in (
        ("M-e1", "S-TIE", "T1"),
        ("M-c1", "S-NO", "T1"),
        ("M-d1", "S-META", "T2"),
        ("M-x2", "S-LOOP", "T3"),
    ):
        row = walked.loc[meter]
        assert row["walk_status"] == "open_switch", meter
        assert pd.isna(row["feeding_transformer_id"]), meter
        assert row["walk_end_id"] == switch, meter
        assert row["last_known_transformer_id"] == last_known, meter
    # T3 is fed through its own open loop: a top of its own, no cycle
    dim = _read(
        built.dsn,
        "select transformer_id, upstream_transformer_id, depth, meters_direct,"
        " meters_total, meters_unplaced, data_issues"
        " from evcap.dim_transformers where grid_id = 'mesh'",
    ).set_index("transformer_id")
    assert pd.isna(dim.loc["T3", "upstream_transformer_id"])
    assert "topology_cycle" not in (dim.loc["T3", "data_issues"] or "")
    for transformer, direct, unplaced in (
        ("T1", 2, 2),
        ("T2", 3, 1),
        ("T3", 1, 1),
        ("T-MV", 0, 3),
    ):
        assert dim.loc[transformer, "meters_direct"] == direct, transformer
        assert dim.loc[transformer, "meters_unplaced"] == unplaced, transformer
        assert "unplaced_meters" in dim.loc[transformer, "data_issues"], transformer
    # coverage: the unplaced meters are expected, their readings not counted
    load = _read(
        built.dsn,
        "select transformer_id, load_kw, meters_reporting, meters_expected,"
        " meter_coverage from evcap.fct_transformer_load where grid_id = 'mesh'",
    )
    first = load.groupby("transformer_id").first()
    for transformer, placed, unplaced in (("T1", 2, 2), ("T2", 3, 1), ("T-MV", 5, 3)):
        row = first.loc[transformer]
        assert row["meters_reporting"] == placed, transformer
        assert row["meters_expected"] == placed + unplaced, transformer
        assert row["load_kw"] == pytest.approx(placed * 1.0), transformer
        assert row["meter_coverage"] == pytest.approx(placed / (placed + unplaced))
    issues = _read(
        built.dsn,
        "select element_id, issue_code, detail from evcap.int_data_issues_collected"
        " where grid_id = 'mesh'",
    )
    listed = set(zip(issues["element_id"], issues["issue_code"], strict=True))
    for meter in ("M-e1", "M-c1", "M-d1", "M-x2"):
        assert (meter, "meter_disconnected_by_open_switch") in listed, meter


def test_loops_and_dangling_ids_are_listed_never_dropped(built: Built) -> None:
    expected = truth(built.elements)
    walked = _read(
        built.dsn,
        "select element_id, element_type, walk_status"
        " from evcap.int_elements_walked_to_transformers where grid_id = 'broken'",
    ).set_index("element_id")
    for element, status in (
        ("M-loop", "cycle"),
        ("M-below-loop", "cycle"),
        ("T-LOST", "cycle"),
        ("M-lost", "found_transformer"),
        ("M-dangling", "dangling_upstream"),
        ("M-top", "reached_top"),
        ("M-ok", "found_transformer"),
    ):
        assert walked.loc[element, "walk_status"] == status, element
    for element in ("M-loop", "M-below-loop", "T-LOST"):
        assert ("broken", element) in expected.in_cycle
    issues = _read(
        built.dsn,
        "select element_id, issue_code from evcap.int_data_issues_collected"
        " where grid_id = 'broken'",
    )
    listed = set(zip(issues["element_id"], issues["issue_code"], strict=True))
    for element, code in (
        ("M-loop", "topology_cycle"),
        ("M-below-loop", "topology_cycle"),
        ("T-LOST", "topology_cycle"),
        ("M-dangling", "orphan_meter"),
        ("M-top", "meter_without_transformer"),
        ("T-A", "topology_cycle"),
        ("T-B", "topology_cycle"),
    ):
        assert (element, code) in listed, (element, code)
    # every meter is placed or listed: none disappears
    meters = set(walked.index[walked["element_type"] == "Meter"])
    placed = set(walked.index[walked["walk_status"] == "found_transformer"])
    assert meters - placed <= {e for e, _ in listed}
    # the loop of transformers is cut at its smallest id; nothing twice
    nested = _read(
        built.dsn,
        "select transformer_id, depth, ancestor_path, is_in_cycle"
        " from evcap.int_transformers_nested where grid_id = 'broken'",
    ).set_index("transformer_id")
    assert nested.loc["T-A", "ancestor_path"] == ["T-A"]
    assert nested.loc["T-B", "ancestor_path"] == ["T-B", "T-A"]
    assert nested.loc["T-C", "ancestor_path"] == ["T-C", "T-B", "T-A"]
    assert nested.loc["T-LOST", "ancestor_path"] == ["T-LOST"]
    assert nested["is_in_cycle"].to_dict() == {
        "T-TOP": False,
        "T-LOST": False,
        "T-A": True,
        "T-B": True,
        "T-C": False,
    }
    load = _read(
        built.dsn,
        "select transformer_id, max(meters_expected) as expected,"
        " max(load_kw) as load_kw from evcap.fct_transformer_load"
        " where grid_id = 'broken' group by 1",
    ).set_index("transformer_id")
    assert load.loc["T-A", "expected"] == 3  # M-A, M-B, M-C once each
    assert load.loc["T-A", "load_kw"] == pytest.approx(3.0)


def test_walk_is_linear_in_elements(built: Built) -> None:
    """The recursive walk produces one row per reached element, by index probes.

    Read from EXPLAIN ANALYZE of the compiled model: the recursive union's row
    count equals the number of elements not caught in a loop, and the lookup
    of children is an index scan (never a scan of all elements per step).
    """
    compiled = next(
        built.target.glob(
            "compiled/evcap/models/intermediate/int_elements_walked_to_transformers.sql"
        )
    ).read_text()
    with psycopg.connect(built.dsn) as conn:
        row = conn.execute(f"explain (analyze, format json) {compiled}").fetchone()
    assert row is not None
    plan = row[0][0]["Plan"]

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    unions = [n for n in nodes(plan) if n["Node Type"] == "Recursive Union"]
    assert len(unions) == 1
    union = unions[0]
    n_elements = len(built.elements)
    n_in_loops = len(truth(built.elements).in_cycle)
    assert union["Actual Rows"] == n_elements - n_in_loops
    assert n_elements > DEEP_UPPER + DEEP_LOWER
    probes = [
        n
        for n in nodes(union["Plans"][1])
        if n.get("Relation Name") == "int_grid_elements_linked"
    ]
    assert probes, "children looked up in int_grid_elements_linked"
    assert all("Index" in n["Node Type"] for n in probes), [
        n["Node Type"] for n in probes
    ]
    # one probe per element the walk expands
    assert sum(n["Actual Loops"] for n in probes) <= n_elements


def test_notations_read_and_unreadable_values_are_reasons(built: Built) -> None:
    dim = _read(
        built.dsn,
        "select transformer_id, secondary_voltage_v, rating_kva, phase_count,"
        " is_distribution, data_issues from evcap.dim_transformers"
        " where grid_id = 'notations'",
    ).set_index("transformer_id")
    for tid, (_, _, volts, kva, phases, distribution) in NOTATIONS.items():
        row = dim.loc[tid]
        for column, want in (
            ("secondary_voltage_v", volts),
            ("rating_kva", kva),
            ("phase_count", phases),
            ("is_distribution", distribution),
        ):
            got = row[column]
            if want is None:
                assert got is None or pd.isna(got), (tid, column, got)
            else:
                assert got == want, (tid, column, got)
    for tid, code in (
        ("T-BADV", "secondary_voltage_unparseable"),
        ("T-BADPH", "phases_unparseable"),
        ("T-BADKVA", "rating_unparseable"),
    ):
        assert code in (dim.loc[tid, "data_issues"] or ""), tid
    fit = _read(
        built.dsn,
        "select transformer_id, window_name, charger_type, max_chargers, reason,"
        " charger_phases_required from evcap.transformer_charger_fit"
        " where grid_id = 'notations'",
    )
    reasons = fit.groupby("transformer_id")["reason"].agg(lambda r: set(r))
    assert reasons["T-SUBST"] <= {"not_a_distribution_transformer", "no_data_in_window"}
    assert "not_a_distribution_transformer" in reasons["T-SUBST"]
    assert reasons["T-BADV"] <= {"secondary_voltage_unreadable", "no_data_in_window"}
    assert reasons["T-BADKVA"] == {"missing_rating"}
    bad_phases = fit[fit["transformer_id"] == "T-BADPH"]
    three = bad_phases[bad_phases["charger_phases_required"] > 1]
    assert set(three["reason"]) <= {"phases_unreadable", "no_data_in_window"}
    assert "phases_unreadable" in set(three["reason"])
    one = bad_phases[bad_phases["charger_phases_required"] == 1]
    assert (one["max_chargers"] > 0).any()  # one phase is there: counted
    # a 208Y/120 secondary fits 208 V chargers, not the 400 V DC ones
    wye = fit[(fit["transformer_id"] == "T-WYE") & (fit["window_name"] == "all_time")]
    by_type = wye.set_index("charger_type")
    assert by_type.loc["L2_7.2kW", "max_chargers"] > 0
    assert by_type.loc["DCFC_50kW", "reason"] == "voltage_above_secondary"
    # Python's single mode reads the same parsed columns: same counts, reasons
    with psycopg.connect(built.dsn) as conn:
        py_fit = evcap.fit(conn, grid_id="notations", window=None, mode="single")
    keys = ["transformer_id", "window_name", "charger_type"]
    both = fit.merge(py_fit, on=keys, how="inner")
    assert len(both) == len(fit) > 0
    assert (both["max_chargers"] == both["count"]).all()
    assert (both["reason_x"].fillna("-") == both["reason_y"].fillna("-")).all()


def test_report_shows_unplaced_meters(built: Built) -> None:
    with psycopg.connect(built.dsn) as conn:
        page = build_report(conn, grid_id="mesh", window="all_time", mix=False)
    assert "meter_disconnected_by_open_switch" in page
    assert "Unplaced meters" in page
    assert "unplaced_meters" in page
