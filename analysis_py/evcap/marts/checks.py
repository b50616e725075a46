"""Checks that what a user asked for exists in the marts (transformers, grids,
window and charger-type names), with messages that list what does.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from evcap.errors import ConfigError, UnknownTransformerError
from evcap.marts.common import _FILTER, _filter_params, _relation, _run


def check_transformers(
    conn: psycopg.Connection,
    *,
    transformers: Sequence[str] | None,
    grid_id: str | None = None,
    schema: str = "evcap",
) -> None:
    """Raise when a transformer id (or the grid) is not in ``dim_transformers``.

    Raises
    ------
    UnknownTransformerError
        Naming the ids that do not exist.
    SchemaError
        When ``dim_transformers`` is missing.
    """
    query = sql.SQL("select distinct transformer_id from {} where {}").format(
        _relation(schema, "dim_transformers"), _FILTER
    )
    found = _run(conn, query, _filter_params(transformers, grid_id))
    known = set(found["transformer_id"].astype(str)) if not found.empty else set()
    if transformers is None:
        if not known and grid_id is not None:
            raise UnknownTransformerError(
                f"grid {grid_id!r} has no transformers in {schema}.dim_transformers"
            )
        return
    unknown = [t for t in transformers if t not in known]
    if unknown:
        where = f" in grid {grid_id!r}" if grid_id else ""
        raise UnknownTransformerError(
            f"unknown transformer(s){where}: {', '.join(unknown)}; "
            f"see {schema}.dim_transformers for the ids"
        )


_NAME_LABELS = {"window_name": "charging window", "charger_type": "charger type"}


def check_known_name(
    conn: psycopg.Connection, *, name: str, mart: str, column: str, schema: str
) -> None:
    """Raise :class:`ConfigError` unless ``name`` is a value of ``mart.column``.

    ``column`` is ``window_name`` or ``charger_type``; the message lists the
    known values.
    """
    known = _run(
        conn,
        sql.SQL("select distinct {c} from {t} order by {c}").format(
            c=sql.Identifier(column), t=_relation(schema, mart)
        ),
        None,
    )
    names = [str(v) for v in known[column]] if not known.empty else []
    if name not in names:
        raise ConfigError(
            f"unknown {_NAME_LABELS[column]} {name!r}; known: "
            f"{', '.join(names) or 'none (build the marts)'}"
        )
