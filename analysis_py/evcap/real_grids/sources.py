"""Where real networks and their load profiles come from.

* ``simbench:<code>`` — a SimBench grid (PyPI ``simbench``: German benchmark
  grids from LV to EHV) with its own year of 15-minute load and generation
  profiles (2016). The profile time stamps are local standard time without
  DST (366 x 96 rows), read here as CET (UTC+01:00).
* ``pandapower:<name>`` — a network of ``pandapower.networks`` (the IEEE
  European LV test feeder ``ieee_european_lv_asymmetric``, the Kerber
  ``create_kerber_*`` and Dickert ``create_dickert_lv_network`` LV grids, the
  Schutterwald LV grid ``lv_schutterwald`` (meshed, normally-open switches),
  ...). These have no profiles: each load gets a residential shape of evcap's
  demo generator (:mod:`evcap.demo`, local time of the network), scaled
  by the load's ``p_mw`` (a load of 2 kW gets the demo house as is), and each
  static generator a clear-sky PV shape of its ``p_mw`` peak.

Absolute power of a load or generator = relative profile x ``p_mw`` x
``scaling`` (kW here).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from evcap.errors import ConfigError

__all__ = [
    "GENERATED_HOUSE_KW",
    "NetworkSource",
    "Profiles",
    "generated_profiles",
    "load_network",
    "parse_source",
    "simbench_profiles",
]

#: A load of this p_mw x 1000 (kW) gets the demo generator's house shape as is.
GENERATED_HOUSE_KW = 2.0
PERIOD_S = 900
SIMBENCH_UTC_OFFSET = dt.timedelta(hours=1)
SIMBENCH_TIMEZONE = "Europe/Berlin"
# Local time zone and location (latitude, longitude) of the generated shapes.
_PANDAPOWER_PLACES: dict[str, tuple[str, float, float]] = {
    "ieee_european_lv_asymmetric": ("Europe/London", 52.5, -1.5),
}
_DEFAULT_PLACE = ("Europe/Berlin", 48.5, 7.9)
_INSTALL_HINT = (
    "install the real-grid extra: pip install 'evcap[grids]' (make install does it)"
)


@dataclass(frozen=True)
class NetworkSource:
    """A network named on the command line, e.g. ``simbench:1-LV-rural1--0-sw``."""

    kind: str
    name: str
    #: Keyword arguments of a pandapower network function, e.g.
    #: ``pandapower:create_dickert_lv_network:feeders_range=long,customer=multiple``.
    options: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = f"{self.kind}:{self.name}"
        if self.options:
            text += ":" + ",".join(f"{k}={v}" for k, v in self.options)
        return text

    @property
    def default_grid_id(self) -> str:
        """The EDM grid id used when none is given."""
        return "-".join([self.kind, self.name, *(v for _, v in self.options)])

    @property
    def timezone(self) -> str:
        """Local time zone of the network's profiles."""
        if self.kind == "simbench":
            return SIMBENCH_TIMEZONE
        return _PANDAPOWER_PLACES.get(self.name, _DEFAULT_PLACE)[0]

    @property
    def default_start(self) -> dt.date:
        """First day of the profiles (SimBench: 2016-01-01)."""
        return dt.date(2016, 1, 1) if self.kind == "simbench" else dt.date(2024, 1, 1)


def parse_source(text: str) -> NetworkSource:
    """Read ``simbench:<code>`` or ``pandapower:<name>``.

    Raises
    ------
    ConfigError
        For any other form.
    """
    kind, sep, name = str(text).partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if not sep or kind not in ("simbench", "pandapower") or not name:
        raise ConfigError(
            f"--from expects simbench:<code> or pandapower:<name>, got {text!r} "
            "(e.g. simbench:1-LV-rural1--0-sw or pandapower:ieee_european_lv_asymmetric)"
        )
    options: tuple[tuple[str, str], ...] = ()
    if kind == "pandapower":
        name, _, args = name.partition(":")
        pairs = [a.partition("=") for a in args.split(",")] if args.strip() else []
        if any(not k.strip().isidentifier() or not eq for k, eq, _ in pairs):
            raise ConfigError(
                f"pandapower network options are name=value pairs separated by "
                f"commas, got {args!r}"
            )
        options = tuple((k.strip(), v.strip()) for k, _, v in pairs)
        if name.startswith("_") or not name.isidentifier():
            raise ConfigError(f"{name!r} is not a pandapower.networks function name")
    return NetworkSource(kind, name, options)


def _import(module: str) -> Any:
    # pandapower logs a warning on import when numba is missing: it is optional
    # (power flows only) and nothing evcap uses.
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{module} is not installed: {_INSTALL_HINT}") from exc


