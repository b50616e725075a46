"""The roll-up on meters as utilities have them, against pandas.

A hand-made EDM grid in the stand-in, written row by row here: hourly
residential meters beside 15-minute commercial ones on one transformer, a
meter with one consumer source per phase, a meter replaced mid-way (two
sources with ``valid`` ranges), import and export registers, a spike above a
meter's service limit, a second grid in another time zone, and a feeder that
delivers its last days late. Every expectation is computed here in pandas
from those rows: nothing reads the dbt models' SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

from evcap.dbt_runner import DbtResult, run_dbt
from evcap.edm_standin import install_standin

pytestmark = pytest.mark.slow

START = pd.Timestamp("2024-06-01 00:00", tz="UTC")
HOURS = 36
MID = START + pd.Timedelta(hours=18)
LATE_FROM = START + pd.Timedelta(hours=24)  # the late feeder's held-back part
KEYS = ["grid_id", "transformer_id", "interval_start"]

# (grid, element, type, upstream, meta)
ELEMENTS = [
    ("gA", "SUB", "Transformer", None, {"rating_kva": 500}),
    ("gA", "T1", "Transformer", "SUB", {"rating_kva": 100}),
    ("gA", "T2", "Transformer", "SUB", {"rating_kva": 50}),
    ("gA", "L1", "ACLineSegment", "T1", None),
    ("gA", "M1", "Meter", "L1", None),
    ("gA", "M2", "Meter", "L1", None),
    ("gA", "M3", "Meter", "L1", None),
    ("gA", "M4", "Meter", "L1", None),
    ("gA", "M5", "Meter", "L1", {"max_service_kw": 20}),
    ("gA", "M6", "Meter", "T2", None),
    ("gB", "T1", "Transformer", None, {"rating_kva": 50}),
    ("gB", "M1", "Meter", "T1", None),
]


def _sid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"evcap-test/{name}"))


def _range(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> str:
    return f"[{'' if lo is None else lo.isoformat()},{'' if hi is None else hi.isoformat()})"


# (name, grid, meter, type, valid lower, valid upper, period_s)
SOURCES = [
    ("A-M1", "gA", "M1", "CONSUMER", None, None, 3600),  # hourly residential
    ("A-M2a", "gA", "M2", "CONSUMER", None, None, 900),  # one per phase
    ("A-M2b", "gA", "M2", "CONSUMER", None, None, 900),
    ("A-M2c", "gA", "M2", "CONSUMER", None, None, 900),
    ("A-M3old", "gA", "M3", "CONSUMER", None, MID, 900),  # replaced at MID
    ("A-M3new", "gA", "M3", "CONSUMER", MID, None, 900),
    ("A-M4imp", "gA", "M4", "CONSUMER", None, None, 900),  # import register
    ("A-M4exp", "gA", "M4", "PRODUCER", None, None, 900),  # export register
    ("A-M5", "gA", "M5", "CONSUMER", None, None, 900),
    ("A-M6", "gA", "M6", "CONSUMER", None, None, 3600),  # the late feeder
    ("B-M1", "gB", "M1", "CONSUMER", None, None, 3600),
]
SPIKE_AT = START + pd.Timedelta(hours=5)


def make_readings() -> pd.DataFrame:
    """Every reading the feed delivers (data_source_id, ts, value, period_s)."""
    rng = np.random.default_rng(3)
    rows: list[tuple[str, pd.Timestamp, float, int]] = []
    end = START + pd.Timedelta(hours=HOURS)
    for name, _, _, _, _lo, _hi, period in SOURCES:
        for ts in pd.date_range(START, end, freq=f"{period}s", inclusive="left"):
            if name == "A-M3old" and ts >= MID + pd.Timedelta(hours=1):
                continue  # the old meter stops an hour after its replacement
            if name == "A-M3new" and ts < MID:
                continue
            if name == "A-M2b" and ts.hour == 7:
                continue  # phase B missing for an hour: M2 incomplete then
            value = float(np.round(rng.uniform(0.05, 1.5) * period / 3600, 4))
            if name == "A-M5" and ts == SPIKE_AT:
                value = 100.0  # 400 kW on a 20 kW service
            rows.append((_sid(name), ts, value, period))
    return pd.DataFrame(rows, columns=["data_source_id", "ts", "value", "period_s"])


def expected_load(readings: pd.DataFrame, zones: dict[str, str]) -> pd.DataFrame:
    """Transformer x interval load in pandas, from the rows written."""
    sources = pd.DataFrame(
        [(_sid(n), g, m, t, lo, hi, p) for n, g, m, t, lo, hi, p in SOURCES],
        columns=["data_source_id", "grid_id", "meter", "type", "lo", "hi", "p"],
    )
    lo = sources["lo"].fillna(pd.Timestamp.min.tz_localize("UTC"))
    hi = sources["hi"].fillna(pd.Timestamp.max.tz_localize("UTC"))
    sources["lo"], sources["hi"] = lo, hi
    # the finest period per grid is the grid's interval
    interval = sources.groupby("grid_id")["p"].min().to_dict()
    r = readings.merge(sources, on="data_source_id")
    limit = {("gA", "M5"): 20.0}
    r["kw"] = r["value"] * 3600.0 / r["period_s"]
    r["max_kw"] = [
        limit.get((g, m), 1000.0) for g, m in zip(r["grid_id"], r["meter"], strict=True)
    ]
    ok = (r["ts"] >= r["lo"]) & (r["ts"] < r["hi"]) & (r["kw"] <= r["max_kw"])
    r = r[ok]
    # spread: a reading longer than the grid's interval covers several
    pieces = []
    for row in r.itertuples(index=False):
        step = interval[row.grid_id]
        for k in range(row.period_s // step):
            pieces.append(
                (
                    row.grid_id,
                    row.meter,
                    row.type,
                    row.data_source_id,
                    row.ts + pd.Timedelta(seconds=k * step),
                    row.kw,
                )
            )
    slots = pd.DataFrame(
        pieces, columns=["grid_id", "meter", "type", "data_source_id", "slot", "kw"]
    )
    chain = {
        ("gA", "M1"): ["T1", "SUB"],
        ("gA", "M2"): ["T1", "SUB"],
        ("gA", "M3"): ["T1", "SUB"],
        ("gA", "M4"): ["T1", "SUB"],
        ("gA", "M5"): ["T1", "SUB"],
        ("gA", "M6"): ["T2", "SUB"],
        ("gB", "M1"): ["T1"],
    }
    consumer_sources = sources[sources["type"] == "CONSUMER"]

    def channels_valid(grid: str, meter: str, at: pd.Timestamp) -> int:
        mine = consumer_sources[
            (consumer_sources["grid_id"] == grid) & (consumer_sources["meter"] == meter)
        ]
        return int(((mine["lo"] <= at) & (at < mine["hi"])).sum())

    per_meter = (
        slots.assign(
            consumer=np.where(slots["type"] == "CONSUMER", slots["kw"], 0.0),
            producer=np.where(slots["type"] == "PRODUCER", slots["kw"], 0.0),
            consumer_n=(slots["type"] == "CONSUMER").astype(int),
        )
        .groupby(["grid_id", "meter", "slot"])
        .agg(
            consumer=("consumer", "sum"),
            producer=("producer", "sum"),
            consumer_n=("consumer_n", "sum"),
        )
        .reset_index()
    )
    per_meter["reports"] = [
        int(n > 0 and n >= channels_valid(g, m, t))
        for g, m, t, n in per_meter[
            ["grid_id", "meter", "slot", "consumer_n"]
        ].itertuples(index=False)
    ]
    rows = []
    for row in per_meter.itertuples(index=False):
        for transformer in chain[(row.grid_id, row.meter)]:
            rows.append(
                (
                    row.grid_id,
                    transformer,
                    row.slot,
                    row.consumer,
                    row.producer,
                    row.reports,
                )
            )
    out = (
        pd.DataFrame(
            rows,
            columns=[
                "grid_id",
                "transformer_id",
                "interval_start",
                "consumer_kw",
                "producer_kw",
                "meters_reporting",
            ],
        )
        .groupby(KEYS)
        .sum()
        .reset_index()
    )
    out["load_kw"] = out["consumer_kw"] - out["producer_kw"]
    out["meters_expected"] = [
        sum(
            channels_valid(g, m, t) > 0
            for (gg, m), ch in chain.items()
            if gg == g and tr in ch
        )
        for g, tr, t in out[KEYS].itertuples(index=False)
    ]
    out["period_s"] = out["grid_id"].map(interval)
    out["interval_local"] = [
        t.tz_convert(zones.get(g, "America/Vancouver")).tz_localize(None)
        for g, t in out[["grid_id", "interval_start"]].itertuples(index=False)
    ]
    return out.sort_values(KEYS).reset_index(drop=True)


def write_grid(conn: psycopg.Connection, readings: pd.DataFrame) -> None:
    install_standin(conn, "edm", replace=True)
    conn.execute("insert into edm.grid values ('gA', 'A', now()), ('gB', 'B', now())")
    for g, e, t, up, meta in ELEMENTS:
        conn.execute(
            "insert into edm.grid_element (grid_id, grid_element_id, type,"
            " upstream_grid_element_id, meta) values (%s, %s, %s, %s, %s)",
            (g, e, t, up, psycopg.types.json.Jsonb(meta) if meta else None),
        )
    for name, g, m, t, lo, hi, _ in SOURCES:
        conn.execute(
            "insert into edm.grid_element_data_source (grid_element_data_source_id,"
            " grid_id, grid_element_id, type, metrics, valid)"
            " values (%s, %s, %s, %s, '{kWh}', %s::tstzrange)",
            (_sid(name), g, m, t, _range(lo, hi)),
        )
    add_readings(conn, readings)
    conn.commit()


def add_readings(conn: psycopg.Connection, readings: pd.DataFrame) -> None:
    with conn.cursor().copy(
        "copy edm.ts_data_source_reading (data_source_id, metric, ts, value,"
        " period_s, received_at) from stdin"
    ) as copy:
        for row in readings.itertuples(index=False):
            copy.write_row(
                (
                    row.data_source_id,
                    "kWh",
                    row.ts,
                    row.value,
                    row.period_s,
                    row.ts + pd.Timedelta(hours=1),
                )
            )


def _read(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _fct(dsn: str) -> pd.DataFrame:
    frame = _read(dsn, "select * from evcap.fct_transformer_load")
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True)
    return frame.sort_values(KEYS).reset_index(drop=True)


def assert_matches(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected)
    pd.testing.assert_frame_equal(
        actual[KEYS], expected[KEYS], check_dtype=False, check_index_type=False
    )
    for column in ("load_kw", "consumer_kw", "producer_kw"):
        np.testing.assert_allclose(
            actual[column].astype(float), expected[column], atol=1e-9, err_msg=column
        )
    for column in ("meters_reporting", "meters_expected", "period_s"):
        assert actual[column].tolist() == expected[column].tolist(), column
    assert (
        pd.to_datetime(actual["interval_local"]).tolist()
        == expected["interval_local"].tolist()
    )


@dataclass(frozen=True)
class Built:
    dsn: str
    target: Path
    readings: pd.DataFrame
    build: DbtResult


@pytest.fixture(scope="module")
def built(
    pg_server: Any, database_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Built:
    readings = make_readings()
    dsn = database_factory(pg_server, "meters")
    held_back = (readings["data_source_id"] == _sid("A-M6")) & (
        readings["ts"] >= LATE_FROM
    )
    with psycopg.connect(dsn) as conn:
        write_grid(conn, readings[~held_back])
    target = tmp_path_factory.mktemp("dbt-meters")
    result = run_dbt(["build"], dsn, target_path=target)
    return Built(dsn, target, readings, result)


def test_channels_mixed_intervals_and_spikes_match_pandas(built: Built) -> None:
    held_back = (built.readings["data_source_id"] == _sid("A-M6")) & (
        built.readings["ts"] >= LATE_FROM
    )
    expected = expected_load(built.readings[~held_back], {})
    assert_matches(_fct(built.dsn), expected)
    # the hourly meter was spread over four quarter hours, not missing at :15
    assert (expected.loc[expected["grid_id"] == "gA", "period_s"] == 900).all()


def test_spike_is_rejected_and_listed(built: Built) -> None:
    stg = _read(
        built.dsn,
        "select reject_reason from evcap.stg_edm__meter_readings"
        f" where data_source_id = '{_sid('A-M5')}'"
        f" and interval_start = '{SPIKE_AT.isoformat()}'",
    )
    assert stg["reject_reason"].tolist() == ["implausible_value"]
    issues = _read(
        built.dsn,
        "select issue_code, readings from evcap.int_data_issues_collected"
        f" where data_source_id = '{_sid('A-M5')}'",
    )
    assert issues["issue_code"].tolist() == ["rejected_reading_implausible_value"]
    assert issues["readings"].tolist() == [1]


def test_late_feeder_is_listed_then_read_when_it_arrives(built: Built) -> None:
    lagging = _read(built.dsn, "select * from evcap.int_data_sources_lagging")
    assert lagging["data_source_id"].astype(str).tolist() == [_sid("A-M6")]
    # its readings end at LATE_FROM, the grid's (hourly ones too) at the end
    assert lagging["lag_hours"].tolist() == pytest.approx([HOURS - 24.0])
    # the backlog arrives, older than the lookback of the grid's other rows
    backlog = built.readings[
        (built.readings["data_source_id"] == _sid("A-M6"))
        & (built.readings["ts"] >= LATE_FROM)
    ]
    with psycopg.connect(built.dsn) as conn:
        add_readings(conn, backlog)
        conn.commit()
    run_dbt(["build"], built.dsn, target_path=built.target, vars={"lookback_hours": 2})
    incremental = _fct(built.dsn)
    assert_matches(incremental, expected_load(built.readings, {}))
    assert _read(built.dsn, "select * from evcap.int_data_sources_lagging").empty


def test_time_zone_per_grid_rewrites_nothing(built: Built) -> None:
    before = _read(
        built.dsn,
        "select max(rebuilt_at) as rebuilt_at, count(*) as n"
        " from evcap.int_transformer_loads_rolled_up",
    )
    zones = {"gB": "Europe/Berlin"}
    run_dbt(
        ["build"],
        built.dsn,
        target_path=built.target,
        vars={"grid_timezones": zones, "lookback_hours": 2},
    )
    actual = _fct(built.dsn)
    want = expected_load(built.readings, zones)
    local = dict(
        zip(map(tuple, want[KEYS].values.tolist()), want["interval_local"], strict=True)
    )
    for row in actual[[*KEYS, "interval_local"]].itertuples(index=False):
        assert (
            pd.Timestamp(row.interval_local)
            == local[(row.grid_id, row.transformer_id, row.interval_start)]
        )
    gb = actual[actual["grid_id"] == "gB"].iloc[0]
    assert pd.Timestamp(gb["interval_local"]) == gb["interval_start"].tz_convert(
        "Europe/Berlin"
    ).tz_localize(None)
    after = _read(
        built.dsn,
        "select count(*) as n from evcap.int_transformer_loads_rolled_up"
        " where rebuilt_at > {}".format(f"'{before['rebuilt_at'][0].isoformat()}'"),
    )
    # only the lookback of each transformer was rewritten, not history
    assert after["n"][0] < before["n"][0] / 4
    bad = run_dbt(
        ["run", "--select", "int_grids_configured"],
        built.dsn,
        target_path=built.target,
        vars={"grid_timezones": {"gB": "Mars/Olympus"}},
        check=False,
    )
    assert bad.returncode != 0
    assert "Unknown time zone 'Mars/Olympus' for grid gB" in bad.output


def test_a_moved_meter_rewrites_both_transformers_histories(built: Built) -> None:
    """Incremental equals full refresh after a meter moves to another transformer."""
    with psycopg.connect(built.dsn) as conn:
        conn.execute(
            "update edm.grid_element set upstream_grid_element_id = 'T2'"
            " where grid_id = 'gA' and grid_element_id = 'M4'"
        )
        conn.commit()
    vars_ = {"lookback_hours": 2}
    run_dbt(["build"], built.dsn, target_path=built.target, vars=vars_)
    incremental = _fct(built.dsn).drop(columns=["rebuilt_at"])
    t1 = incremental[
        (incremental["grid_id"] == "gA") & (incremental["transformer_id"] == "T1")
    ]
    assert (t1["meters_expected"] == 4).all()  # M1, M2, M3, M5 (not M4)
    run_dbt(
        ["build", "--full-refresh"], built.dsn, target_path=built.target, vars=vars_
    )
    full = _fct(built.dsn).drop(columns=["rebuilt_at"])
    pd.testing.assert_frame_equal(incremental, full)
