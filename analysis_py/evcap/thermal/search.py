"""The search: the largest added kW whose design days keep every limit, then
exact counts per charger type checked at ``N`` and ``N + 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from evcap.errors import ConfigError
from evcap.thermal.evaluation import (
    _binding,
    _evaluate,
    _Evaluation,
    _group_all,
    _groups,
    _within,
)
from evcap.thermal.inputs import ThermalInputs
from evcap.thermal.limits import (
    COARSE_STEP_MINUTES,
    SEARCH_LIMIT_PU,
    SEARCH_TOLERANCE_PU,
    TRANSFORMERS_PER_BLOCK,
    ThermalLimits,
)


def thermal_headroom(
    inputs: ThermalInputs,
    *,
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
    *,
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
    *,
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
        headroom = thermal_headroom(part, windows=windows, limits=limits)
        frames.append(
            thermal_counts(
                part,
                headroom=headroom,
                chargers=chargers,
                coincidence=coincidence,
                limits=limits,
            )
        )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
