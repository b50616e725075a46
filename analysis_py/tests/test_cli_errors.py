"""Every CLI failure is one line and exit code 2; --debug shows the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcap import cli, mix


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("evcap: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_out_pointing_at_a_directory(
    marts_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fit", "--dsn", marts_dsn, "--all", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "is a directory" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied", "/srv/x.csv"), "permission denied"),
        (IsADirectoryError(21, "Is a directory", "/srv"), "is a directory"),
        (FileNotFoundError(2, "No such file", "/nope.csv"), "no such file"),
        (OSError(28, "No space left on device", "/srv/x"), "No space left"),
        (RuntimeError("boom"), "unexpected RuntimeError: boom"),
    ],
)
def test_any_exception_is_one_line_and_debug_shows_the_traceback(
    error: Exception,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(mix, "load_charger_types", fail)
    argv = ["fit", "--dsn", "postgresql://u@127.0.0.1:1/x", "--all"]
    assert cli.main(argv) == 2
    assert expected in _one_line_error(capsys)
    assert cli.main(["--debug", *argv]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("EVCAP_DEBUG", "1")
    assert cli.main(argv) == 2
    assert "Traceback" in capsys.readouterr().err


def test_fit_with_a_progress_bar_gives_the_same_result(
    marts_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fit", "--dsn", marts_dsn, "--all", "--format", "csv"]) == 0
    with_bar = capsys.readouterr().out
    import psycopg

    import evcap

    with psycopg.connect(marts_dsn) as conn:
        plain = evcap.fit(conn, window="nightly")
    assert with_bar == plain.to_csv(index=False)
