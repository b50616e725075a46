"""Topology of a synthetic grid, built as arrays.

One ``Substation`` per grid feeds HV/MV substation transformers (tens of MVA)
→ busbar → feeder breakers → ``ACLineSegment``/``Switch`` chains → MV/LV
distribution transformers (10-750 kVA) → service lines → meters. One feeder
of a larger grid carries an MV/MV step-down transformer feeding its own
sub-feeder, and one large 600 V pad-mount feeds commercial meters directly
*and* two child 'LV/LV' transformers (600 V → 208 V).

The skeleton (a few elements per service group) is walked in Python with
pre-drawn random numbers; the service lines and meters (most of the
elements) are built as whole arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from evcap.demo.spec import (
    GRID_CENTRES,
    HVMV_KVA,
    LVLV_KVA,
    MVMV_KVA,
    PAD_KVA,
    POLE_KVA,
    FloatArray,
    IntArray,
)

__all__ = ["Topology", "build_topology"]

_M_PER_DEG = 111_320.0


@dataclass
class Topology:
    """Elements, transformers and meters of one grid (parallel columns).

    Element columns are in creation order; ``upstream`` is an element index
    (-1: none) unless ``upstream_override`` names an id (injected defects).
    Transformer and meter columns refer to elements by index and to
    transformers by row (-1: none).
    """

    ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    upstream: list[int] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    phases: list[str | None] = field(default_factory=list)
    underground: list[bool] = field(default_factory=list)
    customer_type: list[str | None] = field(default_factory=list)
    switch_open: list[bool | None] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)
    upstream_override: dict[int, str | None] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    # transformers
    tx_element: list[int] = field(default_factory=list)
    tx_level: list[str] = field(default_factory=list)
    tx_primary_v: list[int] = field(default_factory=list)
    tx_secondary_v: list[int] = field(default_factory=list)
    tx_installation: list[str] = field(default_factory=list)
    tx_sizes: list[tuple[float, ...]] = field(default_factory=list)
    tx_parent: list[int] = field(default_factory=list)
    tx_depth: list[int] = field(default_factory=list)
    # meters (arrays, set by _add_meters)
    meter_element: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    meter_tx: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    meter_customer: npt.NDArray[np.object_] = field(
        default_factory=lambda: np.zeros(0, object)
    )
    meter_phases: npt.NDArray[np.object_] = field(
        default_factory=lambda: np.zeros(0, object)
    )
    meter_apartment: npt.NDArray[np.bool_] = field(
        default_factory=lambda: np.zeros(0, bool)
    )

    def next_id(self, prefix: str, width: int) -> str:
        """The next element id with ``prefix`` (``TX-0001``, ...)."""
        k = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = k
        return f"{prefix}-{k:0{width}d}"

    def add(
        self,
        prefix: str,
        width: int,
        type_: str,
        upstream: int,
        lat: float,
        lon: float,
        *,
        phases: str | None = None,
        underground: bool = False,
        meta: dict[str, Any] | None = None,
        switch_open: bool | None = None,
    ) -> int:
        """Append one element; return its index."""
        self.ids.append(self.next_id(prefix, width))
        self.types.append(type_)
        self.upstream.append(upstream)
        self.lat.append(lat)
        self.lon.append(lon)
        self.phases.append(phases)
        self.underground.append(underground)
        self.customer_type.append(None)
        self.switch_open.append(switch_open)
        self.meta.append({} if meta is None else meta)
        return len(self.ids) - 1


def offset(
    lat: FloatArray, lon: FloatArray, north_m: FloatArray, east_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points ``north_m``/``east_m`` metres from (lat, lon), rounded to 1e-6°."""
    dlat = north_m / _M_PER_DEG
    dlon = east_m / (_M_PER_DEG * np.cos(np.radians(lat)))
    return np.round(lat + dlat, 6), np.round(lon + dlon, 6)


def distance_m(
    lat0: FloatArray, lon0: FloatArray, lat: FloatArray, lon: FloatArray
) -> FloatArray:
    """Planar distance (m) between points (short distances)."""
    north = (lat - lat0) * _M_PER_DEG
    east = (lon - lon0) * _M_PER_DEG * np.cos(np.radians(lat))
    return np.asarray(np.hypot(north, east), dtype=np.float64)


