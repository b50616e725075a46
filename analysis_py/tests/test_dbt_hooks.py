"""The models' SET LOCAL hooks hold in the statement that builds the model.

The heavy models set ``work_mem`` (var ``heavy_work_mem``) and the planner's
hash-plan settings with ``SET LOCAL`` pre-hooks (macros/evcap_hooks.sql);
they hold only if the model's statements stay in the transaction the hooks
ran in. dbt's own ``run_hooks`` sent ``commit;`` for the Citus layout's
outside-transaction hooks even when they render nothing (plain PostgreSQL),
after which the settings were lost (CHANGELOG); evcap's ``run_hooks``
(macros/evcap_run_hooks.sql) sends it only when a hook runs, and joins the
inside hooks into one statement.

A probe model in a copy of the project (evcap's dbt_project.yml and macros:
the intermediate folder's hooks apply to it) records the settings its own
``create table as`` / incremental insert ran with, for a table model and
for an incremental (delete+insert) one on its first and its second run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from dbt_in_directory import run_dbt_in

from evcap.db import project_dir
from evcap.dbt_runner import dbt_env

WORK_MEM = "7MB"  # not a server default, so only the hook can set it
SCHEMA = "evcap_hooks"

SETTINGS_SQL = """
select
    current_setting('work_mem') as work_mem,
    current_setting('enable_nestloop') as enable_nestloop,
    clock_timestamp() as written_at
"""

# the heavy models' SET LOCAL pre-hooks (macros/evcap_hooks.sql)
HEAVY_PRE_HOOKS = (
    "pre_hook=['{{ evcap_set_work_mem() }}',"
    " '{{ evcap_disable_jit() }}', '{{ evcap_prefer_hash_plans() }}']"
)

PROBES = {
    "hook_probe_table": f"{{{{ config({HEAVY_PRE_HOOKS}) }}}}\n" + SETTINGS_SQL,
    "hook_probe_incremental": (
        "{{ config(materialized='incremental',"
        " incremental_strategy='delete+insert', unique_key=['written_at'],"
        f" {HEAVY_PRE_HOOKS}) }}}}\n" + SETTINGS_SQL
    ),
}


def _probe_project(tmp_path: Path) -> Path:
    """evcap's project file and macros, and only the probe models."""
    project = tmp_path / "project"
    shutil.copytree(project_dir() / "macros", project / "macros")
    shutil.copy(project_dir() / "dbt_project.yml", project)
    models = project / "models" / "intermediate"
    models.mkdir(parents=True)
    for name, sql in PROBES.items():
        (models / f"{name}.sql").write_text(sql)
    return project


def _run_probes(project: Path, dsn: str) -> None:
    env = dbt_env(dsn, target_schema=SCHEMA)
    env["DBT_PROJECT_DIR"] = str(project)
    env["DBT_TARGET_PATH"] = str(project / "target")
    env["DBT_LOG_PATH"] = str(project / "logs")
    run_dbt_in(
        project,
        [
            "run",
            "--vars",
            json.dumps({"edm_schema": "edm", "heavy_work_mem": WORK_MEM}),
        ],
        env,
    )


@pytest.mark.slow
def test_set_local_hooks_hold_in_the_models_statement(
    pg_dsn: str, tmp_path: Path
) -> None:
    project = _probe_project(tmp_path)
    _run_probes(project, pg_dsn)  # both created
    _run_probes(project, pg_dsn)  # table rebuilt; incremental delete+insert
    with psycopg.connect(pg_dsn) as conn:
        table_rows = conn.execute(
            f"select work_mem, enable_nestloop from {SCHEMA}.hook_probe_table"
        ).fetchall()
        incremental_rows = conn.execute(
            "select work_mem, enable_nestloop"
            f" from {SCHEMA}.hook_probe_incremental order by written_at"
        ).fetchall()
    expected = (WORK_MEM, "off")
    assert table_rows == [expected]
    # first run: created; second: the incremental path, a row appended
    assert incremental_rows == [expected, expected]
