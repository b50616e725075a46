"""Charger mixes: how many chargers of which types fit a transformer's headroom.

The budget of a transformer in a charging window is its firm budgeted headroom
``B`` (kW, ``transformer_window_headroom.firm_headroom_kw``; or
``quantile_headroom_kw`` with ``basis="quantile"``). A charger of type *i*
draws ``c * p_i`` kW, with ``p_i`` its power and ``c`` the coincidence factor
(share of chargers drawing at once). Modes:

``single``
    Each type on its own: ``floor(B / (c * p_i) + 1e-9)``, exactly the rule of
    the SQL mart ``transformer_charger_fit`` (same float arithmetic, same
    reasons in the same order).
``count-proportions``
    The largest total ``N`` of chargers whose counts are the largest-remainder
    (Hamilton) apportionment of ``N`` over the given shares and whose power
    fits ``B``. Shares are renormalised over the types the transformer can
    supply. Remainder ties go to the type listed first.
``power-proportions``
    Type *i* gets ``share_i * B`` and ``floor(share_i * B / (c * p_i))``
    chargers. A share of an unsupported type stays unused.
``max-power``
    Integer counts maximising ``sum c * p_i * n_i <= B``, with optional
    minimum / maximum counts per type. Among optimal mixes: the fewest
    chargers, then the lexicographically largest count vector in charger
    order (more of the type listed first).
``joint``
    Several transformers at once under their common upstream transformers:
    chargers under a transformer load every ancestor too. Maximise the total
    power subject to every placed transformer's and every ancestor's firm
    headroom. When no ancestor binds, the result is exactly the independent
    max-power fits. When one binds, HiGHS finds the maximum total power
    (proven optimal, gap 0, on exact integer data); the split of the
    ancestor's headroom among the transformers is HiGHS's (deterministic:
    same input, same output, no wall-clock limit), and each transformer's mix
    is then the canonical one (fewest chargers, then lexicographic) of
    exactly its share. A transformer that gets less power than it would
    alone is reported as ``ancestor_limited``. With ``objective="chargers"``
    the number of chargers is maximised (proven), then the power among those
    mixes, searching at most :data:`MILP_NODE_LIMIT` branch-and-bound nodes
    (a work limit, not a time limit: the same answer on any machine).
    Ancestors with unknown headroom (no rating, no data) do not constrain and
    are reported as ``ancestor_headroom_unknown``; one with no headroom gives
    its transformers 0 (``ancestor_no_headroom``).

Exact arithmetic, for any finite coincidence and power: every mode works in
rational numbers. A draw ``c * p`` is the exact product of ``c`` and ``p`` as
written (their shortest ``repr``), a budget ``B`` is taken as written too. A
count vector ``n`` fits ``B`` when ``sum n_i * c * p_i <= B + 1e-9 * d_max``
with ``d_max`` the largest draw among the types the transformer can supply:
exactly the rule ``floor(B / (c * p) + 1e-9)`` of ``single`` (and of the SQL
mart) when there is one type, so with one type ``max-power`` equals ``single``
for every budget. The tolerance (1e-9 of one charger's draw) only absorbs the
float noise of a budget computed in SQL. The draws are scaled to integers by
their greatest common divisor (:func:`exact_units`); the search is then an
exact integer search (a bitset of reachable sums, or a deterministic
enumeration when the common unit is very fine) that cannot miss a feasible
mix. ``leftover_kw`` is computed the same exact way (budget minus the exact
draws), so a mix that uses the whole budget leaves exactly 0. A budget that
is not finite (``inf``) is a :class:`ConfigError`. With the optional
``fill_leftover`` the proportion modes add the max-power mix of the leftover.

Types a transformer cannot supply get 0 in every mode, with the reasons and
in the order of the SQL mart ``transformer_charger_fit``: not a distribution
transformer (``dim_transformers.is_distribution`` false, e.g. 'HV/MV'), an
unreadable secondary voltage, a medium-voltage secondary above
:data:`MAX_LOW_VOLTAGE_V`, charger voltage above the secondary voltage,
unreadable phases (for types needing more than one phase), three phases
needed on a one-phase transformer. The parsed columns are read from
``dim_transformers`` (``phase_count``, ``is_distribution``); frames built by
hand without ``phase_count`` fall back to counting the letters A, B and C of
``phases``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
    SchemaError,
    UnknownTransformerError,
)

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

SINGLE_EPSILON = Fraction(1, 1_000_000_000)
"""Tolerance of the count rule, in draws of one charger: ``floor(B / d + 1e-9)``
as in the SQL mart."""

MAX_LOW_VOLTAGE_V = 1000.0
"""Chargers connect at low voltage: a transformer whose secondary is above this
(V) fits none (reason ``secondary_not_low_voltage``). Mirrors the dbt var
``max_low_voltage_v`` (default 1000 V, the IEC low-voltage limit)."""

BITSET_LIMIT_BITS = 1 << 26
"""Largest budget (in units of the gcd of the draws) solved by the exact
bitset search; larger ones go to the exact enumeration."""

ENUMERATION_LIMIT = 2_000_000
"""Nodes the exact enumeration may visit (a work limit, same on any machine);
beyond it the fit is a :class:`ConfigError` asking for rounder powers."""

MILP_NODE_LIMIT = 200_000
"""Branch-and-bound nodes HiGHS may use per joint group (a work limit)."""

MILP_SAFE_INTEGER = 1 << 31
"""Largest scaled weight or capacity given to HiGHS: its float arithmetic is
exact on integers this size, and every solution is re-checked in integers."""

_MILP_OPTIONS: dict[str, Any] = {"mip_rel_gap": 0.0, "presolve": True}


# --- charger types ---------------------------------------------------------


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
        return _charger_list(load_charger_types(None, [chargers]))
    return _charger_list(load_charger_types(None, list(chargers)))


# --- integer kernels --------------------------------------------------------


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


def _bitset_bytes(value: int, nbits: int) -> bytes:
    return value.to_bytes((nbits + 8) // 8, "little")


def _has(bits: bytes, position: int) -> bool:
    return bool((bits[position >> 3] >> (position & 7)) & 1)


def _best_subset_sum(
    weights: Sequence[int], bounds: Sequence[int], capacity: int
) -> list[int]:
    """Counts ``0 <= n_i <= bounds_i`` maximising ``sum w_i n_i <= capacity``.

    Ties: fewest items, then the lexicographically largest ``n``.
    """
    k = len(weights)
    active = [i for i in range(k) if bounds[i] > 0 and weights[i] <= capacity]
    result = [0] * k
    if not active:
        return result
    g = math.gcd(*(weights[i] for i in active))
    ws = [weights[i] // g for i in active]
    us = [min(bounds[i], capacity // weights[i]) for i in active]
    cap = capacity // g
    if cap > BITSET_LIMIT_BITS:
        counts = _reduced_subset_sum(ws, us, cap)
    else:
        counts = _bitset_subset_sum(ws, us, cap)
    for i, n in zip(active, counts, strict=True):
        result[i] = n
    return result


def _suffix_reachable_sums(ws: list[int], us: list[int], cap: int) -> list[int]:
    """Bitsets: bit v of entry j is set when types j.. can sum to v (<= cap).

    Binary splitting of each type's bound ``us[j]`` keeps it exact for
    bounded counts.
    """
    m = len(ws)
    mask = (1 << (cap + 1)) - 1
    suffix = [0] * (m + 1)
    suffix[m] = 1
    for j in range(m - 1, -1, -1):
        s = suffix[j + 1]
        left, chunk, w = us[j], 1, ws[j]
        while left > 0:
            take = min(chunk, left)
            s = (s | (s << (take * w))) & mask
            left -= take
            chunk <<= 1
        suffix[j] = s
    return suffix


def _bitset_subset_sum(ws: list[int], us: list[int], cap: int) -> list[int]:
    m = len(ws)
    suffix_int = _suffix_reachable_sums(ws, us, cap)
    value = suffix_int[0].bit_length() - 1
    suffix = [_bitset_bytes(s, cap + 1) for s in suffix_int]
    max_w = [0] * (m + 1)
    min_w = [0] * (m + 1)
    for j in range(m - 1, -1, -1):
        max_w[j] = max(ws[j], max_w[j + 1])
        min_w[j] = ws[j] if j == m - 1 else min(ws[j], min_w[j + 1])

    # Fewest items: depth-first search, heaviest type first.
    order = sorted(range(m), key=lambda j: (-ws[j], j))
    o_ws = [ws[j] for j in order]
    o_us = [us[j] for j in order]
    o_suffix_int = _suffix_reachable_sums(o_ws, o_us, cap)
    o_suffix = [_bitset_bytes(s, cap + 1) for s in o_suffix_int]
    fewest = _fewest_items(o_ws, o_us, o_suffix, value)

    # Lexicographically largest vector with that value and that many items.
    counts = [0] * m

    def lex(j: int, rest: int, items: int) -> bool:
        if j == m - 1:
            w = ws[j]
            if rest % w or rest // w != items or rest // w > us[j]:
                return False
            counts[j] = items
            return True
        w = ws[j]
        nxt = suffix[j + 1]
        for n in range(min(us[j], rest // w, items), -1, -1):
            r2 = rest - n * w
            left = items - n
            if not _has(nxt, r2):
                continue
            if r2 == 0:
                if left:
                    continue
            elif left * max_w[j + 1] < r2 or left * min_w[j + 1] > r2:
                continue
            counts[j] = n
            if lex(j + 1, r2, left):
                return True
        counts[j] = 0
        return False

    if not lex(0, value, fewest):  # pragma: no cover - guarded by construction
        raise AssertionError("charger mix search lost the optimum")
    return counts


def _fewest_items(ws: list[int], us: list[int], suffix: list[bytes], value: int) -> int:
    """Fewest items of weights ``ws`` (heaviest first) summing exactly to ``value``."""
    m = len(ws)
    best = [value // ws[-1] + m + 1 if ws else 0]
    floor_bound = -(-value // ws[0]) if ws else 0

    def dfs(j: int, rest: int, items: int) -> bool:
        if j == m - 1:
            total = items + rest // ws[j]
            if total < best[0]:
                best[0] = total
            return best[0] == floor_bound
        w = ws[j]
        nxt = suffix[j + 1]
        w_next = ws[j + 1]
        for n in range(min(us[j], rest // w), -1, -1):
            r2 = rest - n * w
            if not _has(nxt, r2):
                continue
            if items + n + -(-r2 // w_next) >= best[0]:
                # Fewer of this (heavier) type only needs more items later.
                break
            if dfs(j + 1, r2, items + n):
                return True
        return False

    if value == 0:
        return 0
    dfs(0, value, 0)
    return best[0]


def _reduced_subset_sum(ws: list[int], us: list[int], cap: int) -> list[int]:
    """:func:`_bitset_subset_sum` for a budget of very many chargers.

    With ``h`` the first heaviest type (weight ``W``) unbounded, the
    canonical optimum (most power, fewest chargers, lexicographically
    largest) holds less than ``L = lcm(ws)`` of every other type's weight:
    ``L / w_j`` chargers of type j could be swapped for ``L / W`` of type h,
    same power, fewer (or as many, earlier) chargers. So it holds at least
    ``m = (cap - W - (k - 1) L) // W`` of type h: those are fixed and the
    rest, below ``(k - 1) L + 2 W``, solved by the bitset search. Otherwise
    (a bound on type h, or a huge ``L``) the exact enumeration.
    """
    h = ws.index(max(ws))
    w_h = ws[h]
    span = (len(ws) - 1) * math.lcm(*ws)
    if us[h] != cap // w_h or span + 2 * w_h > BITSET_LIMIT_BITS:
        return _enumerate_subset_sum(ws, us, cap)
    fixed = max(0, (cap - w_h - span) // w_h)
    rest = cap - fixed * w_h
    bounds = [
        min(u - (fixed if j == h else 0), rest // w)
        for j, (w, u) in enumerate(zip(ws, us, strict=True))
    ]
    counts = _bitset_subset_sum(ws, bounds, rest)
    counts[h] += fixed
    return counts


def _enumerate_subset_sum(ws: list[int], us: list[int], cap: int) -> list[int]:
    """Exact :func:`_bitset_subset_sum` for fine units: depth-first enumeration.

    Types in the given order, counts from high to low; the last type's count
    is the largest that fits. Branches that cannot reach the best power found
    are cut. Visits at most :data:`ENUMERATION_LIMIT` nodes (deterministic),
    else :class:`ConfigError`.
    """
    m = len(ws)
    reach = [0] * (m + 1)
    for j in range(m - 1, -1, -1):
        reach[j] = reach[j + 1] + ws[j] * us[j]
    counts = [0] * m
    best: list[Any] = [(-1, 0, ())]
    work = [0]

    def dfs(j: int, used: int, items: int) -> None:
        work[0] += 1
        if work[0] > ENUMERATION_LIMIT:
            raise ConfigError(
                "the charger powers have so many decimals that the exact mix "
                f"search needs more than {ENUMERATION_LIMIT:,} steps; round "
                "power_kw (and the coincidence factor) to fewer decimals"
            )
        w = ws[j]
        top = min(us[j], (cap - used) // w)
        if j == m - 1:
            counts[j] = top
            key = (used + top * w, -(items + top), tuple(counts))
            if key > best[0]:
                best[0] = key
            return
        for n in range(top, -1, -1):
            reached = used + n * w
            if min(cap, reached + reach[j + 1]) < best[0][0]:
                break
            if best[0][0] == cap and items + n > -best[0][1]:
                continue
            counts[j] = n
            dfs(j + 1, reached, items + n)
        counts[j] = 0

    dfs(0, 0, 0)
    return list(best[0][2])


def _milp(
    objective: np.ndarray,
    rows: Sequence[tuple[np.ndarray, float, float]],
    upper: np.ndarray,
    lower: np.ndarray | None = None,
    *,
    best_effort: bool = False,
) -> np.ndarray | None:
    """Minimise ``objective @ x`` over integer ``x`` (HiGHS); rounded solution.

    HiGHS may search :data:`MILP_NODE_LIMIT` nodes (a work limit: the same
    answer on any machine). The solution is proven optimal (relative gap 0)
    or :class:`ConfigError` is raised; with ``best_effort`` the best solution
    found within the limit is returned (None when there is none).

    Raises
    ------
    _InfeasibleError
        When there is no integer solution.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(objective)
    constraints = [
        LinearConstraint(np.atleast_2d(a), lb, ub) for a, lb, ub in rows if len(a)
    ]
    options = {**_MILP_OPTIONS, "node_limit": MILP_NODE_LIMIT}
    with _quiet_stdout():
        result = milp(
            objective,
            constraints=constraints,
            integrality=np.ones(n),
            bounds=Bounds(np.zeros(n) if lower is None else lower, upper),
            options=options,
        )
    if result.status == 2:
        raise _InfeasibleError(str(result.message))
    if result.x is None and best_effort:
        return None
    if result.x is None or (result.status != 0 and not best_effort):
        raise ConfigError(
            "the charger-mix optimiser did not prove optimality within "
            f"{MILP_NODE_LIMIT:,} nodes ({result.message}); fit fewer "
            "transformers at once (--transformers) or use --objective power"
        )
    solution: np.ndarray = np.rint(np.asarray(result.x, dtype=float))
    return solution


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence HiGHS's C-level prints on file descriptor 1."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class _InfeasibleError(Exception):
    """HiGHS found no solution."""


