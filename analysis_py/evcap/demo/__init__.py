"""Synthetic distribution grids in the shape of the Awesense EDM (``evcap demo-data``).

Every test and benchmark of evcap runs on these grids, so they look like a
real distribution network (DESIGN.md §1) and are fully deterministic from a
seed. The package, by job:

* :mod:`~evcap.demo.spec` — :class:`GridSpec` (what to build) and
  :class:`DemoGrid` (what was built), ids, constants;
* :mod:`~evcap.demo.topology` — substation → feeders → transformers →
  service lines → meters, as arrays;
* :mod:`~evcap.demo.profiles` — weather, load shapes, PV, EV charging;
* :mod:`~evcap.demo.grid` — :func:`build_grid`: meters, data sources,
  transformer ratings sized from the simulated peaks, EDM rows;
* :mod:`~evcap.demo.defects` — the defects of real data (``defects=True``);
* :mod:`~evcap.demo.readings` — readings a chunk of meters at a time;
* :mod:`~evcap.demo.loader` — :func:`load_grid` and the ``COPY`` path shared
  with :mod:`evcap.real_grids`.

Ids repeat across grids (both ``demo-north`` and ``demo-south`` have
``TX-0001``): real element ids are unique only within a grid.

The default demo year (local dates 2024-01-01 .. 2024-12-31 in
America/Vancouver) crosses both DST changes, 2024-03-10 (a 23-hour local day)
and 2024-11-03 (a 25-hour local day); readings are equally spaced in UTC.
"""

from evcap.demo.grid import build_grid
from evcap.demo.loader import LoadSummary, load_grid
from evcap.demo.readings import iter_reading_chunks, readings_frame
from evcap.demo.spec import (
    DISTRIBUTION_KVA_SIZES,
    SIZING_POWER_FACTOR,
    DemoGrid,
    GridSpec,
    grid_ids_for,
)

__all__ = [
    "DISTRIBUTION_KVA_SIZES",
    "SIZING_POWER_FACTOR",
    "DemoGrid",
    "GridSpec",
    "LoadSummary",
    "build_grid",
    "grid_ids_for",
    "iter_reading_chunks",
    "load_grid",
    "readings_frame",
]
