"""The ``evcap`` command line.

Sub-commands: ``db`` (embedded server), ``edm install`` (stand-in schema),
``demo-data`` (synthetic grid), ``build`` (dbt build), ``fit`` (charger mixes),
``plot``, ``report`` and ``demo`` (all of it, for a first look).
Every command reads the database from ``--dsn``, ``EVCAP_DSN``, the libpq
``PG*`` variables or, with none of those, the embedded server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evcap import __version__, db
from evcap.errors import EvcapError

if TYPE_CHECKING:
    from evcap.demo import GridSpec


def _add_dsn_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        help="PostgreSQL connection string (default: EVCAP_DSN, PG* variables, "
        "else the embedded server)",
    )


def _add_connection_options(
    parser: argparse.ArgumentParser, *, edm_schema: bool = False
) -> None:
    _add_dsn_option(parser)
    parser.add_argument(
        "--schema",
        default="evcap",
        help="schema of evcap's marts, where dbt builds and evcap reads and "
        "writes (default: evcap)",
    )
    if edm_schema:
        _add_edm_schema_option(parser)


def _add_edm_schema_option(
    parser: argparse.ArgumentParser, *, what: str = "the Awesense EDM source"
) -> None:
    """``--edm-schema``: always the schema of the (read-only) EDM source."""
    parser.add_argument(
        "--edm-schema",
        default="edm",
        help=f"schema of {what} (default: edm)",
    )


def _add_grid_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--grid`` (dest ``grid_id``) and the older ``--grid-id``, hidden."""
    parser.add_argument("--grid", dest="grid_id", metavar="GRID_ID", help=help)
    parser.add_argument("--grid-id", dest="grid_id", help=argparse.SUPPRESS)


# --- db -------------------------------------------------------------------


def _add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="manage the embedded PostgreSQL server")
    parser.add_argument(
        "action",
        choices=["start", "stop", "status", "url"],
        help="start / stop the server, show its status, print its URL",
    )
    parser.set_defaults(handler=_cmd_db)


def _cmd_db(args: argparse.Namespace) -> int:
    if args.action == "start":
        print(db.start_embedded_server())
        return 0
    if args.action == "stop":
        stopped = db.stop_embedded_server()
        print("stopped" if stopped else "not running")
        return 0
    status = db.embedded_status()
    if args.action == "url":
        if not status.running:
            print(
                "the embedded server is not running: `evcap db start`", file=sys.stderr
            )
            return 1
        print(db.start_embedded_server())
        return 0
    state = "running" if status.running else "stopped"
    if not status.initialised:
        state = "not created"
    print(f"embedded PostgreSQL: {state}")
    print(f"data directory: {status.data_dir}")
    if status.running:
        print(f"pid: {status.pid}  socket: {status.socket_dir}")
    return 0


# --- edm / demo-data / build ----------------------------------------------


def _add_edm_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("edm", help="the EDM stand-in schema (demos and tests)")
    edm_sub = parser.add_subparsers(
        dest="edm_action", required=True, metavar="ACTION", help="install"
    )
    install = edm_sub.add_parser(
        "install", help="create the stand-in of the Awesense EDM schema"
    )
    _add_dsn_option(install)
    install.add_argument(
        "--edm-schema",
        dest="schema",
        default="edm",
        help="schema of the EDM stand-in to create (default: edm)",
    )
    # the old spelling, kept working but hidden: elsewhere --schema is the marts
    install.add_argument(
        "--schema", dest="schema", default="edm", help=argparse.SUPPRESS
    )
    install.add_argument(
        "--replace",
        action="store_true",
        help="drop and recreate an existing evcap stand-in (never a real EDM)",
    )
    install.set_defaults(handler=_cmd_edm_install)


def _cmd_edm_install(args: argparse.Namespace) -> int:
    from evcap.edm_standin import install_standin

    with db.connection(args.dsn) as conn:
        geometry = install_standin(conn, args.schema, replace=args.replace)
    print(f"EDM stand-in installed in schema {args.schema!r} (geometry as {geometry})")
    return 0