def solve_max_power(
    weights: Sequence[int],
    capacity: int,
    min_counts: Sequence[int] | None = None,
    max_counts: Sequence[int | None] | None = None,
) -> list[int] | None:
    """Exact max-power mix in integer units.

    Parameters
    ----------
    weights : sequence of int
        Draw of one charger of each type, integer units (> 0; mW in
        :func:`fit`).
    capacity : int
        Budget, same units.
    min_counts, max_counts : sequences, optional
        Per-type bounds on the count (``None`` in ``max_counts``: no bound).

    Returns
    -------
    list of int or None
        Counts maximising ``sum(weights * counts) <= capacity``; among those
        the fewest chargers, then the lexicographically largest counts. None
        when the minimum counts alone exceed the capacity.
    """
    k = len(weights)
    lo = list(min_counts) if min_counts is not None else [0] * k
    hi = list(max_counts) if max_counts is not None else [None] * k
    if any(w <= 0 for w in weights):
        raise InvalidChargerError("charger draws must be > 0")
    base = sum(w * n for w, n in zip(weights, lo, strict=True))
    if base > capacity:
        return None
    rest = capacity - base
    bounds = [
        rest // w if h is None else min(h - n, rest // w)
        for w, n, h in zip(weights, lo, hi, strict=True)
    ]
    extra = _best_subset_sum(weights, bounds, rest)
    return [n + e for n, e in zip(lo, extra, strict=True)]


