"""Chargers by thermal limit: how many fit by hot spot, top oil and ageing.

For every transformer the design day of each local month is the highest load
of each local hour of that month (``transformer_headroom_profile``:
``max_load_kw``, and ``min_load_kw`` for reverse power flow) and that month's
ambient cycle (seed ``ambient_temperature_normals``). The load per unit is
``K = |load_kw| / capacity_kw`` (``capacity_kw = rating_kva x power_factor``,
so ``K`` is the apparent power in per unit of the kVA rating at the assumed
power factor); a cell without data takes the month's highest load (lowest for
the reverse direction). Chargers add ``N x coincidence x power_kw`` kW during
the window's local hours of the window's local months (every day: the design
day is an envelope, so a weekday-only window is treated as every day). The
load envelope with chargers is ``max(max_load + P, -(min_load + P))`` per hour.

The thermal count is the largest ``N`` whose design days in every month of
the window keep the hot spot <= ``hot_spot_c`` (IEC 60076-7 normal cyclic
loading: 120 degC), the top oil <= ``top_oil_c`` (105 degC), the relative
ageing per day <= ``ageing_per_day`` (1) and the load <= ``load_pu`` (1.5 per
unit, the current limit of IEC 60076-7 clause 7 for distribution
transformers). Every temperature and the ageing rise with the added kW ``P``
(they are positive sums of convex increasing functions of each hour's
``K``), so the kW that fit form an interval ``[0, P*]``: ``P*`` is found by
bisection over all transformers and windows at once, each count is
``floor(P* / (coincidence x power_kw))`` and is then checked exactly by
running the model at ``N`` (fits) and ``N + 1`` (breaks a limit: its
criterion, month and local hour are the reason, ``binding_*``).

A transformer whose design day already breaks a limit without chargers gets 0
with that criterion (``baseline_within_limits`` false). Blocked rows carry a
reason instead of a criterion: ``missing_rating``, ``no_data_in_window``, or
the nameplate fit's charger compatibility reasons
(``secondary_not_low_voltage``, ``voltage_above_secondary``,
``needs_three_phase``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from evcap.errors import ConfigError, SchemaError
from evcap.thermal import (
    HOURS,
    PARAMETER_COLUMNS,
    DesignDayResult,
    ThermalParameters,
    design_day,
    parameters_for,
)

MONTHS = 12
CRITERIA = ("hot_spot", "top_oil", "ageing", "load_pu")
"""Limits a count is checked against, in the order ties are reported."""
COMPAT_REASONS = (
    "not_a_distribution_transformer",
    "secondary_voltage_unreadable",
    "secondary_not_low_voltage",
    "voltage_above_secondary",
    "phases_unreadable",
    "needs_three_phase",
    "insufficient_data_in_window",
)
"""Nameplate-fit reasons that block a charger type whatever its temperature:
the transformer is not a distribution transformer, a nameplate value that
decides compatibility is unreadable, the charger does not fit its secondary,
or the window has too little data to trust any count."""
SEARCH_LIMIT_PU = 4.0
"""The kW search stops at this many times the capacity (reason
``search_limit`` when the limits still hold there)."""
COARSE_STEP_MINUTES = 5
"""Sampling step of the first bisection pass (the final pass uses 1 minute)."""
TRANSFORMERS_PER_BLOCK = 1000
"""Transformers searched together by :func:`thermal_fit`."""
EVALUATION_ROWS = 1 << 16
"""Design days run per block (bounds the memory of large grids)."""
SEARCH_TOLERANCE_PU = 1e-4
"""Bisection stops when the bracket on the added kW is this share of capacity."""

THERMAL_FIT_COLUMNS = (
    "grid_id",
    "transformer_id",
    "window_name",
    "charger_type",
    "charger_power_kw",
    "coincidence_factor",
    "max_chargers",
    "thermal_max_chargers",
    "thermal_max_kw",
    "binding_criterion",
    "binding_month",
    "binding_hour_local",
    "binding_value",
    "peak_hot_spot_c",
    "peak_top_oil_c",
    "ageing_per_day",
    "baseline_peak_hot_spot_c",
    "baseline_within_limits",
    "hot_spot_limit_c",
    "top_oil_limit_c",
    "ageing_limit",
    "load_limit_pu",
)
"""Columns of :func:`thermal_fit` and of table ``transformer_thermal_fit``."""

THERMAL_MONTH_COLUMNS = (
    "grid_id",
    "transformer_id",
    "local_month",
    "peak_load_pu",
    "peak_top_oil_c",
    "peak_top_oil_hour_local",
    "peak_hot_spot_c",
    "peak_hot_spot_hour_local",
    "ageing_per_day",
    "ageing_per_day_upgraded_paper",
)
"""Columns of :func:`thermal_months` and table ``transformer_thermal_month``."""


@dataclass(frozen=True)
class ThermalLimits:
    """Loading limits (IEC 60076-7 normal cyclic loading by default).

    Attributes
    ----------
    hot_spot_c : float
        Highest hot-spot temperature, degC (dbt var ``thermal_hot_spot_limit_c``).
    top_oil_c : float
        Highest top-oil temperature, degC (``thermal_top_oil_limit_c``).
    ageing_per_day : float
        Highest relative ageing per design day (``thermal_ageing_limit``).
    load_pu : float
        Highest load, per unit of the rating (``thermal_max_load_pu``).
    """

    hot_spot_c: float = 120.0
    top_oil_c: float = 105.0
    ageing_per_day: float = 1.0
    load_pu: float = 1.5

    def __post_init__(self) -> None:
        for name in ("hot_spot_c", "top_oil_c", "ageing_per_day", "load_pu"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ConfigError(f"thermal limit {name} must be a finite number")
        if self.ageing_per_day <= 0 or self.load_pu <= 0:
            raise ConfigError("thermal ageing and load limits must be > 0")

    @classmethod
    def from_project(
        cls, overrides: Mapping[str, float] | None = None
    ) -> ThermalLimits:
        """Limits from the dbt vars in ``dbt_project.yml``, then ``overrides``.

        Raises
        ------
        ConfigError
            When a var is not a number.
        """
        import yaml

        from evcap.db import project_dir

        names = {
            "thermal_hot_spot_limit_c": "hot_spot_c",
            "thermal_top_oil_limit_c": "top_oil_c",
            "thermal_ageing_limit": "ageing_per_day",
            "thermal_max_load_pu": "load_pu",
        }
        values: dict[str, float] = {}
        path = project_dir() / "dbt_project.yml"
        if path.is_file():
            project_vars = (yaml.safe_load(path.read_text()) or {}).get("vars") or {}
            for var, field in names.items():
                if project_vars.get(var) is not None:
                    try:
                        values[field] = float(project_vars[var])
                    except (TypeError, ValueError) as exc:
                        raise ConfigError(f"dbt var {var} must be a number") from exc
        values.update({k: float(v) for k, v in (overrides or {}).items()})
        return cls(**values)


# --- inputs -----------------------------------------------------------------


@dataclass(frozen=True)
class ThermalInputs:
    """Design-day inputs of ``T`` transformers.

    Attributes
    ----------
    keys : pandas.DataFrame
        ``grid_id``, ``transformer_id``, ``capacity_kw`` (kW, NaN without a
        rating); row ``i`` is transformer ``i`` of the arrays.
    max_load_kw, min_load_kw : ndarray, shape (T, 12, 24)
        Highest and lowest net load per local month and hour, kW (NaN for a
        month without data).
    has_month : ndarray of bool, shape (T, 12)
        The month has profile data.
    ambient_c : ndarray, shape (T, 12, 24)
        Ambient temperature per local month and hour, degC.
    params : ThermalParameters
        ``T`` rows.
    windows : pandas.DataFrame
        Seed ``charging_windows`` (window_name, month/hour ranges).
    """

    keys: pd.DataFrame
    max_load_kw: NDArray[np.float64]
    min_load_kw: NDArray[np.float64]
    has_month: NDArray[np.bool_]
    ambient_c: NDArray[np.float64]
    params: ThermalParameters
    windows: pd.DataFrame

    def take(self, index: NDArray[np.int64]) -> ThermalInputs:
        """The inputs of transformers ``index`` (rows of :attr:`keys`)."""
        return ThermalInputs(
            self.keys.iloc[index].reset_index(drop=True),
            self.max_load_kw[index],
            self.min_load_kw[index],
            self.has_month[index],
            self.ambient_c[index],
            self.params.take(index),
            self.windows,
        )

    def index_of(self, grid_id: str, transformer_id: str) -> int:
        """Row of a transformer; raises :class:`ConfigError` when unknown."""
        hit = np.flatnonzero(
            (self.keys["grid_id"].to_numpy() == grid_id)
            & (self.keys["transformer_id"].to_numpy() == transformer_id)
        )
        if hit.size == 0:
            raise ConfigError(f"no thermal inputs for {grid_id}/{transformer_id}")
        return int(hit[0])


def _cyclic(value: NDArray[np.int64], start: int, end: int) -> NDArray[np.bool_]:
    """``value`` in [start, end] on a cycle (start > end wraps), as the SQL macro."""
    if start <= end:
        return np.asarray((value >= start) & (value <= end))
    return np.asarray((value >= start) | (value <= end))


def _range(
    window: Mapping[Any, Any], name: str, cycle: NDArray[np.int64]
) -> NDArray[np.bool_]:
    start, end = window.get(f"{name}_start"), window.get(f"{name}_end")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return np.ones(cycle.shape, dtype=bool)
    return _cyclic(cycle, int(start), int(end))


def window_masks(
    window: Mapping[Any, Any],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Months (12, index 0 = January) and hours (24) a charging window covers.

    Reads ``month_start``, ``month_end``, ``hour_start``, ``hour_end`` of a
    ``charging_windows`` row with the rule of the dbt macro
    ``evcap_in_cyclic_range`` (inclusive, start > end wraps). Weekdays are not
    used: a design day stands for every day of its month. A range left empty
    (null) covers the whole cycle (the seed's tests forbid it).
    """
    months = _range(window, "month", np.arange(1, MONTHS + 1))
    hours = _range(window, "hour", np.arange(HOURS))
    return months, hours


