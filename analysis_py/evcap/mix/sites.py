"""Transformers as the mix sees them (rating, voltage, phases, upstream) and
their budgets per charging window, from the marts ``dim_transformers`` and
``transformer_window_headroom``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

from evcap.errors import (
    ConfigError,
    SchemaError,
)
from evcap.mix.options import DIM_COLUMNS, HEADROOM_COLUMNS, Basis
from evcap.mix.values import (
    _bool_or_none,
    _float_or_none,
    _int_or_none,
    _is_missing,
    _phase_count,
)


@dataclass
class _Site:
    grid_id: str
    transformer_id: str
    rated: bool
    secondary_voltage_v: float | None
    phase_count: int | None
    upstream: str | None
    is_distribution: bool | None = None


def _read_marts(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    schema: str,
    grid_id: str | None,
    transformers: Sequence[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if isinstance(source, psycopg.Connection):
        from evcap.marts import read_mart

        dim = read_mart(
            source,
            "dim_transformers",
            schema=schema,
            transformers=transformers,
            grid_id=grid_id,
        )
        headroom = read_mart(
            source,
            "transformer_window_headroom",
            schema=schema,
            transformers=transformers,
            grid_id=grid_id,
        )
    elif isinstance(source, Mapping):
        try:
            dim = source["dim_transformers"]
            headroom = source["transformer_window_headroom"]
        except KeyError as exc:
            raise SchemaError(
                f"source frames lack {exc}; give 'dim_transformers' and "
                "'transformer_window_headroom'"
            ) from exc
        if grid_id is not None:
            dim = dim[dim["grid_id"] == grid_id]
            headroom = headroom[headroom["grid_id"] == grid_id]
    else:
        raise ConfigError(
            "source must be a psycopg connection or a mapping of DataFrames"
        )
    for name, frame, needed in (
        ("dim_transformers", dim, DIM_COLUMNS),
        ("transformer_window_headroom", headroom, HEADROOM_COLUMNS),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} lacks column(s) {', '.join(missing)}")
    return dim, headroom


def _known_grids(
    source: psycopg.Connection | Mapping[str, pd.DataFrame], schema: str
) -> list[str]:
    """Grid ids present in ``dim_transformers`` (sorted)."""
    if isinstance(source, psycopg.Connection):
        from evcap.marts import known_grids

        return known_grids(source, schema=schema)
    return sorted({str(g) for g in source["dim_transformers"]["grid_id"]})


def _sites(dim: pd.DataFrame) -> dict[tuple[str, str], _Site]:
    if "phase_count" in dim.columns:
        phase_counts = [_int_or_none(v) for v in dim["phase_count"].tolist()]
    else:
        phase_counts = [_phase_count(v) for v in dim["phases"].tolist()]
    distribution = (
        [_bool_or_none(v) for v in dim["is_distribution"].tolist()]
        if "is_distribution" in dim.columns
        else [None] * len(dim)
    )
    sites: dict[tuple[str, str], _Site] = {}
    for (grid, transformer, rating, volts, _phases, upstream), count, dist in zip(
        zip(*(dim[c].tolist() for c in DIM_COLUMNS), strict=True),
        phase_counts,
        distribution,
        strict=True,
    ):
        key = (str(grid), str(transformer))
        sites[key] = _Site(
            key[0],
            key[1],
            _float_or_none(rating) is not None,
            _float_or_none(volts),
            count,
            None if upstream is None or _is_missing(upstream) else str(upstream),
            dist,
        )
    return sites


def _budgets(
    headroom: pd.DataFrame, basis: Basis, windows: Sequence[str]
) -> dict[tuple[str, str, str], float | None]:
    column = "firm_headroom_kw" if basis == "firm" else "quantile_headroom_kw"
    if column not in headroom.columns:
        raise SchemaError(f"transformer_window_headroom lacks column {column}")
    frame = headroom[headroom["window_name"].isin(list(windows))]
    used = (
        frame["intervals_used"].to_numpy()
        if "intervals_used" in frame.columns
        else np.ones(len(frame))
    )
    budgets: dict[tuple[str, str, str], float | None] = {}
    for g, t, w, value, n in zip(
        frame["grid_id"],
        frame["transformer_id"],
        frame["window_name"],
        frame[column],
        used,
        strict=True,
    ):
        number = _float_or_none(value)
        no_data = _float_or_none(n) is not None and float(n) <= 0
        if number is not None and not no_data and not math.isfinite(number):
            raise ConfigError(
                f"{column} of {t} (grid {g}) in window {w} is {number!r}; a "
                "budget must be a finite number of kW"
            )
        budgets[(str(g), str(t), str(w))] = None if no_data else number
    return budgets


def _insufficient(
    headroom: pd.DataFrame, windows: Sequence[str]
) -> set[tuple[str, str, str]]:
    """(grid, transformer, window) whose window has too little data to trust.

    transformer_window_headroom.data_sufficient is false there (too small a
    share of the window's calendar intervals had enough meter coverage); a
    mart without the column trusts every window.
    """
    if "data_sufficient" not in headroom.columns:
        return set()
    frame = headroom[headroom["window_name"].isin(list(windows))]
    used = (
        frame["intervals_used"].to_numpy()
        if "intervals_used" in frame.columns
        else np.ones(len(frame))
    )
    return {
        (str(g), str(t), str(w))
        for g, t, w, ok, n in zip(
            frame["grid_id"],
            frame["transformer_id"],
            frame["window_name"],
            frame["data_sufficient"],
            used,
            strict=True,
        )
        # no interval used at all stays no_data_in_window, as in the SQL mart
        if not _is_missing(ok)
        and not bool(ok)
        and (_float_or_none(n) is None or float(n) > 0)
    }
