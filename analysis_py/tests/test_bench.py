"""``make bench`` keeps working: its quick mode, from an empty database.

The benchmark's numbers are not checked here (a shared test machine makes
them meaningless); that every part runs and reports every target is.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import REPO_ROOT, Server
from psycopg import sql

pytestmark = pytest.mark.slow


def test_make_bench_quick_runs_from_an_empty_database(
    pg_server: Server, tmp_path: Path
) -> None:
    if pg_server.name != "pg18-embedded":
        pytest.skip("the bench is checked once, on the server `make bench` starts")
    database = f"evcap_test_bench_{uuid.uuid4().hex[:8]}"
    results = tmp_path / "results"
    args = (
        f"--quick --dsn {pg_server.admin_dsn} --database {database} "
        f"--results-dir {results}"
    )
    try:
        run = subprocess.run(
            ["make", "--no-print-directory", "bench", f"BENCH_ARGS={args}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            for name in (database, f"{database}_sweep"):
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(name)
                    )
                )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((results / "rollup.json").read_text())
    main = report["main"]
    assert main["full_build_s"] > 0
    assert main["incremental_build_s"] > 0
    assert main["appended_readings"] > 0
    assert main["prototype_queries"] > 0
    assert main["rollup_models_s"] > 0  # alone, a run of the roll-up models
    assert main["rollup_models_in_full_build_s"] > 0
    # What the two measured nights read, per table of the target schema.
    assert set(main["night_reads"]) == {"no_new_data", "one_new_day"}
    assert main["night_reads"]["one_new_day"], "the +1 day night read nothing?"
    assert [p["meters"] for p in report["sweep"]] == [100, 300, 1000]
    assert all(p["readings"] > 0 for p in report["sweep"])
    names = [c["name"] for c in report["checks"]]
    for expected in (
        "dbt start-up",
        "incremental build",
        "roll-up models / bare SQL",
        "prototype method",
        "roll-up s/M readings",
        "whole build s/M readings",
        "generator",
        "fits per second",
        "load-history partition read whole",
    ):
        assert any(expected in name for name in names), (expected, names)
    # Every target is printed with its verdict.
    printed = [line for line in run.stdout.splitlines() if "[" in line]
    assert sum(("met]" in line or "MISSED]" in line) for line in printed) == len(names)
