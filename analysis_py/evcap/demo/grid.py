"""Build a synthetic grid: topology, meters, data sources, sized transformers.

Ratings are sized from each transformer's own simulated coincident peak, so
that some transformers are nearly full and others have plenty of headroom;
transformer ``meta`` carries the keys and the mess of real data (numbers and
JSON strings mixed, ``parent_transformer_id`` on some grids, sometimes
wrong). Everything is built as whole columns (numpy / pandas), so the cost
is linear in meters with a small constant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from evcap.demo.defects import (
    dst_transitions,
    fill_planned_values,
    inject_meta_defects,
    inject_topology_defects,
)
from evcap.demo.profiles import TimeAxis, meter_params, simulate, time_axis
from evcap.demo.spec import (
    DEFECT_COLUMNS,
    ELEMENT_COLUMNS,
    SIZING_POWER_FACTOR,
    SOURCE_COLUMNS,
    DemoGrid,
    GridSpec,
    IntArray,
    default_chunk,
    source_uuids,
)
from evcap.demo.topology import Topology, build_topology

__all__ = ["build_grid"]


def build_grid(spec: GridSpec | None = None) -> DemoGrid:
    """Build a synthetic grid (topology, metadata, data sources; no readings).

    Ratings are sized from a simulation of the readings, so this costs about
    as much compute as generating them once (no memory for them).

    With ``spec.defects`` the first grid gets, deterministically, and
    recorded in :attr:`DemoGrid.defects` (``kind``):

    * ``rating_missing`` — a transformer without ``meta.rating_kva``;
    * ``rating_unparseable`` — ``rating_kva`` as garbage text, e.g. "fifty";
    * ``rating_as_string`` — every transformer (any grid) whose rating is a
      JSON string such as "50" (at least two);
    * ``orphan_missing_upstream`` / ``orphan_null_upstream`` — a meter whose
      upstream element does not exist / is null;
    * ``topology_cycle`` — two line segments pointing at each other with a
      meter below them (``detail`` names the segments);
    * ``pv_exceeds_load`` — a meter with a large PV system and a tiny load: its
      net load is negative for hours around noon;
    * ``reading_gap`` — three consumer sources miss 4, 6 and 8 hours of rows;
    * ``duplicate_exact`` — one reading delivered twice, identical;
    * ``late_correction`` — one reading delivered again 36 h later with a
      different value; ``value`` is the superseded first value,
      ``expected_value`` the correction (the truth);
    * ``negative_reading`` — one negative consumer reading;
    * ``dst_transition`` — each DST change inside the date range (not
      injected: the UTC instant it happens, in ``ts_start``).

    Parameters
    ----------
    spec : GridSpec, optional
        What to build (default ``GridSpec()``: 80 meters, a year, hourly).

    Returns
    -------
    DemoGrid
    """
    spec = spec or GridSpec()
    axis = time_axis(spec)
    element_frames, meter_frames, tx_frames, source_frames = [], [], [], []
    defects: list[dict[str, Any]] = []
    for gi, grid_id in enumerate(spec.grid_ids):
        topo = build_topology(gi, spec.meters, spec.seed)
        meters = _meters_frame(topo, grid_id, spec, gi)
        planned: list[dict[str, Any]] = []
        if spec.defects and gi == 0:
            planned = inject_topology_defects(
                topo, meters, spec, axis, defects, grid_id
            )
        sources = _sources_frame(meters, grid_id, spec, gi)
        tx = _size_transformers(topo, spec, axis, meters, gi, grid_id)
        fill_planned_values(spec, axis, meters, gi, planned)
        element_frames.append(_elements_frame(topo, grid_id, tx, meters, spec, gi))
        meter_frames.append(meters)
        tx_frames.append(tx)
        source_frames.append(sources)
    elements = pd.concat(element_frames, ignore_index=True)
    transformers = pd.concat(tx_frames, ignore_index=True)
    if spec.defects:
        inject_meta_defects(elements, transformers, spec, defects)
        defects.extend(dst_transitions(spec))
    grids = pd.DataFrame(
        {
            "grid_id": list(spec.grid_ids),
            "description": [
                f"evcap synthetic grid {g} (seed {spec.seed}, {spec.meters} meters)"
                for g in spec.grid_ids
            ],
            "last_updated": [pd.Timestamp(spec.end_utc)] * spec.grids,
        }
    )
    defect_frame = pd.DataFrame(defects, columns=DEFECT_COLUMNS)
    for col in ("ts_start", "ts_end"):
        defect_frame[col] = pd.to_datetime(defect_frame[col], utc=True)
    for col in ("value", "expected_value"):
        defect_frame[col] = defect_frame[col].astype(np.float64)
    return DemoGrid(
        spec=spec,
        grids=grids,
        elements=elements,
        data_sources=pd.concat(source_frames, ignore_index=True),
        meters=pd.concat(meter_frames, ignore_index=True),
        transformers=transformers,
        defects=defect_frame,
    )


def _meters_frame(
    topo: Topology, grid_id: str, spec: GridSpec, grid_index: int
) -> pd.DataFrame:
    """One row per meter: ids, transformer, PV, load-model parameters."""
    rng = np.random.default_rng([spec.seed, grid_index, 12])
    residential = topo.meter_customer == "Residential"
    params, pv = meter_params(rng, residential, topo.meter_apartment)
    tx_ids = np.array([topo.ids[e] for e in topo.tx_element], dtype=object)
    el = topo.meter_element
    lat = np.asarray(topo.lat)[el]
    lon = np.asarray(topo.lon)[el]
    n = len(el)
    return pd.DataFrame(
        {
            "grid_id": grid_id,
            "grid_element_id": np.array(topo.ids, dtype=object)[el],
            "meter_index": np.arange(n, dtype=np.int64),
            "customer_type": topo.meter_customer,
            "phases": topo.meter_phases,
            "transformer_id": tx_ids[topo.meter_tx],
            "apartment": topo.meter_apartment,
            "pv_kwp": np.round(pv, 2),
            "latitude": lat,
            "longitude": lon,
            **params,
        }
    )


def _sources_frame(
    meters: pd.DataFrame, grid_id: str, spec: GridSpec, grid_index: int
) -> pd.DataFrame:
    """CONSUMER source per meter, PRODUCER per PV meter; sets the meters' ids.

    Rows in (meter, consumer before producer) order: the order of their ids.
    """
    n = len(meters)
    has_pv = meters["pv_kwp"].to_numpy() > 0
    meter_row = np.concatenate([np.arange(n), np.flatnonzero(has_pv)])
    producer = np.concatenate([np.zeros(n, bool), np.ones(int(has_pv.sum()), bool)])
    order = np.lexsort((producer, meter_row))
    meter_row, producer = meter_row[order], producer[order]
    index = meters["meter_index"].to_numpy(np.int64)[meter_row]
    ids, _ = source_uuids(spec.seed, grid_index, index, producer)
    mid = meters["grid_element_id"].to_numpy(object)[meter_row]
    consumer_ids = np.full(n, None, dtype=object)
    producer_ids = np.full(n, None, dtype=object)
    consumer_ids[meter_row[~producer]] = ids[~producer]
    producer_ids[meter_row[producer]] = ids[producer]
    meters["consumer_source_id"] = consumer_ids
    meters["producer_source_id"] = producer_ids
    # Installed at the start and still installed: no upper bound, as in a live
    # EDM, so readings appended later (incremental runs) are valid too.
    valid = f"[{spec.start_utc.isoformat(sep=' ')},)"
    m = len(meter_row)
    return pd.DataFrame(
        {
            "grid_element_data_source_id": ids,
            "grid_id": grid_id,
            "grid_element_id": mid,
            "type": np.where(producer, "PRODUCER", "CONSUMER").astype(object),
            "provider": np.where(producer, "demo-pv", "demo-ami").astype(object),
            "direction": np.where(producer, "received", "delivered").astype(object),
            "friendly_id": mid + np.where(producer, "-PV", "-DEL").astype(object),
            "phases": meters["phases"].to_numpy(object)[meter_row],
            "metrics": [["kWh"] if p else ["kWh", "V"] for p in producer.tolist()],
            "valid": [valid] * m,
        },
        columns=SOURCE_COLUMNS,
    )


def _tx_codes(topo: Topology, meters: pd.DataFrame) -> IntArray:
    """Transformer row of each meter (-1: none)."""
    row = {topo.ids[e]: i for i, e in enumerate(topo.tx_element)}
    return np.array(
        [row[t] if isinstance(t, str) else -1 for t in meters["transformer_id"]],
        dtype=np.int64,
    )


def _direct_loads(
    spec: GridSpec,
    axis: TimeAxis,
    meters: pd.DataFrame,
    codes: IntArray,
    n_tx: int,
    grid_index: int,
    only: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float32]:
    """Net load (kW) of each transformer's direct meters (``only``: a subset)."""
    acc = np.zeros((n_tx, axis.n), dtype=np.float32)
    to_kw = 3600.0 / spec.period_s
    chunk = default_chunk(spec)
    for lo in range(0, len(meters), chunk):
        pick = np.arange(lo, min(lo + chunk, len(meters)))
        pick = pick[codes[pick] >= 0]
        if only is not None:
            pick = pick[only[pick]]
        if len(pick) == 0:
            continue
        block = simulate(spec, axis, meters.iloc[pick], grid_index)
        net = block.consumer_kwh
        net[block.pv_rows] -= block.producer_kwh
        # Rows of a transformer are consecutive: one reduceat sums them in
        # order (no mask per transformer, which would cost meters x transformers).
        c = codes[pick]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        sums = np.add.reduceat(net, starts, axis=0)
        np.add.at(acc, c[starts], (sums * to_kw).astype(np.float32))
    return acc


