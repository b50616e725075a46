"""Tests of the synthetic grid generator (evcap.demo)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

from evcap.demo import (
    DISTRIBUTION_KVA_SIZES,
    SIZING_POWER_FACTOR,
    DemoGrid,
    GridSpec,
    build_grid,
    iter_reading_chunks,
    load_grid,
    readings_frame,
)
from evcap.demo import loader as demo_loader
from evcap.edm_standin import install_standin
from evcap.errors import ConfigError, SchemaError

LOCAL = "America/Vancouver"


@cache
def _grid(spec: GridSpec) -> DemoGrid:
    return build_grid(spec)


@cache
def _readings(spec: GridSpec) -> pd.DataFrame:
    return readings_frame(_grid(spec))


SMALL = GridSpec(meters=40, days=3, grids=2)
YEAR = GridSpec(meters=60, days=365)
DEFECTS = GridSpec(meters=40, days=4, grids=2, defects=True)


def _walk_up(up: dict[str, str | None], start: str) -> list[str]:
    """Element ids from ``start`` upwards; stops at a missing id or a cycle."""
    path, seen, node = [], set(), start
    while node is not None and node in up and node not in seen:
        seen.add(node)
        path.append(node)
        node = up[node]
    if node is not None:
        path.append(node)  # the missing / repeated id that ended the walk
    return path


def _upstream_map(elements: pd.DataFrame, grid_id: str) -> dict[str, str | None]:
    g = elements[elements["grid_id"] == grid_id]
    return {
        str(e): (None if u is None or (isinstance(u, float) and math.isnan(u)) else u)
        for e, u in zip(
            g["grid_element_id"], g["upstream_grid_element_id"], strict=True
        )
    }


# ------------------------------------------------------------------- spec


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("meters", 0, "meters"),
        ("days", 0, "days"),
        ("grids", 0, "grids"),
        ("seed", -1, "seed"),
        ("interval_minutes", 30, "interval_minutes"),
        ("interval_minutes", 60.0, "interval_minutes"),
        ("timezone", "Mars/Olympus_Mons", "time zone"),
        ("start", dt.datetime(2024, 1, 1), "start"),
        ("start", "2024-01-01", "start"),
        ("meters", True, "meters"),
    ],
)
def test_spec_rejects_bad_values(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GridSpec(**{field: value})


def test_spec_defects_need_enough_meters() -> None:
    with pytest.raises(ConfigError, match="at least 16 meters"):
        GridSpec(meters=10, defects=True)


def test_spec_time_axis_is_local_midnight_in_utc() -> None:
    spec = GridSpec(days=2)
    assert spec.start_utc == dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)
    assert spec.end_utc == dt.datetime(2024, 1, 3, 8, tzinfo=dt.UTC)
    assert spec.n_intervals == 48
    assert GridSpec(days=2, interval_minutes=5).n_intervals == 48 * 12


@pytest.mark.parametrize(
    ("start", "expected"),
    [(dt.date(2024, 3, 9), 71), (dt.date(2024, 11, 2), 73), (dt.date(2024, 6, 1), 72)],
)
def test_spec_dst_days_have_23_or_25_hours(start: dt.date, expected: int) -> None:
    assert GridSpec(start=start, days=3).n_intervals == expected


def test_grid_ids_are_named_and_unique() -> None:
    ids = GridSpec(grids=9).grid_ids
    assert ids[:2] == ("demo-north", "demo-south")
    assert len(set(ids)) == 9


# -------------------------------------------------------------- determinism


def _assert_grids_equal(a: DemoGrid, b: DemoGrid) -> None:
    for name in ("grids", "elements", "data_sources", "meters", "transformers"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(a.defects, b.defects)


@pytest.mark.parametrize("spec", [SMALL, DEFECTS], ids=["clean", "defects"])
def test_same_seed_gives_identical_grid_and_readings(spec: GridSpec) -> None:
    a, b = build_grid(spec), build_grid(spec)
    _assert_grids_equal(a, b)
    pd.testing.assert_frame_equal(readings_frame(a), readings_frame(b))


def test_different_seed_differs() -> None:
    a = _grid(SMALL)
    b = build_grid(GridSpec(meters=40, days=3, grids=2, seed=7))
    assert not set(a.data_sources["grid_element_data_source_id"]) & set(
        b.data_sources["grid_element_data_source_id"]
    )
    ra, rb = _readings(SMALL), readings_frame(b)
    n = min(len(ra), len(rb))
    assert not np.allclose(ra["value"].to_numpy()[:n], rb["value"].to_numpy()[:n])
    assert a.transformers["rating_kva"].tolist() != b.transformers[
        "rating_kva"
    ].tolist() or len(a.elements) != len(b.elements)


@pytest.mark.parametrize("chunk_meters", [1, 7, 1000])
def test_readings_do_not_depend_on_chunking(chunk_meters: int) -> None:
    grid = _grid(DEFECTS)
    chunks = list(iter_reading_chunks(grid, chunk_meters=chunk_meters))
    got = pd.concat(chunks, ignore_index=True)
    key = ["data_source_id", "ts", "received_at"]
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True),
        _readings(DEFECTS).sort_values(key, ignore_index=True),
    )
    if chunk_meters == 1:
        assert len(chunks) == DEFECTS.meters * DEFECTS.grids


def test_readings_come_in_the_order_of_the_readings_index() -> None:
    """(data source, ts) order, the byte order of the ids: the index builds presorted."""
    r = _readings(DEFECTS)
    ids = r["data_source_id"].map(lambda s: uuid.UUID(s).bytes)
    key = pd.DataFrame({"id": ids, "ts": r["ts"]})
    assert key.equals(key.sort_values(["id", "ts"], kind="stable"))
    assert not r["data_source_id"].is_monotonic_decreasing


def test_readings_reject_other_spec_and_bad_chunk() -> None:
    grid = _grid(SMALL)
    with pytest.raises(ConfigError, match="spec differs"):
        next(iter_reading_chunks(grid, GridSpec(meters=41, days=3, grids=2)))
    with pytest.raises(ConfigError, match="chunk_meters"):
        next(iter_reading_chunks(grid, chunk_meters=-1))


# ----------------------------------------------------------------- topology


def test_sizes_as_asked() -> None:
    grid = _grid(SMALL)
    meters = grid.elements[grid.elements["type"] == "Meter"]
    assert meters.groupby("grid_id").size().to_dict() == {
        "demo-north": 40,
        "demo-south": 40,
    }
    assert list(grid.grids["grid_id"]) == ["demo-north", "demo-south"]
    assert len(grid.meters) == 80
    assert list(grid.elements.columns) == [
        "grid_id",
        "grid_element_id",
        "type",
        "customer_type",
        "phases",
        "is_underground",
        "is_producer",
        "is_consumer",
        "is_switchable",
        "switch_is_open",
        "terminal1_cn",
        "terminal2_cn",
        "power_flow_direction",
        "upstream_grid_element_id",
        "geometry",
        "meta",
    ]


@pytest.mark.parametrize("spec", [SMALL, YEAR], ids=["small", "year"])
def test_topology_is_one_tree_per_grid(spec: GridSpec) -> None:
    grid = _grid(spec)
    elements = grid.elements
    assert not elements.duplicated(["grid_id", "grid_element_id"]).any()
    for grid_id in spec.grid_ids:
        up = _upstream_map(elements, grid_id)
        roots = [e for e, u in up.items() if u is None]
        assert len(roots) == 1
        types = dict(
            zip(
                elements.loc[elements["grid_id"] == grid_id, "grid_element_id"],
                elements.loc[elements["grid_id"] == grid_id, "type"],
                strict=True,
            )
        )
        assert types[roots[0]] == "Substation"
        for element in up:
            path = _walk_up(up, element)
            assert path[-1] == roots[0], f"{element} does not reach the root"
            assert len(path) == len(set(path))


def test_meters_reach_their_transformer_through_lines() -> None:
    grid = _grid(SMALL)
    types = {
        (g, e): t
        for g, e, t in grid.elements[["grid_id", "grid_element_id", "type"]].itertuples(
            index=False
        )
    }
    for grid_id in SMALL.grid_ids:
        up = _upstream_map(grid.elements, grid_id)
        meters = grid.meters[grid.meters["grid_id"] == grid_id]
        for meter, transformer in zip(
            meters["grid_element_id"], meters["transformer_id"], strict=True
        ):
            path = _walk_up(up, meter)
            first_tx = next(e for e in path if types[(grid_id, e)] == "Transformer")
            assert first_tx == transformer
            between = path[1 : path.index(first_tx)]
            assert between, f"{meter} hangs directly on {first_tx}"
            assert {types[(grid_id, e)] for e in between} <= {
                "ACLineSegment",
                "Switch",
            }
        # Distribution transformers hang on lines or switches too.
        for tid in grid.transformers.loc[
            (grid.transformers["grid_id"] == grid_id)
            & (grid.transformers["voltage_level"] != "HV/MV"),
            "transformer_id",
        ]:
            assert types[(grid_id, str(up[tid]))] in {"ACLineSegment", "Switch"}


def test_transformer_hierarchy_and_nesting() -> None:
    grid = _grid(YEAR)
    tx = grid.transformers
    levels = set(tx["voltage_level"])
    assert {"HV/MV", "MV/MV", "MV/LV", "LV/LV"} <= levels
    hv = tx[tx["voltage_level"] == "HV/MV"]
    assert (hv["depth"] == 0).all()
    assert (hv["rating_kva"] >= 10_000).all()
    assert hv["upstream_transformer_id"].isna().all()
    dist = tx[tx["voltage_level"].isin(["MV/LV", "LV/LV"])]
    assert set(dist["rating_kva"]) <= set(DISTRIBUTION_KVA_SIZES)
    # a transformer with meters of its own that also feeds child transformers
    parents = set(tx["upstream_transformer_id"].dropna())
    assert ((tx["meters_direct"] > 0) & tx["transformer_id"].isin(parents)).any()
    # meters_total = direct + children's totals
    for row in tx.itertuples(index=False):
        children = tx[tx["upstream_transformer_id"] == row.transformer_id]
        assert row.meters_total == row.meters_direct + children["meters_total"].sum()
    top = hv["meters_total"].sum()
    assert top == YEAR.meters


def test_transformer_meta_like_real_data() -> None:
    grid = _grid(SMALL)
    tx_el = grid.elements[grid.elements["type"] == "Transformer"]
    keys = {
        "rating_kva",
        "secondary_voltage",
        "primary_voltage",
        "voltage_level",
        "load_loss",
        "no_load_loss",
        "installation_type",
        "latitude",
        "longitude",
    }
    kinds: set[type] = set()
    for meta in tx_el["meta"]:
        assert keys <= set(meta)
        kinds.add(type(meta["rating_kva"]))
        lat, lon = float(meta["latitude"]), float(meta["longitude"])
        assert 49.0 < lat < 49.5
        assert -123.4 < lon < -122.7
    assert str in kinds
    assert kinds & {int, float}
    truth = grid.transformers.set_index(["grid_id", "transformer_id"])
    for g, t, phases, meta in tx_el[
        ["grid_id", "grid_element_id", "phases", "meta"]
    ].itertuples(index=False):
        assert float(meta["rating_kva"]) == truth.loc[(g, t), "rating_kva"]
        secondary = int(meta["secondary_voltage"])
        if meta["voltage_level"] in ("MV/LV", "LV/LV"):
            if meta["installation_type"] == "pole":
                assert phases in {"A", "B", "C"}
                assert secondary in {120, 240}
            else:
                assert phases == "ABC"
                assert secondary in {208, 347, 400, 600}
    parents = [
        m["parent_transformer_id"]
        for m in tx_el["meta"]
        if "parent_transformer_id" in m
    ]
    assert parents  # present on some grids


def test_ids_repeat_across_grids_but_sources_do_not() -> None:
    grid = _grid(SMALL)
    north = set(
        grid.elements.loc[grid.elements["grid_id"] == "demo-north", "grid_element_id"]
    )
    south = set(
        grid.elements.loc[grid.elements["grid_id"] == "demo-south", "grid_element_id"]
    )
    assert {"TX-0001", "TX-0002", "MTR-00001", "SUB-01"} <= north & south
    assert grid.data_sources["grid_element_data_source_id"].is_unique


def test_every_meter_has_one_consumer_source_and_pv_is_a_producer() -> None:
    grid = build_grid(GridSpec(meters=300, days=1))
    ds = grid.data_sources
    meters = grid.elements[grid.elements["type"] == "Meter"]
    consumers = ds[ds["type"] == "CONSUMER"]
    assert sorted(consumers["grid_element_id"]) == sorted(meters["grid_element_id"])
    assert all(list(m) == ["kWh", "V"] for m in consumers["metrics"])
    producers = ds[ds["type"] == "PRODUCER"]
    with_pv = set(grid.meters.loc[grid.meters["pv_kwp"] > 0, "grid_element_id"])
    assert set(producers["grid_element_id"]) == with_pv
    assert set(meters.loc[meters["is_producer"], "grid_element_id"]) == with_pv
    assert set(ds["type"]) == {"CONSUMER", "PRODUCER"}
    houses = grid.meters[
        (grid.meters["customer_type"] == "Residential") & ~grid.meters["apartment"]
    ]
    share = (houses["pv_kwp"] > 0).mean()
    assert 0.1 < share < 0.35
    assert set(grid.meters["customer_type"]) == {"Residential", "Commercial"}


# ----------------------------------------------------------------- readings


@pytest.mark.parametrize("minutes", [60, 15, 5])
def test_readings_count_and_spacing(minutes: int) -> None:
    spec = GridSpec(
        meters=12, days=2, interval_minutes=minutes, start=dt.date(2024, 3, 9)
    )
    grid = build_grid(spec)
    r = readings_frame(grid)
    intervals = (23 + 24) * 60 // minutes  # 2024-03-10 has 23 local hours
    assert spec.n_intervals == intervals
    assert len(r) == len(grid.data_sources) * intervals == grid.n_readings
    assert list(r.columns) == [
        "data_source_id",
        "metric",
        "ts",
        "value",
        "period_s",
        "received_at",
    ]
    assert (r["period_s"] == minutes * 60).all()
    assert (r["metric"] == "kWh").all()
    assert str(r["ts"].dt.tz) == "UTC"
    assert r["ts"].min() == pd.Timestamp("2024-03-09 08:00", tz="UTC")
    last = pd.Timestamp("2024-03-11 07:00", tz="UTC") - pd.Timedelta(minutes=minutes)
    assert r["ts"].max() == last
    steps = r.groupby("data_source_id")["ts"].diff().dropna()
    assert (steps == pd.Timedelta(minutes=minutes)).all()
    delay = r["received_at"] - r["ts"] - pd.Timedelta(minutes=minutes)
    assert (delay > pd.Timedelta(0)).all()
    assert (delay < pd.Timedelta(hours=1)).all()
    assert (r["value"] >= 0).all()


def _labelled(grid: DemoGrid, r: pd.DataFrame) -> pd.DataFrame:
    ds = grid.data_sources.set_index("grid_element_data_source_id")[
        ["type", "grid_element_id"]
    ]
    out = r.join(ds, on="data_source_id")
    out = out.join(
        grid.meters.set_index("grid_element_id")[["customer_type"]],
        on="grid_element_id",
    )
    local = out["ts"].dt.tz_convert(LOCAL)
    out["hour"] = local.dt.hour
    out["month"] = local.dt.month
    out["weekday"] = local.dt.dayofweek < 5
    return out


def test_load_shapes_follow_local_time_and_seasons() -> None:
    r = _labelled(_grid(YEAR), _readings(YEAR))
    cons = r[r["type"] == "CONSUMER"]
    res = cons[cons["customer_type"] == "Residential"]
    by_hour = res.groupby("hour")["value"].mean()
    assert by_hour[18] > 1.5 * by_hour[3]  # evening peak over the night
    assert by_hour[7] > by_hour[3]  # morning peak
    by_month = res.groupby("month")["value"].mean()
    assert by_month[1] > 1.3 * by_month[7]  # winter-peaking (heating)
    com = cons[cons["customer_type"] == "Commercial"]
    office_hours = com[com["hour"].between(10, 15)]
    assert (
        office_hours[office_hours["weekday"]]["value"].mean()
        > office_hours[~office_hours["weekday"]]["value"].mean()
    )
    assert office_hours["value"].mean() > com[com["hour"] <= 3]["value"].mean()
    pv = r[r["type"] == "PRODUCER"]
    assert (pv.loc[pv["hour"].isin([22, 23, 0, 1, 2, 3]), "value"] == 0).all()
    noon = pv[pv["hour"].isin([12, 13])]
    assert noon[noon["month"] == 6]["value"].mean() > 3 * (
        noon[noon["month"] == 12]["value"].mean()
    )
    pv_hours = pv.groupby("hour")["value"].mean()
    assert pv_hours.idxmax() in (12, 13, 14)  # local solar noon (DST in summer)


def test_ratings_sized_from_simulated_peak() -> None:
    """Recompute every transformer's peak from the readings, independently."""
    grid = _grid(YEAR)
    r = _labelled(grid, _readings(YEAR))
    sign = np.where(r["type"] == "CONSUMER", 1.0, -1.0)
    r["net_kw"] = sign * r["value"] * 3600.0 / r["period_s"]
    r = r.join(
        grid.meters.set_index("grid_element_id")[["transformer_id"]],
        on="grid_element_id",
    )
    direct = r.groupby(["transformer_id", "ts"])["net_kw"].sum().unstack(fill_value=0.0)
    tx = grid.transformers.set_index("transformer_id")
    total = {t: pd.Series(0.0, index=direct.columns) for t in tx.index}
    for t in tx.sort_values("depth", ascending=False).index:
        if t in direct.index:
            total[t] = total[t] + direct.loc[t]
        parent = tx.loc[t, "upstream_transformer_id"]
        if isinstance(parent, str):
            total[parent] = total[parent] + total[t]
    for t in tx.index:
        assert total[t].max() == pytest.approx(tx.loc[t, "peak_load_kw"], abs=1e-2)
    util = tx["peak_load_kw"] / (tx["rating_kva"] * SIZING_POWER_FACTOR)
    dist = util[tx["voltage_level"] == "MV/LV"]
    assert ((dist > 0.88) & (dist < 1.07)).any(), "no nearly-full transformer"
    assert (dist < 0.5).any(), "no transformer with 2x headroom"


