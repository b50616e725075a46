"""Citus beside single node: the same grid, the same `dbt build`, timed in one run.

The grid is loaded into two databases on the coordinator of the local
cluster (``make citus``): one with the Citus extension (stand-in laid out for
the cluster, ``--target citus``, readings relation) and one without (plain
PostgreSQL, the EDM function path). Each is built in full with the last day
held back, then the day is appended and built incrementally. On one machine
with a few cores no speed-up is expected (workers share the cores and add
network hops): the number says what distribution costs here, the EXPLAIN
test (analysis_py/tests/test_citus.py) that the heavy step runs on workers.

Usage: ``.venv/bin/python bench/bench_citus.py [--meters N] [--days N]``;
results are printed and written to bench/results/citus.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from evcap.citus_cluster import (
    Cluster,
    cluster_reachable,
    create_database,
    default_cluster,
    drop_database,
    prepare_bulk_load,
)
from evcap.dbt_runner import run_dbt
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CITUS_VARS = {"evcap_readings_relation": "edm.ts_data_source_reading"}


def _timed_build(dsn: str, citus: bool, target: Path) -> float:
    args = ["build", "--exclude-resource-type", "unit_test"]
    started = time.perf_counter()
    if citus:
        run_dbt([*args, "--target", "citus"], dsn, vars=CITUS_VARS, target_path=target)
    else:
        run_dbt(args, dsn, target_path=target)
    return time.perf_counter() - started


def citus_vs_single_node(
    spec: GridSpec, cluster: Cluster | None = None
) -> dict[str, Any]:
    """Time ``dbt build`` of ``spec`` on the Citus cluster and on one node.

    Parameters
    ----------
    spec : GridSpec
        The synthetic grid (its last day is the incremental day).
    cluster : Cluster, optional
        The local cluster (default: the one ``make citus`` starts).

    Returns
    -------
    dict
        ``readings``, ``workers``, seconds of ``single_full_s``,
        ``citus_full_s``, ``single_incremental_s``, ``citus_incremental_s``
        (dbt build wall time, models and data tests), and the ratios
        ``citus_vs_single_full`` and ``citus_vs_single_incremental``.

    Raises
    ------
    RuntimeError
        When the cluster is not running.
    """
    cluster = cluster or default_cluster()
    if not cluster_reachable(cluster):
        raise RuntimeError(f"no Citus cluster at {cluster.dsn()}: run `make citus`")
    grid = build_grid(spec)
    cut = pd.Timestamp(spec.end_utc) - pd.Timedelta(days=1)
    suffix = uuid.uuid4().hex[:8]
    citus_db, single_db = f"evcap_bench_citus_{suffix}", f"evcap_bench_single_{suffix}"
    result: dict[str, Any] = {"workers": cluster.workers, "readings": grid.n_readings}
    with tempfile.TemporaryDirectory(prefix="evcap-bench-citus-") as tmp:
        try:
            dsns = {True: create_database(cluster, citus_db)}
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("create database {}").format(sql.Identifier(single_db))
                )
            dsns[False] = cluster.dsn(single_db)
            for citus, dsn in dsns.items():
                with psycopg.connect(dsn) as conn:
                    install_standin(conn, "edm", replace=True, citus=citus)
                    if citus:
                        prepare_bulk_load(conn)
                    load_grid(conn, grid, "edm", progress=False)
                    conn.execute(
                        "create table edm.held_back as select * from"
                        " edm.ts_data_source_reading where ts >= %s",
                        (cut,),
                    )
                    conn.execute(
                        "delete from edm.ts_data_source_reading where ts >= %s", (cut,)
                    )
                    conn.commit()
            for citus, dsn in dsns.items():
                name = "citus" if citus else "single"
                target = Path(tmp) / name
                result[f"{name}_full_s"] = _timed_build(dsn, citus, target)
                with psycopg.connect(dsn) as conn:
                    conn.execute(
                        "insert into edm.ts_data_source_reading"
                        " select * from edm.held_back"
                    )
                    conn.commit()
                result[f"{name}_incremental_s"] = _timed_build(dsn, citus, target)
        finally:
            drop_database(cluster, citus_db)
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(single_db)
                    )
                )
    result["citus_vs_single_full"] = result["citus_full_s"] / result["single_full_s"]
    result["citus_vs_single_incremental"] = (
        result["citus_incremental_s"] / result["single_incremental_s"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print it and write bench/results/citus.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args(argv)
    spec = GridSpec(seed=3, meters=args.meters, days=args.days, interval_minutes=60)
    try:
        result = citus_vs_single_node(spec)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result["spec"] = {"meters": args.meters, "days": args.days, "interval_minutes": 60}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "citus.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(
            f"{key:30s} {value:.3f}"
            if isinstance(value, float)
            else f"{key:30s} {value}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
