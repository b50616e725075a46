"""Tests of evcap.plots: chart specs for known inputs, SQL helpers, PNG export.

The SQL helpers run against hand-made mart tables (`hand_made_marts`) in a
fresh database on each test server, so these tests do not wait for dbt.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from typing import Any

import altair as alt
import pandas as pd
import psycopg
import pytest
import vl_convert

from evcap import marts, plots
from evcap.errors import ConfigError, SchemaError, UnknownTransformerError

# --- hand-made marts -------------------------------------------------------------

# --- PNG decoding (no Pillow in the environment) -----------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG into (width, height, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos = 8
    idat = b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(
                ">IIBBBBB", body
            )
            assert depth == 8, depth
            assert interlace == 0
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    offset = 0
    for _ in range(height):
        filt = raw[offset]
        line = bytearray(raw[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upleft = previous[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filt == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r) for r in rows]


def png_ink(data: bytes) -> tuple[int, int, float]:
    """(distinct colours, pixels differing from the corner, pixel variance)."""
    width, height, rows = decode_png(data)
    channels = len(rows[0]) // width
    background = rows[0][:channels]
    colours: set[bytes] = set()
    ink = 0
    total = 0.0
    total_sq = 0.0
    for row in rows[:: max(1, height // 300)]:
        for x in range(0, width * channels, channels):
            pixel = row[x : x + channels]
            colours.add(pixel)
            if pixel != background:
                ink += 1
            grey = sum(pixel[:3]) / 3
            total += grey
            total_sq += grey * grey
    n = len(rows[:: max(1, height // 300)]) * width
    mean = total / n
    return len(colours), ink, total_sq / n - mean * mean


# --- hand-made frames ----------------------------------------------------------


def series_frame(ids: tuple[str, ...] = ("T1", "T2")) -> pd.DataFrame:
    days = pd.date_range("2024-06-01", periods=10, freq="D")
    rows = []
    for k, tid in enumerate(ids):
        for i, day in enumerate(days):
            rows.append(
                {
                    "grid_id": "g1",
                    "transformer_id": tid,
                    "bin_start": day,
                    "intervals": 24,
                    "min_budgeted_headroom_kw": 10.0 - i - k,
                    "mean_budgeted_headroom_kw": 30.0 - i - k,
                    "max_load_kw": 40.0 + i,
                    "mean_load_kw": 20.0,
                    "capacity_kw": 50.0,
                }
            )
    return pd.DataFrame(rows)


def quantile_frame(by: str = "month") -> pd.DataFrame:
    periods = range(1, 13) if by == "month" else range(24)
    rows = [
        {
            "grid_id": "g1",
            "transformer_id": tid,
            "period": p,
            "intervals": 700,
            "min_budgeted_headroom_kw": -5.0 + p,
            "p25_budgeted_headroom_kw": 5.0 + p,
            "p50_budgeted_headroom_kw": 10.0 + p,
            "p75_budgeted_headroom_kw": 15.0 + p,
            "max_budgeted_headroom_kw": 30.0 + p,
            "mean_budgeted_headroom_kw": 11.0 + p,
        }
        for tid in ("T1", "T2")
        for p in periods
    ]
    return pd.DataFrame(rows)


def profile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "grid_id": "g1",
                "transformer_id": tid,
                "local_month": m,
                "local_hour": h,
                "intervals": 30,
                "capacity_kw": 50.0,
                "min_headroom_kw": 20.0 - h - (5 if m in (1, 12) else 0),
            }
            for tid in ("T1", "T2")
            for m in range(1, 13)
            for h in range(24)
        ]
    )


def fit_frame() -> pd.DataFrame:
    rows = []
    for tid, head in (("T1", 40.0), ("T2", -3.0)):
        for window in ("all_time", "nightly"):
            for ctype, power in (("level2_7kw", 7.2), ("dcfc_50kw", 50.0)):
                firm = head + (10 if window == "nightly" else 0)
                n = max(0, int(firm // power))
                reason = None
                if n == 0:
                    reason = (
                        "no_headroom" if firm <= 0 else "headroom_below_one_charger"
                    )
                rows.append(
                    {
                        "grid_id": "g1",
                        "transformer_id": tid,
                        "window_name": window,
                        "charger_type": ctype,
                        "charger_power_kw": power,
                        "firm_headroom_kw": firm,
                        "max_chargers": n,
                        "reason": reason,
                    }
                )
    return pd.DataFrame(rows)


def mix_frame() -> pd.DataFrame:
    rows = []
    for mode in ("max-power", "count-proportions"):
        for window, budget in (("all_time", 40.8), ("nightly", 50.0)):
            used = 0.0
            counts = {"level2_7kw": 3, "level2_19kw": 1}
            if mode == "count-proportions":
                counts = {"level2_7kw": 2, "level2_19kw": 1}
            for ctype, power in (("level2_7kw", 7.2), ("level2_19kw", 19.2)):
                used += counts[ctype] * power
            for ctype, power in (("level2_7kw", 7.2), ("level2_19kw", 19.2)):
                rows.append(
                    {
                        "grid_id": "g1",
                        "transformer_id": "T1",
                        "window_name": window,
                        "mode": mode,
                        "charger_type": ctype,
                        "count": counts[ctype],
                        "charger_power_kw": power,
                        "power_kw": counts[ctype] * power,
                        "budget_kw": budget,
                        "leftover_kw": budget - used,
                        "reason": None,
                    }
                )
    return pd.DataFrame(rows)


def load_frame(ids: tuple[str, ...] = ("T1",)) -> pd.DataFrame:
    days = pd.date_range("2024-06-01", periods=14, freq="D")
    frame = pd.DataFrame(
        [
            {
                "grid_id": "g1",
                "transformer_id": tid,
                "window_name": "nightly",
                "added_kw": 21.6,
                "bin_start": day,
                "max_load_kw": 40.0 + (i % 7),
                "max_load_with_chargers_kw": 55.0 + (i % 7),
                "capacity_kw": 73.5,
            }
            for tid in ids
            for i, day in enumerate(days)
        ]
    )
    return frame


def dim_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "grid_id": "g1",
                "transformer_id": "SUB1",
                "rating_kva": 500.0,
                "capacity_kw": 490.0,
                "latitude": 49.28,
                "longitude": -123.12,
                "upstream_transformer_id": None,
                "meters_total": 20,
            },
            {
                "grid_id": "g1",
                "transformer_id": "T1",
                "rating_kva": 75.0,
                "capacity_kw": 73.5,
                "latitude": 49.281,
                "longitude": -123.115,
                "upstream_transformer_id": "SUB1",
                "meters_total": 12,
            },
            {
                "grid_id": "g1",
                "transformer_id": "T2",
                "rating_kva": 50.0,
                "capacity_kw": 49.0,
                "latitude": 49.279,
                "longitude": -123.124,
                "upstream_transformer_id": "SUB1",
                "meters_total": 8,
            },
        ]
    )


def window_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "grid_id": "g1",
                "transformer_id": tid,
                "window_name": window,
                "capacity_kw": cap,
                "intervals_in_window": n,
                "coverage": 0.99,
                "peak_load_kw": peak,
                "firm_headroom_kw": cap - peak,
            }
            for tid, cap, peak in (("T1", 73.5, 45.0), ("T2", 49.0, 52.0))
            for window, n in (("all_time", 8784), ("nightly", 2562))
        ]
    )


def spec_of(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


def all_fields(node: Any) -> set[str]:
    """Every ``field`` named anywhere in a spec."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "field" and isinstance(value, str):
                found.add(value)
            else:
                found |= all_fields(value)
    elif isinstance(node, list):
        for item in node:
            found |= all_fields(item)
    return found