# ------------------------------------------------------------------ defects


def _defect(grid: DemoGrid, kind: str) -> pd.DataFrame:
    rows = grid.defects[grid.defects["kind"] == kind]
    assert len(rows), f"no {kind} defect recorded"
    return rows


def test_no_defects_without_the_flag() -> None:
    grid = _grid(SMALL)
    assert grid.defects.empty
    r = _readings(SMALL)
    assert not r.duplicated(["data_source_id", "ts"]).any()


def test_meta_defects() -> None:
    grid = _grid(DEFECTS)
    meta = {
        (g, e): m
        for g, e, m in grid.elements[["grid_id", "grid_element_id", "meta"]].itertuples(
            index=False
        )
    }
    truth = grid.transformers.set_index(["grid_id", "transformer_id"])["rating_kva"]
    (row,) = _defect(grid, "rating_missing").itertuples(index=False)
    assert "rating_kva" not in meta[(row.grid_id, row.grid_element_id)]
    (row,) = _defect(grid, "rating_unparseable").itertuples(index=False)
    garbage = meta[(row.grid_id, row.grid_element_id)]["rating_kva"]
    assert isinstance(garbage, str)
    with pytest.raises(ValueError, match="could not convert"):
        float(garbage)
    strings = _defect(grid, "rating_as_string")
    assert len(strings) >= 2
    for g, e in zip(strings["grid_id"], strings["grid_element_id"], strict=True):
        value = meta[(g, e)]["rating_kva"]
        assert isinstance(value, str)
        assert float(value) == truth[(g, e)]
    # every string rating that parses is recorded
    recorded = set(zip(strings["grid_id"], strings["grid_element_id"], strict=True))
    for (g, e), m in meta.items():
        value = m.get("rating_kva") if isinstance(m, dict) else None
        if isinstance(value, str) and (g, e) != (row.grid_id, row.grid_element_id):
            assert (g, e) in recorded


