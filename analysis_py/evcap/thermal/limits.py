"""What a thermal count is checked against: the limits, criteria, blocking
reasons, search settings and the output columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from evcap.errors import ConfigError

MONTHS = 12
CRITERIA = ("hot_spot", "top_oil", "ageing", "load_pu")
"""Limits a count is checked against, in the order ties are reported."""
COMPAT_REASONS = (
    "not_a_distribution_transformer",
    "secondary_voltage_unreadable",
    "secondary_not_low_voltage",
    "voltage_above_secondary",
    "phases_unreadable",
    "needs_three_phase",
    "insufficient_data_in_window",
)
"""Nameplate-fit reasons that block a charger type whatever its temperature:
the transformer is not a distribution transformer, a nameplate value that
decides compatibility is unreadable, the charger does not fit its secondary,
or the window has too little data to trust any count."""
SEARCH_LIMIT_PU = 4.0
"""The kW search stops at this many times the capacity (reason
``search_limit`` when the limits still hold there)."""
COARSE_STEP_MINUTES = 5
"""Sampling step of the first bisection pass (the final pass uses 1 minute)."""
TRANSFORMERS_PER_BLOCK = 1000
"""Transformers searched together by :func:`thermal_fit`."""
EVALUATION_ROWS = 1 << 16
"""Design days run per block (bounds the memory of large grids)."""
SEARCH_TOLERANCE_PU = 1e-4
"""Bisection stops when the bracket on the added kW is this share of capacity."""

THERMAL_FIT_COLUMNS = (
    "grid_id",
    "transformer_id",
    "window_name",
    "charger_type",
    "charger_power_kw",
    "coincidence_factor",
    "max_chargers",
    "thermal_max_chargers",
    "thermal_max_kw",
    "binding_criterion",
    "binding_month",
    "binding_hour_local",
    "binding_value",
    "peak_hot_spot_c",
    "peak_top_oil_c",
    "ageing_per_day",
    "baseline_peak_hot_spot_c",
    "baseline_within_limits",
    "hot_spot_limit_c",
    "top_oil_limit_c",
    "ageing_limit",
    "load_limit_pu",
)
"""Columns of :func:`thermal_fit` and of table ``transformer_thermal_fit``."""

THERMAL_MONTH_COLUMNS = (
    "grid_id",
    "transformer_id",
    "local_month",
    "peak_load_pu",
    "peak_top_oil_c",
    "peak_top_oil_hour_local",
    "peak_hot_spot_c",
    "peak_hot_spot_hour_local",
    "ageing_per_day",
    "ageing_per_day_upgraded_paper",
)
"""Columns of :func:`thermal_months` and table ``transformer_thermal_month``."""


@dataclass(frozen=True)
class ThermalLimits:
    """Loading limits (IEC 60076-7 normal cyclic loading by default).

    Attributes
    ----------
    hot_spot_c : float
        Highest hot-spot temperature, degC (dbt var ``thermal_hot_spot_limit_c``).
    top_oil_c : float
        Highest top-oil temperature, degC (``thermal_top_oil_limit_c``).
    ageing_per_day : float
        Highest relative ageing per design day (``thermal_ageing_limit``).
    load_pu : float
        Highest load, per unit of the rating (``thermal_max_load_pu``).
    """

    hot_spot_c: float = 120.0
    top_oil_c: float = 105.0
    ageing_per_day: float = 1.0
    load_pu: float = 1.5

    def __post_init__(self) -> None:
        for name in ("hot_spot_c", "top_oil_c", "ageing_per_day", "load_pu"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ConfigError(f"thermal limit {name} must be a finite number")
        if self.ageing_per_day <= 0 or self.load_pu <= 0:
            raise ConfigError("thermal ageing and load limits must be > 0")

    @classmethod
    def from_project(
        cls, overrides: Mapping[str, float] | None = None
    ) -> ThermalLimits:
        """Limits from the dbt vars in ``dbt_project.yml``, then ``overrides``.

        Raises
        ------
        ConfigError
            When a var is not a number.
        """
        import yaml

        from evcap.db import project_dir

        names = {
            "thermal_hot_spot_limit_c": "hot_spot_c",
            "thermal_top_oil_limit_c": "top_oil_c",
            "thermal_ageing_limit": "ageing_per_day",
            "thermal_max_load_pu": "load_pu",
        }
        values: dict[str, float] = {}
        path = project_dir() / "dbt_project.yml"
        if path.is_file():
            project_vars = (yaml.safe_load(path.read_text()) or {}).get("vars") or {}
            for var, field in names.items():
                if project_vars.get(var) is not None:
                    try:
                        values[field] = float(project_vars[var])
                    except (TypeError, ValueError) as exc:
                        raise ConfigError(f"dbt var {var} must be a number") from exc
        values.update({k: float(v) for k, v in (overrides or {}).items()})
        return cls(**values)