def marks(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        mark = node.get("mark")
        if isinstance(mark, str):
            found.append(mark)
        elif isinstance(mark, dict):
            found.append(str(mark["type"]))
        for value in node.values():
            found += marks(value)
    elif isinstance(node, list):
        for item in node:
            found += marks(item)
    return found


def is_no_data(spec: dict[str, Any]) -> bool:
    """True for the chart of :func:`evcap.plots.no_data_chart`."""
    mark = spec.get("mark")
    return isinstance(mark, dict) and mark.get("type") == "text" and "layer" not in spec


def titles(spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        return f"{title.get('text', '')} | {title.get('subtitle', '')}"
    return str(title)


# --- chart specs for known inputs -------------------------------------------------


def test_headroom_over_time_both_encodes_stat_as_dash_and_transformer_as_colour() -> (
    None
):
    spec = spec_of(
        plots.headroom_over_time_chart(series_frame(), stat="both", bin="day")
    )
    lines = spec["layer"][1]
    assert lines["mark"]["type"] == "line"
    enc = lines["encoding"]
    assert enc["x"] == {"field": "bin_start", "title": "Local time", "type": "temporal"}
    assert enc["y"]["field"] == "headroom_kw"
    assert "kW" in enc["y"]["title"]
    assert enc["color"]["field"] == "transformer"
    assert enc["strokeDash"]["field"] == "statistic"
    assert {t["field"] for t in enc["tooltip"]} >= {"transformer", "headroom_kw"}
    rows = spec["datasets"][lines["data"]["name"]]
    assert len(rows) == 2 * 2 * 10  # transformers x statistics x days
    t1_min = [
        r["headroom_kw"]
        for r in rows
        if r["transformer"] == "T1" and r["statistic"] == "minimum per day"
    ]
    assert t1_min == [10.0 - i for i in range(10)]
    assert "day bins" in titles(spec)


@pytest.mark.parametrize(
    ("stat", "expected"),
    [("min", {"minimum per day"}), ("mean", {"mean per day"})],
)
def test_headroom_over_time_single_stat(stat: Any, expected: set[str]) -> None:
    spec = spec_of(
        plots.headroom_over_time_chart(series_frame(("T1",)), stat=stat, bin="day")
    )
    rows = spec["datasets"][spec["layer"][1]["data"]["name"]]
    assert {r["statistic"] for r in rows} == expected
    assert len(rows) == 10


def test_headroom_over_time_rejects_unknown_stat() -> None:
    with pytest.raises(ConfigError, match="stat"):
        plots.headroom_over_time_chart(series_frame(), stat="max")  # type: ignore[arg-type]


@pytest.mark.parametrize("by", ["month", "hour"])
def test_boxplot_layers_whisker_box_median(by: str) -> None:
    spec = spec_of(plots.headroom_boxplot_chart(quantile_frame(by), by=by))
    kinds = [layer["mark"]["type"] for layer in spec["layer"]]
    assert kinds == ["rule", "bar", "tick"]
    whisker, box, median = (layer["encoding"] for layer in spec["layer"])
    assert whisker["y"]["field"] == "min_budgeted_headroom_kw"
    assert whisker["y2"]["field"] == "max_budgeted_headroom_kw"
    assert box["y"]["field"] == "p25_budgeted_headroom_kw"
    assert box["y2"]["field"] == "p75_budgeted_headroom_kw"
    assert median["y"]["field"] == "p50_budgeted_headroom_kw"
    x = whisker["x"]
    assert x["field"] == "period"
    assert x["scale"]["domain"] == (
        list(range(1, 13)) if by == "month" else list(range(24))
    )
    assert whisker["xOffset"]["field"] == "transformer"
    (rows,) = datasets(spec)
    assert len(rows) == 2 * (12 if by == "month" else 24)
    assert f"local {by}" in titles(spec)


def test_heatmap_is_month_by_hour_with_diverging_colour_around_zero() -> None:
    spec = spec_of(plots.headroom_heatmap_chart(profile_frame()))
    assert spec["facet"]["field"] == "transformer"
    inner = spec["spec"]
    assert inner["mark"]["type"] == "rect"
    enc = inner["encoding"]
    assert enc["x"]["field"] == "local_hour"
    assert enc["y"]["field"] == "local_month"
    assert enc["color"]["field"] == "min_headroom_kw"
    # symmetric domain: 0 kW is the middle (yellow) of red-yellow-green
    assert enc["color"]["scale"]["domain"] == [-20.0, 20.0]
    (rows,) = datasets(spec)
    assert len(rows) == 2 * 12 * 24
    cell = next(
        r
        for r in rows
        if r["transformer"] == "T2" and r["local_month"] == 1 and r["local_hour"] == 3
    )
    assert cell["min_headroom_kw"] == 20.0 - 3 - 5


def test_charger_fit_grid_says_why_zero() -> None:
    spec = spec_of(plots.charger_fit_chart(fit_frame()))
    assert spec["facet"]["field"] == "charger"
    assert spec["facet"]["sort"] == ["level2_7kw (7.2 kW)", "dcfc_50kw (50 kW)"]
    cells, text = spec["spec"]["layer"]
    assert cells["mark"]["type"] == "rect"
    assert cells["encoding"]["color"]["field"] == "max_chargers"
    assert text["encoding"]["text"]["field"] == "label"
    (rows,) = datasets(spec)
    labels = {
        (r["transformer"], r["window_name"], r["charger"]): r["label"] for r in rows
    }
    assert labels[("T1", "all_time", "level2_7kw (7.2 kW)")] == "5"
    assert labels[("T1", "nightly", "level2_7kw (7.2 kW)")] == "6"
    assert labels[("T2", "all_time", "level2_7kw (7.2 kW)")] == "0 no room"
    assert labels[("T1", "all_time", "dcfc_50kw (50 kW)")] == "0 < 1"


def test_mix_chart_stacks_counts_per_type_and_power_used_vs_left_over() -> None:
    spec = spec_of(plots.mix_chart(mix_frame()))
    counts, power = spec["vconcat"]
    assert counts["mark"]["type"] == "bar"
    assert counts["encoding"]["y"]["aggregate"] == "sum"
    assert counts["encoding"]["y"]["field"] == "count"
    assert counts["encoding"]["color"]["field"] == "charger_type"
    assert counts["encoding"]["color"]["sort"] == ["level2_7kw", "level2_19kw"]
    assert counts["encoding"]["column"]["field"] == "mode"
    assert power["encoding"]["color"]["scale"]["domain"] == ["used", "left over"]
    rows = spec["datasets"][power["data"]["name"]]
    got = {(r["mode"], r["window_name"], r["part"]): round(r["kw"], 6) for r in rows}
    # max-power, all_time: 3 x 7.2 + 1 x 19.2 = 40.8 kW used of a 40.8 kW
    # budget, nothing left over
    assert got[("max-power", "all_time", "used")] == 40.8
    assert got[("max-power", "all_time", "left over")] == 0.0
    assert got[("count-proportions", "nightly", "used")] == 33.6
    assert got[("count-proportions", "nightly", "left over")] == round(50 - 33.6, 6)


def test_mix_chart_rows_per_transformer_when_several() -> None:
    two = pd.concat([mix_frame(), mix_frame().assign(transformer_id="T2")])
    spec = spec_of(plots.mix_chart(two))
    assert spec["vconcat"][0]["encoding"]["row"]["field"] == "transformer"


def test_load_with_chargers_one_transformer_has_capacity_rule() -> None:
    spec = spec_of(plots.load_with_chargers_chart(load_frame(), bin="day"))
    lines, rule = spec["layer"]
    assert lines["mark"]["type"] == "line"
    assert rule["mark"]["type"] == "rule"
    assert rule["encoding"]["y"]["field"] == "capacity_kw"
    assert spec["datasets"][rule["data"]["name"]] == [
        {"transformer": "T1", "capacity_kw": 73.5, "series": "capacity"}
    ]
    rows = spec["datasets"][lines["data"]["name"]]
    assert {r["series"] for r in rows} == {"today's peak load", "with the chargers"}
    assert "+21.6 kW in window nightly" in titles(spec)


def test_load_with_chargers_several_transformers_facets() -> None:
    spec = spec_of(plots.load_with_chargers_chart(load_frame(("T1", "T2")), bin="day"))
    assert spec["facet"]["field"] == "transformer"
    assert [layer["mark"]["type"] for layer in spec["spec"]["layer"]] == [
        "line",
        "rule",
    ]


def test_grid_overview_ranks_by_firm_headroom_and_colours_utilisation() -> None:
    spec = spec_of(plots.grid_overview_chart(window_frame(), transformers=dim_frame()))
    bars = spec["layer"][0]
    assert bars["encoding"]["x"]["field"] == "firm_headroom_kw"
    assert bars["encoding"]["y"]["sort"] == "x"
    assert bars["encoding"]["color"]["field"] == "utilisation"
    rows = spec["datasets"][bars["data"]["name"]]
    assert [r["transformer"] for r in rows] == ["T2", "T1"]  # tightest first
    assert rows[0]["utilisation"] == pytest.approx(52.0 / 49.0)
    assert rows[0]["rating_kva"] == 50.0
    assert "window all_time" in titles(spec)  # the window with most intervals


def test_grid_overview_other_window() -> None:
    spec = spec_of(
        plots.grid_overview_chart(
            window_frame(), transformers=None, window_name="nightly"
        )
    )
    assert "window nightly" in titles(spec)


def test_map_colours_by_chargers_and_greys_transformers_without_fit() -> None:
    spec = spec_of(plots.transformer_map_chart(dim_frame(), fit=fit_frame()))
    layer_marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert layer_marks == ["rule", "circle", "circle", "text"]
    points = spec["layer"][2]
    assert points["encoding"]["x"]["field"] == "longitude"
    assert points["encoding"]["y"]["field"] == "latitude"
    assert "°" in points["encoding"]["x"]["title"]
    assert points["encoding"]["color"]["field"] == "max_chargers"
    rows = spec["datasets"][points["data"]["name"]]
    by_id = {r["transformer_id"]: r["max_chargers"] for r in rows}
    assert by_id == {"SUB1": None, "T1": 5.0, "T2": 0.0}
    links = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert len(links) == 2  # T1 -> SUB1, T2 -> SUB1


def test_map_without_coordinates_is_a_no_data_chart() -> None:
    dim = dim_frame().assign(latitude=None, longitude=None)
    spec = spec_of(plots.transformer_map_chart(dim, fit=fit_frame()))
    assert spec["mark"]["type"] == "text"
    assert "coordinates" in datasets(spec)[0][0]["message"]


EMPTY_CASES = [
    ("over_time", lambda: plots.headroom_over_time_chart(series_frame().iloc[0:0])),
    ("boxplot", lambda: plots.headroom_boxplot_chart(quantile_frame().iloc[0:0])),
    ("heatmap", lambda: plots.headroom_heatmap_chart(profile_frame().iloc[0:0])),
    ("fit", lambda: plots.charger_fit_chart(fit_frame().iloc[0:0])),
    ("mix", lambda: plots.mix_chart(mix_frame().iloc[0:0])),
    ("with_chargers", lambda: plots.load_with_chargers_chart(load_frame().iloc[0:0])),
    ("overview", lambda: plots.grid_overview_chart(window_frame().iloc[0:0])),
    ("map", lambda: plots.transformer_map_chart(dim_frame().iloc[0:0])),
    (
        "overview_no_firm",
        lambda: plots.grid_overview_chart(window_frame().assign(firm_headroom_kw=None)),
    ),
    (
        "heatmap_all_null",
        lambda: plots.headroom_heatmap_chart(
            profile_frame().assign(min_headroom_kw=None)
        ),
    ),
]


@pytest.mark.parametrize(("name", "make"), EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_empty_input_gives_a_no_data_chart(name: str, make: Any) -> None:
    spec = spec_of(make())
    assert is_no_data(spec)
    (rows,) = datasets(spec)
    assert rows[0]["message"].startswith("no ")
    png = vl_convert.vegalite_to_png(spec, scale=1)
    _colours, ink, _ = png_ink(png)
    assert ink > 100, f"{name}: the no-data message is not drawn"


# --- PNG export of every chart kind -------------------------------------------------

CHART_CASES = [
    ("over_time", lambda: plots.headroom_over_time_chart(series_frame(), bin="day")),
    (
        "box_month",
        lambda: plots.headroom_boxplot_chart(quantile_frame("month"), by="month"),
    ),
    (
        "box_hour",
        lambda: plots.headroom_boxplot_chart(quantile_frame("hour"), by="hour"),
    ),
    ("heatmap", lambda: plots.headroom_heatmap_chart(profile_frame())),
    ("fit", lambda: plots.charger_fit_chart(fit_frame())),
    ("mix", lambda: plots.mix_chart(mix_frame())),
    ("with_chargers", lambda: plots.load_with_chargers_chart(load_frame(), bin="day")),
    (
        "with_chargers_facet",
        lambda: plots.load_with_chargers_chart(load_frame(("T1", "T2")), bin="day"),
    ),
    (
        "overview",
        lambda: plots.grid_overview_chart(window_frame(), transformers=dim_frame()),
    ),
    ("map", lambda: plots.transformer_map_chart(dim_frame(), fit=fit_frame())),
]


@pytest.mark.parametrize(("name", "make"), CHART_CASES, ids=[c[0] for c in CHART_CASES])
def test_png_export_is_not_blank(name: str, make: Any, tmp_path: Any) -> None:
    out = plots.save_chart(make(), tmp_path / f"{name}.png", scale=1)
    data = out.read_bytes()
    width, height, _ = decode_png(data)
    assert width > 200
    assert height > 100
    colours, ink, variance = png_ink(data)
    # a chart has axes, text and coloured marks: many colours, lots of ink
    assert colours > 20, f"{name}: only {colours} colours"
    assert ink > 0.02 * width * min(height, 300), f"{name}: almost blank"
    assert variance > 100.0, f"{name}: pixel variance {variance:.1f}"


@pytest.mark.parametrize("suffix", [".svg", ".html", ".json"])
def test_save_chart_other_formats(suffix: str, tmp_path: Any) -> None:
    out = plots.save_chart(
        plots.charger_fit_chart(fit_frame()), tmp_path / f"c{suffix}"
    )
    text = out.read_text(encoding="utf-8")
    if suffix == ".svg":
        assert text.startswith("<svg")
        assert "<rect" in text
    elif suffix == ".html":
        assert "vegaEmbed" in text
        assert "cdn.jsdelivr.net" not in text  # JavaScript inlined, opens offline
    else:
        assert '"max_chargers"' in text


def test_save_chart_rejects_unknown_format(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=r"\.pdf"):
        plots.save_chart(plots.no_data_chart("x"), tmp_path / "c.pdf")


def test_row_limit_stays_in_force() -> None:
    big = pd.DataFrame(
        {
            "grid_id": "g1",
            "transformer_id": "T1",
            "bin_start": pd.date_range("2024-01-01", periods=6000, freq="h"),
            "min_budgeted_headroom_kw": 1.0,
            "mean_budgeted_headroom_kw": 2.0,
        }
    )
    with pytest.raises(alt.MaxRowsError):
        plots.headroom_over_time_chart(big, stat="min").to_dict()


# --- SQL helpers against hand-made marts ---------------------------------------------


def test_query_headroom_series_bins_in_local_time(
    marts_conn: psycopg.Connection,
) -> None:
    series = marts.query_headroom_series(
        marts_conn,
        transformers=["T1"],
        start=dt.date(2024, 3, 1),
        end=dt.date(2024, 3, 31),
        bin="day",
    )
    assert series.bin == "day"
    frame = series.frame
    assert len(frame) == 31
    assert list(frame.columns) == [
        "grid_id",
        "transformer_id",
        "bin_start",
        "intervals",
        "min_budgeted_headroom_kw",
        "mean_budgeted_headroom_kw",
        "max_load_kw",
        "mean_load_kw",
        "capacity_kw",
    ]
    assert frame["bin_start"].iloc[0] == pd.Timestamp("2024-03-01")
    assert set(frame["intervals"]) == {24}  # local days: 24 local hours each
    check = marts_conn.execute(
        "select min(budgeted_headroom_kw), avg(budgeted_headroom_kw), max(load_kw)"
        " from evcap.fct_transformer_load where transformer_id = 'T1'"
        " and interval_local >= '2024-03-10' and interval_local < '2024-03-11'"
    ).fetchone()
    assert check is not None
    day = frame[frame["bin_start"] == pd.Timestamp("2024-03-10")].iloc[0]
    assert day["min_budgeted_headroom_kw"] == pytest.approx(check[0])
    assert day["mean_budgeted_headroom_kw"] == pytest.approx(check[1])
    assert day["max_load_kw"] == pytest.approx(check[2])


def test_query_headroom_series_week_and_auto_bins(
    marts_conn: psycopg.Connection,
) -> None:
    weekly = marts.query_headroom_series(
        marts_conn, transformers=["T1", "T2"], bin="week"
    ).frame
    assert 2 * 52 <= len(weekly) <= 2 * 54
    assert (weekly["bin_start"].dt.dayofweek == 0).all()  # weeks start Monday
    # a year of hours for 2 transformers is over 5,000 rows: auto picks day
    auto = marts.query_headroom_series(marts_conn, transformers=["T1", "T2"])
    assert auto.bin == "day"
    assert len(auto.frame) == 2 * 366
    # one transformer, one month: hourly fits
    hourly = marts.query_headroom_series(
        marts_conn,
        transformers=["T1"],
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 1, 31),
    )
    assert hourly.bin == "hour"
    assert len(hourly.frame) == 31 * 24


def test_query_headroom_series_refuses_too_many_rows(
    marts_conn: psycopg.Connection,
) -> None:
    with pytest.raises(ConfigError, match="coarser --bin"):
        marts.query_headroom_series(marts_conn, transformers=["T1"], bin="hour")


def test_query_headroom_series_empty_for_transformer_without_readings(
    marts_conn: psycopg.Connection,
) -> None:
    series = marts.query_headroom_series(marts_conn, transformers=["T5"], bin="day")
    assert series.frame.empty
    spec = spec_of(plots.headroom_over_time_chart(series))
    assert spec["mark"]["type"] == "text"


def test_query_headroom_quantiles_match_sql_percentiles(
    marts_conn: psycopg.Connection,
) -> None:
    quantiles = marts.query_headroom_quantiles(
        marts_conn, transformers=["T1", "T3"], by="month"
    )
    assert quantiles.by == "month"
    frame = quantiles.frame
    assert len(frame) == 24
    row = frame[(frame["transformer_id"] == "T3") & (frame["period"] == 7)].iloc[0]
    values = [
        r[0]
        for r in marts_conn.execute(
            "select budgeted_headroom_kw from evcap.fct_transformer_load"
            " where transformer_id = 'T3' and extract(month from interval_local) = 7"
        ).fetchall()
    ]
    series = pd.Series(values)
    assert row["intervals"] == len(values)
    assert row["min_budgeted_headroom_kw"] == pytest.approx(series.min())
    assert row["p25_budgeted_headroom_kw"] == pytest.approx(series.quantile(0.25))
    assert row["p50_budgeted_headroom_kw"] == pytest.approx(series.quantile(0.5))
    assert row["p75_budgeted_headroom_kw"] == pytest.approx(series.quantile(0.75))
    assert row["max_budgeted_headroom_kw"] == pytest.approx(series.max())
    hours = marts.query_headroom_quantiles(
        marts_conn, transformers=["T1"], by="hour"
    ).frame
    assert list(hours["period"]) == list(range(24))


def test_query_load_with_chargers_adds_power_only_in_the_window(
    marts_conn: psycopg.Connection,
) -> None:
    added = pd.DataFrame(
        {"grid_id": ["g1"], "transformer_id": ["T1"], "added_kw": [10.0]}
    )
    series = marts.query_load_with_chargers(
        marts_conn,
        added_kw=added,
        window_name="nightly",
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 1, 2),
        bin="hour",
    )
    assert series.bin == "hour"
    frame = series.frame
    assert len(frame) == 48
    hours = frame["bin_start"].dt.hour
    night = (hours >= 22) | (hours <= 4)
    diff = frame["max_load_with_chargers_kw"] - frame["max_load_kw"]
    assert diff[night].tolist() == pytest.approx([10.0] * int(night.sum()))
    assert diff[~night].tolist() == pytest.approx([0.0] * int((~night).sum()))
    assert set(frame["capacity_kw"]) == {73.5}


def test_query_load_with_chargers_unknown_window(
    marts_conn: psycopg.Connection,
) -> None:
    added = pd.DataFrame(
        {"grid_id": ["g1"], "transformer_id": ["T1"], "added_kw": [1.0]}
    )
    with pytest.raises(ConfigError, match="known: all_time"):
        marts.query_load_with_chargers(marts_conn, added_kw=added, window_name="lunch")


def test_check_transformers(marts_conn: psycopg.Connection) -> None:
    marts.check_transformers(marts_conn, transformers=["T1", "T5"])
    with pytest.raises(UnknownTransformerError, match="T9"):
        marts.check_transformers(marts_conn, transformers=["T1", "T9"])
    with pytest.raises(UnknownTransformerError, match="g7"):
        marts.check_transformers(marts_conn, transformers=None, grid_id="g7")


def test_missing_marts_raise_schema_error(pg_conn: psycopg.Connection) -> None:
    with pytest.raises(SchemaError, match="evcap build"):
        marts.query_headroom_series(pg_conn, transformers=["T1"], bin="day")


@pytest.mark.parametrize(
    "kind",
    [
        "headroom",
        "monthly",
        "hourly",
        "heatmap",
        "fit",
        "mix",
        "with-chargers",
        "overview",
        "map",
    ],
)
def test_make_plot_every_kind_renders(
    marts_conn: psycopg.Connection, kind: Any
) -> None:
    chart = plots.make_plot(marts_conn, kind, transformers=["T1", "T3"])
    spec = spec_of(chart)
    assert not is_no_data(spec), kind
    png = vl_convert.vegalite_to_png(spec, scale=1)
    colours, ink, _ = png_ink(png)
    assert colours > 20
    assert ink > 1000


def test_make_plot_transformer_without_readings(marts_conn: psycopg.Connection) -> None:
    for kind in ("headroom", "monthly", "heatmap", "with-chargers"):
        spec = spec_of(plots.make_plot(marts_conn, kind, transformers=["T5"]))
        assert is_no_data(spec), kind


def test_map_of_a_large_grid_stays_under_the_row_limit() -> None:
    n = 6000
    dim = pd.DataFrame(
        {
            "grid_id": "g1",
            "transformer_id": [f"T{i}" for i in range(n)],
            "latitude": [49.0 + i * 1e-4 for i in range(n)],
            "longitude": [-123.0 - (i % 97) * 1e-3 for i in range(n)],
            "capacity_kw": [float(i % 300) for i in range(n)],
        }
    )
    spec = spec_of(plots.transformer_map_chart(dim))  # no MaxRowsError
    (rows,) = datasets(spec)  # every layer shares the points
    assert len(rows) == 4000
    assert max(r["capacity_kw"] for r in rows) < 300
    assert "the 4,000 lowest of 6,000" in titles(spec)


def test_map_draws_one_panel_per_grid() -> None:
    south = dim_frame().assign(grid_id="g2", latitude=lambda f: f["latitude"] - 1.0)
    dim = pd.concat([dim_frame(), south], ignore_index=True)
    fit = pd.concat([fit_frame(), fit_frame().assign(grid_id="g2")])
    spec = spec_of(plots.transformer_map_chart(dim, fit=fit))
    assert [panel["title"] for panel in spec["concat"]] == ["g1", "g2"]
    assert spec["resolve"]["scale"] == {"x": "independent", "y": "independent"}
    png = vl_convert.vegalite_to_png(spec, scale=1)
    colours, ink, _ = png_ink(png)
    assert colours > 20
    assert ink > 1000


# --- names and modes are checked ----------------------------------------------------


@pytest.mark.parametrize("kind", ["fit", "overview", "with-chargers", "map"])
def test_make_plot_unknown_window_lists_the_known_ones(
    marts_conn: psycopg.Connection, kind: Any
) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown charging window 'bogus'; known: all_time, nightly, summer",
    ):
        plots.make_plot(marts_conn, kind, transformers=["T1"], window="bogus")


