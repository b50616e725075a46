""":func:`make_plot`, one entry point for the CLI, and the default window and
charger type it picks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, get_args

import altair as alt
import pandas as pd
import psycopg

from evcap.errors import ConfigError
from evcap.marts.checks import check_known_name, check_transformers
from evcap.marts.series import (
    Bin,
    By,
    query_headroom_quantiles,
    query_headroom_series,
    query_load_with_chargers,
)
from evcap.plots.common import (
    MIX_CHART_MODES,
    Stat,
    default_charger_type,
    default_window,
    no_data_chart,
)
from evcap.plots.fits import charger_fit_chart, load_with_chargers_chart, mix_chart
from evcap.plots.headroom import (
    headroom_boxplot_chart,
    headroom_heatmap_chart,
    headroom_over_time_chart,
)
from evcap.plots.network import grid_overview_chart, transformer_map_chart

PlotKind = Literal[
    "headroom",
    "monthly",
    "hourly",
    "heatmap",
    "fit",
    "mix",
    "with-chargers",
    "overview",
    "map",
    "thermal",  # issue #13
]
PLOT_KINDS: tuple[str, ...] = get_args(PlotKind)
"""The chart kinds of :func:`make_plot` (and of ``evcap plot``)."""


def _pick_window(frame: pd.DataFrame, window: str | None) -> str | None:
    """``window`` when given; else "nightly" when present, else the widest."""
    if window is not None:
        return window
    if frame.empty:
        return None
    names = set(frame["window_name"].astype(str))
    return "nightly" if "nightly" in names else default_window(frame)


def make_plot(
    conn: psycopg.Connection,
    kind: PlotKind,
    *,
    transformers: Sequence[str] | None = None,
    grid_id: str | None = None,
    window: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bin: Bin | Literal["auto"] = "auto",
    stat: Stat = "both",
    charger_type: str | None = None,
    mode: str = "max-power",
    schema: str = "evcap",
) -> alt.TopLevelMixin:
    """Read what chart ``kind`` needs from the database and draw it.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database holding the marts.
    kind : str
        headroom, monthly, hourly, heatmap, fit, mix, with-chargers, overview
        or map (see the ``*_chart`` functions).
    transformers : sequence of str, optional
        Transformer ids (all of ``grid_id`` when None).
    grid_id, start, end, bin, stat, schema
        As in :func:`query_headroom_series` / :func:`headroom_over_time_chart`.
    window : str, optional
        Charging window: overview, map and with-chargers default to
        "nightly" (when present), fit and mix to every window.
    charger_type : str, optional
        Map and with-chargers: the charger type (default the lowest power).
    mode : str
        Mix: the :func:`evcap.mix.fit` mode; proportion modes use equal
        shares of the seed charger types.

    Raises
    ------
    ConfigError
        For an unknown kind, window (not in ``transformer_window_headroom``),
        charger type (not in ``transformer_charger_fit``), bin, or a mix mode
        not in :data:`MIX_CHART_MODES` (``single``: use kind fit).
    UnknownTransformerError
        When a transformer id is not in ``dim_transformers``.
    SchemaError
        When the marts are missing.
    """
    from evcap.marts import read_mart

    check_transformers(conn, transformers=transformers, grid_id=grid_id, schema=schema)
    ids = list(transformers) if transformers is not None else None
    if kind == "mix" and mode not in MIX_CHART_MODES:
        hint = " (its rows are alternatives: use kind fit)" if mode == "single" else ""
        raise ConfigError(
            f"mix mode {mode!r} cannot be drawn as a mix{hint}; choose one of "
            f"{', '.join(MIX_CHART_MODES)}"
        )
    if window is not None and kind in (
        "fit",
        "overview",
        "map",
        "with-chargers",
        "thermal",
    ):
        check_known_name(
            conn,
            name=window,
            mart="transformer_window_headroom",
            column="window_name",
            schema=schema,
        )
    if charger_type is not None and kind in ("map", "with-chargers", "thermal"):
        check_known_name(
            conn,
            name=charger_type,
            mart="transformer_charger_fit",
            column="charger_type",
            schema=schema,
        )
    if kind == "headroom":
        series = query_headroom_series(
            conn,
            transformers=ids,
            grid_id=grid_id,
            start=start,
            end=end,
            bin=bin,
            schema=schema,
        )
        return headroom_over_time_chart(series, stat=stat)
    if kind in ("monthly", "hourly"):
        by: By = "month" if kind == "monthly" else "hour"
        quantiles = query_headroom_quantiles(
            conn,
            transformers=ids,
            by=by,
            grid_id=grid_id,
            start=start,
            end=end,
            schema=schema,
        )
        return headroom_boxplot_chart(quantiles)
    if kind == "heatmap":
        profile = read_mart(
            conn,
            "transformer_headroom_profile",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
        return headroom_heatmap_chart(profile)
    if kind == "fit":
        fit = read_mart(
            conn,
            "transformer_charger_fit",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
        if window is not None:
            fit = fit[fit["window_name"] == window]
        return charger_fit_chart(fit)
    if kind == "mix":
        try:
            from evcap.mix import fit as mix_fit
            from evcap.mix import load_charger_types
        except ImportError as exc:
            raise ConfigError(
                f"the mix layer (evcap.mix) is not available: {exc}"
            ) from exc

        extra: dict[str, Any] = {}
        if "proportions" in mode:
            chargers = load_charger_types()
            extra["proportions"] = [100.0 / len(chargers)] * len(chargers)
        mixes = mix_fit(
            conn,
            transformers=ids,
            window=window,
            mode=mode,  # type: ignore[arg-type]
            grid_id=grid_id,
            schema=schema,
            **extra,
        )
        return mix_chart(mixes)
    if kind == "thermal":  # issue #13
        from evcap.thermal.plots import thermal_chart

        return thermal_chart(
            conn,
            transformers=ids,
            grid_id=grid_id,
            window=window,
            charger_type=charger_type,
            schema=schema,
        )
    if kind in ("overview", "map", "with-chargers"):
        heads = read_mart(
            conn,
            "transformer_window_headroom",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
        chosen = _pick_window(heads, window)
        if kind == "overview":
            dim = read_mart(
                conn,
                "dim_transformers",
                schema=schema,
                transformers=ids,
                grid_id=grid_id,
            )
            return grid_overview_chart(heads, transformers=dim, window_name=chosen)
        fit = read_mart(
            conn,
            "transformer_charger_fit",
            schema=schema,
            transformers=ids,
            grid_id=grid_id,
        )
        if kind == "map":
            dim = read_mart(
                conn,
                "dim_transformers",
                schema=schema,
                transformers=ids,
                grid_id=grid_id,
            )
            return transformer_map_chart(
                dim, fit=fit, window_name=chosen, charger_type=charger_type
            )
        title = "Peak load with the chargers added"
        fit = fit[fit["window_name"] == chosen]
        if fit.empty or chosen is None:
            return no_data_chart(f"no charger fits in window {chosen}", title)
        ctype = charger_type or default_charger_type(fit)
        fit = fit[fit["charger_type"] == ctype]
        coincidence = (
            pd.to_numeric(fit["coincidence_factor"]).fillna(1.0)
            if "coincidence_factor" in fit.columns
            else 1.0
        )
        added = fit.assign(
            added_kw=pd.to_numeric(fit["max_chargers"]).fillna(0)
            * pd.to_numeric(fit["charger_power_kw"])
            * coincidence
        )
        added = added[added["added_kw"] > 0][["grid_id", "transformer_id", "added_kw"]]
        if added.empty:
            return no_data_chart(f"no {ctype} chargers fit in window {chosen}", title)
        series = query_load_with_chargers(
            conn,
            added_kw=added,
            window_name=chosen,
            start=start,
            end=end,
            bin=bin,
            schema=schema,
        )
        return load_with_chargers_chart(
            series, title=f"Peak load with the {ctype} chargers that fit added"
        )
    raise ConfigError(f"unknown plot kind {kind!r}")