def _seed_path(name: str) -> Path:
    from evcap.db import project_dir

    return project_dir() / "seeds" / f"{name}.csv"


def _read_seed(
    source: psycopg.Connection | Mapping[str, pd.DataFrame] | None,
    name: str,
    schema: str,
) -> pd.DataFrame:
    """A seed from the frames, else the table dbt loaded, else the CSV file."""
    if isinstance(source, Mapping) and name in source:
        return source[name].copy()
    if isinstance(source, psycopg.Connection):
        from evcap.db import read_frame
        from evcap.marts import mart_exists

        if mart_exists(source, name, schema):
            return read_frame(
                source, sql.SQL("select * from {}").format(sql.Identifier(schema, name))
            )
    path = _seed_path(name)
    if not path.is_file():
        raise ConfigError(f"seed {name} not found (neither table nor {path})")
    try:
        return pd.read_csv(path, dtype={"grid_id": str, "transformer_id": str})
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _read(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    name: str,
    schema: str,
    transformers: Sequence[str] | None,
    grid_id: str | None,
) -> pd.DataFrame:
    if isinstance(source, psycopg.Connection):
        from evcap.marts import read_mart

        return read_mart(source, name, schema, transformers, grid_id)
    if name not in source:
        raise SchemaError(f"source frames lack {name!r}")
    frame = source[name]
    if grid_id is not None:
        frame = frame[frame["grid_id"] == grid_id]
    if transformers is not None:
        frame = frame[frame["transformer_id"].isin(list(transformers))]
    return frame.reset_index(drop=True)


def load_inputs(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    *,
    schema: str = "evcap",
    grid_id: str | None = None,
    transformers: Sequence[str] | None = None,
    ambient: pd.DataFrame | None = None,
) -> ThermalInputs:
    """Read the marts and seeds the thermal model needs.

    Parameters
    ----------
    source : psycopg.Connection or mapping of str to DataFrame
        Connection to the marts, or frames named like the marts
        (``dim_transformers``, ``transformer_headroom_profile``) and, when
        given, the seeds (``thermal_parameters``,
        ``transformer_thermal_overrides``, ``ambient_temperature_normals``,
        ``charging_windows``); a seed not given is read from its table in
        ``schema``, else from ``seeds/<name>.csv``.
    schema : str
        Schema of the marts and seed tables.
    grid_id : str, optional
        Only this grid.
    transformers : sequence of str, optional
        Only these transformer ids.
    ambient : pandas.DataFrame, optional
        Ambient rows to use instead of the seed (e.g. from
        :func:`ambient_from_edm` via :func:`with_ambient`).

    Returns
    -------
    ThermalInputs

    Raises
    ------
    SchemaError
        When a mart is missing or lacks columns.
    ConfigError
        When a seed is invalid or the ambient seed lacks a month or hour.
    """
    dim = _read(source, "dim_transformers", schema, transformers, grid_id)
    profile = _read(
        source, "transformer_headroom_profile", schema, transformers, grid_id
    )
    for name, frame, needed in (
        ("dim_transformers", dim, ("grid_id", "transformer_id", "capacity_kw")),
        (
            "transformer_headroom_profile",
            profile,
            (
                "grid_id",
                "transformer_id",
                "local_month",
                "local_hour",
                "min_load_kw",
                "max_load_kw",
            ),
        ),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} lacks column(s) {', '.join(missing)}")
    seed_source = source
    parameters = _read_seed(seed_source, "thermal_parameters", schema)
    overrides = _read_seed(seed_source, "transformer_thermal_overrides", schema)
    if ambient is None:
        ambient = _read_seed(seed_source, "ambient_temperature_normals", schema)
    windows = _read_seed(seed_source, "charging_windows", schema)
    return build_inputs(dim, profile, parameters, overrides, ambient, windows)


def build_inputs(
    dim: pd.DataFrame,
    profile: pd.DataFrame,
    parameters: pd.DataFrame | None,
    overrides: pd.DataFrame | None,
    ambient: pd.DataFrame,
    windows: pd.DataFrame,
) -> ThermalInputs:
    """:class:`ThermalInputs` from frames with the mart and seed columns.

    Raises
    ------
    ConfigError
        When the ambient seed has neither rows for a grid nor ``default``
        rows covering all 12 x 24 local months and hours, or a capacity or
        load is not a number.
    """
    keys = (
        dim[["grid_id", "transformer_id", "capacity_kw"]]
        .astype({"grid_id": str, "transformer_id": str})
        .sort_values(["grid_id", "transformer_id"])
        .reset_index(drop=True)
    )
    keys["capacity_kw"] = pd.to_numeric(keys["capacity_kw"], errors="coerce").astype(
        float
    )
    keys.loc[~(keys["capacity_kw"] > 0), "capacity_kw"] = np.nan
    t = len(keys)
    max_load = np.full((t, MONTHS, HOURS), np.nan)
    min_load = np.full((t, MONTHS, HOURS), np.nan)
    if not profile.empty:
        position = pd.Series(
            np.arange(t),
            index=pd.MultiIndex.from_frame(keys[["grid_id", "transformer_id"]]),
        )
        rows = profile.astype({"grid_id": str, "transformer_id": str})
        where = position.reindex(
            pd.MultiIndex.from_frame(rows[["grid_id", "transformer_id"]])
        ).to_numpy()
        ok = ~np.isnan(where)
        ti = where[ok].astype(int)
        mi = rows["local_month"].to_numpy(int)[ok] - 1
        hi = rows["local_hour"].to_numpy(int)[ok]
        max_load[ti, mi, hi] = pd.to_numeric(
            rows["max_load_kw"], errors="coerce"
        ).to_numpy(float)[ok]
        min_load[ti, mi, hi] = pd.to_numeric(
            rows["min_load_kw"], errors="coerce"
        ).to_numpy(float)[ok]
    has_month = ~np.all(np.isnan(max_load), axis=2)
    with np.errstate(all="ignore"):
        month_max = np.nanmax(np.where(has_month[..., None], max_load, -np.inf), axis=2)
        month_min = np.nanmin(np.where(has_month[..., None], min_load, np.inf), axis=2)
    max_load = np.where(np.isnan(max_load), month_max[..., None], max_load)
    min_load = np.where(np.isnan(min_load), month_min[..., None], min_load)
    max_load[~has_month] = np.nan
    min_load[~has_month] = np.nan
    ambient_c = _ambient_array(keys, ambient)
    params_frame = parameters_for(keys, parameters, overrides)
    params = ThermalParameters.from_frame(params_frame[list(PARAMETER_COLUMNS)])
    return ThermalInputs(
        keys,
        max_load,
        min_load,
        has_month,
        ambient_c,
        params,
        windows.reset_index(drop=True),
    )


