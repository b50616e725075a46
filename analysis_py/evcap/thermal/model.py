"""Thermal model of oil-immersed transformers (IEC 60076-7), vectorised.

The model is the difference-equation form of the IEC 60076-7:2018 thermal
model (in its exponential form): a top-oil temperature that follows its
ultimate rise with time constant ``k11 * tau_o``, and a hot-spot rise over top
oil that is the difference of two first-order terms, which together give the
overshoot of the winding response when ``k21 > 1``::

    theta_o' = theta_a + d_theta_or * ((1 + R K^2) / (1 + R))^x   (tau = k11 tau_o)
    d_h1'    = k21 * H g_r * K^y                                  (tau = k22 tau_w)
    d_h2'    = (k21 - 1) * H g_r * K^y                            (tau = tau_o / k22)
    theta_h  = theta_o + d_h1 - d_h2

where ``'`` marks the value each state relaxes to, ``K`` the load in per unit
of the rating and ``theta_a`` the ambient temperature. Each state follows the
exact solution of its ODE for piecewise-constant inputs,
``s(t + dt) = s' + (s(t) - s') * exp(-dt / tau)`` (the standard's difference
equations with ``1 - exp(-dt/tau)`` instead of ``dt/tau``; it is
unconditionally stable, so the time step only sets where the peak is sampled).

A *design day* is 24 hourly loads and 24 hourly ambient temperatures, each
held for its hour. :func:`design_day` runs it to its periodic steady state:
the start state is solved from the day's linear response (each state after a
day is ``c * start + b``), then the day is run and repeated until start and end
agree within ``tolerance_k``; temperatures are sampled every
``step_minutes`` minutes. Everything is vectorised with numpy over rows
(transformers x months).

Relative ageing rate (IEC 60076-7): normal Kraft paper
``V = 2 ** ((theta_h - 98) / 6)``; thermally upgraded paper
``V = exp(15000 / (110 + 273) - 15000 / (theta_h + 273))``. ``ageing_per_day``
is the mean of ``V`` over the day's samples (days of normal life used per day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from evcap.errors import ConfigError

Insulation = Literal["normal", "thermally_upgraded"]
INSULATIONS: tuple[str, ...] = ("normal", "thermally_upgraded")

HOURS = 24
MINUTES_PER_HOUR = 60
CHUNK_SAMPLES = 1 << 21
"""Samples per state held at once by :func:`design_day` (bounds its memory)."""

FloatArray = NDArray[np.float64]

PARAMETER_COLUMNS = (
    "top_oil_rise_k",
    "winding_gradient_k",
    "hot_spot_factor",
    "loss_ratio",
    "oil_exponent",
    "winding_exponent",
    "oil_time_constant_min",
    "winding_time_constant_min",
    "k11",
    "k21",
    "k22",
    "insulation",
)
"""Columns of a thermal-parameter frame (and of ``seeds/thermal_parameters.csv``)."""

IEC_ONAN_DISTRIBUTION: dict[str, float | str] = {
    "top_oil_rise_k": 55.0,
    "winding_gradient_k": 20.91,
    "hot_spot_factor": 1.1,
    "loss_ratio": 5.0,
    "oil_exponent": 0.8,
    "winding_exponent": 1.6,
    "oil_time_constant_min": 180.0,
    "winding_time_constant_min": 4.0,
    "k11": 1.0,
    "k21": 1.0,
    "k22": 2.0,
    "insulation": "normal",
}
"""IEC 60076-7:2018 Table 4, distribution transformers, ONAN: top-oil rise
55 K, hot-spot-to-top-oil gradient at rated current ``H * g_r`` = 23 K
(``H`` = 1.1, ``g_r`` = 20.91 K), ``R`` = 5, ``x`` = 0.8, ``y`` = 1.6,
``tau_o`` = 180 min, ``tau_w`` = 4 min, ``k11`` = 1, ``k21`` = 1, ``k22`` = 2.
At rated load and 20 degC ambient the hot spot is 98 degC (ageing rate 1)."""


@dataclass(frozen=True)
class ThermalParameters:
    """Thermal parameters of ``n`` transformers (arrays of shape ``(n,)``).

    Attributes
    ----------
    top_oil_rise_k : ndarray
        Top-oil rise over ambient at rated losses, K (``d_theta_or``).
    winding_gradient_k : ndarray
        Average winding to average oil gradient at rated current, K (``g_r``).
    hot_spot_factor : ndarray
        Hot-spot factor ``H`` (dimensionless); ``H * g_r`` is the hot-spot to
        top-oil gradient at rated current, K.
    loss_ratio : ndarray
        Load losses at rated current / no-load losses (``R``).
    oil_exponent, winding_exponent : ndarray
        Exponents ``x`` (oil) and ``y`` (winding).
    oil_time_constant_min, winding_time_constant_min : ndarray
        Time constants ``tau_o`` and ``tau_w``, minutes.
    k11, k21, k22 : ndarray
        Thermal model constants of IEC 60076-7.
    thermally_upgraded : ndarray of bool
        True for thermally upgraded paper (ageing reference 110 degC), False
        for normal Kraft paper (98 degC).
    """

    top_oil_rise_k: FloatArray
    winding_gradient_k: FloatArray
    hot_spot_factor: FloatArray
    loss_ratio: FloatArray
    oil_exponent: FloatArray
    winding_exponent: FloatArray
    oil_time_constant_min: FloatArray
    winding_time_constant_min: FloatArray
    k11: FloatArray
    k21: FloatArray
    k22: FloatArray
    thermally_upgraded: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.top_oil_rise_k.shape[0])

    @property
    def hot_spot_gradient_k(self) -> FloatArray:
        """``H * g_r``: hot-spot to top-oil gradient at rated current, K."""
        return self.hot_spot_factor * self.winding_gradient_k

    def take(self, index: ArrayLike) -> ThermalParameters:
        """The parameters of rows ``index`` (numpy fancy indexing)."""
        idx = np.asarray(index)
        return ThermalParameters(
            **{f.name: getattr(self, f.name)[idx] for f in fields(self)}
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ThermalParameters:
        """Parameters from a frame with :data:`PARAMETER_COLUMNS`, one row each.

        Raises
        ------
        ConfigError
            On a missing column, a value that is not a finite number, a time
            constant, exponent, factor or rise that is not > 0, ``R`` < 0,
            ``k21`` < 1, or an insulation other than normal /
            thermally_upgraded.
        """
        missing = [c for c in PARAMETER_COLUMNS if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"thermal parameters lack column(s) {', '.join(missing)}; "
                "see seeds/thermal_parameters.csv"
            )
        values: dict[str, FloatArray] = {}
        for column in PARAMETER_COLUMNS[:-1]:
            number = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            if not np.all(np.isfinite(number)):
                raise ConfigError(f"thermal parameter {column} must be a finite number")
            values[column] = number
        positive = [c for c in PARAMETER_COLUMNS[:-1] if c not in ("loss_ratio", "k21")]
        for column in positive:
            if np.any(values[column] <= 0):
                raise ConfigError(f"thermal parameter {column} must be > 0")
        if np.any(values["loss_ratio"] < 0):
            raise ConfigError("thermal parameter loss_ratio must be >= 0")
        if np.any(values["k21"] < 1):
            raise ConfigError("thermal parameter k21 must be >= 1 (IEC 60076-7)")
        insulation = frame["insulation"].astype(str).str.strip().str.lower()
        bad = sorted(set(insulation) - set(INSULATIONS))
        if bad:
            raise ConfigError(
                f"insulation must be one of {', '.join(INSULATIONS)}, got {', '.join(bad)}"
            )
        return cls(
            **values,
            thermally_upgraded=(insulation == "thermally_upgraded").to_numpy(bool),
        )

    @classmethod
    def iec_defaults(cls, n: int = 1) -> ThermalParameters:
        """``n`` rows of :data:`IEC_ONAN_DISTRIBUTION`."""
        frame = pd.DataFrame([IEC_ONAN_DISTRIBUTION] * n)
        return cls.from_frame(frame)


@dataclass(frozen=True)
class DesignDayResult:
    """Temperatures of ``n`` design days in periodic steady state.

    Attributes
    ----------
    peak_top_oil_c, peak_hot_spot_c : ndarray, shape (n,)
        Highest top-oil and hot-spot temperature of the day, degC.
    peak_top_oil_hour, peak_hot_spot_hour : ndarray of int, shape (n,)
        Local hour (0-23) whose load step holds that peak.
    ageing_per_day : ndarray, shape (n,)
        Relative ageing, days of normal life used per day (1 = normal).
    hourly_top_oil_c, hourly_hot_spot_c : ndarray, shape (n, 24)
        Highest temperature within each hour, degC.
    days : int
        Days run after solving the periodic start state (1 when the first
        run already closed the cycle within the tolerance).
    top_oil_c, hot_spot_c : ndarray, shape (n, 24 * 60 / step), optional
        Every sample of the day (end of each step), degC; only with
        ``profiles=True``.
    """

    peak_top_oil_c: FloatArray
    peak_hot_spot_c: FloatArray
    peak_top_oil_hour: NDArray[np.int64]
    peak_hot_spot_hour: NDArray[np.int64]
    ageing_per_day: FloatArray
    hourly_top_oil_c: FloatArray
    hourly_hot_spot_c: FloatArray
    days: int
    top_oil_c: FloatArray | None = None
    hot_spot_c: FloatArray | None = None


def ageing_rate(
    hot_spot_c: ArrayLike, thermally_upgraded: ArrayLike = False
) -> FloatArray:
    """Relative ageing rate ``V`` of the insulation at hot-spot ``hot_spot_c``.

    Parameters
    ----------
    hot_spot_c : array_like
        Hot-spot temperature, degC.
    thermally_upgraded : array_like of bool
        Thermally upgraded paper (reference 110 degC) instead of normal
        Kraft paper (98 degC), as in IEC 60076-7;
        broadcast against ``hot_spot_c``.

    Returns
    -------
    ndarray
        Ageing rate relative to the paper's rated hot spot (dimensionless).
    """
    theta = np.asarray(hot_spot_c, dtype=float)
    upgraded = np.asarray(thermally_upgraded, dtype=bool)
    normal = np.exp2((theta - 98.0) / 6.0)
    tup = np.exp(15000.0 / (110.0 + 273.0) - 15000.0 / (theta + 273.0))
    return np.asarray(np.where(upgraded, tup, normal), dtype=float)


def steady_state(
    load_pu: ArrayLike, ambient_c: ArrayLike, params: ThermalParameters
) -> tuple[FloatArray, FloatArray]:
    """Ultimate top-oil and hot-spot temperatures at constant load and ambient.

    ``theta_o = theta_a + d_theta_or * ((1 + R K^2) / (1 + R))^x`` and
    ``theta_h = theta_o + H g_r K^y`` (IEC 60076-7 equations (6)-(7)).

    Parameters
    ----------
    load_pu : array_like, shape (n,)
        Load ``K``, per unit of the rating.
    ambient_c : array_like, shape (n,)
        Ambient temperature, degC.
    params : ThermalParameters
        ``n`` rows (or 1, broadcast).

    Returns
    -------
    (ndarray, ndarray)
        Top-oil and hot-spot temperature, degC.
    """
    k = np.abs(np.asarray(load_pu, dtype=float))
    top_oil = (
        np.asarray(ambient_c, dtype=float)
        + params.top_oil_rise_k
        * ((1.0 + params.loss_ratio * k**2) / (1.0 + params.loss_ratio))
        ** params.oil_exponent
    )
    hot_spot = top_oil + params.hot_spot_gradient_k * k**params.winding_exponent
    return top_oil, hot_spot


def _as_day(values: ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = np.broadcast_to(array, (n, array.shape[0]))
    if array.shape != (n, HOURS):
        raise ConfigError(f"{name} must have shape ({n}, {HOURS}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} holds a value that is not a finite number")
    return array


def design_day(
    load_pu: ArrayLike,
    ambient_c: ArrayLike,
    params: ThermalParameters,
    *,
    step_minutes: int = 1,
    tolerance_k: float = 0.01,
    max_days: int = 50,
    profiles: bool = False,
) -> DesignDayResult:
    """Run ``n`` design days to their periodic steady state.

    Parameters
    ----------
    load_pu : array_like, shape (n, 24)
        Load ``K`` per local hour, per unit of the rating (the magnitude is
        used: reverse power flow heats the windings too). Held for the hour.
    ambient_c : array_like, shape (n, 24) or (24,)
        Ambient temperature per local hour, degC, held for the hour.
    params : ThermalParameters
        One row per design day.
    step_minutes : int
        Sampling step, minutes; a divisor of 60. IEC 60076-7 asks for steps
        of at most ``tau_w / 2`` for its forward-difference form; the exact
        exponential update used here is stable at any step, and 1 minute
        samples the winding's 4-minute response finely.
    tolerance_k : float
        Start and end of the day must agree within this, K.
    max_days : int
        Days to run at most.
    profiles : bool
        Also return every sample (``top_oil_c``, ``hot_spot_c``).

    Returns
    -------
    DesignDayResult

    Raises
    ------
    ConfigError
        On shapes that do not match, values that are not finite, a step that
        does not divide the hour, or no periodic state within ``max_days``.
    """
    n = len(params)
    k = np.abs(_as_day(load_pu, n, "load_pu"))
    theta_a = _as_day(ambient_c, n, "ambient_c")
    if step_minutes <= 0 or MINUTES_PER_HOUR % step_minutes:
        raise ConfigError(f"step_minutes must divide 60, got {step_minutes}")
    steps = MINUTES_PER_HOUR // step_minutes
    col = _column

    r = col(params.loss_ratio)
    ultimate_o = theta_a + col(params.top_oil_rise_k) * (
        (1.0 + r * k**2) / (1.0 + r)
    ) ** col(params.oil_exponent)
    winding = col(params.hot_spot_gradient_k) * k ** col(params.winding_exponent)
    ultimate_1 = col(params.k21) * winding
    ultimate_2 = (col(params.k21) - 1.0) * winding
    ultimates = np.stack([ultimate_o, ultimate_1, ultimate_2])  # (3, n, 24)
    taus = np.stack(
        [
            params.k11 * params.oil_time_constant_min,
            params.k22 * params.winding_time_constant_min,
            params.oil_time_constant_min / params.k22,
        ]
    )  # (3, n)
    decay_step = np.exp(-step_minutes / taus)  # (3, n)
    decay_hour = decay_step**steps

    def run(start: FloatArray) -> FloatArray:
        """State at each hour boundary, shape (3, n, 25)."""
        bounds = np.empty((3, n, HOURS + 1))
        bounds[:, :, 0] = start
        for h in range(HOURS):
            u = ultimates[:, :, h]
            bounds[:, :, h + 1] = u + (bounds[:, :, h] - u) * decay_hour
        return bounds

    # Periodic start: end = c_day * start + b, with b the end from a zero start.
    b = run(np.zeros((3, n)))[:, :, HOURS]
    start = b / (1.0 - decay_hour**HOURS)
    days = 0
    while True:
        bounds = run(start)
        days += 1
        end = bounds[:, :, HOURS]
        if np.all(np.abs(end - start) <= tolerance_k):
            break
        if days >= max_days:
            raise ConfigError(
                f"design day not periodic within {max_days} days "
                f"(tolerance {tolerance_k} K); check the thermal parameters"
            )
        start = end

    # Samples at the end of each step: s = u + (s_hour_start - u) * c^j,
    # in chunks of rows so memory stays bounded (3 x rows x 24 x steps).
    powers = decay_step[:, :, None] ** np.arange(1, steps + 1)[None, None, :]
    hourly_o = np.empty((n, HOURS))
    hourly_h = np.empty((n, HOURS))
    ageing = np.empty(n)
    top_oil_all = np.empty((n, HOURS * steps)) if profiles else None
    hot_spot_all = np.empty((n, HOURS * steps)) if profiles else None
    chunk = max(1, CHUNK_SAMPLES // (HOURS * steps))
    two_terms = bool(np.any(ultimates[2] != 0.0) or np.any(bounds[2] != 0.0))
    for lo in range(0, n, chunk):
        rows = slice(lo, min(n, lo + chunk))
        u = ultimates[:, rows, :, None]
        gap = bounds[:, rows, :HOURS, None] - u
        top_oil = gap[0] * powers[0, rows, None, :]
        top_oil += u[0]
        hot_spot = gap[1] * powers[1, rows, None, :]
        hot_spot += u[1]
        hot_spot += top_oil
        if two_terms:
            hot_spot -= gap[2] * powers[2, rows, None, :] + u[2]
        hourly_o[rows] = top_oil.max(axis=2)
        hourly_h[rows] = hot_spot.max(axis=2)
        ageing[rows] = _mean_ageing(hot_spot, params.thermally_upgraded[rows])
        if top_oil_all is not None and hot_spot_all is not None:
            top_oil_all[rows] = top_oil.reshape(top_oil.shape[0], -1)
            hot_spot_all[rows] = hot_spot.reshape(hot_spot.shape[0], -1)
    return DesignDayResult(
        peak_top_oil_c=hourly_o.max(axis=1),
        peak_hot_spot_c=hourly_h.max(axis=1),
        peak_top_oil_hour=hourly_o.argmax(axis=1).astype(np.int64),
        peak_hot_spot_hour=hourly_h.argmax(axis=1).astype(np.int64),
        ageing_per_day=ageing,
        hourly_top_oil_c=hourly_o,
        hourly_hot_spot_c=hourly_h,
        days=days,
        top_oil_c=top_oil_all,
        hot_spot_c=hot_spot_all,
    )


def _mean_ageing(hot_spot: FloatArray, upgraded: NDArray[np.bool_]) -> FloatArray:
    """Mean ageing rate over axes 1 and 2 of ``hot_spot`` (rows x hours x steps)."""
    if not upgraded.any():
        rate = hot_spot - 98.0
        rate *= np.log(2.0) / 6.0
        np.exp(rate, out=rate)
        return np.asarray(rate.mean(axis=(1, 2)), dtype=float)
    return np.asarray(
        ageing_rate(hot_spot, upgraded[:, None, None]).mean(axis=(1, 2)), dtype=float
    )


def _column(values: FloatArray) -> FloatArray:
    return np.asarray(values, dtype=float)[:, None]


def parameters_for(
    keys: pd.DataFrame,
    parameters: pd.DataFrame | None = None,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Thermal parameters per transformer: defaults, then per-grid, then overrides.

    Parameters
    ----------
    keys : pandas.DataFrame
        Columns ``grid_id``, ``transformer_id``: the transformers wanted.
    parameters : pandas.DataFrame, optional
        Seed ``thermal_parameters``: column ``grid_id`` (``default`` for every
        grid, or a grid id) and :data:`PARAMETER_COLUMNS`. Default:
        :data:`IEC_ONAN_DISTRIBUTION` for every transformer.
    overrides : pandas.DataFrame, optional
        Seed ``transformer_thermal_overrides``: ``grid_id``, ``transformer_id``
        and any of :data:`PARAMETER_COLUMNS`; an empty cell keeps the value.

    Returns
    -------
    pandas.DataFrame
        ``keys`` with :data:`PARAMETER_COLUMNS` added, in the same row order.

    Raises
    ------
    ConfigError
        When no ``default`` row exists and a grid has no row of its own.
    """
    out = keys[["grid_id", "transformer_id"]].reset_index(drop=True).copy()
    if parameters is None or parameters.empty:
        for column, value in IEC_ONAN_DISTRIBUTION.items():
            out[column] = value
    else:
        table = parameters.copy()
        table["grid_id"] = table["grid_id"].astype(str).str.strip()
        by_grid = table.drop_duplicates("grid_id", keep="last").set_index("grid_id")
        missing = sorted(set(out["grid_id"]) - set(by_grid.index))
        if missing and "default" not in by_grid.index:
            raise ConfigError(
                "thermal parameters have no 'default' row and no row for grid(s) "
                + ", ".join(missing)
            )
        chosen = out["grid_id"].where(out["grid_id"].isin(by_grid.index), "default")
        for column in PARAMETER_COLUMNS:
            out[column] = by_grid.loc[chosen, column].to_numpy()
    if overrides is not None and not overrides.empty:
        over = overrides.copy()
        over["grid_id"] = over["grid_id"].astype(str)
        over["transformer_id"] = over["transformer_id"].astype(str)
        over = over.drop_duplicates(["grid_id", "transformer_id"], keep="last")
        merged = out[["grid_id", "transformer_id"]].merge(
            over, on=["grid_id", "transformer_id"], how="left"
        )
        for column in PARAMETER_COLUMNS:
            if column not in merged.columns:
                continue
            given = merged[column]
            if column == "insulation":
                mask = given.notna() & (given.astype(str).str.strip() != "")
            else:
                given = pd.to_numeric(given, errors="coerce")
                mask = given.notna()
            out[column] = out[column].astype(object)
            out.loc[mask.to_numpy(), column] = given[mask].to_numpy()
    return out


def parameters_from_mapping(
    values: Mapping[str, float | str], n: int
) -> ThermalParameters:
    """``n`` rows of one parameter set (missing keys: IEC defaults)."""
    row = {**IEC_ONAN_DISTRIBUTION, **values}
    return ThermalParameters.from_frame(pd.DataFrame([row] * n))
