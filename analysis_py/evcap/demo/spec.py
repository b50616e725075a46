"""What synthetic grid to build (:class:`GridSpec`), and what was built (:class:`DemoGrid`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

from evcap.errors import ConfigError

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
POLE_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if s <= 167)
PAD_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if s >= 50)
LVLV_KVA = tuple(s for s in DISTRIBUTION_KVA_SIZES if 15 <= s <= 300)
MVMV_KVA: tuple[float, ...] = (1000, 1500, 2000, 2500, 3000, 5000, 7500)
HVMV_KVA: tuple[float, ...] = (10000, 15000, 20000, 25000, 30000, 40000, 50000)
KVA_WORDS = {
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
GRID_NAMES = ("north", "south", "east", "west", "central", "harbour", "valley")
# Grid centres near Vancouver (latitude, longitude), one per grid name.
GRID_CENTRES = (
    (49.300, -123.080),
    (49.200, -123.100),
    (49.250, -122.980),
    (49.255, -123.200),
    (49.255, -123.110),
    (49.290, -123.130),
    (49.180, -122.950),
)
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
US_PER_S = 1_000_000
LATE_CORRECTION_DELAY_US = 36 * 3600 * US_PER_S
#: Rows of readings generated (and written) per chunk of meters.
ROWS_PER_CHUNK = 500_000
ELEMENT_COLUMNS = [
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
SOURCE_COLUMNS = [
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
READING_COLUMNS = [
    "data_source_id",
    "metric",
    "ts",
    "value",
    "period_s",
    "received_at",
]
DEFECT_COLUMNS = [
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
        name = GRID_NAMES[i % len(GRID_NAMES)]
        suffix = "" if i < len(GRID_NAMES) else f"-{i // len(GRID_NAMES) + 1}"
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


def default_chunk(spec: GridSpec) -> int:
    """Meters simulated per chunk: about :data:`ROWS_PER_CHUNK` rows."""
    return max(1, ROWS_PER_CHUNK // max(1, spec.n_intervals))


# UUID hyphen positions in the 36-character text form.
_UUID_HEX_AT = np.array(
    [i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.int64
)


def source_uuids(
    seed: int, grid_index: int, meter_index: IntArray, producer: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.void]]:
    """Data source ids (text and 16 raw bytes) of meters of one grid.

    Version-8 (custom) UUIDs laid out as seed digest (6 bytes), version,
    grid index, variant, meter index (4 bytes), kind (0 consumer, 1
    producer), zero: unique per (seed, grid, meter, kind), and their byte
    order is the generator's row order (grid, meter, consumer before
    producer). Readings therefore reach the database already in the order
    of its ``(data_source_id, metric, ts)`` index, which PostgreSQL then
    builds from presorted input.
    """
    n = len(meter_index)
    digest = np.frombuffer(
        np.random.SeedSequence([seed, 0xDE40]).generate_state(2, np.uint32).tobytes(),
        dtype=np.uint8,
    )[:6]
    raw = np.zeros((n, 16), dtype=np.uint8)
    raw[:, :6] = digest
    raw[:, 6] = 0x80
    raw[:, 7] = grid_index & 0xFF
    raw[:, 8] = 0x80
    index = np.asarray(meter_index, dtype=np.uint32)
    for k in range(4):
        raw[:, 9 + k] = (index >> np.uint32(8 * (3 - k))) & np.uint32(0xFF)
    raw[:, 13] = np.asarray(producer, dtype=np.uint8)
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_HEX_AT] = hexed.reshape(n, 32)
    ids = text.view("S36").ravel().astype("U36").astype(object)
    return ids, raw.view("V16").ravel()


def uuid_bytes(ids: pd.Series) -> npt.NDArray[np.void]:
    """16 raw bytes of each text UUID (in order), for binary ``COPY``."""
    joined = "".join(ids.astype(str)).replace("-", "")
    return np.frombuffer(bytes.fromhex(joined), dtype="V16")
