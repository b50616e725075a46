"""The EDM source is provably read-only; vars are validated; BI grants.

The whole ``evcap build`` runs as a role that may only read the EDM schema
(select on its tables, execute on its functions) and owns its target schema,
with no right to create schemas: it passes, so nothing in the build writes to
the source. The role is created for the test and dropped at the end.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from evcap import cli
from evcap.db import project_dir
from evcap.dbt_runner import dbt_env, dbt_executable
from evcap.demo import GridSpec, build_grid, load_grid
from evcap.edm_standin import install_standin

SYSTEM = pytest.mark.parametrize("pg_server", ["system-pg"], indirect=True)


@pytest.fixture
def roles(pg_server: Any, pg_dsn: str) -> Iterator[list[str]]:
    """Role names unique to this test, dropped (with what they own) afterwards."""
    names = [f"evcap_hardening_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("ro", "bi")]
    yield names
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in names:
            exists = conn.execute(
                "select 1 from pg_roles where rolname = %s", [name]
            ).fetchone()
            if exists:
                conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def _as_role(dsn: str, role: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = role
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **params)


@pytest.mark.slow
@SYSTEM
def test_build_as_a_read_only_role_with_bi_grants(
    pg_dsn: str, roles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    reader, bi = roles
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        install_standin(conn, "edm", replace=True)
        load_grid(conn, build_grid(GridSpec(seed=3, meters=12, days=2, grids=1)), "edm")
        database = conn.info.dbname
        for statement in (
            "create role {r} login",
            "create role {b} nologin",
            "revoke create on database {d} from public",
            "grant connect on database {d} to {r}",
            "grant usage on schema edm to {r}",
            "grant select on all tables in schema edm to {r}",
            "grant execute on all functions in schema edm to {r}",
            "create schema evcap_ro authorization {r}",
        ):
            conn.execute(
                sql.SQL(statement).format(
                    r=sql.Identifier(reader),
                    b=sql.Identifier(bi),
                    d=sql.Identifier(database),
                )
            )
        writable = conn.execute(
            "select bool_or(has_table_privilege(%s, c.oid, 'insert, update, "
            "delete, truncate')) or has_schema_privilege(%s, 'edm', 'create') "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'edm'",
            [reader, reader],
        ).fetchone()
        assert writable == (False,), "the test role must not be able to write"
        before = conn.execute(
            "select count(*), sum(hashtext(g::text)) from edm.grid_element g"
        ).fetchone()

    dsn = _as_role(pg_dsn, reader)
    argv = ["build", "--dsn", dsn, "--schema", "evcap_ro", "--edm-schema", "edm"]
    assert cli.main([*argv, "--var", f"bi_role={bi}"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert " of " in out  # dbt's progress (N of M) is streamed
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("select count(*) from evcap_ro.dim_transformers").fetchone()
        assert rows is not None
        assert rows[0] > 0
        after = conn.execute(
            "select count(*), sum(hashtext(g::text)) from edm.grid_element g"
        ).fetchone()
        assert after == before
        # BI grants through dbt's grants: config, on every mart
        granted = conn.execute(
            "select c.relname, has_table_privilege(%s, c.oid, 'select') "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'evcap_ro' and c.relname in ('dim_transformers', "
            "'fct_transformer_load', 'transformer_charger_fit') order by 1",
            [bi],
        ).fetchall()
        assert [g for _n, g in granted] == [True, True, True]
        usage = conn.execute(
            "select has_schema_privilege(%s, 'evcap_ro', 'usage')", [bi]
        ).fetchone()
        assert usage == (True,)
        private = conn.execute(
            "select has_table_privilege(%s, 'evcap_ro.int_transformers_nested', "
            "'select')",
            [bi],
        ).fetchone()
        assert private == (False,)  # only the marts are shared

    # bi_role null: dbt revokes (also on the incremental fact, not rebuilt)
    assert cli.main(argv) == 0
    capsys.readouterr()
    with psycopg.connect(pg_dsn) as conn:
        left = conn.execute(
            "select has_table_privilege(%s, 'evcap_ro.fct_transformer_load', 'select')",
            [bi],
        ).fetchone()
        assert left == (False,)


@pytest.mark.parametrize("pg_server", ["system-pg"], indirect=True)
def test_target_schema_equal_to_the_edm_schema_is_refused(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["build", "--dsn", pg_dsn, "--schema", "edm"]) == 2
    assert "EDM source schema" in capsys.readouterr().err
    argv = ["build", "--dsn", pg_dsn, "--schema", "src", "--edm-schema", "src"]
    assert cli.main(argv) == 2
    assert "never writes to its source" in capsys.readouterr().err
    assert cli.main(["dbt", "--dsn", pg_dsn, "--schema", "edm", "run"]) == 2
    assert "EDM source schema" in capsys.readouterr().err
    # dbt on its own (a scheduler, the dbt-package route): on-run-start refuses
    env = dbt_env(pg_dsn, target_schema="edm")
    env["DBT_TARGET_PATH"] = str(tmp_path / "target")
    env["DBT_LOG_PATH"] = str(tmp_path / "logs")
    done = subprocess.run(
        [dbt_executable(), "run", "--select", "stg_edm__data_sources"],
        cwd=project_dir(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "EDM source schema" in done.stdout


@SYSTEM
def test_every_bad_var_is_named_in_one_error(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["build", "--dsn", pg_dsn, "--schema", "evcap_vars"]
    for pair in (
        "power_factor=1.5",
        "coincidence_factor=0",
        "local_timezone=Mars/Olympus",
        "heavy_work_mem='1MB'; drop table x; --",
        "lookback_hours=2.5",
        "thermal_ageing_limit=-1",
        'bi_role=a"b',
    ):
        argv += ["--var", pair]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    for name in (
        "power_factor",
        "coincidence_factor",
        "local_timezone",
        "heavy_work_mem",
        "lookback_hours",
        "thermal_ageing_limit",
        "bi_role",
    ):
        assert name in err, name
    with psycopg.connect(pg_dsn) as conn:
        made = conn.execute(
            "select count(*) from pg_class c join pg_namespace n "
            "on n.oid = c.relnamespace where n.nspname = 'evcap_vars'"
        ).fetchone()
        assert made == (0,)  # nothing ran


@SYSTEM
def test_demo_on_a_server_with_marts_asks_for_force(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("create schema evcap")
        conn.execute("create table evcap.dim_transformers (transformer_id text)")
    assert cli.main(["demo", "--dsn", pg_dsn, "--meters", "5", "--days", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    with psycopg.connect(pg_dsn) as conn:
        edm = conn.execute("select to_regnamespace('edm')").fetchone()
        assert edm == (None,)  # nothing was replaced