def _add_demo_data_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    parser = sub.add_parser(
        "demo-data", help="generate a synthetic grid into the EDM stand-in"
    )
    _add_dsn_option(parser)
    _add_edm_schema_option(parser, what="the EDM stand-in to fill")
    _add_grid_options(parser)
    parser.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="load a real public grid instead of a synthetic one: "
        "simbench:<code> (e.g. simbench:1-MVLV-rural-1.108-0-sw, with its "
        "15-min profiles) or pandapower:<name> (e.g. "
        "pandapower:ieee_european_lv_asymmetric, lv_schutterwald, "
        "pandapower:create_dickert_lv_network:feeders_range=long,customer=multiple; "
        "generated load shapes). --days defaults to 7 and --start to the profiles' first "
        "day; --seed seeds generated shapes",
    )
    _add_grid_option(parser, "EDM grid id of a --from grid (default: <kind>-<name>)")
    parser.set_defaults(handler=_cmd_demo_data, days=None, start=None)


def _add_grid_options(
    parser: argparse.ArgumentParser, *, grids: int = 1, defects: bool = False
) -> None:
    import datetime as dt

    parser.add_argument(
        "--seed", type=int, default=42, help="random seed (default: 42)"
    )
    parser.add_argument(
        "--meters", type=int, default=80, help="meters per grid (default: 80)"
    )
    parser.add_argument(
        "--days", type=int, default=365, help="days of readings (default: 365)"
    )
    parser.add_argument(
        "--interval-minutes",
        type=int,
        choices=[5, 15, 60],
        default=60,
        help="reading interval (default: 60)",
    )
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2024, 1, 1),
        help="first local day, YYYY-MM-DD (default: 2024-01-01)",
    )
    parser.add_argument(
        "--grids", type=int, default=grids, help=f"number of grids (default: {grids})"
    )
    if defects:
        parser.set_defaults(defects=True)
        parser.add_argument(
            "--clean-data",
            dest="defects",
            action="store_false",
            help="no injected defects (default: inject missing ratings, gaps, "
            "duplicates, ...)",
        )
    else:
        parser.add_argument(
            "--defects",
            action="store_true",
            help="inject real-world defects (missing ratings, gaps, duplicates, ...)",
        )


def _grid_spec(args: argparse.Namespace) -> GridSpec:
    from evcap.demo import GridSpec

    return GridSpec(
        seed=args.seed,
        meters=args.meters,
        days=args.days,
        interval_minutes=args.interval_minutes,
        start=args.start,
        grids=args.grids,
        defects=args.defects,
    )


def _cmd_demo_data(args: argparse.Namespace) -> int:
    import datetime as dt

    from evcap.demo import load_grid

    if args.source:
        return _load_real_grid(args)
    if args.grid_id:
        from evcap.errors import ConfigError

        raise ConfigError("--grid needs --from (synthetic grids are demo-<name>)")
    if args.days is None:
        args.days = 365
    if args.start is None:
        args.start = dt.date(2024, 1, 1)
    spec = _grid_spec(args)
    with db.connection(args.dsn) as conn:
        summary = load_grid(conn, spec, schema=args.edm_schema)
    print(summary)
    return 0


def _load_real_grid(args: argparse.Namespace) -> int:
    from evcap.real_grids import DEFAULT_DAYS, build_real_grid, load_real_grid

    grid = build_real_grid(
        args.source,
        days=DEFAULT_DAYS if args.days is None else args.days,
        start=args.start,
        grid_id=args.grid_id,
        seed=args.seed,
    )
    with db.connection(args.dsn) as conn:
        summary = load_real_grid(conn, grid, schema=args.edm_schema)
    print(summary)
    counts = grid.edm.elements["type"].value_counts()
    print(
        "      "
        + ", ".join(f"{n:,} {kind}" for kind, n in counts.items())
        + f"; readings from {grid.profiles.interval_start[0]:%Y-%m-%d %H:%M} UTC, "
        f"{grid.profiles.period_s // 60}-min"
    )
    if grid.edm.ignored:
        print(f"      not modelled: {grid.edm.ignored}")
    print(
        f"      local time of this grid: {grid.timezone}; build with "
        f"`evcap build --var local_timezone={grid.timezone}`"
    )
    return 0


