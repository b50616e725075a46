"""Altair charts of headroom, charger fits and mixes, fed from the marts.

``*_chart`` functions take small DataFrames with the mart column names (or
those of the ``query_*`` reads in :mod:`evcap.marts`) and return an Altair
chart, usable in Jupyter, :func:`save_chart` or the HTML report. Every one
returns a readable "no data" chart (a text mark saying why) for an empty
input instead of raising. Power is in kW, transformer ratings in kVA, times
are the grid's local time (``interval_local``).

Modules: :mod:`~evcap.plots.headroom` (headroom over time, by month or hour,
heat map), :mod:`~evcap.plots.fits` (charger counts, mixes, load with
chargers), :mod:`~evcap.plots.network` (grid overview, map),
:mod:`~evcap.plots.make` (:func:`make_plot`, the CLI's entry point).
"""

from evcap.plots.common import (
    HEIGHT,
    MIX_CHART_MODES,
    MONTH_NAMES,
    SUBSTATION_LEVELS,
    WIDTH,
    Stat,
    default_charger_type,
    default_window,
    no_data_chart,
    save_chart,
)
from evcap.plots.fits import charger_fit_chart, load_with_chargers_chart, mix_chart
from evcap.plots.headroom import (
    headroom_boxplot_chart,
    headroom_heatmap_chart,
    headroom_over_time_chart,
)
from evcap.plots.make import PLOT_KINDS, PlotKind, make_plot
from evcap.plots.network import grid_overview_chart, transformer_map_chart

__all__ = [
    "HEIGHT",
    "MIX_CHART_MODES",
    "MONTH_NAMES",
    "PLOT_KINDS",
    "SUBSTATION_LEVELS",
    "WIDTH",
    "PlotKind",
    "Stat",
    "charger_fit_chart",
    "default_charger_type",
    "default_window",
    "grid_overview_chart",
    "headroom_boxplot_chart",
    "headroom_heatmap_chart",
    "headroom_over_time_chart",
    "load_with_chargers_chart",
    "make_plot",
    "mix_chart",
    "no_data_chart",
    "save_chart",
    "transformer_map_chart",
]
