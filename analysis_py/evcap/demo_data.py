"""Synthetic distribution grids in the shape of the Awesense EDM.

Every test and benchmark of evcap runs on these grids, so they look like a real
distribution network (DESIGN.md §1) and are fully deterministic from a seed:

* topology: one ``Substation`` per grid feeding HV/MV substation transformers
  (tens of MVA) → busbar → feeder breakers → ``ACLineSegment``/``Switch``
  chains → MV/LV distribution transformers (10-750 kVA) → service lines →
  meters. One feeder of a larger grid carries an MV/MV step-down transformer
  feeding its own sub-feeder, and one large 600 V pad-mount feeds commercial
  meters directly *and* two child 'LV/LV' transformers (600 V → 208 V);
* transformer ``meta`` with the keys and the mess of real data (numbers and
  JSON strings mixed, ``parent_transformer_id`` on some grids, sometimes wrong);
* meters with residential or commercial load shapes in local time (morning and
  evening peaks, electric heating in winter, some cooling in summer, business
  hours, weekends, noise, a few home EV chargers), about a fifth of the houses
  with rooftop PV as a ``PRODUCER`` data source;
* ratings sized from each transformer's own simulated coincident peak so that
  some transformers are nearly full and others have plenty of headroom.

Readings are generated lazily, a chunk of meters at a time (vectorised numpy),
so a year of 15-min data for thousands of meters never sits in memory.

Ids repeat across grids (both ``demo-north`` and ``demo-south`` have
``TX-0001``): real element ids are unique only within a grid.

The default demo year (local dates 2024-01-01 .. 2024-12-31 in
America/Vancouver) crosses both DST changes, 2024-03-10 (a 23-hour local day)
and 2024-11-03 (a 25-hour local day); readings are equally spaced in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from tqdm import tqdm

from evcap.edm_standin import MARKER_TABLE, _schema_state
from evcap.errors import ConfigError, SchemaError

__all__ = [
    "DISTRIBUTION_KVA_SIZES",
    "DemoGrid",
    "GridSpec",
    "LoadSummary",
    "build_grid",
    "grid_ids_for",
    "iter_reading_chunks",
    "load_grid",
    "readings_frame",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Standard MV/LV distribution transformer sizes (kVA).
DISTRIBUTION_KVA_SIZES: tuple[float, ...] = (
    10,
    15,
    25,
    37.5,
    50,
    75,
    100,
    167,
    250,
    300,
    500,
    750,
)
_POLE_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if s <= 167)
_PAD_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if s >= 50)
_LVLV_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if 15 <= s <= 300)
_MVMV_KVA: tuple[float, ...] = (1000, 1500, 2000, 2500, 3000, 5000, 7500)
_HVMV_KVA: tuple[float, ...] = (10000, 15000, 20000, 25000, 30000, 40000, 50000)
_KVA_WORDS = {
    10: "ten",
    15: "fifteen",
    25: "twenty-five",
    37.5: "thirty-seven and a half",
    50: "fifty",
    75: "seventy-five",
    100: "one hundred",
    167: "one-sixty-seven",
    250: "two fifty",
    300: "three hundred",
    500: "five hundred",
    750: "seven fifty",
}

#: Power factor used to size ratings (the dbt default of ``power_factor``).
SIZING_POWER_FACTOR = 0.98
SUPPORTED_INTERVALS = (60, 15, 5)
_GRID_NAMES = ("north", "south", "east", "west", "central", "harbour", "valley")
# Grid centres near Vancouver (latitude, longitude), one per grid name.
_GRID_CENTRES = (
    (49.300, -123.080),
    (49.200, -123.100),
    (49.250, -122.980),
    (49.255, -123.200),
    (49.255, -123.110),
    (49.290, -123.130),
    (49.180, -122.950),
)
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://evcap.invalid/demo-data")
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_US_PER_S = 1_000_000
_LATE_CORRECTION_DELAY_US = 36 * 3600 * _US_PER_S
_ROWS_PER_CHUNK = 500_000
# Drop and recreate the readings index around COPY from this many new rows.
_REBUILD_INDEX_MIN_ROWS = 500_000
_ELEMENT_COLUMNS = [
    "grid_id",
    "grid_element_id",
    "type",
    "customer_type",
    "phases",
    "is_underground",
    "is_producer",
    "is_consumer",
    "is_switchable",
    "switch_is_open",
    "terminal1_cn",
    "terminal2_cn",
    "power_flow_direction",
    "upstream_grid_element_id",
    "geometry",
    "meta",
]
_SOURCE_COLUMNS = [
    "grid_element_data_source_id",
    "grid_id",
    "grid_element_id",
    "type",
    "provider",
    "direction",
    "friendly_id",
    "phases",
    "metrics",
    "valid",
]
_READING_COLUMNS = [
    "data_source_id",
    "metric",
    "ts",
    "value",
    "period_s",
    "received_at",
]
_DEFECT_COLUMNS = [
    "kind",
    "grid_id",
    "grid_element_id",
    "data_source_id",
    "ts_start",
    "ts_end",
    "value",
    "expected_value",
    "detail",
]


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class GridSpec:
    """What synthetic grid to build.

    Parameters
    ----------
    seed : int
        Non-negative seed; the same spec always gives the same grid and readings.
    meters : int
        Meters per grid (≥ 1; ≥ 16 with ``defects``).
    days : int
        Local days of readings (≥ 1), starting at local midnight of ``start``.
    interval_minutes : int
        Reading interval in minutes: 60, 15 or 5.
    start : datetime.date
        First local day (midnight in ``timezone``; stored as UTC).
    grids : int
        Number of grids (``demo-north``, ``demo-south``, ...), each with
        ``meters`` meters and the same element-id scheme.
    defects : bool
        Inject the defects of real data (see :func:`build_grid`).
    timezone : str
        IANA zone of the local time of load shapes (default America/Vancouver).

    Raises
    ------
    ConfigError
        When a value is out of range or the time zone is unknown.
    """

    seed: int = 42
    meters: int = 80
    days: int = 365
    interval_minutes: int = 60
    start: dt.date = dt.date(2024, 1, 1)
    grids: int = 1
    defects: bool = False
    timezone: str = "America/Vancouver"

    def __post_init__(self) -> None:
        def _int(name: str, value: object, low: int, high: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ConfigError(
                    f"{name} must be between {low} and {high}, got {value}"
                )

        _int("seed", self.seed, 0, 2**63 - 1)
        _int("meters", self.meters, 1, 1_000_000)
        _int("days", self.days, 1, 3660)
        _int("grids", self.grids, 1, 100)
        if (
            type(self.interval_minutes) is not int
            or self.interval_minutes not in SUPPORTED_INTERVALS
        ):
            raise ConfigError(
                f"interval_minutes must be one of 60, 15 or 5, got "
                f"{self.interval_minutes!r}"
            )
        if isinstance(self.start, dt.datetime) or not isinstance(self.start, dt.date):
            raise ConfigError(
                f"start must be a datetime.date (a local day), got {self.start!r}"
            )
        if not isinstance(self.defects, bool):
            raise ConfigError(f"defects must be true or false, got {self.defects!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"unknown time zone {self.timezone!r}: use an IANA name such as "
                "'America/Vancouver'"
            ) from exc
        if self.defects and self.meters < 16:
            raise ConfigError(
                f"defects=True needs at least 16 meters per grid, got {self.meters}"
            )

    @property
    def period_s(self) -> int:
        """Interval length in seconds."""
        return self.interval_minutes * 60

    @property
    def zone(self) -> ZoneInfo:
        """The local time zone."""
        return ZoneInfo(self.timezone)

    @property
    def start_utc(self) -> dt.datetime:
        """Local midnight of ``start`` in UTC (first interval start)."""
        local = dt.datetime.combine(self.start, dt.time(0), tzinfo=self.zone)
        return local.astimezone(dt.UTC)

    @property
    def end_utc(self) -> dt.datetime:
        """Local midnight after the last day, in UTC (exclusive end)."""
        end = self.start + dt.timedelta(days=self.days)
        return dt.datetime.combine(end, dt.time(0), tzinfo=self.zone).astimezone(dt.UTC)

    @property
    def n_intervals(self) -> int:
        """Intervals per data source (23/25-hour local DST days included)."""
        return int((self.end_utc - self.start_utc).total_seconds()) // self.period_s

    @property
    def grid_ids(self) -> tuple[str, ...]:
        """Grid ids, ``demo-north``, ``demo-south``, ..."""
        return grid_ids_for(self.grids)


def grid_ids_for(n: int) -> tuple[str, ...]:
    """Return the ids of the first ``n`` demo grids."""
    ids = []
    for i in range(n):
        name = _GRID_NAMES[i % len(_GRID_NAMES)]
        suffix = "" if i < len(_GRID_NAMES) else f"-{i // len(_GRID_NAMES) + 1}"
        ids.append(f"demo-{name}{suffix}")
    return tuple(ids)


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class DemoGrid:
    """A built synthetic grid; readings come from :func:`iter_reading_chunks`.

    Attributes
    ----------
    spec : GridSpec
        The spec it was built from.
    grids : pandas.DataFrame
        Rows of EDM ``grid``: grid_id, description, last_updated (UTC).
    elements : pandas.DataFrame
        Rows of EDM ``grid_element`` (exactly its columns; ``meta`` a dict,
        ``geometry`` WKT in EPSG:4326).
    data_sources : pandas.DataFrame
        Rows of EDM ``grid_element_data_source`` (uuid as str, ``metrics`` a
        list, ``valid`` a tstzrange literal).
    meters : pandas.DataFrame
        One row per meter: ids, customer type, service transformer
        (``transformer_id``, null for orphans), source ids, PV size (kWp) and
        the load-model parameters.
    transformers : pandas.DataFrame
        One row per transformer with the generator's truth: voltage_level,
        phases, ``rating_kva`` (numeric design rating, even where ``meta`` is
        missing or garbage), ``meta_rating_kva`` (what meta holds),
        ``upstream_transformer_id``, depth, meters_direct, meters_total,
        ``peak_load_kw`` (simulated coincident peak of net load, kW),
        ``peak_utilisation`` (peak_load_kw / (rating_kva * 0.98)), sizing class.
    defects : pandas.DataFrame
        What ``defects=True`` injected, one row per defect: kind, grid_id,
        grid_element_id, data_source_id, ts_start, ts_end (UTC, the affected
        interval starts, inclusive), value, expected_value (kWh), detail.
        Empty without defects.
    """

    spec: GridSpec
    grids: pd.DataFrame
    elements: pd.DataFrame
    data_sources: pd.DataFrame
    meters: pd.DataFrame
    transformers: pd.DataFrame
    defects: pd.DataFrame

    @property
    def n_readings(self) -> int:
        """Number of reading rows :func:`iter_reading_chunks` yields."""
        n = len(self.data_sources) * self.spec.n_intervals
        per_kind = self.defects["kind"].value_counts()
        n += int(per_kind.get("duplicate_exact", 0))
        n += int(per_kind.get("late_correction", 0))
        gaps = self.defects[self.defects["kind"] == "reading_gap"]
        if len(gaps):
            span = (gaps["ts_end"] - gaps["ts_start"]).dt.total_seconds()
            n -= int((span // self.spec.period_s + 1).sum())
        return n


@dataclass
class _Element:
    grid_element_id: str
    type: str
    upstream: str | None
    lat: float
    lon: float
    cn: str
    upstream_cn: str | None
    customer_type: str | None = None
    phases: str | None = None
    is_underground: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    switch_is_open: bool | None = None


@dataclass
class _Transformer:
    tid: str
    voltage_level: str
    phases: str
    primary_v: int
    secondary_v: int
    installation: str
    sizes: tuple[float, ...]
    parent: str | None
    depth: int
    lat: float
    lon: float


@dataclass
class _Meter:
    mid: str
    customer_type: str
    phases: str
    transformer: str | None
    apartment: bool
    pv_kwp: float
    params: dict[str, float]


class _Builder:
    """Builds the topology of one grid."""

    def __init__(self, grid_index: int, rng: np.random.Generator, n_meters: int):
        self.rng = rng
        self.elements: list[_Element] = []
        self.by_id: dict[str, _Element] = {}
        self.transformers: list[_Transformer] = []
        self.meters: list[_Meter] = []
        self.counters: dict[str, int] = {}
        self.meter_width = max(5, len(str(n_meters)))
        lat, lon = _GRID_CENTRES[grid_index % len(_GRID_CENTRES)]
        shift = grid_index // len(_GRID_CENTRES)
        self.centre = (lat + 0.02 * shift, lon + 0.03 * shift)

    def _next_id(self, prefix: str, width: int) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]:0{width}d}"

    def add(
        self,
        prefix: str,
        width: int,
        type_: str,
        upstream: str | None,
        lat: float,
        lon: float,
        **fields: Any,
    ) -> str:
        eid = self._next_id(prefix, width)
        up = self.by_id[upstream] if upstream is not None else None
        el = _Element(
            grid_element_id=eid,
            type=type_,
            upstream=upstream,
            lat=lat,
            lon=lon,
            cn=f"CN-{len(self.elements) + 1:06d}",
            upstream_cn=up.cn if up is not None else None,
            **fields,
        )
        self.elements.append(el)
        self.by_id[eid] = el
        return eid

    def near(self, eid: str, metres: float) -> tuple[float, float]:
        """A point roughly ``metres`` away from element ``eid``."""
        el = self.by_id[eid]
        angle = self.rng.uniform(0, 2 * math.pi)
        dist = metres * self.rng.uniform(0.6, 1.4)
        return _offset(el.lat, el.lon, dist * math.cos(angle), dist * math.sin(angle))

    def line(
        self, upstream: str, metres: float, phases: str, underground: bool, kind: str
    ) -> str:
        lat, lon = self.near(upstream, metres)
        length = _distance_m(self.by_id[upstream], lat, lon)
        return self.add(
            "LN",
            5,
            "ACLineSegment",
            upstream,
            lat,
            lon,
            phases=phases,
            is_underground=underground,
            meta={"length_m": round(length, 1), "line_kind": kind},
        )

    def switch(self, upstream: str, kind: str, phases: str, open_: bool = False) -> str:
        lat, lon = self.near(upstream, 5.0)
        return self.add(
            "SW",
            4,
            "Switch",
            upstream,
            lat,
            lon,
            phases=phases,
            switch_is_open=open_,
            meta={"switch_type": kind, "normal_open": open_},
        )

    def transformer(
        self,
        upstream: str,
        *,
        level: str,
        phases: str,
        primary_v: int,
        secondary_v: int,
        installation: str,
        sizes: tuple[float, ...],
        parent: str | None,
        depth: int,
    ) -> str:
        lat, lon = self.near(upstream, 8.0)
        tid = self.add(
            "TX",
            4,
            "Transformer",
            upstream,
            lat,
            lon,
            phases=phases,
            is_underground=installation == "pad",
        )
        self.transformers.append(
            _Transformer(
                tid,
                level,
                phases,
                primary_v,
                secondary_v,
                installation,
                sizes,
                parent,
                depth,
                lat,
                lon,
            )
        )
        return tid

    def meter(
        self,
        upstream: str,
        transformer: str,
        customer_type: str,
        phases: str,
        apartment: bool,
        underground: bool,
    ) -> str:
        service = self.line(upstream, 25.0, phases, underground, "service")
        lat, lon = self.near(service, 10.0)
        mid = self.add(
            "MTR",
            self.meter_width,
            "Meter",
            service,
            lat,
            lon,
            customer_type=customer_type,
            phases=phases,
            is_underground=underground,
        )
        params, pv = _meter_params(self.rng, customer_type, apartment)
        self.meters.append(
            _Meter(mid, customer_type, phases, transformer, apartment, pv, params)
        )
        return mid


def _offset(
    lat: float, lon: float, north_m: float, east_m: float
) -> tuple[float, float]:
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _distance_m(el: _Element, lat: float, lon: float) -> float:
    north = (lat - el.lat) * 111_320.0
    east = (lon - el.lon) * 111_320.0 * math.cos(math.radians(lat))
    return math.hypot(north, east)


def _meter_params(
    rng: np.random.Generator, customer_type: str, apartment: bool
) -> tuple[dict[str, float], float]:
    """Load-model parameters of one meter, and its PV size (kWp, 0 = none)."""
    u = rng.uniform
    if customer_type == "Residential":
        scale = 0.55 if apartment else 1.0
        electric_heat = rng.random() < (0.25 if apartment else 0.45)
        params = {
            "base_kw": scale * float(rng.lognormal(math.log(0.35), 0.35)),
            "morning_kw": scale * u(0.4, 1.4),
            "evening_kw": scale * u(0.9, 2.4),
            "midday_kw": scale * u(0.2, 0.8),
            "shift_h": u(-0.75, 0.75),
            "heat_kw_per_c": scale
            * (u(0.15, 0.35) if electric_heat else u(0.01, 0.05)),
            "cool_kw_per_c": scale * (u(0.2, 0.6) if rng.random() < 0.3 else 0.0),
            "ev_kw": (7.2 if rng.random() < 0.6 else 3.3)
            if (not apartment and rng.random() < 0.08)
            else 0.0,
            "noise_sigma": u(0.15, 0.3),
            "open_h": 0.0,
            "close_h": 0.0,
            "weekend_factor": 0.0,
            "base_frac": 0.0,
            "pv_shift_h": u(-0.8, 0.8),
            "clear_sky_only": 0.0,
            "load_scale": 1.0,
        }
        pv = u(3.0, 9.0) if (not apartment and rng.random() < 0.22) else 0.0
    else:
        kind = int(rng.integers(0, 4))  # office, retail, restaurant, warehouse
        hours = ((7.5, 18.0), (9.0, 21.0), (10.5, 22.5), (6.0, 16.0))[kind]
        weekend = (0.0, 0.9, 1.0, 0.1)[kind]
        scale = float(np.clip(rng.lognormal(math.log(30.0), 0.6), 5.0, 200.0))
        params = {
            "base_kw": scale,
            "morning_kw": 0.0,
            "evening_kw": 0.0,
            "midday_kw": 0.0,
            "shift_h": u(-0.5, 0.5),
            "heat_kw_per_c": scale * u(0.005, 0.02),
            "cool_kw_per_c": scale * u(0.01, 0.035),
            "ev_kw": 0.0,
            "noise_sigma": u(0.05, 0.12),
            "open_h": hours[0],
            "close_h": hours[1],
            "weekend_factor": weekend,
            "base_frac": u(0.2, 0.45),
            "pv_shift_h": u(-0.5, 0.5),
            "clear_sky_only": 0.0,
            "load_scale": 1.0,
        }
        pv = u(10.0, 50.0) if rng.random() < 0.1 else 0.0
    return params, pv


_PARAM_NAMES = (
    "base_kw",
    "morning_kw",
    "evening_kw",
    "midday_kw",
    "shift_h",
    "heat_kw_per_c",
    "cool_kw_per_c",
    "ev_kw",
    "noise_sigma",
    "open_h",
    "close_h",
    "weekend_factor",
    "base_frac",
    "pv_shift_h",
    "clear_sky_only",
    "load_scale",
)


def _plan_groups(n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Split ``n`` meters into service groups (transformer kind, meters)."""
    groups: list[tuple[str, int]] = []
    remaining = n
    if n >= 12:
        groups.append(("nested", 8))
        remaining -= 8
    while remaining > 0:
        r = rng.random()
        if r < 0.66:
            kind, size = "pole", int(rng.integers(2, 11))
        elif r < 0.80:
            kind, size = "pad_res", int(rng.integers(6, 21))
        else:
            kind, size = "pad_com", int(rng.integers(1, 4))
        size = min(size, remaining)
        groups.append((kind, size))
        remaining -= size
    order = rng.permutation(len(groups))
    return [groups[i] for i in order]