def _add_build_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("build", help="run `dbt build` (models, seeds, tests)")
    _add_connection_options(parser, edm_schema=True)
    parser.add_argument(
        "--full-refresh", action="store_true", help="rebuild incremental models"
    )
    parser.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (fixed inputs: for development and CI; "
        "a nightly build leaves them out)",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="dbt var, e.g. --var power_factor=0.95 (repeatable)",
    )
    parser.set_defaults(handler=_cmd_build)


def _parse_vars(pairs: Sequence[str], edm_schema: str) -> dict[str, object]:
    import yaml

    values: dict[str, object] = {"edm_schema": edm_schema}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            from evcap.errors import ConfigError

            raise ConfigError(f"--var expects NAME=VALUE, got {pair!r}")
        try:
            values[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            values[name.strip()] = value  # not YAML: the text itself

    return values


def _cmd_build(args: argparse.Namespace) -> int:
    from evcap.dbt_runner import run_build

    resolved = db.resolve_dsn(args.dsn)
    run_build(
        resolved.dsn,
        target_schema=args.schema,
        vars=_parse_vars(args.var, args.edm_schema),
        full_refresh=args.full_refresh,
        unit_tests=args.unit_tests,
        echo=True,
    )
    return 0


# --- dbt passthrough / env -------------------------------------------------


def _add_dbt_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dbt",
        help="run any dbt command against the resolved database "
        "(e.g. `evcap dbt docs generate`)",
    )
    _add_connection_options(parser)
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt")
    parser.set_defaults(handler=_cmd_dbt)


def _cmd_dbt(args: argparse.Namespace) -> int:
    from evcap.dbt_runner import run_dbt

    resolved = db.resolve_dsn(args.dsn)
    result = run_dbt(
        args.dbt_args, resolved.dsn, target_schema=args.schema, check=False, echo=True
    )
    return result.returncode


def _add_env_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "env",
        help="print shell exports (PGHOST, ..., DBT_PROFILES_DIR) for the "
        "resolved database, e.g. `source <(evcap env)`",
    )
    _add_connection_options(parser)
    parser.add_argument(
        "--show-password",
        action="store_true",
        help="also print PGPASSWORD (by default a password is never printed)",
    )
    parser.set_defaults(handler=_cmd_env)


def _cmd_env(args: argparse.Namespace) -> int:
    import shlex

    from evcap.dbt_runner import dbt_env

    resolved = db.resolve_dsn(args.dsn)
    env = dbt_env(resolved.dsn, target_schema=args.schema, base={})
    for name in sorted(env):
        if name == "PGPASSWORD" and not args.show_password:
            print(
                "# PGPASSWORD not printed: set it yourself, use ~/.pgpass, or "
                "rerun with --show-password"
            )
            continue
        print(f"export {name}={shlex.quote(env[name])}")
    return 0


# --- demo -----------------------------------------------------------------


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="everything at once: EDM stand-in, synthetic grid, dbt build, fits, report",
    )
    _add_connection_options(parser, edm_schema=True)
    _add_grid_options(parser, grids=2, defects=True)
    parser.add_argument(
        "--window",
        default="nightly",
        help="window of the fit summary (default: nightly)",
    )
    parser.add_argument(
        "--out-dir", default="out", help="directory for the report (default: out)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="on a server other than the embedded one that already holds evcap "
        "marts: replace the EDM stand-in and rebuild the marts anyway",
    )
    parser.set_defaults(handler=_cmd_demo)


def _refuse_existing_marts(conn: object, schema: str, resolved: db.ResolvedDsn) -> None:
    """`evcap demo` on a real server never overwrites marts without --force."""
    import psycopg

    from evcap.errors import ConfigError
    from evcap.marts import mart_exists

    assert isinstance(conn, psycopg.Connection)
    exists = mart_exists(conn, "dim_transformers", schema=schema)
    conn.rollback()
    if exists:
        raise ConfigError(
            f"{resolved.describe()} already holds evcap marts in schema "
            f"{schema!r}; `evcap demo` replaces the EDM stand-in and rebuilds "
            "them with --full-refresh. Rerun with --force to do that, or point "
            "--dsn at a scratch database"
        )


