"""Small pieces every mart read shares: quoting, running a query with a clear
error when a mart is missing, the grid / transformer filter, column checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from evcap.db import read_frame
from evcap.errors import ConfigError, SchemaError


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{what} needs columns {', '.join(missing)}; "
            f"got {', '.join(map(str, frame.columns))}"
        )


def _float_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


# --- SQL helpers ---------------------------------------------------------------


def _relation(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _run(conn: psycopg.Connection, query: sql.Composable, params: Any) -> pd.DataFrame:
    try:
        return read_frame(conn, query, params)
    except psycopg.errors.UndefinedTable as exc:
        conn.rollback()
        raise SchemaError(
            f"{str(exc).splitlines()[0]}: the evcap marts are missing in this "
            "schema; run `evcap build` (or pass --schema)"
        ) from exc


_FILTER = sql.SQL(
    "(%(grid_id)s::text is null or grid_id = %(grid_id)s::text)"
    " and (%(ids)s::text[] is null or transformer_id = any(%(ids)s::text[]))"
)


def _filter_params(
    transformers: Sequence[str] | None, grid_id: str | None
) -> dict[str, Any]:
    return {
        "grid_id": grid_id,
        "ids": list(transformers) if transformers is not None else None,
    }