def _wire_group(
    b: _Builder,
    kind: str,
    size: int,
    upstream: str,
    parent: str,
    depth: int,
    on_subfeeder: bool,
) -> None:
    """Add one distribution transformer and its meters below ``upstream``."""
    rng = b.rng
    mv3, mv1 = (12470, 7200) if on_subfeeder else (25000, 14400)
    if kind == "pole":
        phase = str(rng.choice(["A", "B", "C"]))
        tx = b.transformer(
            upstream,
            level="MV/LV",
            phases=phase,
            primary_v=mv1,
            secondary_v=240 if rng.random() < 0.85 else 120,
            installation="pole",
            sizes=_POLE_KVA,
            parent=parent,
            depth=depth,
        )
        for _ in range(size):
            b.meter(tx, tx, "Residential", phase, False, False)
        return
    if kind == "pad_res":
        tx = b.transformer(
            upstream,
            level="MV/LV",
            phases="ABC",
            primary_v=mv3,
            secondary_v=208,
            installation="pad",
            sizes=_PAD_KVA,
            parent=parent,
            depth=depth,
        )
        bus = b.line(tx, 30.0, "ABC", True, "secondary")
        for i in range(size):
            b.meter(bus, tx, "Residential", "ABC"[i % 3], True, True)
        return
    if kind == "pad_com":
        secondary = int(rng.choice([208, 347, 600, 400], p=[0.5, 0.2, 0.25, 0.05]))
        tx = b.transformer(
            upstream,
            level="MV/LV",
            phases="ABC",
            primary_v=mv3,
            secondary_v=secondary,
            installation="pad",
            sizes=_PAD_KVA,
            parent=parent,
            depth=depth,
        )
        bus = b.line(tx, 20.0, "ABC", True, "secondary")
        for _ in range(size):
            b.meter(bus, tx, "Commercial", "ABC", False, True)
        return
    # nested: a 600 V pad-mount feeding two commercial meters directly and two
    # 600 V -> 208 V building transformers (commercial + apartments).
    top = b.transformer(
        upstream,
        level="MV/LV",
        phases="ABC",
        primary_v=mv3,
        secondary_v=600,
        installation="pad",
        sizes=_PAD_KVA,
        parent=parent,
        depth=depth,
    )
    bus = b.line(top, 15.0, "ABC", True, "secondary")
    counts = _split_nested(size)
    for _ in range(counts[0]):
        b.meter(bus, top, "Commercial", "ABC", False, True)
    for child_index, (ctype, n_child) in enumerate(
        (("Commercial", counts[1]), ("Residential", counts[2]))
    ):
        if n_child == 0:
            continue
        feeder = b.line(top, 20.0, "ABC", True, "secondary")
        child = b.transformer(
            feeder,
            level="LV/LV",
            phases="ABC",
            primary_v=600,
            secondary_v=208,
            installation="pad",
            sizes=_LVLV_KVA,
            parent=top,
            depth=depth + 1,
        )
        cbus = b.line(child, 10.0, "ABC", True, "secondary")
        for i in range(n_child):
            phases = "ABC" if ctype == "Commercial" else "ABC"[(i + child_index) % 3]
            b.meter(cbus, child, ctype, phases, ctype == "Residential", True)


