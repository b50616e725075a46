"""Every CLI failure is one line and exit code 2; --debug shows the traceback."""

from __future__ import annotations

import argparse
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


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found[f"{prefix} {name}".strip()] = child
                    walk(f"{prefix} {name}", child)

    walk("", parser)
    return found


def test_every_flag_has_help_and_every_command_an_example() -> None:
    commands = _commands()
    for name, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"evcap {name}: {action.option_strings or action.dest}"
        if " " not in name:
            assert parser.epilog, f"evcap {name} has no example"
            example = parser.epilog.split("example:", 1)[1]
            assert f"evcap {name}" in example, example


def test_flags_mean_the_same_everywhere() -> None:
    """--grid, --schema (the marts) and --edm-schema (the source) everywhere."""
    commands = _commands()
    for name in ("fit", "plot", "report", "thermal", "demo-data"):
        grid = [a for a in commands[name]._actions if "--grid" in a.option_strings]
        assert len(grid) == 1, name
        assert grid[0].dest == "grid_id", name
    for name, parser in commands.items():
        shown = parser.format_help()
        assert "--grid-id" not in shown, name  # the old spelling is hidden
        for action in parser._actions:
            hidden = action.help == argparse.SUPPRESS
            if "--grid-id" in action.option_strings:
                assert hidden, name
                assert action.dest == "grid_id", name
            if "--schema" in action.option_strings and not hidden:
                # --schema is always the marts (target) schema
                assert action.default == "evcap", name
                assert "marts" in str(action.help), name
            if "--edm-schema" in action.option_strings:
                assert action.default == "edm", name
                assert "EDM" in str(action.help), name
        if name == "edm install":
            assert "--schema " not in shown  # only --edm-schema is documented


@pytest.mark.parametrize(
    ("argv", "grid"),
    [
        (["fit", "--all", "--grid-id", "g1"], "g1"),
        (["fit", "--all", "--grid", "g2"], "g2"),
        (["plot", "map", "--out", "m.html", "--grid-id", "g3"], "g3"),
        (["thermal", "--grid-id", "g4"], "g4"),
        (["demo-data", "--grid-id", "g5"], "g5"),
    ],
)
def test_old_grid_id_spelling_still_works(argv: list[str], grid: str) -> None:
    assert cli.build_parser().parse_args(argv).grid_id == grid


def test_edm_install_old_schema_spelling_still_works() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["edm", "install", "--schema", "x"]).schema == "x"
    assert parser.parse_args(["edm", "install", "--edm-schema", "y"]).schema == "y"