@pytest.mark.parametrize("kind", ["map", "with-chargers"])
def test_make_plot_unknown_charger_type_lists_the_known_ones(
    marts_conn: psycopg.Connection, kind: Any
) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown charger type 'bogus'; known: dcfc_50kw, level2_19kw",
    ):
        plots.make_plot(marts_conn, kind, transformers=["T1"], charger_type="bogus")


def test_make_plot_known_names_still_draw(marts_conn: psycopg.Connection) -> None:
    for kind in ("fit", "overview", "with-chargers", "map"):
        spec = spec_of(
            plots.make_plot(
                marts_conn,
                kind,  # type: ignore[arg-type]
                transformers=["T1"],
                window="nightly",
                charger_type="level2_7kw",
            )
        )
        assert not is_no_data(spec), kind


def test_make_plot_mix_rejects_single_mode(marts_conn: psycopg.Connection) -> None:
    with pytest.raises(ConfigError, match="use kind fit"):
        plots.make_plot(marts_conn, "mix", transformers=["T1"], mode="single")


def test_mix_chart_rejects_single_mode_rows() -> None:
    frame = mix_frame()
    frame.loc[frame["mode"] == "max-power", "mode"] = "single"
    with pytest.raises(ConfigError, match="alternative"):
        plots.mix_chart(frame)


def test_plot_cli_mode_choices_are_the_mix_chart_modes(tmp_path: Any) -> None:
    from evcap import cli, mix

    assert tuple(m for m in mix.MODES if m != "single") == plots.MIX_CHART_MODES
    parser = cli.build_parser()
    args = parser.parse_args(
        ["plot", "mix", "--mode", "joint", "--out", str(tmp_path / "m.html")]
    )
    assert args.mode == "joint"
    for mode in plots.MIX_CHART_MODES:
        parser.parse_args(["plot", "mix", "--mode", mode, "--out", "x.html"])
    with pytest.raises(SystemExit):
        parser.parse_args(["plot", "mix", "--mode", "single", "--out", "x.html"])
