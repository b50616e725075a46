"""Charger types: the seed ``charger_types.csv`` or a user's CSV / DataFrame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
)
from evcap.mix.options import CHARGER_COLUMNS
from evcap.mix.values import _float_or_none, _is_blank


@dataclass(frozen=True)
class ChargerType:
    """One charger type.

    Attributes
    ----------
    name : str
        Unique name (``charger_type``).
    power_kw : float
        Rated power, kW (> 0).
    voltage_v : float or None
        Supply voltage it needs, V (None: no voltage check).
    phases_required : int
        1, 2 or 3 phases.
    """

    name: str
    power_kw: float
    voltage_v: float | None
    phases_required: int


def default_charger_types_path() -> Path:
    """Path of the dbt seed ``seeds/charger_types.csv`` of the project."""
    from evcap.db import project_dir

    return project_dir() / "seeds" / "charger_types.csv"


def load_charger_types(
    source: pd.DataFrame | str | Path | None = None,
    *,
    names: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read and validate charger types.

    Parameters
    ----------
    source : DataFrame, str or Path, optional
        A frame or CSV file with columns ``charger_type``, ``power_kw`` (kW),
        ``voltage_v`` (V), ``phases_required`` (and optionally
        ``description``). Default: the dbt seed ``seeds/charger_types.csv``.
    names : iterable of str, optional
        Keep only these types, in this order.

    Returns
    -------
    pandas.DataFrame
        Columns ``charger_type, power_kw, voltage_v, phases_required``.

    Raises
    ------
    ConfigError
        When the CSV file cannot be read.
    InvalidChargerError
        On a missing column, a duplicate or unknown name, a power <= 0 or
        not finite, or phases other than 1-3.
    """
    if source is None:
        source = default_charger_types_path()
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                f"charger types file {path} not found; pass a CSV with columns "
                f"{', '.join(CHARGER_COLUMNS)}"
            )
        try:
            frame = pd.read_csv(path, dtype={"charger_type": str})
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read charger types from {path}: {exc}") from exc
    missing = [c for c in ("charger_type", "power_kw") if c not in frame.columns]
    if missing:
        raise InvalidChargerError(
            f"charger types lack column(s) {', '.join(missing)}; expected "
            f"{', '.join(CHARGER_COLUMNS)}"
        )
    if "voltage_v" not in frame.columns:
        frame["voltage_v"] = np.nan
    if "phases_required" not in frame.columns:
        frame["phases_required"] = 1
    frame = frame[list(CHARGER_COLUMNS)].reset_index(drop=True)
    names_raw = frame["charger_type"]
    if names_raw.isna().any() or (names_raw.astype(str).str.strip() == "").any():
        rows = [
            str(i + 1)
            for i, v in enumerate(names_raw.tolist())
            if _is_blank(v) or not str(v).strip()
        ]
        raise InvalidChargerError(
            f"a charger type has an empty charger_type name (row(s) {', '.join(rows)})"
        )
    frame["charger_type"] = names_raw.astype(str).str.strip()
    duplicated = frame["charger_type"][frame["charger_type"].duplicated()]
    if not duplicated.empty:
        raise InvalidChargerError(
            f"duplicate charger type(s): {', '.join(sorted(set(duplicated)))}"
        )
    power = pd.to_numeric(frame["power_kw"], errors="coerce")
    bad = frame["charger_type"][~(np.isfinite(power) & (power > 0))]
    if not bad.empty:
        raise InvalidChargerError(
            f"charger power must be a number > 0 kW: {', '.join(bad)}"
        )
    frame["power_kw"] = power.astype(float)
    volts = pd.to_numeric(frame["voltage_v"], errors="coerce")
    blank = frame["voltage_v"].map(lambda v: _is_blank(v) or not str(v).strip())
    bad = frame["charger_type"][~blank & ~(np.isfinite(volts) & (volts > 0))]
    if not bad.empty:
        raise InvalidChargerError(
            "voltage_v must be empty (no voltage check) or a number > 0 V: "
            + ", ".join(
                f"{name} ({value!r})"
                for name, value in zip(
                    bad, frame["voltage_v"][bad.index].tolist(), strict=True
                )
            )
        )
    frame["voltage_v"] = volts.where(~blank).astype(float)
    phases = pd.to_numeric(frame["phases_required"], errors="coerce")
    bad = frame["charger_type"][~phases.isin([1, 2, 3])]
    if not bad.empty:
        raise InvalidChargerError(
            f"phases_required must be 1, 2 or 3: {', '.join(bad)}"
        )
    frame["phases_required"] = phases.astype(int)
    if names is not None:
        wanted = [str(n) for n in names]
        known = set(frame["charger_type"])
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise InvalidChargerError(
                f"unknown charger type(s) {', '.join(unknown)}; known: "
                f"{', '.join(frame['charger_type'])}"
            )
        if len(set(wanted)) != len(wanted):
            raise InvalidChargerError("a charger type is selected twice")
        if not wanted:
            raise InvalidChargerError("no charger type selected")
        frame = frame.set_index("charger_type").loc[wanted].reset_index()
    if frame.empty:
        raise InvalidChargerError("no charger types given")
    return frame


def _charger_list(frame: pd.DataFrame) -> list[ChargerType]:
    return [
        ChargerType(str(name), float(power), _float_or_none(volts), int(phases))
        for name, power, volts, phases in zip(
            frame["charger_type"].tolist(),
            frame["power_kw"].tolist(),
            frame["voltage_v"].tolist(),
            frame["phases_required"].tolist(),
            strict=True,
        )
    ]


def _resolve_chargers(
    chargers: pd.DataFrame | str | Path | Sequence[str] | None,
) -> list[ChargerType]:
    if chargers is None or isinstance(chargers, pd.DataFrame | Path):
        return _charger_list(load_charger_types(chargers))
    if isinstance(chargers, str):
        if chargers.lower().endswith(".csv") or Path(chargers).is_file():
            return _charger_list(load_charger_types(chargers))
        return _charger_list(load_charger_types(names=[chargers]))
    return _charger_list(load_charger_types(names=list(chargers)))
