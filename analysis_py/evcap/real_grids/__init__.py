"""Real public distribution grids in the EDM stand-in (``evcap demo-data --from``).

:func:`build_real_grid` turns a SimBench grid or a ``pandapower.networks``
network (:mod:`evcap.real_grids.sources`) into EDM rows
(:mod:`evcap.real_grids.network_to_edm`) and meter readings;
:func:`load_real_grid` writes them into an evcap EDM stand-in with the same
binary ``COPY`` path as the synthetic generator.

Readings: every meter has a ``CONSUMER`` source (import register) and, when
it carries a generator or its load is ever negative, a ``PRODUCER`` source
(export register), in kWh per 15 minutes. With L the summed load and P the
summed generation of the meter (kW): consumer = max(L, 0) + max(-P, 0),
producer = max(P, 0) + max(-L, 0), so consumer - producer = L - P exactly and
no reading is negative. A meter that only carries generators has a consumer
source only when its generation is ever negative.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg

from evcap.demo.loader import LoadSummary, check_standin, write_grids
from evcap.demo.readings import Readings
from evcap.demo.spec import PG_EPOCH, SOURCE_COLUMNS, US_PER_S
from evcap.real_grids.network_to_edm import EdmNetwork, network_to_edm, voltage_level
from evcap.real_grids.sources import (
    NetworkSource,
    Profiles,
    load_network,
    parse_source,
    profiles_for,
)

__all__ = [
    "DEFAULT_DAYS",
    "EdmNetwork",
    "NetworkSource",
    "Profiles",
    "RealGrid",
    "build_real_grid",
    "load_real_grid",
    "network_to_edm",
    "parse_source",
    "readings_frame",
    "voltage_level",
]

DEFAULT_DAYS = 7
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://evcap.invalid/real-grids")
_RECEIVED_DELAY_S = 300
_ROWS_PER_CHUNK = 500_000


@dataclass(frozen=True)
class RealGrid:
    """A real network converted to EDM rows, with its readings.

    Attributes
    ----------
    source : NetworkSource
        Where it came from.
    grid_id : str
        Its EDM grid id.
    net : pandapower.pandapowerNet
        The original network (tests compute their expectation from it).
    edm : EdmNetwork
        Element rows and the load/generator → meter assignment.
    profiles : Profiles
        Absolute kW of every load and generator by interval.
    data_sources : pandas.DataFrame
        Rows of EDM ``grid_element_data_source``.
    consumer_kw, producer_kw : pandas.DataFrame
        Average kW by interval (rows) and meter (columns), of the meters that
        have such a source.
    timezone : str
        Local time zone of the profiles (pass it to dbt as ``local_timezone``).
    """

    source: NetworkSource
    grid_id: str
    net: Any
    edm: EdmNetwork
    profiles: Profiles
    data_sources: pd.DataFrame
    consumer_kw: pd.DataFrame
    producer_kw: pd.DataFrame
    timezone: str

    @property
    def n_readings(self) -> int:
        """Readings :func:`load_real_grid` writes."""
        return len(self.profiles.interval_start) * (
            self.consumer_kw.shape[1] + self.producer_kw.shape[1]
        )


def _sum_by_meter(
    values: pd.DataFrame, assignment: pd.DataFrame, meters: list[str]
) -> npt.NDArray[np.float64]:
    """kW by interval (rows) and meter (columns, in ``meters`` order)."""
    out = np.zeros((len(meters), len(values)))
    if assignment.empty:
        return out.T
    position = {m: i for i, m in enumerate(meters)}
    labels = [
        f"{t} {i}"
        for t, i in zip(assignment["table"], assignment["index"], strict=True)
    ]
    rows = np.array([position[m] for m in assignment["meter_id"]], dtype=np.int64)
    np.add.at(out, rows, values[labels].to_numpy(np.float64).T)
    return out.T


def build_real_grid(
    source: str | NetworkSource,
    *,
    days: int = DEFAULT_DAYS,
    start: dt.date | None = None,
    grid_id: str | None = None,
    seed: int = 42,
    net: Any = None,
) -> RealGrid:
    """Convert a real network and its profiles to EDM rows and readings.

    Parameters
    ----------
    source : str or NetworkSource
        ``simbench:<code>`` or ``pandapower:<name>``.
    days : int
        Local days of 15-minute readings (default 7).
    start : datetime.date, optional
        First local day (default: the profiles' first day, 2016-01-01 for
        SimBench, 2024-01-01 for generated shapes).
    grid_id : str, optional
        EDM grid id (default ``<kind>-<name>``).
    seed : int
        Seed of generated shapes (networks without profiles).
    net : pandapowerNet, optional
        The network, when already loaded (else loaded from ``source``).

    Raises
    ------
    ConfigError
        For an unknown source, a missing package, a period outside the
        profiles, or a network without external grid or loads.
    """
    src = parse_source(source) if isinstance(source, str) else source
    if net is None:
        net = load_network(src)
    gid = grid_id or src.default_grid_id
    first_day = start or src.default_start
    profiles = profiles_for(src, net, first_day, days, seed)
    profile_of_load = (
        net["load"]["profile"]
        if src.kind == "simbench" and "profile" in net["load"].columns
        else None
    )
    edm = network_to_edm(net, gid, profile_of_load=profile_of_load)
    meters = edm.meters["meter_id"].tolist()
    load = _sum_by_meter(profiles.load_kw, edm.load_meters, meters)
    gen = _sum_by_meter(profiles.sgen_kw, edm.sgen_meters, meters)
    consumer_all = np.maximum(load, 0.0) + np.maximum(-gen, 0.0)
    producer_all = np.maximum(gen, 0.0) + np.maximum(-load, 0.0)
    has_load = set(edm.load_meters["meter_id"])
    has_gen = set(edm.sgen_meters["meter_id"])
    gen_negative: npt.NDArray[np.bool_] = np.asarray((gen < 0).any(axis=0))
    load_negative: npt.NDArray[np.bool_] = np.asarray((load < 0).any(axis=0))
    take_consumer = [
        i for i, m in enumerate(meters) if m in has_load or gen_negative[i]
    ]
    take_producer = [
        i for i, m in enumerate(meters) if m in has_gen or load_negative[i]
    ]
    consumer_meters = [meters[i] for i in take_consumer]
    producer_meters = [meters[i] for i in take_producer]
    consumer = pd.DataFrame(consumer_all[:, take_consumer], columns=consumer_meters)
    producer = pd.DataFrame(producer_all[:, take_producer], columns=producer_meters)
    start_utc = profiles.interval_start[0].to_pydatetime()
    valid = f"[{start_utc.isoformat(sep=' ')},)"
    phases = dict(zip(edm.meters["meter_id"], edm.meters["phases"], strict=True))
    rows = []
    for kind, ids, provider, direction, suffix in (
        ("CONSUMER", consumer_meters, "ami-import", "delivered", "IMP"),
        ("PRODUCER", producer_meters, "ami-export", "received", "EXP"),
    ):
        for meter in ids:
            rows.append(
                {
                    "grid_element_data_source_id": str(
                        uuid.uuid5(_UUID_NAMESPACE, f"{gid}/{meter}/{kind}")
                    ),
                    "grid_id": gid,
                    "grid_element_id": meter,
                    "type": kind,
                    "provider": provider,
                    "direction": direction,
                    "friendly_id": f"{meter}-{suffix}",
                    "phases": phases[meter],
                    "metrics": ["kWh"],
                    "valid": valid,
                }
            )
    return RealGrid(
        source=src,
        grid_id=gid,
        net=net,
        edm=edm,
        profiles=profiles,
        data_sources=pd.DataFrame(rows, columns=SOURCE_COLUMNS),
        consumer_kw=consumer,
        producer_kw=producer,
        timezone=src.timezone,
    )


def _kwh_by_source(grid: RealGrid) -> npt.NDArray[np.float64]:
    """kWh per interval, one row per data source (in data_sources order)."""
    hours = grid.profiles.period_s / 3600.0
    kwh: npt.NDArray[np.float64] = (
        np.concatenate(
            [
                grid.consumer_kw.to_numpy(np.float64).T,
                grid.producer_kw.to_numpy(np.float64).T,
            ]
        )
        * hours
    )
    return kwh


def readings_frame(grid: RealGrid) -> pd.DataFrame:
    """Every reading of ``grid`` (data_source_id, ts UTC, value kWh, period_s)."""
    kwh = _kwh_by_source(grid)
    n_t = kwh.shape[1]
    ids = grid.data_sources["grid_element_data_source_id"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "data_source_id": np.repeat(ids, n_t),
            "ts": np.tile(grid.profiles.interval_start, len(ids)),
            "value": kwh.ravel(),
            "period_s": grid.profiles.period_s,
        }
    )


def _reading_chunks(grid: RealGrid, kwh: npt.NDArray[np.float64]) -> Iterator[Readings]:
    """Readings of every source, about half a million rows at a time."""
    n_sources, n_t = kwh.shape
    start = grid.profiles.interval_start[0].to_pydatetime()
    start_us = int((start - PG_EPOCH).total_seconds()) * US_PER_S
    period_us = grid.profiles.period_s * US_PER_S
    ts_us = start_us + np.arange(n_t, dtype=np.int64) * period_us
    received_us = ts_us + period_us + _RECEIVED_DELAY_S * US_PER_S
    per_chunk = max(1, _ROWS_PER_CHUNK // max(1, n_t))
    for lo in range(0, n_sources, per_chunk):
        hi = min(n_sources, lo + per_chunk)
        yield Readings(
            source=np.repeat(np.arange(lo, hi, dtype=np.int64), n_t),
            ts_us=np.tile(ts_us, hi - lo),
            value=kwh[lo:hi].ravel(),
            received_us=np.tile(received_us, hi - lo),
        )


def load_real_grid(
    conn: psycopg.Connection,
    grid: RealGrid,
    schema: str = "edm",
    *,
    progress: bool = True,
) -> LoadSummary:
    """Write ``grid`` into an evcap EDM stand-in (replacing a grid of that id).

    One transaction, committed on success; the same ``COPY`` path as the
    synthetic grids (:func:`evcap.demo.loader.write_grids`).

    Raises
    ------
    SchemaError
        When ``schema`` is not an evcap stand-in (a real EDM is never written).
    """
    started = time.perf_counter()
    check_standin(conn, schema)
    kwh = _kwh_by_source(grid)
    grid_row = pd.DataFrame(
        [
            {
                "grid_id": grid.grid_id,
                "description": f"{grid.source} (local time {grid.timezone})",
                "last_updated": dt.datetime.now(dt.UTC),
            }
        ]
    )
    elements = grid.edm.elements.copy()
    elements["geometry"] = elements["geometry"].astype(object)
    written = write_grids(
        conn,
        schema,
        grids=grid_row,
        elements=elements,
        data_sources=grid.data_sources,
        readings=_reading_chunks(grid, kwh),
        n_readings=kwh.size,
        period_s=grid.profiles.period_s,
        progress=progress,
    )
    return LoadSummary(
        schema=schema,
        grid_ids=(grid.grid_id,),
        elements=len(grid.edm.elements),
        data_sources=len(grid.data_sources),
        readings=written,
        seconds=time.perf_counter() - started,
    )
