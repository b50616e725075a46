"""Write grids into an evcap EDM stand-in with ``COPY``.

:func:`write_grids` is the one loader of the project: the synthetic grids
(:func:`load_grid`) and the real public grids
(:func:`evcap.real_grids.load_real_grid`) both go through it. Elements and
data sources travel as large text ``COPY`` batches; readings as binary
``COPY`` from a writer thread, so PostgreSQL ingests one chunk while Python
generates the next; the readings index is dropped and rebuilt around a big
load.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from tqdm import tqdm

from evcap.demo.grid import build_grid
from evcap.demo.readings import Readings, iter_readings
from evcap.demo.spec import DemoGrid, GridSpec, uuid_bytes
from evcap.edm_standin import MARKER_TABLE, _schema_state, is_citus
from evcap.errors import SchemaError

__all__ = ["LoadSummary", "check_standin", "copy_frame", "load_grid", "write_grids"]

#: Drop and recreate the readings index around COPY from this many new rows.
REBUILD_INDEX_MIN_ROWS = 500_000
#: Drop and re-add the element tables' foreign keys from this many elements.
REBUILD_FOREIGN_KEYS_MIN_ROWS = 20_000
_TEXT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class LoadSummary:
    """What :func:`load_grid` wrote.

    Attributes
    ----------
    schema : str
        The stand-in schema written to.
    grid_ids : tuple of str
        Grids (re)loaded.
    elements, data_sources, readings : int
        Rows written.
    seconds : float
        Wall time of the load (s).
    """

    schema: str
    grid_ids: tuple[str, ...]
    elements: int
    data_sources: int
    readings: int
    seconds: float

    def __str__(self) -> str:
        rate = self.readings / self.seconds if self.seconds > 0 else 0.0
        return (
            f"loaded {', '.join(self.grid_ids)} into schema {self.schema!r}: "
            f"{self.elements:,} elements, {self.data_sources:,} data sources, "
            f"{self.readings:,} readings in {self.seconds:.1f} s "
            f"({rate:,.0f} readings/s)"
        )


_READING_DTYPE = np.dtype(
    [
        ("nfields", ">i2"),
        ("l_id", ">i4"),
        ("id", "V16"),
        ("l_metric", ">i4"),
        ("metric", "S3"),
        ("l_ts", ">i4"),
        ("ts", ">i8"),
        ("l_value", ">i4"),
        ("value", ">f8"),
        ("l_period", ">i4"),
        ("period", ">i4"),
        ("l_received", ">i4"),
        ("received", ">i8"),
    ]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_COPY_TRAILER = b"\xff\xff"
_CONSTANT_FIELDS = np.zeros(1, dtype=_READING_DTYPE)
for _name, _value in (
    ("nfields", 6),
    ("l_id", 16),
    ("l_metric", 3),
    ("metric", b"kWh"),
    ("l_ts", 8),
    ("l_value", 8),
    ("l_period", 4),
    ("l_received", 8),
):
    _CONSTANT_FIELDS[_name] = _value


def binary_rows(r: Readings, ids: npt.NDArray[np.void], period_s: int) -> bytes:
    """Readings as rows of a binary ``COPY`` (without header and trailer)."""
    rows = np.repeat(_CONSTANT_FIELDS, len(r.source))
    rows["id"] = ids[r.source]
    rows["ts"] = r.ts_us
    rows["value"] = r.value
    rows["period"] = period_s
    rows["received"] = r.received_us
    return rows.tobytes()


def check_standin(conn: psycopg.Connection, schema: str) -> None:
    """Refuse any schema that is not an installed evcap EDM stand-in."""
    state = _schema_state(conn, schema)
    if state in ("absent", "empty"):
        raise SchemaError(
            f"schema {schema!r} holds no EDM stand-in: run "
            f"`evcap edm install --edm-schema {schema}` first."
        )
    if state == "foreign":
        raise SchemaError(
            f"schema {schema!r} is not an evcap EDM stand-in (no {MARKER_TABLE} "
            "table; a real Awesense EDM?). evcap never writes demo data into a "
            "real EDM: install a stand-in in another schema with "
            "`evcap edm install --edm-schema <name>`."
        )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_BOOL_TEXT = {True: "t", False: "f", None: _NULL}


def _text_value(v: object) -> str:
    """One value in ``COPY`` text format (escaped)."""
    if v is None or v is pd.NaT:
        return _NULL
    if isinstance(v, bool | np.bool_):
        return "t" if v else "f"
    if isinstance(v, float | np.floating):
        return _NULL if math.isnan(v) else repr(float(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, dict):
        return json.dumps(v).translate(_ESCAPES)
    if isinstance(v, list | tuple):
        items = (
            '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in v
        )
        return ("{" + ",".join(items) + "}").translate(_ESCAPES)
    if isinstance(v, dt.datetime | pd.Timestamp):
        return v.isoformat()
    return str(v).translate(_ESCAPES)


def _text_column(values: pd.Series) -> list[str]:
    """A column in ``COPY`` text format, with fast paths for plain columns."""
    if values.dtype == bool:
        return ["t" if x else "f" for x in values.tolist()]
    if pd.api.types.is_integer_dtype(values.dtype):
        return [str(x) for x in values.tolist()]
    items = values.tolist()
    kinds = set(map(type, items))
    if kinds <= {str, type(None)}:
        joined = "".join([x for x in items if x is not None])
        if any(ch in joined for ch in "\\\t\n\r"):
            return [_NULL if x is None else x.translate(_ESCAPES) for x in items]
        return [_NULL if x is None else x for x in items]
    if kinds <= {bool, type(None)}:
        return [_BOOL_TEXT[x] for x in items]
    if kinds <= {dict}:
        encode = json.JSONEncoder().encode
        text = [encode(x) for x in items]
        if "\\" in "".join(text):  # an escaped quote or control character
            return [x.translate(_ESCAPES) for x in text]
        return text
    return [_text_value(x) for x in items]


def copy_frame(
    conn: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame
) -> None:
    """``COPY`` the rows of ``frame`` (columns named as the table's) in large batches."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("copy {}.{} ({}) from stdin").format(
        sql.Identifier(schema), sql.Identifier(table), columns
    )
    cursor = conn.cursor()
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for lo in range(0, len(frame), _TEXT_BATCH_ROWS):
            part = frame.iloc[lo : lo + _TEXT_BATCH_ROWS]
            cols = [_text_column(part[c]) for c in part.columns]
            copy.write(
                "".join(["\t".join(row) + "\n" for row in zip(*cols, strict=True)])
            )


