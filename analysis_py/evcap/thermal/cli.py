"""``evcap thermal`` and the thermal lines of ``evcap demo`` (issue #13).

Kept out of :mod:`evcap.cli` so that module only hooks them in: the command
computes the thermal charger counts (:mod:`evcap.thermal`), writes
``transformer_thermal_fit`` and ``transformer_thermal_month`` and prints them.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import psycopg

from evcap import db
from evcap.cli import (
    _add_connection_options,
    _add_edm_schema_option,
    _add_grid_option,
    _transformer_ids,
)

if TYPE_CHECKING:
    import pandas as pd


def add_thermal_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    from evcap.thermal import ThermalLimits

    defaults = ThermalLimits()
    parser = sub.add_parser(
        "thermal",
        help="chargers by thermal limit (IEC 60076-7 hot spot, top oil, ageing); "
        "writes transformer_thermal_fit and transformer_thermal_month",
    )
    _add_connection_options(parser)
    _add_grid_option(parser, "only this grid (transformer ids are unique per grid)")
    parser.add_argument(
        "--transformer",
        action="append",
        default=[],
        metavar="ID",
        help="transformer id (repeatable or comma-separated; default: all)",
    )
    parser.add_argument(
        "--window",
        action="append",
        default=[],
        metavar="NAME",
        help="charging window (repeatable; default: every window)",
    )
    parser.add_argument(
        "--charger",
        action="append",
        default=[],
        metavar="TYPE",
        help="charger type (repeatable; default: every type)",
    )
    parser.add_argument(
        "--coincidence",
        type=float,
        help="share of chargers drawing at once (default: dbt var coincidence_factor)",
    )
    parser.add_argument(
        "--hot-spot-limit",
        type=float,
        help=f"degC (default: dbt var thermal_hot_spot_limit_c, {defaults.hot_spot_c:g})",
    )
    parser.add_argument(
        "--top-oil-limit",
        type=float,
        help=f"degC (default: dbt var thermal_top_oil_limit_c, {defaults.top_oil_c:g})",
    )
    parser.add_argument(
        "--ageing-limit",
        type=float,
        help="relative ageing per day (default: dbt var thermal_ageing_limit, "
        f"{defaults.ageing_per_day:g})",
    )
    parser.add_argument(
        "--max-load-pu",
        type=float,
        help=f"per unit (default: dbt var thermal_max_load_pu, {defaults.load_pu:g})",
    )
    parser.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (default: table)",
    )
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--no-write", action="store_true", help="print only, do not write the tables"
    )
    parser.add_argument(
        "--weather-data-source",
        metavar="UUID",
        help="EDM data source of air temperature for the ambient (default: dbt "
        "var thermal_weather_data_source; none = seed ambient_temperature_normals)",
    )
    parser.add_argument(
        "--weather-metric",
        help="its metric key (default: dbt var thermal_weather_metric, temperature)",
    )
    _add_edm_schema_option(parser)
    parser.set_defaults(handler=_cmd_thermal)


def _thermal_limits(args: argparse.Namespace) -> object:
    from evcap.thermal import ThermalLimits

    given = {
        "hot_spot_c": args.hot_spot_limit,
        "top_oil_c": args.top_oil_limit,
        "ageing_per_day": args.ageing_limit,
        "load_pu": args.max_load_pu,
    }
    return ThermalLimits.from_project({k: v for k, v in given.items() if v is not None})


def _weather_ambient(
    conn: psycopg.Connection, args: argparse.Namespace
) -> pd.DataFrame | None:
    """Ambient rows from an EDM weather data source, or None (use the seed)."""
    from evcap.thermal import (
        ambient_from_edm,
        project_var,
        with_ambient,
    )
    from evcap.thermal.inputs import read_seed

    source = args.weather_data_source or project_var("thermal_weather_data_source")
    if not source:
        return None
    metric = args.weather_metric or project_var("thermal_weather_metric", "temperature")
    seed = read_seed(conn, "ambient_temperature_normals", schema=args.schema)
    ambient = ambient_from_edm(
        conn,
        data_source_id=str(source),
        metric=str(metric),
        edm_schema=args.edm_schema,
        fallback=seed,
    )
    print(
        f"ambient from EDM data source {source} ({metric}); "
        f"{int((ambient['readings'] == 0).sum())} of 288 month x hour cells "
        "from the seed",
        file=sys.stderr,
    )
    return with_ambient(seed, ambient)


def _cmd_thermal(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evcap.thermal import (
        ThermalLimits,
        load_inputs,
        thermal_fit,
        thermal_months,
        write_thermal_fit,
        write_thermal_months,
    )

    limits = _thermal_limits(args)
    assert isinstance(limits, ThermalLimits)
    ids = _transformer_ids(args.transformer)
    with db.connection(args.dsn) as conn:
        inputs = load_inputs(
            conn,
            schema=args.schema,
            grid_id=args.grid_id,
            transformers=ids,
            ambient=_weather_ambient(conn, args),
        )
        result = thermal_fit(
            conn,
            windows=args.window or None,
            chargers=args.charger or None,
            coincidence=args.coincidence,
            limits=limits,
            schema=args.schema,
            grid_id=args.grid_id,
            transformers=ids,
            inputs=inputs,
        )
        if not args.no_write:
            written = write_thermal_fit(conn, result, schema=args.schema)
            months = write_thermal_months(
                conn, thermal_months(inputs), schema=args.schema
            )
            print(
                f"wrote {written} rows to {args.schema}.transformer_thermal_fit and "
                f"{months} to {args.schema}.transformer_thermal_month",
                file=sys.stderr,
            )
    if args.format == "csv":
        text = result.to_csv(index=False)
    elif args.format == "json":
        text = result.to_json(orient="records", indent=2) + "\n"
    else:
        shown = result[
            [
                "grid_id",
                "transformer_id",
                "window_name",
                "charger_type",
                "max_chargers",
                "thermal_max_chargers",
                "binding_criterion",
                "binding_month",
                "binding_hour_local",
                "peak_hot_spot_c",
            ]
        ].copy()
        shown["peak_hot_spot_c"] = shown["peak_hot_spot_c"].astype(float).round(1)
        text = (
            shown.astype(object).where(shown.notna(), "").to_string(index=False) + "\n"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def demo_summary(conn: psycopg.Connection, *, window: str, schema: str) -> None:
    """Thermal counts (issue #13): write the tables, print them beside nameplate."""
    from evcap.thermal import (
        load_inputs,
        thermal_fit,
        thermal_months,
        write_thermal_fit,
        write_thermal_months,
    )

    inputs = load_inputs(conn, schema=schema)
    result = thermal_fit(conn, schema=schema, inputs=inputs)
    write_thermal_fit(conn, result, schema=schema)
    write_thermal_months(conn, thermal_months(inputs), schema=schema)
    types = result.sort_values("charger_power_kw")["charger_type"].tolist()
    ctype = "L2_7.2kW" if "L2_7.2kW" in types else (types[0] if types else "")
    shown = result[
        (result["window_name"] == window) & (result["charger_type"] == ctype)
    ]
    print(
        f"      thermal limits (IEC 60076-7), {window}, {ctype}: nameplate "
        f"{int(shown['max_chargers'].sum())} vs thermal "
        f"{int(shown['thermal_max_chargers'].sum())} chargers "
        f"(table {schema}.transformer_thermal_fit)"
    )
    table = shown[
        [
            "grid_id",
            "transformer_id",
            "max_chargers",
            "thermal_max_chargers",
            "binding_criterion",
            "binding_month",
            "binding_hour_local",
        ]
    ].rename(columns={"max_chargers": "nameplate", "thermal_max_chargers": "thermal"})
    for line in (
        table.astype(object)
        .where(table.notna(), "")
        .to_string(index=False)
        .splitlines()
    ):
        print(f"      {line}")
