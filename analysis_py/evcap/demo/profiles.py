"""Load model: weather, per-meter parameters and interval energy, as arrays.

Meters have residential or commercial load shapes in local time (morning and
evening peaks, electric heating in winter, some cooling in summer, business
hours, weekends, noise, a few home EV chargers); about a fifth of the houses
have rooftop PV. A meter's random numbers come from counter-based streams
(Philox) at an offset given by its index in the grid, so any block of
meters is simulated in one vectorised call and the values never depend on
how the meters are chunked.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from evcap.demo.spec import PG_EPOCH, US_PER_S, FloatArray, GridSpec, IntArray

__all__ = [
    "PARAM_NAMES",
    "MeterBlock",
    "TimeAxis",
    "meter_params",
    "simulate",
    "time_axis",
]

PARAM_NAMES = (
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


@dataclass(frozen=True)
class TimeAxis:
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


def time_axis(spec: GridSpec) -> TimeAxis:
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
    start_us = int((spec.start_utc - PG_EPOCH).total_seconds()) * US_PER_S
    ts_us = start_us + np.arange(n, dtype=np.int64) * spec.period_s * US_PER_S
    return TimeAxis(
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
    axis: TimeAxis, lat: FloatArray, lon: FloatArray, shift_h: FloatArray
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


def meter_params(
    rng: np.random.Generator,
    residential: npt.NDArray[np.bool_],
    apartment: npt.NDArray[np.bool_],
) -> tuple[dict[str, FloatArray], FloatArray]:
    """Load-model parameters of meters (arrays by name) and PV sizes (kWp, 0 = none).

    Every meter consumes the same number of random draws, so a meter's
    parameters depend only on its position.
    """
    n = len(residential)
    u = rng.random((16, n))
    z = rng.standard_normal((2, n))
    res, apt = residential, apartment
    house = res & ~apt
    scale = np.where(apt, 0.55, 1.0)
    heat = u[0] < np.where(apt, 0.25, 0.45)
    com_scale = np.clip(np.exp(math.log(30.0) + 0.6 * z[1]), 5.0, 200.0)
    kind = np.minimum(
        3, (u[1] * 4).astype(np.int64)
    )  # office, retail, restaurant, warehouse
    open_h = np.array([7.5, 9.0, 10.5, 6.0])[kind]
    close_h = np.array([18.0, 21.0, 22.5, 16.0])[kind]
    weekend = np.array([0.0, 0.9, 1.0, 0.1])[kind]

    def lerp(row: int, low: float, high: float) -> FloatArray:
        return np.asarray(low + (high - low) * u[row], dtype=np.float64)

    zeros = np.zeros(n)
    params = {
        "base_kw": np.where(
            res, scale * np.exp(math.log(0.35) + 0.35 * z[0]), com_scale
        ),
        "morning_kw": np.where(res, scale * lerp(2, 0.4, 1.4), 0.0),
        "evening_kw": np.where(res, scale * lerp(3, 0.9, 2.4), 0.0),
        "midday_kw": np.where(res, scale * lerp(4, 0.2, 0.8), 0.0),
        "shift_h": np.where(res, lerp(5, -0.75, 0.75), lerp(5, -0.5, 0.5)),
        "heat_kw_per_c": np.where(
            res,
            scale * np.where(heat, lerp(6, 0.15, 0.35), lerp(6, 0.01, 0.05)),
            com_scale * lerp(6, 0.005, 0.02),
        ),
        "cool_kw_per_c": np.where(
            res,
            scale * np.where(u[7] < 0.3, lerp(8, 0.2, 0.6), 0.0),
            com_scale * lerp(8, 0.01, 0.035),
        ),
        "ev_kw": np.where(house & (u[9] < 0.08), np.where(u[10] < 0.6, 7.2, 3.3), 0.0),
        "noise_sigma": np.where(res, lerp(11, 0.15, 0.3), lerp(11, 0.05, 0.12)),
        "open_h": np.where(res, 0.0, open_h),
        "close_h": np.where(res, 0.0, close_h),
        "weekend_factor": np.where(res, 0.0, weekend),
        "base_frac": np.where(res, 0.0, lerp(12, 0.2, 0.45)),
        "pv_shift_h": np.where(res, lerp(13, -0.8, 0.8), lerp(13, -0.5, 0.5)),
        "clear_sky_only": zeros,
        "load_scale": np.ones(n),
    }
    pv = np.where(
        house & (u[14] < 0.22),
        lerp(15, 3.0, 9.0),
        np.where(~res & (u[14] < 0.1), lerp(15, 10.0, 50.0), 0.0),
    )
    return params, pv


@dataclass(frozen=True)
class MeterBlock:
    """Clean interval energy (kWh) of a block of meters of one grid."""

    consumer_kwh: FloatArray  # (n, T)
    producer_kwh: FloatArray  # (n_pv, T), rows of meters with pv
    pv_rows: IntArray  # block-relative meter index of each producer row


def _uniforms(
    spec: GridSpec, grid_index: int, stream: int, first: int, n: int, per_meter: int
) -> FloatArray:
    """``per_meter`` uniforms [0, 1) for each of meters ``first`` .. ``first+n-1``.

    Meter m's numbers sit at a fixed place of one Philox stream per (seed,
    grid, stream): the same for any chunking.
    """
    blocks = -(-per_meter // 4)  # Philox yields 4 x 64 bits per counter step
    key = np.random.SeedSequence([spec.seed, grid_index, stream]).generate_state(
        2, np.uint64
    )
    counter = np.array([first * blocks, 0, 0, 0], dtype=np.uint64)
    gen = np.random.Generator(np.random.Philox(key=key, counter=counter))
    return gen.random((n, 4 * blocks))[:, :per_meter]


def simulate(
    spec: GridSpec, axis: TimeAxis, meters: pd.DataFrame, grid_index: int
) -> MeterBlock:
    """Simulate the meters in ``meters`` (rows of one grid's meters, in order).

    ``meters`` needs ``meter_index`` (position in the grid, increasing),
    ``customer_type``, ``pv_kwp``, ``latitude``, ``longitude`` and
    :data:`PARAM_NAMES`.
    """
    n, t_len = len(meters), axis.n
    hours = spec.period_s / 3600.0
    if n == 0:
        return MeterBlock(
            np.zeros((0, t_len)), np.zeros((0, t_len)), np.zeros(0, np.int64)
        )
    ordinal = meters["meter_index"].to_numpy(np.int64)
    first = int(ordinal[0])
    span = int(ordinal[-1]) - first + 1
    if n > 1 and not (np.diff(ordinal) > 0).all():
        raise ValueError("simulate needs meters of one grid in increasing order")
    rel = ordinal - first
    p = {name: meters[name].to_numpy(np.float64)[:, None] for name in PARAM_NAMES}
    # Normal noise by Box-Muller from two uniforms per (meter, interval).
    u = _uniforms(spec, grid_index, 1000, first, span, 2 * t_len)[rel]
    u = u.reshape(n, 2, t_len)
    radius = np.sqrt(-2.0 * np.log1p(-u[:, 0]))
    angle = 2.0 * np.pi * u[:, 1]
    hour = axis.local_hour[None, :]
    temp = axis.temperature_c[None, :]
    weekday = axis.weekday[None, :]
    residential = (meters["customer_type"] == "Residential").to_numpy()
    kw = np.empty((n, t_len))
    res = np.flatnonzero(residential)
    com = np.flatnonzero(~residential)
    if len(res):
        q = {k: v[res] for k, v in p.items()}
        shift = q["shift_h"]
        morning = np.where(
            weekday, _bump(hour, 7.0 + shift, 1.0), 0.8 * _bump(hour, 9.5 + shift, 1.6)
        )
        evening_peak = np.where(
            weekday, _bump(hour, 18.5 + shift, 2.0), _bump(hour, 18.0 + shift, 2.4)
        )
        midday = np.where(weekday, 0.3, 0.7) * _bump(hour, 13.0, 3.0)
        heat_shape = 0.7 + 0.3 * (_bump(hour, 7.0, 2.0) + _bump(hour, 19.0, 3.0))
        cool_shape = np.maximum(0.0, temp - 21.0) * (0.4 + 0.6 * _bump(hour, 17.0, 3.0))
        kw[res] = (
            q["base_kw"]
            + q["morning_kw"] * morning
            + q["evening_kw"] * evening_peak
            + q["midday_kw"] * midday
            + q["heat_kw_per_c"] * (np.maximum(0.0, 15.5 - temp) * heat_shape)
            + q["cool_kw_per_c"] * cool_shape
        )
    if len(com):
        q = {k: v[com] for k, v in p.items()}
        occupied = (
            _sigmoid((hour - q["open_h"] - q["shift_h"]) / 0.4)
            * _sigmoid((q["close_h"] + q["shift_h"] - hour) / 0.4)
            * np.where(weekday, 1.0, q["weekend_factor"])
        )
        kw[com] = (
            q["base_kw"] * (q["base_frac"] + (1.0 - q["base_frac"]) * occupied)
            + q["heat_kw_per_c"] * np.maximum(0.0, 14.0 - temp)
            + q["cool_kw_per_c"] * np.maximum(0.0, temp - 20.0) * (0.3 + 0.7 * occupied)
        )
    sigma = p["noise_sigma"]
    kw *= np.exp(sigma * (radius * np.cos(angle)) - 0.5 * sigma**2)
    ev_rows = np.flatnonzero(p["ev_kw"][:, 0] > 0)
    if len(ev_rows):
        n_days = int(axis.day_index.max()) + 2
        e = _uniforms(spec, grid_index, 1001, first, span, 3 * n_days)[rel[ev_rows]]
        starts = 21.0 + 2.5 * e[:, :n_days]
        durations = (1.0 + 4.0 * e[:, n_days : 2 * n_days]) * (
            e[:, 2 * n_days :] < 0.55
        )
        h = axis.local_hour
        evening = h >= 12.0
        session_day = np.where(evening, axis.day_index, axis.day_index - 1) + 1
        since = np.where(evening, h, h + 24.0)[None, :] - starts[:, session_day]
        on = (since >= 0.0) & (since < durations[:, session_day])
        kw[ev_rows] += p["ev_kw"][ev_rows] * on
    kw *= p["load_scale"]
    consumer_kwh = np.round(np.maximum(kw, 0.02) * hours, 4)

    pv_kwp = meters["pv_kwp"].to_numpy(np.float64)
    pv_rows = np.flatnonzero(pv_kwp > 0).astype(np.int64)
    if len(pv_rows):
        clear = _clear_sky(
            axis,
            meters["latitude"].to_numpy(np.float64)[pv_rows],
            meters["longitude"].to_numpy(np.float64)[pv_rows],
            p["pv_shift_h"][pv_rows, 0],
        )
        z_pv = radius[pv_rows] * np.sin(angle[pv_rows])
        cloud = np.where(
            p["clear_sky_only"][pv_rows] > 0,
            0.95,
            np.clip(axis.cloud[None, :] * (1 + 0.05 * z_pv), 0.0, 1.0),
        )
        producer_kwh = np.round(pv_kwp[pv_rows, None] * 0.85 * clear * cloud * hours, 4)
    else:
        producer_kwh = np.zeros((0, t_len))
    return MeterBlock(consumer_kwh, producer_kwh, pv_rows)
