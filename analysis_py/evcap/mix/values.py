"""Reading loose cell values (None, NaN, pandas NA, numpy scalars) the same way everywhere."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _phase_count(phases: object) -> int | None:
    """Fallback for hand-built frames without ``phase_count``: letters A-C."""
    if phases is None or (isinstance(phases, float) and math.isnan(phases)):
        return None
    text = str(phases).upper()
    return sum(1 for p in "ABC" if p in text) or None


def _int_or_none(value: object) -> int | None:
    number = _float_or_none(value)
    return None if number is None else int(number)


def _bool_or_none(value: object) -> bool | None:
    if value is None or _is_missing(value):
        return None
    return bool(value)


def _float_or_none(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_blank(value: object) -> bool:
    """None, NaN (any float type) or pandas' NA / NaT."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value
