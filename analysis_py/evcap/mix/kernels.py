"""Exact integer subset-sum kernels behind the max-power mode.

A bitset of reachable sums when the budget is small in draw units, a reduced
search or a deterministic enumeration (bounded by :data:`ENUMERATION_LIMIT`
nodes) otherwise. Every kernel returns the canonical optimum: most power, then
fewest chargers, then the lexicographically largest count vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evcap.errors import (
    ConfigError,
)

BITSET_LIMIT_BITS = 1 << 26
"""Largest budget (in units of the gcd of the draws) solved by the exact
bitset search; larger ones go to the exact enumeration."""

ENUMERATION_LIMIT = 2_000_000
"""Nodes the exact enumeration may visit (a work limit, same on any machine);
beyond it the fit is a :class:`ConfigError` asking for rounder powers."""


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