def _cmd_demo(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from evcap.dbt_runner import run_dbt
    from evcap.demo import load_grid
    from evcap.edm_standin import install_standin
    from evcap.mix import fit, write_mix
    from evcap.report import write_report

    started = time.perf_counter()
    resolved = db.resolve_dsn(args.dsn)
    print(f"[1/5] database: {resolved.describe()}")
    with db.connect(resolved) as conn:
        if resolved.source != "embedded" and not args.force:
            _refuse_existing_marts(conn, args.schema, resolved)
        geometry = install_standin(conn, args.edm_schema, replace=True)
        print(
            f"[2/5] EDM stand-in in schema {args.edm_schema!r} (geometry as {geometry})"
        )
        summary = load_grid(conn, _grid_spec(args), schema=args.edm_schema)
        print(f"      {summary}")
    print("[3/5] dbt build (seeds, models, tests) ...")
    result = run_dbt(
        ["build", "--full-refresh"],
        resolved.dsn,
        target_schema=args.schema,
        vars={"edm_schema": args.edm_schema},
    )
    counts = {
        status: sum(
            1
            for r in result.run_results.get("results", [])
            if r.get("status") == status
        )
        for status in ("success", "pass", "warn", "error", "fail")
    }
    print(
        f"      models/seeds ok: {counts['success']}, tests passed: {counts['pass']}, "
        f"warnings: {counts['warn']}"
    )
    with db.connect(resolved) as conn:
        mixes = fit(conn, window=args.window, mode="max-power", schema=args.schema)
        write_mix(conn, mixes, schema=args.schema, coincidence_factor=1.0, basis="firm")
        print(f"[4/5] charger fits ({args.window}, max power): {_fit_summary(mixes)}")
        from evcap.thermal.cli import demo_summary  # issue #13

        demo_summary(conn, window=args.window, schema=args.schema)  # issue #13
        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = write_report(
            conn, out_dir / "report.html", window=args.window, schema=args.schema
        )
    print(f"[5/5] report: {report.resolve()}")
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"done in {time.perf_counter() - started:.0f} s (peak memory of this "
        f"process, generator included: {peak_mib:.0f} MiB). "
        f"Marts are in schema {args.schema!r}; connect with: {_psql_hint(resolved)}"
    )
    return 0


def _fit_summary(mixes: object) -> str:
    import pandas as pd

    assert isinstance(mixes, pd.DataFrame)
    if mixes.empty:
        return "no transformers"
    per_transformer = mixes.groupby(["grid_id", "transformer_id"])["count"].sum()
    blocked = int((per_transformer == 0).sum())
    return (
        f"{len(per_transformer)} transformers, {int(per_transformer.sum())} chargers in "
        f"all, {blocked} transformers with none (see the reasons in the report)"
    )


def _psql_hint(resolved: db.ResolvedDsn) -> str:
    """How to connect with psql, never with the password in it."""
    if resolved.source == "libpq":
        return "psql (your PG* variables)"
    shown = db.display_dsn(resolved.dsn)
    if shown.endswith(" (password not shown)"):
        return (
            f"psql '{shown.removesuffix(' (password not shown)')}' (add your "
            "password via PGPASSWORD or ~/.pgpass; it is not printed)"
        )
    return f"psql '{shown}'"


# --- fit ------------------------------------------------------------------


