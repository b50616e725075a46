"""Connection resolution, the embedded server and bad connection input."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evcap import db
from evcap.dbt_runner import dbt_env
from evcap.errors import DatabaseUnavailableError


def test_explicit_dsn_wins_over_environment() -> None:
    env = {"EVCAP_DSN": "postgresql://a@h1/db1", "PGHOST": "h2"}
    resolved = db.resolve_dsn("postgresql://b@h3/db3", environ=env)
    assert resolved.source == "argument"
    assert resolved.dsn == "postgresql://b@h3/db3"


def test_evcap_dsn_wins_over_libpq_variables() -> None:
    env = {"EVCAP_DSN": "postgresql://a@h1/db1", "PGHOST": "h2"}
    assert db.resolve_dsn(environ=env).source == "EVCAP_DSN"


def test_libpq_variables_are_used_when_set() -> None:
    resolved = db.resolve_dsn(environ={"PGHOST": "somewhere", "PGDATABASE": "grid"})
    assert resolved == db.ResolvedDsn("", "libpq")


def test_nothing_configured_without_embedded_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match="no database configured"):
        db.resolve_dsn(environ={}, start_embedded=False)


def test_describe_hides_password() -> None:
    text = db.ResolvedDsn("postgresql://u:secret@h:6543/grid", "argument").describe()
    assert "secret" not in text
    assert "h:6543/grid" in text


def test_dsn_to_libpq_env_for_a_socket_uri() -> None:
    env = db.dsn_to_libpq_env("postgresql://postgres:@/postgres?host=/tmp/sock")
    assert env == {
        "PGHOST": "/tmp/sock",
        "PGUSER": "postgres",
        "PGDATABASE": "postgres",
    }


def test_dsn_to_libpq_env_passes_every_parameter_and_invents_none() -> None:
    env = db.dsn_to_libpq_env(
        "postgresql://db.example.com/grid?sslmode=require&application_name=x"
    )
    assert env == {
        "PGHOST": "db.example.com",
        "PGDATABASE": "grid",
        "PGSSLMODE": "require",
        "PGAPPNAME": "x",
    }
    assert db.dsn_to_libpq_env("service=prod") == {"PGSERVICE": "prod"}


def test_effective_env_resolves_a_service_file(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt must reach the very database evcap reaches, even through a service.
    params = db.conninfo.conninfo_to_dict(pg_dsn)
    lines = ["[evcap_test]"] + [
        f"{k}={v}" for k, v in params.items() if k in ("host", "port", "user", "dbname")
    ]
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    env = db.effective_libpq_env("service=evcap_test")
    assert "PGSERVICE" not in env
    assert env["PGDATABASE"] == params["dbname"]
    with db.connect(pg_dsn) as conn:
        assert env["PGUSER"] == conn.info.user
        assert env["PGHOST"] == conn.info.host
        assert env["PGPORT"] == str(conn.info.port)


def test_with_database_keeps_the_server() -> None:
    dsn = db.with_database("postgresql://u@h:5433/a", "b")
    params = db.conninfo.conninfo_to_dict(dsn)
    assert params["dbname"] == "b"
    assert params["host"] == "h"
    assert params["port"] == "5433"


def test_bad_dsn_is_a_clear_error() -> None:
    # a parse error: libpq's message (which quotes the DSN) is not echoed
    with pytest.raises(DatabaseUnavailableError, match="cannot parse") as info:
        db.connect("this is not a dsn")
    assert "this is" not in str(info.value)


def test_refused_port_is_a_clear_error() -> None:
    # Bind a port and do not listen: connecting to it is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(DatabaseUnavailableError, match=f"127.0.0.1:{port}"):
            db.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")


def test_port_in_use_by_something_else_is_a_clear_error() -> None:
    # A port held by a non-PostgreSQL listener: the handshake fails cleanly.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(DatabaseUnavailableError):
            db.connect(
                f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=2"
            )


def test_embedded_server_starts_reports_and_is_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    assert not db.embedded_status(data_dir).initialised
    uri = db.start_embedded_server(data_dir)
    try:
        status = db.embedded_status(data_dir)
        assert status.initialised
        assert status.running
        with db.connect(uri) as conn:
            row = conn.execute(
                "select current_setting('server_version_num')"
            ).fetchone()
            assert row is not None
            assert int(row[0]) >= 180000
        # A second start reuses the running server.
        assert db.start_embedded_server(data_dir) == uri
    finally:
        assert db.stop_embedded_server(data_dir)
    assert not db.embedded_status(data_dir).running
    assert not db.stop_embedded_server(data_dir)


def test_servers_are_reachable(pg_conn: db.psycopg.Connection) -> None:
    row = pg_conn.execute("select current_database()").fetchone()
    assert row is not None
    assert str(row[0]).startswith("evcap_test_")


def test_dbt_sessions_run_with_jit_off_unless_pgoptions_says(pg_dsn: str) -> None:
    """dbt's sessions get ``jit=off`` through PGOPTIONS; a user's choice stands."""

    def jit_seen(env: dict[str, str]) -> str:
        # a fresh libpq client with exactly dbt's environment
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import psycopg; print(psycopg.connect('').execute("
                "'show jit').fetchone()[0])",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    assert jit_seen(dbt_env(pg_dsn)) == "off"
    mine = dbt_env(pg_dsn, base={**os.environ, "PGOPTIONS": "-c jit=on"})
    assert mine["PGOPTIONS"] == "-c jit=on"
    assert jit_seen(mine) == "on"


def test_dbt_file_log_is_info_unless_asked(pg_dsn: str) -> None:
    """dbt's file log leaves every statement's SQL out unless the user asks for it."""
    base = {k: v for k, v in os.environ.items() if k != "DBT_LOG_LEVEL_FILE"}
    assert dbt_env(pg_dsn, base=base)["DBT_LOG_LEVEL_FILE"] == "info"
    asked = dbt_env(pg_dsn, base={**base, "DBT_LOG_LEVEL_FILE": "debug"})
    assert asked["DBT_LOG_LEVEL_FILE"] == "debug"
