"""Running design days for many transformers, windows and added kW at once, and
reading which limit binds (criterion, month, local hour).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from evcap.errors import ConfigError
from evcap.thermal.inputs import ThermalInputs, window_masks
from evcap.thermal.limits import (
    CRITERIA,
    EVALUATION_ROWS,
    ThermalLimits,
)
from evcap.thermal.model import (
    HOURS,
    DesignDayResult,
    design_day,
)


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
