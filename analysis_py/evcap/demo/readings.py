"""Meter readings of a built grid, generated a chunk of meters at a time.

A year of 15-min data for thousands of meters never sits in memory. Rows
come in (data source, ts) order, which is the order of the source ids and of
the stand-in's readings index; an injected duplicate or late correction
follows the row it repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evcap.demo.profiles import simulate, time_axis
from evcap.demo.spec import (
    LATE_CORRECTION_DELAY_US,
    READING_COLUMNS,
    US_PER_S,
    DemoGrid,
    FloatArray,
    GridSpec,
    IntArray,
    default_chunk,
)
from evcap.errors import ConfigError

__all__ = ["Readings", "iter_reading_chunks", "iter_readings", "readings_frame"]


@dataclass(frozen=True)
class Readings:
    """A chunk of readings as arrays (what the binary ``COPY`` writes)."""

    source: IntArray  # row index into the data sources
    ts_us: IntArray  # interval start, microseconds since 2000-01-01 UTC
    value: FloatArray  # kWh
    received_us: IntArray


def _edits(grid: DemoGrid) -> dict[int, list[tuple[str, int, int, float]]]:
    """Reading defects by source row: (kind, first index, last index, value)."""
    if grid.defects.empty:
        return {}
    ids = grid.data_sources["grid_element_data_source_id"]
    src_row = dict(zip(ids, range(len(ids)), strict=True))
    start = pd.Timestamp(grid.spec.start_utc)
    step = grid.spec.period_s
    out: dict[int, list[tuple[str, int, int, float]]] = {}
    kinds = ("reading_gap", "duplicate_exact", "late_correction", "negative_reading")
    rows = grid.defects[grid.defects["kind"].isin(kinds)]
    first = ((rows["ts_start"] - start).dt.total_seconds() // step).astype(int)
    last = ((rows["ts_end"] - start).dt.total_seconds() // step).astype(int)
    for kind, sid, lo, hi, value in zip(
        rows["kind"], rows["data_source_id"], first, last, rows["value"], strict=True
    ):
        out.setdefault(src_row[str(sid)], []).append(
            (str(kind), int(lo), int(hi), float(value))
        )
    return out


def _received_us(start_us: int, period_us: int, src: IntArray, t: IntArray) -> IntArray:
    """Received shortly after the interval end: 1-30 min, deterministic."""
    delay_s = 60 + (src * 7919 + t * 104729) % 1740
    return np.asarray(start_us + (t + 1) * period_us + delay_s * US_PER_S)


def iter_readings(
    grid: DemoGrid, chunk_meters: int | None = None
) -> Iterator[Readings]:
    """Readings of ``grid`` as arrays, ``chunk_meters`` meters at a time."""
    spec = grid.spec
    chunk = default_chunk(spec) if chunk_meters is None else chunk_meters
    if chunk < 1:
        raise ConfigError(f"chunk_meters must be >= 1, got {chunk}")
    axis = time_axis(spec)
    edits = _edits(grid)
    t_len = axis.n
    period_us = spec.period_s * US_PER_S
    t_idx = np.arange(t_len, dtype=np.int64)
    # Source rows are in (grid, meter, kind) order: a meter's consumer source,
    # then its producer source if any.
    ds = grid.data_sources
    source_row = np.arange(len(ds), dtype=np.int64)
    for gi, grid_id in enumerate(spec.grid_ids):
        gm = grid.meters[grid.meters["grid_id"] == grid_id]
        g_rows = source_row[(ds["grid_id"] == grid_id).to_numpy()]
        g_producer = (ds["type"] == "PRODUCER").to_numpy()[g_rows]
        meter_of_row = np.cumsum(~g_producer) - 1  # meter position of each row
        for lo in range(0, len(gm), chunk):
            rows = gm.iloc[lo : lo + chunk]
            block = simulate(spec, axis, rows, gi)
            in_chunk = (meter_of_row >= lo) & (meter_of_row < lo + len(rows))
            sources = g_rows[in_chunk]
            producer = g_producer[in_chunk]
            values = np.empty((len(sources), t_len))
            values[~producer] = block.consumer_kwh
            values[producer] = block.producer_kwh
            yield _apply_edits(
                sources, values.ravel(), t_idx, axis.start_us, period_us, edits
            )


def _apply_edits(
    sources: IntArray,
    values: FloatArray,
    t_idx: IntArray,
    start_us: int,
    period_us: int,
    edits: dict[int, list[tuple[str, int, int, float]]],
) -> Readings:
    t_len = len(t_idx)
    src = np.repeat(sources, t_len)
    tt = np.tile(t_idx, len(sources))
    received = _received_us(start_us, period_us, src, tt)
    keep = np.ones(len(src), dtype=bool)
    extra: list[tuple[int, int, float, int]] = []  # after flat index
    for pos in np.flatnonzero(np.isin(sources, list(edits))).tolist():
        s = int(sources[pos])
        base = pos * t_len
        for kind, first, last, value in edits[s]:
            at = base + first
            if kind == "reading_gap":
                keep[at : base + last + 1] = False
            elif kind == "duplicate_exact":
                extra.append((at, s, float(values[at]), int(received[at])))
            elif kind == "late_correction":
                truth = float(values[at])
                values[at] = value
                late = int(received[at]) + LATE_CORRECTION_DELAY_US
                extra.append((at, s, truth, late))
            elif kind == "negative_reading":
                values[at] = value
    out_src, out_t = src[keep], tt[keep]
    out_val, out_recv = values[keep], received[keep]
    if extra:
        extra.sort()
        after = np.cumsum(keep)[[e[0] for e in extra]]  # insert after the original
        out_src = np.insert(out_src, after, [e[1] for e in extra])
        out_t = np.insert(out_t, after, tt[[e[0] for e in extra]])
        out_val = np.insert(out_val, after, [e[2] for e in extra])
        out_recv = np.insert(out_recv, after, [e[3] for e in extra])
    return Readings(
        source=out_src,
        ts_us=start_us + out_t * period_us,
        value=out_val,
        received_us=out_recv,
    )


def _check_spec(grid: DemoGrid, spec: GridSpec | None) -> None:
    if spec is not None and spec != grid.spec:
        raise ConfigError(
            "spec differs from the spec the grid was built from; pass grid.spec "
            "or rebuild the grid with build_grid(spec)"
        )


def _us_to_utc(us: IntArray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.to_datetime(us, unit="us", origin=pd.Timestamp("2000-01-01"), utc=True)
    )


def iter_reading_chunks(
    grid: DemoGrid, spec: GridSpec | None = None, *, chunk_meters: int | None = None
) -> Iterator[pd.DataFrame]:
    """Yield the grid's readings, a chunk of meters at a time.

    Parameters
    ----------
    grid : DemoGrid
        From :func:`~evcap.demo.build_grid`.
    spec : GridSpec, optional
        Must equal ``grid.spec`` when given.
    chunk_meters : int, optional
        Meters per chunk (default: about half a million rows per chunk). The
        readings do not depend on it.

    Yields
    ------
    pandas.DataFrame
        Columns data_source_id (str uuid), metric ('kWh'), ts (interval start,
        UTC), value (kWh in the interval), period_s (s), received_at (UTC).
        Rows in (data source, ts) order; an injected duplicate or late
        correction right after the row it repeats.

    Raises
    ------
    ConfigError
        When ``spec`` is not ``grid.spec`` or ``chunk_meters`` < 1.
    """
    _check_spec(grid, spec)
    ids = grid.data_sources["grid_element_data_source_id"].to_numpy(dtype=object)
    for r in iter_readings(grid, chunk_meters):
        yield pd.DataFrame(
            {
                "data_source_id": ids[r.source],
                "metric": "kWh",
                "ts": _us_to_utc(r.ts_us),
                "value": r.value,
                "period_s": np.full(len(r.source), grid.spec.period_s, np.int32),
                "received_at": _us_to_utc(r.received_us),
            },
            columns=READING_COLUMNS,
        )


def readings_frame(grid: DemoGrid, spec: GridSpec | None = None) -> pd.DataFrame:
    """All readings of ``grid`` in one DataFrame (small grids: tests, examples).

    Same columns as :func:`iter_reading_chunks`.
    """
    frames = list(iter_reading_chunks(grid, spec))
    if not frames:
        return pd.DataFrame(columns=READING_COLUMNS)
    return pd.concat(frames, ignore_index=True)
