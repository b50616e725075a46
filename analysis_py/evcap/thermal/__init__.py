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

Modules: :mod:`~evcap.thermal.model` (the IEC 60076-7 model and design
day), :mod:`~evcap.thermal.limits`, :mod:`~evcap.thermal.inputs`,
:mod:`~evcap.thermal.search`, :mod:`~evcap.thermal.counts` (the fit as
tables), :mod:`~evcap.thermal.store` (writing), :mod:`~evcap.thermal.ambient`
(normals from an EDM weather source), :mod:`~evcap.thermal.plots` and
:mod:`~evcap.thermal.cli` (``evcap thermal``).
"""

from evcap.thermal.ambient import ambient_from_edm, project_var, with_ambient
from evcap.thermal.counts import (
    add_thermal_columns,
    binding_day_curves,
    design_day_curves,
    thermal_fit,
    thermal_months,
)
from evcap.thermal.inputs import ThermalInputs, build_inputs, load_inputs, window_masks
from evcap.thermal.limits import (
    COMPAT_REASONS,
    CRITERIA,
    MONTHS,
    THERMAL_FIT_COLUMNS,
    THERMAL_MONTH_COLUMNS,
    ThermalLimits,
)
from evcap.thermal.model import (
    HOURS,
    IEC_ONAN_DISTRIBUTION,
    INSULATIONS,
    PARAMETER_COLUMNS,
    DesignDayResult,
    ThermalParameters,
    ageing_rate,
    design_day,
    parameters_for,
    parameters_from_mapping,
    steady_state,
)
from evcap.thermal.search import (
    thermal_counts,
    thermal_counts_in_blocks,
    thermal_headroom,
)
from evcap.thermal.store import write_thermal_fit, write_thermal_months

__all__ = [
    "COMPAT_REASONS",
    "CRITERIA",
    "HOURS",
    "IEC_ONAN_DISTRIBUTION",
    "INSULATIONS",
    "MONTHS",
    "PARAMETER_COLUMNS",
    "THERMAL_FIT_COLUMNS",
    "THERMAL_MONTH_COLUMNS",
    "DesignDayResult",
    "ThermalInputs",
    "ThermalLimits",
    "ThermalParameters",
    "add_thermal_columns",
    "ageing_rate",
    "ambient_from_edm",
    "binding_day_curves",
    "build_inputs",
    "design_day",
    "design_day_curves",
    "load_inputs",
    "parameters_for",
    "parameters_from_mapping",
    "project_var",
    "steady_state",
    "thermal_counts",
    "thermal_counts_in_blocks",
    "thermal_fit",
    "thermal_headroom",
    "thermal_months",
    "window_masks",
    "with_ambient",
    "write_thermal_fit",
    "write_thermal_months",
]
