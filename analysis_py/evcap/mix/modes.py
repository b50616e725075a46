"""One transformer's mix in the single, proportion and max-power modes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
)
from evcap.mix.chargers import ChargerType
from evcap.mix.exact import _capacity, _check_finite_budget, _decimal_ratio
from evcap.mix.options import MAX_LOW_VOLTAGE_V
from evcap.mix.sites import _Site
from evcap.mix.solver import solve_count_proportions, solve_max_power


def _compat_reason(site: _Site, charger: ChargerType) -> str | None:
    """Why ``site`` cannot supply ``charger`` at all (SQL mart order), or None."""
    if site.is_distribution is False:
        return "not_a_distribution_transformer"
    if site.secondary_voltage_v is None:
        return "secondary_voltage_unreadable"
    if site.secondary_voltage_v > MAX_LOW_VOLTAGE_V:
        return "secondary_not_low_voltage"
    if charger.voltage_v is not None and charger.voltage_v > site.secondary_voltage_v:
        return "voltage_above_secondary"
    if site.phase_count is None and charger.phases_required > 1:
        return "phases_unreadable"
    if site.phase_count is not None and site.phase_count < charger.phases_required:
        return "needs_three_phase"
    return None


def _shares(
    proportions: Sequence[float] | Mapping[str, float] | None,
    chargers: Sequence[ChargerType],
) -> list[Fraction]:
    if proportions is None:
        raise InvalidChargerError(
            "this mode needs proportions (percent per charger type, summing to 100)"
        )
    names = [c.name for c in chargers]
    if isinstance(proportions, Mapping):
        unknown = [str(k) for k in proportions if k not in names]
        if unknown:
            raise InvalidChargerError(
                f"proportions name unknown charger type(s): {', '.join(unknown)}"
            )
        values = [proportions.get(n, 0.0) for n in names]
    else:
        values = list(proportions)
        if len(values) != len(names):
            raise InvalidChargerError(
                f"{len(values)} proportions for {len(names)} charger types "
                f"({', '.join(names)}); give one per type"
            )
    numbers: list[float] = []
    for v in values:
        try:
            number = float(v)
        except (TypeError, ValueError) as exc:
            raise InvalidChargerError(f"proportion {v!r} is not a number") from exc
        if not math.isfinite(number) or number < 0:
            raise InvalidChargerError(
                f"proportions must be finite and >= 0 percent, got {v!r}"
            )
        numbers.append(number)
    total = sum(numbers)
    if abs(total - 100.0) > 1e-6:
        raise InvalidChargerError(f"proportions sum to {total:g} %, not 100 %")
    exact = [Fraction(repr(n)) for n in numbers]
    exact_total = sum(exact)
    return [e / exact_total for e in exact]


def _count_bounds(
    values: Mapping[str, int] | None, chargers: Sequence[ChargerType], what: str
) -> list[int | None]:
    names = [c.name for c in chargers]
    if values is None:
        return [None] * len(names)
    unknown = [str(k) for k in values if k not in names]
    if unknown:
        raise InvalidChargerError(
            f"{what} names unknown charger type(s): {', '.join(unknown)}"
        )
    result: list[int | None] = []
    for name in names:
        value = values.get(name)
        if value is None:
            result.append(None)
            continue
        message = f"{what} for {name} must be an integer >= 0, got {value!r}"
        if isinstance(value, bool):
            raise InvalidChargerError(message)
        try:
            number = int(value)
            exact = number == value
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidChargerError(message) from exc
        if not exact or number < 0:
            raise InvalidChargerError(message)
        result.append(number)
    return result


@dataclass
class _Fit:
    counts: list[int]
    reasons: list[str | None]


def _fit_site(
    mode: str,
    budget_kw: float | None,
    site: _Site,
    chargers: Sequence[ChargerType],
    draws: Sequence[int],
    unit: Fraction,
    coincidence: float,
    shares: Sequence[Fraction] | None,
    lo: Sequence[int],
    hi: Sequence[int | None],
    fill: bool,
) -> _Fit:
    k = len(chargers)
    compat = [_compat_reason(site, c) for c in chargers]
    if not site.rated:
        return _Fit([0] * k, ["missing_rating"] * k)
    if budget_kw is None:
        return _Fit([0] * k, ["no_data_in_window"] * k)
    base: list[str | None] = [
        r if r is not None else ("no_headroom" if budget_kw <= 0 else None)
        for r in compat
    ]
    ok = [r is None for r in base]
    _check_finite_budget(budget_kw)
    bn, bd = _decimal_ratio(budget_kw)
    # floor(B / d_i + 1e-9) for each type, in integers (= single_count)
    singles = [
        max(0, _capacity(bn, bd, unit, draws[i]) // draws[i]) if ok[i] else 0
        for i in range(k)
    ]
    below_one = [ok[i] and singles[i] < 1 for i in range(k)]
    if mode == "single":
        counts = singles
        reasons = [
            base[i] or ("headroom_below_one_charger" if counts[i] < 1 else None)
            for i in range(k)
        ]
        return _Fit(counts, reasons)
    if budget_kw <= 0:
        return _Fit([0] * k, base)
    capacity = _capacity(
        bn, bd, unit, max((draws[i] for i in range(k) if ok[i]), default=1)
    )
    counts = [0] * k
    if mode == "max-power":
        if any(lo[i] > 0 and not ok[i] for i in range(k)):
            result = None
        else:
            idx = [i for i in range(k) if ok[i]]
            result_ok = solve_max_power(
                [draws[i] for i in idx],
                capacity,
                [lo[i] for i in idx],
                [hi[i] for i in idx],
            )
            result = None
            if result_ok is not None:
                result = [0] * k
                for i, n in zip(idx, result_ok, strict=True):
                    result[i] = n
        if result is None:
            reasons = [base[i] or "infeasible_min_count" for i in range(k)]
            return _Fit([0] * k, reasons)
        counts = result
    elif mode in ("count-proportions", "power-proportions"):
        assert shares is not None
        idx = [i for i in range(k) if ok[i] and shares[i] > 0]
        if idx and mode == "count-proportions":
            scale = sum(shares[i] for i in idx)
            sub = solve_count_proportions(
                [draws[i] for i in idx], capacity, [shares[i] / scale for i in idx]
            )
            for i, n in zip(idx, sub, strict=True):
                counts[i] = n
        elif mode == "power-proportions":
            for i in idx:
                s = shares[i]
                counts[i] = (s.numerator * capacity) // (s.denominator * draws[i])
        if fill:
            used = sum(d * n for d, n in zip(draws, counts, strict=True))
            idx_ok = [i for i in range(k) if ok[i]]
            extra = solve_max_power([draws[i] for i in idx_ok], capacity - used)
            assert extra is not None
            for i, n in zip(idx_ok, extra, strict=True):
                counts[i] += n
    else:  # pragma: no cover - validated by fit()
        raise ConfigError(f"unknown mode {mode!r}")
    reasons = [
        base[i] or ("headroom_below_one_charger" if below_one[i] else None)
        for i in range(k)
    ]
    return _Fit(counts, reasons)