class _Skeleton:
    """Walks feeders in Python; every random number comes from one stream."""

    def __init__(self, topo: Topology, rng: np.random.Generator):
        self.t = topo
        self.rng = rng
        self._u = rng.random(4096)
        self._k = 0
        # service groups whose meters are added as arrays afterwards:
        # (bus element, transformer row, customer type, meters, apartment,
        #  underground, phases or -1, cycle offset)
        self.runs: list[tuple[int, int, str, int, bool, bool, str, int]] = []

    def u(self, low: float = 0.0, high: float = 1.0) -> float:
        if self._k == len(self._u):
            self._u = self.rng.random(4096)
            self._k = 0
        x = float(self._u[self._k])
        self._k += 1
        return low + (high - low) * x

    def near(self, idx: int, metres: float) -> tuple[float, float, float]:
        """A point about ``metres`` from element ``idx``, and its distance."""
        lat0, lon0 = self.t.lat[idx], self.t.lon[idx]
        angle = self.u(0.0, 2 * math.pi)
        dist = metres * self.u(0.6, 1.4)
        lat = round(lat0 + dist * math.cos(angle) / _M_PER_DEG, 6)
        lon = round(
            lon0 + dist * math.sin(angle) / (_M_PER_DEG * math.cos(math.radians(lat0))),
            6,
        )
        north = (lat - lat0) * _M_PER_DEG
        east = (lon - lon0) * _M_PER_DEG * math.cos(math.radians(lat))
        return lat, lon, math.hypot(north, east)

    def line(
        self, upstream: int, metres: float, phases: str, underground: bool, kind: str
    ) -> int:
        lat, lon, length = self.near(upstream, metres)
        return self.t.add(
            "LN", 5, "ACLineSegment", upstream, lat, lon, phases=phases,
            underground=underground,
            meta={"length_m": round(length, 1), "line_kind": kind},
        )  # fmt: skip

    def switch(self, upstream: int, kind: str, phases: str, open_: bool = False) -> int:
        lat, lon, _ = self.near(upstream, 5.0)
        return self.t.add(
            "SW", 4, "Switch", upstream, lat, lon, phases=phases, switch_open=open_,
            meta={"switch_type": kind, "normal_open": open_},
        )  # fmt: skip

    def transformer(
        self,
        upstream: int,
        level: str,
        phases: str,
        primary_v: int,
        secondary_v: int,
        installation: str,
        sizes: tuple[float, ...],
        parent: int,
        depth: int,
    ) -> int:
        """Add a transformer element; return its transformer row."""
        lat, lon, _ = self.near(upstream, 8.0)
        t = self.t
        el = t.add(
            "TX", 4, "Transformer", upstream, lat, lon, phases=phases,
            underground=installation == "pad",
        )  # fmt: skip
        t.tx_element.append(el)
        t.tx_level.append(level)
        t.tx_primary_v.append(primary_v)
        t.tx_secondary_v.append(secondary_v)
        t.tx_installation.append(installation)
        t.tx_sizes.append(sizes)
        t.tx_parent.append(parent)
        t.tx_depth.append(depth)
        return len(t.tx_element) - 1

    def group(
        self, kind: str, size: int, up: int, parent: int, depth: int, sub: bool
    ) -> None:
        """One distribution transformer (or the nested block) below ``up``."""
        mv3, mv1 = (12470, 7200) if sub else (25000, 14400)
        runs = self.runs
        if kind == "pole":
            phase = "ABC"[min(2, int(self.u() * 3))]
            secondary = 240 if self.u() < 0.85 else 120
            tx = self.transformer(
                up, "MV/LV", phase, mv1, secondary, "pole", POLE_KVA, parent, depth
            )
            bus = self.t.tx_element[tx]
            runs.append((bus, tx, "Residential", size, False, False, phase, 0))
            return
        if kind in ("pad_res", "pad_com"):
            secondary = 208
            if kind == "pad_com":
                r = self.u()
                secondary = (
                    208 if r < 0.5 else 347 if r < 0.7 else 600 if r < 0.95 else 400
                )
            tx = self.transformer(
                up, "MV/LV", "ABC", mv3, secondary, "pad", PAD_KVA, parent, depth
            )
            bus = self.line(self.t.tx_element[tx], 30.0 if kind == "pad_res" else 20.0,
                            "ABC", True, "secondary")  # fmt: skip
            if kind == "pad_res":
                runs.append((bus, tx, "Residential", size, True, True, "", 0))
            else:
                runs.append((bus, tx, "Commercial", size, False, True, "ABC", 0))
            return
        # nested: a 600 V pad-mount feeding commercial meters directly and two
        # 600 V -> 208 V building transformers (commercial + apartments).
        top = self.transformer(
            up, "MV/LV", "ABC", mv3, 600, "pad", PAD_KVA, parent, depth
        )
        top_el = self.t.tx_element[top]
        bus = self.line(top_el, 15.0, "ABC", True, "secondary")
        direct = min(2, size)
        child_com = min(2, size - direct)
        runs.append((bus, top, "Commercial", direct, False, True, "ABC", 0))
        for child_index, (ctype, n_child) in enumerate(
            (("Commercial", child_com), ("Residential", size - direct - child_com))
        ):
            if n_child == 0:
                continue
            feeder = self.line(top_el, 20.0, "ABC", True, "secondary")
            child = self.transformer(
                feeder, "LV/LV", "ABC", 600, 208, "pad", LVLV_KVA, top, depth + 1
            )
            cbus = self.line(self.t.tx_element[child], 10.0, "ABC", True, "secondary")
            if ctype == "Commercial":
                runs.append((cbus, child, ctype, n_child, False, True, "ABC", 0))
            else:
                runs.append((cbus, child, ctype, n_child, True, True, "", child_index))

    def feeder(
        self,
        head: int,
        groups: list[tuple[str, int]],
        parent: int,
        depth: int,
        heading: float,
        sub: bool,
    ) -> int:
        """Backbone from ``head`` with a tap per group; return its end."""
        t = self.t
        segment = head
        for j, (kind, size) in enumerate(groups):
            if j % 2 == 0:
                if j > 0 and j % 10 == 0:
                    segment = self.switch(segment, "sectionalizer", "ABC")
                step = self.u(150.0, 400.0)
                angle = heading + self.u(-0.4, 0.4)
                lat0 = t.lat[segment]
                lat = round(lat0 + step * math.cos(angle) / _M_PER_DEG, 6)
                lon = round(
                    t.lon[segment]
                    + step
                    * math.sin(angle)
                    / (_M_PER_DEG * math.cos(math.radians(lat0))),
                    6,
                )
                segment = t.add(
                    "LN", 5, "ACLineSegment", segment, lat, lon, phases="ABC",
                    underground=sub,
                    meta={"length_m": round(step, 1), "line_kind": "primary"},
                )  # fmt: skip
            tap = self.line(
                segment, 60.0, "ABC" if kind != "pole" else "A", False, "tap"
            )
            if self.u() < 0.35:
                tap = self.switch(tap, "fuse", t.phases[tap] or "ABC")
            self.group(kind, size, tap, parent, depth, sub)
        if segment == head:
            segment = self.line(head, 100.0, "ABC", sub, "primary")
        return segment