def test_topology_defects() -> None:
    grid = _grid(DEFECTS)
    up = _upstream_map(grid.elements, "demo-north")
    (orphan,) = _defect(grid, "orphan_missing_upstream")["grid_element_id"]
    assert up[orphan] is not None
    assert up[orphan] not in up
    (orphan_null,) = _defect(grid, "orphan_null_upstream")["grid_element_id"]
    assert up[orphan_null] is None
    (cycle,) = _defect(grid, "topology_cycle").itertuples(index=False)
    a, b = up[cycle.grid_element_id], None
    assert a is not None
    b = up[a]
    assert b is not None
    assert up[b] == a
    assert {a, b} == set(cycle.detail.split(" <-> "))
    # Apart from the injected defects the grid is still a tree.
    broken = {orphan, orphan_null, cycle.grid_element_id, a, b}
    roots = [e for e, u in up.items() if u is None and e not in broken]
    assert len(roots) == 1
    for element in up:
        if element not in broken:
            assert _walk_up(up, element)[-1] == roots[0]
    # the other grid carries no defects and is a clean tree
    south = _upstream_map(grid.elements, "demo-south")
    assert sum(u is None for u in south.values()) == 1
    assert set(grid.defects["grid_id"].dropna()) <= {"demo-north", "demo-south"}


