"""No password is ever printed or logged, and TLS settings reach dbt.

A password goes in through ``--dsn``, ``EVCAP_DSN``, a service file
(``PGSERVICEFILE``) and a password file (``PGPASSFILE``); every command's
stdout and stderr, and every file dbt wrote (target/, logs/), are searched for
it. The system server trusts local logins, so any password is accepted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from evcap import cli, db
from evcap.dbt_runner import dbt_env

SECRET = "Sekr1t-pw-93f7"
SYSTEM = pytest.mark.parametrize("pg_server", ["system-pg"], indirect=True)


def _with_password(dsn: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["password"] = SECRET
    return psycopg.conninfo.make_conninfo("", **params)


def _dbt_files_since(start: float) -> list[Path]:
    root = db.project_dir()
    files: list[Path] = []
    for folder in (root / "target", root / "logs"):
        if folder.is_dir():
            files += [
                p
                for p in folder.rglob("*")
                if p.is_file() and p.stat().st_mtime >= start
            ]
    return files


def _assert_nowhere(capsys: pytest.CaptureFixture[str], start: float) -> str:
    captured = capsys.readouterr()
    assert SECRET not in captured.out
    assert SECRET not in captured.err
    for path in _dbt_files_since(start):
        assert SECRET not in path.read_text(errors="replace"), path
    return captured.out + captured.err


@SYSTEM
def test_password_in_dsn_is_never_printed(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.time() - 1
    dsn = _with_password(pg_dsn)
    assert cli.main(["env", "--dsn", dsn]) == 0
    out = _assert_nowhere(capsys, start)
    assert "PGPASSWORD not printed" in out
    assert cli.main(["env", "--dsn", dsn, "--show-password"]) == 0
    assert SECRET in capsys.readouterr().out  # only when asked
    assert cli.main(["dbt", "--dsn", dsn, "debug"]) == 0
    _assert_nowhere(capsys, start)
    # marts missing: an error naming the database, not the password
    assert cli.main(["fit", "--dsn", dsn, "--all"]) == 2
    _assert_nowhere(capsys, start)
    # the psql hint of `evcap demo`
    hint = cli._psql_hint(db.ResolvedDsn(dsn, "argument"))
    assert SECRET not in hint
    assert "password" in hint


@pytest.mark.parametrize(
    "bad",
    [
        f"host=127.0.0.1 password={SECRET} port",
        f"host=127.0.0.1 password='{SECRET} port=5432",
        f"postgresql://postgres:{SECRET}@127.0.0.1:notaport/x",
        f"postgresql://postgres:{SECRET}@127.0.0.1:5432/x?sslmode=nonsense",
        f"host=127.0.0.1 port=1 password={SECRET}",
    ],
)
@pytest.mark.parametrize("via", ["--dsn", "EVCAP_DSN"])
def test_malformed_or_unreachable_dsn_never_echoes_the_password(
    bad: str,
    via: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = time.time() - 1
    for command in (["fit", "--all"], ["build"], ["env"], ["edm", "install"]):
        if via == "--dsn":
            argv = [*command, "--dsn", bad]
        else:
            monkeypatch.setenv("EVCAP_DSN", bad)
            argv = list(command)
        assert cli.main(argv) == 2, argv
        out = _assert_nowhere(capsys, start)
        assert "evcap: error:" in out
        assert "Traceback" not in out
        # --debug shows the traceback, still without the password
        assert cli.main(["--debug", *argv]) == 2
        out = _assert_nowhere(capsys, start)
        assert "Traceback" in out


def _service_file(tmp_path: Path, dsn: str, **extra: str) -> Path:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    lines = ["[evcaph]"]
    lines += [f"{k}={v}" for k, v in params.items() if k != "password"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    path = tmp_path / "pg_service.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@SYSTEM
def test_service_file_password_and_tls_reach_dbt_unprinted(
    pg_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = time.time() - 1
    root_cert = tmp_path / "root.crt"
    service = _service_file(
        tmp_path,
        pg_dsn,
        password=SECRET,
        sslmode="disable",
        sslrootcert=str(root_cert),
        target_session_attrs="read-write",
    )
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("EVCAP_DSN", raising=False)
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.setenv("PGSERVICE", "evcaph")
    env = dbt_env("", base={})
    # every libpq setting of the service is handed on, the service itself not
    assert env["PGSSLMODE"] == "disable"
    assert env["PGSSLROOTCERT"] == str(root_cert)
    assert env["PGTARGETSESSIONATTRS"] == "read-write"
    assert env["PGPASSWORD"] == SECRET
    assert "PGSERVICE" not in env
    assert env["PGDATABASE"] == psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    assert cli.main(["dbt", "debug"]) == 0
    out = _assert_nowhere(capsys, start)
    assert "sslmode: disable" in out  # what dbt's profile received
    assert cli.main(["env"]) == 0
    _assert_nowhere(capsys, start)

    # sslmode=allow reaches dbt as such; require fails (no TLS on this server)
    _service_file(tmp_path, pg_dsn, password=SECRET, sslmode="allow")
    assert cli.main(["dbt", "debug"]) == 0
    assert "sslmode: allow" in _assert_nowhere(capsys, start)
    _service_file(tmp_path, pg_dsn, password=SECRET, sslmode="require")
    assert cli.main(["dbt", "debug"]) == 2
    assert "SSL" in _assert_nowhere(capsys, start)


@SYSTEM
def test_dbt_honours_sslmode_from_evcap(pg_dsn: str, tmp_path: Path) -> None:
    """The profile passes PGSSLMODE to dbt's own connection."""
    import subprocess

    from evcap.dbt_runner import dbt_executable

    env = dbt_env(pg_dsn + " sslmode=disable")
    assert env["PGSSLMODE"] == "disable"
    env["PGSSLMODE"] = "require"
    env["DBT_TARGET_PATH"] = str(tmp_path / "target")
    env["DBT_LOG_PATH"] = str(tmp_path / "logs")
    done = subprocess.run(
        [dbt_executable(), "debug"],
        cwd=db.project_dir(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "SSL" in done.stdout + done.stderr


@SYSTEM
def test_pgpass_password_is_never_printed(
    pg_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = time.time() - 1
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{SECRET}\n")
    os.chmod(passfile, 0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert cli.main(["env", "--dsn", pg_dsn]) == 0
    _assert_nowhere(capsys, start)
    assert cli.main(["dbt", "--dsn", pg_dsn, "debug"]) == 0
    _assert_nowhere(capsys, start)
    assert cli.main(["fit", "--dsn", pg_dsn, "--all"]) == 2
    _assert_nowhere(capsys, start)