def _ambient_array(keys: pd.DataFrame, ambient: pd.DataFrame) -> NDArray[np.float64]:
    needed = ("grid_id", "local_month", "local_hour", "ambient_c")
    missing = [c for c in needed if c not in ambient.columns]
    if missing:
        raise ConfigError(f"ambient temperatures lack column(s) {', '.join(missing)}")
    table = ambient.astype({"grid_id": str})
    by_grid: dict[str, NDArray[np.float64]] = {}
    for grid, rows in table.groupby("grid_id"):
        cube = np.full((MONTHS, HOURS), np.nan)
        months = pd.to_numeric(rows["local_month"], errors="coerce").to_numpy()
        hours = pd.to_numeric(rows["local_hour"], errors="coerce").to_numpy()
        values = pd.to_numeric(rows["ambient_c"], errors="coerce").to_numpy(float)
        good = (months >= 1) & (months <= MONTHS) & (hours >= 0) & (hours < HOURS)
        cube[months[good].astype(int) - 1, hours[good].astype(int)] = values[good]
        if np.isnan(cube).any():
            raise ConfigError(
                f"ambient temperatures of grid {grid!r} do not cover every local "
                "month (1-12) and hour (0-23) with a number; see "
                "seeds/ambient_temperature_normals.csv"
            )
        by_grid[str(grid)] = cube
    out = np.empty((len(keys), MONTHS, HOURS))
    for i, grid in enumerate(keys["grid_id"]):
        found = by_grid.get(str(grid), by_grid.get("default"))
        if found is None:
            raise ConfigError(
                f"no ambient temperatures for grid {grid!r} and no 'default' rows"
            )
        out[i] = found
    return out


# --- evaluation ---------------------------------------------------------------


@dataclass(frozen=True)
class _Evaluation:
    result: DesignDayResult
    peak_load_pu: NDArray[np.float64]
    peak_load_hour: NDArray[np.int64]


def _evaluate(
    inputs: ThermalInputs,
    t_idx: NDArray[np.int64],
    months: NDArray[np.int64],
    added_kw: NDArray[np.float64],
    hours: NDArray[np.bool_],
    *,
    profiles: bool = False,
    step_minutes: int = 1,
) -> _Evaluation:
    """Design days of rows (transformer ``t_idx``, month index ``months``) with
    ``added_kw`` during ``hours`` (rows x 24)."""
    add = added_kw[:, None] * hours
    high = inputs.max_load_kw[t_idx, months] + add
    low = inputs.min_load_kw[t_idx, months] + add
    load_pu = (
        np.maximum(high, -low) / inputs.keys["capacity_kw"].to_numpy(float)[t_idx, None]
    )
    parts = [
        design_day(
            load_pu[lo : lo + EVALUATION_ROWS],
            inputs.ambient_c[
                t_idx[lo : lo + EVALUATION_ROWS], months[lo : lo + EVALUATION_ROWS]
            ],
            inputs.params.take(t_idx[lo : lo + EVALUATION_ROWS]),
            profiles=profiles,
            step_minutes=step_minutes,
        )
        for lo in range(0, max(len(t_idx), 1), EVALUATION_ROWS)
    ]
    result = parts[0] if len(parts) == 1 else _concat(parts)
    return _Evaluation(
        result, load_pu.max(axis=1), load_pu.argmax(axis=1).astype(np.int64)
    )