def test_reading_defects() -> None:
    grid = _grid(DEFECTS)
    r = _readings(DEFECTS)
    n_int = DEFECTS.n_intervals
    gaps = _defect(grid, "reading_gap")
    assert len(gaps) == 3
    missing = 0
    for g in gaps.itertuples(index=False):
        rows = r[r["data_source_id"] == g.data_source_id]
        hole = rows["ts"].between(g.ts_start, g.ts_end)
        assert not hole.any()
        span = int((g.ts_end - g.ts_start) / pd.Timedelta(hours=1)) + 1
        assert span >= 4
        assert len(rows) == n_int - span
        missing += span
    assert len(r) == len(grid.data_sources) * n_int - missing + 2 == grid.n_readings

    (dup,) = _defect(grid, "duplicate_exact").itertuples(index=False)
    exact = r[r.duplicated(keep=False)]
    assert len(exact) == 2
    assert set(exact["data_source_id"]) == {dup.data_source_id}
    assert (exact["ts"] == dup.ts_start).all()
    assert (exact["value"] == dup.value).all()

    (late,) = _defect(grid, "late_correction").itertuples(index=False)
    pair = r[(r["data_source_id"] == late.data_source_id) & (r["ts"] == late.ts_start)]
    assert len(pair) == 2
    first, second = pair.sort_values("received_at").itertuples(index=False)
    assert first.value == late.value
    assert second.value == late.expected_value != first.value
    assert second.received_at - first.received_at >= pd.Timedelta(days=1)
    same_key = r.duplicated(["data_source_id", "ts"], keep=False)
    assert same_key.sum() == 4  # the exact duplicate pair and the correction pair

    (neg,) = _defect(grid, "negative_reading").itertuples(index=False)
    negative = r[r["value"] < 0]
    assert len(negative) == 1
    assert negative["data_source_id"].iloc[0] == neg.data_source_id
    assert negative["ts"].iloc[0] == neg.ts_start
    assert negative["value"].iloc[0] == neg.value
    consumer_ids = set(
        grid.data_sources.loc[
            grid.data_sources["type"] == "CONSUMER", "grid_element_data_source_id"
        ]
    )
    assert neg.data_source_id in consumer_ids


