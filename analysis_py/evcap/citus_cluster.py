"""A local Citus cluster for tests and benchmarks: build once, start, stop.

Citus (distributed PostgreSQL) is not in Debian or on PyPI. ``make citus``
builds it from a source tarball against the system PostgreSQL 15 (once: a
stamp and the installed ``citus.control`` say which version is there) and
starts a coordinator and two workers on localhost, data under
``.evcap/citus/``. Real deployments install Citus from its own packages and
point evcap at their coordinator (README, "Running on Citus").

Run as a module: ``python -m evcap.citus_cluster up|build|start|stop|status``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from evcap.db import project_dir
from evcap.errors import DatabaseUnavailableError, EvcapError

PG_BIN = Path(os.environ.get("EVCAP_CITUS_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The team's shared vendor copy: ``shared/vendor/citus/`` beside the clone or
# beside any folder above it (a clone in a CI work directory finds it too).
VENDORED_TARBALL = Path("shared/vendor/citus/citus-13.2.2-src.tar.gz")
TEAM_WORKSPACE = Path("/work")
PATCH_NAME = "pg15.20-have_createdb_privilege.diff"
DEFAULT_PORT = 9700
WORKERS = 2
BUILD_PACKAGES = (
    "postgresql-server-dev-15",
    "libcurl4-openssl-dev",
    "liblz4-dev",
    "libzstd-dev",
    "libkrb5-dev",
    "libssl-dev",
)


class CitusClusterError(EvcapError):
    """Citus cannot be built, installed or started here."""


@dataclass(frozen=True)
class Cluster:
    """Where the local cluster lives.

    Attributes
    ----------
    root : Path
        Directory holding the build tree, stamp and node data directories.
    port : int
        Coordinator port; worker i listens on ``port + i``.
    workers : int
        Number of workers.
    """

    root: Path
    port: int = DEFAULT_PORT
    workers: int = WORKERS

    @property
    def ports(self) -> list[int]:
        """Coordinator port first, then the workers'."""
        return [self.port + i for i in range(self.workers + 1)]

    def data_dir(self, port: int) -> Path:
        """Data directory of the node on ``port`` (symlinks resolved)."""
        return (self.root / f"node-{port}").resolve()

    def dsn(self, database: str = "postgres", port: int | None = None) -> str:
        """libpq URL of ``database`` on the coordinator (or on ``port``)."""
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"


def default_cluster() -> Cluster:
    """The cluster under ``<project>/.evcap/citus`` (port: ``EVCAP_CITUS_PORT``)."""
    port = int(os.environ.get("EVCAP_CITUS_PORT", str(DEFAULT_PORT)))
    return Cluster(project_dir() / ".evcap" / "citus", port=port)


def default_tarball() -> Path:
    """``CITUS_TARBALL``, else the shared vendor copy beside the clone or above.

    Looks for ``shared/vendor/citus/...`` in every folder above the project,
    nearest first, then in the team workspace ``/work`` (a clone elsewhere,
    e.g. a CI work directory); when none has it, the path beside the clone
    (the error then names it).
    """
    if "CITUS_TARBALL" in os.environ:
        return Path(os.environ["CITUS_TARBALL"]).resolve()
    project = project_dir().resolve()
    for folder in [*project.parents, TEAM_WORKSPACE]:
        candidate = folder / VENDORED_TARBALL
        if candidate.is_file():
            return candidate
    return project.parent / VENDORED_TARBALL


# ------------------------------------------------------------------ build