def _concat(parts: Sequence[DesignDayResult]) -> DesignDayResult:
    """One result of row blocks run one after the other."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(DesignDayResult):
        if f.name == "days":
            values[f.name] = max(p.days for p in parts)
            continue
        arrays = [getattr(p, f.name) for p in parts]
        values[f.name] = None if arrays[0] is None else np.concatenate(arrays)
    return DesignDayResult(**values)


def _ratios(ev: _Evaluation, limits: ThermalLimits) -> NDArray[np.float64]:
    """Criterion value / limit, shape (rows, 4) in :data:`CRITERIA` order."""
    r = ev.result
    return np.stack(
        [
            r.peak_hot_spot_c / limits.hot_spot_c,
            r.peak_top_oil_c / limits.top_oil_c,
            r.ageing_per_day / limits.ageing_per_day,
            ev.peak_load_pu / limits.load_pu,
        ],
        axis=1,
    )


def _within(ev: _Evaluation, limits: ThermalLimits) -> NDArray[np.bool_]:
    r = ev.result
    return np.asarray(
        (r.peak_hot_spot_c <= limits.hot_spot_c + 1e-9)
        & (r.peak_top_oil_c <= limits.top_oil_c + 1e-9)
        & (r.ageing_per_day <= limits.ageing_per_day * (1 + 1e-12))
        & (ev.peak_load_pu <= limits.load_pu * (1 + 1e-12))
    )


def _group_all(
    ok: NDArray[np.bool_], group: NDArray[np.int64], n: int
) -> NDArray[np.bool_]:
    bad = np.zeros(n, dtype=bool)
    np.logical_or.at(bad, group, ~ok)
    return ~bad


@dataclass(frozen=True)
class _Groups:
    """Transformer x window pairs with design days to run."""

    frame: pd.DataFrame  # grid_id, transformer_id, window_name, t, status
    row_group: NDArray[np.int64]
    row_t: NDArray[np.int64]
    row_month: NDArray[np.int64]
    row_hours: NDArray[np.bool_]


def _groups(inputs: ThermalInputs, window_names: Sequence[str]) -> _Groups:
    windows = inputs.windows.set_index("window_name")
    unknown = [w for w in window_names if w not in windows.index]
    if unknown:
        raise ConfigError(
            f"unknown charging window(s) {', '.join(unknown)}; available: "
            f"{', '.join(map(str, windows.index))}"
        )
    records: list[tuple[str, str, str, int, str | None]] = []
    row_group: list[int] = []
    row_t: list[int] = []
    row_month: list[int] = []
    row_hours: list[NDArray[np.bool_]] = []
    capacity = inputs.keys["capacity_kw"].to_numpy(float)
    for t, (grid, transformer) in enumerate(
        zip(inputs.keys["grid_id"], inputs.keys["transformer_id"], strict=True)
    ):
        for w in window_names:
            months, hours = window_masks(windows.loc[w].to_dict())
            status: str | None = None
            use = np.flatnonzero(months & inputs.has_month[t])
            if not np.isfinite(capacity[t]):
                status = "missing_rating"
            elif use.size == 0 or not hours.any():
                status = "no_data_in_window"
            g = len(records)
            records.append((grid, transformer, w, t, status))
            if status is None:
                for m in use:
                    row_group.append(g)
                    row_t.append(t)
                    row_month.append(int(m))
                    row_hours.append(hours)
    frame = pd.DataFrame.from_records(
        records, columns=["grid_id", "transformer_id", "window_name", "t", "status"]
    )
    return _Groups(
        frame,
        np.asarray(row_group, dtype=np.int64),
        np.asarray(row_t, dtype=np.int64),
        np.asarray(row_month, dtype=np.int64),
        np.asarray(row_hours, dtype=bool).reshape(-1, HOURS),
    )


def _binding(
    ev: _Evaluation,
    limits: ThermalLimits,
    group: NDArray[np.int64],
    months: NDArray[np.int64],
    n_groups: int,
) -> tuple[list[str | None], list[int | None], list[int | None], list[float | None]]:
    """Per group: the criterion furthest over its limit, its month and hour."""
    ratios = _ratios(ev, limits)
    values = np.stack(
        [
            ev.result.peak_hot_spot_c,
            ev.result.peak_top_oil_c,
            ev.result.ageing_per_day,
            ev.peak_load_pu,
        ],
        axis=1,
    )
    hours = np.stack(
        [
            ev.result.peak_hot_spot_hour,
            ev.result.peak_top_oil_hour,
            ev.result.peak_hot_spot_hour,
            ev.peak_load_hour,
        ],
        axis=1,
    )
    crit: list[str | None] = [None] * n_groups
    month: list[int | None] = [None] * n_groups
    hour: list[int | None] = [None] * n_groups
    value: list[float | None] = [None] * n_groups
    if ratios.shape[0] == 0:
        return crit, month, hour, value
    which = ratios.argmax(axis=1)
    rows = np.arange(ratios.shape[0])
    best = ratios[rows, which]
    # Per group, the row furthest over (first row among equals).
    order = np.lexsort((-best, group))
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    for r in first.tolist():
        g, c = int(group[r]), int(which[r])
        crit[g] = CRITERIA[c]
        month[g] = int(months[r]) + 1
        hour[g] = int(hours[r, c])
        value[g] = float(values[r, c])
    return crit, month, hour, value


def thermal_headroom(
    inputs: ThermalInputs,
    windows: Sequence[str],
    limits: ThermalLimits | None = None,
) -> pd.DataFrame:
    """Largest added kW per transformer and window that keeps every limit.

    Parameters
    ----------
    inputs : ThermalInputs
        From :func:`load_inputs` or :func:`build_inputs`.
    windows : sequence of str
        Charging window names.
    limits : ThermalLimits, optional
        Default :meth:`ThermalLimits.from_project`.

    Returns
    -------
    pandas.DataFrame
        One row per transformer x window: ``grid_id``, ``transformer_id``,
        ``window_name``, ``thermal_max_kw`` (kW added in every hour of the
        window that still fits, to within :data:`SEARCH_TOLERANCE_PU` of the
        capacity; 0 when the design day breaks a limit without chargers;
        null when blocked), ``thermal_bracket_kw`` (the smallest added kW
        found to break a limit), ``status`` (null, ``missing_rating``,
        ``no_data_in_window``, ``search_limit``), ``baseline_within_limits``,
        ``baseline_peak_hot_spot_c`` (degC) and the baseline's binding
        criterion, month and hour when it is over a limit.

    Raises
    ------
    ConfigError
        On an unknown window.
    """
    limits = limits or ThermalLimits.from_project()
    groups = _groups(inputs, list(dict.fromkeys(windows)))
    frame = groups.frame.copy()
    n = len(frame)
    g, t, m, hours = groups.row_group, groups.row_t, groups.row_month, groups.row_hours
    active = frame["status"].isna().to_numpy()
    capacity = inputs.keys["capacity_kw"].to_numpy(float)[frame["t"].to_numpy(int)]

    base = _evaluate(inputs, t, m, np.zeros(len(g)), hours)
    base_ok = _group_all(_within(base, limits), g, n)
    crit, month, hour, value = _binding(base, limits, g, m, n)
    peak_base = np.full(n, -np.inf)
    np.maximum.at(peak_base, g, base.result.peak_hot_spot_c)

    lo = np.zeros(n)
    hi = np.where(active, SEARCH_LIMIT_PU * np.nan_to_num(capacity, nan=0.0), 0.0)
    searching = active & base_ok
    rows = np.flatnonzero(searching[g])
    top = _evaluate(inputs, t[rows], m[rows], hi[g[rows]], hours[rows])
    top_ok = _group_all(_within(top, limits), g[rows], n)
    at_limit = searching & top_ok
    lo[at_limit] = hi[at_limit]
    searching &= ~top_ok
    tolerance = SEARCH_TOLERANCE_PU * np.nan_to_num(capacity, nan=0.0)

    def feasible(
        added: NDArray[np.float64], which: NDArray[np.bool_], step: int
    ) -> NDArray[np.bool_]:
        rows = np.flatnonzero(which[g])
        ev = _evaluate(
            inputs, t[rows], m[rows], added[g[rows]], hours[rows], step_minutes=step
        )
        return _group_all(_within(ev, limits), g[rows], n)

    def bisect(step: int) -> None:
        while True:
            open_groups = searching & (hi - lo > tolerance)
            if not open_groups.any():
                return
            mid = (lo + hi) / 2
            ok = feasible(mid, open_groups, step)
            grow = open_groups & ok
            shrink = open_groups & ~ok
            lo[grow] = mid[grow]
            hi[shrink] = mid[shrink]

    # Bisect on 5-minute samples (exact at the hour boundaries, about 3x
    # cheaper), then make the bracket hold on 1-minute samples, widening it in
    # growing steps where the finer sampling disagrees (a few tolerances at
    # most), and close it with a 1-minute bisection.
    bisect(COARSE_STEP_MINUTES)
    ceiling = SEARCH_LIMIT_PU * np.nan_to_num(capacity, nan=0.0)
    down = searching & (lo > 0)
    down &= ~feasible(lo, down, 1)
    step = 4 * tolerance
    while down.any():
        hi[down] = lo[down]
        lo[down] = np.maximum(0.0, lo[down] - step[down])
        step = np.where(down, 2 * step, step)
        down &= ~feasible(lo, down, 1) & (lo > 0)
    up = searching & feasible(hi, searching, 1)
    step = 4 * tolerance
    while up.any():
        lo[up] = hi[up]
        hi[up] = np.minimum(ceiling[up], hi[up] + step[up])
        step = np.where(up, 2 * step, step)
        up &= feasible(hi, up, 1)
    bisect(1)

    status = frame["status"].to_numpy(object)
    status[at_limit] = "search_limit"
    out = frame.drop(columns=["status", "t"])
    out["thermal_max_kw"] = np.where(active, lo, np.nan)
    out["thermal_bracket_kw"] = np.where(active, np.where(searching, hi, lo), np.nan)
    out["status"] = status
    out["baseline_within_limits"] = [
        bool(ok_) if act else None for ok_, act in zip(base_ok, active, strict=True)
    ]
    out["baseline_peak_hot_spot_c"] = np.where(active, peak_base, np.nan)
    out["baseline_criterion"] = [
        c if not ok_ else None for c, ok_ in zip(crit, base_ok, strict=True)
    ]
    out["baseline_month"] = [
        x if not ok_ else None for x, ok_ in zip(month, base_ok, strict=True)
    ]
    out["baseline_hour_local"] = [
        x if not ok_ else None for x, ok_ in zip(hour, base_ok, strict=True)
    ]
    out["baseline_value"] = [
        x if not ok_ else None for x, ok_ in zip(value, base_ok, strict=True)
    ]
    return out.reset_index(drop=True)


def thermal_counts(
    inputs: ThermalInputs,
    headroom: pd.DataFrame,
    chargers: pd.DataFrame,
    coincidence: float = 1.0,
    limits: ThermalLimits | None = None,
) -> pd.DataFrame:
    """Chargers per transformer x window x type by thermal limit, checked exactly.

    Parameters
    ----------
    inputs : ThermalInputs
    headroom : pandas.DataFrame
        :func:`thermal_headroom` of the same inputs.
    chargers : pandas.DataFrame
        ``charger_type``, ``power_kw`` (kW).
    coincidence : float
        Share of chargers drawing at once, (0, 1].
    limits : ThermalLimits, optional

    Returns
    -------
    pandas.DataFrame
        Columns :data:`THERMAL_FIT_COLUMNS` except ``max_chargers``:
        ``thermal_max_chargers`` N (the model at N keeps every limit, at N + 1
        it breaks ``binding_criterion`` in ``binding_month`` at local hour
        ``binding_hour_local``, with ``binding_value`` in degC, ageing per
        day or per unit), the peaks at N over the window's months
        (``peak_hot_spot_c``, ``peak_top_oil_c`` degC, ``ageing_per_day``).
    """
    limits = limits or ThermalLimits.from_project()
    if not (math.isfinite(coincidence) and 0 < coincidence <= 1):
        raise ConfigError(f"coincidence factor must be in (0, 1], got {coincidence}")
    windows = list(dict.fromkeys(headroom["window_name"]))
    groups = _groups(inputs, windows)
    key = ["grid_id", "transformer_id", "window_name"]
    merged = groups.frame[[*key, "t"]].merge(
        headroom, on=key, how="left", validate="one_to_one"
    )
    types = chargers[["charger_type", "power_kw"]].reset_index(drop=True)
    n_g, n_c = len(merged), len(types)
    draw = coincidence * types["power_kw"].to_numpy(float)
    best_kw = merged["thermal_max_kw"].to_numpy(float)
    searched = (
        merged["status"].isna().to_numpy()
        & merged["baseline_within_limits"].eq(True).to_numpy()
    )
    # Pair = group x type.
    pair_g = np.repeat(np.arange(n_g), n_c)
    pair_c = np.tile(np.arange(n_c), n_g)
    count = np.zeros(n_g * n_c, dtype=np.int64)
    ok_pairs = searched[pair_g]
    count[ok_pairs] = np.floor(
        best_kw[pair_g[ok_pairs]] / draw[pair_c[ok_pairs]] + 1e-9
    ).astype(np.int64)
    at_limit = (merged["status"] == "search_limit").to_numpy()[pair_g]

    # Rows of the design days: for each pair, every row of its group.
    starts = np.searchsorted(groups.row_group, np.arange(n_g), side="left")
    ends = np.searchsorted(groups.row_group, np.arange(n_g), side="right")
    pair_len = (ends - starts)[pair_g]
    row_pair = np.repeat(np.arange(n_g * n_c), pair_len).astype(np.int64)
    offsets = np.arange(row_pair.size) - np.repeat(
        np.cumsum(pair_len) - pair_len, pair_len
    )
    rows = (np.repeat(starts[pair_g], pair_len) + offsets).astype(np.int64)
    t, m, hours = groups.row_t[rows], groups.row_month[rows], groups.row_hours[rows]
    n_p = n_g * n_c

    every_pair = np.ones(n_p, dtype=bool)

    def run(
        counts: NDArray[np.int64], pairs: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], _Evaluation]:
        sel = np.flatnonzero(pairs[row_pair])
        added = (counts * draw[pair_c])[row_pair[sel]]
        return sel, _evaluate(inputs, t[sel], m[sel], added, hours[sel])

    def within(sel: NDArray[np.int64], ev: _Evaluation) -> NDArray[np.bool_]:
        return _group_all(_within(ev, limits), row_pair[sel], n_p)

    # N + 1 must break a limit: step up while it fits (bisection tolerance).
    _sel, above = run(count + 1, every_pair)
    fits = within(_sel, above) & ok_pairs & ~at_limit
    moved = bool(fits.any())
    for _ in range(64):
        if not fits.any():
            break
        count[fits] += 1
        sel, ev = run(count + 1, fits)
        fits &= within(sel, ev)
    # N must fit: step down while it does not (float noise at the boundary).
    _sel, at_n = run(count, every_pair)
    fails = ~within(_sel, at_n) & ok_pairs & (count > 0)
    if fails.any():
        moved = True
        for _ in range(64):
            if not fails.any():
                break
            count[fails] -= 1
            sel, ev = run(count, fails)
            fails &= ~within(sel, ev) & (count > 0)
        _sel, at_n = run(count, every_pair)
    if moved:
        _sel, above = run(count + 1, every_pair)

    peak_h = np.full(n_p, np.nan)
    peak_o = np.full(n_p, np.nan)
    ageing = np.full(n_p, np.nan)
    if rows.size:
        for target, values in (
            (peak_h, at_n.result.peak_hot_spot_c),
            (peak_o, at_n.result.peak_top_oil_c),
            (ageing, at_n.result.ageing_per_day),
        ):
            filled = np.full(n_p, -np.inf)
            np.maximum.at(filled, row_pair, values)
            target[:] = np.where(np.isfinite(filled), filled, np.nan)
    crit, month, hour, value = _binding(above, limits, row_pair, m, n_p)

    status = merged["status"].to_numpy(object)[pair_g]
    blocked = np.array(
        [isinstance(x, str) and x != "search_limit" for x in status], dtype=bool
    )
    base_ok = merged["baseline_within_limits"].to_numpy(object)[pair_g]
    base_bad = ~blocked & np.array([x is not True for x in base_ok], dtype=bool)
    limit_hit = ~blocked & ~base_bad & at_limit
    criterion = np.asarray(crit, dtype=object)
    b_month = np.asarray(month, dtype=object)
    b_hour = np.asarray(hour, dtype=object)
    b_value = np.asarray(value, dtype=object)
    for target, column in (
        (criterion, "baseline_criterion"),
        (b_month, "baseline_month"),
        (b_hour, "baseline_hour_local"),
        (b_value, "baseline_value"),
    ):
        target[base_bad] = merged[column].to_numpy(object)[pair_g][base_bad]
    criterion[limit_hit] = "search_limit"
    criterion[blocked] = status[blocked]
    for target in (b_month, b_hour, b_value):
        target[blocked | limit_hit] = None

    def unless_blocked(values: NDArray[Any]) -> NDArray[Any]:
        out = values.astype(object)
        out[blocked] = None
        return out

    frame = pd.DataFrame(
        {
            "grid_id": merged["grid_id"].to_numpy(object)[pair_g],
            "transformer_id": merged["transformer_id"].to_numpy(object)[pair_g],
            "window_name": merged["window_name"].to_numpy(object)[pair_g],
            "charger_type": types["charger_type"].to_numpy(object)[pair_c],
            "charger_power_kw": types["power_kw"].to_numpy(float)[pair_c],
            "coincidence_factor": float(coincidence),
            "thermal_max_chargers": np.where(blocked, 0, count).astype(np.int64),
            "thermal_max_kw": unless_blocked(best_kw[pair_g]),
            "binding_criterion": criterion,
            "binding_month": b_month,
            "binding_hour_local": b_hour,
            "binding_value": b_value,
            "peak_hot_spot_c": unless_blocked(peak_h),
            "peak_top_oil_c": unless_blocked(peak_o),
            "ageing_per_day": unless_blocked(ageing),
            "baseline_peak_hot_spot_c": unless_blocked(
                merged["baseline_peak_hot_spot_c"].to_numpy(float)[pair_g]
            ),
            "baseline_within_limits": unless_blocked(base_ok),
            "hot_spot_limit_c": limits.hot_spot_c,
            "top_oil_limit_c": limits.top_oil_c,
            "ageing_limit": limits.ageing_per_day,
            "load_limit_pu": limits.load_pu,
        }
    )
    for column in ("binding_month", "binding_hour_local"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    for column in (
        "thermal_max_kw",
        "binding_value",
        "peak_hot_spot_c",
        "peak_top_oil_c",
        "ageing_per_day",
        "baseline_peak_hot_spot_c",
    ):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


def thermal_counts_in_blocks(
    inputs: ThermalInputs,
    windows: Sequence[str],
    chargers: pd.DataFrame,
    coincidence: float = 1.0,
    limits: ThermalLimits | None = None,
    block: int | None = None,
) -> pd.DataFrame:
    """:func:`thermal_headroom` then :func:`thermal_counts`, ``block``
    transformers at a time (default :data:`TRANSFORMERS_PER_BLOCK`), so the
    memory stays bounded on a utility's 10^4-10^5 transformers."""
    limits = limits or ThermalLimits.from_project()
    size = block or TRANSFORMERS_PER_BLOCK
    frames = []
    for lo in range(0, max(len(inputs.keys), 1), size):
        part = inputs.take(np.arange(lo, min(lo + size, len(inputs.keys))))
        headroom = thermal_headroom(part, windows, limits)
        frames.append(thermal_counts(part, headroom, chargers, coincidence, limits))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def thermal_months(inputs: ThermalInputs) -> pd.DataFrame:
    """Design day of every transformer and local month without chargers.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`THERMAL_MONTH_COLUMNS`: peak load (per unit), peak
        top-oil and hot-spot temperature (degC) with the local hour of each
        peak, relative ageing per day for the transformer's paper and for
        thermally upgraded paper. Transformers without a rating and months
        without data have no row.
    """
    capacity = inputs.keys["capacity_kw"].to_numpy(float)
    t, m = np.nonzero(inputs.has_month & np.isfinite(capacity)[:, None])
    if t.size == 0:
        return pd.DataFrame(columns=list(THERMAL_MONTH_COLUMNS))
    t = t.astype(np.int64)
    m = m.astype(np.int64)
    none = np.zeros((t.size, HOURS), dtype=bool)
    ev = _evaluate(inputs, t, m, np.zeros(t.size), none)
    r = ev.result
    # The same days with thermally upgraded paper (only the ageing differs).
    tup = dataclasses.replace(
        inputs,
        params=dataclasses.replace(
            inputs.params, thermally_upgraded=np.ones(len(inputs.params), dtype=bool)
        ),
    )
    upgraded = _evaluate(tup, t, m, np.zeros(t.size), none).result.ageing_per_day
    return pd.DataFrame(
        {
            "grid_id": inputs.keys["grid_id"].to_numpy()[t],
            "transformer_id": inputs.keys["transformer_id"].to_numpy()[t],
            "local_month": (m + 1).astype(int),
            "peak_load_pu": ev.peak_load_pu,
            "peak_top_oil_c": r.peak_top_oil_c,
            "peak_top_oil_hour_local": r.peak_top_oil_hour.astype(int),
            "peak_hot_spot_c": r.peak_hot_spot_c,
            "peak_hot_spot_hour_local": r.peak_hot_spot_hour.astype(int),
            "ageing_per_day": r.ageing_per_day,
            "ageing_per_day_upgraded_paper": upgraded,
        }
    )


