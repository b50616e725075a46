"""Real public grids (SimBench, pandapower networks) through evcap, end to end.

Each grid is converted (``evcap.real_grids``), loaded into a fresh database,
built with ``dbt build``, and every transformer's load in every interval is
compared with an independent computation over the ORIGINAL pandapower
network: its own topology (``pandapower.topology.create_nxgraph`` with open
switches respected, networkx components) and its own profiles
(``simbench.get_absolute_values`` for SimBench). Nothing of the expectation is
read from evcap's EDM rows except the id of each transformer.

The physical rule: a load belongs to the transformers on the path from the
external grid through closed elements. Cutting every transformer out of the
graph leaves zones; a zone is fed by the transformer(s) joining it to the zone
nearer the source. Parallel transformers feeding one zone (a substation with a
closed bus coupler) share it: their loads are compared as one sum, since evcap
(like a GIS tree) gives each bus section to one of them.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import psycopg
import pytest

from evcap.dbt_runner import DbtResult, run_dbt
from evcap.edm_standin import install_standin
from evcap.errors import ConfigError
from evcap.real_grids import RealGrid, build_real_grid, load_real_grid, parse_source

with warnings.catch_warnings():
    # pandapower's own deprecations on import; installed by `make install`
    # (extra `grids`), so a missing package fails here instead of skipping
    warnings.simplefilter("ignore")
    import pandapower.topology as top
    import simbench as sb


@dataclass(frozen=True)
class Case:
    source: str
    days: int
    start: dt.date | None = None


CASES = {
    # LV feeder: 907 buses in a chain, meters up to ~300 elements deep
    "ieee-lv-feeder": Case("pandapower:ieee_european_lv_asymmetric", days=2),
    # MV grid with an LV grid below it, parallel HV/MV transformers, rings with
    # normally-open switches, PV and wind with their own 2016 profiles
    "simbench-mvlv": Case(
        "simbench:1-MVLV-rural-1.108-0-sw", days=2, start=dt.date(2016, 6, 1)
    ),
    # meshed LV: 14 transformers, 88 normally-open switches and a closed mesh
    "schutterwald-meshed": Case("pandapower:lv_schutterwald", days=1),
}


# ------------------------------------------------------------ independent truth


def _zones(net: Any) -> tuple[dict[int, int], list[int]]:
    """Bus -> zone (component without transformers), and the source zones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = top.create_nxgraph(
            net, respect_switches=True, include_trafos=False, include_trafo3ws=False
        )
    zone_of_bus: dict[int, int] = {}
    for z, component in enumerate(nx.connected_components(graph)):
        for b in component:
            zone_of_bus[int(b)] = z
    ext = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    return zone_of_bus, sorted({zone_of_bus[int(b)] for b in ext["bus"]})


def _zone_feeders(net: Any) -> tuple[dict[int, tuple[int, ...]], dict[int, int | None]]:
    """Zone -> the transformers feeding it, and zone -> parent zone (BFS from source)."""
    zone_of_bus, sources = _zones(net)
    trafo = net.trafo[net.trafo["in_service"].astype(bool)]
    # a transformer whose switches are open is not a path either
    sw = net.switch[(net.switch["et"] == "t") & ~net.switch["closed"].astype(bool)]
    trafo = trafo[~trafo.index.isin(sw["element"])]
    parent: dict[int, int | None] = dict.fromkeys(sources)
    feeders: dict[int, list[int]] = {}
    queue = deque(sources)
    while queue:
        z = queue.popleft()
        for idx, row in trafo.iterrows():
            hv, lv = zone_of_bus[int(row["hv_bus"])], zone_of_bus[int(row["lv_bus"])]
            if hv != z or lv == z:
                continue
            if lv not in parent:
                parent[lv] = z
                queue.append(lv)
            if parent[lv] == z:
                feeders.setdefault(lv, []).append(int(idx))
    return {z: tuple(sorted(t)) for z, t in feeders.items()}, parent