def _run(command: Sequence[str], *, cwd: Path | None = None, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(
            list(command), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise CitusClusterError(
            f"{' '.join(command)} failed (exit {result.returncode}); log {log}:\n{tail}"
        )


def _pg_config(key: str) -> Path:
    pg_config = PG_BIN / "pg_config"
    if not pg_config.is_file():
        raise CitusClusterError(
            f"{pg_config} not found: install PostgreSQL 15 and its server headers "
            "(apt-get install postgresql-15 postgresql-server-dev-15)"
        )
    out = subprocess.run(
        [str(pg_config), key], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def missing_build_packages() -> list[str]:
    """Debian build dependencies of Citus that are not installed."""
    if shutil.which("dpkg-query") is None:
        return []
    missing = []
    for package in BUILD_PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def install_build_packages(log: Path) -> None:
    """apt-get the missing build dependencies (root only).

    Raises
    ------
    CitusClusterError
        When packages are missing and this process cannot install them.
    """
    missing = missing_build_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CitusClusterError(
            "Citus needs these Debian packages to build: "
            + " ".join(missing)
            + "; install them as root (apt-get install -y ...) and run again"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", *missing],
    ):
        with log.open("a") as out:
            result = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
            )
        if result.returncode != 0:
            raise CitusClusterError(f"{' '.join(command)} failed; see {log}")


def _tarball_version(tarball: Path) -> str:
    match = re.search(r"citus-(\d+\.\d+\.\d+)", tarball.name)
    if match is None:
        raise CitusClusterError(
            f"cannot tell the Citus version from {tarball.name!r} "
            "(expected citus-X.Y.Z-src.tar.gz)"
        )
    return match.group(1)


def _stamp_text(tarball: Path) -> str:
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    return f"{_tarball_version(tarball)} {digest} {_pg_config('--version')}\n"


def citus_installed(cluster: Cluster, tarball: Path) -> bool:
    """True when this tarball's Citus version is installed for the server.

    Either this clone's stamp says so, or the installed ``citus.so`` carries
    the tarball's version string (installed by another clone or a package);
    the stamp is written then.
    """
    library = _pg_config("--pkglibdir") / "citus.so"
    if not library.is_file():
        return False
    stamp = cluster.root / "installed.stamp"
    expected = _stamp_text(tarball)
    if stamp.is_file() and stamp.read_text() == expected:
        return True
    marker = f"Citus {_tarball_version(tarball)} on ".encode()
    if marker in library.read_bytes():
        cluster.root.mkdir(parents=True, exist_ok=True)
        stamp.write_text(expected)
        return True
    return False


def build_citus(cluster: Cluster, tarball: Path | None = None) -> bool:
    """Build and install Citus from ``tarball`` unless it is installed already.

    Returns
    -------
    bool
        True when it was built now, False when the installed one was kept.

    Raises
    ------
    CitusClusterError
        When the tarball is missing, a build dependency cannot be installed,
        or configure / make / make install fail (the message quotes the log).
    """
    tarball = tarball or default_tarball()
    if not tarball.is_file():
        raise CitusClusterError(
            f"Citus source tarball {tarball} not found; set CITUS_TARBALL=path"
        )
    cluster.root.mkdir(parents=True, exist_ok=True)
    log = cluster.root / "build.log"
    install_build_packages(log)
    if citus_installed(cluster, tarball):
        return False
    build_dir = cluster.root / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(build_dir, filter="data")
    (source,) = [p for p in build_dir.iterdir() if p.is_dir()]
    patch = Path(os.environ.get("CITUS_PATCH", str(tarball.with_name(PATCH_NAME))))
    if patch.is_file():
        _run(
            ["patch", "src/include/pg_version_compat.h", str(patch)],
            cwd=source,
            log=log,
        )
    pg_config = str(PG_BIN / "pg_config")
    _run(
        [
            "./configure",
            "--with-pg-version-check=no",
            f"PG_CONFIG={pg_config}",
        ],
        cwd=source,
        log=log,
    )
    # with_llvm=no: no JIT bitcode (half the compile time, not used here)
    _run(["make", f"-j{os.cpu_count() or 2}", "with_llvm=no"], cwd=source, log=log)
    _run(["make", "install", "with_llvm=no"], cwd=source, log=log)
    (cluster.root / "installed.stamp").write_text(_stamp_text(tarball))
    shutil.rmtree(build_dir, ignore_errors=True)
    return True


# ------------------------------------------------------------------ nodes


def _as_server_user(command: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as ``postgres`` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam("postgres")
    for directory, _, files in os.walk(path):
        os.chown(directory, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(Path(directory) / name, user.pw_uid, user.pw_gid)


def _node_running(cluster: Cluster, port: int) -> bool:
    data_dir = cluster.data_dir(port)
    if not (data_dir / "PG_VERSION").is_file():
        return False
    result = subprocess.run(
        _as_server_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(data_dir)]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _server_user_can_enter(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    result = subprocess.run(
        _as_server_user(["test", "-x", str(path)]), capture_output=True, check=False
    )
    return result.returncode == 0


def _make_data_dir(cluster: Cluster, port: int) -> Path:
    """The node's data directory, owned by the server user.

    Under root, when ``postgres`` cannot enter the clone (e.g. it lies in
    /root), the directory lives under the temporary directory and
    ``.evcap/citus/node-PORT`` is a symlink to it.
    """
    data_dir = cluster.root / f"node-{port}"
    cluster.root.mkdir(parents=True, exist_ok=True)
    if not data_dir.exists() and not _server_user_can_enter(cluster.root):
        digest = hashlib.sha256(str(cluster.root).encode()).hexdigest()[:10]
        elsewhere = (
            Path(tempfile.gettempdir()) / f"evcap-citus-{digest}" / data_dir.name
        )
        elsewhere.mkdir(parents=True, exist_ok=True)
        data_dir.symlink_to(elsewhere, target_is_directory=True)
        _chown_to_server_user(elsewhere.parent)
    data_dir.mkdir(parents=True, exist_ok=True)
    _chown_to_server_user(data_dir.resolve())
    return data_dir.resolve()


def _init_node(cluster: Cluster, port: int, log: Path) -> None:
    if (cluster.data_dir(port) / "PG_VERSION").is_file():
        return
    data_dir = _make_data_dir(cluster, port)
    _run(
        _as_server_user(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        ),
        log=log,
    )
    settings = {
        "port": str(port),
        "listen_addresses": "'localhost'",
        "unix_socket_directories": f"'{data_dir}'",
        "shared_preload_libraries": "'citus'",
        "max_connections": "100",
        "shared_buffers": "64MB",
        # a throw-away test cluster: durability is not needed
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "citus.shard_count": os.environ.get("EVCAP_CITUS_SHARD_COUNT", "8"),
        "log_min_messages": "warning",
    }
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# evcap local Citus cluster\n")
        for key, value in settings.items():
            conf.write(f"{key} = {value}\n")


def start_cluster(cluster: Cluster) -> None:
    """Start the coordinator and workers (initialise them first if new).

    Idempotent: running nodes are left running. Afterwards database
    ``postgres`` on the coordinator has the workers registered.

    Raises
    ------
    CitusClusterError
        When Citus is not installed or a node does not start.
    """
    if not (_pg_config("--pkglibdir") / "citus.so").is_file():
        raise CitusClusterError("Citus is not installed: run `make citus` first")
    cluster.root.mkdir(parents=True, exist_ok=True)
    log = cluster.root / "cluster.log"
    for port in cluster.ports:
        _init_node(cluster, port, log)
        if _node_running(cluster, port):
            continue
        data_dir = cluster.data_dir(port)
        server_log = data_dir / "server.log"
        try:
            _run(
                _as_server_user(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "start",
                        "-w",
                        "-D",
                        str(data_dir),
                        "-l",
                        str(server_log),
                    ]
                ),
                log=log,
            )
        except CitusClusterError as exc:
            # the reason (e.g. the port taken by another cluster) is here
            reason = "\n".join(
                server_log.read_text(errors="replace").splitlines()[-5:]
                if server_log.is_file()
                else []
            )
            raise CitusClusterError(
                f"node on port {port} did not start ({server_log}):\n{reason}\n"
                "another cluster on these ports? set EVCAP_CITUS_PORT"
            ) from exc
    create_database(cluster, "postgres")


def stop_cluster(cluster: Cluster) -> list[int]:
    """Stop every running node; returns the ports that were stopped."""
    stopped = []
    for port in cluster.ports:
        if _node_running(cluster, port):
            subprocess.run(
                _as_server_user(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "stop",
                        "-m",
                        "fast",
                        "-D",
                        str(cluster.data_dir(port)),
                    ]
                ),
                capture_output=True,
                check=True,
            )
            stopped.append(port)
    return stopped


def _connect(dsn: str, *, attempts: int = 20) -> psycopg.Connection:
    for attempt in range(attempts):
        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            if attempt == attempts - 1:
                raise DatabaseUnavailableError(
                    f"Citus node {dsn} not reachable: {exc}; run `make citus`"
                ) from exc
            time.sleep(0.5)
    raise AssertionError("unreachable")


def create_database(cluster: Cluster, database: str) -> str:
    """Make ``database`` a Citus database on every node; return its DSN.

    Creates it on each node when missing, creates the ``citus`` extension in
    each, and registers the coordinator and workers in it (idempotent).
    """
    for port in cluster.ports:
        with _connect(cluster.dsn("postgres", port)) as conn:
            exists = conn.execute(
                "select count(*) from pg_database where datname = %s", (database,)
            ).fetchone()
            if exists is None or exists[0] == 0:
                conn.execute(
                    sql.SQL("create database {}").format(sql.Identifier(database))
                )
        with _connect(cluster.dsn(database, port)) as conn:
            conn.execute("create extension if not exists citus")
    with _connect(cluster.dsn(database)) as conn:
        conn.execute(
            "select citus_set_coordinator_host('localhost', %s)", (cluster.port,)
        )
        known = {
            int(row[0])
            for row in conn.execute(
                "select nodeport from pg_dist_node where noderole = 'primary'"
            ).fetchall()
        }
        for port in cluster.ports[1:]:
            if port not in known:
                conn.execute("select citus_add_node('localhost', %s)", (port,))
    return cluster.dsn(database)


def drop_database(cluster: Cluster, database: str) -> None:
    """Drop ``database`` on every node (workers first)."""
    for port in reversed(cluster.ports):
        with _connect(cluster.dsn("postgres", port)) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(database)
                )
            )


def prepare_bulk_load(conn: psycopg.Connection) -> None:
    """Session settings for ``demo_data.load_grid`` into a Citus stand-in.

    load_grid deletes readings (distributed) and then rows of reference
    tables, copies and analyzes them in one transaction: Citus needs one
    connection per node and no local execution on the coordinator for that.
    """
    conn.execute("set citus.multi_shard_modify_mode = 'sequential'")
    conn.execute("set citus.enable_local_execution = off")


def cluster_reachable(cluster: Cluster) -> bool:
    """True when the coordinator answers and knows at least one worker."""
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(
                "select count(*) from pg_dist_node where noderole = 'primary'"
                " and groupid <> 0"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0] > 0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evcap.citus_cluster up|build|start|stop|status``."""
    parser = argparse.ArgumentParser(prog="python -m evcap.citus_cluster")
    parser.add_argument("action", choices=["up", "build", "start", "stop", "status"])
    args = parser.parse_args(argv)
    cluster = default_cluster()
    try:
        if args.action in ("up", "build"):
            started = time.monotonic()
            built = build_citus(cluster)
            elapsed = time.monotonic() - started
            print(
                f"citus: built and installed in {elapsed:.0f} s"
                if built
                else "citus: already installed (stamp matches), not rebuilt"
            )
        if args.action in ("up", "start"):
            start_cluster(cluster)
            print(
                f"citus: coordinator {cluster.dsn()} with {cluster.workers} workers"
                f" on ports {cluster.ports[1:]}"
            )
        if args.action == "stop":
            stopped = stop_cluster(cluster)
            print(
                f"citus: stopped ports {stopped}" if stopped else "citus: not running"
            )
        if args.action == "status":
            up = cluster_reachable(cluster)
            print(f"citus: {'up at ' + cluster.dsn() if up else 'down'}")
            return 0 if up else 1
    except EvcapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
