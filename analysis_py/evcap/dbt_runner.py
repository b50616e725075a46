"""Run the project's dbt CLI against a resolved database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evcap.db import effective_libpq_env, project_dir, secrets
from evcap.errors import ConfigError, DbtRunError

DEFAULT_TARGET_SCHEMA = "evcap"


@dataclass(frozen=True)
class DbtResult:
    """Outcome of one dbt invocation.

    Attributes
    ----------
    args : list of str
        The dbt arguments that were run.
    returncode : int
        dbt's exit code (0 on success).
    output : str
        dbt's combined stdout and stderr.
    run_results : dict
        Parsed ``target/run_results.json`` (empty when dbt wrote none).
    """

    args: list[str]
    returncode: int
    output: str
    run_results: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """Lines of dbt's log that carry a warning."""
        return [
            line
            for line in self.output.splitlines()
            if "[WARNING]" in line or " WARN " in line or "Warning:" in line
        ]

    def timings_s(self) -> dict[str, float]:
        """Execution time in seconds of each node, by unique_id."""
        return {
            str(r["unique_id"]): float(r.get("execution_time", 0.0))
            for r in self.run_results.get("results", [])
        }


def dbt_executable() -> str:
    """Path of the ``dbt`` script of this Python environment."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise DbtRunError(
            "dbt is not installed in this environment; run `make install`"
        )
    return found


def build_args(*, full_refresh: bool = False, unit_tests: bool = False) -> list[str]:
    """The ``dbt build`` call ``evcap build`` makes (the bench makes the same).

    Seeds, models, snapshots and data tests; dbt's unit tests only with
    ``unit_tests``: their inputs are fixed rows, so a night's new data cannot
    change their outcome (dbt recommends running them in development and
    CI only, which ``make test`` does), and they cost seconds every run.
    """
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    return args


def run_build(
    dsn: str,
    *,
    target_schema: str = DEFAULT_TARGET_SCHEMA,
    vars: Mapping[str, Any] | None = None,
    full_refresh: bool = False,
    unit_tests: bool = False,
    target_path: Path | None = None,
    echo: bool = False,
) -> DbtResult:
    """``evcap build``: ``dbt build`` (``build_args``), seeds left out when unchanged.

    The seeds and the tests defined beside them are left out when
    ``target_schema`` holds them as loaded from the same seed files, project
    file and ``vars`` (``evcap.seed_state``); a build that loaded them
    records that. Raises ``DbtRunError`` when dbt fails (nothing recorded).
    """
    from evcap import seed_state

    fingerprint = seed_state.seeds_fingerprint(vars)
    skip_seeds = not full_refresh and seed_state.seeds_unchanged(
        dsn, target_schema, fingerprint
    )
    args = build_args(full_refresh=full_refresh, unit_tests=unit_tests)
    if skip_seeds:
        args += seed_state.SKIP_SEEDS_ARGS
    result = run_dbt(
        args,
        dsn,
        target_schema=target_schema,
        vars=vars,
        target_path=target_path,
        echo=echo,
    )
    if not skip_seeds:
        seed_state.record_seeds_loaded(dsn, target_schema, fingerprint)
    return result


def dbt_env(
    dsn: str,
    *,
    target_schema: str = DEFAULT_TARGET_SCHEMA,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for a dbt subprocess: the database ``dsn`` reaches, schema, profiles.

    Every dbt session runs with PostgreSQL's JIT off (``PGOPTIONS``, unless it
    already sets ``jit``): the models' and tests' cost estimates cross
    ``jit_above_cost`` and compiling their expressions took seconds per query
    (7 s for a 300-row nameplate model) and saved less. A plain ``dbt build``
    outside evcap keeps the server's setting (README, "Running evcap").

    dbt's file log (``<target>/logs/dbt.log``) is kept at ``info`` (what ran,
    how long, what failed) unless ``DBT_LOG_LEVEL_FILE`` is set: at dbt's
    default, ``debug``, it also writes every statement's SQL, which took
    about a tenth of a quiet nightly build's node time; the SQL of each
    model and test is in ``<target>/run`` anyway.

    Raises
    ------
    DatabaseUnavailableError
        When the database cannot be reached (checked before dbt starts).
    """
    env = dict(os.environ if base is None else base)
    env.update(effective_libpq_env(dsn))
    env["EVCAP_SCHEMA"] = target_schema
    options = env.get("PGOPTIONS", "")
    if "jit" not in options:
        env["PGOPTIONS"] = f"{options} -c jit=off".strip()
    env.setdefault("DBT_PROFILES_DIR", str(project_dir()))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DBT_LOG_LEVEL_FILE", "info")
    return env


def run_dbt(
    args: Sequence[str],
    dsn: str,
    *,
    target_schema: str = DEFAULT_TARGET_SCHEMA,
    vars: Mapping[str, Any] | None = None,
    target_path: Path | None = None,
    check: bool = True,
    echo: bool = False,
) -> DbtResult:
    """Run ``dbt <args>`` in the project directory.

    Parameters
    ----------
    args : sequence of str
        dbt sub-command and flags, e.g. ``["build", "--select", "marts"]``.
    dsn : str
        Connection string; empty to use the caller's libpq variables.
    target_schema : str
        Schema dbt builds into (``EVCAP_SCHEMA``).
    vars : mapping, optional
        dbt ``--vars``, serialised as JSON.
    target_path : Path, optional
        dbt's target directory (separate runs in parallel need separate ones).
    check : bool
        Raise on a non-zero exit code.
    echo : bool
        Stream dbt's output to stdout while it runs.

    Raises
    ------
    DbtRunError
        When ``check`` and dbt exits non-zero; the message holds dbt's errors.
    DatabaseUnavailableError
        When the database cannot be reached (checked before dbt starts).
    """
    edm_schema = str((vars or {}).get("edm_schema", "edm"))
    if target_schema == edm_schema:
        raise ConfigError(
            f"the target schema {target_schema!r} is the EDM source schema: evcap "
            "never writes to its source; choose another --schema"
        )
    command = [dbt_executable(), *args]
    if vars:
        command += ["--vars", json.dumps(dict(vars))]
    directory = project_dir()
    target = target_path or directory / "target"
    env = dbt_env(dsn, target_schema=target_schema)
    env["DBT_TARGET_PATH"] = str(target)
    env.setdefault("DBT_LOG_PATH", str(target / "logs"))
    results_file = target / "run_results.json"
    # A failing run may write none: never report an earlier run's results.
    results_file.unlink(missing_ok=True)
    hidden = sorted(
        secrets(dsn) | ({env["PGPASSWORD"]} if env.get("PGPASSWORD") else set()),
        key=len,
        reverse=True,
    )
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw
            for secret in hidden:  # dbt never should print one; be sure
                line = line.replace(secret, "***")
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        returncode = process.wait()
    output = "".join(lines)
    run_results: dict[str, Any] = {}
    if results_file.is_file():
        run_results = json.loads(results_file.read_text())
    result = DbtResult(list(args), returncode, output, run_results)
    if check and returncode != 0:
        errors = [
            line
            for line in output.splitlines()
            if "ERROR" in line or "Error" in line or "FAIL" in line
        ]
        if "Encountered an error:" in output:
            # dbt stopped before running nodes: its message follows this line
            tail = output.split("Encountered an error:", 1)[1].strip().splitlines()
            errors = [line for line in tail if line.strip()][:15]
        summary = "\n".join(errors[-20:]) or output[-2000:]
        raise DbtRunError(
            f"dbt {' '.join(args)} failed (exit {returncode}):\n{summary}"
        )
    return result