def apportion(total: int, shares: Sequence[Fraction]) -> list[int]:
    """Largest-remainder (Hamilton) apportionment of ``total`` over ``shares``.

    ``shares`` are exact and sum to 1. Each type gets the floor of its quota
    ``share * total``; the seats left go to the largest remainders, ties to
    the type listed first. A zero share gets nothing.
    """
    quotas = [s * total for s in shares]
    counts = [math.floor(q) for q in quotas]
    left = total - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def solve_count_proportions(
    weights: Sequence[int], capacity: int, shares: Sequence[Fraction]
) -> list[int]:
    """Largest total whose Hamilton apportionment over ``shares`` fits ``capacity``.

    Parameters
    ----------
    weights : sequence of int
        Draw per charger, integer units.
    capacity : int
        Budget, integer units (may be <= 0: all zero).
    shares : sequence of Fraction
        Exact shares summing to 1.
    """
    if capacity <= 0:
        return [0] * len(weights)
    mean = sum(s * w for s, w in zip(shares, weights, strict=True))
    upper = math.floor((capacity + sum(weights)) / mean)
    for total in range(upper, 0, -1):
        counts = apportion(total, shares)
        if sum(w * n for w, n in zip(weights, counts, strict=True)) <= capacity:
            return counts
    return [0] * len(weights)