def _power_kw(rg: RealGrid) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kW of every load and generator by interval, from the network's own data."""
    net = rg.net
    if rg.source.kind == "simbench":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            absolute = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
        times = pd.to_datetime(net.profiles["load"]["time"], format="%d.%m.%Y %H:%M")
        utc = (times - pd.Timedelta(hours=1)).dt.tz_localize("UTC")
        keep = utc.isin(rg.profiles.interval_start).to_numpy()
        index = pd.DatetimeIndex(utc[keep])
        load = absolute[("load", "p_mw")].loc[keep] * 1000.0
        sgen = absolute[("sgen", "p_mw")].loc[keep] * 1000.0
        load.index = index
        sgen.index = index
        load.columns = [int(c) for c in load.columns]
        sgen.columns = [int(c) for c in sgen.columns]
        return load, sgen

    # generated shapes: the importer's profiles are the source data here
    def by_index(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out.index = rg.profiles.interval_start
        out.columns = [c for c in frame.columns]
        return out

    return by_index(rg.profiles.load_kw), by_index(rg.profiles.sgen_kw)


def expected_group_load(rg: RealGrid) -> pd.DataFrame:
    """(group, interval_start) -> load_kw from the original network."""
    net = rg.net
    zone_of_bus, _ = _zones(net)
    feeders, parent = _zone_feeders(net)
    trafo_id = {
        int(m["pandapower_index"]): e
        for e, t, m in rg.edm.elements[["grid_element_id", "type", "meta"]].itertuples(
            index=False
        )
        if t == "Transformer" and m["pandapower_table"] == "trafo"
    }

    def groups_above(zone: int) -> list[str]:
        out = []
        z: int | None = zone
        while z is not None and z in parent:
            if z in feeders:
                out.append(" + ".join(trafo_id[t] for t in feeders[z]))
            z = parent[z]
        return out

    load_kw, sgen_kw = _power_kw(rg)
    contributions: dict[str, pd.Series] = {}

    def add(frame: pd.DataFrame, table: str, key_of: Any, sign: float) -> None:
        elements = net[table]
        for idx, row in elements[elements["in_service"].astype(bool)].iterrows():
            zone = zone_of_bus.get(int(row["bus"]))
            if zone is None:
                continue
            series = frame[key_of(table, int(idx))] * sign
            for group in groups_above(zone):
                if group in contributions:
                    contributions[group] = contributions[group] + series
                else:
                    contributions[group] = series.copy()

    simbench = rg.source.kind == "simbench"
    for table in ("load", "asymmetric_load"):
        if table in net and len(net[table]):
            add(
                load_kw,
                table,
                (lambda t, i: i) if simbench else (lambda t, i: f"{t} {i}"),
                1.0,
            )
    for table in ("sgen", "asymmetric_sgen"):
        if table in net and len(net[table]):
            add(
                sgen_kw,
                table,
                (lambda t, i: i) if simbench else (lambda t, i: f"{t} {i}"),
                -1.0,
            )
    frames = [
        pd.DataFrame({"group": g, "interval_start": s.index, "load_kw": s.to_numpy()})
        for g, s in contributions.items()
    ]
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ fixtures


@dataclass(frozen=True)
class Built:
    name: str
    grid: RealGrid
    dsn: str
    build: DbtResult


def _read(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


@pytest.fixture(scope="module", params=list(CASES))
def built(
    request: pytest.FixtureRequest,
    pg_server: Any,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """One real grid, loaded and built with ``dbt build`` (once per server)."""
    name = str(request.param)
    case = CASES[name]
    grid = build_real_grid(case.source, days=case.days, start=case.start)
    dsn = database_factory(pg_server, "realgrid")
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        load_real_grid(conn, grid, "edm", progress=False)
    target: Path = tmp_path_factory.mktemp(f"dbt-{name}")
    result = run_dbt(["build"], dsn, target_path=target)
    return Built(name, grid, dsn, result)


# ------------------------------------------------------------------ tests


# one server: the conversion, not the server, is under test here
ONE_SERVER = pytest.mark.parametrize("pg_server", ["pg18-embedded"], indirect=True)


@pytest.mark.slow
@ONE_SERVER
def test_every_transformer_load_matches_the_original_network(built: Built) -> None:
    assert "Completed successfully" in built.build.output
    expected = expected_group_load(built.grid)
    actual = _read(
        built.dsn,
        "select transformer_id, interval_start, load_kw, period_s"
        " from evcap.fct_transformer_load",
    )
    assert (actual["period_s"] == 900).all()
    actual["interval_start"] = pd.to_datetime(actual["interval_start"], utc=True)
    member_of = {
        member: group
        for group in expected["group"].unique()
        for member in str(group).split(" + ")
    }
    # every transformer with load in evcap is one the original network feeds
    # (a parallel transformer may carry none: its group is compared)
    assert set(actual["transformer_id"]) <= set(member_of), set(
        actual["transformer_id"]
    ) - set(member_of)
    single = {m for m, g in member_of.items() if m == g}
    assert single <= set(actual["transformer_id"]), single - set(
        actual["transformer_id"]
    )
    actual["group"] = actual["transformer_id"].map(member_of)
    summed = actual.groupby(["group", "interval_start"])["load_kw"].sum().reset_index()
    merged = expected.merge(
        summed, on=["group", "interval_start"], how="outer", suffixes=("", "_evcap")
    )
    assert merged["load_kw"].notna().all(), merged[merged["load_kw"].isna()].head()
    assert merged["load_kw_evcap"].notna().all(), merged[
        merged["load_kw_evcap"].isna()
    ].head()
    n_intervals = len(built.grid.profiles.interval_start)
    assert (merged.groupby("group").size() == n_intervals).all()
    np.testing.assert_allclose(
        merged["load_kw_evcap"].astype(float),
        merged["load_kw"].astype(float),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.slow
@ONE_SERVER
def test_no_meter_is_lost_and_dbt_tests_pass(built: Built) -> None:
    """Every metered load reaches a transformer: no orphan, no depth cut."""
    assert "ERROR=0" in built.build.output.replace(" ", "")
    mapped = _read(
        built.dsn,
        "select count(distinct meter_id) as n from evcap.int_meters_mapped_to_transformers",
    )
    n_meters = int((built.grid.edm.elements["type"] == "Meter").sum())
    assert int(mapped["n"].iloc[0]) == n_meters
    issues = _read(
        built.dsn,
        "select issue_code, count(*) as n from evcap.int_data_issues_collected"
        " group by 1",
    )
    codes = set(issues["issue_code"])
    assert not codes & {"orphan_meter", "meter_without_transformer", "topology_cycle"}
    assert not any("depth" in c for c in codes), issues


# ------------------------------------------------------- conversion, no database


@pytest.fixture(scope="module")
def schutterwald() -> RealGrid:
    return build_real_grid("pandapower:lv_schutterwald", days=1)


def _assert_tree(grid: RealGrid) -> None:
    e = grid.edm.elements
    assert e["grid_element_id"].is_unique
    ids = set(e["grid_element_id"])
    up = dict(zip(e["grid_element_id"], e["upstream_grid_element_id"], strict=True))
    assert {u for u in up.values() if u is not None} <= ids
    roots = {k for k, v in up.items() if v is None}
    assert roots == set(e.loc[e["type"] == "Substation", "grid_element_id"])
    # no cycles: every chain ends at a root
    for start in ids:
        seen, cur = set(), start
        while cur is not None:
            assert cur not in seen
            seen.add(cur)
            cur = up[cur]


def test_conversion_is_a_tree_with_unique_ids(schutterwald: RealGrid) -> None:
    _assert_tree(schutterwald)


@pytest.mark.parametrize(
    ("source", "transformers", "meters"),
    [
        # a three-winding transformer between HV, MV and LV
        ("pandapower:example_multivoltage", 3, 26),
        # network options: a long, multi-customer Dickert feeder
        (
            "pandapower:create_dickert_lv_network:feeders_range=long,"
            "customer=multiple,linetype=C&OHL,case=bad",
            1,
            120,
        ),
    ],
)
def test_other_networks_convert_to_a_tree(
    source: str, transformers: int, meters: int
) -> None:
    grid = build_real_grid(source, days=1)
    _assert_tree(grid)
    kinds = grid.edm.elements["type"].value_counts()
    assert kinds["Transformer"] == transformers
    assert kinds["Meter"] == meters


def test_bad_network_options_are_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no dickert network"):
        build_real_grid(
            "pandapower:create_dickert_lv_network:feeders_range=huge", days=1
        )
    with pytest.raises(ConfigError, match="name=value"):
        parse_source("pandapower:create_dickert_lv_network:huge")


def test_open_switches_are_marked_and_feed_nothing(schutterwald: RealGrid) -> None:
    e = schutterwald.edm.elements
    switches = e[e["type"] == "Switch"]
    open_ = switches[switches["switch_is_open"].astype(bool)]
    assert len(open_) == int((~schutterwald.net.switch["closed"]).sum()) > 0
    assert all(m["normally_open"] for m in open_["meta"])
    # nothing that carries power hangs below an open switch
    up = dict(zip(e["grid_element_id"], e["upstream_grid_element_id"], strict=True))
    kind = dict(zip(e["grid_element_id"], e["type"], strict=True))
    open_ids = set(open_["grid_element_id"])
    for element, t in kind.items():
        if t not in ("Meter", "Transformer"):
            continue
        cur = up[element]
        while cur is not None:
            assert cur not in open_ids, element
            cur = up[cur]


@pytest.mark.slow
def test_transformer_meta_is_real_notation() -> None:
    grid = build_real_grid("simbench:1-MVLV-rural-1.108-0-sw", days=1)
    tx = grid.edm.elements[grid.edm.elements["type"] == "Transformer"]
    meta = {e: m for e, m in zip(tx["grid_element_id"], tx["meta"], strict=True)}
    assert meta["HV1-MV1.101-Trafo1"]["voltage_level"] == "HV/MV"
    assert meta["HV1-MV1.101-Trafo1"]["rating_kva"] == 25000
    assert meta["MV1.101-LV1.108-Trafo 1"]["voltage_level"] == "MV/LV"
    assert meta["MV1.101-LV1.108-Trafo 1"]["rating_kva"] == "160 kVA"
    assert meta["MV1.101-LV1.108-Trafo 1"]["secondary_voltage"] == "0.4 kV"
    assert set(tx["phases"]) == {"ABC"}
    # net energy is conserved and no reading is negative
    total = (
        grid.profiles.load_kw.to_numpy().sum() - grid.profiles.sgen_kw.to_numpy().sum()
    )
    net = grid.consumer_kw.to_numpy().sum() - grid.producer_kw.to_numpy().sum()
    assert net == pytest.approx(total, rel=1e-12)
    assert (grid.consumer_kw.to_numpy() >= 0).all()
    assert (grid.producer_kw.to_numpy() >= 0).all()


@pytest.mark.parametrize(
    "text",
    ["simbench", "other:x", "pandapower:", "pandapower:_private", "pandapower:a.b"],
)
def test_bad_sources_are_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="pandapower"):
        parse_source(text)


@pytest.mark.slow
def test_period_outside_the_simbench_year_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="inside that year"):
        build_real_grid(
            "simbench:1-LV-rural1--0-sw", days=3, start=dt.date(2016, 12, 30)
        )
    with pytest.raises(ConfigError, match="unknown SimBench code"):
        build_real_grid("simbench:no-such-grid", days=1)


@pytest.mark.slow
@ONE_SERVER
def test_cli_loads_a_kerber_grid(
    pg_server: Any, database_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from evcap.cli import main

    dsn = database_factory(pg_server, "realcli")
    assert main(["edm", "install", "--dsn", dsn]) == 0
    source = "pandapower:create_kerber_landnetz_freileitung_1"
    args = ["demo-data", "--dsn", dsn, "--from", source, "--days", "1"]
    assert main([*args, "--grid-id", "kerber"]) == 0
    assert main([*args, "--grid-id", "kerber"]) == 0  # replaces, no duplicates
    out = capsys.readouterr().out
    assert "loaded kerber" in out
    assert "local_timezone=Europe/Berlin" in out
    counts = _read(
        dsn,
        "select (select count(*) from edm.grid_element where grid_id = 'kerber') as e,"
        " (select count(*) from edm.ts_data_source_reading) as r",
    )
    net = build_real_grid(source, days=1).net
    n_elements = len(net.bus) + len(net.line) + len(net.trafo) + 1 + len(net.load)
    assert int(counts["e"].iloc[0]) == n_elements
    assert int(counts["r"].iloc[0]) == len(net.load) * 96
    # --grid-id belongs to --from
    assert main(["demo-data", "--dsn", dsn, "--grid-id", "x", "--days", "1"]) == 2
    # without --from: the synthetic grid and its own defaults (start 2024-01-01)
    assert main(["demo-data", "--dsn", dsn, "--meters", "3", "--days", "1"]) == 0
    first = _read(
        dsn,
        "select min(r.ts) as ts from edm.ts_data_source_reading as r"
        " join edm.grid_element_data_source as ds"
        " on ds.grid_element_data_source_id = r.data_source_id"
        " where ds.grid_id = 'demo-north'",
    )
    assert pd.Timestamp(first["ts"].iloc[0]) == pd.Timestamp("2024-01-01 08:00Z")
