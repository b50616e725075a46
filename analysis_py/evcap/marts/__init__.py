"""Every SQL read of evcap's marts, in one place.

:mod:`~evcap.marts.tables` reads whole marts (optionally some transformers of
one grid); :mod:`~evcap.marts.series` runs the aggregating queries behind the
charts (binned headroom, quantiles, load with chargers);
:mod:`~evcap.marts.checks` checks that asked-for transformers, grids and
names exist. The mix, the plots,
the report and the thermal fit read through these functions only; identifiers
are quoted with :mod:`psycopg.sql` and filter values are always query
parameters.
"""

from evcap.marts.checks import check_known_name, check_transformers
from evcap.marts.series import (
    BINS,
    MAX_ROWS,
    Bin,
    BinnedSeries,
    By,
    Quantiles,
    choose_bin,
    query_headroom_quantiles,
    query_headroom_series,
    query_load_with_chargers,
)
from evcap.marts.tables import (
    MARTS,
    known_grids,
    mart_exists,
    read_data_issues,
    read_mart,
    read_seed_table,
)

__all__ = [
    "BINS",
    "MARTS",
    "MAX_ROWS",
    "Bin",
    "BinnedSeries",
    "By",
    "Quantiles",
    "check_known_name",
    "check_transformers",
    "choose_bin",
    "known_grids",
    "mart_exists",
    "query_headroom_quantiles",
    "query_headroom_series",
    "query_load_with_chargers",
    "read_data_issues",
    "read_mart",
    "read_seed_table",
]
