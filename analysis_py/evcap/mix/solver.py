"""Mix solvers on one budget: max-power, count proportions, and the HiGHS MILP."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

from evcap.errors import (
    ConfigError,
    InvalidChargerError,
)
from evcap.mix.kernels import _best_subset_sum

MILP_NODE_LIMIT = 200_000
"""Branch-and-bound nodes HiGHS may use per joint group (a work limit)."""

MILP_SAFE_INTEGER = 1 << 31
"""Largest scaled weight or capacity given to HiGHS: its float arithmetic is
exact on integers this size, and every solution is re-checked in integers."""

_MILP_OPTIONS: dict[str, Any] = {"mip_rel_gap": 0.0, "presolve": True}


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