def test_pv_exceeds_load_for_hours() -> None:
    grid = _grid(DEFECTS)
    r = _readings(DEFECTS)
    (row,) = _defect(grid, "pv_exceeds_load").itertuples(index=False)
    ds = grid.data_sources[grid.data_sources["grid_element_id"] == row.grid_element_id]
    ds = ds[ds["grid_id"] == row.grid_id].set_index("type")[
        "grid_element_data_source_id"
    ]
    assert ds["PRODUCER"] == row.data_source_id
    cons = r[r["data_source_id"] == ds["CONSUMER"]].set_index("ts")["value"]
    prod = r[r["data_source_id"] == ds["PRODUCER"]].set_index("ts")["value"]
    net = cons - prod
    assert (net < 0).sum() >= 3 * DEFECTS.days
    assert (net > 0).any()


def test_dst_transitions_recorded_for_the_demo_year() -> None:
    grid = build_grid(GridSpec(meters=16, days=366, defects=True))
    dst = grid.defects[grid.defects["kind"] == "dst_transition"]
    assert list(dst["ts_start"]) == [
        pd.Timestamp("2024-03-10 10:00", tz="UTC"),
        pd.Timestamp("2024-11-03 09:00", tz="UTC"),
    ]
    assert "2024-03-10" in dst["detail"].iloc[0]
    assert "2024-11-03" in dst["detail"].iloc[1]
    few = build_grid(GridSpec(meters=16, days=3, defects=True))
    assert (few.defects["kind"] != "dst_transition").all()