def load_network(source: NetworkSource) -> Any:
    """The pandapower network of ``source``.

    Raises
    ------
    ConfigError
        When the package is missing, the SimBench code or the network name is
        unknown, or the function needs arguments.
    """
    if source.kind == "simbench":
        sb = _import("simbench")
        codes = set(sb.collect_all_simbench_codes())
        if source.name not in codes:
            examples = sorted(c for c in codes if c.endswith("-0-sw"))[:8]
            raise ConfigError(
                f"unknown SimBench code {source.name!r}; codes look like "
                f"{', '.join(examples)} (simbench.collect_all_simbench_codes())"
            )
        with warnings.catch_warnings():
            # the packages' own deprecations: nothing a user of evcap can act on
            warnings.simplefilter("ignore")
            return sb.get_simbench_net(source.name)
    networks = _import("pandapower.networks")
    factory = getattr(networks, source.name, None)
    if not callable(factory):
        raise ConfigError(
            f"pandapower.networks has no network {source.name!r}; try "
            "ieee_european_lv_asymmetric, create_kerber_landnetz_freileitung_1, "
            "create_dickert_lv_network or lv_schutterwald"
        )
    import yaml

    kwargs = {k: yaml.safe_load(v) for k, v in source.options}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"pandapower.networks.{source.name} does not take {dict(kwargs)}: {exc}"
        ) from exc


@dataclass(frozen=True)
class Profiles:
    """Absolute power of every load and generator, by interval.

    Attributes
    ----------
    interval_start : pandas.DatetimeIndex
        Interval starts (UTC), every ``period_s`` seconds.
    period_s : int
        Interval length (s).
    load_kw : pandas.DataFrame
        Average kW by interval (rows) and load (columns ``'<table> <index>'``,
        e.g. ``'load 3'``, ``'asymmetric_load 7'``); positive = consumption.
    sgen_kw : pandas.DataFrame
        Same for static generators; positive = generation.
    """

    interval_start: pd.DatetimeIndex
    period_s: int
    load_kw: pd.DataFrame
    sgen_kw: pd.DataFrame


def _period(start: dt.date, days: int, zone: dt.tzinfo) -> tuple[pd.Timestamp, int]:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise ConfigError(f"days must be an integer from 1 to 3660, got {days!r}")
    first = pd.Timestamp(dt.datetime.combine(start, dt.time(0), tzinfo=zone))
    last = pd.Timestamp(
        dt.datetime.combine(start + dt.timedelta(days=days), dt.time(0), tzinfo=zone)
    )
    n = int((last - first).total_seconds()) // PERIOD_S
    return first.tz_convert("UTC"), n


def _power_columns(
    frame: pd.DataFrame, table: str, column: str = "p_mw"
) -> tuple[list[str], np.ndarray]:
    """Column labels and kW factors (p_mw x scaling x 1000) of in-service rows."""
    if "in_service" in frame.columns:
        frame = frame[frame["in_service"].fillna(True).astype(bool)]
    if table.startswith("asymmetric"):
        p = sum(frame[f"p_{ph}_mw"].fillna(0.0) for ph in "abc")
    else:
        p = frame[column].fillna(0.0)
    scaling = frame["scaling"].fillna(1.0) if "scaling" in frame.columns else 1.0
    kw = (pd.Series(p, index=frame.index) * scaling * 1000.0).to_numpy(np.float64)
    return [f"{table} {int(i)}" for i in frame.index], kw


def _frame(net: Any, table: str) -> pd.DataFrame:
    if table in net and isinstance(net[table], pd.DataFrame):
        frame: pd.DataFrame = net[table]
        return frame
    return pd.DataFrame()


def simbench_profiles(net: Any, start: dt.date, days: int) -> Profiles:
    """Profiles of a SimBench grid from its own relative profiles.

    Raises
    ------
    ConfigError
        When the period is not inside the profiles' year, or a load or
        generator names a profile that is missing.
    """
    zone = dt.timezone(SIMBENCH_UTC_OFFSET)
    first, n = _period(start, days, zone)
    tables = net["profiles"]
    times = pd.to_datetime(tables["load"]["time"], format="%d.%m.%Y %H:%M")
    utc = pd.DatetimeIndex(times - SIMBENCH_UTC_OFFSET).tz_localize("UTC")
    pos = int(utc.searchsorted(first))
    if pos + n > len(utc) or pos >= len(utc) or utc[pos] != first:
        raise ConfigError(
            f"SimBench profiles cover {times.iloc[0]:%Y-%m-%d} to "
            f"{times.iloc[-1]:%Y-%m-%d} (CET); {days} days from {start} do not fit: "
            "choose --start and --days inside that year"
        )
    rows = slice(pos, pos + n)
    index = pd.DatetimeIndex(utc[rows])
    gen_profiles = pd.concat(
        [
            tables[name].drop(columns="time").iloc[rows].reset_index(drop=True)
            for name in ("renewables", "powerplants")
            if name in tables and len(tables[name])
        ],
        axis=1,
    )
    out: dict[str, pd.DataFrame] = {}
    for table, relative, suffix in (
        ("load", tables["load"].drop(columns="time").iloc[rows], "_pload"),
        ("sgen", gen_profiles, ""),
    ):
        frame = _frame(net, table)
        labels, kw = _power_columns(frame, table)
        active = frame.loc[[int(c.split()[1]) for c in labels]]
        values = np.ones((n, len(labels)))
        if "profile" in active.columns:
            names = active["profile"]
            missing = sorted(
                {str(p) + suffix for p in names.dropna()}
                - set(map(str, relative.columns))
            )
            if missing:
                raise ConfigError(
                    f"SimBench {table} profiles missing from the data: {missing[:5]}"
                )
            has = names.notna().to_numpy()
            cols = [str(p) + suffix for p in names[has]]
            values[:, has] = relative[cols].to_numpy(np.float64)
        out[table] = pd.DataFrame(values * kw[None, :], columns=labels)
    return Profiles(index, PERIOD_S, out["load"], out["sgen"])


