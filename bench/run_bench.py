"""evcap benchmarks: ratios measured in one run, printed and written to bench/results/.

1. roll-up models (dbt's own run_results.json times) vs the bare limit: one
   hand-written ``create table as select ... sum ... group by`` over the same
   readings through the same ``ts_data_source_select`` access path;
2. vs the original prototype's method: one query per meter data source pulled
   into pandas and summed per transformer;
3. incremental refresh of one new day vs the full rebuild of
   ``fct_transformer_load``;
4. peak memory of this Python process while evcap's own path runs;
5. charger fits per second (bench/bench_fit.py).

Usage: ``make bench`` or ``.venv/bin/python bench/run_bench.py [--meters N]
[--days N] [--dsn DSN]``. The benchmark grid lives in its own database
(``evcap_bench``) and is reused when its spec has not changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from evcap import db
from evcap.dbt_runner import DbtResult, run_dbt
from evcap.demo_data import GridSpec, build_grid, iter_reading_chunks, load_grid
from evcap.edm_standin import install_standin

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCH_DATABASE = "evcap_bench"
EDM = "edm"
TARGET = "evcap"
ROLLUP_MODELS = (
    "model.evcap.int_grid_elements_linked",
    "model.evcap.int_elements_walked_to_transformers",
    "model.evcap.int_transformers_nested",
    "model.evcap.int_transformer_ancestors",
    "model.evcap.int_meters_mapped_to_transformers",
    "model.evcap.fct_transformer_load",
)
TARGETS = {
    "rollup_vs_bare_sql_max": 1.5,
    "prototype_vs_rollup_min": 5.0,
    "incremental_day_vs_full_max": 0.02,
    "fits_per_second_min": 1000.0,
}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(label: str, func: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``func``, print and return its wall time in seconds and its result."""
    started = time.perf_counter()
    value = func()
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.2f} s", flush=True)
    return elapsed, value


def bench_database(server_dsn: str) -> str:
    """DSN of the benchmark database on the server, created when missing."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (BENCH_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("create database {}").format(sql.Identifier(BENCH_DATABASE))
            )
    return db.with_database(server_dsn, BENCH_DATABASE)


# Bump when the generator's output changes, so a stale benchmark grid reloads.
GRID_FORMAT = 2  # 2: data sources valid from the start with no upper bound


def spec_key(spec: GridSpec) -> str:
    key = {"grid_format": GRID_FORMAT, **dataclasses.asdict(spec)}
    return json.dumps(key, default=str, sort_keys=True)


def trim_to_spec(dsn: str, spec: GridSpec) -> int:
    """Delete readings after the spec's last day (appended by an earlier run)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            sql.SQL("delete from {}.ts_data_source_reading where ts >= %s").format(
                sql.Identifier(EDM)
            ),
            (spec.end_utc,),
        )
        if cur.rowcount:
            conn.execute(
                sql.SQL("vacuum analyze {}.ts_data_source_reading").format(
                    sql.Identifier(EDM)
                )
            )
        return cur.rowcount


