"""A pandapower network in the shape of the Awesense EDM, as a utility GIS holds it.

Every bus, line, switch, transformer and external-grid connection becomes its
own ``grid_element`` row, so a meter sits many elements below its
transformer (bus → switch → line → switch → bus → ... → transformer), as in a
real GIS export. Loads become meters; static generators (PV, wind, ...) become
``PRODUCER`` sources on the meter of the only load at their bus, or on a
meter of their own.

Orientation (``upstream_grid_element_id``)
------------------------------------------
The network is oriented as a tree by a breadth-first search over its buses,
starting at the buses of its external grids (in index order), that crosses
only in-service lines and transformers and closed switches. Each bus is fed
by the branch the search reached it through first; the elements of that
branch (line-end switches, the line or transformer) are chained between the
two buses. Branches the search did not use (the branch with a normally-open
switch of a ring, the second line of a closed mesh, a parallel transformer
whose low-voltage bus was already reached) hang below the end the search
reached, leading with their closed elements: nothing is fed through them.

* Open switches are elements with ``switch_is_open = true`` and
  ``meta.normally_open = true``; the search never crosses them, so the
  elements beyond them point upstream the way the search found them.
* A closed mesh has no single upstream chain: the search keeps a spanning
  tree (fewest buses from the source; ties go to the branch listed first:
  bus-bus switches, then lines, then transformers, each by index) and the
  mesh's other branch hangs as a leaf.
* Parallel transformers (bus sections, each fed by its own transformer,
  joined by a closed coupler): each bus belongs to the transformer the search
  reached it through first, so in a substation with couplers on both sides
  each transformer keeps its own bus section and the feeders on it; the load
  is split by section, not shared as the currents would share it.
* Buses that no closed path reaches (unsupplied) keep no upstream element;
  meters there are orphans.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from evcap.demo.spec import ELEMENT_COLUMNS as _ELEMENT_COLUMNS
from evcap.errors import ConfigError

__all__ = ["EdmNetwork", "network_to_edm", "voltage_level"]

# the EDM grid_element columns, as the synthetic generator writes them
ELEMENT_COLUMNS = list(_ELEMENT_COLUMNS)

_LABELS = {
    "ext_grid": "Grid",
    "bus": "Bus",
    "line": "Line",
    "trafo": "Trafo",
    "trafo3w": "Trafo3w",
    "switch": "Switch",
    "load": "Load",
    "asymmetric_load": "Load",
    "sgen": "SGen",
    "asymmetric_sgen": "SGen",
}
_LOAD_TABLES = ("load", "asymmetric_load")
_SGEN_TABLES = ("sgen", "asymmetric_sgen")
# A customer type from a SimBench load profile name (its first letters).
_CUSTOMER_TYPES = (
    ("H", "Residential"),
    ("G", "Commercial"),
    ("L", "Agricultural"),
    ("WB", "Residential"),
    ("lv_", "Aggregated LV grid"),
    ("mv_", "Aggregated MV grid"),
)


@dataclass(frozen=True)
class EdmNetwork:
    """A network converted to EDM rows.

    Attributes
    ----------
    elements : pandas.DataFrame
        Rows of EDM ``grid_element`` (its columns; ``meta`` a dict,
        ``geometry`` WKT in EPSG:4326 or None).
    load_meters : pandas.DataFrame
        One row per in-service load: ``table`` ('load' or 'asymmetric_load'),
        ``index`` (pandapower index) and ``meter_id``.
    sgen_meters : pandas.DataFrame
        Same for in-service static generators (``sgen``, ``asymmetric_sgen``).
    meters : pandas.DataFrame
        One row per meter: ``meter_id``, ``phases``, ``customer_type``.
    ignored : dict of str to int
        In-service elements of tables evcap does not read (storage, gen, ...).
    """

    elements: pd.DataFrame
    load_meters: pd.DataFrame
    sgen_meters: pd.DataFrame
    meters: pd.DataFrame
    ignored: dict[str, int]


SERVICE_LIMIT_FACTOR = 3.0
"""A meter's service limit (meta.max_service_kw) is this many times the
largest rating of its loads and generators: the network's own sizing of the
connection, with the margin of a service fuse over the rated power. Only
large connections get one (above LARGE_SERVICE_KW); the others keep the dbt
var max_service_kw, as most meters in a utility's EDM would."""