def plan_groups(n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Split ``n`` meters into service groups (transformer kind, meters)."""
    first: list[tuple[str, int]] = [("nested", 8)] if n >= 12 else []
    remaining = n - 8 * len(first)
    r = rng.random(remaining + 1)
    pole = rng.integers(2, 11, remaining + 1)
    pad_res = rng.integers(6, 21, remaining + 1)
    pad_com = rng.integers(1, 4, remaining + 1)
    kind = np.where(r < 0.66, 0, np.where(r < 0.80, 1, 2))
    size = np.choose(kind, [pole, pad_res, pad_com])
    ends = np.cumsum(size)
    k = int(np.searchsorted(ends, remaining)) + 1 if remaining > 0 else 0
    size = size[:k].copy()
    if k:
        size[-1] -= int(ends[k - 1]) - remaining
    names = ("pole", "pad_res", "pad_com")
    groups = first + [
        (names[int(c)], int(s)) for c, s in zip(kind[:k], size, strict=True)
    ]
    order = rng.permutation(len(groups))
    return [groups[i] for i in order]


def build_topology(grid_index: int, n_meters: int, seed: int) -> Topology:
    """The elements, transformers and meters of grid ``grid_index``."""
    rng = np.random.default_rng([seed, grid_index, 11])
    topo = Topology()
    sk = _Skeleton(topo, rng)
    groups = plan_groups(n_meters, rng)
    lat, lon = GRID_CENTRES[grid_index % len(GRID_CENTRES)]
    shift = grid_index // len(GRID_CENTRES)
    sub = topo.add(
        "SUB", 2, "Substation", -1, lat + 0.02 * shift, lon + 0.03 * shift,
        phases="ABC",
    )  # fmt: skip
    n_subtx = max(1, math.ceil(n_meters / 1500))
    n_feeders = max(1, math.ceil(len(groups) / 10))
    busbars = []
    for _ in range(n_subtx):
        stx = sk.transformer(
            sub, "HV/MV", "ABC", 138000, 25000, "substation", HVMV_KVA, -1, 0
        )
        b_lat, b_lon, _ = sk.near(topo.tx_element[stx], 20.0)
        bb = topo.add("BB", 2, "Busbar", topo.tx_element[stx], b_lat, b_lon)
        busbars.append((bb, stx))
    feeder_groups: list[list[tuple[str, int]]] = [[] for _ in range(n_feeders)]
    for i, g in enumerate(groups):
        feeder_groups[i * n_feeders // len(groups)].append(g)
    with_mvmv = n_meters >= 30
    for f, fgroups in enumerate(feeder_groups):
        busbar, stx = busbars[f % n_subtx]
        breaker = sk.switch(busbar, "breaker", "ABC")
        sub_groups: list[tuple[str, int]] = []
        if with_mvmv and f == n_feeders - 1 and len(fgroups) >= 3:
            n_sub = max(1, len(fgroups) // 3)
            sub_groups, fgroups = fgroups[-n_sub:], fgroups[:-n_sub]
        heading = sk.u(0.0, 2 * math.pi)
        last = sk.feeder(breaker, fgroups, stx, 1, heading, False)
        if sub_groups:
            tap = sk.line(last, 60.0, "ABC", False, "tap")
            mvmv = sk.transformer(
                tap, "MV/MV", "ABC", 25000, 12470, "pad", MVMV_KVA, stx, 1
            )
            sk.feeder(topo.tx_element[mvmv], sub_groups, mvmv, 2, heading + 0.8, True)
        sk.switch(last, "tie", "ABC", open_=True)
    _add_meters(topo, sk.runs, n_meters, rng)
    return topo


def _add_meters(
    topo: Topology,
    runs: list[tuple[int, int, str, int, bool, bool, str, int]],
    n_meters: int,
    rng: np.random.Generator,
) -> None:
    """A service line and a meter per meter of every run, as arrays."""
    counts = np.array([r[3] for r in runs], dtype=np.int64)
    run = np.repeat(np.arange(len(runs)), counts)
    n = len(run)
    within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    bus = np.array([r[0] for r in runs], dtype=np.int64)[run]
    fixed = np.array([r[6] for r in runs], dtype=object)[run]
    cycle = np.array([r[7] for r in runs], dtype=np.int64)[run]
    phases = np.where(
        fixed != "",
        fixed,
        np.array(["A", "B", "C"], dtype=object)[(within + cycle) % 3],
    )
    underground = np.array([r[5] for r in runs], dtype=bool)[run]
    lat_all = np.asarray(topo.lat)
    lon_all = np.asarray(topo.lon)
    u = rng.random((4, n))
    # service line ~25 m from its bus, meter ~10 m from the service line
    ang, dist = 2 * np.pi * u[0], 25.0 * (0.6 + 0.8 * u[1])
    s_lat, s_lon = offset(
        lat_all[bus], lon_all[bus], dist * np.cos(ang), dist * np.sin(ang)
    )
    length = np.round(distance_m(lat_all[bus], lon_all[bus], s_lat, s_lon), 1)
    ang, dist = 2 * np.pi * u[2], 10.0 * (0.6 + 0.8 * u[3])
    m_lat, m_lon = offset(s_lat, s_lon, dist * np.cos(ang), dist * np.sin(ang))
    first_line = topo.counters.get("LN", 0) + 1
    topo.counters["LN"] = first_line - 1 + n
    width = max(5, len(str(n_meters)))
    base = len(topo.ids)
    ph = phases.tolist()
    ug = underground.tolist()
    topo.ids += [f"LN-{k:05d}" for k in range(first_line, first_line + n)]
    topo.types += ["ACLineSegment"] * n
    topo.upstream += bus.tolist()
    topo.lat += s_lat.tolist()
    topo.lon += s_lon.tolist()
    topo.phases += ph
    topo.underground += ug
    topo.customer_type += [None] * n
    topo.switch_open += [None] * n
    topo.meta += [{"length_m": x, "line_kind": "service"} for x in length.tolist()]
    customer = np.array([r[2] for r in runs], dtype=object)[run]
    topo.counters["MTR"] = n
    topo.ids += [f"MTR-{k:0{width}d}" for k in range(1, n + 1)]
    topo.types += ["Meter"] * n
    topo.upstream += range(base, base + n)
    topo.lat += m_lat.tolist()
    topo.lon += m_lon.tolist()
    topo.phases += ph
    topo.underground += ug
    topo.customer_type += customer.tolist()
    topo.switch_open += [None] * n
    topo.meta += [{}] * n  # filled by the elements frame
    topo.meter_element = np.arange(base + n, base + 2 * n, dtype=np.int64)
    topo.meter_tx = np.array([r[1] for r in runs], dtype=np.int64)[run]
    topo.meter_customer = customer
    topo.meter_phases = phases
    topo.meter_apartment = np.array([r[4] for r in runs], dtype=bool)[run]
