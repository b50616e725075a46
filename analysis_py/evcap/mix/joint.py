"""Joint mode: several transformers under their common upstream transformers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from evcap.errors import (
    ConfigError,
)
from evcap.mix.chargers import ChargerType
from evcap.mix.exact import capacity_units
from evcap.mix.modes import _compat_reason, _Fit, _fit_site
from evcap.mix.options import Objective
from evcap.mix.sites import _Site
from evcap.mix.solver import MILP_SAFE_INTEGER, _InfeasibleError, _milp, solve_max_power
from evcap.mix.values import _or


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