LARGE_SERVICE_KW = 1000.0
"""evcap's default var max_service_kw: limits at or below it are not written."""


def _rated_kw(row: Any) -> float:
    """The rated power of a load or generator row, kW: the larger of p_mw and
    sn_mva (kVA taken as kW); 0 when neither is a positive number."""
    best = 0.0
    for column in ("p_mw", "sn_mva"):
        value: Any = row.get(column) if hasattr(row, "get") else None
        try:
            number = abs(float(value)) * 1000.0
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            best = max(best, number)
    return best


def _service_limit(rated_kw: float) -> dict[str, float]:
    """meta.max_service_kw for a meter whose loads/generators are rated
    ``rated_kw`` (kW); nothing when unknown or small (the dbt var applies). Large
    customers and MV-connected generators draw megawatts: without their own
    limit, evcap would reject their readings as implausible."""
    limit_kw = rated_kw * SERVICE_LIMIT_FACTOR
    if limit_kw <= LARGE_SERVICE_KW:
        return {}
    return {"max_service_kw": round(limit_kw, 3)}


def voltage_level(vn_hv_kv: float, vn_lv_kv: float) -> str:
    """'HV/MV', 'MV/LV', ... from a transformer's rated voltages (kV).

    LV is below 1 kV, MV below 60 kV, HV below 150 kV, EHV above.
    """

    def level(kv: float) -> str:
        if kv < 1.0:
            return "LV"
        if kv < 60.0:
            return "MV"
        if kv < 150.0:
            return "HV"
        return "EHV"

    return f"{level(vn_hv_kv)}/{level(vn_lv_kv)}"


def _voltage_text(kv: float, variant: int) -> str:
    """A voltage as utilities write it: '0.4 kV', '400', '400 V', '20 kV'."""
    volts = kv * 1000.0
    if kv >= 1.0:
        return f"{kv:g} kV" if variant % 2 == 0 else f"{volts:g}"
    return (f"{kv:g} kV", f"{volts:g}", f"{volts:g} V")[variant % 3]


def _rating(sn_mva: float) -> float | str:
    """A rating as found in EDM meta: a number of kVA, or a 'kVA' string."""
    kva = round(float(sn_mva) * 1000.0, 3)
    if kva >= 1000.0:
        return kva if kva != int(kva) else int(kva)
    return f"{kva:g} kVA"


def _table(net: Any, name: str) -> pd.DataFrame:
    if name not in net or not isinstance(net[name], pd.DataFrame):
        return pd.DataFrame()
    frame: pd.DataFrame = net[name]
    return frame


def _in_service(frame: pd.DataFrame) -> pd.DataFrame:
    if "in_service" not in frame.columns or frame.empty:
        return frame
    return frame[frame["in_service"].fillna(True).astype(bool)]