def _roll_up(
    acc: npt.NDArray[np.float32], parent: IntArray, depth: IntArray
) -> npt.NDArray[np.float32]:
    """Add each transformer's total into its parent, deepest level first."""
    total = acc.copy()
    for d in sorted(set(depth.tolist()), reverse=True):
        rows = np.flatnonzero((depth == d) & (parent >= 0))
        np.add.at(total, parent[rows], total[rows])
    return total


def _size_transformers(
    topo: Topology,
    spec: GridSpec,
    axis: TimeAxis,
    meters: pd.DataFrame,
    grid_index: int,
    grid_id: str,
) -> pd.DataFrame:
    """Size every transformer from its own simulated coincident peak.

    A first simulation gives each transformer's peak; ratings snap to standard
    sizes. For 'tight' transformers without child transformers the meters'
    consumption is then scaled (0.7-1.4x) so that the peak lands on the target
    utilisation despite the coarse size steps; those meters are simulated
    again for the final peaks. Sets ``meters['load_scale']`` in place.
    """
    n_tx = len(topo.tx_element)
    parent = np.array(topo.tx_parent, dtype=np.int64)
    depth = np.array(topo.tx_depth, dtype=np.int64)
    level = np.array(topo.tx_level, dtype=object)
    codes = _tx_codes(topo, meters)
    acc = _direct_loads(spec, axis, meters, codes, n_tx, grid_index)
    u = np.random.default_rng([spec.seed, grid_index, 23]).random((2, n_tx))
    upper = (level == "HV/MV") | (level == "MV/MV")
    sizing = np.where(
        upper,
        np.where(u[0] < 0.5, "normal", "roomy"),
        np.where(u[0] < 0.35, "tight", np.where(u[0] < 0.7, "normal", "roomy")),
    ).astype(object)
    low = np.select(
        [upper, sizing == "tight", sizing == "normal"], [0.3, 0.92, 0.55], 0.25
    )
    high = np.select(
        [upper, sizing == "tight", sizing == "normal"], [0.75, 1.03, 0.8], 0.45
    )
    target = low + (high - low) * u[1]
    has_children = np.zeros(n_tx, dtype=bool)
    has_children[parent[parent >= 0]] = True
    direct = np.bincount(codes[codes >= 0], minlength=n_tx)
    rating = np.zeros(n_tx)
    scale = np.ones(n_tx)
    total = acc.copy()
    classes: dict[tuple[float, ...], int] = {}
    size_class = np.array(
        [classes.setdefault(s, len(classes)) for s in topo.tx_sizes], dtype=np.int64
    )
    for d in sorted(set(depth.tolist()), reverse=True):
        rows = np.flatnonzero(depth == d)
        peak = total[rows].max(axis=1).astype(np.float64) if axis.n else 0 * rows
        needed = np.maximum(peak, 0.1) / SIZING_POWER_FACTOR / target[rows]
        for cls in set(size_class[rows].tolist()):
            sel = size_class[rows] == cls
            sizes = np.array(topo.tx_sizes[int(rows[sel][0])])
            best = np.argmin(np.abs(np.log(sizes[None, :] / needed[sel, None])), axis=1)
            rating[rows[sel]] = sizes[best]
        tight = (
            (sizing[rows] == "tight")
            & ~has_children[rows]
            & (direct[rows] > 0)
            & (peak > 0)
        )
        f = np.where(
            tight,
            np.clip(
                target[rows]
                * rating[rows]
                * SIZING_POWER_FACTOR
                / np.where(peak > 0, peak, 1.0),
                0.7,
                1.4,
            ),
            1.0,
        )
        scale[rows] = f
        total[rows] *= f[:, None].astype(np.float32)
        up = rows[parent[rows] >= 0]
        np.add.at(total, parent[up], total[up])
    meter_scale = np.where(codes >= 0, scale[np.maximum(codes, 0)], 1.0)
    meters["load_scale"] = meter_scale
    # The final loads, as the readings will show them: the scaled transformers'
    # meters simulated again, the others as in the first pass.
    rescaled = scale != 1.0
    if rescaled.any():
        acc[rescaled] = 0.0
        only = (codes >= 0) & rescaled[np.maximum(codes, 0)]
        acc += _direct_loads(spec, axis, meters, codes, n_tx, grid_index, only)
    total = _roll_up(acc, parent, depth)
    meters_total = _roll_up(direct[:, None].astype(np.float32), parent, depth)[:, 0]
    peak = total.max(axis=1).astype(np.float64) if axis.n else np.zeros(n_tx)
    tx_ids = [topo.ids[e] for e in topo.tx_element]
    el = np.array(topo.tx_element, dtype=np.int64)
    return pd.DataFrame(
        {
            "grid_id": grid_id,
            "transformer_id": tx_ids,
            "voltage_level": level,
            "phases": [topo.phases[e] for e in topo.tx_element],
            "installation_type": topo.tx_installation,
            "primary_voltage_v": topo.tx_primary_v,
            "secondary_voltage_v": topo.tx_secondary_v,
            "rating_kva": rating,
            "meta_rating_kva": None,
            "upstream_transformer_id": [
                tx_ids[p] if p >= 0 else None for p in parent.tolist()
            ],
            "depth": depth,
            "meters_direct": direct.astype(np.int64),
            "meters_total": np.round(meters_total).astype(np.int64),
            "peak_load_kw": np.round(peak, 4),
            "peak_utilisation": peak / (rating * SIZING_POWER_FACTOR),
            "sizing": sizing,
            "latitude": np.asarray(topo.lat)[el],
            "longitude": np.asarray(topo.lon)[el],
        }
    )


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _transformer_meta(
    topo: Topology, tx: pd.DataFrame, spec: GridSpec, grid_index: int
) -> list[dict[str, Any]]:
    """``meta`` of every transformer, with numbers as JSON strings at random."""
    n = len(tx)
    rng = np.random.default_rng([spec.seed, grid_index, 31])
    u = rng.random((13, n))
    has_parent_meta = grid_index % 2 == 0
    tx_ids = tx["transformer_id"].tolist()
    out = []
    rows = zip(
        tx_ids,
        tx["rating_kva"].tolist(),
        tx["secondary_voltage_v"].tolist(),
        tx["primary_voltage_v"].tolist(),
        tx["voltage_level"].tolist(),
        tx["installation_type"].tolist(),
        tx["upstream_transformer_id"].tolist(),
        tx["latitude"].tolist(),
        tx["longitude"].tolist(),
        strict=True,
    )
    for i, (tid, rating, sec, prim, level, inst, parent, lat, lon) in enumerate(rows):
        stringy = u[0, i] < 0.2
        values: list[Any] = [
            _num(rating),
            int(sec),
            int(prim),
            round(rating * 1000 * (0.009 + 0.006 * u[1, i])),
            round(rating * 1000 * (0.0015 + 0.0015 * u[2, i])),
            lat,
            lon,
        ]
        values = [
            str(v) if stringy or u[3 + k, i] < 0.04 else v for k, v in enumerate(values)
        ]
        meta: dict[str, Any] = {
            "rating_kva": values[0],
            "secondary_voltage": values[1],
            "primary_voltage": values[2],
            "voltage_level": level,
            "load_loss": values[3],
            "no_load_loss": values[4],
            "installation_type": inst,
            "latitude": values[5],
            "longitude": values[6],
        }
        if has_parent_meta and isinstance(parent, str) and u[10, i] < 0.7:
            if u[11, i] < 0.1 and n > 2:
                # a wrong one: another transformer, neither this one nor its parent
                j = int(u[12, i] * n)
                while tx_ids[j] in (tid, parent):
                    j = (j + 1) % n
                parent = tx_ids[j]
            meta["parent_transformer_id"] = parent
        out.append(meta)
    return out


