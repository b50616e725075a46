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

from evcap import __version__, db
from evcap.errors import EvcapError


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        help="PostgreSQL connection string (default: EVCAP_DSN, PG* variables, "
        "else the embedded server)",
    )
    parser.add_argument(
        "--schema",
        default="evcap",
        help="schema holding evcap's models (default: evcap)",
    )
    parser.add_argument(
        "--edm-schema",
        default="edm",
        help="schema of the Awesense EDM source (default: edm)",
    )


# --- db -------------------------------------------------------------------


def _add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="manage the embedded PostgreSQL server")
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
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
    edm_sub = parser.add_subparsers(dest="edm_action", required=True, metavar="ACTION")
    install = edm_sub.add_parser(
        "install", help="create the stand-in of the Awesense EDM schema"
    )
    install.add_argument("--dsn", help="PostgreSQL connection string")
    install.add_argument(
        "--schema", default="edm", help="schema to create (default: edm)"
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
    parser.add_argument("--dsn", help="PostgreSQL connection string")
    parser.add_argument(
        "--edm-schema", default="edm", help="stand-in schema (default: edm)"
    )
    _add_grid_options(parser)
    parser.set_defaults(handler=_cmd_demo_data)


def _add_grid_options(parser: argparse.ArgumentParser) -> None:
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
        "--grids", type=int, default=1, help="number of grids (default: 1)"
    )
    parser.add_argument(
        "--defects",
        action="store_true",
        help="inject real-world defects (missing ratings, gaps, duplicates, ...)",
    )


def _grid_spec(args: argparse.Namespace) -> object:
    from evcap.demo_data import GridSpec

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
    from evcap.demo_data import load_grid

    spec = _grid_spec(args)
    with db.connection(args.dsn) as conn:
        summary = load_grid(conn, spec, schema=args.edm_schema)  # type: ignore[arg-type]
    print(summary)
    return 0


def _add_build_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("build", help="run `dbt build` (models, seeds, tests)")
    _add_connection_options(parser)
    parser.add_argument(
        "--full-refresh", action="store_true", help="rebuild incremental models"
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
        values[name.strip()] = yaml.safe_load(value)
    return values


def _cmd_build(args: argparse.Namespace) -> int:
    from evcap.dbt_runner import run_dbt

    resolved = db.resolve_dsn(args.dsn)
    dbt_args = ["build"] + (["--full-refresh"] if args.full_refresh else [])
    run_dbt(
        dbt_args,
        resolved.dsn,
        target_schema=args.schema,
        vars=_parse_vars(args.var, args.edm_schema),
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
    parser.add_argument("--dsn", help="PostgreSQL connection string")
    parser.add_argument(
        "--schema", default="evcap", help="target schema (default: evcap)"
    )
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
    parser.add_argument("--dsn", help="PostgreSQL connection string")
    parser.add_argument(
        "--schema", default="evcap", help="target schema (default: evcap)"
    )
    parser.set_defaults(handler=_cmd_env)


def _cmd_env(args: argparse.Namespace) -> int:
    import shlex

    from evcap.dbt_runner import dbt_env

    resolved = db.resolve_dsn(args.dsn)
    env = dbt_env(resolved.dsn, target_schema=args.schema, base={})
    for name in sorted(env):
        print(f"export {name}={shlex.quote(env[name])}")
    return 0


# --- demo -----------------------------------------------------------------


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="everything at once: EDM stand-in, synthetic grid, dbt build, fits, report",
    )
    _add_connection_options(parser)
    _add_grid_options(parser)
    parser.set_defaults(meters=80, days=365, grids=2, defects=True)
    parser.add_argument(
        "--clean-data",
        dest="defects",
        action="store_false",
        help="generate a grid without injected defects",
    )
    parser.add_argument("--window", default="nightly", help="window of the fit summary")
    parser.add_argument(
        "--out-dir", default="out", help="directory for the report (default: out)"
    )
    parser.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from evcap.dbt_runner import run_dbt
    from evcap.demo_data import load_grid
    from evcap.edm_standin import install_standin
    from evcap.mix import fit, write_mix
    from evcap.report import write_report

    started = time.perf_counter()
    resolved = db.resolve_dsn(args.dsn)
    print(f"[1/5] database: {resolved.describe()}")
    with db.connect(resolved) as conn:
        geometry = install_standin(conn, args.edm_schema, replace=True)
        print(
            f"[2/5] EDM stand-in in schema {args.edm_schema!r} (geometry as {geometry})"
        )
        summary = load_grid(conn, _grid_spec(args), schema=args.edm_schema)  # type: ignore[arg-type]
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
        write_mix(conn, mixes, schema=args.schema)
        print(f"[4/5] charger fits ({args.window}, max power): {_fit_summary(mixes)}")
        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = write_report(conn, out_dir / "report.html", schema=args.schema)
    print(f"[5/5] report: {report.resolve()}")
    print(
        f"done in {time.perf_counter() - started:.0f} s. Marts are in schema "
        f"{args.schema!r}; connect with: {_psql_hint(resolved)}"
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
    if resolved.source == "libpq":
        return "psql (your PG* variables)"
    return f"psql '{resolved.dsn}'"


# --- parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``evcap``."""
    parser = argparse.ArgumentParser(
        prog="evcap",
        description="How many EV chargers fit on each distribution transformer.",
    )
    parser.add_argument("--version", action="version", version=f"evcap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_db_parser(sub)
    _add_edm_parser(sub)
    _add_demo_data_parser(sub)
    _add_build_parser(sub)
    _add_dbt_parser(sub)
    _add_env_parser(sub)
    _add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the command, map errors to exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except EvcapError as exc:
        print(f"evcap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evcap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