# ------------------------------------------------------------------ loading


@pytest.fixture
def standin(pg_conn: psycopg.Connection) -> psycopg.Connection:
    install_standin(pg_conn, "edm")
    return pg_conn


def _counts(conn: psycopg.Connection, schema: str = "edm") -> dict[str, int]:
    out = {}
    for table in (
        "grid",
        "grid_element",
        "grid_element_data_source",
        "ts_data_source_reading",
    ):
        row = conn.execute(f"select count(*) from {schema}.{table}").fetchone()
        assert row is not None
        out[table] = int(row[0])
    return out


def _expected_counts(grid: DemoGrid) -> dict[str, int]:
    return {
        "grid": len(grid.grids),
        "grid_element": len(grid.elements),
        "grid_element_data_source": len(grid.data_sources),
        "ts_data_source_reading": len(readings_frame(grid)),
    }


def test_load_writes_the_frames_and_is_idempotent(standin: psycopg.Connection) -> None:
    grid = _grid(DEFECTS)
    summary = load_grid(standin, grid, "edm", progress=False)
    assert summary.readings == grid.n_readings
    assert summary.grid_ids == ("demo-north", "demo-south")
    assert _counts(standin) == _expected_counts(grid)
    again = load_grid(standin, grid, "edm", progress=False)
    assert again.readings == summary.readings
    assert _counts(standin) == _expected_counts(grid)
    assert "readings" in str(again)

    # readings round-trip exactly through the binary COPY
    rows = standin.execute(
        "select data_source_id::text, metric, ts, value, period_s, received_at"
        " from edm.ts_data_source_reading"
    ).fetchall()
    db = pd.DataFrame(rows, columns=list(_readings(DEFECTS).columns))
    db["ts"] = pd.to_datetime(db["ts"], utc=True)
    db["received_at"] = pd.to_datetime(db["received_at"], utc=True)
    db["period_s"] = db["period_s"].astype(np.int32)
    key = ["data_source_id", "ts", "received_at", "value"]
    pd.testing.assert_frame_equal(
        db.sort_values(key, ignore_index=True),
        _readings(DEFECTS).sort_values(key, ignore_index=True),
        check_dtype=False,
    )
    # meta round-trips as jsonb, strings stay strings
    meta_rows = standin.execute(
        "select grid_id, grid_element_id, meta from edm.grid_element"
        " where type = 'Transformer'"
    ).fetchall()
    expected = {
        (g, e): m
        for g, e, m, t in grid.elements[
            ["grid_id", "grid_element_id", "meta", "type"]
        ].itertuples(index=False)
        if t == "Transformer"
    }
    assert {(g, e): m for g, e, m in meta_rows} == expected
    sources = standin.execute(
        "select count(*) from edm.grid_element_data_source"
        " where metrics = array['kWh','V'] and type = 'CONSUMER'"
        " and lower(valid) = %s and upper_inf(valid)",
        (DEFECTS.start_utc,),
    ).fetchone()
    assert sources is not None
    assert sources[0] == len(grid.meters)