def _add_fit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from evcap.mix import MODES

    parser = sub.add_parser(
        "fit",
        help="charger mixes per transformer and charging window (exact)",
        description="How many chargers of which types fit each transformer's "
        "firm headroom in a charging window.",
    )
    _add_connection_options(parser)
    parser.add_argument(
        "--transformer",
        action="append",
        default=[],
        metavar="ID",
        help="transformer id (repeatable or comma-separated)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="every transformer (instead of --transformer)",
    )
    _add_grid_option(parser, "only this grid (transformer ids are unique per grid)")
    parser.add_argument(
        "--window",
        action="append",
        default=[],
        metavar="NAME",
        help="charging window (repeatable; default: nightly)",
    )
    parser.add_argument(
        "--mode", choices=MODES, default="max-power", help="default: max-power"
    )
    parser.add_argument(
        "--charger",
        action="append",
        default=[],
        metavar="TYPE",
        help="charger type (repeatable; default: every type)",
    )
    parser.add_argument(
        "--chargers-csv",
        metavar="FILE",
        help="charger types CSV (default: the seed seeds/charger_types.csv)",
    )
    parser.add_argument(
        "--proportion",
        action="append",
        type=float,
        default=[],
        metavar="PERCENT",
        help="share of each --charger in percent, same order (proportion modes)",
    )
    parser.add_argument(
        "--fill-leftover",
        action="store_true",
        help="proportion modes: add the max-power mix of the leftover",
    )
    parser.add_argument(
        "--min-count",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="at least N chargers of TYPE per transformer (max-power, joint; "
        "repeatable)",
    )
    parser.add_argument(
        "--max-count",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="at most N chargers of TYPE per transformer (max-power, joint; "
        "repeatable)",
    )
    parser.add_argument(
        "--coincidence",
        type=float,
        default=1.0,
        help="share of chargers drawing at once, (0, 1] (default: 1.0)",
    )
    parser.add_argument(
        "--basis",
        choices=["firm", "quantile"],
        default="firm",
        help="budget: firm (minimum) headroom or the quantile headroom (default: firm)",
    )
    parser.add_argument(
        "--objective",
        choices=["power", "chargers"],
        default="power",
        help="joint mode: maximise power or number of chargers",
    )
    parser.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (default: table)",
    )
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--write",
        action="store_true",
        help="also upsert the result into <schema>.transformer_charger_mix",
    )
    # thermal (issue #13): thermal_max_chargers, binding_criterion, ...
    parser.add_argument(
        "--thermal",
        action="store_true",
        help="add thermal columns (IEC 60076-7 limits; see `evcap thermal`)",
    )
    parser.set_defaults(handler=_cmd_fit)


def _count_options(pairs: Sequence[str], option: str) -> dict[str, int] | None:
    from evcap.errors import InvalidChargerError

    values: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.rpartition("=")
        if not sep or not name or not value.strip().isdigit():
            raise InvalidChargerError(f"{option} expects TYPE=N (N >= 0), got {pair!r}")
        values[name.strip()] = int(value)
    return values or None


def _cmd_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evcap.errors import ConfigError
    from evcap.mix import fit, load_charger_types, write_mix

    transformers = _transformer_ids(args.transformer)
    if not transformers and not args.all:
        raise ConfigError("give --transformer ID (repeatable) or --all")
    if transformers and args.all:
        raise ConfigError("give either --transformer or --all, not both")
    if args.out:
        # Fail before any database work (and before --write commits).
        if Path(args.out).is_dir():
            raise ConfigError(f"--out {args.out} is a directory: give a file path")
        out_dir = Path(args.out).parent
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write --out {args.out}: {exc}") from exc
    chargers = load_charger_types(args.chargers_csv, names=args.charger or None)
    with db.connection(args.dsn) as conn:
        result = fit(
            conn,
            transformers=None if args.all else transformers,
            window=args.window or "nightly",
            chargers=chargers,
            mode=args.mode,
            coincidence=args.coincidence,
            proportions=args.proportion or None,
            min_counts=_count_options(args.min_count, "--min-count"),
            max_counts=_count_options(args.max_count, "--max-count"),
            basis=args.basis,
            fill_leftover=args.fill_leftover,
            grid_id=args.grid_id,
            schema=args.schema,
            objective=args.objective,
            progress=args.all or args.mode == "joint",
        )
        if args.write:
            written = write_mix(
                conn,
                result,
                schema=args.schema,
                coincidence_factor=args.coincidence,
                basis=args.basis,
            )
            print(
                f"wrote {written} rows to {args.schema}.transformer_charger_mix",
                file=sys.stderr,
            )
        if args.thermal:  # issue #13
            from evcap.thermal import add_thermal_columns

            result = add_thermal_columns(
                conn,
                fit_frame=result,
                coincidence=args.coincidence,
                schema=args.schema,
            )
    if args.format == "csv":
        text = result.to_csv(index=False)
    elif args.format == "json":
        text = result.to_json(orient="records", indent=2) + "\n"
    else:
        shown = result.copy()
        for column in ("power_kw", "budget_kw", "leftover_kw"):
            shown[column] = shown[column].round(3)
        if "thermal_max_kw" in shown.columns:  # fit --thermal (issue #13)
            shown["thermal_max_kw"] = shown["thermal_max_kw"].astype(float).round(3)
        shown["reason"] = shown["reason"].fillna("")
        text = shown.to_string(index=False) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# --- plot / report --------------------------------------------------------


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
    import datetime as dt

    parser.add_argument(
        "--transformer",
        "-t",
        action="append",
        metavar="ID",
        help="transformer id (repeatable, or comma-separated; default: all)",
    )
    _add_grid_option(parser, "only this grid (transformer ids are unique per grid)")
    parser.add_argument(
        "--start", type=dt.date.fromisoformat, help="first local day, YYYY-MM-DD"
    )
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, help="last local day, YYYY-MM-DD"
    )