def _rows(frame: pd.DataFrame) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, row as a dict) of every row: iterrows without its cost."""
    if frame.empty:
        return
    yield from zip((_ix(i) for i in frame.index), frame.to_dict("records"), strict=True)


def _ix(value: object) -> int:
    """A pandapower table index (or bus number) as int."""
    return int(cast(Any, value))


def _name(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _make_ids(net: Any, tables: Iterable[str]) -> dict[tuple[str, int], str]:
    """Element id per (table, index): the name where unique, else 'Label index'."""
    rows: list[tuple[str, int, str | None]] = []
    for table in tables:
        frame = _table(net, table)
        names = (
            frame["name"].tolist() if "name" in frame.columns else [None] * len(frame)
        )
        for idx, raw in zip(frame.index, names, strict=True):
            rows.append((table, _ix(idx), _name(raw)))
    counts: dict[str, int] = {}
    for _, _, name in rows:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    ids: dict[tuple[str, int], str] = {}
    taken: set[str] = set()
    for table, idx, name in rows:
        candidate = name if name is not None and counts[name] == 1 else None
        if candidate is None:
            candidate = f"{_LABELS[table]} {idx}"
        base, n = candidate, 1
        while candidate in taken:
            n += 1
            candidate = f"{base} #{n}"
        taken.add(candidate)
        ids[(table, idx)] = candidate
    return ids


def _point(geo: object) -> tuple[float, float] | None:
    """(lon, lat) of a pandapower GeoJSON point, when it looks like WGS84."""
    if not isinstance(geo, str) or not geo.strip():
        return None
    try:
        parsed = json.loads(geo)
        lon, lat = (float(v) for v in parsed["coordinates"][:2])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return lon, lat
    return None


def _customer_type(profile: object) -> str:
    text = _name(profile)
    if text is None:
        return "Residential"
    for prefix, kind in _CUSTOMER_TYPES:
        if text.startswith(prefix):
            return kind
    return "Commercial"


def _asym_phases(row: dict[str, Any]) -> str:
    phases = "".join(
        p for p in "abc" if abs(float(row.get(f"p_{p}_mw", 0.0) or 0.0)) > 0
    ).upper()
    return phases or "ABC"


@dataclass
class _Edge:
    """A branch between two graph nodes: its elements in order from ``a`` to ``b``."""

    a: int
    b: int
    chain: list[str]
    closed: list[bool]  # per chain element: passable (closed, in service)

    @property
    def passable(self) -> bool:
        return all(self.closed)


def _orient(
    n_nodes: int,
    node_element: list[str],
    edges: list[_Edge],
    sources: list[tuple[str, int]],
) -> dict[str, str | None]:
    """Upstream element of every node and chain element (BFS from the sources)."""
    adjacency: list[list[int]] = [[] for _ in range(n_nodes)]
    for k, edge in enumerate(edges):
        if edge.passable:
            adjacency[edge.a].append(k)
            adjacency[edge.b].append(k)
    upstream: dict[str, str | None] = {}
    depth = [-1] * n_nodes
    queue: deque[int] = deque()
    for source_id, node in sources:
        upstream[source_id] = None
        if depth[node] < 0:
            depth[node] = 0
            upstream[node_element[node]] = source_id
            queue.append(node)
    used: set[int] = set()
    while queue:
        u = queue.popleft()
        for k in adjacency[u]:
            edge = edges[k]
            v = edge.b if edge.a == u else edge.a
            if depth[v] >= 0:
                continue
            depth[v] = depth[u] + 1
            used.add(k)
            chain = edge.chain if edge.a == u else edge.chain[::-1]
            prev = node_element[u]
            for element in chain:
                upstream[element] = prev
                prev = element
            upstream[node_element[v]] = prev
            queue.append(v)
    for k, edge in enumerate(edges):
        if k in used:
            continue
        options = []
        for start, chain, closed in (
            (edge.a, edge.chain, edge.closed),
            (edge.b, edge.chain[::-1], edge.closed[::-1]),
        ):
            if depth[start] < 0:
                continue
            prefix = next((i for i, ok in enumerate(closed) if not ok), len(closed))
            options.append((-prefix, depth[start], start, chain))
        if not options:
            for element in edge.chain:
                upstream.setdefault(element, None)
            continue
        _, _, start, chain = min(options, key=lambda o: (o[0], o[1]))
        prev = node_element[start]
        for element in chain:
            if element not in upstream:
                upstream[element] = prev
            prev = element
    for element in node_element:
        upstream.setdefault(element, None)
    return upstream


def network_to_edm(
    net: Any, grid_id: str, *, profile_of_load: pd.Series | None = None
) -> EdmNetwork:
    """Convert a pandapower network to EDM ``grid_element`` rows.

    Parameters
    ----------
    net : pandapower.pandapowerNet
        The network (not modified).
    grid_id : str
        The EDM grid id of every row.
    profile_of_load : pandas.Series, optional
        Load profile name by ``load`` index (SimBench), used for the
        meters' ``customer_type``.

    Returns
    -------
    EdmNetwork

    Raises
    ------
    ConfigError
        When the network has no external grid (nothing to orient it from) or
        no in-service load.
    """
    tables = (
        "ext_grid",
        "bus",
        "line",
        "trafo",
        "trafo3w",
        "switch",
        *_LOAD_TABLES,
        *_SGEN_TABLES,
    )
    ids = _make_ids(net, tables)
    bus = _table(net, "bus")
    ext_grid = _in_service(_table(net, "ext_grid"))
    if ext_grid.empty:
        raise ConfigError(
            "the network has no in-service external grid (ext_grid): evcap orients "
            "the grid from it and cannot place any element"
        )
    bus_in_service = (
        bus["in_service"].fillna(True).astype(bool)
        if "in_service" in bus.columns
        else pd.Series(True, index=bus.index)
    )
    in_service_bus = {
        _ix(b): bool(v) for b, v in zip(bus.index, bus_in_service, strict=True)
    }
    node_of_bus = {_ix(b): i for i, b in enumerate(bus.index)}
    node_element = [ids[("bus", _ix(b))] for b in bus.index]
    line = _table(net, "line")
    trafo = _table(net, "trafo")
    trafo3w = _table(net, "trafo3w")
    switch = _table(net, "switch")
    # trafo3w: an extra graph node (the transformer itself) joined to its buses.
    t3_node: dict[int, int] = {}
    for idx in trafo3w.index:
        t3_node[_ix(idx)] = len(node_element)
        node_element.append(ids[("trafo3w", _ix(idx))])
    end_switches: dict[tuple[str, int, int], list[tuple[str, bool]]] = {}
    for idx, row in _rows(switch):
        et = str(row["et"])
        if et in ("l", "t", "t3"):
            key = (et, int(row["element"]), int(row["bus"]))
            end_switches.setdefault(key, []).append(
                (ids[("switch", _ix(idx))], bool(row["closed"]))
            )

    def branch(
        et: str, idx: int, bus_a: int, bus_b: int, element: str, ok: bool
    ) -> _Edge:
        at_a = end_switches.get((et, idx, bus_a), [])
        at_b = end_switches.get((et, idx, bus_b), [])
        chain = [s for s, _ in at_a] + [element] + [s for s, _ in at_b[::-1]]
        closed = [c for _, c in at_a] + [ok] + [c for _, c in at_b[::-1]]
        closed = [c and in_service_bus[bus_a] and in_service_bus[bus_b] for c in closed]
        return _Edge(node_of_bus[bus_a], node_of_bus[bus_b], chain, closed)

    edges: list[_Edge] = []
    for idx, row in _rows(switch[switch["et"] == "b"]):
        edges.append(
            _Edge(
                node_of_bus[int(row["bus"])],
                node_of_bus[int(row["element"])],
                [ids[("switch", _ix(idx))]],
                [bool(row["closed"])],
            )
        )
    for idx, row in _rows(line):
        ok = bool(row.get("in_service", True))
        edges.append(
            branch(
                "l",
                _ix(idx),
                int(row["from_bus"]),
                int(row["to_bus"]),
                ids[("line", _ix(idx))],
                ok,
            )
        )
    for idx, row in _rows(trafo):
        ok = bool(row.get("in_service", True))
        edges.append(
            branch(
                "t",
                _ix(idx),
                int(row["hv_bus"]),
                int(row["lv_bus"]),
                ids[("trafo", _ix(idx))],
                ok,
            )
        )
    for idx, row in _rows(trafo3w):
        ok = bool(row.get("in_service", True))
        node = t3_node[_ix(idx)]
        for side, b in (
            ("hv", row["hv_bus"]),
            ("mv", row["mv_bus"]),
            ("lv", row["lv_bus"]),
        ):
            sw = end_switches.get(("t3", _ix(idx), _ix(b)), [])
            chain = [s for s, _ in sw]
            closed = [c and ok for _, c in sw]
            edge = _Edge(node_of_bus[_ix(b)], node, chain, closed)
            if not chain and not ok:
                edge.closed = [False]
                edge.chain = []
            if side == "hv":
                edges.append(edge)
            else:
                edges.append(_Edge(node, edge.a, chain[::-1], closed[::-1]))
    sources = [
        (ids[("ext_grid", _ix(idx))], node_of_bus[int(row["bus"])])
        for idx, row in _rows(ext_grid.sort_index())
    ]
    upstream = _orient(len(node_element), node_element, edges, sources)
    # Switches on an element evcap does not model (e.g. a bus-load switch).
    for idx in switch.index:
        upstream.setdefault(ids[("switch", _ix(idx))], None)

    geo = bus["geo"] if "geo" in bus.columns else pd.Series(None, index=bus.index)
    point_of_bus = {_ix(b): _point(g) for b, g in zip(bus.index, geo, strict=True)}
    rows: list[dict[str, Any]] = []

    def add(
        element_id: str,
        kind: str,
        *,
        meta: dict[str, Any],
        point: tuple[float, float] | None = None,
        phases: str = "ABC",
        customer_type: str | None = None,
        underground: bool | None = None,
        is_open: bool | None = None,
        producer: bool = False,
        consumer: bool = False,
        up: str | None = None,
    ) -> None:
        rows.append(
            {
                "grid_id": grid_id,
                "grid_element_id": element_id,
                "type": kind,
                "customer_type": customer_type,
                "phases": phases,
                "is_underground": underground,
                "is_producer": producer,
                "is_consumer": consumer,
                "is_switchable": kind == "Switch",
                "switch_is_open": is_open,
                "terminal1_cn": None,
                "terminal2_cn": None,
                "power_flow_direction": None if kind == "Meter" else "downstream",
                "upstream_grid_element_id": up
                if kind == "Meter"
                else upstream.get(element_id),
                "geometry": None if point is None else f"POINT({point[0]} {point[1]})",
                "meta": meta,
            }
        )

    for idx, row in _rows(_table(net, "ext_grid")):
        b = int(row["bus"])
        add(
            ids[("ext_grid", _ix(idx))],
            "Substation",
            meta={"pandapower_table": "ext_grid", "pandapower_index": _ix(idx)},
            point=point_of_bus.get(b),
        )
    for idx, row in _rows(bus):
        b = _ix(idx)
        add(
            ids[("bus", b)],
            "Busbar",
            meta={
                "pandapower_table": "bus",
                "pandapower_index": b,
                "nominal_voltage_kv": float(row["vn_kv"]),
            },
            point=point_of_bus.get(b),
        )
    for idx, row in _rows(line):
        a, b = (
            point_of_bus.get(int(row["from_bus"])),
            point_of_bus.get(int(row["to_bus"])),
        )
        line_meta: dict[str, Any] = {
            "pandapower_table": "line",
            "pandapower_index": _ix(idx),
            "length_km": float(row["length_km"]),
            "std_type": _name(row.get("std_type")),
        }
        if not bool(row.get("in_service", True)):
            line_meta["in_service"] = False
        element = ids[("line", _ix(idx))]
        rows_before = len(rows)
        add(
            element,
            "ACLineSegment",
            meta=line_meta,
            underground=str(row.get("type", "")) == "cs",
        )
        if a is not None and b is not None:
            rows[rows_before]["geometry"] = f"LINESTRING({a[0]} {a[1]}, {b[0]} {b[1]})"
    for idx, row in _rows(switch):
        is_closed = bool(row["closed"])
        switch_meta: dict[str, Any] = {
            "pandapower_table": "switch",
            "pandapower_index": _ix(idx),
            "switch_type": _name(row.get("type")),
            "normally_open": not is_closed,
        }
        add(
            ids[("switch", _ix(idx))],
            "Switch",
            meta=switch_meta,
            point=point_of_bus.get(int(row["bus"])),
            is_open=not is_closed,
        )
    for table, hv_col, lv_col in (
        ("trafo", "vn_hv_kv", "vn_lv_kv"),
        ("trafo3w", "vn_hv_kv", "vn_lv_kv"),
    ):
        frame = _table(net, table)
        for idx, row in _rows(frame):
            hv, lv = float(row[hv_col]), float(row[lv_col])
            sn = float(row["sn_hv_mva"] if table == "trafo3w" else row["sn_mva"])
            point = point_of_bus.get(int(row["lv_bus"]))
            meta: dict[str, Any] = {
                "pandapower_table": table,
                "pandapower_index": _ix(idx),
                "rating_kva": _rating(sn),
                "primary_voltage": _voltage_text(hv, _ix(idx)),
                "secondary_voltage": _voltage_text(lv, _ix(idx)),
                "voltage_level": voltage_level(hv, lv),
                "std_type": _name(row.get("std_type")),
                "installation_type": "substation"
                if hv >= 60.0
                else "secondary substation",
            }
            if point is not None:
                meta["longitude"], meta["latitude"] = point
            add(ids[(table, _ix(idx))], "Transformer", meta=meta, point=point)

    # Meters: one per load; a generator joins the only load meter of its bus.
    load_rows, sgen_rows, meter_rows = [], [], []
    meters_at_bus: dict[int, list[str]] = {}
    meter_has_sgen: set[str] = set()
    meter_info: dict[str, dict[str, Any]] = {}
    for table in _LOAD_TABLES:
        frame = _in_service(_table(net, table))
        for idx, row in _rows(frame):
            meter_id = ids[(table, _ix(idx))]
            b = int(row["bus"])
            phases = _asym_phases(row) if table == "asymmetric_load" else "ABC"
            profile = (
                profile_of_load.get(idx)
                if profile_of_load is not None and table == "load"
                else None
            )
            meter_info[meter_id] = {
                "bus": b,
                "phases": phases,
                "customer_type": _customer_type(profile),
                "loads": [f"{table} {idx}"],
                "sgens": [],
                "rated_kw": _rated_kw(row),
            }
            meters_at_bus.setdefault(b, []).append(meter_id)
            load_rows.append({"table": table, "index": _ix(idx), "meter_id": meter_id})
    if not load_rows:
        raise ConfigError("the network has no in-service load: nothing to meter")
    for table in _SGEN_TABLES:
        frame = _in_service(_table(net, table))
        for idx, row in _rows(frame):
            b = int(row["bus"])
            at_bus = meters_at_bus.get(b, [])
            if len(at_bus) == 1 and at_bus[0] not in meter_has_sgen:
                meter_id = at_bus[0]
            else:
                meter_id = ids[(table, _ix(idx))]
                phases = _asym_phases(row) if table == "asymmetric_sgen" else "ABC"
                meter_info[meter_id] = {
                    "bus": b,
                    "phases": phases,
                    "customer_type": "Generation",
                    "loads": [],
                    "sgens": [],
                    "rated_kw": 0.0,
                }
            meter_has_sgen.add(meter_id)
            meter_info[meter_id]["sgens"].append(f"{table} {idx}")
            meter_info[meter_id]["rated_kw"] = max(
                float(meter_info[meter_id]["rated_kw"]), _rated_kw(row)
            )
            sgen_rows.append({"table": table, "index": _ix(idx), "meter_id": meter_id})
    for meter_id, info in meter_info.items():
        b = int(info["bus"])
        add(
            meter_id,
            "Meter",
            meta={
                "pandapower_loads": info["loads"],
                "pandapower_sgens": info["sgens"],
                **_service_limit(float(info["rated_kw"])),
            },
            point=point_of_bus.get(b),
            phases=str(info["phases"]),
            customer_type=str(info["customer_type"]),
            consumer=bool(info["loads"]),
            producer=bool(info["sgens"]),
            up=ids[("bus", b)],
        )
        meter_rows.append(
            {
                "meter_id": meter_id,
                "phases": info["phases"],
                "customer_type": info["customer_type"],
            }
        )
    ignored = {
        table: len(_in_service(_table(net, table)))
        for table in ("storage", "gen", "shunt", "ward", "xward", "dcline", "impedance")
        if len(_in_service(_table(net, table)))
    }
    return EdmNetwork(
        elements=pd.DataFrame(rows, columns=ELEMENT_COLUMNS),
        load_meters=pd.DataFrame(load_rows, columns=["table", "index", "meter_id"]),
        sgen_meters=pd.DataFrame(sgen_rows, columns=["table", "index", "meter_id"]),
        meters=pd.DataFrame(
            meter_rows, columns=["meter_id", "phases", "customer_type"]
        ),
        ignored=ignored,
    )