# --- marts ------------------------------------------------------------------


@dataclass
class _Site:
    grid_id: str
    transformer_id: str
    rated: bool
    secondary_voltage_v: float | None
    phase_count: int | None
    upstream: str | None
    is_distribution: bool | None = None


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


def _read_marts(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    schema: str,
    grid_id: str | None,
    transformers: Sequence[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if isinstance(source, psycopg.Connection):
        from evcap.marts import read_mart

        dim = read_mart(source, "dim_transformers", schema, transformers, grid_id)
        headroom = read_mart(
            source, "transformer_window_headroom", schema, transformers, grid_id
        )
    elif isinstance(source, Mapping):
        try:
            dim = source["dim_transformers"]
            headroom = source["transformer_window_headroom"]
        except KeyError as exc:
            raise SchemaError(
                f"source frames lack {exc}; give 'dim_transformers' and "
                "'transformer_window_headroom'"
            ) from exc
        if grid_id is not None:
            dim = dim[dim["grid_id"] == grid_id]
            headroom = headroom[headroom["grid_id"] == grid_id]
    else:
        raise ConfigError(
            "source must be a psycopg connection or a mapping of DataFrames"
        )
    for name, frame, needed in (
        ("dim_transformers", dim, DIM_COLUMNS),
        ("transformer_window_headroom", headroom, HEADROOM_COLUMNS),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} lacks column(s) {', '.join(missing)}")
    return dim, headroom


def _known_grids(
    source: psycopg.Connection | Mapping[str, pd.DataFrame], schema: str
) -> list[str]:
    """Grid ids present in ``dim_transformers`` (sorted)."""
    if isinstance(source, psycopg.Connection):
        from evcap.db import read_frame

        frame = read_frame(
            source,
            sql.SQL("select distinct grid_id from {} order by grid_id").format(
                sql.Identifier(schema, "dim_transformers")
            ),
            None,
        )
        return [str(g) for g in frame["grid_id"]]
    return sorted({str(g) for g in source["dim_transformers"]["grid_id"]})


def _sites(dim: pd.DataFrame) -> dict[tuple[str, str], _Site]:
    if "phase_count" in dim.columns:
        phase_counts = [_int_or_none(v) for v in dim["phase_count"].tolist()]
    else:
        phase_counts = [_phase_count(v) for v in dim["phases"].tolist()]
    distribution = (
        [_bool_or_none(v) for v in dim["is_distribution"].tolist()]
        if "is_distribution" in dim.columns
        else [None] * len(dim)
    )
    sites: dict[tuple[str, str], _Site] = {}
    for (grid, transformer, rating, volts, _phases, upstream), count, dist in zip(
        zip(*(dim[c].tolist() for c in DIM_COLUMNS), strict=True),
        phase_counts,
        distribution,
        strict=True,
    ):
        key = (str(grid), str(transformer))
        sites[key] = _Site(
            key[0],
            key[1],
            _float_or_none(rating) is not None,
            _float_or_none(volts),
            count,
            None if upstream is None or _is_missing(upstream) else str(upstream),
            dist,
        )
    return sites


def _budgets(
    headroom: pd.DataFrame, basis: Basis, windows: Sequence[str]
) -> dict[tuple[str, str, str], float | None]:
    column = "firm_headroom_kw" if basis == "firm" else "quantile_headroom_kw"
    if column not in headroom.columns:
        raise SchemaError(f"transformer_window_headroom lacks column {column}")
    frame = headroom[headroom["window_name"].isin(list(windows))]
    used = (
        frame["intervals_used"].to_numpy()
        if "intervals_used" in frame.columns
        else np.ones(len(frame))
    )
    budgets: dict[tuple[str, str, str], float | None] = {}
    for g, t, w, value, n in zip(
        frame["grid_id"],
        frame["transformer_id"],
        frame["window_name"],
        frame[column],
        used,
        strict=True,
    ):
        number = _float_or_none(value)
        no_data = _float_or_none(n) is not None and float(n) <= 0
        if number is not None and not no_data and not math.isfinite(number):
            raise ConfigError(
                f"{column} of {t} (grid {g}) in window {w} is {number!r}; a "
                "budget must be a finite number of kW"
            )
        budgets[(str(g), str(t), str(w))] = None if no_data else number
    return budgets


def _insufficient(
    headroom: pd.DataFrame, windows: Sequence[str]
) -> set[tuple[str, str, str]]:
    """(grid, transformer, window) whose window has too little data to trust.

    transformer_window_headroom.data_sufficient is false there (too small a
    share of the window's calendar intervals had enough meter coverage); a
    mart without the column trusts every window.
    """
    if "data_sufficient" not in headroom.columns:
        return set()
    frame = headroom[headroom["window_name"].isin(list(windows))]
    used = (
        frame["intervals_used"].to_numpy()
        if "intervals_used" in frame.columns
        else np.ones(len(frame))
    )
    return {
        (str(g), str(t), str(w))
        for g, t, w, ok, n in zip(
            frame["grid_id"],
            frame["transformer_id"],
            frame["window_name"],
            frame["data_sufficient"],
            used,
            strict=True,
        )
        # no interval used at all stays no_data_in_window, as in the SQL mart
        if not _is_missing(ok)
        and not bool(ok)
        and (_float_or_none(n) is None or float(n) > 0)
    }


# --- fit --------------------------------------------------------------------


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


def _ancestors(
    sites: Mapping[tuple[str, str], _Site], key: tuple[str, str]
) -> list[tuple[str, str]]:
    chain: list[tuple[str, str]] = []
    seen = {key}
    up = sites[key].upstream
    while up is not None:
        parent = (key[0], up)
        if parent in seen or parent not in sites:
            break
        chain.append(parent)
        seen.add(parent)
        up = sites[parent].upstream
    return chain


def _fit_joint(
    placements: Sequence[tuple[str, str]],
    sites: Mapping[tuple[str, str], _Site],
    budgets: Mapping[tuple[str, str, str], float | None],
    window: str,
    chargers: Sequence[ChargerType],
    draws: Sequence[int],
    unit: Fraction,
    coincidence: float,
    lo: Sequence[int],
    hi: Sequence[int | None],
    objective: Objective,
) -> dict[tuple[str, str], _Fit]:
    """Network-constrained fit of ``placements`` in one window."""
    k = len(chargers)
    fits: dict[tuple[str, str], _Fit] = {}

    def budget(key: tuple[str, str]) -> float | None:
        if not sites[key].rated:
            return None
        return budgets.get((key[0], key[1], window))

    # Placements that can take chargers at all, and the notes of the others.
    live: list[tuple[str, str]] = []
    ok_types: dict[tuple[str, str], list[bool]] = {}
    notes: dict[tuple[str, str], str | None] = {}
    chains: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key in placements:
        site = sites[key]
        own = budget(key)
        single = _fit_site(
            "single", own, site, chargers, draws, unit, coincidence, None, lo, hi, False
        )
        chain = _ancestors(sites, key)
        chains[key] = chain
        blocked = next(
            (a for a in chain if (b := budget(a)) is not None and b <= 0), None
        )
        unknown = any(budget(a) is None for a in chain)
        notes[key] = "ancestor_headroom_unknown" if unknown else None
        if own is None or own <= 0:
            fits[key] = _Fit([0] * k, single.reasons)
            continue
        compat = [_compat_reason(site, c) for c in chargers]
        if blocked is not None:
            fits[key] = _Fit([0] * k, [r or "ancestor_no_headroom" for r in compat])
            continue
        ok_types[key] = [r is None for r in compat]
        fits[key] = _Fit([0] * k, [r or notes[key] for r in single.reasons])
        live.append(key)

    # Independent groups: placements sharing a constrained ancestor.
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for key in live:
        for a in chains[key]:
            if budget(a) is not None:
                parent[find(key)] = find(a)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key in live:
        groups.setdefault(find(key), []).append(key)

    for members in groups.values():
        _solve_joint_group(
            members, chains, budget, ok_types, draws, unit, lo, hi, objective, fits
        )
    return fits


def _solve_joint_group(
    members: list[tuple[str, str]],
    chains: Mapping[tuple[str, str], list[tuple[str, str]]],
    budget: Any,
    ok_types: Mapping[tuple[str, str], list[bool]],
    draws: Sequence[int],
    unit: Fraction,
    lo: Sequence[int],
    hi: Sequence[int | None],
    objective: Objective,
    fits: dict[tuple[str, str], _Fit],
) -> None:
    k = len(draws)
    variables: list[tuple[tuple[str, str], int]] = [
        (key, i) for key in members for i in range(k) if ok_types[key][i]
    ]
    infeasible_min = any(
        lo[i] > 0 and not ok_types[key][i] for key in members for i in range(k)
    )

    def mark_infeasible() -> None:
        for key in members:
            fits[key].reasons = [
                r
                if r not in (None, "ancestor_headroom_unknown")
                else "infeasible_min_count"
                for r in fits[key].reasons
            ]

    if infeasible_min:
        mark_infeasible()
        return
    if not variables:
        return
    # One tolerance for the group: 1e-9 of the largest draw placed in it.
    max_weight = max(draws[i] for _key, i in variables)
    nodes: dict[tuple[str, str], list[int]] = {}
    for v, (key, _i) in enumerate(variables):
        for node in (key, *chains[key]):
            if budget(node) is not None:
                nodes.setdefault(node, []).append(v)
    cap_units = {node: capacity_units(budget(node), unit, max_weight) for node in nodes}
    for key in members:  # a transformer's own rule: as in max-power
        own_weight = max(draws[i] for i in range(k) if ok_types[key][i])
        cap_units[key] = capacity_units(budget(key), unit, own_weight)

    def own_mix(key: tuple[str, str], capacity: int) -> list[int] | None:
        """Canonical max-power mix of one transformer within ``capacity`` units."""
        idx = [i for i in range(k) if ok_types[key][i]]
        counts = solve_max_power(
            [draws[i] for i in idx],
            capacity,
            [lo[i] for i in idx],
            [hi[i] for i in idx],
        )
        if counts is None:
            return None
        full = [0] * k
        for i, n in zip(idx, counts, strict=True):
            full[i] = n
        return full

    def used_units(vs: Sequence[int], counts: Sequence[int]) -> int:
        return sum(draws[variables[v][1]] * counts[v] for v in vs)

    # Independent optima: each transformer alone under its own headroom.
    independent: list[int] = []
    for key in members:
        own = own_mix(key, cap_units[key])
        if own is None:
            mark_infeasible()
            return
        independent += [own[i] for i in range(k) if ok_types[key][i]]
    alone = {
        key: used_units(
            [v for v, (kk, _i) in enumerate(variables) if kk == key], independent
        )
        for key in members
    }
    if objective == "power" and all(
        used_units(vs, independent) <= cap_units[node] for node, vs in nodes.items()
    ):
        # No ancestor binds: the independent optima are the joint optimum.
        for v, (key, i) in enumerate(variables):
            fits[key].counts[i] = independent[v]
        return

    g = math.gcd(*(draws[i] for _key, i in variables))
    weights_int = [draws[i] // g for _key, i in variables]
    caps = {node: cap // g for node, cap in cap_units.items()}
    if max(weights_int) > MILP_SAFE_INTEGER or max(caps.values()) > MILP_SAFE_INTEGER:
        raise ConfigError(
            "joint fit: the charger powers (times the coincidence factor) have "
            "too many decimals for an exact network search; round power_kw to "
            "fewer decimals, or fit with --mode max-power"
        )
    weights = np.array(weights_int, dtype=float)
    upper = np.array(
        [
            float(min(caps[key] // (draws[i] // g), _or(hi[i], caps[key])))
            for key, i in variables
        ]
    )
    lower = np.array([lo[i] for _key, i in variables], dtype=float)
    if np.any(lower > upper):
        mark_infeasible()
        return
    rows: list[tuple[np.ndarray, float, float]] = []
    for node, vs in nodes.items():
        row = np.zeros(len(variables))
        row[vs] = weights[vs]
        rows.append((row, -np.inf, float(caps[node])))
    ones = np.ones(len(variables))
    try:
        if objective == "power":
            x = _milp(-weights, rows, upper, lower)
        else:
            x = _milp(-ones, rows, upper, lower)
            assert x is not None
            best = float(np.rint(ones @ x))
            tie = _milp(
                -weights, [*rows, (ones, best, best)], upper, lower, best_effort=True
            )
            if tie is not None and float(weights @ tie) >= float(weights @ x):
                x = tie
    except _InfeasibleError:
        mark_infeasible()
        return
    assert x is not None
    counts = [int(v) for v in x]
    if objective == "power":
        # Each transformer's share of the optimum as its canonical mix
        # (fewest chargers, then lexicographic) of exactly that power.
        canonical: list[int] = []
        for key in members:
            vs = [v for v, (kk, _i) in enumerate(variables) if kk == key]
            own = own_mix(key, used_units(vs, counts))
            assert own is not None
            canonical += [own[i] for i in range(k) if ok_types[key][i]]
        counts = canonical
    # Verify in exact integers (HiGHS works in floats).
    for node, vs in nodes.items():
        if used_units(vs, counts) > cap_units[node]:  # pragma: no cover
            raise ConfigError(
                f"joint fit violates the headroom of {node[1]}; please report"
            )
    for v, (key, i) in enumerate(variables):
        fits[key].counts[i] = counts[v]
    # A transformer that gets less than it would alone: an ancestor holds it.
    for key in members:
        vs = [v for v, (kk, _i) in enumerate(variables) if kk == key]
        if objective == "power":
            limited = used_units(vs, counts) < alone[key]
        else:
            limited = sum(counts[v] for v in vs) < _most_chargers(
                [draws[i] for _kk, i in (variables[v] for v in vs)],
                cap_units[key],
                [lo[i] for _kk, i in (variables[v] for v in vs)],
                [hi[i] for _kk, i in (variables[v] for v in vs)],
            )
        if limited:
            fits[key].reasons = [
                "ancestor_limited"
                if ok and r in (None, "ancestor_headroom_unknown")
                else r
                for ok, r in zip(ok_types[key], fits[key].reasons, strict=True)
            ]


def _most_chargers(
    weights: Sequence[int],
    capacity: int,
    lo: Sequence[int],
    hi: Sequence[int | None],
) -> int:
    """Most chargers within ``capacity`` (bounded counts): cheapest first."""
    rest = capacity - sum(w * n for w, n in zip(weights, lo, strict=True))
    total = sum(lo)
    for j in sorted(range(len(weights)), key=lambda j: weights[j]):
        room = rest // weights[j]
        h = hi[j]
        n = room if h is None else min(room, h - lo[j])
        total += n
        rest -= n * weights[j]
    return total


def fit(
    source: psycopg.Connection | Mapping[str, pd.DataFrame],
    *,
    transformers: Sequence[str] | str | None = None,
    window: str | Sequence[str] | None = "nightly",
    chargers: pd.DataFrame | str | Path | Sequence[str] | None = None,
    mode: Mode = "max-power",
    coincidence: float = 1.0,
    proportions: Sequence[float] | Mapping[str, float] | None = None,
    min_counts: Mapping[str, int] | None = None,
    max_counts: Mapping[str, int] | None = None,
    basis: Basis = "firm",
    fill_leftover: bool = False,
    grid_id: str | None = None,
    schema: str = "evcap",
    objective: Objective = "power",
    progress: bool = False,
) -> pd.DataFrame:
    """Fit chargers on transformers, one row per transformer x window x type.

    Parameters
    ----------
    source : psycopg.Connection or mapping of str to DataFrame
        A connection to the database with the marts in ``schema``, or frames
        ``{"dim_transformers": ..., "transformer_window_headroom": ...}``
        with the mart column names.
    transformers : str or sequence of str, optional
        Transformer ids to fit (all when None; in ``joint`` mode: every
        transformer without a transformer below it).
    window : str or sequence of str, optional
        Charging window name(s) of the seed ``charging_windows``; None = all.
    chargers : DataFrame, CSV path, or sequence of names, optional
        Charger types (see :func:`load_charger_types`); names select from the
        seed ``charger_types.csv``. Default: every seed type.
    mode : {"single", "count-proportions", "power-proportions", "max-power", "joint"}
        See the module docstring.
    coincidence : float
        Share of chargers drawing at once, in (0, 1]; a charger draws
        ``coincidence * power_kw`` kW.
    proportions : sequence of float or mapping, optional
        Percent per charger type (in charger order, or by name), summing to
        100; for the two proportion modes.
    min_counts, max_counts : mapping of str to int, optional
        Bounds on the count per type and transformer (``max-power``, ``joint``).
    basis : {"firm", "quantile"}
        Budget column: ``firm_headroom_kw`` or ``quantile_headroom_kw`` (kW).
    fill_leftover : bool
        Proportion modes: add the max-power mix of the leftover budget.
    grid_id : str, optional
        Only this grid (transformer ids are unique within a grid only).
    schema : str
        Schema of the marts when ``source`` is a connection.
    objective : {"power", "chargers"}
        ``joint`` mode: maximise total power (kW) or number of chargers.
    progress : bool
        Show a progress bar (tqdm) on stderr when it is a terminal.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`OUTPUT_COLUMNS`: ``count`` (chargers),
        ``charger_power_kw`` (kW), ``power_kw`` = count x coincidence x power
        (kW), ``budget_kw`` (the headroom used as budget, kW, null when
        unknown), ``leftover_kw`` (budget minus the power of the row in
        ``single`` mode, of the whole mix otherwise, kW), ``reason`` (null
        when fine; else a code of ``transformer_charger_fit`` or
        ``infeasible_min_count``, ``ancestor_no_headroom``,
        ``ancestor_headroom_unknown``, ``ancestor_limited``). Sorted by grid, transformer, window
        (in the order asked) and charger type (in the order given).

    Raises
    ------
    UnknownTransformerError
        When a transformer id is not in ``dim_transformers``.
    ConfigError
        On an unknown window or grid (the message lists the known ones), an
        empty window list, an unknown mode, basis or objective, a coincidence
        factor outside (0, 1], a budget that is not finite, or options that do
        not apply (``objective="chargers"`` outside ``joint`` too). Repeated
        windows are fitted once, in the order first asked.
    InvalidChargerError
        On bad charger types, proportions or count bounds.
    SchemaError
        When the marts are missing or lack columns.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if basis not in ("firm", "quantile"):
        raise ConfigError(f"unknown basis {basis!r}; choose firm or quantile")
    if objective not in ("power", "chargers"):
        raise ConfigError(f"unknown objective {objective!r}; choose power or chargers")
    if objective != "power" and mode != "joint":
        raise ConfigError(f"objective {objective!r} applies to joint, not {mode}")
    if not (math.isfinite(coincidence) and 0 < coincidence <= 1):
        raise ConfigError(f"coincidence factor must be in (0, 1], got {coincidence}")
    charger_list = _resolve_chargers(chargers)
    proportional = mode in ("count-proportions", "power-proportions")
    shares = _shares(proportions, charger_list) if proportional else None
    if proportions is not None and not proportional:
        raise ConfigError(f"proportions apply to the proportion modes, not {mode}")
    if fill_leftover and not proportional:
        raise ConfigError(f"fill_leftover applies to the proportion modes, not {mode}")
    bounded = mode in ("max-power", "joint")
    if (min_counts or max_counts) and not bounded:
        raise ConfigError(f"min/max counts apply to max-power and joint, not {mode}")
    lo = [n or 0 for n in _count_bounds(min_counts, charger_list, "min count")]
    hi = _count_bounds(max_counts, charger_list, "max count")
    for c, n, h in zip(charger_list, lo, hi, strict=True):
        if h is not None and n > h:
            raise InvalidChargerError(
                f"min count {n} of {c.name} is above its max count {h}"
            )
    exact_draws = [draw_kw(c.power_kw, coincidence) for c in charger_list]
    unit, draws = exact_units(exact_draws)

    selected = [transformers] if isinstance(transformers, str) else transformers
    if selected is not None:
        selected = list(dict.fromkeys(str(t) for t in selected))
    dim, headroom = _read_marts(
        source,
        schema,
        grid_id,
        selected if mode != "joint" and selected is not None else None,
    )
    if grid_id is not None and dim.empty:
        known_grids = _known_grids(source, schema)
        if grid_id not in known_grids:
            raise ConfigError(
                f"unknown grid {grid_id!r}; known grids: "
                f"{', '.join(known_grids) or 'none (build the marts)'}"
            )
    sites = _sites(dim)
    if selected is not None:
        present = {t for _g, t in sites}
        unknown = [t for t in selected if t not in present]
        if unknown:
            where = f" in grid {grid_id}" if grid_id is not None else ""
            raise UnknownTransformerError(
                f"unknown transformer id(s) {', '.join(unknown)}{where}; "
                "see dim_transformers"
            )
        wanted = set(selected)
        keys = sorted(k for k in sites if k[1] in wanted)
    elif mode == "joint":
        has_child = {(k[0], s.upstream) for k, s in sites.items() if s.upstream}
        keys = sorted(k for k in sites if k not in has_child)
    else:
        keys = sorted(sites)
    known_windows = sorted({str(w) for w in headroom["window_name"]})
    if window is None:
        windows = known_windows
    else:
        asked = [window] if isinstance(window, str) else list(window)
        if not asked:
            raise ConfigError(
                "no charging window given; name one or more, or pass None for "
                f"all ({', '.join(known_windows) or 'none built'})"
            )
        windows = list(dict.fromkeys(str(w) for w in asked))
        unknown_windows = [w for w in windows if w not in known_windows]
        if unknown_windows:
            raise ConfigError(
                f"unknown charging window(s) {', '.join(unknown_windows)}; "
                f"available: {', '.join(known_windows) or 'none (build the marts)'}"
            )
    budgets = _budgets(headroom, basis, windows)
    # Untrusted windows count nothing, like a window without data, and say why.
    insufficient = _insufficient(headroom, windows)
    for untrusted in insufficient & budgets.keys():
        budgets[untrusted] = None

    records: list[tuple[Any, ...]] = []
    from tqdm import tqdm

    bar = tqdm(
        total=len(windows) * len(keys),
        unit="transformer",
        desc=f"fit {mode}",
        disable=None if progress else True,
        file=sys.stderr,
    )
    for w in windows:
        if mode == "joint":
            joint = _fit_joint(
                keys,
                sites,
                budgets,
                w,
                charger_list,
                draws,
                unit,
                coincidence,
                lo,
                hi,
                objective,
            )
        for key in keys:
            bar.update()
            site = sites[key]
            b = budgets.get((key[0], key[1], w)) if site.rated else None
            if mode == "joint":
                result = joint[key]
            else:
                result = _fit_site(
                    mode,
                    b,
                    site,
                    charger_list,
                    draws,
                    unit,
                    coincidence,
                    shares,
                    lo,
                    hi,
                    fill_leftover,
                )
            if (key[0], key[1], w) in insufficient:
                result = _Fit(
                    result.counts,
                    [
                        "insufficient_data_in_window" if r == "no_data_in_window" else r
                        for r in result.reasons
                    ],
                )
            power = [
                n * coincidence * c.power_kw
                for n, c in zip(result.counts, charger_list, strict=True)
            ]
            # Leftover in exact decimals: a mix using the whole budget leaves 0.
            used = [n * d for n, d in zip(result.counts, draws, strict=True)]
            total = sum(used)
            ratio = None if b is None else _decimal_ratio(b)
            for i, c in enumerate(charger_list):
                left = None
                if ratio is not None:
                    units = used[i] if mode == "single" else total
                    # B - units * unit = (bn ud - units un bd) / (bd ud), rounded once
                    left = (
                        ratio[0] * unit.denominator - units * unit.numerator * ratio[1]
                    ) / (ratio[1] * unit.denominator)
                records.append(
                    (
                        key[0],
                        key[1],
                        w,
                        mode,
                        c.name,
                        result.counts[i],
                        c.power_kw,
                        power[i],
                        b,
                        left,
                        result.reasons[i],
                    )
                )
    bar.close()
    window_rank = {w: i for i, w in enumerate(windows)}
    frame = pd.DataFrame.from_records(records, columns=list(OUTPUT_COLUMNS))
    if not frame.empty:
        frame["_w"] = frame["window_name"].map(window_rank)
        frame = frame.sort_values(
            ["grid_id", "transformer_id", "_w"], kind="stable"
        ).drop(columns="_w")
    frame = frame.reset_index(drop=True)
    frame["count"] = frame["count"].astype("int64")
    for column in ("charger_power_kw", "power_kw", "budget_kw", "leftover_kw"):
        frame[column] = frame[column].astype("float64")
    frame["reason"] = frame["reason"].astype(object)
    frame.loc[frame["reason"].isna(), "reason"] = None
    return frame


# --- writing ----------------------------------------------------------------

_MIX_DDL = """
create table if not exists {table} (
    grid_id text not null,
    transformer_id text not null,
    window_name text not null,
    mode text not null,
    charger_type text not null,
    count integer not null,
    charger_power_kw double precision not null,
    power_kw double precision not null,
    budget_kw double precision,
    leftover_kw double precision,
    reason text,
    fitted_at timestamptz not null default now(),
    primary key (grid_id, transformer_id, window_name, mode, charger_type)
)
"""

PARAMETER_COLUMNS = ("coincidence_factor", "basis")
"""Columns of ``transformer_charger_mix`` beyond :data:`OUTPUT_COLUMNS`: the
run's parameters that change the numbers (null when not known)."""

_MIX_UPGRADE = """
alter table {table}
    add column if not exists coincidence_factor double precision,
    add column if not exists basis text
"""


def write_mix(
    conn: psycopg.Connection,
    frame: pd.DataFrame,
    *,
    schema: str = "evcap",
    coincidence_factor: float | None = None,
    basis: str | None = None,
) -> int:
    """Store a :func:`fit` result in ``<schema>.transformer_charger_mix``.

    Creates the schema and table when missing (primary key grid_id,
    transformer_id, window_name, mode, charger_type; plus ``fitted_at``,
    ``coincidence_factor`` and ``basis``); an older table without the last
    two gets them added. In one transaction, every stored row of a
    (grid_id, transformer_id, window_name, mode) group present in ``frame`` is
    deleted, then ``frame``'s rows are inserted: a group always holds exactly
    one run's mix (no stale charger types of an earlier run). Other groups
    are left alone. Commits.

    Parameters
    ----------
    conn : psycopg.Connection
        Connection to the database.
    frame : pandas.DataFrame
        A :func:`fit` result (columns :data:`OUTPUT_COLUMNS`).
    schema : str
        Schema of the table.
    coincidence_factor, basis : optional
        The coincidence factor and budget basis the fit assumed, stored with
        each row. Needed unless ``frame`` has columns of that name.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    SchemaError
        When ``frame`` lacks a column of :data:`OUTPUT_COLUMNS`.
    ConfigError
        When ``coincidence_factor`` or ``basis`` is neither given nor a column.
    """
    missing = [c for c in OUTPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"fit result lacks column(s) {', '.join(missing)}")
    data = frame[list(OUTPUT_COLUMNS)].copy()
    for column, given in (("coincidence_factor", coincidence_factor), ("basis", basis)):
        if given is not None:
            data[column] = given
        elif column in frame.columns:
            data[column] = frame[column].to_numpy()
        else:
            raise ConfigError(
                f"write_mix needs {column}= (what the fit assumed), e.g. "
                "write_mix(conn, mixes, coincidence_factor=0.8, basis='firm')"
            )
    all_columns = (*OUTPUT_COLUMNS, *PARAMETER_COLUMNS)
    table = sql.Identifier(schema, "transformer_charger_mix")
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in all_columns)
    keys = ("grid_id", "transformer_id", "window_name", "mode", "charger_type")
    group_keys = keys[:-1]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
        for c in (*all_columns, "fitted_at")
        if c not in keys
    )
    insert = sql.SQL(
        "insert into {table} ({columns}) values ({values}) "
        "on conflict ({keys}) do update set {updates}"
    ).format(
        table=table,
        columns=columns,
        values=sql.SQL(", ").join(sql.Placeholder() * len(all_columns)),
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in keys),
        updates=updates,
    )
    delete = sql.SQL(
        "delete from {table} where ({keys}) in (select * from unnest({arrays}))"
    ).format(
        table=table,
        keys=sql.SQL(", ").join(sql.Identifier(c) for c in group_keys),
        arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in group_keys),
    )
    rows = [
        tuple(None if _is_missing(v) else _plain(v) for v in row)
        for row in data[list(all_columns)].itertuples(index=False, name=None)
    ]
    groups = list(dict.fromkeys(tuple(str(v) for v in row[:4]) for row in rows))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(schema))
        )
        cur.execute(sql.SQL(_MIX_DDL).format(table=table))
        cur.execute(sql.SQL(_MIX_UPGRADE).format(table=table))
        if groups:
            cur.execute(delete, [list(column) for column in zip(*groups, strict=True)])
        if rows:
            cur.executemany(insert, rows)
    if not conn.autocommit:
        conn.commit()
    return len(rows)


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