def _split_nested(size: int) -> tuple[int, int, int]:
    direct = min(2, size)
    rest = size - direct
    child_com = min(2, rest)
    return direct, child_com, rest - child_com


def _build_topology(grid_index: int, n_meters: int, seed: int) -> _Builder:
    rng = np.random.default_rng([seed, grid_index, 11])
    b = _Builder(grid_index, rng, n_meters)
    groups = _plan_groups(n_meters, rng)
    lat, lon = b.centre
    sub = b.add("SUB", 2, "Substation", None, lat, lon, phases="ABC", meta={})
    n_subtx = max(1, math.ceil(n_meters / 1500))
    n_feeders = max(1, math.ceil(len(groups) / 10))
    busbars = []
    for _ in range(n_subtx):
        stx = b.transformer(
            sub,
            level="HV/MV",
            phases="ABC",
            primary_v=138000,
            secondary_v=25000,
            installation="substation",
            sizes=_HVMV_KVA,
            parent=None,
            depth=0,
        )
        busbars.append((b.add("BB", 2, "Busbar", stx, *b.near(stx, 20.0)), stx))
    feeder_groups: list[list[tuple[str, int]]] = [[] for _ in range(n_feeders)]
    for i, g in enumerate(groups):
        feeder_groups[i * n_feeders // len(groups)].append(g)
    with_mvmv = n_meters >= 30
    for f, fgroups in enumerate(feeder_groups):
        busbar, stx = busbars[f % n_subtx]
        breaker = b.switch(busbar, "breaker", "ABC")
        sub_groups: list[tuple[str, int]] = []
        if with_mvmv and f == n_feeders - 1 and len(fgroups) >= 3:
            n_sub = max(1, len(fgroups) // 3)
            sub_groups, fgroups = fgroups[-n_sub:], fgroups[:-n_sub]
        heading = rng.uniform(0, 2 * math.pi)
        last = _feeder(b, breaker, fgroups, stx, 1, heading, False)
        if sub_groups:
            tap = b.line(last, 60.0, "ABC", False, "tap")
            mvmv = b.transformer(
                tap,
                level="MV/MV",
                phases="ABC",
                primary_v=25000,
                secondary_v=12470,
                installation="pad",
                sizes=_MVMV_KVA,
                parent=stx,
                depth=1,
            )
            _feeder(b, mvmv, sub_groups, mvmv, 2, heading + 0.8, True)
        b.switch(last, "tie", "ABC", open_=True)
    return b


def _feeder(
    b: _Builder,
    head: str,
    groups: list[tuple[str, int]],
    parent: str,
    depth: int,
    heading: float,
    on_subfeeder: bool,
) -> str:
    """Backbone of line segments from ``head`` with a tap per group; return its end."""
    rng = b.rng
    segment = head
    for j, (kind, size) in enumerate(groups):
        if j % 2 == 0:
            if j > 0 and j % 10 == 0:
                segment = b.switch(segment, "sectionalizer", "ABC")
            prev = b.by_id[segment]
            step = rng.uniform(150.0, 400.0)
            angle = heading + rng.uniform(-0.4, 0.4)
            lat, lon = _offset(
                prev.lat, prev.lon, step * math.cos(angle), step * math.sin(angle)
            )
            segment = b.add(
                "LN",
                5,
                "ACLineSegment",
                segment,
                lat,
                lon,
                phases="ABC",
                is_underground=on_subfeeder,
                meta={"length_m": round(step, 1), "line_kind": "primary"},
            )
        tap = b.line(segment, 60.0, "ABC" if kind != "pole" else "A", False, "tap")
        if rng.random() < 0.35:
            tap = b.switch(tap, "fuse", b.by_id[tap].phases or "ABC")
        _wire_group(b, kind, size, tap, parent, depth, on_subfeeder)
    if segment == head:
        segment = b.line(head, 100.0, "ABC", on_subfeeder, "primary")
    return segment


# ----------------------------------------------------------------- load model


@dataclass(frozen=True)
class _TimeAxis:
    n: int
    start_us: int
    period_s: int
    local_hour: FloatArray  # fractional local hour at interval midpoint
    weekday: npt.NDArray[np.bool_]
    day_index: IntArray  # local days since spec.start
    utc_hour: FloatArray
    doy: FloatArray  # local day of year
    temperature_c: FloatArray
    cloud: FloatArray  # clear-sky index 0..1, shared weather
    ts_us: IntArray  # interval start, microseconds since 2000-01-01 UTC


def _time_axis(spec: GridSpec) -> _TimeAxis:
    n = spec.n_intervals
    start = pd.Timestamp(spec.start_utc)
    mid = pd.date_range(
        start + pd.Timedelta(seconds=spec.period_s / 2),
        periods=n,
        freq=pd.Timedelta(seconds=spec.period_s),
    )
    local = mid.tz_convert(spec.zone)
    local_hour = (
        local.hour.to_numpy(np.float64)
        + local.minute.to_numpy(np.float64) / 60.0
        + local.second.to_numpy(np.float64) / 3600.0
    )
    naive = local.tz_localize(None).normalize()
    day_index = ((naive - pd.Timestamp(spec.start)).days).to_numpy(np.int64)
    doy = local.dayofyear.to_numpy(np.float64)
    utc_hour = (
        mid.hour.to_numpy(np.float64)
        + mid.minute.to_numpy(np.float64) / 60.0
        + mid.second.to_numpy(np.float64) / 3600.0
    )
    # Shared weather (one region): daily anomaly AR(1) and daily cloudiness.
    rng = np.random.default_rng([spec.seed, 7])
    n_days = int(day_index.max()) + 1
    shocks = rng.normal(0.0, 1.6, n_days)
    anomaly = np.empty(n_days)
    level = rng.normal(0.0, 2.5)
    for d in range(n_days):
        level = 0.82 * level + shocks[d]
        anomaly[d] = level
    day_doy = np.array(
        [
            (spec.start + dt.timedelta(days=d)).timetuple().tm_yday
            for d in range(n_days)
        ],
        dtype=np.float64,
    )
    clear_mean = 0.55 + 0.3 * np.sin(2 * np.pi * (day_doy - 110.0) / 365.25)
    day_clear = rng.beta(4.0 * clear_mean, 4.0 * (1.0 - clear_mean))
    season = np.sin(2 * np.pi * (doy - 110.0) / 365.25)
    diurnal = (3.0 + 2.0 * season) * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
    temperature = 10.8 + 7.2 * season + anomaly[day_index] + diurnal
    cloud = np.clip(
        day_clear[day_index] * (1.0 + 0.2 * rng.standard_normal(n)), 0.03, 1
    )
    start_us = int((spec.start_utc - _PG_EPOCH).total_seconds()) * _US_PER_S
    ts_us = start_us + np.arange(n, dtype=np.int64) * spec.period_s * _US_PER_S
    return _TimeAxis(
        n=n,
        start_us=start_us,
        period_s=spec.period_s,
        local_hour=local_hour,
        weekday=local.dayofweek.to_numpy() < 5,
        day_index=day_index,
        utc_hour=utc_hour,
        doy=doy,
        temperature_c=temperature,
        cloud=cloud,
        ts_us=ts_us,
    )


def _bump(hour: FloatArray, centre: FloatArray | float, width: float) -> FloatArray:
    d = np.abs(hour - centre)
    d = np.minimum(d, 24.0 - d)
    return np.asarray(np.exp(-0.5 * (d / width) ** 2), dtype=np.float64)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _clear_sky(
    axis: _TimeAxis, lat: FloatArray, lon: FloatArray, shift_h: FloatArray
) -> FloatArray:
    """Relative PV output (0..~0.9) of a panel, by interval (n_meters x T)."""
    b = 2 * np.pi * (axis.doy - 81.0) / 364.0
    eot_h = (9.87 * np.sin(2 * b) - 7.53 * np.cos(b) - 1.5 * np.sin(b)) / 60.0
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284.0 + axis.doy) / 365.0)
    solar_time = (axis.utc_hour + eot_h)[None, :] + lon[:, None] / 15.0
    hour_angle = np.radians(15.0 * (solar_time - 12.0 - shift_h[:, None]))
    phi = np.radians(lat)[:, None]
    sin_elev = np.sin(phi) * np.sin(decl)[None, :] + np.cos(phi) * (
        np.cos(decl)[None, :] * np.cos(hour_angle)
    )
    return np.asarray(np.clip(sin_elev, 0.0, None) ** 1.15, dtype=np.float64)