def generated_profiles(
    net: Any,
    start: dt.date,
    days: int,
    *,
    seed: int = 42,
    timezone: str = _DEFAULT_PLACE[0],
    latitude: float = _DEFAULT_PLACE[1],
    longitude: float = _DEFAULT_PLACE[2],
    chunk: int = 256,
) -> Profiles:
    """Demo-generator shapes for a network without profiles (15-min, local time).

    Every load gets a residential shape of :mod:`evcap.demo` (weather,
    morning and evening peaks, heating, a few home EV chargers) x its
    ``p_mw`` / 2 kW; every static generator a PV shape peaking near its
    ``p_mw``. Deterministic from ``seed``.
    """
    from evcap.demo import GridSpec
    from evcap.demo.profiles import meter_params, simulate, time_axis

    load_labels, load_kw = [], []
    for table in ("load", "asymmetric_load"):
        labels, kw = _power_columns(_frame(net, table), table)
        load_labels += labels
        load_kw.append(kw)
    sgen_labels, sgen_kw = [], []
    for table in ("sgen", "asymmetric_sgen"):
        labels, kw = _power_columns(_frame(net, table), table)
        sgen_labels += labels
        sgen_kw.append(kw)
    load_factor = np.concatenate(load_kw) if load_kw else np.zeros(0)
    sgen_peak = np.concatenate(sgen_kw) if sgen_kw else np.zeros(0)
    n_loads = len(load_labels)
    n_rows = n_loads + len(sgen_labels)
    spec = GridSpec(
        seed=seed,
        meters=max(1, n_rows),
        days=days,
        interval_minutes=PERIOD_S // 60,
        start=start,
        timezone=timezone,
    )
    axis = time_axis(spec)
    rng = np.random.default_rng([seed, 23])
    params, _ = meter_params(rng, np.ones(n_rows, bool), np.zeros(n_rows, bool))
    rows = pd.DataFrame(
        {
            "meter_index": np.arange(n_rows, dtype=np.int64),
            "customer_type": "Residential",
            "pv_kwp": np.r_[np.zeros(n_loads), np.maximum(0.0, sgen_peak)],
            "latitude": latitude,
            "longitude": longitude,
            **params,
        }
    )
    load_values = np.zeros((axis.n, n_loads))
    sgen_values = np.zeros((axis.n, len(sgen_labels)))
    hours = PERIOD_S / 3600.0
    for lo in range(0, n_rows, chunk):
        block = simulate(spec, axis, rows.iloc[lo : lo + chunk], 0)
        i = np.arange(lo, lo + block.consumer_kwh.shape[0])
        is_load = i < n_loads
        load_values[:, i[is_load]] = (
            block.consumer_kwh[is_load].T
            / hours
            * load_factor[i[is_load]]
            / GENERATED_HOUSE_KW
        )
        j = lo + block.pv_rows - n_loads
        sgen_values[:, j[j >= 0]] = block.producer_kwh[j >= 0].T / hours
    index = pd.DatetimeIndex(
        pd.to_datetime(
            axis.ts_us, unit="us", origin=pd.Timestamp("2000-01-01"), utc=True
        )
    )
    return Profiles(
        index,
        PERIOD_S,
        pd.DataFrame(load_values, columns=load_labels),
        pd.DataFrame(sgen_values, columns=sgen_labels),
    )


def profiles_for(
    source: NetworkSource, net: Any, start: dt.date, days: int, seed: int
) -> Profiles:
    """The network's own profiles (SimBench) or generated ones (pandapower)."""
    if source.kind == "simbench":
        return simbench_profiles(net, start, days)
    zone, lat, lon = _PANDAPOWER_PLACES.get(source.name, _DEFAULT_PLACE)
    ZoneInfo(zone)
    return generated_profiles(
        net, start, days, seed=seed, timezone=zone, latitude=lat, longitude=lon
    )