def test_load_replaces_a_grid_loaded_with_another_seed(
    standin: psycopg.Connection,
) -> None:
    first = build_grid(GridSpec(seed=1, meters=20, days=2))
    second = build_grid(GridSpec(seed=2, meters=25, days=2))
    other = build_grid(GridSpec(seed=1, meters=20, days=2, grids=2))
    load_grid(standin, other, "edm", progress=False)
    load_grid(standin, first, "edm", progress=False)
    load_grid(standin, second, "edm", progress=False)
    row = standin.execute(
        "select count(*) from edm.grid_element where grid_id = 'demo-north'"
    ).fetchone()
    assert row is not None
    assert row[0] == len(second.elements)
    ids = {
        r[0]
        for r in standin.execute(
            "select distinct ds.grid_element_data_source_id::text"
            " from edm.ts_data_source_reading r"
            " join edm.grid_element_data_source ds"
            " on ds.grid_element_data_source_id = r.data_source_id"
            " where ds.grid_id = 'demo-north'"
        ).fetchall()
    }
    assert ids == set(second.data_sources["grid_element_data_source_id"])
    # demo-south from the earlier two-grid load is untouched
    south = other.data_sources[other.data_sources["grid_id"] == "demo-south"]
    row = standin.execute(
        "select count(*) from edm.ts_data_source_reading r"
        " join edm.grid_element_data_source ds"
        " on ds.grid_element_data_source_id = r.data_source_id"
        " where ds.grid_id = 'demo-south'"
    ).fetchone()
    assert row is not None
    assert row[0] == len(south) * other.spec.n_intervals
    orphans = standin.execute(
        "select count(*) from edm.ts_data_source_reading r where not exists"
        " (select from edm.grid_element_data_source ds"
        " where ds.grid_element_data_source_id = r.data_source_id)"
    ).fetchone()
    assert orphans == (0,)