@dataclass(frozen=True)
class _MeterBlock:
    """Clean interval energy (kWh) of a block of meters of one grid."""

    consumer_kwh: FloatArray  # (n, T)
    producer_kwh: FloatArray  # (n_pv, T), rows of meters with pv
    pv_rows: IntArray  # block-relative meter index of each producer row


def _simulate(
    spec: GridSpec, axis: _TimeAxis, meters: pd.DataFrame, grid_index: int
) -> _MeterBlock:
    """Simulate the meters in ``meters`` (rows of DemoGrid.meters of one grid)."""
    n, t_len = len(meters), axis.n
    p = {name: meters[name].to_numpy(np.float64)[:, None] for name in _PARAM_NAMES}
    ordinal = meters["meter_index"].to_numpy(np.int64)
    z = np.empty((n, t_len))
    z_pv = np.empty((n, t_len))
    ev = np.zeros((n, t_len))
    n_days = int(axis.day_index.max()) + 2
    hour = axis.local_hour[None, :]
    for i in range(n):
        rng = np.random.default_rng([spec.seed, grid_index, 1000 + int(ordinal[i])])
        z[i] = rng.standard_normal(t_len)
        z_pv[i] = rng.standard_normal(t_len)
        if p["ev_kw"][i, 0] > 0:
            starts = 21.0 + rng.uniform(0.0, 2.5, n_days)
            durations = rng.uniform(1.0, 5.0, n_days) * (rng.random(n_days) < 0.55)
            h = axis.local_hour
            day = axis.day_index
            evening = h >= 12.0
            session_day = np.where(evening, day, day - 1) + 1  # index into arrays
            since = np.where(evening, h, h + 24.0) - starts[session_day]
            on = (since >= 0.0) & (since < durations[session_day])
            ev[i] = p["ev_kw"][i, 0] * on
    temp = axis.temperature_c[None, :]
    weekday = axis.weekday[None, :]
    residential = (meters["customer_type"] == "Residential").to_numpy()[:, None]

    # Residential: activity peaks, heating, cooling, multiplicative noise.
    shift = p["shift_h"]
    morning = np.where(
        weekday, _bump(hour, 7.0 + shift, 1.0), 0.8 * _bump(hour, 9.5 + shift, 1.6)
    )
    evening_peak = np.where(
        weekday, _bump(hour, 18.5 + shift, 2.0), _bump(hour, 18.0 + shift, 2.4)
    )
    midday = np.where(weekday, 0.3, 0.7) * _bump(hour, 13.0, 3.0)
    activity = (
        p["base_kw"]
        + p["morning_kw"] * morning
        + p["evening_kw"] * evening_peak
        + p["midday_kw"] * midday
    )
    heat_shape = 0.7 + 0.3 * (_bump(hour, 7.0, 2.0) + _bump(hour, 19.0, 3.0))
    res_kw = (
        activity
        + p["heat_kw_per_c"] * np.maximum(0.0, 15.5 - temp) * heat_shape
        + p["cool_kw_per_c"]
        * np.maximum(0.0, temp - 21.0)
        * (0.4 + 0.6 * _bump(hour, 17.0, 3.0))
    )
    # Commercial: business hours, weekend factor, HVAC.
    occupied = (
        _sigmoid((hour - p["open_h"] - p["shift_h"]) / 0.4)
        * _sigmoid((p["close_h"] + p["shift_h"] - hour) / 0.4)
        * np.where(weekday, 1.0, p["weekend_factor"])
    )
    com_kw = (
        p["base_kw"] * (p["base_frac"] + (1.0 - p["base_frac"]) * occupied)
        + p["heat_kw_per_c"] * np.maximum(0.0, 14.0 - temp)
        + p["cool_kw_per_c"] * np.maximum(0.0, temp - 20.0) * (0.3 + 0.7 * occupied)
    )
    sigma = p["noise_sigma"]
    noise = np.exp(sigma * z - 0.5 * sigma**2)
    kw = (np.where(residential, res_kw, com_kw) * noise + ev) * p["load_scale"]
    kw = np.maximum(kw, 0.02)
    hours = spec.period_s / 3600.0
    consumer_kwh = np.round(kw * hours, 4)

    pv_kwp = meters["pv_kwp"].to_numpy(np.float64)
    pv_rows = np.flatnonzero(pv_kwp > 0).astype(np.int64)
    if len(pv_rows):
        clear = _clear_sky(
            axis,
            meters["latitude"].to_numpy(np.float64)[pv_rows],
            meters["longitude"].to_numpy(np.float64)[pv_rows],
            p["pv_shift_h"][pv_rows, 0],
        )
        cloud = np.where(
            p["clear_sky_only"][pv_rows] > 0,
            0.95,
            np.clip(axis.cloud[None, :] * (1 + 0.05 * z_pv[pv_rows]), 0.0, 1.0),
        )
        pv_kw = pv_kwp[pv_rows, None] * 0.85 * clear * cloud
        producer_kwh = np.round(pv_kw * hours, 4)
    else:
        producer_kwh = np.zeros((0, t_len))
    return _MeterBlock(consumer_kwh, producer_kwh, pv_rows)


