"""The dbt project against an independent pandas computation.

A synthetic grid (``evcap.demo``) is loaded into a fresh database on each
PostgreSQL server and built with ``dbt build``. The load of every transformer
in every interval is then recomputed here, in pandas, from the generator's own
frames: the topology is walked in Python, duplicates are resolved, rejected
readings dropped, consumer minus producer summed per transformer and interval.
Nothing here reads the dbt models' SQL or intermediate tables to build the
expectation.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

from evcap.db import project_dir
from evcap.dbt_runner import DbtResult, run_dbt
from evcap.demo import DemoGrid, GridSpec, build_grid, load_grid, readings_frame
from evcap.edm_standin import install_standin

pytestmark = pytest.mark.slow

POWER_FACTOR = 0.98
MIN_COVERAGE = 0.9
MIN_WINDOW_DATA_SHARE = 0.8
KEYS = ["grid_id", "transformer_id", "interval_start"]

CASES = {
    # two grids whose element ids repeat, every defect the generator knows
    "hourly-defects": GridSpec(
        seed=7, meters=24, days=3, interval_minutes=60, grids=2, defects=True
    ),
    # 15-min data across the spring DST change (2024-03-10, 23 local hours)
    "15min-dst": GridSpec(
        seed=11,
        meters=20,
        days=2,
        interval_minutes=15,
        grids=1,
        defects=True,
        start=dt.date(2024, 3, 9),
    ),
}


# ------------------------------------------------------------------ helpers


def _dbt(args: list[str], dsn: str, target: Path, **kwargs: Any) -> DbtResult:
    return run_dbt(args, dsn, target_path=target, **kwargs)


def _test_results(result: DbtResult) -> list[dict[str, Any]]:
    """The data tests' entries of a dbt run's results (not its hooks')."""
    return [
        r
        for r in result.run_results.get("results", [])
        if r["unique_id"].startswith("test.")
    ]


def _read(dsn: str, query: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _parse_number(value: Any, unit: str) -> float:
    """Independent reading of a meta number: JSON number, or numeric text."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower().removesuffix(unit).strip()
    try:
        number = float(text)
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _rating(meta: Any) -> float:
    rating = _parse_number((meta or {}).get("rating_kva"), "kva")
    return rating if rating > 0 else math.nan


def _walk(elements: pd.DataFrame) -> tuple[dict[tuple[str, str], list[str]], set]:
    """Meter -> its transformers, nearest first; and meters reaching none."""
    by_key = {
        (g, e): (t, u)
        for g, e, t, u in elements[
            ["grid_id", "grid_element_id", "type", "upstream_grid_element_id"]
        ].itertuples(index=False)
    }

    def nearest_transformer(grid: str, start: str) -> str | None:
        seen = {start}
        current = by_key[(grid, start)][1]
        while current is not None and not pd.isna(current):
            if current in seen or (grid, current) not in by_key:
                return None  # cycle or dangling reference
            kind, upstream = by_key[(grid, current)]
            if kind == "Transformer":
                return str(current)
            seen.add(current)
            current = upstream
        return None

    parent = {
        (g, e): nearest_transformer(g, e)
        for (g, e), (t, _) in by_key.items()
        if t == "Transformer"
    }
    chains: dict[tuple[str, str], list[str]] = {}
    orphans = set()
    for (g, e), (t, _) in by_key.items():
        if t != "Meter":
            continue
        first = nearest_transformer(g, e)
        if first is None:
            orphans.add((g, e))
            continue
        chain = [first]
        while (nxt := parent[(g, chain[-1])]) is not None and nxt not in chain:
            chain.append(nxt)
        chains[(g, e)] = chain
    return chains, orphans


def _valid_bounds(literal: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    low, high = literal.strip("[]()").split(",")
    lo = pd.Timestamp(low.strip('" ')) if low.strip('" ') else pd.Timestamp.min
    hi = pd.Timestamp(high.strip('" ')) if high.strip('" ') else pd.Timestamp.max
    return lo.tz_localize("UTC") if lo.tzinfo is None else lo, (
        hi.tz_localize("UTC") if hi.tzinfo is None else hi
    )


def expected_load(grid: DemoGrid, readings: pd.DataFrame) -> pd.DataFrame:
    """Transformer x interval load from the generator's frames, in pandas."""
    chains, _ = _walk(grid.elements)
    sources = grid.data_sources.rename(
        columns={"grid_element_data_source_id": "data_source_id"}
    )
    sources = sources[sources["type"].isin(["CONSUMER", "PRODUCER"])].copy()
    bounds = sources["valid"].map(_valid_bounds)
    sources["valid_lo"] = [b[0] for b in bounds]
    sources["valid_hi"] = [b[1] for b in bounds]
    r = readings[readings["metric"] == "kWh"].copy()
    r["data_source_id"] = r["data_source_id"].astype(str)
    # latest received wins; on a tie the larger value, then the shorter period
    r = r.sort_values(
        ["data_source_id", "ts", "received_at", "value", "period_s"],
        ascending=[True, True, True, True, False],
    ).drop_duplicates(["data_source_id", "ts"], keep="last")
    r = r.merge(
        sources[
            [
                "data_source_id",
                "grid_id",
                "grid_element_id",
                "type",
                "valid_lo",
                "valid_hi",
            ]
        ],
        on="data_source_id",
    )
    ok = (
        r["value"].notna()
        & np.isfinite(r["value"])
        & (r["value"] >= 0)
        & (r["period_s"] > 0)
        & (r["ts"] >= r["valid_lo"])
        & (r["ts"] < r["valid_hi"])
    )
    r = r[ok].copy()
    r["kw"] = r["value"] * 3600.0 / r["period_s"]
    mapping = pd.DataFrame(
        [(g, m, t) for (g, m), chain in chains.items() for t in chain],
        columns=["grid_id", "grid_element_id", "transformer_id"],
    )
    r = r.merge(mapping, on=["grid_id", "grid_element_id"])
    r["consumer_kw"] = np.where(r["type"] == "CONSUMER", r["kw"], 0.0)
    r["producer_kw"] = np.where(r["type"] == "PRODUCER", r["kw"], 0.0)
    r["consumer_reading"] = (r["type"] == "CONSUMER").astype(int)
    out = (
        r.groupby(["grid_id", "transformer_id", "ts"])
        .agg(
            consumer_kw=("consumer_kw", "sum"),
            producer_kw=("producer_kw", "sum"),
            meters_reporting=("consumer_reading", "sum"),
        )
        .reset_index()
        .rename(columns={"ts": "interval_start"})
    )
    out["load_kw"] = out["consumer_kw"] - out["producer_kw"]
    # expected meters: downstream meters with a CONSUMER source
    with_consumer = set(
        zip(
            sources.loc[sources["type"] == "CONSUMER", "grid_id"],
            sources.loc[sources["type"] == "CONSUMER", "grid_element_id"],
            strict=True,
        )
    )
    expected_meters = (
        mapping[
            [
                (g, m) in with_consumer
                for g, m in mapping[["grid_id", "grid_element_id"]].itertuples(
                    index=False
                )
            ]
        ]
        .groupby(["grid_id", "transformer_id"])
        .size()
        .rename("meters_expected")
        .reset_index()
    )
    out = out.merge(expected_meters, on=["grid_id", "transformer_id"], how="left")
    ratings = grid.elements[grid.elements["type"] == "Transformer"].copy()
    ratings["capacity_kw"] = ratings["meta"].map(_rating) * POWER_FACTOR
    ratings = ratings.rename(columns={"grid_element_id": "transformer_id"})
    out = out.merge(
        ratings[["grid_id", "transformer_id", "capacity_kw"]],
        on=["grid_id", "transformer_id"],
        how="left",
    )
    out["headroom_kw"] = out["capacity_kw"] - out["load_kw"]
    out["meter_coverage"] = out["meters_reporting"] / out["meters_expected"]
    return out.sort_values(KEYS).reset_index(drop=True)


# ------------------------------------------------------------------ fixtures


@dataclass(frozen=True)
class Built:
    name: str
    spec: GridSpec
    grid: DemoGrid
    readings: pd.DataFrame
    dsn: str
    build: DbtResult
    target: Path


@pytest.fixture(scope="module", params=list(CASES))
def built(
    request: pytest.FixtureRequest,
    pg_server: Any,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """One grid, loaded and built with ``dbt build`` (once per server and case)."""
    name = str(request.param)
    spec = CASES[name]
    grid = build_grid(spec)
    dsn = database_factory(pg_server, "dbt")
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        load_grid(conn, grid, "edm", progress=False)
    target = tmp_path_factory.mktemp(f"dbt-{name}")
    result = _dbt(["build"], dsn, target)
    return Built(name, spec, grid, readings_frame(grid, spec), dsn, result, target)


# ------------------------------------------------------------------ tests


def test_build_warns_about_nothing(built: Built) -> None:
    log = built.build.output
    assert "Completed successfully" in log
    assert re.search(r"WARN=0\b", log), log[-3000:]
    assert not built.build.warnings, built.build.warnings
    assert "deprecat" not in log.lower()


def test_energy_test_runs_its_sql_header_first(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The energy test's settings (config sql_header) reach its transaction.

    dbt-core 1.11 drops a data test's sql_header (macros/evcap_test_sql_header.sql
    runs it): in dbt's debug log the test's connection must run the SET
    statement, then its query, with no commit between them.
    """
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    _dbt(["test", "--select", "assert_energy_conservation"], built.dsn, tmp_path)
    log = (tmp_path / "logs" / "dbt.log").read_text()
    node = "test.evcap.assert_energy_conservation"
    start = log.rindex(f"Began executing node {node}")
    end = log.index(f"Finished running node {node}", start)
    statuses = re.findall(r"SQL status: (\w+)", log[start:end])
    assert statuses[:2] == ["SET", "SELECT"], statuses
    assert "COMMIT" not in statuses, statuses


def test_every_transformer_interval_matches_pandas(built: Built) -> None:
    expected = expected_load(built.grid, built.readings)
    actual = _read(
        built.dsn,
        "select grid_id, transformer_id, interval_start, period_s, load_kw,"
        " consumer_kw, producer_kw, meters_reporting, meters_expected,"
        " meter_coverage, capacity_kw, headroom_kw, budgeted_headroom_kw"
        " from evcap.fct_transformer_load",
    )
    actual["interval_start"] = pd.to_datetime(actual["interval_start"], utc=True)
    actual = actual.sort_values(KEYS).reset_index(drop=True)
    assert len(actual) == len(expected)
    pd.testing.assert_frame_equal(
        actual[KEYS], expected[KEYS], check_dtype=False, check_index_type=False
    )
    for column in (
        "load_kw",
        "consumer_kw",
        "producer_kw",
        "capacity_kw",
        "headroom_kw",
        "meter_coverage",
    ):
        np.testing.assert_allclose(
            actual[column].astype(float),
            expected[column].astype(float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=column,
        )
    for column in ("meters_reporting", "meters_expected"):
        assert (actual[column] == expected[column]).all(), column
    assert (actual["period_s"] == built.spec.period_s).all()
    # the capacity budget default is 1.0: budgeted headroom = headroom
    both = actual["headroom_kw"].notna()
    np.testing.assert_allclose(
        actual.loc[both, "budgeted_headroom_kw"], actual.loc[both, "headroom_kw"]
    )


def test_every_interval_of_the_days_is_present(built: Built) -> None:
    """Top transformers have a row for every interval (23-hour DST day too)."""
    counts = _read(
        built.dsn,
        "select l.grid_id, l.transformer_id, count(*) as n"
        " from evcap.fct_transformer_load as l"
        " join evcap.dim_transformers as d using (grid_id, transformer_id)"
        " where d.depth = 0 group by 1, 2",
    )
    assert (counts["n"] == built.spec.n_intervals).all(), counts


def test_defects_are_handled(built: Built) -> None:
    defects = built.grid.defects
    # a late correction: the corrected value (expected_value) is the truth
    late = defects[defects["kind"] == "late_correction"].iloc[0]
    r = built.readings
    at = r[
        (r["data_source_id"].astype(str) == late["data_source_id"])
        & (r["ts"] == late["ts_start"])
    ]
    assert len(at) == 2  # both versions delivered
    stg = _read(
        built.dsn,
        "select energy_kwh from evcap.stg_edm__meter_readings"
        f" where data_source_id = '{late['data_source_id']}'"
        f" and interval_start = '{late['ts_start'].isoformat()}'",
    )
    assert stg["energy_kwh"].tolist() == pytest.approx([late["expected_value"]])
    # issues are listed, not crashed on
    issues = _read(built.dsn, "select * from evcap.int_data_issues_collected")
    codes = set(zip(issues["element_id"], issues["issue_code"], strict=True))
    for kind, code in (
        ("orphan_missing_upstream", "orphan_meter"),
        ("orphan_null_upstream", "meter_without_transformer"),
        ("topology_cycle", "topology_cycle"),
        ("negative_reading", "rejected_reading_negative_energy"),
    ):
        for element in defects.loc[defects["kind"] == kind, "grid_element_id"]:
            assert (element, code) in codes, (kind, element)


def test_dim_transformers_flags_and_hierarchy(built: Built) -> None:
    dim = _read(built.dsn, "select * from evcap.dim_transformers")
    grid = built.grid
    transformers = grid.elements[grid.elements["type"] == "Transformer"]
    assert len(dim) == len(transformers)
    dim = dim.set_index(["grid_id", "transformer_id"])
    for kind, flag in (
        ("rating_missing", "rating_missing"),
        ("rating_unparseable", "rating_unparseable"),
    ):
        for g, t in grid.defects.loc[
            grid.defects["kind"] == kind, ["grid_id", "grid_element_id"]
        ].itertuples(index=False):
            row = dim.loc[(g, t)]
            assert flag in (row["data_issues"] or ""), (g, t)
            assert pd.isna(row["rating_kva"])
            assert not row["has_valid_rating"]
    # string ratings are parsed; the generator's truth agrees with meta
    truth = grid.transformers.set_index(["grid_id", "transformer_id"])
    for key, row in truth.iterrows():
        got = dim.loc[key]
        if _rating({"rating_kva": row["meta_rating_kva"]}) > 0:
            assert got["rating_kva"] == pytest.approx(row["rating_kva"])
            assert got["capacity_kw"] == pytest.approx(row["rating_kva"] * 0.98)
        assert (got["upstream_transformer_id"] or None) == (
            row["upstream_transformer_id"] or None
        ), key
        assert got["depth"] == row["depth"], key
        assert got["meters_total"] == row["meters_total"], key
        assert got["meters_direct"] == row["meters_direct"], key
    # missing ratings reach charger fit as 'missing_rating'
    fit = _read(
        built.dsn,
        "select f.grid_id, f.transformer_id, f.reason, f.max_chargers"
        " from evcap.transformer_charger_fit as f"
        " join evcap.dim_transformers as d using (grid_id, transformer_id)"
        " where not d.has_valid_rating",
    )
    assert len(fit) > 0
    assert (fit["reason"] == "missing_rating").all()
    assert (fit["max_chargers"] == 0).all()


def _local_windows(local: pd.Series) -> dict[str, pd.Series]:
    hour, month = local.dt.hour, local.dt.month
    night = (hour >= 22) | (hour <= 4)
    summer = month.between(6, 9)
    return {
        "all_time": pd.Series(True, index=local.index),
        "nightly": night,
        "summer": summer,
        "summer_nightly": summer & night,
    }


def test_window_headroom_matches_pandas(built: Built) -> None:
    expected = expected_load(built.grid, built.readings)
    expected["local"] = (
        expected["interval_start"].dt.tz_convert("America/Vancouver")
    ).dt.tz_localize(None)
    actual = _read(built.dsn, "select * from evcap.transformer_window_headroom")
    actual = actual.set_index(["grid_id", "transformer_id", "window_name"])
    # The calendar: every interval between the grid's first and last one with
    # data, whether any meter reported or not.
    spans = expected.groupby("grid_id")["interval_start"].agg(["min", "max"])
    period = pd.Timedelta(seconds=built.grid.spec.period_s)
    grid_intervals = pd.concat(
        [
            pd.DataFrame(
                {
                    "grid_id": g,
                    "interval_start": pd.date_range(lo, hi, freq=period),
                }
            )
            for g, (lo, hi) in spans.iterrows()
        ],
        ignore_index=True,
    )
    grid_intervals["local"] = (
        grid_intervals["interval_start"].dt.tz_convert("America/Vancouver")
    ).dt.tz_localize(None)
    for name, in_window in _local_windows(expected["local"]).items():
        used = expected[in_window & (expected["meter_coverage"] >= MIN_COVERAGE)]
        stats = used.groupby(["grid_id", "transformer_id"]).agg(
            firm=("headroom_kw", "min"),
            peak=("load_kw", "max"),
            n=("load_kw", "size"),
        )
        in_grid = _local_windows(grid_intervals["local"])[name]
        n_window = grid_intervals[in_grid].groupby("grid_id").size()
        for (g, t), row in actual.xs(name, level="window_name").iterrows():
            assert row["intervals_in_window"] == n_window.get(g, 0), (name, g, t)
            if (g, t) in stats.index:
                s = stats.loc[(g, t)]
                assert row["intervals_used"] == s["n"], (name, g, t)
                assert bool(row["data_sufficient"]) == (
                    s["n"] >= MIN_WINDOW_DATA_SHARE * n_window.get(g, 0)
                ), (name, g, t)
                assert row["peak_load_kw"] == pytest.approx(s["peak"])
                if pd.isna(s["firm"]):
                    assert pd.isna(row["firm_headroom_kw"])
                else:
                    assert row["firm_headroom_kw"] == pytest.approx(s["firm"])
            else:
                assert row["intervals_used"] == 0, (name, g, t)
                assert pd.isna(row["firm_headroom_kw"])
                assert not row["data_sufficient"], (name, g, t)


def test_headroom_profile_counts_local_hours(built: Built) -> None:
    """Every statistic of the profile, from pandas over the readings.

    Percentiles are pandas' linear interpolation (percentile_cont's); cells
    used are the local weekdays with a used interval in the month-hour.
    """
    expected = expected_load(built.grid, built.readings)
    expected = expected[expected["meter_coverage"] >= MIN_COVERAGE].copy()
    local = expected["interval_start"].dt.tz_convert("America/Vancouver")
    expected["local_month"] = local.dt.month
    expected["local_hour"] = local.dt.hour
    expected["local_weekday"] = local.dt.weekday
    want = (
        expected.groupby(["grid_id", "transformer_id", "local_month", "local_hour"])
        .agg(
            intervals=("load_kw", "size"),
            cells_used=("local_weekday", "nunique"),
            min_load_kw=("load_kw", "min"),
            p05_load_kw=("load_kw", lambda loads: loads.quantile(0.05)),
            p50_load_kw=("load_kw", "median"),
            mean_load_kw=("load_kw", "mean"),
            p95_load_kw=("load_kw", lambda loads: loads.quantile(0.95)),
            max_load_kw=("load_kw", "max"),
        )
        .reset_index()
    )
    got = _read(
        built.dsn,
        # the mart, with the two statistics only its source keeps
        "select profile.*, loads.p95_load_kw, loads.cells_used"
        " from evcap.transformer_headroom_profile as profile"
        " inner join evcap.int_transformer_profile_loads as loads"
        " using (grid_id, transformer_id, local_month, local_hour)",
    )
    merged = want.merge(
        got,
        on=["grid_id", "transformer_id", "local_month", "local_hour"],
        how="outer",
        suffixes=("_want", "_got"),
        indicator=True,
    )
    assert (merged["_merge"] == "both").all()
    assert (merged["intervals_want"] == merged["intervals_got"]).all()
    assert (merged["cells_used_want"] == merged["cells_used_got"]).all()
    for statistic in ["min", "p05", "p50", "mean", "p95", "max"]:
        np.testing.assert_allclose(
            merged[f"{statistic}_load_kw_got"],
            merged[f"{statistic}_load_kw_want"],
            rtol=1e-9,
            atol=1e-9,
            err_msg=statistic,
        )


def test_seeds_have_statistics(built: Built) -> None:
    """Every seed is analyzed as it is loaded (dbt_project.yml).

    A table never analyzed (reltuples -1) is planned as hundreds of rows;
    autovacuum never analyzes a seed of a few rows.
    """
    seeds = sorted(path.stem for path in (project_dir() / "seeds").glob("*.csv"))
    got = _read(
        built.dsn,
        "select c.relname, c.reltuples from pg_class as c"
        " inner join pg_namespace as n on c.relnamespace = n.oid"
        " where n.nspname = 'evcap' and c.relkind = 'r'",
    ).set_index("relname")["reltuples"]
    assert set(seeds) <= set(got.index), sorted(set(seeds) - set(got.index))
    never_analyzed = [seed for seed in seeds if got[seed] < 0]
    assert not never_analyzed, never_analyzed


def test_descriptions_are_database_comments(built: Built) -> None:
    """Every model's description and every documented column's are comments.

    persist_docs runs through macros/evcap_persist_docs.sql (one statement
    per model); compared with the descriptions in dbt's manifest.
    """
    manifest = json.loads((built.target / "manifest.json").read_text())
    comments = _read(
        built.dsn,
        "select c.relname, a.attname, d.description"
        " from pg_description as d"
        " inner join pg_class as c on d.objoid = c.oid"
        " inner join pg_namespace as n on c.relnamespace = n.oid"
        " left join pg_attribute as a"
        "  on a.attrelid = c.oid and a.attnum = d.objsubid and d.objsubid > 0"
        " where n.nspname = 'evcap' and d.classoid = 'pg_class'::regclass",
    )
    got = {
        (row.relname, row.attname if isinstance(row.attname, str) else None): (
            row.description
        )
        for row in comments.itertuples(index=False)
    }
    expected: dict[tuple[str, str | None], str] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["package_name"] != "evcap":
            continue
        if node["config"]["materialized"] == "ephemeral":
            continue
        expected[(node["alias"], None)] = node["description"]
        for column, spec in node["columns"].items():
            expected[(node["alias"], column)] = spec["description"]
    assert len(expected) > 100
    missing = [key for key in expected if key not in got]
    assert not missing, missing[:20]
    wrong = [key for key, text in expected.items() if got[key] != text]
    assert not wrong, wrong[:20]


def _broken_rules(
    built: Built, tmp_path: Path, table: str, breakage: list[str]
) -> list[tuple[str, int]]:
    """Break ``table`` with the ``breakage`` updates, run its row_rules test.

    The test must fail with as many results as rows it returns; the rows of
    its compiled SQL are returned. The table is put back afterwards and the
    test must pass again.
    """
    model = table.split(".")[-1]
    selector = f"{model},test_name:row_rules"
    with psycopg.connect(built.dsn) as conn:
        conn.execute(f"create temp table kept as select * from {table}")
        conn.commit()
        try:
            for statement in breakage:
                conn.execute(statement)
            conn.commit()
            result = _dbt(
                ["test", "--select", selector], built.dsn, tmp_path, check=False
            )
            assert result.returncode != 0, result.output[-2000:]
            (failed,) = _test_results(result)
            assert failed["status"] == "fail"
            compiled = next((tmp_path / "compiled").rglob("row_rules_*.sql"))
            rows = sorted(conn.execute(compiled.read_text()).fetchall())
            assert failed["failures"] == len(rows)
        finally:
            conn.rollback()
            conn.execute(f"delete from {table}")
            conn.execute(f"insert into {table} select * from kept")
            conn.execute("drop table kept")
            conn.commit()
    passing = _dbt(["test", "--select", selector], built.dsn, tmp_path / "again")
    assert [r["status"] for r in _test_results(passing)] == ["pass"]
    return rows


def test_row_rules_reports_each_broken_rule(built: Built, tmp_path: Path) -> None:
    """The generic test row_rules fails with a row per broken rule and its count.

    Into the built int_grid_elements_linked: two null is_open, one null
    upstream_state, one upstream_state outside its accepted values (not
    null: only the accepted_values rule). Into int_transformers_nested: one
    depth of -1, which breaks its accepted range and the expression tying it
    to the ancestor path.
    """
    linked = "evcap.int_grid_elements_linked"
    with psycopg.connect(built.dsn) as conn:
        keys = conn.execute(
            f"select grid_id, element_id from {linked} order by 1, 2 limit 3"
        ).fetchall()
        nested_key = conn.execute(
            "select grid_id, transformer_id from evcap.int_transformers_nested"
            " order by 1, 2 limit 1"
        ).fetchone()
    assert len(keys) == 3
    assert nested_key is not None

    def where(key: tuple[str, str], id_column: str) -> str:
        return f"where grid_id = '{key[0]}' and {id_column} = '{key[1]}'"

    assert _broken_rules(
        built,
        tmp_path / "linked",
        linked,
        [
            f"update {linked} set is_open = null {where(keys[0], 'element_id')}",
            f"update {linked} set is_open = null {where(keys[1], 'element_id')}",
            f"update {linked} set upstream_state = null {where(keys[0], 'element_id')}",
            f"update {linked} set upstream_state = 'sideways'"
            f" {where(keys[2], 'element_id')}",
        ],
    ) == [
        ("accepted_values: upstream_state", 1),
        ("not_null: is_open", 2),
        ("not_null: upstream_state", 1),
    ]
    nested = "evcap.int_transformers_nested"
    assert _broken_rules(
        built,
        tmp_path / "nested",
        nested,
        [f"update {nested} set depth = -1 {where(nested_key, 'transformer_id')}"],
    ) == [
        ("accepted_range: depth", 1),
        ("expression: depth = cardinality(ancestor_path) - 1", 1),
    ]


# The grain of every keyed table: one row per these columns (model docs).
MODEL_KEYS: dict[str, list[tuple[str, ...]]] = {
    "int_grid_elements_linked": [("grid_id", "element_id")],
    "int_elements_walked_to_transformers": [("grid_id", "element_id")],
    "int_transformers_nested": [("grid_id", "transformer_id")],
    "int_transformer_nameplates_parsed": [("grid_id", "transformer_id")],
    "int_transformer_ancestors": [
        ("transformer_key", "ancestor_key"),
        ("grid_id", "transformer_id", "levels_up"),
    ],
    "int_meters_mapped_to_transformers": [("grid_id", "meter_id", "transformer_id")],
    "int_data_source_latest_readings": [("data_source_id",)],
    "int_data_sources_lagging": [("data_source_id",)],
    "int_grids_configured": [("grid_id",)],
    "int_data_sources_mapped_to_transformers": [("data_source_id",)],
    "int_transformer_meter_sets": [("transformer_key",)],
    "int_charging_window_cells": [
        ("window_name", "local_month", "local_isodow", "local_hour")
    ],
    "int_transformer_loads_rolled_up": [
        ("grid_id", "transformer_id", "interval_start")
    ],
    "int_transformer_load_cells": [
        ("grid_id", "transformer_id", "local_month", "local_isodow", "local_hour")
    ],
    "int_transformer_profile_loads": [
        ("grid_id", "transformer_id", "local_month", "local_hour")
    ],
    "int_transformer_window_loads": [("grid_id", "transformer_id", "window_name")],
    "dim_transformers": [("grid_id", "transformer_id")],
    "transformer_window_headroom": [("grid_id", "transformer_id", "window_name")],
    "transformer_charger_fit": [
        ("grid_id", "transformer_id", "window_name", "charger_type")
    ],
}


def test_every_keyed_table_rejects_a_duplicate_key(built: Built) -> None:
    """The database enforces each table's grain: a copied row is refused.

    The keys are unique indexes or primary keys (no uniqueness test reads the
    tables again): each is in the catalog on exactly the grain's columns, and
    inserting a copy of one of the built rows fails with a unique violation
    on that table, whatever the table (partitioned load table included; the
    lagging sources' table, empty without lagging sources, by its catalog
    entry alone).
    """
    with psycopg.connect(built.dsn) as conn:
        catalog = conn.execute(
            """
            select
                table_class.relname,
                array_agg(attribute.attname::text order by key.position)
            from pg_index as index_
            inner join pg_class as table_class on table_class.oid = index_.indrelid
            inner join pg_namespace as schema_ on schema_.oid = table_class.relnamespace
            cross join lateral unnest(index_.indkey)
                with ordinality as key (attnum, position)
            inner join pg_attribute as attribute
                on attribute.attrelid = index_.indrelid
                and attribute.attnum = key.attnum
            where schema_.nspname = 'evcap' and index_.indisunique
                and index_.indpred is null
            group by index_.indexrelid, table_class.relname
            """
        ).fetchall()
        unique_keys: dict[str, set[tuple[str, ...]]] = {}
        for table, columns in catalog:
            unique_keys.setdefault(table, set()).add(tuple(columns))
        empty: set[str] = set()
        for table, keys in MODEL_KEYS.items():
            assert set(keys) <= unique_keys.get(table, set()), table
            rows = conn.execute(f"select count(*) from evcap.{table}").fetchone()
            if rows is None or rows[0] == 0:
                empty.add(table)
                continue
            copied = f"insert into evcap.{table} select * from evcap.{table} limit 1"
            with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
                conn.execute(copied)
    # only a table these grids may leave empty goes without the insert
    assert empty <= {"int_data_sources_lagging"}


# ------------------------------------------------------------ incremental


@pytest.fixture(scope="module")
def incremental(
    pg_server: Any,
    database_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path, DemoGrid]:
    spec = GridSpec(seed=5, meters=20, days=3, interval_minutes=60, grids=2)
    grid = build_grid(spec)
    dsn = database_factory(pg_server, "inc")
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        load_grid(conn, grid, "edm", progress=False)
    return dsn, tmp_path_factory.mktemp("dbt-inc"), grid


def _snapshot(dsn: str) -> pd.DataFrame:
    frame = _read(dsn, "select * from evcap.fct_transformer_load order by 1, 2, 3")
    # Which run wrote a row (rebuilt_at) is not part of what it says.
    return frame.drop(columns=["rebuilt_at"], errors="ignore").reset_index(drop=True)


def test_incremental_append_equals_full_refresh(
    incremental: tuple[str, Path, DemoGrid],
) -> None:
    dsn, target, grid = incremental
    last_day = pd.Timestamp(grid.spec.end_utc) - pd.Timedelta(days=1)
    # The stand-in's internal table plays the feed: hold back the last day.
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "create table edm.held_back as select * from"
            " edm.ts_data_source_reading where ts >= %s",
            (last_day,),
        )
        conn.execute(
            "delete from edm.ts_data_source_reading where ts >= %s", (last_day,)
        )
        conn.commit()
    _dbt(["build"], dsn, target)
    before = _snapshot(dsn)
    assert pd.to_datetime(before["interval_start"], utc=True).max() < last_day
    # a late correction 6 hours before the cut, inside the 48 h lookback
    corrected_at = last_day - pd.Timedelta(hours=6)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into edm.ts_data_source_reading select * from edm.held_back"
        )
        row = conn.execute(
            "select data_source_id from edm.ts_data_source_reading r"
            " join edm.grid_element_data_source s"
            " on s.grid_element_data_source_id = r.data_source_id"
            " where s.type = 'CONSUMER' and r.ts = %s order by 1 limit 1",
            (corrected_at,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into edm.ts_data_source_reading"
            " values (%s, 'kWh', %s, 123.0, 3600, %s)",
            (row[0], corrected_at, last_day + pd.Timedelta(days=2)),
        )
        conn.execute("drop table edm.held_back")
        conn.commit()
    result = _dbt(
        ["build", "--select", "int_transformer_loads_rolled_up+"], dsn, target
    )
    assert not result.warnings
    incremental_rows = _snapshot(dsn)
    _dbt(
        ["build", "--full-refresh", "--select", "int_transformer_loads_rolled_up+"],
        dsn,
        target,
    )
    full_rows = _snapshot(dsn)
    assert len(incremental_rows) > len(before)
    pd.testing.assert_frame_equal(incremental_rows, full_rows)
    # the correction moved the load of that interval by 123 kWh/h - old value
    changed = before.merge(full_rows, on=KEYS, suffixes=("_before", "_after"))
    moved = changed[(changed["load_kw_after"] - changed["load_kw_before"]).abs() > 1e-9]
    assert len(moved) > 0
    assert set(pd.to_datetime(moved["interval_start"], utc=True)) == {corrected_at}


def test_changed_budget_and_rating_reach_rows_an_incremental_run_keeps(
    incremental: tuple[str, Path, DemoGrid],
) -> None:
    """Capacity, budget and rating changes rewrite history, not just the lookback."""
    dsn, target, _ = incremental
    _dbt(["build"], dsn, target)
    changed_vars = {"capacity_budget": 0.5, "power_factor": 0.9}
    _dbt(["run", "--select", "+fct_transformer_load"], dsn, target, vars=changed_vars)
    incremental_rows = _snapshot(dsn)
    budgets = incremental_rows["budgeted_headroom_kw"].dropna()
    assert len(budgets) > 0
    _dbt(
        ["run", "--full-refresh", "--select", "+fct_transformer_load"],
        dsn,
        target,
        vars=changed_vars,
    )
    pd.testing.assert_frame_equal(incremental_rows, _snapshot(dsn))
    # and back to the defaults, incrementally again
    _dbt(["run", "--select", "+fct_transformer_load"], dsn, target)
    restored = _snapshot(dsn)
    capacity = restored["capacity_kw"].dropna()
    rating = _read(
        dsn, "select grid_id, transformer_id, rating_kva from evcap.dim_transformers"
    )
    check = restored.merge(rating, on=["grid_id", "transformer_id"]).dropna(
        subset=["capacity_kw"]
    )
    assert len(capacity) > 0
    assert ((check["capacity_kw"] - check["rating_kva"] * 0.98).abs() < 1e-9).all()
    assert ((check["budgeted_headroom_kw"] - check["headroom_kw"]).abs() < 1e-9).all()


def test_a_grid_without_readings_does_not_make_others_recompute(
    incremental: tuple[str, Path, DemoGrid],
) -> None:
    """Incremental runs recompute each grid from its own cut-off only."""
    dsn, target, _ = incremental
    _dbt(["build"], dsn, target)
    with psycopg.connect(dsn) as conn:
        # a new grid: a transformer, a meter and its source, no readings yet
        conn.execute("insert into edm.grid values ('g-new', 'new', now())")
        conn.execute(
            "insert into edm.grid_element (grid_id, grid_element_id, type,"
            " upstream_grid_element_id, meta) values"
            " ('g-new', 'T1', 'Transformer', null, '{\"rating_kva\": 50}'),"
            " ('g-new', 'M1', 'Meter', 'T1', null)"
        )
        conn.execute(
            "insert into edm.grid_element_data_source (grid_element_data_source_id,"
            " grid_id, grid_element_id, type, metrics, valid) values"
            " (gen_random_uuid(), 'g-new', 'M1', 'CONSUMER', '{kWh}', '(,)')"
        )
        conn.commit()
    _dbt(["run", "--select", "+fct_transformer_load"], dsn, target)
    before = _read(
        dsn,
        "select grid_id, transformer_id, interval_start, xmin::text as version"
        " from evcap.int_transformer_loads_rolled_up",
    )
    # Corrections of one consumer reading: three hours before the latest
    # (inside the lookback: its rows change) and on the first day (outside
    # it: a run that recomputed the history would rewrite its rows; only a
    # full refresh takes it). Rows a run recomputes to the same values are
    # not rewritten, so the corrections are what shows what was recomputed.
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into edm.ts_data_source_reading"
            " select r.data_source_id, r.metric, r.ts, r.value * 2 + 0.5, r.period_s,"
            " r.received_at + interval '1 day'"
            " from edm.ts_data_source_reading as r"
            " where r.data_source_id = ("
            "   select grid_element_data_source_id"
            "   from edm.grid_element_data_source"
            "   where type = 'CONSUMER' and grid_id <> 'g-new'"
            "   order by grid_element_id limit 1)"
            " and r.ts in ("
            "   (select max(ts) - interval '3 hours' from edm.ts_data_source_reading),"
            "   (select min(ts) + interval '3 hours' from edm.ts_data_source_reading))"
        )
        conn.commit()
    _dbt(["run", "--select", "int_transformer_loads_rolled_up"], dsn, target)
    after = _read(
        dsn,
        "select grid_id, transformer_id, interval_start, xmin::text as version"
        " from evcap.int_transformer_loads_rolled_up",
    )
    both = before.merge(after, on=KEYS, suffixes=("_before", "_after"))
    assert len(both) == len(before) == len(after)
    rewritten = both[both["version_before"] != both["version_after"]]
    latest = pd.to_datetime(both["interval_start"], utc=True).max()
    starts = pd.to_datetime(rewritten["interval_start"], utc=True)
    # the recent correction is rewritten, from the hour before it at most;
    # the history (the first day's correction) is not
    assert len(rewritten) > 0
    assert (starts >= latest - pd.Timedelta(hours=4)).all()
