""":func:`fit`: charger mixes for many transformers and windows, as one frame."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
    UnknownTransformerError,
)
from evcap.mix.chargers import _resolve_chargers
from evcap.mix.exact import _decimal_ratio, draw_kw, exact_units
from evcap.mix.joint import _fit_joint
from evcap.mix.modes import _count_bounds, _Fit, _fit_site, _shares
from evcap.mix.options import MODES, OUTPUT_COLUMNS, Basis, Mode, Objective
from evcap.mix.sites import _budgets, _insufficient, _known_grids, _read_marts, _sites


def fit(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    *,
    transformers: Sequence[str] | str | None = None,
    window: str | Sequence[str] | None = "nightly",
    chargers: pd.DataFrame | str | Path | Sequence[str] | None = None,
    mode: Mode = "max-power",
    coincidence: float = 1.0,
    proportions: Sequence[float] | Mapping[str, float] | None = None,
    min_counts: Mapping[str, int] | None = None,
    max_counts: Mapping[str, int] | None = None,
    basis: Basis = "firm",
    fill_leftover: bool = False,
    grid_id: str | None = None,
    schema: str = "evcap",
    objective: Objective = "power",
    progress: bool = False,
) -> pd.DataFrame:
    """Fit chargers on transformers, one row per transformer x window x type.

    Parameters
    ----------
    source : psycopg.Connection or mapping of str to DataFrame
        A connection to the database with the marts in ``schema``, or frames
        ``{"dim_transformers": ..., "transformer_window_headroom": ...}``
        with the mart column names.
    transformers : str or sequence of str, optional
        Transformer ids to fit (all when None; in ``joint`` mode: every
        transformer without a transformer below it).
    window : str or sequence of str, optional
        Charging window name(s) of the seed ``charging_windows``; None = all.
    chargers : DataFrame, CSV path, or sequence of names, optional
        Charger types (see :func:`load_charger_types`); names select from the
        seed ``charger_types.csv``. Default: every seed type.
    mode : {"single", "count-proportions", "power-proportions", "max-power", "joint"}
        See the module docstring.
    coincidence : float
        Share of chargers drawing at once, in (0, 1]; a charger draws
        ``coincidence * power_kw`` kW.
    proportions : sequence of float or mapping, optional
        Percent per charger type (in charger order, or by name), summing to
        100; for the two proportion modes.
    min_counts, max_counts : mapping of str to int, optional
        Bounds on the count per type and transformer (``max-power``, ``joint``).
    basis : {"firm", "quantile"}
        Budget column: ``firm_headroom_kw`` or ``quantile_headroom_kw`` (kW).
    fill_leftover : bool
        Proportion modes: add the max-power mix of the leftover budget.
    grid_id : str, optional
        Only this grid (transformer ids are unique within a grid only).
    schema : str
        Schema of the marts when ``source`` is a connection.
    objective : {"power", "chargers"}
        ``joint`` mode: maximise total power (kW) or number of chargers.
    progress : bool
        Show a progress bar (tqdm) on stderr when it is a terminal.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OUTPUT_COLUMNS`: ``count`` (chargers),
        ``charger_power_kw`` (kW), ``power_kw`` = count x coincidence x power
        (kW), ``budget_kw`` (the headroom used as budget, kW, null when
        unknown), ``leftover_kw`` (budget minus the power of the row in
        ``single`` mode, of the whole mix otherwise, kW), ``reason`` (null
        when fine; else a code of ``transformer_charger_fit`` or
        ``infeasible_min_count``, ``ancestor_no_headroom``,
        ``ancestor_headroom_unknown``, ``ancestor_limited``). Sorted by grid, transformer, window
        (in the order asked) and charger type (in the order given).

    Raises
    ------
    UnknownTransformerError
        When a transformer id is not in ``dim_transformers``.
    ConfigError
        On an unknown window or grid (the message lists the known ones), an
        empty window list, an unknown mode, basis or objective, a coincidence
        factor outside (0, 1], a budget that is not finite, or options that do
        not apply (``objective="chargers"`` outside ``joint`` too). Repeated
        windows are fitted once, in the order first asked.
    InvalidChargerError
        On bad charger types, proportions or count bounds.
    SchemaError
        When the marts are missing or lack columns.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if basis not in ("firm", "quantile"):
        raise ConfigError(f"unknown basis {basis!r}; choose firm or quantile")
    if objective not in ("power", "chargers"):
        raise ConfigError(f"unknown objective {objective!r}; choose power or chargers")
    if objective != "power" and mode != "joint":
        raise ConfigError(f"objective {objective!r} applies to joint, not {mode}")
    if not (math.isfinite(coincidence) and 0 < coincidence <= 1):
        raise ConfigError(f"coincidence factor must be in (0, 1], got {coincidence}")
    charger_list = _resolve_chargers(chargers)
    proportional = mode in ("count-proportions", "power-proportions")
    shares = _shares(proportions, charger_list) if proportional else None
    if proportions is not None and not proportional:
        raise ConfigError(f"proportions apply to the proportion modes, not {mode}")
    if fill_leftover and not proportional:
        raise ConfigError(f"fill_leftover applies to the proportion modes, not {mode}")
    bounded = mode in ("max-power", "joint")
    if (min_counts or max_counts) and not bounded:
        raise ConfigError(f"min/max counts apply to max-power and joint, not {mode}")
    lo = [n or 0 for n in _count_bounds(min_counts, charger_list, "min count")]
    hi = _count_bounds(max_counts, charger_list, "max count")
    for c, n, h in zip(charger_list, lo, hi, strict=True):
        if h is not None and n > h:
            raise InvalidChargerError(
                f"min count {n} of {c.name} is above its max count {h}"
            )
    exact_draws = [draw_kw(c.power_kw, coincidence) for c in charger_list]
    unit, draws = exact_units(exact_draws)

    selected = [transformers] if isinstance(transformers, str) else transformers
    if selected is not None:
        selected = list(dict.fromkeys(str(t) for t in selected))
    dim, headroom = _read_marts(
        source,
        schema,
        grid_id,
        selected if mode != "joint" and selected is not None else None,
    )
    if grid_id is not None and dim.empty:
        known_grids = _known_grids(source, schema)
        if grid_id not in known_grids:
            raise ConfigError(
                f"unknown grid {grid_id!r}; known grids: "
                f"{', '.join(known_grids) or 'none (build the marts)'}"
            )
    sites = _sites(dim)
    if selected is not None:
        present = {t for _g, t in sites}
        unknown = [t for t in selected if t not in present]
        if unknown:
            where = f" in grid {grid_id}" if grid_id is not None else ""
            raise UnknownTransformerError(
                f"unknown transformer id(s) {', '.join(unknown)}{where}; "
                "see dim_transformers"
            )
        wanted = set(selected)
        keys = sorted(k for k in sites if k[1] in wanted)
    elif mode == "joint":
        has_child = {(k[0], s.upstream) for k, s in sites.items() if s.upstream}
        keys = sorted(k for k in sites if k not in has_child)
    else:
        keys = sorted(sites)
    known_windows = sorted({str(w) for w in headroom["window_name"]})
    if window is None:
        windows = known_windows
    else:
        asked = [window] if isinstance(window, str) else list(window)
        if not asked:
            raise ConfigError(
                "no charging window given; name one or more, or pass None for "
                f"all ({', '.join(known_windows) or 'none built'})"
            )
        windows = list(dict.fromkeys(str(w) for w in asked))
        unknown_windows = [w for w in windows if w not in known_windows]
        if unknown_windows:
            raise ConfigError(
                f"unknown charging window(s) {', '.join(unknown_windows)}; "
                f"available: {', '.join(known_windows) or 'none (build the marts)'}"
            )
    budgets = _budgets(headroom, basis, windows)
    # Untrusted windows count nothing, like a window without data, and say why.
    insufficient = _insufficient(headroom, windows)
    for untrusted in insufficient & budgets.keys():
        budgets[untrusted] = None

    records: list[tuple[Any, ...]] = []
    from tqdm import tqdm

    bar = tqdm(
        total=len(windows) * len(keys),
        unit="transformer",
        desc=f"fit {mode}",
        disable=None if progress else True,
        file=sys.stderr,
    )
    for w in windows:
        if mode == "joint":
            joint = _fit_joint(
                keys,
                sites,
                budgets,
                w,
                charger_list,
                draws,
                unit,
                coincidence,
                lo,
                hi,
                objective,
            )
        for key in keys:
            bar.update()
            site = sites[key]
            b = budgets.get((key[0], key[1], w)) if site.rated else None
            if mode == "joint":
                result = joint[key]
            else:
                result = _fit_site(
                    mode,
                    b,
                    site,
                    charger_list,
                    draws,
                    unit,
                    coincidence,
                    shares,
                    lo,
                    hi,
                    fill_leftover,
                )
            if (key[0], key[1], w) in insufficient:
                result = _Fit(
                    result.counts,
                    [
                        "insufficient_data_in_window" if r == "no_data_in_window" else r
                        for r in result.reasons
                    ],
                )
            power = [
                n * coincidence * c.power_kw
                for n, c in zip(result.counts, charger_list, strict=True)
            ]
            # Leftover in exact decimals: a mix using the whole budget leaves 0.
            used = [n * d for n, d in zip(result.counts, draws, strict=True)]
            total = sum(used)
            ratio = None if b is None else _decimal_ratio(b)
            for i, c in enumerate(charger_list):
                left = None
                if ratio is not None:
                    units = used[i] if mode == "single" else total
                    # B - units * unit = (bn ud - units un bd) / (bd ud), rounded once
                    left = (
                        ratio[0] * unit.denominator - units * unit.numerator * ratio[1]
                    ) / (ratio[1] * unit.denominator)
                records.append(
                    (
                        key[0],
                        key[1],
                        w,
                        mode,
                        c.name,
                        result.counts[i],
                        c.power_kw,
                        power[i],
                        b,
                        left,
                        result.reasons[i],
                    )
                )
    bar.close()
    window_rank = {w: i for i, w in enumerate(windows)}
    frame = pd.DataFrame.from_records(records, columns=list(OUTPUT_COLUMNS))
    if not frame.empty:
        frame["_w"] = frame["window_name"].map(window_rank)
        frame = frame.sort_values(
            ["grid_id", "transformer_id", "_w"], kind="stable"
        ).drop(columns="_w")
    frame = frame.reset_index(drop=True)
    frame["count"] = frame["count"].astype("int64")
    for column in ("charger_power_kw", "power_kw", "budget_kw", "leftover_kw"):
        frame[column] = frame[column].astype("float64")
    frame["reason"] = frame["reason"].astype(object)
    frame.loc[frame["reason"].isna(), "reason"] = None
    return frame
