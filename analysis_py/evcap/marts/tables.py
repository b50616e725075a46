"""Read evcap's marts (small tables built by dbt) into pandas.

Identifiers are quoted with :mod:`psycopg.sql`; filter values are always
query parameters, never part of the SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import psycopg
from psycopg import sql

from evcap.db import read_frame
from evcap.errors import SchemaError

MARTS = (
    "dim_transformers",
    "fct_transformer_load",
    "transformer_headroom_profile",
    "transformer_window_headroom",
    "transformer_charger_fit",
    "transformer_charger_mix",
    "transformer_thermal_fit",  # written by `evcap thermal` (issue #13)
    "transformer_thermal_month",  # written by `evcap thermal` (issue #13)
)
"""Tables :func:`read_mart` knows (the dbt marts and the Python fit table)."""

_ORDER_COLUMNS = (
    "grid_id",
    "transformer_id",
    "window_name",
    "charger_type",
    "interval_start",
    "local_month",
    "local_hour",
    "mode",
)


def mart_exists(conn: psycopg.Connection, name: str, *, schema: str = "evcap") -> bool:
    """Return True when table or view ``schema.name`` exists."""
    qualified = sql.Identifier(schema, name).as_string(conn)
    row = conn.execute("select to_regclass(%s) is not null", [qualified]).fetchone()
    return bool(row and row[0])


def _columns(conn: psycopg.Connection, name: str, schema: str) -> list[str]:
    rows = conn.execute(
        "select attname from pg_attribute "
        "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped "
        "order by attnum",
        [sql.Identifier(schema, name).as_string(conn)],
    ).fetchall()
    return [str(r[0]) for r in rows]


def read_mart(
    conn: psycopg.Connection,
    name: str,
    *,
    schema: str = "evcap",
    transformers: str | Iterable[str] | None = None,
    grid_id: str | None = None,
) -> pd.DataFrame:
    """Read one mart, optionally only some transformers and one grid.

    Parameters
    ----------
    conn : psycopg.Connection
        Open connection to the database holding the marts.
    name : str
        Mart name, one of :data:`MARTS`.
    schema : str
        Schema dbt built the marts into.
    transformers : str or iterable of str, optional
        Keep only these ``transformer_id`` values (all when None); a single
        str is one id.
    grid_id : str, optional
        Keep only this grid (all grids when None).

    Returns
    -------
    pandas.DataFrame
        The mart's columns in table order, rows ordered by the key columns
        present (grid_id, transformer_id, window_name, ...). Values keep the
        database's units (``*_kw`` in kW, ``*_kva`` in kVA, ``*_v`` in V).

    Raises
    ------
    SchemaError
        When ``name`` is not a known mart or the table does not exist.
    """
    if name not in MARTS:
        raise SchemaError(f"unknown mart {name!r}; known marts: {', '.join(MARTS)}")
    if not mart_exists(conn, name, schema=schema):
        raise SchemaError(
            f"table {schema}.{name} does not exist: run `evcap build` "
            f"(dbt) first, or pass --schema with the schema dbt built into"
        )
    columns = _columns(conn, name, schema)
    conditions: list[sql.Composable] = []
    params: list[object] = []
    if grid_id is not None:
        conditions.append(sql.SQL("grid_id = %s"))
        params.append(grid_id)
    if transformers is not None:
        ids = [transformers] if isinstance(transformers, str) else transformers
        conditions.append(sql.SQL("transformer_id = any(%s)"))
        params.append([str(t) for t in ids])
    query = sql.SQL("select * from {}").format(sql.Identifier(schema, name))
    if conditions:
        query = query + sql.SQL(" where ") + sql.SQL(" and ").join(conditions)
    order = [c for c in _ORDER_COLUMNS if c in columns]
    if order:
        query = (
            query
            + sql.SQL(" order by ")
            + sql.SQL(", ").join(sql.Identifier(c) for c in order)
        )
    return read_frame(conn, query, params)


def read_data_issues(
    conn: psycopg.Connection,
    *,
    schema: str = "evcap",
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
) -> pd.DataFrame | None:
    """Rows of ``int_data_issues_collected`` (None when the model is absent).

    With ``transformers``, transformer-level findings of other transformers
    are left out; grid-level findings (orphan meters, cycles) stay.
    """
    if not mart_exists(conn, "int_data_issues_collected", schema=schema):
        return None
    query = sql.SQL(
        "select * from {} where (%(grid)s::text is null or grid_id = %(grid)s)"
        " order by issue_code, grid_id, element_id"
    ).format(sql.Identifier(schema, "int_data_issues_collected"))
    frame = read_frame(conn, query, {"grid": grid_id})
    if transformers is not None and not frame.empty:
        # transformer-level findings only for the chosen transformers; the
        # grid-level ones (orphan meters, cycles) stay: they may hide load.
        is_transformer = frame["element_type"] == "Transformer"
        frame = frame[~is_transformer | frame["element_id"].isin(list(transformers))]
    return frame


def known_grids(conn: psycopg.Connection, *, schema: str = "evcap") -> list[str]:
    """Grid ids present in ``dim_transformers``, sorted.

    Raises
    ------
    SchemaError
        When ``dim_transformers`` does not exist.
    """
    if not mart_exists(conn, "dim_transformers", schema=schema):
        raise SchemaError(
            f"table {schema}.dim_transformers does not exist: run `evcap build` "
            f"(dbt) first, or pass --schema with the schema dbt built into"
        )
    frame = read_frame(
        conn,
        sql.SQL("select distinct grid_id from {} order by grid_id").format(
            sql.Identifier(schema, "dim_transformers")
        ),
        None,
    )
    return [str(g) for g in frame["grid_id"]]


def read_seed_table(
    conn: psycopg.Connection, name: str, *, schema: str = "evcap"
) -> pd.DataFrame | None:
    """All rows of the seed table ``schema.name`` dbt loaded, or None when absent.

    ``name`` is a seed of the dbt project (e.g. ``charger_types``,
    ``charging_windows``, ``ambient_temperature_normals``); identifiers are
    quoted.
    """
    if not mart_exists(conn, name, schema=schema):
        return None
    return read_frame(
        conn, sql.SQL("select * from {}").format(sql.Identifier(schema, name))
    )
