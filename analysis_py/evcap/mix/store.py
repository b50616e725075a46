"""Write a fit to the table ``transformer_charger_mix`` beside the marts."""

from __future__ import annotations

import pandas as pd
import psycopg
from psycopg import sql

from evcap.errors import (
    ConfigError,
    SchemaError,
)
from evcap.mix.options import OUTPUT_COLUMNS
from evcap.mix.values import _is_missing, _plain

_MIX_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    window_name text not null,
    mode text not null,
    charger_type text not null,
    count integer not null,
    charger_power_kw double precision not null,
    power_kw double precision not null,
    budget_kw double precision,
    leftover_kw double precision,
    reason text,
    fitted_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, window_name, mode, charger_type)
)
"""

PARAMETER_COLUMNS = ("coincidence_factor", "basis")
"""Columns of ``transformer_charger_mix`` beyond :data:`OUTPUT_COLUMNS`: the
run's parameters that change the numbers (null when not known)."""

_MIX_UPGRADE = """
alter table {table}
    add column if not exists coincidence_factor double precision,
    add column if not exists basis text
"""


def write_mix(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    *,
    schema: str = "evcap",
    coincidence_factor: float | None = None,
    basis: str | None = None,
) -> int:
    """Store a :func:`fit` result in ``<schema>.transformer_charger_mix``.

    Creates the schema and table when missing (primary key grid_id,
    transformer_id, window_name, mode, charger_type; plus ``fitted_at``,
    ``coincidence_factor`` and ``basis``); an older table without the last
    two gets them added. In one transaction, every stored row of a
    (grid_id, transformer_id, window_name, mode) group present in ``frame`` is
    deleted, then ``frame``'s rows are inserted: a group always holds exactly
    one run's mix (no stale charger types of an earlier run). Other groups
    are left alone. Commits.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database.
    frame : pandas.DataFrame
        A :func:`fit` result (columns :data:`OUTPUT_COLUMNS`).
    schema : str
        Schema of the table.
    coincidence_factor, basis : optional
        The coincidence factor and budget basis the fit assumed, stored with
        each row. Needed unless ``frame`` has columns of that name.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    SchemaError
        When ``frame`` lacks a column of :data:`OUTPUT_COLUMNS`.
    ConfigError
        When ``coincidence_factor`` or ``basis`` is neither given nor a column.
    """
    missing = [c for c in OUTPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"fit result lacks column(s) {', '.join(missing)}")
    data = frame[list(OUTPUT_COLUMNS)].copy()
    for column, given in (("coincidence_factor", coincidence_factor), ("basis", basis)):
        if given is not None:
            data[column] = given
        elif column in frame.columns:
            data[column] = frame[column].to_numpy()
        else:
            raise ConfigError(
                f"write_mix needs {column}= (what the fit assumed), e.g. "
                "write_mix(conn, mixes, coincidence_factor=0.8, basis='firm')"
            )
    all_columns = (*OUTPUT_COLUMNS, *PARAMETER_COLUMNS)
    table = sql.Identifier(schema, "transformer_charger_mix")
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in all_columns)
    keys = ("grid_id", "transformer_id", "window_name", "mode", "charger_type")
    group_keys = keys[:-1]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
        for c in (*all_columns, "fitted_at")
        if c not in keys
    )
    insert = sql.SQL(
        "insert into {table} ({columns}) values ({values}) "
        "on conflict ({keys}) do update set {updates}"
    ).format(
        table=table,
        columns=columns,
        values=sql.SQL(", ").join(sql.Placeholder() * len(all_columns)),
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in keys),
        updates=updates,
    )
    delete = sql.SQL(
        "delete from {table} where ({keys}) in (select * from unnest({arrays}))"
    ).format(
        table=table,
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in group_keys),
        arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in group_keys),
    )
    rows = [
        tuple(None if _is_missing(v) else _plain(v) for v in row)
        for row in data[list(all_columns)].itertuples(index=False, name=None)
    ]
    groups = list(dict.fromkeys(tuple(str(v) for v in row[:4]) for row in rows))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(schema))
        )
        cur.execute(sql.SQL(_MIX_DDL).format(table=table))
        cur.execute(sql.SQL(_MIX_UPGRADE).format(table=table))
        if groups:
            cur.execute(delete, [list(column) for column in zip(*groups, strict=True)])
        if rows:
            cur.executemany(insert, rows)
    if not conn.autocommit:
        conn.commit()
    return len(rows)
