"""Tests of evcap.report: the HTML page, and the page in a real browser.

The browser test runs headless Debian ``chromium`` on the report file with
the network off and reads back what the report's own script recorded in
``<pre id="evcap-status">`` (charts rendered, errors, non-blank canvas pixels
per chart). Without chromium it is a visible skip; with
``EVCAP_REQUIRE_BROWSER=1`` it fails. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import REPO_ROOT, DatabaseFactory, Server
from test_plots import decode_png, png_ink

from evcap import browser, cli
from evcap.errors import UnknownTransformerError
from evcap.report import build_report, write_report

ARTIFACTS = REPO_ROOT / "test-artifacts"
# vl-convert bundles Vega 6 with Vega-Lite 5; vega-embed warns about it once
# per chart. Harmless: the charts render (each is checked below).
KNOWN_WARNINGS = re.compile(r"^The compiled spec uses Vega v5, but current version is")


# --- browser -------------------------------------------------------------------------


def require_chromium() -> str:
    found = browser.find_chromium()
    if found is None:
        message = "headless chromium is not installed (apt-get install chromium)"
        if os.environ.get("EVCAP_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and EVCAP_REQUIRE_BROWSER=1")
        pytest.skip(message)
    return found


def open_in_browser(page: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Load ``page`` in headless chromium; return the report's status JSON."""
    require_chromium()
    status = browser.render_status(page)
    if screenshot is not None:
        browser.screenshot(page, screenshot)
        assert screenshot.stat().st_size > 10_000
    return status


def assert_rendered_cleanly(status: dict[str, Any], expected_charts: int) -> None:
    assert status["done"] is True
    assert status["errors"] == []
    unexpected = [w for w in status["warnings"] if not KNOWN_WARNINGS.match(w)]
    assert unexpected == []
    assert status["charts"] == expected_charts
    assert status["rendered"] == expected_charts
    for chart in status["per_chart"]:
        assert chart["ok"], chart
        assert chart["width"] > 200, chart
        assert chart["height"] > 60, chart
        # every chart has text, axes or marks in several colours
        assert chart["ink"] > 1000, chart
        assert chart["colours"] > 20, chart


# --- the page ---------------------------------------------------------------------------


