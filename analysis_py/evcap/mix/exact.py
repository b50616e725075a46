"""Exact rational arithmetic of charger draws: a float as written, integer units.

A draw ``c * p`` (coincidence times power, kW) is the exact product of the
two numbers as written; :func:`exact_units` scales a set of draws to integers
by their greatest common divisor, so the searches below are integer searches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
)

SINGLE_EPSILON = Fraction(1, 1_000_000_000)
"""Tolerance of the count rule, in draws of one charger: ``floor(B / d + 1e-9)``
as in the SQL mart."""


def _decimal(value: float) -> Fraction:
    """The exact decimal a float was written as (its shortest ``repr``)."""
    numerator, denominator = _decimal_ratio(value)
    return Fraction(numerator, denominator)


def _decimal_ratio(value: float) -> tuple[int, int]:
    """``_decimal(value)`` as (numerator, denominator), fast (no ``Fraction``)."""
    text = repr(float(value))
    if "e" in text or "n" in text:  # 1e-07, inf, nan: the slow, general way
        exact = Fraction(text)
        return exact.numerator, exact.denominator
    whole, _, decimals = text.partition(".")
    return int(whole + decimals), 10 ** len(decimals)


def draw_kw(power_kw: float, coincidence: float = 1.0) -> Fraction:
    """Exact draw of one charger, ``coincidence * power_kw`` (kW), as decimals."""
    return _decimal(coincidence) * _decimal(power_kw)


def exact_units(draws_kw: Sequence[Fraction]) -> tuple[Fraction, list[int]]:
    """The common unit of exact draws and each draw as a whole number of it.

    Parameters
    ----------
    draws_kw : sequence of Fraction
        Exact draws, kW (> 0).

    Returns
    -------
    (Fraction, list of int)
        The greatest common divisor ``u`` of the draws (kW) and ``d_i / u``.
    """
    if not draws_kw or any(d <= 0 for d in draws_kw):
        raise InvalidChargerError("charger draws must be > 0 kW")
    scale = math.lcm(*(d.denominator for d in draws_kw))
    ints = [d.numerator * (scale // d.denominator) for d in draws_kw]
    g = math.gcd(*ints)
    return Fraction(g, scale), [i // g for i in ints]


def capacity_units(budget_kw: float, unit_kw: Fraction, max_weight: int) -> int:
    """A budget as a whole number of ``unit_kw``, with the count-rule tolerance.

    ``floor(B / u + 1e-9 * max_weight)``: a mix of draws (in units) fits when
    its sum is at most this; with one type of weight ``w`` that is exactly
    ``floor(B / (u w) + 1e-9)`` chargers, the rule of :func:`single_count`.

    Raises
    ------
    ConfigError
        When ``budget_kw`` is not finite.
    """
    _check_finite_budget(budget_kw)
    bn, bd = _decimal_ratio(budget_kw)
    return _capacity(bn, bd, unit_kw, max_weight)


_E = SINGLE_EPSILON.denominator


def _capacity(bn: int, bd: int, unit_kw: Fraction, weight: int) -> int:
    """``floor(bn / bd / unit_kw + 1e-9 * weight)`` in integers."""
    un, ud = unit_kw.numerator, unit_kw.denominator
    return (bn * ud * _E + weight * bd * un) // (bd * un * _E)


def _check_finite_budget(budget_kw: float) -> None:
    if not math.isfinite(budget_kw):
        raise ConfigError(
            f"a budget must be a finite number of kW, got {budget_kw!r}; check "
            "firm_headroom_kw / quantile_headroom_kw"
        )


def single_count(budget_kw: float, power_kw: float, coincidence: float = 1.0) -> int:
    """``floor(budget_kw / (coincidence * power_kw) + 1e-9)``, never below 0.

    The rule of the SQL mart ``transformer_charger_fit``, computed exactly on
    the numbers as written (SQL uses floats; they agree except within 1e-15
    of the rounding edge).

    Raises
    ------
    ConfigError
        When ``budget_kw`` is not finite.
    """
    _check_finite_budget(budget_kw)
    ratio = _decimal(budget_kw) / draw_kw(power_kw, coincidence)
    return max(0, math.floor(ratio + SINGLE_EPSILON))
