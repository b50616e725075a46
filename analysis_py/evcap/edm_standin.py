"""Install evcap's stand-in of the Awesense EDM schema (for demos and tests).

On a real Awesense database the EDM schema is given and evcap never writes to
it; this module refuses to touch a schema that holds tables but is not a
stand-in made by evcap.
"""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from evcap.errors import SchemaError

STANDIN_VERSION = "1"
MARKER_TABLE = "evcap_standin"


def _schema_state(conn: psycopg.Connection, schema: str) -> str:
    """Return 'absent', 'empty', 'standin' or 'foreign' for ``schema``."""
    row = conn.execute(
        "select count(*) from pg_namespace where nspname = %s", (schema,)
    ).fetchone()
    if row is None or row[0] == 0:
        return "absent"
    tables = {
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname = %s"
            " and c.relkind in ('r', 'p', 'v', 'm', 'f')",
            (schema,),
        ).fetchall()
    }
    if not tables:
        return "empty"
    if MARKER_TABLE in tables:
        return "standin"
    return "foreign"


def has_postgis(conn: psycopg.Connection) -> bool:
    """True when the server can provide PostGIS (installed or installable)."""
    row = conn.execute(
        "select count(*) from pg_available_extensions where name = 'postgis'"
    ).fetchone()
    return bool(row and row[0])


def install_standin(
    conn: psycopg.Connection, schema: str = "edm", *, replace: bool = False
) -> str:
    """Create the EDM stand-in tables, type and functions in ``schema``.

    Parameters
    ----------
    conn : psycopg.Connection
        Open connection; the work is committed on success.
    schema : str
        Schema to create (quoted as an identifier).
    replace : bool
        Drop an existing evcap stand-in in ``schema`` first.

    Returns
    -------
    str
        The geometry column type used: ``geometry(Geometry,4326)`` when
        PostGIS is available (and this role may create the extension), else
        ``text`` (WKT).

    Raises
    ------
    SchemaError
        When ``schema`` holds tables that are not an evcap stand-in (a real
        EDM is never overwritten), or holds a stand-in and ``replace`` is
        false.
    """
    state = _schema_state(conn, schema)
    if state == "foreign":
        raise SchemaError(
            f"schema {schema!r} already holds tables that evcap did not create "
            "(a real Awesense EDM?). evcap never writes to a real EDM: choose "
            "another schema with --schema."
        )
    if state == "standin" and not replace:
        raise SchemaError(
            f"schema {schema!r} already holds an evcap EDM stand-in; pass "
            "--replace to drop and recreate it."
        )
    ident = sql.Identifier(schema)
    if state in ("standin", "empty"):
        conn.execute(sql.SQL("drop schema {} cascade").format(ident))
    geometry_type = "text"
    if has_postgis(conn):
        try:
            with conn.transaction():  # a savepoint: a refusal leaves no trace
                conn.execute("create extension if not exists postgis")
            geometry_type = "geometry(Geometry,4326)"
        except psycopg.errors.InsufficientPrivilege:
            pass  # installable but not by this role: WKT text, as without it
    template = (
        resources.files("evcap").joinpath("sql/edm_standin.sql").read_text("utf-8")
    )
    # The template only contains {schema} and {geometry_type} placeholders;
    # every other brace-free SQL passes through unchanged.
    statement = sql.SQL(template).format(
        schema=ident, geometry_type=sql.SQL(geometry_type)
    )
    conn.execute(statement)
    conn.execute(
        sql.SQL("insert into {}.{} (version) values (%s)").format(
            ident, sql.Identifier(MARKER_TABLE)
        ),
        (STANDIN_VERSION,),
    )
    conn.commit()
    return geometry_type
