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

from evcap.mix.chargers import (
    ChargerType,
    default_charger_types_path,
    load_charger_types,
)
from evcap.mix.exact import (
    SINGLE_EPSILON,
    capacity_units,
    draw_kw,
    exact_units,
    single_count,
)
from evcap.mix.fitting import fit
from evcap.mix.kernels import BITSET_LIMIT_BITS, ENUMERATION_LIMIT
from evcap.mix.options import (
    CHARGER_COLUMNS,
    DIM_COLUMNS,
    HEADROOM_COLUMNS,
    MAX_LOW_VOLTAGE_V,
    MODES,
    OUTPUT_COLUMNS,
    Basis,
    Mode,
    Objective,
)
from evcap.mix.solver import (
    MILP_NODE_LIMIT,
    MILP_SAFE_INTEGER,
    apportion,
    solve_count_proportions,
    solve_max_power,
)
from evcap.mix.store import PARAMETER_COLUMNS, write_mix

__all__ = [
    "BITSET_LIMIT_BITS",
    "CHARGER_COLUMNS",
    "DIM_COLUMNS",
    "ENUMERATION_LIMIT",
    "HEADROOM_COLUMNS",
    "MAX_LOW_VOLTAGE_V",
    "MILP_NODE_LIMIT",
    "MILP_SAFE_INTEGER",
    "MODES",
    "OUTPUT_COLUMNS",
    "PARAMETER_COLUMNS",
    "SINGLE_EPSILON",
    "Basis",
    "ChargerType",
    "Mode",
    "Objective",
    "apportion",
    "capacity_units",
    "default_charger_types_path",
    "draw_kw",
    "exact_units",
    "fit",
    "load_charger_types",
    "single_count",
    "solve_count_proportions",
    "solve_max_power",
    "write_mix",
]