def _elements_frame(
    topo: Topology,
    grid_id: str,
    tx: pd.DataFrame,
    meters: pd.DataFrame,
    spec: GridSpec,
    grid_index: int,
) -> pd.DataFrame:
    """Rows of EDM ``grid_element`` (sets ``tx['meta_rating_kva']``)."""
    n = len(topo.ids)
    ids = np.array(topo.ids, dtype=object)
    types = np.array(topo.types, dtype=object)
    up = np.array(topo.upstream, dtype=np.int64)
    cn = np.array([f"CN-{k:06d}" for k in range(1, n + 1)], dtype=object)
    has_up = up >= 0
    upstream_id = np.full(n, None, dtype=object)
    upstream_id[has_up] = ids[up[has_up]]
    upstream_cn = np.full(n, None, dtype=object)
    upstream_cn[has_up] = cn[up[has_up]]
    for idx, override in topo.upstream_override.items():
        upstream_id[idx] = override
        upstream_cn[idx] = None
    lat = np.asarray(topo.lat)
    lon = np.asarray(topo.lon)
    meta = list(topo.meta)
    tx_meta = _transformer_meta(topo, tx, spec, grid_index)
    for e, m in zip(topo.tx_element, tx_meta, strict=True):
        meta[e] = m
    tx["meta_rating_kva"] = [m["rating_kva"] for m in tx_meta]
    tx["meta_rating_kva"] = tx["meta_rating_kva"].astype(object)
    customer = np.array(topo.customer_type, dtype=object)
    for e, la, lo, c in zip(
        topo.meter_element.tolist(),
        lat[topo.meter_element].tolist(),
        lon[topo.meter_element].tolist(),
        customer[topo.meter_element].tolist(),
        strict=True,
    ):
        meta[e] = {
            "latitude": la,
            "longitude": lo,
            "rate_class": "RS" if c == "Residential" else "GS",
        }
    is_meter = types == "Meter"
    is_producer = np.zeros(n, dtype=bool)
    is_producer[topo.meter_element] = meters["pv_kwp"].to_numpy() > 0
    lat_s = lat.astype(str).astype(object)
    lon_s = lon.astype(str).astype(object)
    point = "POINT(" + lon_s + " " + lat_s + ")"
    line = (types == "ACLineSegment") & has_up
    upp = np.maximum(up, 0)
    linestring = (
        "LINESTRING(" + lon_s[upp] + " " + lat_s[upp] + ", " + lon_s + " " + lat_s + ")"
    )
    return pd.DataFrame(
        {
            "grid_id": grid_id,
            "grid_element_id": ids,
            "type": types,
            "customer_type": customer,
            "phases": np.array(topo.phases, dtype=object),
            "is_underground": np.array(topo.underground, dtype=bool),
            "is_producer": is_producer,
            "is_consumer": is_meter,
            "is_switchable": types == "Switch",
            "switch_is_open": np.array(topo.switch_open, dtype=object),
            "terminal1_cn": upstream_cn,
            "terminal2_cn": _unless(is_meter, cn),
            "power_flow_direction": _unless(is_meter, np.full(n, "downstream", object)),
            "upstream_grid_element_id": upstream_id,
            "geometry": np.where(line, linestring, point),
            "meta": meta,
        },
        columns=ELEMENT_COLUMNS,
    )


def _unless(
    null: npt.NDArray[np.bool_], values: npt.NDArray[np.object_]
) -> npt.NDArray[np.object_]:
    """``values`` with None where ``null``."""
    out = values.copy()
    out[null] = None
    return out
