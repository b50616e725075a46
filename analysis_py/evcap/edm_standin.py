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


# Citus layout of the stand-in: topology and data sources are small reference
# tables (a copy on every node, so recursive walks and joins stay local),
# referenced tables first so the foreign keys between them hold; readings are
# distributed by data source (the distributed source contract,
# docs/CONTRACT.md).
CITUS_REFERENCE_TABLES = (
    MARKER_TABLE,
    "grid",
    "grid_element",
    "grid_element_data_source",
)
CITUS_DISTRIBUTED_TABLES = {"ts_data_source_reading": "data_source_id"}


def _lay_out_for_citus(conn: psycopg.Connection, schema: str) -> None:
    prefix = sql.Identifier(schema).as_string(conn)
    for table in CITUS_REFERENCE_TABLES:
        name = f"{prefix}.{sql.Identifier(table).as_string(conn)}"
        conn.execute("select create_reference_table(%s::regclass)", (name,))
    for table, column in CITUS_DISTRIBUTED_TABLES.items():
        name = f"{prefix}.{sql.Identifier(table).as_string(conn)}"
        conn.execute(
            "select create_distributed_table(%s::regclass, %s)", (name, column)
        )


def is_citus(conn: psycopg.Connection) -> bool:
    """True when the connected database has the Citus extension (a coordinator)."""
    row = conn.execute(
        "select count(*) from pg_extension where extname = 'citus'"
    ).fetchone()
    return bool(row and row[0])


def install_standin(
    conn: psycopg.Connection,
    schema: str = "edm",
    *,
    replace: bool = False,
    citus: bool = False,
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
    citus : bool
        Lay the tables out for a Citus cluster (the database must have the
        ``citus`` extension): topology and data sources as reference tables,
        readings distributed by data source.

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
        false, or ``citus`` is asked of a database without Citus.
    """
    if citus and not is_citus(conn):
        raise SchemaError(
            "install_standin(citus=True) needs a Citus coordinator: this "
            "database has no `citus` extension (run `make citus`, connect to "
            "the coordinator)."
        )
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
    if citus:
        _lay_out_for_citus(conn, schema)
    conn.execute(
        sql.SQL("insert into {}.{} (version) values (%s)").format(
            ident, sql.Identifier(MARKER_TABLE)
        ),
        (STANDIN_VERSION,),
    )
    conn.commit()
    return geometry_type
