"""What every chart module shares: sizes, labels, the no-data chart, saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import altair as alt
import pandas as pd

from evcap.errors import ConfigError

Stat = Literal["min", "mean", "both"]
_MONTH_LABELS = (
    "['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec']"
    "[datum.value - 1]"
)
_MONTH_NAMES = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
WIDTH = 640
#: dim_transformers.voltage_level of substation transformers: left out of the
#: rankings and map colours by default (their capacity dwarfs the rest).
SUBSTATION_LEVELS = ("HV/MV",)
#: Short labels of transformer_charger_fit.reason for chart cells.
_REASON_SHORT = {
    "missing_rating": "no rating",
    "no_data_in_window": "no data",
    "not_a_distribution_transformer": "subst.",
    "secondary_voltage_unreadable": "V?",
    "secondary_not_low_voltage": "MV",
    "voltage_above_secondary": "voltage",
    "phases_unreadable": "phases?",
    "needs_three_phase": "3-phase",
    "no_headroom": "no room",
    "headroom_below_one_charger": "< 1",
}
HEIGHT = 260
#: Modes :func:`mix_chart` draws: those of :data:`evcap.mix.MODES` whose rows
#: of one transformer and window form one mix. In ``single`` mode each row is
#: an alternative (that type alone), so summing them is meaningless: draw
#: those with :func:`charger_fit_chart` (``evcap plot fit``).
MIX_CHART_MODES: tuple[str, ...] = (
    "count-proportions",
    "power-proportions",
    "max-power",
    "joint",
)

# --- small helpers -----------------------------------------------------------


def _top(obj: Any) -> alt.TopLevelMixin:
    """Type the (untyped) Altair object as a top-level chart."""
    chart: alt.TopLevelMixin = obj
    return chart


def no_data_chart(
    message: str, title: str = "", *, width: int = WIDTH
) -> alt.TopLevelMixin:
    """A chart that only says ``message`` (for empty inputs).

    Parameters
    ----------
    message : str
        What is missing, e.g. "no readings for T1 in 2024-06".
    title : str
        Title of the chart it stands in for.
    width : int
        Width in pixels.
    """
    frame = pd.DataFrame({"message": [message]})
    return _top(
        alt.Chart(frame)
        .mark_text(size=15, color="#555555", fontStyle="italic")
        .encode(
            text="message:N",
            x=alt.value(width / 2),
            y=alt.value(45),
        )
        .properties(title=title or "No data", width=width, height=90)
    )


def _is_empty(frame: pd.DataFrame | None, *columns: str) -> bool:
    if frame is None or frame.empty:
        return True
    return any(c in frame.columns and frame[c].isna().all() for c in columns)


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``frame`` with a ``transformer`` label column.

    The label is the transformer id, prefixed by the grid id when the frame
    holds several grids (ids are unique only within a grid).
    """
    out = frame.copy()
    ids = out["transformer_id"].astype(str)
    if "grid_id" in out.columns and out["grid_id"].nunique(dropna=True) > 1:
        out["transformer"] = out["grid_id"].astype(str) + " / " + ids
    else:
        out["transformer"] = ids
    return out


def _transformer_title(frame: pd.DataFrame) -> str:
    labels = sorted(frame["transformer"].unique())
    if len(labels) <= 3:
        return ", ".join(labels)
    return f"{len(labels)} transformers"


def save_chart(
    chart: alt.TopLevelMixin, out: str | Path, *, scale: float = 2.0
) -> Path:
    """Write ``chart`` to ``out``: ``.html`` (JavaScript inlined, opens offline),
    ``.png`` or ``.svg`` (rendered by vl-convert), or ``.json`` (the spec).

    Raises
    ------
    ConfigError
        For another file extension.
    """
    path = Path(out)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        path.write_text(chart.to_html(inline=True), encoding="utf-8")
    elif suffix == ".png":
        import vl_convert

        path.write_bytes(vl_convert.vegalite_to_png(chart.to_dict(), scale=scale))
    elif suffix == ".svg":
        import vl_convert

        path.write_text(vl_convert.vegalite_to_svg(chart.to_dict()), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(chart.to_json(), encoding="utf-8")
    else:
        raise ConfigError(
            f"cannot write a chart to {path.name!r}: use .html, .png, .svg or .json"
        )
    return path


# --- defaults --------------------------------------------------------------------


def default_window(window_headroom: pd.DataFrame) -> str:
    """The window covering the most intervals (the "all time" window)."""
    if "intervals_in_window" in window_headroom.columns:
        totals = (
            window_headroom.groupby("window_name")["intervals_in_window"]
            .sum()
            .sort_values(ascending=False, kind="stable")
        )
        if not totals.empty:
            return str(totals.index[0])
    return _first_window(window_headroom)


def _first_window(frame: pd.DataFrame) -> str:
    names = [str(n) for n in dict.fromkeys(frame["window_name"])]
    for name in names:
        if name.replace("_", " ").startswith("all"):
            return name
    return names[0]


def default_charger_type(fit: pd.DataFrame) -> str:
    """The charger type with the lowest power (the one most of fit)."""
    if "charger_power_kw" in fit.columns:
        ordered = fit.sort_values(["charger_power_kw", "charger_type"])
        return str(ordered["charger_type"].iloc[0])
    return str(sorted(fit["charger_type"].astype(str))[0])


MONTH_NAMES = _MONTH_NAMES