def _blocks(
    grid: DemoGrid, axis: _TimeAxis, chunk_meters: int
) -> Iterator[tuple[int, pd.DataFrame, _MeterBlock]]:
    """Yield (grid index, meter rows, simulated block) in chunks of meters."""
    for gi, grid_id in enumerate(grid.spec.grid_ids):
        gm = grid.meters[grid.meters["grid_id"] == grid_id]
        for lo in range(0, len(gm), chunk_meters):
            rows = gm.iloc[lo : lo + chunk_meters]
            yield gi, rows, _simulate(grid.spec, axis, rows, gi)


def _default_chunk(spec: GridSpec) -> int:
    return max(1, _ROWS_PER_CHUNK // max(1, spec.n_intervals))


# ------------------------------------------------------------------ build grid


def build_grid(spec: GridSpec | None = None) -> DemoGrid:
    """Build a synthetic grid (topology, metadata, data sources; no readings).

    Ratings are sized from a full simulation of the readings, so this costs
    about as much compute as generating them once (no memory for them).

    With ``spec.defects`` the first grid gets, deterministically, and
    recorded in :attr:`DemoGrid.defects` (``kind``):

    * ``rating_missing`` — a transformer without ``meta.rating_kva``;
    * ``rating_unparseable`` — ``rating_kva`` as garbage text, e.g. "fifty";
    * ``rating_as_string`` — every transformer (any grid) whose rating is a
      JSON string such as "50" (at least two);
    * ``orphan_missing_upstream`` / ``orphan_null_upstream`` — a meter whose
      upstream element does not exist / is null;
    * ``topology_cycle`` — two line segments pointing at each other with a
      meter below them (``detail`` names the segments);
    * ``pv_exceeds_load`` — a meter with a large PV system and a tiny load: its
      net load is negative for hours around noon;
    * ``reading_gap`` — three consumer sources miss 4, 6 and 8 hours of rows;
    * ``duplicate_exact`` — one reading delivered twice, identical;
    * ``late_correction`` — one reading delivered again 36 h later with a
      different value; ``value`` is the superseded first value,
      ``expected_value`` the correction (the truth);
    * ``negative_reading`` — one negative consumer reading;
    * ``dst_transition`` — each DST change inside the date range (not
      injected: the UTC instant it happens, in ``ts_start``).

    Parameters
    ----------
    spec : GridSpec, optional
        What to build (default ``GridSpec()``: 80 meters, a year, hourly).

    Returns
    -------
    DemoGrid
    """
    spec = spec or GridSpec()
    axis = _time_axis(spec)
    element_frames, meter_frames, tx_frames, source_frames = [], [], [], []
    defects: list[dict[str, Any]] = []
    for gi, grid_id in enumerate(spec.grid_ids):
        b = _build_topology(gi, spec.meters, spec.seed)
        planned: list[dict[str, Any]] = []
        if spec.defects and gi == 0:
            planned = _inject_topology_defects(b, spec, axis, defects, grid_id)
        meters = _meters_frame(b, grid_id, spec)
        sources = _sources_frame(meters, grid_id, spec)
        meters = meters.merge(
            _source_ids(sources), on="grid_element_id", how="left", validate="1:1"
        )
        tx = _size_transformers(b, spec, axis, meters, gi, planned, grid_id)
        elements = _elements_frame(b, grid_id, tx, spec, gi)
        element_frames.append(elements)
        meter_frames.append(meters)
        tx_frames.append(tx)
        source_frames.append(sources)
    elements = pd.concat(element_frames, ignore_index=True)
    transformers = pd.concat(tx_frames, ignore_index=True)
    if spec.defects:
        _inject_meta_defects(elements, transformers, spec, defects)
        defects.extend(_dst_transitions(spec))
    grids = pd.DataFrame(
        {
            "grid_id": list(spec.grid_ids),
            "description": [
                f"evcap synthetic grid {g} (seed {spec.seed}, {spec.meters} meters)"
                for g in spec.grid_ids
            ],
            "last_updated": [pd.Timestamp(spec.end_utc)] * spec.grids,
        }
    )
    defect_frame = pd.DataFrame(defects, columns=_DEFECT_COLUMNS)
    for col in ("ts_start", "ts_end"):
        defect_frame[col] = pd.to_datetime(defect_frame[col], utc=True)
    for col in ("value", "expected_value"):
        defect_frame[col] = defect_frame[col].astype(np.float64)
    return DemoGrid(
        spec=spec,
        grids=grids,
        elements=elements,
        data_sources=pd.concat(source_frames, ignore_index=True),
        meters=pd.concat(meter_frames, ignore_index=True),
        transformers=transformers,
        defects=defect_frame,
    )


def _meters_frame(b: _Builder, grid_id: str, spec: GridSpec) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(b.meters):
        el = b.by_id[m.mid]
        rows.append(
            {
                "grid_id": grid_id,
                "grid_element_id": m.mid,
                "meter_index": i,
                "customer_type": m.customer_type,
                "phases": m.phases,
                "transformer_id": m.transformer,
                "apartment": m.apartment,
                "pv_kwp": round(m.pv_kwp, 2),
                "latitude": el.lat,
                "longitude": el.lon,
                **m.params,
            }
        )
    return pd.DataFrame(rows)


def _source_uuid(spec: GridSpec, grid_id: str, element_id: str, kind: str) -> str:
    return str(
        uuid.uuid5(_UUID_NAMESPACE, f"{spec.seed}/{grid_id}/{element_id}/{kind}")
    )


def _sources_frame(meters: pd.DataFrame, grid_id: str, spec: GridSpec) -> pd.DataFrame:
    # Installed at the start and still installed: no upper bound, as in a live
    # EDM, so readings appended later (incremental runs) are valid too.
    valid = f"[{spec.start_utc.isoformat(sep=' ')},)"
    rows = []
    for m in meters.itertuples(index=False):
        mid = str(m.grid_element_id)
        rows.append(
            {
                "grid_element_data_source_id": _source_uuid(
                    spec, grid_id, mid, "CONSUMER"
                ),
                "grid_id": grid_id,
                "grid_element_id": mid,
                "type": "CONSUMER",
                "provider": "demo-ami",
                "direction": "delivered",
                "friendly_id": f"{mid}-DEL",
                "phases": m.phases,
                "metrics": ["kWh", "V"],
                "valid": valid,
            }
        )
        if float(m.pv_kwp) > 0:  # type: ignore[arg-type]
            rows.append(
                {
                    "grid_element_data_source_id": _source_uuid(
                        spec, grid_id, mid, "PRODUCER"
                    ),
                    "grid_id": grid_id,
                    "grid_element_id": mid,
                    "type": "PRODUCER",
                    "provider": "demo-pv",
                    "direction": "received",
                    "friendly_id": f"{mid}-PV",
                    "phases": m.phases,
                    "metrics": ["kWh"],
                    "valid": valid,
                }
            )
    return pd.DataFrame(rows, columns=_SOURCE_COLUMNS)


def _source_ids(sources: pd.DataFrame) -> pd.DataFrame:
    wide = sources.pivot(
        index="grid_element_id", columns="type", values="grid_element_data_source_id"
    )
    out = pd.DataFrame(
        {
            "grid_element_id": wide.index.to_numpy(),
            "consumer_source_id": wide["CONSUMER"].to_numpy(),
            "producer_source_id": (
                wide["PRODUCER"].to_numpy()
                if "PRODUCER" in wide.columns
                else [None] * len(wide)
            ),
        }
    )
    out["producer_source_id"] = out["producer_source_id"].where(
        out["producer_source_id"].notna(), None
    )
    return out


def _transformer_totals(b: _Builder, meters: pd.DataFrame) -> dict[str, int]:
    direct = meters.groupby("transformer_id").size().to_dict()
    total = {t.tid: int(direct.get(t.tid, 0)) for t in b.transformers}
    for t in sorted(b.transformers, key=lambda t: -t.depth):
        if t.parent is not None:
            total[t.parent] += total[t.tid]
    return total


def _transformer_loads(
    b: _Builder,
    spec: GridSpec,
    axis: _TimeAxis,
    meters: pd.DataFrame,
    grid_index: int,
) -> tuple[dict[str, int], npt.NDArray[np.float32]]:
    """Simulate a grid; net load (kW) of each transformer's direct meters."""
    index = {t.tid: i for i, t in enumerate(b.transformers)}
    acc = np.zeros((len(b.transformers), axis.n), dtype=np.float32)
    to_kw = 3600.0 / spec.period_s
    chunk = _default_chunk(spec)
    for lo in range(0, len(meters), chunk):
        rows = meters.iloc[lo : lo + chunk]
        block = _simulate(spec, axis, rows, grid_index)
        net = block.consumer_kwh.copy()
        net[block.pv_rows] -= block.producer_kwh
        # One sort and one reduceat per chunk (a mask per transformer would
        # cost meters x transformers). Rows of a transformer keep their order,
        # so the sums are the same as row-by-row.
        codes = np.array(
            [index[t] if isinstance(t, str) else -1 for t in rows["transformer_id"]],
            dtype=np.int64,
        )
        order = np.argsort(codes, kind="stable")
        order = order[codes[order] >= 0]
        if len(order) == 0:
            continue
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        sums = np.add.reduceat(net[order], starts, axis=0)
        acc[sorted_codes[starts]] += (sums * to_kw).astype(np.float32)
    return index, acc


def _roll_up(
    b: _Builder, index: dict[str, int], acc: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Add each transformer's total into its parent (deepest first)."""
    total = acc.copy()
    for t in sorted(b.transformers, key=lambda t: -t.depth):
        if t.parent is not None:
            total[index[t.parent]] += total[index[t.tid]]
    return total


def _size_transformers(
    b: _Builder,
    spec: GridSpec,
    axis: _TimeAxis,
    meters: pd.DataFrame,
    grid_index: int,
    planned: list[dict[str, Any]],
    grid_id: str,
) -> pd.DataFrame:
    """Size every transformer from its own simulated coincident peak.

    A first simulation gives each transformer's peak; ratings snap to standard
    sizes. For 'tight' transformers without child transformers the meters'
    consumption is then scaled (0.7-1.4x) so that the peak lands on the target
    utilisation despite the coarse size steps. A second simulation gives the
    final peaks (and the clean values at planned reading defects). Sets
    ``meters['load_scale']`` in place.
    """
    index, acc = _transformer_loads(b, spec, axis, meters, grid_index)
    rng = np.random.default_rng([spec.seed, grid_index, 23])
    has_children = {t.parent for t in b.transformers if t.parent is not None}
    direct = meters.groupby("transformer_id").size().to_dict()
    sized: dict[str, tuple[float, str]] = {}
    scale = {t.tid: 1.0 for t in b.transformers}
    total = acc.copy()
    for t in sorted(b.transformers, key=lambda t: -t.depth):
        i = index[t.tid]
        if t.voltage_level in ("HV/MV", "MV/MV"):
            sizing = "normal" if rng.random() < 0.5 else "roomy"
            target = rng.uniform(0.3, 0.75)
        else:
            r = rng.random()
            sizing = "tight" if r < 0.35 else ("normal" if r < 0.7 else "roomy")
            low, high = {
                "tight": (0.92, 1.03),
                "normal": (0.55, 0.8),
                "roomy": (0.25, 0.45),
            }[sizing]
            target = rng.uniform(low, high)
        peak_kw = float(total[i].max()) if axis.n else 0.0
        needed = max(peak_kw, 0.1) / SIZING_POWER_FACTOR / target
        sizes = np.array(t.sizes)
        rating = float(sizes[np.argmin(np.abs(np.log(sizes / needed)))])
        if (
            sizing == "tight"
            and t.tid not in has_children
            and direct.get(t.tid, 0) > 0
            and peak_kw > 0
        ):
            f = float(
                np.clip(target * rating * SIZING_POWER_FACTOR / peak_kw, 0.7, 1.4)
            )
            scale[t.tid] = f
            total[i] *= f
        if t.parent is not None:
            total[index[t.parent]] += total[i]
        sized[t.tid] = (rating, sizing)
    meters["load_scale"] = [
        scale[str(tid)] if isinstance(tid, str) else 1.0
        for tid in meters["transformer_id"]
    ]
    # Second pass: the final loads and peaks, as the readings will show them.
    index, acc = _transformer_loads(b, spec, axis, meters, grid_index)
    total = _roll_up(b, index, acc)
    _fill_planned_values(spec, axis, meters, grid_index, planned)
    totals = _transformer_totals(b, meters)
    rows_out = []
    for t in b.transformers:
        rating, sizing = sized[t.tid]
        peak_kw = float(total[index[t.tid]].max()) if axis.n else 0.0
        rows_out.append(
            {
                "grid_id": grid_id,
                "transformer_id": t.tid,
                "voltage_level": t.voltage_level,
                "phases": t.phases,
                "installation_type": t.installation,
                "primary_voltage_v": t.primary_v,
                "secondary_voltage_v": t.secondary_v,
                "rating_kva": rating,
                "meta_rating_kva": None,
                "upstream_transformer_id": t.parent,
                "depth": t.depth,
                "meters_direct": int(direct.get(t.tid, 0)),
                "meters_total": totals[t.tid],
                "peak_load_kw": round(peak_kw, 4),
                "peak_utilisation": peak_kw / (rating * SIZING_POWER_FACTOR),
                "sizing": sizing,
                "latitude": t.lat,
                "longitude": t.lon,
            }
        )
    return pd.DataFrame(rows_out)


def _fill_planned_values(
    spec: GridSpec,
    axis: _TimeAxis,
    meters: pd.DataFrame,
    grid_index: int,
    planned: list[dict[str, Any]],
) -> None:
    """Put the clean and injected values into the planned reading defects."""
    for d in planned:
        t_index = int(d.pop("_t"))
        rows = meters[meters["consumer_source_id"] == d["data_source_id"]]
        clean = float(_simulate(spec, axis, rows, grid_index).consumer_kwh[0, t_index])
        kind = d["kind"]
        if kind == "duplicate_exact":
            d["value"] = d["expected_value"] = clean
        elif kind == "late_correction":
            d["value"] = round(clean * 0.4, 4)
            d["expected_value"] = clean
        elif kind == "negative_reading":
            d["value"] = -round(clean + 0.5, 4)


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _elements_frame(
    b: _Builder, grid_id: str, tx: pd.DataFrame, spec: GridSpec, grid_index: int
) -> pd.DataFrame:
    rng = np.random.default_rng([spec.seed, grid_index, 31])
    has_parent_meta = grid_index % 2 == 0
    tx_by_id = {str(r["transformer_id"]): r for r in tx.to_dict("records")}
    tx_ids = tx["transformer_id"].to_list()
    tx_pos = {tid: i for i, tid in enumerate(tx_ids)}
    pv_meters = {m.mid for m in b.meters if m.pv_kwp > 0}
    rows: list[dict[str, Any]] = []
    ratings: dict[str, Any] = {}
    for el in b.elements:
        meta = dict(el.meta)
        if el.type == "Transformer":
            t = tx_by_id[el.grid_element_id]
            rating = float(t["rating_kva"])
            stringy = rng.random() < 0.2
            values: dict[str, Any] = {
                "rating_kva": _num(rating),
                "secondary_voltage": int(t["secondary_voltage_v"]),
                "primary_voltage": int(t["primary_voltage_v"]),
                "load_loss": round(rating * 1000 * rng.uniform(0.009, 0.015)),
                "no_load_loss": round(rating * 1000 * rng.uniform(0.0015, 0.003)),
                "latitude": el.lat,
                "longitude": el.lon,
            }
            for key, value in list(values.items()):
                if stringy or rng.random() < 0.04:
                    values[key] = str(value)
            meta = {
                "rating_kva": values["rating_kva"],
                "secondary_voltage": values["secondary_voltage"],
                "primary_voltage": values["primary_voltage"],
                "voltage_level": str(t["voltage_level"]),
                "load_loss": values["load_loss"],
                "no_load_loss": values["no_load_loss"],
                "installation_type": str(t["installation_type"]),
                "latitude": values["latitude"],
                "longitude": values["longitude"],
            }
            parent = t["upstream_transformer_id"]
            if has_parent_meta and isinstance(parent, str) and rng.random() < 0.7:
                if rng.random() < 0.1:
                    # A random other transformer: the j-th of tx_ids without
                    # this one and its parent, found without copying the list
                    # (that copy would cost transformers squared).
                    skipped = sorted({tx_pos[el.grid_element_id], tx_pos[parent]})
                    n_others = len(tx_ids) - len(skipped)
                    if n_others:
                        j = int(rng.choice(n_others))
                        for pos in skipped:
                            if j >= pos:
                                j += 1
                        parent = str(tx_ids[j])
                meta["parent_transformer_id"] = parent
            ratings[el.grid_element_id] = meta["rating_kva"]
        elif el.type == "Meter":
            meta = {
                "latitude": el.lat,
                "longitude": el.lon,
                "rate_class": "RS" if el.customer_type == "Residential" else "GS",
            }
        is_meter = el.type == "Meter"
        up = b.by_id.get(el.upstream) if el.upstream is not None else None
        if el.type == "ACLineSegment" and up is not None:
            geometry = f"LINESTRING({up.lon} {up.lat}, {el.lon} {el.lat})"
        else:
            geometry = f"POINT({el.lon} {el.lat})"
        rows.append(
            {
                "grid_id": grid_id,
                "grid_element_id": el.grid_element_id,
                "type": el.type,
                "customer_type": el.customer_type,
                "phases": el.phases,
                "is_underground": el.is_underground,
                "is_producer": is_meter and el.grid_element_id in pv_meters,
                "is_consumer": is_meter,
                "is_switchable": el.type == "Switch",
                "switch_is_open": el.switch_is_open,
                "terminal1_cn": el.upstream_cn,
                "terminal2_cn": None if is_meter else el.cn,
                "power_flow_direction": None if is_meter else "downstream",
                "upstream_grid_element_id": el.upstream,
                "geometry": geometry,
                "meta": meta,
            }
        )
    frame = pd.DataFrame(rows, columns=_ELEMENT_COLUMNS)
    tx["meta_rating_kva"] = tx["transformer_id"].map(ratings).astype(object)
    return frame


# -------------------------------------------------------------------- defects


def _inject_topology_defects(
    b: _Builder,
    spec: GridSpec,
    axis: _TimeAxis,
    defects: list[dict[str, Any]],
    grid_id: str,
) -> list[dict[str, Any]]:
    """Rewire meters (orphans, cycle), add the big-PV meter; plan reading defects.

    Returns the planned reading defects (filled with values while sizing).
    """
    rng = np.random.default_rng([spec.seed, 0, 41])
    by_tx: dict[str | None, list[_Meter]] = {}
    for m in b.meters:
        by_tx.setdefault(m.transformer, []).append(m)
    # Meters whose transformer keeps another meter, residential, no PV.
    spare = [
        m
        for group in by_tx.values()
        if len(group) >= 3
        for m in group[1:]
        if m.customer_type == "Residential"
    ]
    spare = [spare[i] for i in rng.permutation(len(spare))]
    used: set[str] = set()

    def take() -> _Meter:
        for m in spare:
            if m.mid not in used:
                used.add(m.mid)
                return m
        for m in b.meters:  # fall back to any meter
            if m.mid not in used:
                used.add(m.mid)
                return m
        raise ConfigError("not enough meters for defects")  # pragma: no cover

    def record(kind: str, element: str, detail: str, **extra: Any) -> dict[str, Any]:
        row = {
            "kind": kind,
            "grid_id": grid_id,
            "grid_element_id": element,
            "data_source_id": None,
            "ts_start": None,
            "ts_end": None,
            "value": np.nan,
            "expected_value": np.nan,
            "detail": detail,
            **extra,
        }
        defects.append(row)
        return row

    # Orphan whose upstream does not exist; orphan with null upstream.
    line_count = b.counters.get("LN", 0)
    missing = f"LN-{line_count + 90000:05d}"
    orphan = take()
    b.by_id[orphan.mid].upstream = missing
    b.by_id[orphan.mid].upstream_cn = None
    orphan.transformer = None
    record("orphan_missing_upstream", orphan.mid, f"upstream {missing} does not exist")
    orphan = take()
    b.by_id[orphan.mid].upstream = None
    b.by_id[orphan.mid].upstream_cn = None
    orphan.transformer = None
    record("orphan_null_upstream", orphan.mid, "upstream_grid_element_id is null")
    # Two line segments pointing at each other, a meter below them.
    caught = take()
    el = b.by_id[caught.mid]
    seg_a = b.add(
        "LN", 5, "ACLineSegment", None, el.lat, el.lon, phases=caught.phases,
        meta={"length_m": 12.0, "line_kind": "service"},
    )  # fmt: skip
    seg_b = b.add(
        "LN", 5, "ACLineSegment", seg_a, el.lat, el.lon, phases=caught.phases,
        meta={"length_m": 9.0, "line_kind": "service"},
    )  # fmt: skip
    b.by_id[seg_a].upstream = seg_b
    b.by_id[seg_a].upstream_cn = b.by_id[seg_b].cn
    el.upstream, el.upstream_cn = seg_a, b.by_id[seg_a].cn
    caught.transformer = None
    record("topology_cycle", caught.mid, f"{seg_a} <-> {seg_b}")
    # Big PV on a tiny load: net negative for hours around noon.
    sunny = take()
    sunny.pv_kwp = 12.0
    sunny.params.update(
        base_kw=0.15,
        morning_kw=0.1,
        evening_kw=0.3,
        midday_kw=0.05,
        heat_kw_per_c=0.0,
        cool_kw_per_c=0.0,
        ev_kw=0.0,
        pv_shift_h=0.0,
        clear_sky_only=1.0,
    )
    record(
        "pv_exceeds_load",
        sunny.mid,
        "12 kWp PV on a ~0.3 kW load",
        data_source_id=_source_uuid(spec, grid_id, sunny.mid, "PRODUCER"),
    )
    # Reading defects, planned at interval indices (values filled by sizing).
    planned: list[dict[str, Any]] = []
    per_hour = 3600 // spec.period_s
    start = pd.Timestamp(spec.start_utc)
    step = pd.Timedelta(seconds=spec.period_s)
    for hours in (4, 6, 8):
        m = take()
        k = hours * per_hour
        first = int(rng.integers(0, max(1, axis.n - k)))
        last = min(axis.n, first + k) - 1
        record(
            "reading_gap",
            m.mid,
            f"{last - first + 1} intervals missing",
            data_source_id=_source_uuid(spec, grid_id, m.mid, "CONSUMER"),
            ts_start=start + first * step,
            ts_end=start + last * step,
        )
    for kind in ("duplicate_exact", "late_correction", "negative_reading"):
        m = take()
        t = int(rng.integers(0, axis.n))
        row = record(
            kind,
            m.mid,
            {
                "duplicate_exact": "same row delivered twice",
                "late_correction": "value re-delivered 36 h later; later wins",
                "negative_reading": "negative consumer kWh",
            }[kind],
            data_source_id=_source_uuid(spec, grid_id, m.mid, "CONSUMER"),
            ts_start=start + t * step,
            ts_end=start + t * step,
            _t=t,
        )
        planned.append(row)
    return planned


def _inject_meta_defects(
    elements: pd.DataFrame,
    transformers: pd.DataFrame,
    spec: GridSpec,
    defects: list[dict[str, Any]],
) -> None:
    """Missing, garbage and string ratings in transformer meta (in place)."""
    grid_id = spec.grid_ids[0]
    rng = np.random.default_rng([spec.seed, 0, 43])
    candidates = transformers[
        (transformers["grid_id"] == grid_id)
        & (transformers["voltage_level"] == "MV/LV")
        & (transformers["meters_total"] > 0)
    ]["transformer_id"].to_list()
    picks = [candidates[i] for i in rng.permutation(len(candidates))]
    is_tx = (elements["grid_id"] == grid_id) & (elements["type"] == "Transformer")
    row_of = {
        str(eid): idx for idx, eid in elements.loc[is_tx, "grid_element_id"].items()
    }

    def meta_of(tid: str) -> dict[str, Any]:
        return cast(dict[str, Any], elements.at[row_of[tid], "meta"])

    missing, garbage = picks[0], picks[1]
    meta_of(missing).pop("rating_kva")
    defects.append(_defect("rating_missing", grid_id, missing, "no rating_kva key"))
    rating = float(
        transformers.loc[
            (transformers["grid_id"] == grid_id)
            & (transformers["transformer_id"] == garbage),
            "rating_kva",
        ].iloc[0]
    )
    word = _KVA_WORDS.get(rating, "unknown")
    meta_of(garbage)["rating_kva"] = word
    defects.append(_defect("rating_unparseable", grid_id, garbage, repr(word)))
    for tid in picks[2:4]:
        value = meta_of(tid)["rating_kva"]
        meta_of(tid)["rating_kva"] = str(value)
    for idx in elements.index[elements["type"] == "Transformer"]:
        value = cast(dict[str, Any], elements.at[idx, "meta"]).get("rating_kva")
        gid, tid = elements.at[idx, "grid_id"], elements.at[idx, "grid_element_id"]
        if isinstance(value, str) and (gid, tid) not in ((grid_id, garbage),):
            defects.append(_defect("rating_as_string", str(gid), str(tid), repr(value)))
    meta_rating = {
        (str(g), str(t)): m.get("rating_kva")
        for g, t, m in elements.loc[
            elements["type"] == "Transformer", ["grid_id", "grid_element_id", "meta"]
        ].itertuples(index=False)
    }
    transformers["meta_rating_kva"] = [
        meta_rating[(g, t)]
        for g, t in zip(
            transformers["grid_id"], transformers["transformer_id"], strict=True
        )
    ]


def _defect(kind: str, grid_id: str, element: str, detail: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "grid_id": grid_id,
        "grid_element_id": element,
        "data_source_id": None,
        "ts_start": None,
        "ts_end": None,
        "value": np.nan,
        "expected_value": np.nan,
        "detail": detail,
    }


def _dst_transitions(spec: GridSpec) -> list[dict[str, Any]]:
    """The UTC instants inside the range where the local UTC offset changes."""
    out = []
    zone = spec.zone
    day = spec.start
    for _ in range(spec.days):
        a = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        nxt = day + dt.timedelta(days=1)
        b = dt.datetime.combine(nxt, dt.time(0), tzinfo=zone)
        hours = (b.astimezone(dt.UTC) - a.astimezone(dt.UTC)).total_seconds() / 3600
        if hours != 24:
            # find the instant: hourly scan of the day in UTC
            t = a.astimezone(dt.UTC)
            offset = a.utcoffset()
            while t.astimezone(zone).utcoffset() == offset:
                t += dt.timedelta(minutes=15)
            label = "spring forward" if hours < 24 else "fall back"
            row = _defect(
                "dst_transition",
                "*",
                "",
                f"{label} on {day.isoformat()} ({hours:g}-hour local day)",
            )
            row["grid_element_id"] = None
            row["grid_id"] = None
            row["ts_start"] = pd.Timestamp(t)
            row["ts_end"] = pd.Timestamp(t)
            out.append(row)
        day = nxt
    return out


# ------------------------------------------------------------------- readings


@dataclass(frozen=True)
class _Readings:
    source: IntArray  # row index into DemoGrid.data_sources
    ts_us: IntArray
    value: FloatArray
    received_us: IntArray


def _edits(grid: DemoGrid) -> dict[int, list[tuple[str, int, int, float]]]:
    """Reading defects by source row: (kind, first index, last index, value)."""
    if grid.defects.empty:
        return {}
    src_row = {
        s: i for i, s in enumerate(grid.data_sources["grid_element_data_source_id"])
    }
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


def _iter_readings(grid: DemoGrid, chunk_meters: int | None) -> Iterator[_Readings]:
    spec = grid.spec
    axis = _time_axis(spec)
    chunk = chunk_meters or _default_chunk(spec)
    if chunk < 1:
        raise ConfigError(f"chunk_meters must be >= 1, got {chunk}")
    src_row = {
        s: i for i, s in enumerate(grid.data_sources["grid_element_data_source_id"])
    }
    edits = _edits(grid)
    t_len = axis.n
    period_us = spec.period_s * _US_PER_S
    t_idx = np.arange(t_len, dtype=np.int64)
    for _gi, rows, block in _blocks(grid, axis, chunk):
        cons = np.array([src_row[s] for s in rows["consumer_source_id"]], np.int64)
        prod_ids = rows["producer_source_id"].to_numpy()[block.pv_rows]
        prod = np.array([src_row[str(s)] for s in prod_ids], np.int64)
        sources = np.concatenate([cons, prod])
        values = np.concatenate([block.consumer_kwh, block.producer_kwh]).ravel()
        n_src = len(sources)
        src = np.repeat(sources, t_len)
        tt = np.tile(t_idx, n_src)
        # received shortly after the interval end: 1-30 min, deterministic.
        delay_s = 60 + (src * 7919 + tt * 104729) % 1740
        received = axis.start_us + (tt + 1) * period_us + delay_s * _US_PER_S
        keep = np.ones(len(src), dtype=bool)
        extra: list[tuple[int, int, float, int]] = []
        for pos, s in enumerate(sources):
            for kind, first, last, value in edits.get(int(s), []):
                base = pos * t_len
                if kind == "reading_gap":
                    keep[base + first : base + last + 1] = False
                elif kind == "duplicate_exact":
                    extra.append((int(s), first, values[base + first], 0))
                elif kind == "late_correction":
                    truth = float(values[base + first])
                    values[base + first] = value
                    late = int(received[base + first]) + _LATE_CORRECTION_DELAY_US
                    extra.append((int(s), first, truth, late))
                elif kind == "negative_reading":
                    values[base + first] = value
        out_src = src[keep]
        out_t = tt[keep]
        out_val = values[keep]
        out_recv = received[keep]
        if extra:
            e_src = np.array([e[0] for e in extra], np.int64)
            e_t = np.array([e[1] for e in extra], np.int64)
            e_val = np.array([e[2] for e in extra], np.float64)
            e_recv = np.array(
                [
                    e[3] or axis.start_us + (e[1] + 1) * period_us
                    + (60 + (e[0] * 7919 + e[1] * 104729) % 1740) * _US_PER_S
                    for e in extra
                ],
                np.int64,
            )  # fmt: skip
            out_src = np.concatenate([out_src, e_src])
            out_t = np.concatenate([out_t, e_t])
            out_val = np.concatenate([out_val, e_val])
            out_recv = np.concatenate([out_recv, e_recv])
        yield _Readings(
            source=out_src,
            ts_us=axis.start_us + out_t * period_us,
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
        From :func:`build_grid`.
    spec : GridSpec, optional
        Must equal ``grid.spec`` when given.
    chunk_meters : int, optional
        Meters per chunk (default: about a million rows per chunk). The
        readings do not depend on it.

    Yields
    ------
    pandas.DataFrame
        Columns data_source_id (str uuid), metric ('kWh'), ts (interval start,
        UTC), value (kWh in the interval), period_s (s), received_at (UTC).
        Rows of a source are in time order; injected duplicates and late
        corrections come at the end of their chunk.

    Raises
    ------
    ConfigError
        When ``spec`` is not ``grid.spec`` or ``chunk_meters`` < 1.
    """
    _check_spec(grid, spec)
    ids = grid.data_sources["grid_element_data_source_id"].to_numpy(dtype=object)
    for r in _iter_readings(grid, chunk_meters):
        yield pd.DataFrame(
            {
                "data_source_id": ids[r.source],
                "metric": "kWh",
                "ts": _us_to_utc(r.ts_us),
                "value": r.value,
                "period_s": np.full(len(r.source), grid.spec.period_s, np.int32),
                "received_at": _us_to_utc(r.received_us),
            },
            columns=_READING_COLUMNS,
        )


def readings_frame(grid: DemoGrid, spec: GridSpec | None = None) -> pd.DataFrame:
    """All readings of ``grid`` in one DataFrame (small grids: tests, examples).

    Same columns as :func:`iter_reading_chunks`.
    """
    frames = list(iter_reading_chunks(grid, spec))
    if not frames:
        return pd.DataFrame(columns=_READING_COLUMNS)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------- load


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


def _binary_rows(
    r: _Readings, uuid_bytes: npt.NDArray[np.void], period_s: int
) -> bytes:
    rows = np.empty(len(r.source), dtype=_READING_DTYPE)
    rows["nfields"] = 6
    rows["l_id"] = 16
    rows["id"] = uuid_bytes[r.source]
    rows["l_metric"] = 3
    rows["metric"] = b"kWh"
    rows["l_ts"] = 8
    rows["ts"] = r.ts_us
    rows["l_value"] = 8
    rows["value"] = r.value
    rows["l_period"] = 4
    rows["period"] = period_s
    rows["l_received"] = 8
    rows["received"] = r.received_us
    return rows.tobytes()


def _check_standin(conn: psycopg.Connection, schema: str) -> None:
    state = _schema_state(conn, schema)
    if state in ("absent", "empty"):
        raise SchemaError(
            f"schema {schema!r} holds no EDM stand-in: run "
            f"`evcap edm install --schema {schema}` first."
        )
    if state == "foreign":
        raise SchemaError(
            f"schema {schema!r} is not an evcap EDM stand-in (no {MARKER_TABLE} "
            "table; a real Awesense EDM?). evcap never writes demo data into a "
            "real EDM: install a stand-in in another schema with "
            "`evcap edm install --schema <name>`."
        )


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
        What to load; a spec is built with :func:`build_grid` first.
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
    _check_standin(conn, schema)
    if isinstance(grid, GridSpec):
        grid = build_grid(grid)
    ident = sql.Identifier(schema)
    grid_ids = list(grid.spec.grid_ids)
    geometry_type = conn.execute(
        "select format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = %s::regclass and a.attname = 'geometry'",
        (f"{sql.Identifier(schema).as_string(conn)}.grid_element",),
    ).fetchone()
    postgis = bool(geometry_type and str(geometry_type[0]).startswith("geometry"))
    n_readings = grid.n_readings
    uuid_bytes = np.frombuffer(
        b"".join(
            uuid.UUID(s).bytes for s in grid.data_sources["grid_element_data_source_id"]
        ),
        dtype="V16",
    )
    readings_written = 0
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
        _copy_frame(conn, schema, "grid", grid.grids)
        elements = grid.elements.copy()
        elements["meta"] = pd.Series(
            [Jsonb(m) for m in elements["meta"]], index=elements.index, dtype=object
        )
        if postgis:
            elements["geometry"] = "SRID=4326;" + elements["geometry"]
        _copy_frame(conn, schema, "grid_element", elements)
        _copy_frame(conn, schema, "grid_element_data_source", grid.data_sources)
        row = conn.execute(
            "select coalesce(reltuples, 0) from pg_class where oid = %s::regclass",
            (f"{ident.as_string(conn)}.ts_data_source_reading",),
        ).fetchone()
        existing = float(row[0]) if row else 0.0
        rebuild_index = n_readings >= max(_REBUILD_INDEX_MIN_ROWS, existing)
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
        with (
            bar,
            conn.cursor().copy(
                sql.SQL(
                    "copy {}.ts_data_source_reading (data_source_id, metric, ts,"
                    " value, period_s, received_at) from stdin (format binary)"
                ).format(ident)
            ) as copy,
        ):
            copy.write(_COPY_SIGNATURE)
            for r in _iter_readings(grid, chunk_meters):
                copy.write(_binary_rows(r, uuid_bytes, grid.spec.period_s))
                readings_written += len(r.source)
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
        for table in (
            "grid",
            "grid_element",
            "grid_element_data_source",
            "ts_data_source_reading",
        ):
            conn.execute(sql.SQL("analyze {}.{}").format(ident, sql.Identifier(table)))
    conn.commit()
    return LoadSummary(
        schema=schema,
        grid_ids=tuple(grid_ids),
        elements=len(grid.elements),
        data_sources=len(grid.data_sources),
        readings=readings_written,
        seconds=time.perf_counter() - started,
    )


def _copy_frame(
    conn: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame
) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("copy {}.{} ({}) from stdin").format(
        sql.Identifier(schema), sql.Identifier(table), columns
    )
    with conn.cursor().copy(statement) as copy:
        for row in frame.itertuples(index=False, name=None):
            copy.write_row([None if _is_missing(v) else v for v in row])


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NaT