def write_grids(
    conn: psycopg.Connection,
    schema: str,
    *,
    grids: pd.DataFrame,
    elements: pd.DataFrame,
    data_sources: pd.DataFrame,
    readings: Iterable[Readings],
    n_readings: int,
    period_s: int,
    progress: bool = True,
) -> int:
    """Replace the grids in ``grids`` in the stand-in ``schema``; return readings written.

    Grids already present with the same ids lose their readings, data sources
    and elements first. One transaction, committed on success. ``elements``
    holds EDM ``grid_element`` columns (``meta`` dicts, ``geometry`` WKT or
    None); ``readings`` index rows of ``data_sources``.

    Raises
    ------
    SchemaError
        When ``schema`` is not an evcap stand-in (a real EDM is never written).
    """
    check_standin(conn, schema)
    ident = sql.Identifier(schema)
    grid_ids = [str(g) for g in grids["grid_id"]]
    geometry_type = conn.execute(
        "select format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = %s::regclass and a.attname = 'geometry'",
        (f"{ident.as_string(conn)}.grid_element",),
    ).fetchone()
    postgis = bool(geometry_type and str(geometry_type[0]).startswith("geometry"))
    ids = uuid_bytes(data_sources["grid_element_data_source_id"])
    written = 0
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "delete from {s}.ts_data_source_reading as r using"
                " {s}.grid_element_data_source as ds"
                " where r.data_source_id = ds.grid_element_data_source_id"
                " and ds.grid_id = any(%s)"
            ).format(s=ident),
            (grid_ids,),
        )
        for table in ("grid_element_data_source", "grid_element", "grid"):
            conn.execute(
                sql.SQL("delete from {}.{} where grid_id = any(%s)").format(
                    ident, sql.Identifier(table)
                ),
                (grid_ids,),
            )
        # Row-by-row foreign-key checks cost more than the rows: for a big
        # load the stand-in's foreign keys are dropped and re-added (checked
        # once, by one join), as the readings index is rebuilt.
        foreign_keys = (
            _drop_foreign_keys(conn, schema)
            if len(elements) >= REBUILD_FOREIGN_KEYS_MIN_ROWS and not is_citus(conn)
            else []
        )
        copy_frame(conn, schema, "grid", grids)
        if postgis:
            ewkt = [
                None if not isinstance(g, str) else f"SRID=4326;{g}"
                for g in elements["geometry"]
            ]
            elements = elements.assign(
                geometry=pd.Series(ewkt, index=elements.index, dtype=object)
            )
        copy_frame(conn, schema, "grid_element", elements)
        copy_frame(conn, schema, "grid_element_data_source", data_sources)
        row = conn.execute(
            "select coalesce(reltuples, 0) from pg_class where oid = %s::regclass",
            (f"{ident.as_string(conn)}.ts_data_source_reading",),
        ).fetchone()
        existing = float(row[0]) if row else 0.0
        rebuild_index = n_readings >= max(REBUILD_INDEX_MIN_ROWS, existing)
        if rebuild_index:
            conn.execute(
                sql.SQL("drop index if exists {}.ts_data_source_reading_lookup").format(
                    ident
                )
            )
        bar = tqdm(
            total=n_readings,
            unit=" rows",
            unit_scale=True,
            desc="readings",
            disable=not (progress and sys.stderr.isatty()),
        )
        cursor = conn.cursor()
        statement = sql.SQL(
            "copy {}.ts_data_source_reading (data_source_id, metric, ts,"
            " value, period_s, received_at) from stdin (format binary)"
        ).format(ident)
        with bar, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
            copy.write(_COPY_SIGNATURE)
            for r in readings:
                copy.write(binary_rows(r, ids, period_s))
                written += len(r.source)
                bar.update(len(r.source))
            copy.write(_COPY_TRAILER)
        if rebuild_index:
            conn.execute("set local maintenance_work_mem = '512MB'")
            conn.execute(
                sql.SQL(
                    "create index if not exists ts_data_source_reading_lookup"
                    " on {}.ts_data_source_reading (data_source_id, metric, ts)"
                ).format(ident)
            )
        for table, name, definition in foreign_keys:
            conn.execute(
                sql.SQL("alter table {}.{} add constraint {} ").format(
                    ident, sql.Identifier(table), sql.Identifier(name)
                )
                + sql.SQL(definition)
            )
        for table in (
            "grid",
            "grid_element",
            "grid_element_data_source",
            "ts_data_source_reading",
        ):
            conn.execute(sql.SQL("analyze {}.{}").format(ident, sql.Identifier(table)))
    conn.commit()
    return written