def test_load_accepts_a_spec(standin: psycopg.Connection) -> None:
    spec = GridSpec(meters=5, days=1, interval_minutes=15)
    summary = load_grid(standin, spec, "edm", progress=False)
    assert summary.readings == build_grid(spec).n_readings
    assert _counts(standin)["ts_data_source_reading"] == summary.readings


def test_load_rebuilds_the_readings_index(
    standin: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_loader, "REBUILD_INDEX_MIN_ROWS", 0)
    monkeypatch.setattr(demo_loader, "REBUILD_FOREIGN_KEYS_MIN_ROWS", 0)
    grid = build_grid(GridSpec(meters=8, days=2))
    load_grid(standin, grid, "edm", progress=False)
    # the foreign keys dropped for the load are back, and enforced
    keys = standin.execute(
        "select count(*) from pg_constraint k join pg_class c on c.oid = k.conrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'edm' and k.contype = 'f'"
    ).fetchone()
    assert keys == (2,)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        standin.execute(
            "insert into edm.grid_element (grid_id, grid_element_id)"
            " values ('no-such-grid', 'X')"
        )
    standin.rollback()
    row = standin.execute(
        "select indexdef from pg_indexes where schemaname = 'edm'"
        " and indexname = 'ts_data_source_reading_lookup'"
    ).fetchone()
    assert row is not None
    assert "(data_source_id, metric, ts)" in row[0]
    assert _counts(standin)["ts_data_source_reading"] == grid.n_readings


def test_load_refuses_a_schema_that_is_not_a_standin(
    pg_conn: psycopg.Connection,
) -> None:
    pg_conn.execute("create schema edm")
    pg_conn.execute("create table edm.grid (grid_id text primary key)")
    pg_conn.execute("insert into edm.grid values ('real-grid')")
    pg_conn.commit()
    with pytest.raises(SchemaError, match="never writes"):
        load_grid(pg_conn, _grid(SMALL), "edm", progress=False)
    rows = pg_conn.execute("select grid_id from edm.grid").fetchall()
    assert rows == [("real-grid",)]


@pytest.mark.parametrize("create", [False, True], ids=["absent", "empty"])
def test_load_needs_an_installed_standin(
    pg_conn: psycopg.Connection, create: bool
) -> None:
    if create:
        pg_conn.execute("create schema edm")
        pg_conn.commit()
    with pytest.raises(SchemaError, match="evcap edm install"):
        load_grid(pg_conn, _grid(SMALL), "edm", progress=False)