def design_day_curves(
    inputs: ThermalInputs,
    grid_id: str,
    transformer_id: str,
    month: int,
    window: str,
    added_kw: Sequence[float],
    labels: Sequence[str],
) -> pd.DataFrame:
    """Top-oil and hot-spot temperature over one design day, for plots.

    Parameters
    ----------
    inputs : ThermalInputs
    grid_id, transformer_id : str
        The transformer.
    month : int
        Local month, 1-12.
    window : str
        Charging window whose hours get the added load.
    added_kw : sequence of float
        kW added during the window's hours, one curve each.
    labels : sequence of str
        A label per curve (column ``case``).

    Returns
    -------
    pandas.DataFrame
        ``case``, ``minute`` (0-1439, end of each 1-minute step), ``hour``
        (local, fractional), ``hot_spot_c``, ``top_oil_c`` (degC),
        ``load_pu``, ``ambient_c``.
    """
    i = inputs.index_of(grid_id, transformer_id)
    if not inputs.has_month[i, month - 1]:
        raise ConfigError(f"{grid_id}/{transformer_id} has no data in month {month}")
    row = inputs.windows.set_index("window_name").loc[window]
    _months, hours = window_masks(row.to_dict())
    count = len(added_kw)
    ev = _evaluate(
        inputs,
        np.full(count, i, dtype=np.int64),
        np.full(count, month - 1, dtype=np.int64),
        np.asarray(added_kw, dtype=float),
        np.tile(hours, (count, 1)),
        profiles=True,
    )
    r = ev.result
    assert r.hot_spot_c is not None
    assert r.top_oil_c is not None
    minutes = r.hot_spot_c.shape[1]
    capacity = float(inputs.keys["capacity_kw"].iloc[i])
    frames = []
    for j, label in enumerate(labels):
        add = float(added_kw[j]) * hours
        load_kw = np.maximum(
            inputs.max_load_kw[i, month - 1] + add,
            -(inputs.min_load_kw[i, month - 1] + add),
        )
        step_hour = np.arange(minutes) * HOURS // minutes
        frames.append(
            pd.DataFrame(
                {
                    "case": label,
                    "minute": np.arange(minutes),
                    "hour": (np.arange(minutes) + 1) * HOURS / minutes,
                    "hot_spot_c": r.hot_spot_c[j],
                    "top_oil_c": r.top_oil_c[j],
                    "load_pu": load_kw[step_hour] / capacity,
                    "ambient_c": inputs.ambient_c[i, month - 1][step_hour],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _nameplate(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    schema: str,
    grid_id: str | None,
    transformers: Sequence[str] | None,
) -> pd.DataFrame:
    fit = _read(source, "transformer_charger_fit", schema, transformers, grid_id)
    needed = (
        "grid_id",
        "transformer_id",
        "window_name",
        "charger_type",
        "charger_power_kw",
        "max_chargers",
        "reason",
    )
    missing = [c for c in needed if c not in fit.columns]
    if missing:
        raise SchemaError(
            f"transformer_charger_fit lacks column(s) {', '.join(missing)}"
        )
    return fit


def thermal_fit(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    *,
    windows: Sequence[str] | str | None = None,
    chargers: Sequence[str] | None = None,
    coincidence: float | None = None,
    limits: ThermalLimits | None = None,
    schema: str = "evcap",
    grid_id: str | None = None,
    transformers: Sequence[str] | None = None,
    inputs: ThermalInputs | None = None,
) -> pd.DataFrame:
    """Nameplate and thermal charger counts side by side (table ``transformer_thermal_fit``).

    Parameters
    ----------
    source : psycopg.Connection or mapping of str to DataFrame
        The marts (``dim_transformers``, ``transformer_headroom_profile``,
        ``transformer_charger_fit``) and seeds, see :func:`load_inputs`.
    windows : str or sequence of str, optional
        Charging windows (default: every window of the nameplate fit).
    chargers : sequence of str, optional
        Charger types (default: every type of the nameplate fit).
    coincidence : float, optional
        Share of chargers drawing at once; default the nameplate fit's
        ``coincidence_factor`` (dbt var), else 1.
    limits : ThermalLimits, optional
        Default :meth:`ThermalLimits.from_project`.
    schema, grid_id, transformers
        Where the marts are and which transformers to take.
    inputs : ThermalInputs, optional
        Inputs already loaded (else :func:`load_inputs`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`THERMAL_FIT_COLUMNS`, one row per row of the nameplate
        fit asked for; ``max_chargers`` is the
        nameplate count of ``transformer_charger_fit``. Types the nameplate
        fit blocks for voltage or phases get 0 with that reason.

    Raises
    ------
    ConfigError, SchemaError
        On unknown windows or types, missing marts or invalid seeds.
    """
    limits = limits or ThermalLimits.from_project()
    selected = [transformers] if isinstance(transformers, str) else transformers
    nameplate = _nameplate(source, schema, grid_id, selected)
    if inputs is None:
        inputs = load_inputs(
            source, schema=schema, grid_id=grid_id, transformers=selected
        )
    known_windows = list(dict.fromkeys(nameplate["window_name"].astype(str)))
    wanted = (
        known_windows
        if windows is None
        else ([windows] if isinstance(windows, str) else list(windows))
    )
    unknown = [w for w in wanted if w not in known_windows]
    if unknown:
        raise ConfigError(
            f"unknown charging window(s) {', '.join(unknown)}; available: {', '.join(known_windows)}"
        )
    types = nameplate.drop_duplicates("charger_type")[
        ["charger_type", "charger_power_kw"]
    ].rename(columns={"charger_power_kw": "power_kw"})
    if chargers is not None:
        names = list(chargers)
        missing = [c for c in names if c not in set(types["charger_type"])]
        if missing:
            raise ConfigError(f"unknown charger type(s) {', '.join(missing)}")
        types = types.set_index("charger_type").loc[names].reset_index()
    if coincidence is None:
        stored = nameplate.get("coincidence_factor")
        coincidence = (
            float(stored.iloc[0]) if stored is not None and len(stored) else 1.0
        )
    counts = thermal_counts_in_blocks(inputs, wanted, types, coincidence, limits)
    key = ["grid_id", "transformer_id", "window_name", "charger_type"]
    plate = nameplate[[*key, "max_chargers", "reason"]].astype(
        {"grid_id": str, "transformer_id": str}
    )
    out = counts.merge(plate, on=key, how="inner")  # rows of the nameplate fit
    blocked = out["reason"].isin(COMPAT_REASONS).to_numpy()
    out.loc[blocked, "thermal_max_chargers"] = 0
    out.loc[blocked, "binding_criterion"] = out.loc[blocked, "reason"]
    for column in (
        "binding_month",
        "binding_hour_local",
        "binding_value",
        "peak_hot_spot_c",
        "peak_top_oil_c",
        "ageing_per_day",
    ):
        out.loc[blocked, column] = None
    out["max_chargers"] = out["max_chargers"].astype("Int64")
    out = out.drop(columns=["reason"])[list(THERMAL_FIT_COLUMNS)]
    window_rank = {w: i for i, w in enumerate(wanted)}
    type_rank = {c: i for i, c in enumerate(types["charger_type"])}
    out = out.assign(
        _w=out["window_name"].map(window_rank), _c=out["charger_type"].map(type_rank)
    )
    out = out.sort_values(["grid_id", "transformer_id", "_w", "_c"], kind="stable")
    return out.drop(columns=["_w", "_c"]).reset_index(drop=True)


def add_thermal_columns(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    fit_frame: pd.DataFrame,
    *,
    schema: str = "evcap",
    limits: ThermalLimits | None = None,
    chargers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A :func:`evcap.fit` result with thermal columns added.

    Adds ``thermal_max_chargers`` (the type alone, by thermal limit, at the
    fit's coincidence factor), ``thermal_max_kw`` (kW the thermal limits
    allow in the window), ``binding_criterion`` and ``thermal_ok`` (the
    whole mix of the row's transformer x window x mode draws at most
    ``thermal_max_kw``; in ``single`` mode the row alone; null when
    unknown).

    Parameters
    ----------
    source : psycopg.Connection or mapping of str to DataFrame
        As for :func:`load_inputs`.
    fit_frame : pandas.DataFrame
        A :func:`evcap.fit` result.
    schema : str
    limits : ThermalLimits, optional
    chargers : pandas.DataFrame, optional
        ``charger_type``, ``power_kw``; default the fit's charger columns.

    Returns
    -------
    pandas.DataFrame
        ``fit_frame``'s columns and rows, plus the four columns.
    """
    limits = limits or ThermalLimits.from_project()
    out = fit_frame.copy()
    if out.empty:
        for column in (
            "thermal_max_chargers",
            "thermal_max_kw",
            "binding_criterion",
            "thermal_ok",
        ):
            out[column] = pd.Series(dtype=object)
        return out
    coincidence = float(fit_frame.attrs.get("coincidence_factor", 1.0))
    transformers = sorted(set(out["transformer_id"].astype(str)))
    grids = sorted(set(out["grid_id"].astype(str)))
    inputs = load_inputs(
        source,
        schema=schema,
        grid_id=grids[0] if len(grids) == 1 else None,
        transformers=transformers,
    )
    windows = list(dict.fromkeys(out["window_name"].astype(str)))
    if chargers is None:
        chargers = out.drop_duplicates("charger_type")[
            ["charger_type", "charger_power_kw"]
        ].rename(columns={"charger_power_kw": "power_kw"})
    counts = thermal_counts_in_blocks(inputs, windows, chargers, coincidence, limits)
    key = ["grid_id", "transformer_id", "window_name", "charger_type"]
    out = out.merge(
        counts[[*key, "thermal_max_chargers", "thermal_max_kw", "binding_criterion"]],
        on=key,
        how="left",
    )
    compat = out["reason"].isin(COMPAT_REASONS)
    out.loc[compat, "thermal_max_chargers"] = 0
    out.loc[compat, "binding_criterion"] = out.loc[compat, "reason"]
    group = ["grid_id", "transformer_id", "window_name", "mode"]
    total = out.groupby(group)["power_kw"].transform("sum")
    # Single mode: each row is an alternative (that type alone), not a mix.
    if "mode" in out.columns:
        total = total.where(out["mode"] != "single", out["power_kw"])
    limit = out["thermal_max_kw"]
    out["thermal_ok"] = [
        None if pd.isna(lim) else bool(tot <= lim + 1e-9)
        for tot, lim in zip(total, limit, strict=True)
    ]
    out["thermal_max_chargers"] = out["thermal_max_chargers"].astype("Int64")
    out.attrs.update(fit_frame.attrs)
    return out


# --- writing ----------------------------------------------------------------

_FIT_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    window_name text not null,
    charger_type text not null,
    charger_power_kw double precision not null,
    coincidence_factor double precision not null,
    max_chargers integer,
    thermal_max_chargers integer not null,
    thermal_max_kw double precision,
    binding_criterion text,
    binding_month integer,
    binding_hour_local integer,
    binding_value double precision,
    peak_hot_spot_c double precision,
    peak_top_oil_c double precision,
    ageing_per_day double precision,
    baseline_peak_hot_spot_c double precision,
    baseline_within_limits boolean,
    hot_spot_limit_c double precision not null,
    top_oil_limit_c double precision not null,
    ageing_limit double precision not null,
    load_limit_pu double precision not null,
    computed_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, window_name, charger_type)
)
"""

_MONTH_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    local_month integer not null,
    peak_load_pu double precision not null,
    peak_top_oil_c double precision not null,
    peak_top_oil_hour_local integer not null,
    peak_hot_spot_c double precision not null,
    peak_hot_spot_hour_local integer not null,
    ageing_per_day double precision not null,
    ageing_per_day_upgraded_paper double precision not null,
    computed_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, local_month)
)
"""


def _plain(value: object) -> object:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and math.isnan(item) else item
    return value


def _replace(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    schema: str,
    name: str,
    ddl: str,
    columns: Sequence[str],
    group_keys: Sequence[str],
) -> int:
    table = sql.Identifier(schema, name)
    insert = sql.SQL("insert into {table} ({columns}) values ({values})").format(
        table=table,
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    delete = sql.SQL(
        "delete from {table} where ({keys}) in (select * from unnest({arrays}))"
    ).format(
        table=table,
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in group_keys),
        arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in group_keys),
    )
    rows = [
        tuple(_plain(v) for v in row)
        for row in frame[list(columns)].itertuples(index=False, name=None)
    ]
    groups = list(
        dict.fromkeys(tuple(str(v) for v in row[: len(group_keys)]) for row in rows)
    )
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(schema))
        )
        cur.execute(sql.SQL(ddl).format(table=table))
        if groups:
            cur.execute(delete, [list(c) for c in zip(*groups, strict=True)])
        if rows:
            cur.executemany(insert, rows)
    if not conn.autocommit:
        conn.commit()
    return len(rows)


def write_thermal_fit(
    conn: psycopg.Connection, frame: pd.DataFrame, schema: str = "evcap"
) -> int:
    """Store a :func:`thermal_fit` result in ``<schema>.transformer_thermal_fit``.

    Creates the table when missing (primary key grid_id, transformer_id,
    window_name, charger_type; plus ``computed_at``). In one transaction the
    stored rows of every (grid_id, transformer_id, window_name) in ``frame``
    are replaced by ``frame``'s. Commits.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    SchemaError
        When ``frame`` lacks a column of :data:`THERMAL_FIT_COLUMNS`.
    """
    missing = [c for c in THERMAL_FIT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"thermal fit lacks column(s) {', '.join(missing)}")
    return _replace(
        conn,
        frame,
        schema,
        "transformer_thermal_fit",
        _FIT_DDL,
        THERMAL_FIT_COLUMNS,
        ("grid_id", "transformer_id", "window_name"),
    )


def write_thermal_months(
    conn: psycopg.Connection, frame: pd.DataFrame, schema: str = "evcap"
) -> int:
    """Store :func:`thermal_months` in ``<schema>.transformer_thermal_month``.

    The stored rows of every (grid_id, transformer_id) in ``frame`` are
    replaced. Commits. Returns the rows written.
    """
    missing = [c for c in THERMAL_MONTH_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"thermal months lack column(s) {', '.join(missing)}")
    return _replace(
        conn,
        frame,
        schema,
        "transformer_thermal_month",
        _MONTH_DDL,
        THERMAL_MONTH_COLUMNS,
        ("grid_id", "transformer_id"),
    )


def binding_day_curves(
    inputs: ThermalInputs, row: Mapping[Any, Any], month: int | None = None
) -> pd.DataFrame:
    """Design day of a thermal-fit row: no chargers, N and N + 1 chargers.

    Parameters
    ----------
    inputs : ThermalInputs
        Inputs holding the row's transformer.
    row : mapping
        A row of :func:`thermal_fit` (``grid_id``, ``transformer_id``,
        ``window_name``, ``charger_power_kw``, ``coincidence_factor``,
        ``thermal_max_chargers``, ``binding_month``).
    month : int, optional
        Local month (default the binding month, else the month of the
        highest hot spot without chargers among the window's months).

    Returns
    -------
    pandas.DataFrame
        :func:`design_day_curves` with cases ``no chargers``, ``N chargers``
        and ``N+1 chargers``; ``attrs`` holds the month and N.

    Raises
    ------
    ConfigError
        When the transformer has no design day in the window.
    """
    grid, transformer = str(row["grid_id"]), str(row["transformer_id"])
    window = str(row["window_name"])
    i = inputs.index_of(grid, transformer)
    if (
        month is None
        and row.get("binding_month") is not None
        and not pd.isna(row.get("binding_month"))
    ):
        month = int(row["binding_month"])
    months_mask, _hours = window_masks(
        inputs.windows.set_index("window_name").loc[window].to_dict()
    )
    candidates = np.flatnonzero(months_mask & inputs.has_month[i])
    if month is None:
        if candidates.size == 0 or not np.isfinite(inputs.keys["capacity_kw"].iloc[i]):
            raise ConfigError(f"{grid}/{transformer} has no design day in {window}")
        days = _evaluate(
            inputs,
            np.full(candidates.size, i, dtype=np.int64),
            candidates.astype(np.int64),
            np.zeros(candidates.size),
            np.zeros((candidates.size, HOURS), dtype=bool),
        )
        month = int(candidates[int(np.argmax(days.result.peak_hot_spot_c))]) + 1
    n = int(row["thermal_max_chargers"])
    draw = float(row["charger_power_kw"]) * float(row.get("coincidence_factor") or 1.0)
    curves = design_day_curves(
        inputs,
        grid,
        transformer,
        month,
        window,
        [0.0, n * draw, (n + 1) * draw],
        ["no chargers", f"{n} chargers (fit)", f"{n + 1} chargers"],
    )
    curves.attrs.update({"month": month, "chargers": n})
    return curves


# --- ambient from an EDM weather data source ------------------------------------


def project_var(name: str, default: Any = None) -> Any:
    """A dbt var of ``dbt_project.yml`` (``default`` when absent or null)."""
    import yaml

    from evcap.db import project_dir

    path = project_dir() / "dbt_project.yml"
    if not path.is_file():
        return default
    project_vars = (yaml.safe_load(path.read_text()) or {}).get("vars") or {}
    value = project_vars.get(name)
    return default if value is None else value


_AMBIENT_SQL = """
with readings as (
    select distinct on (r."timestamp")
        r."timestamp" as interval_start,
        r.value
    from {select}(%(id)s::uuid, %(metric)s) as r
    order by r."timestamp", r.received desc
),

local as (
    select
        cast(extract(month from interval_start at time zone %(tz)s) as integer)
            as local_month,
        cast(extract(hour from interval_start at time zone %(tz)s) as integer)
            as local_hour,
        value
    from readings
    where value is not null
      and value between %(low)s and %(high)s
)

select local_month, local_hour, avg(value) as ambient_c, count(*) as readings
from local
group by local_month, local_hour
order by local_month, local_hour
"""


def ambient_from_edm(
    conn: psycopg.Connection,
    data_source_id: str,
    *,
    metric: str = "temperature",
    edm_schema: str = "edm",
    local_timezone: str | None = None,
    fallback: pd.DataFrame | None = None,
    grid_id: str = "default",
) -> pd.DataFrame:
    """Ambient per local month and hour from an EDM weather data source.

    Reads the data source's readings only through the EDM function
    ``ts_data_source_select(id, metric)`` (values in degC; of duplicates the
    latest ``received`` wins; values that are null or outside -60..60 degC are
    left out) and averages them per local month and local hour: the hourly
    climate normal of the years the source holds.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the EDM.
    data_source_id : str
        ``grid_element_data_source_id`` (uuid) of the weather station.
    metric : str
        Metric key of the temperature series.
    edm_schema : str
        Schema of the EDM.
    local_timezone : str, optional
        Time zone of the local hours (default: dbt var ``local_timezone``).
    fallback : pandas.DataFrame, optional
        Ambient rows (seed ``ambient_temperature_normals``) whose ``default``
        rows fill the months and hours the source has no reading for.
    grid_id : str
        ``grid_id`` of the returned rows (``default``: every grid).

    Returns
    -------
    pandas.DataFrame
        ``grid_id``, ``local_month``, ``local_hour``, ``ambient_c``,
        ``readings`` (0 for a cell taken from ``fallback``); 288 rows when
        the source or the fallback covers every cell. ``attrs["filled"]`` is
        the number of cells taken from ``fallback``.

    Raises
    ------
    ConfigError
        When the source has no usable reading, or cells are missing and no
        fallback covers them.
    """
    tz = local_timezone or str(project_var("local_timezone", "America/Vancouver"))
    query = sql.SQL(_AMBIENT_SQL).format(
        select=sql.Identifier(edm_schema, "ts_data_source_select")
    )
    from evcap.db import read_frame

    try:
        found = read_frame(
            conn,
            query,
            {
                "id": data_source_id,
                "metric": metric,
                "tz": tz,
                "low": -60.0,
                "high": 60.0,
            },
        )
    except psycopg.Error as exc:
        if not conn.autocommit:
            conn.rollback()
        raise ConfigError(
            f"cannot read weather data source {data_source_id} ({metric}) from "
            f"{edm_schema}.ts_data_source_select: {exc}"
        ) from exc
    if found.empty:
        raise ConfigError(
            f"weather data source {data_source_id} has no {metric!r} readings "
            "in -60..60 degC"
        )
    cells = pd.MultiIndex.from_product(
        [range(1, MONTHS + 1), range(HOURS)], names=["local_month", "local_hour"]
    )
    table = (
        found.astype({"local_month": int, "local_hour": int})
        .set_index(["local_month", "local_hour"])
        .reindex(cells)
    )
    missing = table["ambient_c"].isna()
    filled = int(missing.sum())
    if filled:
        if fallback is None:
            raise ConfigError(
                f"weather data source {data_source_id} has no reading for "
                f"{filled} local month x hour cells and no fallback was given"
            )
        rows = fallback.astype({"grid_id": str})
        backup = (
            rows[rows["grid_id"] == "default"]
            .astype({"local_month": int, "local_hour": int})
            .set_index(["local_month", "local_hour"])["ambient_c"]
        )
        table.loc[missing, "ambient_c"] = backup.reindex(
            table.index[missing]
        ).to_numpy()
        if table["ambient_c"].isna().any():
            raise ConfigError(
                "the fallback ambient temperatures do not cover the cells the "
                "weather data source lacks"
            )
    out = table.reset_index()
    out["readings"] = out["readings"].fillna(0).astype(int)
    out["ambient_c"] = out["ambient_c"].astype(float)
    out.insert(0, "grid_id", grid_id)
    out.attrs["filled"] = filled
    return out


def with_ambient(seed: pd.DataFrame, ambient: pd.DataFrame) -> pd.DataFrame:
    """Seed ambient rows with the ``ambient`` rows' grids replaced."""
    keep = seed[~seed["grid_id"].astype(str).isin(set(ambient["grid_id"].astype(str)))]
    columns = ["grid_id", "local_month", "local_hour", "ambient_c"]
    return pd.concat([keep[columns], ambient[columns]], ignore_index=True)
