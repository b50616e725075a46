"""Inputs of the thermal fit: design-day loads per transformer, month and hour
(from ``transformer_headroom_profile``), ambient normals, charger types and
charging windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from numpy.typing import NDArray

from evcap.errors import ConfigError, SchemaError
from evcap.thermal.limits import MONTHS
from evcap.thermal.model import (
    HOURS,
    PARAMETER_COLUMNS,
    ThermalParameters,
    parameters_for,
)


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


def read_seed(
    source: psycopg.Connection | Mapping[str, pd.DataFrame] | None,
    name: str,
    *,
    schema: str,
) -> pd.DataFrame:
    """A seed from the frames, else the table dbt loaded, else the CSV file.

    Raises
    ------
    ConfigError
        When the seed is neither in ``source`` nor a readable CSV file.
    """
    if isinstance(source, Mapping) and name in source:
        return source[name].copy()
    if isinstance(source, psycopg.Connection):
        from evcap.marts import read_seed_table

        table = read_seed_table(source, name, schema=schema)
        if table is not None:
            return table
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

        return read_mart(
            source, name, schema=schema, transformers=transformers, grid_id=grid_id
        )
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
    parameters = read_seed(seed_source, "thermal_parameters", schema=schema)
    overrides = read_seed(seed_source, "transformer_thermal_overrides", schema=schema)
    if ambient is None:
        ambient = read_seed(seed_source, "ambient_temperature_normals", schema=schema)
    windows = read_seed(seed_source, "charging_windows", schema=schema)
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
