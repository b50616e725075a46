"""`evcap fit` on hand-made marts in a fresh database on each server."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from test_mix import CHARGERS, _frames, install_marts

from evcap import cli, mix
from evcap.marts import read_mart


@pytest.fixture
def marts_dsn(pg_dsn: str) -> str:
    """A database holding dim_transformers and transformer_window_headroom."""
    frames = _frames(
        {"P": 30.0, "K1": 23.0, "K2": 20.0, "K3": None},
        upstream={"K1": "P", "K2": "P", "K3": "P"},
    )
    with psycopg.connect(pg_dsn) as conn:
        install_marts(conn, frames)
    return pg_dsn


@pytest.fixture
def chargers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "chargers.csv"
    CHARGERS.to_csv(path, index=False)
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_table_output(marts_dsn: str, chargers_csv: Path) -> None:
    code, out, err = run(
        "fit",
        "--dsn",
        marts_dsn,
        "--transformer",
        "K1",
        "--chargers-csv",
        str(chargers_csv),
        "--mode",
        "single",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == list(mix.OUTPUT_COLUMNS)
    assert len(lines) == 1 + len(CHARGERS)
    l2 = next(line for line in lines if " L2_7 " in line)
    # 23 kW / 7.2 kW = 3 chargers, 21.6 kW, 1.4 kW left
    assert l2.split()[5] == "3"
    assert "21.6" in l2
    assert "1.4" in l2
    assert "voltage_above_secondary" in out


def test_csv_and_json_match_the_api(
    marts_dsn: str, chargers_csv: Path, tmp_path: Path
) -> None:
    target = tmp_path / "fit.csv"
    args = ["fit", "--dsn", marts_dsn, "--all", "--chargers-csv", str(chargers_csv)]
    code, out, _ = run(*args, "--format", "csv", "--out", str(target))
    assert code == 0
    assert out == ""
    from_cli = pd.read_csv(target)
    with psycopg.connect(marts_dsn) as conn:
        from_api = mix.fit(conn, chargers=CHARGERS)
    assert list(from_cli["count"]) == list(from_api["count"])
    assert list(from_cli["transformer_id"]) == list(from_api["transformer_id"])
    code, out, _ = run(*args, "--format", "json", "--mode", "joint")
    assert code == 0
    records = json.loads(out)
    assert {r["transformer_id"] for r in records} == {"K1", "K2", "K3"}
    assert sum(r["power_kw"] for r in records) <= 30.0 + 1e-9


def test_proportions_bounds_and_charger_subset(
    marts_dsn: str, chargers_csv: Path
) -> None:
    base = ["fit", "--dsn", marts_dsn, "--transformer", "K1"]
    base += ["--chargers-csv", str(chargers_csv), "--format", "json"]
    code, out, err = run(
        *base,
        "--mode",
        "count-proportions",
        "--charger",
        "L1",
        "--charger",
        "L2_7",
        "--proportion",
        "50",
        "--proportion",
        "50",
    )
    assert code == 0, err
    counts = {r["charger_type"]: r["count"] for r in json.loads(out)}
    assert counts == {
        "L1": 3,
        "L2_7": 2,
    }  # N=5: 5.7 + 14.4 = 20.1 kW; N=6 (3 + 3) is 27.3 kW
    code, out, err = run(*base, "--min-count", "L2_11=1", "--max-count", "L1=0")
    assert code == 0, err
    counts = {r["charger_type"]: r["count"] for r in json.loads(out)}
    assert counts["L1"] == 0
    assert counts["L2_11"] >= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--transformer", "NOPE"], "unknown transformer id(s) NOPE"),
        (["--transformer", "K1", "--window", "noon"], "available: nightly"),
        (["--transformer", "K1", "--charger", "L9"], "unknown charger type"),
        (
            [
                "--transformer",
                "K1",
                "--mode",
                "count-proportions",
                "--proportion",
                "40",
            ],
            "1 proportions for 4",
        ),
        (["--transformer", "K1", "--min-count", "L1"], "TYPE=N"),
        ([], "--transformer ID"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    marts_dsn: str, chargers_csv: Path, extra: list[str], message: str
) -> None:
    code, out, err = run(
        "fit", "--dsn", marts_dsn, "--chargers-csv", str(chargers_csv), *extra
    )
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_write_upserts_the_mix_table(marts_dsn: str, chargers_csv: Path) -> None:
    args = ["fit", "--dsn", marts_dsn, "--all", "--chargers-csv", str(chargers_csv)]
    for _ in range(2):
        code, _out, err = run(*args, "--write", "--format", "csv")
        assert code == 0, err
        assert "transformer_charger_mix" in err
    with psycopg.connect(marts_dsn) as conn:
        stored = read_mart(conn, "transformer_charger_mix")
    assert len(stored) == 4 * len(CHARGERS)
    assert set(stored["mode"]) == {"max-power"}


def test_all_with_an_unknown_grid_names_the_grid(
    marts_dsn: str, chargers_csv: Path
) -> None:
    code, _out, err = run(
        "fit",
        "--dsn",
        marts_dsn,
        "--all",
        "--grid-id",
        "bogus",
        "--chargers-csv",
        str(chargers_csv),
    )
    assert code == 2
    assert "unknown grid 'bogus'; known grids: g1" in err
    assert "charging window" not in err


def test_write_again_with_fewer_types_leaves_no_stale_rows(
    marts_dsn: str, tmp_path: Path
) -> None:
    def fit_write(types: pd.DataFrame) -> None:
        path = tmp_path / "types.csv"
        types.to_csv(path, index=False)
        code, _out, err = run(
            "fit",
            "--dsn",
            marts_dsn,
            "--transformer",
            "K1",
            "--chargers-csv",
            str(path),
            "--coincidence",
            "0.9",
            "--write",
        )
        assert code == 0, err

    fit_write(CHARGERS.iloc[:2])
    fit_write(CHARGERS.iloc[:1])
    with psycopg.connect(marts_dsn) as conn:
        stored = read_mart(conn, "transformer_charger_mix")
    assert list(stored["charger_type"]) == ["L1"]
    assert stored["power_kw"].sum() <= float(stored["budget_kw"].iloc[0]) + 1e-9
    assert list(stored["coincidence_factor"]) == [0.9]
    assert list(stored["basis"]) == ["firm"]
