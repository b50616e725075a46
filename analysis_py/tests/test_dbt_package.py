"""evcap installed as a dbt package of another project, and persisted docs.

A utility's analytics team lists evcap in its own ``packages.yml`` (here by
local path), sets evcap's vars in its own ``dbt_project.yml`` and builds.
The marts land in its target schema with its vars, and the model and column
descriptions are database comments (``persist_docs``), read back from
``pg_description``. evcap's one-statement ``persist_docs`` (which fails a
model whose documented column is missing) applies to evcap's models only:
the host's own models keep dbt's default, a warning.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from dbt_in_directory import run_dbt_in

from evcap.db import project_dir
from evcap.dbt_runner import dbt_env
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin

pytestmark = pytest.mark.slow

POWER_FACTOR = 0.9


@pytest.mark.parametrize("pg_server", ["system-pg"], indirect=True)
def test_evcap_as_a_dbt_package_with_its_own_vars(pg_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_dsn) as conn:
        install_standin(conn, "source_edm", replace=True)
        load_grid(conn, build_grid(GridSpec(seed=4, meters=10, days=2)), "source_edm")
    root = tmp_path / "utility_analytics"
    root.mkdir()
    (root / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": "utility_analytics",
                "version": "1.0.0",
                "config-version": 2,
                "profile": "evcap",
                # evcap's fix of dbt-postgres' column types (PostGIS sources)
                "dispatch": [
                    {
                        "macro_namespace": "dbt",
                        "search_order": ["utility_analytics", "evcap", "dbt"],
                    }
                ],
                "models": {
                    "utility_analytics": {
                        "+persist_docs": {"relation": True, "columns": True}
                    }
                },
                "vars": {
                    "evcap": {
                        "edm_schema": "source_edm",
                        "power_factor": POWER_FACTOR,
                        "local_timezone": "America/Edmonton",
                    }
                },
            }
        )
    )
    (root / "packages.yml").write_text(
        yaml.safe_dump({"packages": [{"local": str(project_dir())}]})
    )
    # the host's own model documents a column it does not have
    (root / "models").mkdir()
    (root / "models" / "transformers_per_grid.sql").write_text(
        "select grid_id, count(*) as transformers_count\n"
        "from {{ ref('dim_transformers') }}\ngroup by grid_id\n"
    )
    (root / "models" / "transformers_per_grid.yml").write_text(
        yaml.safe_dump(
            {
                "version": 2,
                "models": [
                    {
                        "name": "transformers_per_grid",
                        "description": "Transformers per grid.",
                        "columns": [
                            {"name": "transformers_count", "description": "Count."},
                            {"name": "retired_column", "description": "Gone."},
                        ],
                    }
                ],
            }
        )
    )
    env = dbt_env(pg_dsn, target_schema="analytics")
    env["DBT_PROFILES_DIR"] = str(project_dir())  # profile `evcap` reads PG*
    env["DBT_TARGET_PATH"] = str(root / "target")
    env["DBT_LOG_PATH"] = str(root / "logs")
    env.pop("DBT_PROJECT_DIR", None)
    run_dbt_in(root, ["deps"], env)
    assert (root / "dbt_packages" / "evcap").exists()
    build_log = run_dbt_in(root, ["build"], env)
    assert "not present in the database: retired_column" in build_log

    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "select rating_kva, capacity_kw from analytics.dim_transformers "
            "where rating_kva is not null"
        ).fetchall()
        assert rows
        # the utility's power factor, not evcap's default 0.98
        # (the demo grid has no per-transformer overrides)
        for rating, capacity in rows:
            assert capacity == pytest.approx(rating * POWER_FACTOR)
        zone = conn.execute(
            "select interval_local - (interval_start at time zone "
            "'America/Edmonton') from analytics.fct_transformer_load limit 1"
        ).fetchone()
        assert zone is not None
        assert zone[0].total_seconds() == 0
        # persist_docs: model and column descriptions as comments
        table_comment = conn.execute(
            "select obj_description('analytics.dim_transformers'::regclass, 'pg_class')"
        ).fetchone()
        column_comment = conn.execute(
            "select col_description('analytics.dim_transformers'::regclass, "
            "a.attnum) from pg_attribute a where a.attrelid = "
            "'analytics.dim_transformers'::regclass and a.attname = 'capacity_kw'"
        ).fetchone()
        host_comment = conn.execute(
            "select col_description('analytics.transformers_per_grid'::regclass, "
            "a.attnum) from pg_attribute a where a.attrelid = "
            "'analytics.transformers_per_grid'::regclass "
            "and a.attname = 'transformers_count'"
        ).fetchone()
    assert host_comment == ("Count.",)
    models = yaml.safe_load(
        (project_dir() / "models" / "marts" / "_marts__models.yml").read_text()
    )
    dim = next(m for m in models["models"] if m["name"] == "dim_transformers")
    column = next(c for c in dim["columns"] if c["name"] == "capacity_kw")
    assert table_comment is not None
    assert table_comment[0].strip() == dim["description"].strip()
    assert column_comment is not None
    assert column_comment[0].strip() == column["description"].strip()
