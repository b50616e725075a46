"""Write the thermal fit to ``transformer_thermal_fit`` and
``transformer_thermal_month`` beside the marts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from evcap.errors import SchemaError
from evcap.thermal.limits import THERMAL_FIT_COLUMNS, THERMAL_MONTH_COLUMNS

_FIT_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    window_name text not null,
    charger_type text not null,
    charger_power_kw double precision not null,
    coincidence_factor double precision not null,
    max_chargers integer,
    thermal_max_chargers integer not null,
    thermal_max_kw double precision,
    binding_criterion text,
    binding_month integer,
    binding_hour_local integer,
    binding_value double precision,
    peak_hot_spot_c double precision,
    peak_top_oil_c double precision,
    ageing_per_day double precision,
    baseline_peak_hot_spot_c double precision,
    baseline_within_limits boolean,
    hot_spot_limit_c double precision not null,
    top_oil_limit_c double precision not null,
    ageing_limit double precision not null,
    load_limit_pu double precision not null,
    computed_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, window_name, charger_type)
)
"""

_MONTH_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    local_month integer not null,
    peak_load_pu double precision not null,
    peak_top_oil_c double precision not null,
    peak_top_oil_hour_local integer not null,
    peak_hot_spot_c double precision not null,
    peak_hot_spot_hour_local integer not null,
    ageing_per_day double precision not null,
    ageing_per_day_upgraded_paper double precision not null,
    computed_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, local_month)
)
"""


def _plain(value: object) -> object:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and math.isnan(item) else item
    return value


def _replace(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    schema: str,
    name: str,
    ddl: str,
    columns: Sequence[str],
    group_keys: Sequence[str],
) -> int:
    table = sql.Identifier(schema, name)
    insert = sql.SQL("insert into {table} ({columns}) values ({values})").format(
        table=table,
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    delete = sql.SQL(
        "delete from {table} where ({keys}) in (select * from unnest({arrays}))"
    ).format(
        table=table,
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in group_keys),
        arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in group_keys),
    )
    rows = [
        tuple(_plain(v) for v in row)
        for row in frame[list(columns)].itertuples(index=False, name=None)
    ]
    groups = list(
        dict.fromkeys(tuple(str(v) for v in row[: len(group_keys)]) for row in rows)
    )
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(schema))
        )
        cur.execute(sql.SQL(ddl).format(table=table))
        if groups:
            cur.execute(delete, [list(c) for c in zip(*groups, strict=True)])
        if rows:
            cur.executemany(insert, rows)
    if not conn.autocommit:
        conn.commit()
    return len(rows)


def write_thermal_fit(
    conn: psycopg.Connection, frame: pd.DataFrame, *, schema: str = "evcap"
) -> int:
    """Store a :func:`thermal_fit` result in ``<schema>.transformer_thermal_fit``.

    Creates the table when missing (primary key grid_id, transformer_id,
    window_name, charger_type; plus ``computed_at``). In one transaction the
    stored rows of every (grid_id, transformer_id, window_name) in ``frame``
    are replaced by ``frame``'s. Commits.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    SchemaError
        When ``frame`` lacks a column of :data:`THERMAL_FIT_COLUMNS`.
    """
    missing = [c for c in THERMAL_FIT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"thermal fit lacks column(s) {', '.join(missing)}")
    return _replace(
        conn,
        frame,
        schema,
        "transformer_thermal_fit",
        _FIT_DDL,
        THERMAL_FIT_COLUMNS,
        ("grid_id", "transformer_id", "window_name"),
    )


def write_thermal_months(
    conn: psycopg.Connection, frame: pd.DataFrame, *, schema: str = "evcap"
) -> int:
    """Store :func:`thermal_months` in ``<schema>.transformer_thermal_month``.

    The stored rows of every (grid_id, transformer_id) in ``frame`` are
    replaced. Commits. Returns the rows written.
    """
    missing = [c for c in THERMAL_MONTH_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"thermal months lack column(s) {', '.join(missing)}")
    return _replace(
        conn,
        frame,
        schema,
        "transformer_thermal_month",
        _MONTH_DDL,
        THERMAL_MONTH_COLUMNS,
        ("grid_id", "transformer_id"),
    )