def _transformer_ids(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    ids = [part.strip() for value in values for part in value.split(",")]
    return [i for i in ids if i] or None


def _add_plot_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "plot",
        help="draw one chart to .html (offline), .png, .svg or .json",
        description="Kinds: headroom (budgeted headroom over time), monthly / "
        "hourly (box plots), heatmap (local month x hour), fit (chargers that "
        "fit per window and type), mix (charger-mix scenarios), with-chargers "
        "(peak load with the chargers added), overview (ranked by firm "
        "headroom), map (transformers coloured by chargers that fit), thermal "
        "(nameplate vs IEC 60076-7 thermal counts and one design day).",
    )
    from evcap.plots import PLOT_KINDS

    parser.add_argument("kind", choices=PLOT_KINDS, metavar="KIND", help="chart kind")
    _add_connection_options(parser)
    _add_selection_options(parser)
    parser.add_argument(
        "--window",
        help="charging window (overview, map, with-chargers: default nightly; "
        "mix: default every window)",
    )
    parser.add_argument(
        "--bin",
        choices=["hour", "day", "week", "auto"],
        default="auto",
        help="time bin of headroom / with-chargers, local time (default: the "
        "finest under Altair's 5,000-row limit)",
    )
    parser.add_argument(
        "--stat",
        choices=["min", "mean", "both"],
        default="both",
        help="headroom: statistic per bin (default: both)",
    )
    parser.add_argument(
        "--charger-type",
        help="map / with-chargers: the charger type (default: the lowest power)",
    )
    parser.add_argument(
        "--mode",
        choices=["count-proportions", "power-proportions", "max-power", "joint"],
        default="max-power",
        help="mix: evcap.mix mode (default: max-power; single mode's rows are "
        "alternatives, not one mix: use `plot fit`)",
    )
    parser.add_argument(
        "--out", required=True, help="output file: .html, .png, .svg or .json"
    )
    parser.add_argument(
        "--scale", type=float, default=2.0, help="PNG pixel scale (default: 2)"
    )
    parser.set_defaults(handler=_cmd_plot)


def _cmd_plot(args: argparse.Namespace) -> int:
    from evcap.plots import make_plot, save_chart

    ids = _transformer_ids(args.transformer)
    with db.connection(args.dsn) as conn:
        chart = make_plot(
            conn,
            args.kind,
            transformers=ids,
            grid_id=args.grid_id,
            window=args.window,
            start=args.start,
            end=args.end,
            bin=args.bin,
            stat=args.stat,
            charger_type=args.charger_type,
            mode=args.mode,
            schema=args.schema,
        )
    path = save_chart(chart, args.out, scale=args.scale)
    print(path.resolve())
    return 0


