"""Names shared by the mix modules: modes, bases, objectives, column lists."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["single", "count-proportions", "power-proportions", "max-power", "joint"]
Basis = Literal["firm", "quantile"]
Objective = Literal["power", "chargers"]
MODES: tuple[str, ...] = get_args(Mode)

OUTPUT_COLUMNS = (
    "grid_id",
    "transformer_id",
    "window_name",
    "mode",
    "charger_type",
    "count",
    "charger_power_kw",
    "power_kw",
    "budget_kw",
    "leftover_kw",
    "reason",
)
"""Columns of :func:`fit`'s result and of table ``transformer_charger_mix``."""

CHARGER_COLUMNS = ("charger_type", "power_kw", "voltage_v", "phases_required")
DIM_COLUMNS = (
    "grid_id",
    "transformer_id",
    "rating_kva",
    "secondary_voltage_v",
    "phases",
    "upstream_transformer_id",
)
HEADROOM_COLUMNS = ("grid_id", "transformer_id", "window_name", "firm_headroom_kw")

MAX_LOW_VOLTAGE_V = 1000.0
"""Chargers connect at low voltage: a transformer whose secondary is above this
(V) fits none (reason ``secondary_not_low_voltage``). Mirrors the dbt var
``max_low_voltage_v`` (default 1000 V, the IEC low-voltage limit)."""
