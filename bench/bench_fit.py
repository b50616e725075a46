"""Benchmark of the charger-mix fits (``make bench``).

Times exact max-power fits over every transformer x charging window, joint
(network-constrained) fits per upstream group, and the single-type path they
are compared with: ``evcap.fit(mode="single")`` always, and the single-type
count in SQL when ``--dsn`` points at a database with the marts. Writes
``bench/results/fit.json``.

Without ``--dsn`` the inputs are synthetic but shaped like a utility's marts:
substations feeding 20-120 distribution transformers each, ratings of 25-167
kVA, secondary voltages of 120/240, 208 and 600 V, one- and three-phase, firm
headroom from negative to a few hundred kW, and substation headroom that binds
for about half of the groups.

Usage::

    python bench/bench_fit.py [--transformers 3000] [--repeats 3]
    python bench/bench_fit.py --dsn postgresql://... [--schema evcap]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import evcap
from evcap import mix

RESULTS = Path(__file__).resolve().parent / "results" / "fit.json"
WINDOWS = ("all_time", "nightly", "summer", "summer_nightly", "winter_evening")
TARGET_FITS_PER_S = 1000.0


def synthetic_marts(transformers: int, seed: int = 2024) -> dict[str, pd.DataFrame]:
    """Marts ``dim_transformers`` and ``transformer_window_headroom`` (synthetic)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    headroom: list[dict[str, Any]] = []
    made = 0
    substation = 0
    while made < transformers:
        sub_id = f"SUB{substation:04d}"
        substation += 1
        children = int(rng.integers(20, 121))
        child_budgets: dict[str, list[float]] = {}
        for j in range(children):
            tid = f"{sub_id}-T{j:03d}"
            rating = float(rng.choice([25.0, 50.0, 75.0, 100.0, 167.0]))
            missing = rng.random() < 0.03
            volts, phases = [(240.0, "A"), (208.0, "ABC"), (600.0, "ABC")][
                int(rng.choice(3, p=[0.75, 0.2, 0.05]))
            ]
            rows.append(
                {
                    "grid_id": "bench",
                    "transformer_id": tid,
                    "rating_kva": None if missing else rating,
                    "secondary_voltage_v": volts,
                    "phases": phases,
                    "upstream_transformer_id": sub_id,
                    "depth": 1,
                }
            )
            budgets = []
            for w in WINDOWS:
                peak = rating * float(rng.uniform(0.3, 1.15))
                firm = None if missing else rating * 0.98 - peak
                headroom.append(
                    {
                        "grid_id": "bench",
                        "transformer_id": tid,
                        "window_name": w,
                        "intervals_used": 0 if missing else 8760,
                        "firm_headroom_kw": firm,
                        "quantile_headroom_kw": None if firm is None else firm + 3.0,
                    }
                )
                budgets.append(max(firm or 0.0, 0.0))
            child_budgets[tid] = budgets
        rows.append(
            {
                "grid_id": "bench",
                "transformer_id": sub_id,
                "rating_kva": 10000.0,
                "secondary_voltage_v": 25000.0,
                "phases": "ABC",
                "upstream_transformer_id": None,
                "depth": 0,
            }
        )
        for k, w in enumerate(WINDOWS):
            total = sum(b[k] for b in child_budgets.values())
            firm = total * float(rng.uniform(0.3, 1.3))
            headroom.append(
                {
                    "grid_id": "bench",
                    "transformer_id": sub_id,
                    "window_name": w,
                    "intervals_used": 8760,
                    "firm_headroom_kw": firm,
                    "quantile_headroom_kw": firm + 50.0,
                }
            )
        made += children + 1
    return {
        "dim_transformers": pd.DataFrame(rows),
        "transformer_window_headroom": pd.DataFrame(headroom),
    }


def read_marts(dsn: str, schema: str) -> tuple[dict[str, pd.DataFrame], float]:
    """The two marts from a database, and the seconds it took to read them."""
    from evcap.db import connect
    from evcap.marts import read_mart

    started = time.perf_counter()
    with connect(dsn) as conn:
        frames = {
            "dim_transformers": read_mart(conn, "dim_transformers", schema=schema),
            "transformer_window_headroom": read_mart(
                conn, "transformer_window_headroom", schema=schema
            ),
        }
    return frames, time.perf_counter() - started


def sql_single_seconds(dsn: str, schema: str, repeats: int) -> tuple[float, int]:
    """Best time of the single-type count in SQL (headroom x charger types)."""
    from psycopg import sql

    from evcap.db import connect

    query = sql.SQL(
        "select count(*), sum(case when h.firm_headroom_kw > 0 then "
        "floor(h.firm_headroom_kw / (1.0 * c.power_kw) + 1e-9) else 0 end) "
        "from {h} as h cross join {c} as c"
    ).format(
        h=sql.Identifier(schema, "transformer_window_headroom"),
        c=sql.Identifier(schema, "charger_types"),
    )
    best = float("inf")
    rows = 0
    with connect(dsn) as conn:
        for _ in range(repeats):
            started = time.perf_counter()
            row = conn.execute(query).fetchone()
            best = min(best, time.perf_counter() - started)
            rows = int(row[0]) if row else 0
    return best, rows


