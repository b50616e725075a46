"""Benchmark of the IEC 60076-7 thermal model (``make bench``).

Runs the design days of synthetic transformers x 12 local months (loads of
0.2-1.4 per unit with an evening peak, ambient cycles of -5 to 30 degC,
1-minute samples, periodic steady state) and measures transformer-months per
second; then the charger search (thermal counts for 3 windows x 4 charger
types) on a smaller set. Writes ``bench/results/thermal.json``.

Usage::

    python bench/bench_thermal.py [--transformers 2000] [--repeats 3]

``run_thermal_bench()`` returns the same numbers as a dict (for
``bench/run_bench.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evcap.thermal import (
    IEC_ONAN_DISTRIBUTION,
    ThermalLimits,
    ThermalParameters,
    build_inputs,
    design_day,
    thermal_counts,
    thermal_headroom,
)

RESULTS = Path(__file__).resolve().parent / "results" / "thermal.json"
TARGET_TRANSFORMER_MONTHS_PER_S = 2000.0


def synthetic_days(
    transformers: int, seed: int = 13
) -> tuple[np.ndarray, np.ndarray, ThermalParameters]:
    """Loads (per unit) and ambient (degC) of ``transformers x 12`` design days."""
    rng = np.random.default_rng(seed)
    n = transformers * 12
    hours = np.arange(24)
    shape = 0.5 + 0.3 * np.cos(2 * np.pi * (hours - 19) / 24)
    load = shape[None, :] * rng.uniform(0.4, 1.6, (n, 1)) + rng.uniform(
        0, 0.15, (n, 24)
    )
    month = np.tile(np.arange(12), transformers)
    mean = 12.5 - 10 * np.cos(2 * np.pi * month / 12) + rng.uniform(-3, 3, n)
    ambient = mean[:, None] + rng.uniform(2, 6, (n, 1)) * np.cos(
        2 * np.pi * (hours - 15) / 24
    )
    return load, ambient, ThermalParameters.iec_defaults(n)


def synthetic_inputs(transformers: int, seed: int = 13) -> Any:
    """:class:`evcap.thermal.ThermalInputs` for the charger search."""
    load, ambient, _params = synthetic_days(transformers, seed)
    rows = []
    capacity = 49.0
    for t in range(transformers):
        for m in range(12):
            for h in range(24):
                kw = load[t * 12 + m, h] * capacity
                rows.append((f"T{t:05d}", m + 1, h, 0.3 * kw, kw))
    profile = pd.DataFrame(
        rows,
        columns=[
            "transformer_id",
            "local_month",
            "local_hour",
            "min_load_kw",
            "max_load_kw",
        ],
    )
    profile["grid_id"] = "bench"
    dim = pd.DataFrame(
        {
            "grid_id": "bench",
            "transformer_id": [f"T{t:05d}" for t in range(transformers)],
            "capacity_kw": capacity,
        }
    )
    amb = pd.DataFrame(
        [(m + 1, h, float(ambient[m, h])) for m in range(12) for h in range(24)],
        columns=["local_month", "local_hour", "ambient_c"],
    )
    amb["grid_id"] = "default"
    windows = pd.DataFrame(
        [
            ("nightly", 1, 12, 22, 4),
            ("summer", 6, 9, 0, 23),
            ("winter_evening", 11, 2, 17, 20),
        ],
        columns=["window_name", "month_start", "month_end", "hour_start", "hour_end"],
    )
    params = pd.DataFrame([{"grid_id": "default", **IEC_ONAN_DISTRIBUTION}])
    return build_inputs(dim, profile, params, None, amb, windows)


def run_thermal_bench(transformers: int = 2000, repeats: int = 3) -> dict[str, Any]:
    """Measure the model and the charger search; returns the numbers.

    Returns
    -------
    dict
        ``transformer_months_per_s`` (best of ``repeats``, design days of
        ``transformers x 12``), ``target`` and ``met``; ``search`` holds the
        seconds of the thermal counts of 200 transformers x 3 windows x 4
        charger types and their rate in transformer-window-types per second.
    """
    load, ambient, params = synthetic_days(transformers)
    n = load.shape[0]
    design_day(load[:100], ambient[:100], params.take(np.arange(100)))  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = design_day(load, ambient, params)
        times.append(time.perf_counter() - started)
    best = min(times)
    rate = n / best

    search_transformers = min(200, transformers)
    inputs = synthetic_inputs(search_transformers)
    chargers = pd.DataFrame(
        {
            "charger_type": ["L1", "L2_7", "L2_11", "L2_19"],
            "power_kw": [1.9, 7.2, 11.5, 19.2],
        }
    )
    started = time.perf_counter()
    headroom = thermal_headroom(
        inputs, windows=["nightly", "summer", "winter_evening"], limits=ThermalLimits()
    )
    counts = thermal_counts(
        inputs,
        headroom=headroom,
        chargers=chargers,
        coincidence=1.0,
        limits=ThermalLimits(),
    )
    search_s = time.perf_counter() - started
    return {
        "transformers": transformers,
        "transformer_months": n,
        "seconds": times,
        "transformer_months_per_s": rate,
        "peak_hot_spot_c_max": float(result.peak_hot_spot_c.max()),
        "target": TARGET_TRANSFORMER_MONTHS_PER_S,
        "met": rate >= TARGET_TRANSFORMER_MONTHS_PER_S,
        "search": {
            "transformers": search_transformers,
            "rows": len(counts),
            "seconds": search_s,
            "rows_per_s": len(counts) / search_s,
        },
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print, write ``bench/results/thermal.json``; exit 1 when MISSED."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transformers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    results = run_thermal_bench(args.transformers, args.repeats)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    verdict = "met" if results["met"] else "MISSED"
    print(
        f"thermal model: {results['transformer_months_per_s']:,.0f} transformer-months/s "
        f"({results['transformer_months']:,} design days, 1-minute samples; "
        f"target >= {results['target']:,.0f}): {verdict}"
    )
    search = results["search"]
    print(
        f"thermal charger search: {search['rows']:,} transformer x window x type "
        f"counts in {search['seconds']:.1f} s ({search['rows_per_s']:,.0f}/s)"
    )
    return 0 if results["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
