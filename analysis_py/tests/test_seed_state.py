"""`evcap build` leaves the seeds out only when the target holds them as they are.

The fingerprint over a copy of the seed files; the database check on real
servers; and `evcap build` itself (dbt, a small grid) loading the seeds,
leaving them out on the next night, and loading them again for other vars.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from evcap import db, seed_state
from evcap.dbt_runner import DbtResult, run_build
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin

SCHEMA = "evcap"


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(db.project_dir() / "seeds", project / "seeds")
    shutil.copytree(db.project_dir() / "macros", project / "macros")
    shutil.copy(db.project_dir() / "dbt_project.yml", project)
    return project


def test_the_fingerprint_follows_seed_files_project_file_and_vars(
    tmp_path: Path,
) -> None:
    project = _project_copy(tmp_path)
    vars = {"edm_schema": "edm"}
    first = seed_state.seeds_fingerprint(vars, project)
    assert seed_state.seeds_fingerprint(dict(vars), project) == first
    assert seed_state.seeds_fingerprint({"edm_schema": "other"}, project) != first

    csv = project / "seeds" / "charger_types.csv"
    original = csv.read_bytes()
    csv.write_bytes(original + b"\n")
    assert seed_state.seeds_fingerprint(vars, project) != first
    csv.write_bytes(original)
    assert seed_state.seeds_fingerprint(vars, project) == first

    (project / "seeds" / "new_seed.csv").write_text("a\n1\n")
    assert seed_state.seeds_fingerprint(vars, project) != first
    assert "new_seed" in seed_state.seed_tables(project)
    (project / "seeds" / "new_seed.csv").unlink()

    macro = project / "macros" / "evcap_citus.sql"
    macro.write_text(macro.read_text() + "\n")
    second = seed_state.seeds_fingerprint(vars, project)
    assert second != first

    project_file = project / "dbt_project.yml"
    project_file.write_text(project_file.read_text() + "\n# edited\n")
    assert seed_state.seeds_fingerprint(vars, project) not in (first, second)


def test_unchanged_only_with_the_recorded_fingerprint_and_every_table(
    pg_dsn: str,
) -> None:
    tables = seed_state.seed_tables()
    assert "charger_types" in tables
    assert not seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f1")  # no schema yet
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(SCHEMA)))
        for name in tables:
            conn.execute(
                sql.SQL("create table {} (id int)").format(sql.Identifier(SCHEMA, name))
            )
        conn.commit()
    assert not seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f1")  # nothing recorded
    seed_state.record_seeds_loaded(pg_dsn, SCHEMA, "f1")
    assert seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f1")
    assert not seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f2")
    seed_state.record_seeds_loaded(pg_dsn, SCHEMA, "f2")  # replaces, one row
    assert seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f2")
    assert not seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f1")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(SCHEMA, tables[0])))
        conn.commit()
    assert not seed_state.seeds_unchanged(pg_dsn, SCHEMA, "f2")


def _nodes(result: DbtResult) -> dict[str, str]:
    """unique_id -> status of every node the build ran."""
    return {r["unique_id"]: r["status"] for r in result.run_results["results"]}


def _seed_test_ids(target: Path) -> set[str]:
    """Data tests defined in seeds/ (from the build's manifest)."""
    manifest = json.loads((target / "manifest.json").read_text())
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and node["original_file_path"].startswith("seeds/")
    }


def test_evcap_build_leaves_unchanged_seeds_out(
    pg_server: Any, database_factory: Any, tmp_path: Path
) -> None:
    dsn = database_factory(pg_server, "seeds")
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        spec = GridSpec(seed=3, meters=12, days=2, interval_minutes=60)
        load_grid(conn, build_grid(spec), "edm", progress=False)
    vars = {"edm_schema": "edm"}

    def build(**kwargs: Any) -> DbtResult:
        return run_build(
            dsn, target_schema=SCHEMA, target_path=tmp_path / "target", **kwargs
        )

    first = build(vars=vars)
    seeds_loaded = {u for u in _nodes(first) if u.startswith("seed.")}
    assert len(seeds_loaded) == len(seed_state.seed_tables())
    seed_tests = _seed_test_ids(tmp_path / "target")
    assert seed_tests <= set(_nodes(first))
    assert len(seed_tests) > 20

    night = build(vars=vars)
    ran = _nodes(night)
    assert not [u for u in ran if u.startswith("seed.")]
    assert not seed_tests & set(ran)
    # a test reading a seed and models still runs, and passes
    fit_test = "test.evcap.assert_charger_fit_consistent_with_window_headroom"
    assert ran.get(fit_test) == "pass"
    assert any(u.startswith("model.") for u in ran)

    # other vars: the seeds are loaded and tested again
    other = build(vars={**vars, "min_meter_coverage": 0.5})
    assert seeds_loaded <= set(_nodes(other))
    assert seed_tests <= set(_nodes(other))
    # as is a seed table someone dropped
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table evcap.charging_windows cascade")
        conn.commit()
    again = build(vars={**vars, "min_meter_coverage": 0.5})
    assert "seed.evcap.charging_windows" in _nodes(again)
