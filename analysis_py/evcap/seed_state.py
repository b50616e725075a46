"""Whether a target schema holds this project's seeds as they are now.

``evcap build`` is the nightly call. The seeds (``seeds/*.csv``: charger
types, charging windows, time zones, overrides, thermal parameters) change
only when the project is deployed or an engineer edits them, yet
``dbt build`` reloads every seed and runs its 69 data tests every night (a
second or more of a night of seconds). After a build that loaded them,
``record_seeds_loaded`` keeps a fingerprint of the seed files, the
project file, the macros and the run's vars in
``<schema>.evcap_seeds_loaded``; the next ``evcap build`` leaves the seeds
and the tests defined beside them out when the fingerprint is the same and
every seed table is still there (``seeds_unchanged``). Anything else (an
edited CSV or macro, another vars set, a dropped table, ``--full-refresh``,
a first build) loads and tests them.
Tests that read a seed and a model (e.g.
``assert_charger_fit_consistent_with_window_headroom``) always run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psycopg import sql

from evcap import db

STATE_TABLE = "evcap_seeds_loaded"

# dbt selectors for the seeds and the data tests their properties file
# defines (every such test reads seeds only); --indirect-selection empty
# keeps the tests of other files that read a seed and a model.
SKIP_SEEDS_ARGS = [
    "--exclude",
    "resource_type:seed",
    "path:seeds",
    "--indirect-selection",
    "empty",
]


def seed_files(project_dir: Path | None = None) -> list[Path]:
    """Every file under ``seeds/`` (CSVs and their properties), sorted."""
    project_dir = project_dir or db.project_dir()
    return sorted(p for p in (project_dir / "seeds").rglob("*") if p.is_file())


def seeds_fingerprint(
    vars: Mapping[str, Any] | None, project_dir: Path | None = None
) -> str:
    """SHA-256 of what loading the seeds depends on.

    The seed files, ``dbt_project.yml`` (seed configs and their hooks), the
    macros (the hooks' bodies, e.g. the Citus layout) and ``vars``: a new
    release or an edited config loads the seeds once more.
    """
    project_dir = project_dir or db.project_dir()
    macros = sorted(p for p in (project_dir / "macros").rglob("*.sql") if p.is_file())
    digest = hashlib.sha256()
    for path in [
        *seed_files(project_dir),
        *macros,
        project_dir / "dbt_project.yml",
    ]:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(json.dumps(dict(vars or {}), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def seed_tables(project_dir: Path | None = None) -> list[str]:
    """Table names of the seeds (a seed's table is named after its CSV)."""
    return [p.stem for p in seed_files(project_dir) if p.suffix == ".csv"]


def seeds_unchanged(
    dsn: str, schema: str, fingerprint: str, project_dir: Path | None = None
) -> bool:
    """True when ``schema`` holds every seed table, loaded from ``fingerprint``."""
    names = [STATE_TABLE, *seed_tables(project_dir)]
    with db.connect(dsn) as conn:
        missing = conn.execute(
            "select count(*) from unnest(%s::text[]) as name"
            " where to_regclass(format('%%I.%%I', %s::text, name)) is null",
            (names, schema),
        ).fetchone()
        if missing is None or missing[0]:
            return False
        stored = conn.execute(
            sql.SQL("select fingerprint from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(STATE_TABLE)
            )
        ).fetchall()
    return [row[0] for row in stored] == [fingerprint]


def record_seeds_loaded(dsn: str, schema: str, fingerprint: str) -> None:
    """Keep ``fingerprint`` as the seeds ``schema`` now holds (after a build)."""
    table = sql.Identifier(schema, STATE_TABLE)
    with db.connect(dsn) as conn:
        conn.execute(
            sql.SQL(
                "create table if not exists {}"
                " (fingerprint text not null, loaded_at timestamptz not null)"
            ).format(table)
        )
        conn.execute(sql.SQL("delete from {}").format(table))
        conn.execute(
            sql.SQL("insert into {} values (%s, now())").format(table), (fingerprint,)
        )
        conn.commit()