def _best_of(
    repeats: int, run: Callable[[], pd.DataFrame]
) -> tuple[float, pd.DataFrame]:
    best = float("inf")
    out = pd.DataFrame()
    for _ in range(repeats):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best, out


def joint_groups(frames: Mapping[str, pd.DataFrame]) -> int:
    """Number of upstream groups (top transformers with a transformer below)."""
    dim = frames["dim_transformers"]
    parents = set(dim["upstream_transformer_id"].dropna())
    tops = dim[dim["upstream_transformer_id"].isna()]
    return int(tops["transformer_id"].isin(parents).sum())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a summary and write ``bench/results/fit.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="read the marts from this database")
    parser.add_argument("--schema", default="evcap")
    parser.add_argument("--transformers", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--coincidence", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    read_s = None
    if args.dsn:
        frames, read_s = read_marts(args.dsn, args.schema)
        source = (
            f"marts of {args.schema} ({len(frames['dim_transformers'])} transformers)"
        )
    else:
        frames = synthetic_marts(args.transformers)
        source = f"synthetic ({len(frames['dim_transformers'])} transformers)"
    windows = sorted(set(frames["transformer_window_headroom"]["window_name"]))
    chargers = mix.load_charger_types()
    c = args.coincidence
    n_transformers = len(frames["dim_transformers"])
    fits = n_transformers * len(windows)

    def run(mode: mix.Mode) -> Callable[[], pd.DataFrame]:
        return lambda: evcap.fit(
            frames,
            window=windows,
            chargers=chargers,
            mode=mode,
            coincidence=c,
        )

    single_s, _single = _best_of(args.repeats, run("single"))
    max_s, max_out = _best_of(args.repeats, run("max-power"))
    joint_s, joint_out = _best_of(args.repeats, run("joint"))
    groups = joint_groups(frames) * len(windows)
    joint_children = joint_out[["transformer_id", "window_name"]].drop_duplicates()
    independent = max_out[
        max_out["transformer_id"].isin(set(joint_out["transformer_id"]))
    ]["power_kw"].sum()

    result: dict[str, Any] = {
        "source": source,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "charger_types": len(chargers),
        "windows": len(windows),
        "coincidence": c,
        "max_power": {
            "fits": fits,
            "seconds": max_s,
            "fits_per_s": fits / max_s,
            "target_fits_per_s": TARGET_FITS_PER_S,
            "meets_target": fits / max_s >= TARGET_FITS_PER_S,
        },
        "single_python": {
            "fits": fits,
            "seconds": single_s,
            "fits_per_s": fits / single_s,
        },
        "max_power_vs_single_python": max_s / single_s,
        "joint": {
            "groups": groups,
            "child_fits": len(joint_children),
            "seconds": joint_s,
            "groups_per_s": groups / joint_s if groups else None,
            "child_fits_per_s": len(joint_children) / joint_s,
            "total_power_kw": float(joint_out["power_kw"].sum()),
            "independent_total_power_kw": float(independent),
        },
    }
    if args.dsn:
        sql_s, sql_rows = sql_single_seconds(args.dsn, args.schema, args.repeats)
        result["read_marts_seconds"] = read_s
        result["single_sql"] = {
            "rows": sql_rows,
            "fits": sql_rows // max(len(chargers), 1),
            "seconds": sql_s,
            "fits_per_s": (sql_rows // max(len(chargers), 1)) / sql_s,
        }
        result["max_power_vs_single_sql"] = max_s / sql_s

    print(
        f"charger-mix benchmark: {source}, {len(windows)} windows, {len(chargers)} types"
    )
    mp = result["max_power"]
    print(
        f"  max-power : {fits} fits in {max_s:.3f} s = {mp['fits_per_s']:,.0f} fits/s "
        f"(target {TARGET_FITS_PER_S:,.0f}: {'met' if mp['meets_target'] else 'MISSED'})"
    )
    print(
        f"  single    : {fits / single_s:,.0f} fits/s in Python; max-power takes "
        f"{result['max_power_vs_single_python']:.1f}x the single-type time"
    )
    if "single_sql" in result:
        print(
            f"  single SQL: {result['single_sql']['fits_per_s']:,.0f} fits/s; "
            f"max-power takes {result['max_power_vs_single_sql']:.1f}x its time"
        )
    j = result["joint"]
    print(
        f"  joint     : {groups} upstream groups ({j['child_fits']} child fits) in "
        f"{joint_s:.3f} s = {j['child_fits_per_s']:,.0f} child fits/s; total "
        f"{j['total_power_kw']:,.0f} kW vs {j['independent_total_power_kw']:,.0f} kW "
        "fitted independently"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written   : {args.out}")
    return 0 if mp["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