def ensure_grid(dsn: str, spec: GridSpec) -> dict[str, Any]:
    """Load the benchmark grid unless the database already holds this spec."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "create table if not exists public.evcap_bench_meta (spec text, loaded_at timestamptz)"
        )
        row = conn.execute("select spec from public.evcap_bench_meta").fetchone()
        conn.commit()
        if row and row[0] == spec_key(spec):
            trimmed = trim_to_spec(dsn, spec)
            if trimmed:
                print(f"  removed {trimmed:,} readings appended by an earlier run")
            readings = conn.execute(
                sql.SQL("select count(*) from {}.ts_data_source_reading").format(
                    sql.Identifier(EDM)
                )
            ).fetchone()
            print(f"  grid reused: {readings[0] if readings else 0:,} readings")
            return {"reused": True}
        install_standin(conn, EDM, replace=True)
        load_s, summary = timed(
            "load grid (COPY)", lambda: load_grid(conn, spec, schema=EDM)
        )
        conn.execute("delete from public.evcap_bench_meta")
        conn.execute(
            "insert into public.evcap_bench_meta values (%s, now())", (spec_key(spec),)
        )
        conn.commit()
        print(f"  {summary}")
        return {"reused": False, "load_s": load_s, "summary": str(summary)}


def model_seconds(result: DbtResult, models: tuple[str, ...]) -> float:
    timings = result.timings_s()
    missing = [m for m in models if m not in timings]
    if missing:
        raise SystemExit(f"dbt did not run {missing}: the roll-up models changed?")
    return sum(timings[m] for m in models)


def bare_sql_rollup(dsn: str, work_mem: str) -> float:
    """The bare limit: one CTAS summing net kW per transformer and interval."""
    statement = sql.SQL(
        """
        create table public.bench_bare_rollup as
        select
            map.grid_id,
            map.transformer_id,
            r."timestamp" as interval_start,
            sum(
                case when ds.type = 'PRODUCER' then -1.0 else 1.0 end
                * r.value * 3600.0 / r.period
            ) as load_kw
        from {target}.int_meters_mapped_to_transformers as map
        inner join {edm}.grid_element_data_source as ds
            on ds.grid_id = map.grid_id and ds.grid_element_id = map.meter_id
        cross join lateral
            {edm}.ts_data_source_select(ds.grid_element_data_source_id, 'kWh') as r
        where ds.type in ('CONSUMER', 'PRODUCER') and map.is_placed
        group by 1, 2, 3
        """
    ).format(target=sql.Identifier(TARGET), edm=sql.Identifier(EDM))
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table if exists public.bench_bare_rollup")
        conn.execute(sql.SQL("set local work_mem = {}").format(sql.Literal(work_mem)))
        started = time.perf_counter()
        conn.execute(statement)
        elapsed = time.perf_counter() - started
        conn.execute("drop table public.bench_bare_rollup")
        conn.commit()
    return elapsed


def prototype_method(dsn: str) -> tuple[float, int]:
    """The 2022 prototype's way: a query per meter data source, summed in pandas.

    Returns the wall time in seconds and the number of queries.
    """
    started = time.perf_counter()
    queries = 0
    with psycopg.connect(dsn) as conn:
        meter_map = db.read_frame(
            conn,
            sql.SQL(
                "select grid_id, meter_id, transformer_id"
                " from {}.int_meters_mapped_to_transformers where is_placed"
            ).format(sql.Identifier(TARGET)),
        )
        sources = db.read_frame(
            conn,
            sql.SQL(
                "select grid_id, grid_element_id as meter_id,"
                " grid_element_data_source_id as id, type"
                " from {}.grid_element_data_source"
                " where type in ('CONSUMER', 'PRODUCER')"
            ).format(sql.Identifier(EDM)),
        )
        per_transformer: dict[tuple[str, str], pd.Series] = {}
        transformers_of = meter_map.groupby(["grid_id", "meter_id"])[
            "transformer_id"
        ].apply(list)
        query = sql.SQL(
            'select "timestamp", value, period from {}.ts_data_source_select(%s, %s)'
        ).format(sql.Identifier(EDM))
        for source in sources.itertuples(index=False):
            key = (source.grid_id, source.meter_id)
            if key not in transformers_of.index:
                continue
            frame = db.read_frame(conn, query, (source.id, "kWh"))
            queries += 1
            sign = -1.0 if source.type == "PRODUCER" else 1.0
            kw = pd.Series(
                sign * frame["value"].to_numpy() * 3600.0 / frame["period"].to_numpy(),
                index=pd.DatetimeIndex(frame["timestamp"]),
            )
            kw = kw.groupby(level=0).last()
            for transformer_id in transformers_of[key]:
                tkey = (source.grid_id, transformer_id)
                if tkey in per_transformer:
                    per_transformer[tkey] = per_transformer[tkey].add(
                        kw, fill_value=0.0
                    )
                else:
                    per_transformer[tkey] = kw
    return time.perf_counter() - started, queries


def append_one_day(dsn: str, spec: GridSpec) -> int:
    """Append the readings of the day after the benchmark grid's last day."""
    longer = dataclasses.replace(spec, days=spec.days + 1)
    grid = build_grid(longer)
    day_start = pd.Timestamp(spec.end_utc)
    rows = 0
    with psycopg.connect(dsn) as conn:
        copy_sql = sql.SQL(
            "copy {}.ts_data_source_reading"
            " (data_source_id, metric, ts, value, period_s, received_at) from stdin"
        ).format(sql.Identifier(EDM))
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for chunk in iter_reading_chunks(grid, longer):
                new = chunk[chunk["ts"] >= day_start]
                for row in new.itertuples(index=False):
                    copy.write_row(
                        (
                            row.data_source_id,
                            row.metric,
                            row.ts,
                            row.value,
                            row.period_s,
                            row.received_at,
                        )
                    )
                rows += len(new)
        conn.execute(
            sql.SQL("analyze {}.ts_data_source_reading").format(sql.Identifier(EDM))
        )
        conn.commit()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server DSN (default: EVCAP_DSN/PG*/embedded)")
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--skip-prototype", action="store_true")
    args = parser.parse_args(argv)

    spec = GridSpec(seed=7, meters=args.meters, days=args.days, interval_minutes=60)
    server = db.resolve_dsn(args.dsn)
    if not server.dsn:
        raise SystemExit(
            "bench needs an explicit server DSN (--dsn or EVCAP_DSN), not PG* only"
        )
    dsn = bench_database(server.dsn)
    print(f"evcap bench on {server.describe()} / {BENCH_DATABASE}: {spec}")
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "spec": json.loads(spec_key(spec)),
        "targets": TARGETS,
    }
    with psycopg.connect(dsn) as conn:
        version = conn.execute("show server_version").fetchone()
        results["server_version"] = version[0] if version else None

    results["load"] = ensure_grid(dsn, spec)
    run_dbt(["seed"], dsn, target_schema=TARGET, vars={"edm_schema": EDM})
    full_wall_s, full = timed(
        "dbt run --full-refresh (roll-up)",
        lambda: run_dbt(
            ["run", "--full-refresh", "--select", "+fct_transformer_load"],
            dsn,
            target_schema=TARGET,
            vars={"edm_schema": EDM},
        ),
    )
    rollup_s = model_seconds(full, ROLLUP_MODELS)
    fct_full_s = full.timings_s()["model.evcap.fct_transformer_load"]
    with psycopg.connect(dsn) as conn:
        n = conn.execute(
            sql.SQL("select count(*) from {}.fct_transformer_load").format(
                sql.Identifier(TARGET)
            )
        ).fetchone()
        work_mem_row = conn.execute("show work_mem").fetchone()
    print(f"  fct_transformer_load rows: {n[0] if n else 0:,}")
    bare_s = bare_sql_rollup(dsn, "256MB")
    print(f"  bare CTAS limit: {bare_s:.2f} s")
    evcap_peak_mib = peak_rss_mib()

    if args.skip_prototype:
        prototype_s, queries = float("nan"), 0
    else:
        prototype_s, queries = timed(
            "prototype method (query per source + pandas)",
            lambda: prototype_method(dsn),
        )[1]

    def incremental_run(label: str) -> tuple[float, float]:
        wall_s, result = timed(
            label,
            lambda: run_dbt(
                ["run", "--select", "fct_transformer_load"],
                dsn,
                target_schema=TARGET,
                vars={"edm_schema": EDM},
            ),
        )
        return wall_s, result.timings_s()["model.evcap.fct_transformer_load"]

    # No new data: what every incremental run costs (dbt's own statements in
    # the model, the lookback window re-read); then one new day on top.
    fct_nothing_new_s = min(
        incremental_run(f"dbt run incremental (no new data, run {i})")[1]
        for i in (1, 2)
    )
    appended = append_one_day(dsn, spec)
    incr_wall_s, fct_incr_s = incremental_run(
        f"dbt run incremental (+{appended:,} readings)"
    )
    # Leave the bench grid as it was loaded, so the next run can reuse it.
    trim_to_spec(dsn, spec)

    results["rollup"] = {
        "rollup_models_s": rollup_s,
        "dbt_wall_s": full_wall_s,
        "dbt_overhead_s": full_wall_s - sum(full.timings_s().values()),
        "bare_sql_s": bare_s,
        "rollup_vs_bare_sql": rollup_s / bare_s,
        "prototype_s": prototype_s,
        "prototype_queries": queries,
        "prototype_vs_rollup": prototype_s / rollup_s,
        "prototype_vs_bare_sql": prototype_s / bare_s,
        "fct_full_s": fct_full_s,
        "fct_incremental_s": fct_incr_s,
        "incremental_day_vs_full": fct_incr_s / fct_full_s,
        "fct_incremental_no_new_data_s": fct_nothing_new_s,
        "marginal_day_vs_full": (fct_incr_s - fct_nothing_new_s) / fct_full_s,
        "incremental_dbt_wall_s": incr_wall_s,
        "fct_rows": n[0] if n else 0,
        "session_work_mem": work_mem_row[0] if work_mem_row else None,
        "python_peak_rss_mib_evcap_path": evcap_peak_mib,
        "python_peak_rss_mib_after_prototype": peak_rss_mib(),
    }

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_fit

    fit_json = RESULTS_DIR / "fit.json"
    fit_code = bench_fit.main(
        ["--dsn", dsn, "--schema", TARGET, "--out", str(fit_json)]
    )
    fit_results = json.loads(fit_json.read_text())
    fit_results["exit_code"] = fit_code
    results["fit"] = fit_results

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "rollup.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    r = results["rollup"]
    met = {
        "rollup": r["rollup_vs_bare_sql"] <= TARGETS["rollup_vs_bare_sql_max"],
        "prototype": r["prototype_vs_rollup"] >= TARGETS["prototype_vs_rollup_min"],
        "incremental": r["incremental_day_vs_full"]
        <= TARGETS["incremental_day_vs_full_max"],
    }
    results["targets_met"] = met
    out.write_text(json.dumps(results, indent=2, default=str))

    def verdict(name: str) -> str:
        if name == "prototype" and args.skip_prototype:
            return "not measured"
        return "met" if met[name] else "MISSED"

    print("\nratios (target in brackets)")
    print(
        f"  roll-up models / bare SQL limit      {r['rollup_vs_bare_sql']:6.2f}x  "
        f"[<= 1.5x: {verdict('rollup')}]"
    )
    print(
        f"  prototype method / roll-up models    {r['prototype_vs_rollup']:6.2f}x  "
        f"[>= 5x: {verdict('prototype')}]"
    )
    print(f"  prototype method / bare SQL limit    {r['prototype_vs_bare_sql']:6.2f}x")
    print(
        f"  incremental day / full rebuild       {100 * r['incremental_day_vs_full']:6.2f}%  "
        f"[<= 2%: {verdict('incremental')}]"
    )
    print(
        f"    of which the new day itself        {100 * r['marginal_day_vs_full']:6.2f}%  "
        "(run with the day - run with no new data)"
    )
    print(
        f"  dbt start-up and overhead            {r['dbt_overhead_s']:6.2f} s (not in the ratios)"
    )
    print(f"  Python peak RSS, evcap path          {evcap_peak_mib:6.0f} MiB")
    print(
        f"  Python peak RSS, after prototype     {r['python_peak_rss_mib_after_prototype']:6.0f} MiB"
    )
    max_power = fit_results["max_power"]
    print(
        f"  exact max-power fits per second   {max_power['fits_per_s']:9,.0f}  [>= 1000]"
    )
    if "max_power_vs_single_sql" in fit_results:
        print(
            "  max-power fits / single-type SQL  "
            f"{fit_results['max_power_vs_single_sql']:9.1f}x the time"
        )
    joint = fit_results["joint"]
    print(
        f"  joint fits: {joint['groups']} upstream groups, "
        f"{joint['child_fits_per_s']:,.0f} child fits per second"
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
