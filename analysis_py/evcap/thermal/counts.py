"""The thermal fit as tables: counts beside the nameplate fit, months, and
design-day curves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from evcap.errors import ConfigError, SchemaError
from evcap.thermal.evaluation import _evaluate
from evcap.thermal.inputs import ThermalInputs, _read, load_inputs, window_masks
from evcap.thermal.limits import (
    COMPAT_REASONS,
    THERMAL_FIT_COLUMNS,
    THERMAL_MONTH_COLUMNS,
    ThermalLimits,
)
from evcap.thermal.model import (
    HOURS,
)
from evcap.thermal.search import thermal_counts_in_blocks


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
    *,
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
    counts = thermal_counts_in_blocks(
        inputs, windows=wanted, chargers=types, coincidence=coincidence, limits=limits
    )
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
    *,
    fit_frame: pd.DataFrame,
    coincidence: float = 1.0,
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
    coincidence : float
        The coincidence factor the fit used (share of chargers drawing at
        once, in (0, 1]).
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
    counts = thermal_counts_in_blocks(
        inputs,
        windows=windows,
        chargers=chargers,
        coincidence=coincidence,
        limits=limits,
    )
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
    return out


@dataclass(frozen=True)
class BindingDay:
    """Design-day curves of a thermal-fit row and what they show.

    Attributes
    ----------
    curves : pandas.DataFrame
        :func:`design_day_curves` with cases ``no chargers``, ``N chargers``
        and ``N+1 chargers``.
    month : int
        Local month (1-12) of the design day.
    chargers : int
        ``N``, the thermal count of the row.
    """

    curves: pd.DataFrame
    month: int
    chargers: int


def binding_day_curves(
    inputs: ThermalInputs, *, row: Mapping[Any, Any], month: int | None = None
) -> BindingDay:
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
    BindingDay
        The curves (cases ``no chargers``, ``N chargers``, ``N+1 chargers``),
        the month and N.

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
        grid_id=grid,
        transformer_id=transformer,
        month=month,
        window=window,
        added_kw=[0.0, n * draw, (n + 1) * draw],
        labels=["no chargers", f"{n} chargers (fit)", f"{n + 1} chargers"],
    )
    return BindingDay(curves, int(month), int(n))