def _drop_foreign_keys(
    conn: psycopg.Connection, schema: str
) -> list[tuple[str, str, str]]:
    """Drop the foreign keys of the stand-in's element tables; return them."""
    rows = conn.execute(
        "select c.relname, k.conname, pg_get_constraintdef(k.oid)"
        " from pg_constraint k join pg_class c on c.oid = k.conrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where k.contype = 'f' and n.nspname = %s"
        " and c.relname in ('grid_element', 'grid_element_data_source')"
        " order by c.relname, k.conname",
        (schema,),
    ).fetchall()
    for table, name, _ in rows:
        conn.execute(
            sql.SQL("alter table {}.{} drop constraint {}").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(name)
            )
        )
    return [(str(t), str(n), str(d)) for t, n, d in rows]


def load_grid(
    conn: psycopg.Connection,
    grid: GridSpec | DemoGrid,
    schema: str = "edm",
    *,
    progress: bool = True,
    chunk_meters: int | None = None,
) -> LoadSummary:
    """Write a synthetic grid into an evcap EDM stand-in with ``COPY``.

    Grids already present with the same ids are replaced (their readings,
    data sources and elements deleted first), so re-running is idempotent.
    Everything happens in one transaction, committed on success.

    Parameters
    ----------
    conn : psycopg.Connection
        Open connection.
    grid : GridSpec or DemoGrid
        What to load; a spec is built with :func:`~evcap.demo.build_grid` first.
    schema : str
        Schema holding the stand-in (``evcap edm install``).
    progress : bool
        Show a tqdm progress bar on stderr (only when it is a terminal).
    chunk_meters : int, optional
        Meters simulated per chunk (bounds memory).

    Returns
    -------
    LoadSummary

    Raises
    ------
    SchemaError
        When ``schema`` does not exist, is empty, or is not an evcap stand-in
        (a real EDM is never written).
    """
    started = time.perf_counter()
    check_standin(conn, schema)
    if isinstance(grid, GridSpec):
        grid = build_grid(grid)
    written = write_grids(
        conn,
        schema,
        grids=grid.grids,
        elements=grid.elements,
        data_sources=grid.data_sources,
        readings=iter_readings(grid, chunk_meters),
        n_readings=grid.n_readings,
        period_s=grid.spec.period_s,
        progress=progress,
    )
    return LoadSummary(
        schema=schema,
        grid_ids=grid.spec.grid_ids,
        elements=len(grid.elements),
        data_sources=len(grid.data_sources),
        readings=written,
        seconds=time.perf_counter() - started,
    )
