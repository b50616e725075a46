"""The defects of real data, injected deterministically (``GridSpec.defects``).

Topology defects (orphans, a cycle, a big-PV meter) rewire the first grid
before sizing; reading defects (gaps, an exact duplicate, a late correction,
a negative reading) are planned at interval indices and applied when the
readings are generated; meta defects (missing, garbage and string ratings)
edit transformer ``meta``. Every defect is recorded as a row of
:attr:`~evcap.demo.spec.DemoGrid.defects`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import numpy as np
import pandas as pd

from evcap.demo.profiles import TimeAxis, simulate
from evcap.demo.spec import KVA_WORDS, GridSpec, source_uuids
from evcap.demo.topology import Topology
from evcap.errors import ConfigError

__all__ = [
    "dst_transitions",
    "fill_planned_values",
    "inject_meta_defects",
    "inject_topology_defects",
]


def _source_id(spec: GridSpec, meter_index: int, producer: bool) -> str:
    ids, _ = source_uuids(
        spec.seed, 0, np.array([meter_index], np.int64), np.array([producer])
    )
    return str(ids[0])


def inject_topology_defects(
    topo: Topology,
    meters: pd.DataFrame,
    spec: GridSpec,
    axis: TimeAxis,
    defects: list[dict[str, Any]],
    grid_id: str,
) -> list[dict[str, Any]]:
    """Rewire meters (orphans, cycle), add the big-PV meter; plan reading defects.

    Edits ``topo`` and ``meters`` (rows of the first grid) in place and returns
    the planned reading defects (values filled by :func:`fill_planned_values`).
    """
    rng = np.random.default_rng([spec.seed, 0, 41])
    # Meters whose transformer keeps another meter, residential, no PV.
    tx = meters["transformer_id"]
    size = tx.map(tx.value_counts())
    later = meters.groupby("transformer_id").cumcount() > 0
    spare = np.flatnonzero(
        ((size >= 3) & later & (meters["customer_type"] == "Residential")).to_numpy()
    )
    spare = spare[rng.permutation(len(spare))]
    order = [int(i) for i in spare] + list(range(len(meters)))
    used: set[int] = set()

    def take() -> int:
        for i in order:  # fall back to any meter
            if i not in used:
                used.add(i)
                return i
        raise ConfigError("not enough meters for defects")  # pragma: no cover

    def record(kind: str, row: int, detail: str, **extra: Any) -> dict[str, Any]:
        out = {
            "kind": kind,
            "grid_id": grid_id,
            "grid_element_id": str(meters.at[row, "grid_element_id"]),
            "data_source_id": None,
            "ts_start": None,
            "ts_end": None,
            "value": np.nan,
            "expected_value": np.nan,
            "detail": detail,
            **extra,
        }
        defects.append(out)
        return out

    def element(row: int) -> int:
        return int(topo.meter_element[row])

    # Orphan whose upstream does not exist; orphan with null upstream.
    missing = f"LN-{topo.counters.get('LN', 0) + 90000:05d}"
    orphan = take()
    topo.upstream_override[element(orphan)] = missing
    meters.at[orphan, "transformer_id"] = None
    record("orphan_missing_upstream", orphan, f"upstream {missing} does not exist")
    orphan = take()
    topo.upstream_override[element(orphan)] = None
    meters.at[orphan, "transformer_id"] = None
    record("orphan_null_upstream", orphan, "upstream_grid_element_id is null")
    # Two line segments pointing at each other, a meter below them.
    caught = take()
    el = element(caught)
    lat, lon, phases = topo.lat[el], topo.lon[el], topo.phases[el]
    seg_a = topo.add(
        "LN", 5, "ACLineSegment", -1, lat, lon, phases=phases,
        meta={"length_m": 12.0, "line_kind": "service"},
    )  # fmt: skip
    seg_b = topo.add(
        "LN", 5, "ACLineSegment", seg_a, lat, lon, phases=phases,
        meta={"length_m": 9.0, "line_kind": "service"},
    )  # fmt: skip
    topo.upstream[seg_a] = seg_b
    topo.upstream[el] = seg_a
    meters.at[caught, "transformer_id"] = None
    record("topology_cycle", caught, f"{topo.ids[seg_a]} <-> {topo.ids[seg_b]}")
    # Big PV on a tiny load: net negative for hours around noon.
    sunny = take()
    meters.loc[sunny, "pv_kwp"] = 12.0
    for name, value in (
        ("base_kw", 0.15),
        ("morning_kw", 0.1),
        ("evening_kw", 0.3),
        ("midday_kw", 0.05),
        ("heat_kw_per_c", 0.0),
        ("cool_kw_per_c", 0.0),
        ("ev_kw", 0.0),
        ("pv_shift_h", 0.0),
        ("clear_sky_only", 1.0),
    ):
        meters.loc[sunny, name] = value
    record(
        "pv_exceeds_load",
        sunny,
        "12 kWp PV on a ~0.3 kW load",
        data_source_id=_source_id(spec, sunny, True),
    )
    # Reading defects, planned at interval indices (values filled later).
    planned: list[dict[str, Any]] = []
    per_hour = 3600 // spec.period_s
    start = pd.Timestamp(spec.start_utc)
    step = pd.Timedelta(seconds=spec.period_s)
    for hours in (4, 6, 8):
        m = take()
        k = hours * per_hour
        first = int(rng.integers(0, max(1, axis.n - k)))
        last = min(axis.n, first + k) - 1
        record(
            "reading_gap",
            m,
            f"{last - first + 1} intervals missing",
            data_source_id=_source_id(spec, m, False),
            ts_start=start + first * step,
            ts_end=start + last * step,
        )
    for kind in ("duplicate_exact", "late_correction", "negative_reading"):
        m = take()
        t = int(rng.integers(0, axis.n))
        row = record(
            kind,
            m,
            {
                "duplicate_exact": "same row delivered twice",
                "late_correction": "value re-delivered 36 h later; later wins",
                "negative_reading": "negative consumer kWh",
            }[kind],
            data_source_id=_source_id(spec, m, False),
            ts_start=start + t * step,
            ts_end=start + t * step,
            _t=t,
            _row=m,
        )
        planned.append(row)
    return planned


def fill_planned_values(
    spec: GridSpec,
    axis: TimeAxis,
    meters: pd.DataFrame,
    grid_index: int,
    planned: list[dict[str, Any]],
) -> None:
    """Put the clean and injected values into the planned reading defects."""
    for d in planned:
        t_index = int(d.pop("_t"))
        row = int(d.pop("_row"))
        block = simulate(spec, axis, meters.iloc[[row]], grid_index)
        clean = float(block.consumer_kwh[0, t_index])
        kind = d["kind"]
        if kind == "duplicate_exact":
            d["value"] = d["expected_value"] = clean
        elif kind == "late_correction":
            d["value"] = round(clean * 0.4, 4)
            d["expected_value"] = clean
        elif kind == "negative_reading":
            d["value"] = -round(clean + 0.5, 4)


def inject_meta_defects(
    elements: pd.DataFrame,
    transformers: pd.DataFrame,
    spec: GridSpec,
    defects: list[dict[str, Any]],
) -> None:
    """Missing, garbage and string ratings in transformer meta (in place)."""
    grid_id = spec.grid_ids[0]
    rng = np.random.default_rng([spec.seed, 0, 43])
    candidates = transformers[
        (transformers["grid_id"] == grid_id)
        & (transformers["voltage_level"] == "MV/LV")
        & (transformers["meters_total"] > 0)
    ]["transformer_id"].to_list()
    picks = [candidates[i] for i in rng.permutation(len(candidates))]
    is_tx = (elements["grid_id"] == grid_id) & (elements["type"] == "Transformer")
    row_of = {
        str(eid): idx for idx, eid in elements.loc[is_tx, "grid_element_id"].items()
    }

    def meta_of(tid: str) -> dict[str, Any]:
        return cast(dict[str, Any], elements.at[row_of[tid], "meta"])

    missing, garbage = picks[0], picks[1]
    meta_of(missing).pop("rating_kva")
    defects.append(_defect("rating_missing", grid_id, missing, "no rating_kva key"))
    rating = float(
        transformers.loc[
            (transformers["grid_id"] == grid_id)
            & (transformers["transformer_id"] == garbage),
            "rating_kva",
        ].iloc[0]
    )
    word = KVA_WORDS.get(rating, "unknown")
    meta_of(garbage)["rating_kva"] = word
    defects.append(_defect("rating_unparseable", grid_id, garbage, repr(word)))
    for tid in picks[2:4]:
        value = meta_of(tid)["rating_kva"]
        meta_of(tid)["rating_kva"] = str(value)
    for idx in elements.index[elements["type"] == "Transformer"]:
        value = cast(dict[str, Any], elements.at[idx, "meta"]).get("rating_kva")
        gid, tid = elements.at[idx, "grid_id"], elements.at[idx, "grid_element_id"]
        if isinstance(value, str) and (gid, tid) not in ((grid_id, garbage),):
            defects.append(_defect("rating_as_string", str(gid), str(tid), repr(value)))
    meta_rating = {
        (str(g), str(t)): m.get("rating_kva")
        for g, t, m in elements.loc[
            elements["type"] == "Transformer", ["grid_id", "grid_element_id", "meta"]
        ].itertuples(index=False)
    }
    transformers["meta_rating_kva"] = [
        meta_rating[(g, t)]
        for g, t in zip(
            transformers["grid_id"], transformers["transformer_id"], strict=True
        )
    ]


def _defect(kind: str, grid_id: str, element: str, detail: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "grid_id": grid_id,
        "grid_element_id": element,
        "data_source_id": None,
        "ts_start": None,
        "ts_end": None,
        "value": np.nan,
        "expected_value": np.nan,
        "detail": detail,
    }


def dst_transitions(spec: GridSpec) -> list[dict[str, Any]]:
    """The UTC instants inside the range where the local UTC offset changes."""
    out = []
    zone = spec.zone
    day = spec.start
    for _ in range(spec.days):
        a = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        nxt = day + dt.timedelta(days=1)
        b = dt.datetime.combine(nxt, dt.time(0), tzinfo=zone)
        hours = (b.astimezone(dt.UTC) - a.astimezone(dt.UTC)).total_seconds() / 3600
        if hours != 24:
            # find the instant: hourly scan of the day in UTC
            t = a.astimezone(dt.UTC)
            offset = a.utcoffset()
            while t.astimezone(zone).utcoffset() == offset:
                t += dt.timedelta(minutes=15)
            label = "spring forward" if hours < 24 else "fall back"
            row = _defect(
                "dst_transition",
                "*",
                "",
                f"{label} on {day.isoformat()} ({hours:g}-hour local day)",
            )
            row["grid_element_id"] = None
            row["grid_id"] = None
            row["ts_start"] = pd.Timestamp(t)
            row["ts_end"] = pd.Timestamp(t)
            out.append(row)
        day = nxt
    return out