def _add_report_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    parser = sub.add_parser(
        "report", help="write the self-contained HTML report (opens offline)"
    )
    _add_connection_options(parser)
    _add_selection_options(parser)
    parser.add_argument(
        "--window",
        default="nightly",
        help="charging window of the summary, ranking and map (default: nightly)",
    )
    parser.add_argument(
        "--no-mix", action="store_true", help="leave out the charger-mix scenarios"
    )
    parser.add_argument(
        "--out", default="out/report.html", help="HTML file (default: out/report.html)"
    )
    parser.add_argument(
        "--screenshot",
        metavar="PNG",
        help="also check the page in headless chromium and save a screenshot",
    )
    parser.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from evcap.report import write_report

    with db.connection(args.dsn) as conn:
        path = write_report(
            conn,
            args.out,
            transformers=_transformer_ids(args.transformer),
            grid_id=args.grid_id,
            window=args.window,
            schema=args.schema,
            start=args.start,
            end=args.end,
            mix=not args.no_mix,
        )
    print(path.resolve())
    if args.screenshot:
        from pathlib import Path

        from evcap import browser

        status = browser.render_status(path)
        if status.get("errors"):
            print(f"the page logged errors: {status['errors']}", file=sys.stderr)
            return 1
        shot = browser.screenshot(path, Path(args.screenshot))
        print(f"{shot.resolve()} ({status.get('rendered')} charts rendered)")
    return 0


# --- parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``evcap``."""
    parser = argparse.ArgumentParser(
        prog="evcap",
        description="How many EV chargers fit on each distribution transformer.",
    )
    parser.add_argument("--version", action="version", version=f"evcap {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error (before the command: "
        "evcap --debug fit ...)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_db_parser(sub)
    _add_edm_parser(sub)
    _add_demo_data_parser(sub)
    _add_build_parser(sub)
    _add_fit_parser(sub)
    from evcap.thermal.cli import add_thermal_parser  # issue #13

    add_thermal_parser(sub)  # issue #13
    _add_dbt_parser(sub)
    _add_env_parser(sub)
    _add_demo_parser(sub)
    _add_plot_parser(sub)
    _add_report_parser(sub)
    for name, command in sub.choices.items():
        if name in EXAMPLES:
            command.formatter_class = argparse.RawDescriptionHelpFormatter
            command.epilog = "example:\n  " + EXAMPLES[name]
    return parser


EXAMPLES = {
    "db": "evcap db start",
    "edm": "evcap edm install --edm-schema edm --replace",
    "demo-data": "evcap demo-data --meters 200 --days 90 --defects",
    "build": "evcap build --edm-schema edm --schema evcap --var "
    "local_timezone=America/Edmonton",
    "fit": "evcap fit --all --grid demo-north --window nightly --mode max-power "
    "--coincidence 0.8 --format csv --out fits.csv",
    "dbt": "evcap dbt docs generate",
    "env": "source <(evcap env --schema evcap)",
    "demo": "evcap demo --meters 40 --days 30",
    "plot": "evcap plot map --grid demo-north --window nightly --out map.html",
    "report": "evcap report --grid demo-north --out out/report.html",
    "thermal": "evcap thermal --grid demo-north --window nightly --charger L2_7.2kW",
}
"""One example per command, shown by ``evcap COMMAND --help``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the command, map every error to exit code 2.

    Any failure, evcap's own or not (a permission error, a path that is a
    directory, a database error), is one line on stderr saying what to do,
    with no password in it; ``--debug`` (or ``EVCAP_DEBUG=1``) shows the
    traceback instead.
    """
    import os

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command != "dbt":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        # `evcap dbt --debug run ...`: dbt's own flags pass through.
        args.dbt_args = [*unknown, *args.dbt_args]
    debug = bool(args.debug) or os.environ.get("EVCAP_DEBUG") == "1"
    dsn = getattr(args, "dsn", None) or ""
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("evcap: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            import traceback

            text = "".join(traceback.format_exception(exc))
            print(db.redact(text, dsn), file=sys.stderr, end="")
            return 2
        print(f"evcap: error: {db.redact(_one_line(exc), dsn)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """What went wrong and what to do, for any exception."""
    if isinstance(exc, EvcapError):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory: give a file path"
    if isinstance(exc, PermissionError):
        return (
            f"permission denied: {exc.filename or exc}; check the path's "
            "permissions or choose another path"
        )
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {exc.filename or exc}; check the path"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; check the path and the disk"
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(exc, psycopg.Error):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return (
            f"database error: {first}; check the role's privileges and that "
            "the marts are built (`evcap build`)"
        )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"unexpected {type(exc).__name__}: {text} (rerun with `evcap --debug ...` "
        "for the traceback and please report it)"
    )


if __name__ == "__main__":
    sys.exit(main())
