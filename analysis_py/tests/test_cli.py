"""The CLI's own commands: db, edm install, env, build argument handling."""

from __future__ import annotations

import psycopg
import pytest

from evcap import cli
from evcap.edm_standin import MARKER_TABLE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert "evcap" in capsys.readouterr().out


def test_edm_install_then_refuse_without_replace(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["edm", "install", "--dsn", pg_dsn, "--schema", "edm"]) == 0
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(f"select count(*) from edm.{MARKER_TABLE}").fetchone()
        assert row == (1,)
    assert cli.main(["edm", "install", "--dsn", pg_dsn, "--schema", "edm"]) == 2
    assert "--replace" in capsys.readouterr().err
    assert cli.main(["edm", "install", "--dsn", pg_dsn, "--replace"]) == 0


def test_edm_install_refuses_a_real_edm(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("create schema edm")
        conn.execute("create table edm.grid (grid_id text primary key)")
        conn.execute("insert into edm.grid values ('real')")
    assert cli.main(["edm", "install", "--dsn", pg_dsn, "--replace"]) == 2
    assert "never writes to a real EDM" in capsys.readouterr().err
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select grid_id from edm.grid").fetchall() == [("real",)]


def test_bad_dsn_is_exit_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["edm", "install", "--dsn", "postgresql://nobody@127.0.0.1:1/none"])
    assert code == 2
    assert "cannot connect" in capsys.readouterr().err


def test_env_prints_libpq_exports(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["env", "--dsn", pg_dsn, "--schema", "marts_x"]) == 0
    out = capsys.readouterr().out
    assert "export EVCAP_SCHEMA=marts_x" in out
    assert "export PGDATABASE=evcap_test_" in out


def test_build_rejects_a_malformed_var(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--dsn", "postgresql://x@h/d", "--var", "oops"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_build_leaves_unit_tests_out_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`evcap build` is the nightly call: dbt's unit tests only with --unit-tests."""
    import evcap.dbt_runner as dbt_runner
    from evcap import seed_state

    calls: list[list[str]] = []
    monkeypatch.setattr(
        dbt_runner, "run_dbt", lambda args, *a, **k: calls.append(list(args))
    )
    # seeds as a first build finds them: not loaded yet
    monkeypatch.setattr(seed_state, "seeds_unchanged", lambda *a, **k: False)
    monkeypatch.setattr(seed_state, "record_seeds_loaded", lambda *a, **k: None)
    dsn = ["--dsn", "postgresql://x@h/d"]
    assert cli.main(["build", *dsn]) == 0
    assert cli.main(["build", *dsn, "--full-refresh", "--unit-tests"]) == 0
    assert calls[0] == ["build", "--exclude-resource-type", "unit_test"]
    assert calls[1] == ["build", "--full-refresh"]