def test_report_is_self_contained_and_escaped(
    marts_conn: psycopg.Connection, tmp_path: Path
) -> None:
    out = write_report(marts_conn, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    page = out.read_text(encoding="utf-8")
    # offline: no external script, style, font or image, and a CSP forbidding them
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "Content-Security-Policy" in page
    assert "connect-src 'none'" in page
    assert "vegaEmbed" in page
    # 9 charts + the thermal section's design day and counts (issue #13)
    assert page.count('class="evcap-chart"') == 11
    # a data value with markup is shown as text, never as markup
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for heading in (
        "Summary",
        "Grid overview",
        "Chargers that fit, per charging window",
        "Headroom in detail",
        "Charger-mix scenarios",
        "Load with the chargers added",
        "Thermal limits (IEC 60076-7)",
        "Data quality",
    ):
        assert f"<h2>{heading}</h2>" in page
    # data-quality findings: missing rating, no meters, low coverage, orphans
    assert "rating_missing" in page
    assert "no_meters_downstream" in page
    assert "orphan_meter" in page
    assert "topology_cycle" in page
    assert re.search(r"<td>T5</td><td>nightly</td>", page)


def test_report_summary_table_values(marts_conn: psycopg.Connection) -> None:
    page = build_report(marts_conn, window="all_time", mix=False)
    firm = marts_conn.execute(
        "select firm_headroom_kw from evcap.transformer_window_headroom"
        " where transformer_id = 'T1' and window_name = 'all_time'"
    ).fetchone()
    assert firm is not None
    row = re.search(r"<tr><td>T1</td>(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[0] == "75"  # rating, kVA
    assert cells[1] == "73.5"  # capacity, kW
    assert cells[3] == f"{firm[0]:,.1f}"
    assert "Mix scenarios not requested." in page


def test_report_for_listed_transformers(
    marts_conn: psycopg.Connection, tmp_path: Path
) -> None:
    page = build_report(marts_conn, transformers=["T2", "T3"], grid_id="g1", mix=False)
    assert "transformers T2, T3" in page
    assert "<td>T1</td>" not in page
    assert "<td>T2</td>" in page
    with pytest.raises(UnknownTransformerError, match="T9"):
        write_report(marts_conn, tmp_path / "r.html", transformers=["T9"])


def test_report_unknown_window_falls_back_with_a_note(
    marts_conn: psycopg.Connection,
) -> None:
    page = build_report(marts_conn, window="lunchtime", mix=False)
    assert "window &#x27;lunchtime&#x27; is not in the marts; showing" in page


def test_report_without_the_mix_layer_says_so(
    marts_conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "evcap.mix", None)  # import fails
    page = build_report(marts_conn)
    assert "Mix not available: evcap.mix cannot be imported" in page
    # the "with chargers" view falls back to the single-type fit
    assert "x level2_7kw" in page


def test_report_of_a_transformer_without_readings_renders(
    marts_conn: psycopg.Connection, tmp_path: Path
) -> None:
    out = write_report(marts_conn, tmp_path / "t5.html", transformers=["T5"], mix=False)
    page = out.read_text(encoding="utf-8")
    assert "no readings for the selection" in page
    assert "No map: dim_transformers has no latitude/longitude." in page
    if (
        browser.find_chromium() is not None
        or os.environ.get("EVCAP_REQUIRE_BROWSER") == "1"
    ):
        status = open_in_browser(out)
        assert_rendered_cleanly(status, page.count('class="evcap-chart"'))


@pytest.mark.browser
def test_report_in_a_real_browser(
    marts_conn: psycopg.Connection, pg_server: Server, tmp_path: Path
) -> None:
    require_chromium()
    out = write_report(marts_conn, tmp_path / "report.html")
    shot = ARTIFACTS / f"report-handmade-{pg_server.name}.png"
    status = open_in_browser(out, screenshot=shot)
    assert_rendered_cleanly(status, 11)  # 9 + thermal design day and counts
    width, height, _ = decode_png(shot.read_bytes())
    assert (width, height) == (1400, 4000)
    colours, _, variance = png_ink(shot.read_bytes())
    assert colours > 100
    assert variance > 100.0


@pytest.mark.browser
def test_browser_check_catches_a_broken_chart(tmp_path: Path) -> None:
    """The status element reports failures (the check is not vacuous)."""
    require_chromium()
    from evcap.report import Section, render_html

    class Broken:
        def to_dict(self) -> dict[str, Any]:
            return {"mark": "bar", "encoding": {"x": {"field": "a", "type": "nope"}}}

    page = render_html("t", "s", [Section("Broken", charts=[("bad", Broken())])])
    out = tmp_path / "broken.html"
    out.write_text(page, encoding="utf-8")
    status = open_in_browser(out)
    assert status["done"] is True
    assert status["errors"], status
    assert not status["per_chart"][0]["ok"]


# --- CLI ---------------------------------------------------------------------------------


def test_cli_report_and_plot(
    marts_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-report.html"
    code = cli.main(
        ["report", "--dsn", marts_dsn, "--out", str(out), "-t", "T1,T3", "--no-mix"]
    )
    assert code == 0
    assert str(out.resolve()) in capsys.readouterr().out
    assert "transformers T1, T3" in out.read_text(encoding="utf-8")
    png = tmp_path / "heatmap.png"
    code = cli.main(
        ["plot", "heatmap", "--dsn", marts_dsn, "-t", "T1", "--out", str(png)]
    )
    assert code == 0
    colours, ink, _ = png_ink(png.read_bytes())
    assert colours > 20
    assert ink > 1000
    svg = tmp_path / "headroom.svg"
    code = cli.main(
        [
            "plot",
            "headroom",
            "--dsn",
            marts_dsn,
            "-t",
            "T1",
            "--start",
            "2024-06-01",
            "--end",
            "2024-06-30",
            "--bin",
            "day",
            "--stat",
            "min",
            "--out",
            str(svg),
        ]
    )
    assert code == 0
    assert svg.read_text(encoding="utf-8").startswith("<svg")


def test_cli_plot_errors_are_exit_2(
    marts_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "plot",
            "fit",
            "--dsn",
            marts_dsn,
            "-t",
            "T9",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "unknown transformer(s): T9" in capsys.readouterr().err
    code = cli.main(
        [
            "plot",
            "headroom",
            "--dsn",
            marts_dsn,
            "--bin",
            "hour",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "coarser --bin" in capsys.readouterr().err
    code = cli.main(
        ["plot", "map", "--dsn", marts_dsn, "--out", str(tmp_path / "x.pdf")]
    )
    assert code == 2
    assert ".pdf" in capsys.readouterr().err


# --- the real thing: demo grid, dbt build, report, browser ------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_report_of_a_dbt_built_demo_grid(
    pg_server: Server,
    database_factory: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from evcap.dbt_runner import run_dbt
    from evcap.demo import GridSpec, build_grid, load_grid
    from evcap.edm_standin import install_standin

    dsn = database_factory(pg_server, "reportdbt")
    grid = build_grid(GridSpec(seed=5, meters=60, days=120, grids=1, defects=True))
    with psycopg.connect(dsn) as conn:
        install_standin(conn, "edm", replace=True)
        load_grid(conn, grid, "edm", progress=False)
    target = tmp_path_factory.mktemp("dbt-report")
    result = run_dbt(["build"], dsn, target_path=target)
    assert result.returncode == 0, result.output[-3000:]
    out = tmp_path_factory.mktemp("report") / "report.html"
    with psycopg.connect(dsn) as conn:
        write_report(conn, out)
    page = out.read_text(encoding="utf-8")
    assert "Mix not available" not in page
    assert "int_data_issues_collected is not in this schema" not in page
    require_chromium()
    shot = ARTIFACTS / f"report-demo-{pg_server.name}.png"
    status = open_in_browser(out, screenshot=shot)
    assert_rendered_cleanly(status, page.count('class="evcap-chart"'))


def test_css_and_script_are_package_data_inlined_verbatim() -> None:
    """The page's CSS and JS are files of the package, shipped in the wheel."""
    import fnmatch
    import tomllib
    from importlib import resources

    from evcap.report import render_html

    assets = resources.files("evcap.report") / "assets"
    names = sorted(p.name for p in assets.iterdir())
    assert names == ["report.css", "report.js"]
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["evcap"]
    for name in names:
        assert any(fnmatch.fnmatch(f"report/assets/{name}", g) for g in globs), name
    page = render_html("title", "subtitle", [])
    css = (assets / "report.css").read_text(encoding="utf-8")
    script = (assets / "report.js").read_text(encoding="utf-8")
    assert f"<style>\n{css}</style>" in page
    assert f'<script type="text/javascript">\n{script}</script>' in page
    assert "evcap-status" in script  # the status the browser test reads
