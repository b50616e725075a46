"""The IEC 60076-7 thermal model and the thermal charger counts.

Independent checks: Alliander's ``transformer-thermal-model`` (PyPI) on the
same load and ambient profiles, hand-computed steady states and ageing rates,
and every count re-run through the model at N and N + 1.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from hand_made_marts import create_marts

from evcap.errors import ConfigError
from evcap.marts import read_mart
from evcap.thermal import (
    IEC_ONAN_DISTRIBUTION,
    THERMAL_FIT_COLUMNS,
    ThermalLimits,
    ThermalParameters,
    add_thermal_columns,
    ageing_rate,
    build_inputs,
    design_day,
    parameters_for,
    parameters_from_mapping,
    steady_state,
    thermal_counts,
    thermal_fit,
    thermal_headroom,
    thermal_months,
    window_masks,
    write_thermal_fit,
)

HOURS = np.arange(24)


def _evening_profile(peak_pu: float) -> np.ndarray:
    """A residential day: low at night, peak at 18-20 h (per unit)."""
    base = 0.35 + 0.25 * np.cos(2 * np.pi * (HOURS - 19) / 24)
    base[18:21] = peak_pu
    return base


def _ambient(mean: float = 15.0, swing: float = 5.0) -> np.ndarray:
    return mean + swing * np.cos(2 * np.pi * (HOURS - 15) / 24)


# --- steady states and ageing ---------------------------------------------------


@pytest.mark.parametrize("load_pu", [0.0, 0.5, 1.0, 1.3])
@pytest.mark.parametrize("ambient_c", [-5.0, 20.0, 30.0])
@pytest.mark.parametrize("k21", [1.0, 2.0])
def test_constant_day_is_the_hand_computed_steady_state(
    load_pu: float, ambient_c: float, k21: float
) -> None:
    params = parameters_from_mapping({"k21": k21}, 1)
    result = design_day(np.full((1, 24), load_pu), np.full(24, ambient_c), params)
    d_or, r, x = 55.0, 5.0, 0.8
    hgr, y = 1.1 * 20.91, 1.6
    top_oil = ambient_c + d_or * ((1 + r * load_pu**2) / (1 + r)) ** x
    hot_spot = top_oil + hgr * load_pu**y
    assert result.peak_top_oil_c[0] == pytest.approx(top_oil, abs=1e-9)
    assert result.peak_hot_spot_c[0] == pytest.approx(hot_spot, abs=1e-9)
    expected_ageing = 2 ** ((hot_spot - 98) / 6)
    assert result.ageing_per_day[0] == pytest.approx(expected_ageing, rel=1e-9)
    assert steady_state([load_pu], [ambient_c], params)[1][0] == pytest.approx(hot_spot)


def test_rated_load_at_20_degrees_is_98_degrees_and_ageing_one() -> None:
    result = design_day(
        np.ones((1, 24)), np.full(24, 20.0), ThermalParameters.iec_defaults()
    )
    assert result.peak_hot_spot_c[0] == pytest.approx(98.0, abs=0.01)
    assert result.ageing_per_day[0] == pytest.approx(1.0, abs=0.002)


@pytest.mark.parametrize(
    ("hot_spot_c", "upgraded", "expected"),
    [
        (98.0, False, 1.0),
        (104.0, False, 2.0),
        (92.0, False, 0.5),
        (110.0, True, 1.0),
        (120.0, True, math.exp(15000 / 383 - 15000 / 393)),
        (80.0, True, math.exp(15000 / 383 - 15000 / 353)),
    ],
)
def test_ageing_rates(hot_spot_c: float, upgraded: bool, expected: float) -> None:
    assert ageing_rate(hot_spot_c, upgraded) == pytest.approx(expected, rel=1e-12)


def test_thermally_upgraded_paper_ages_slower_above_98() -> None:
    params = parameters_from_mapping({"insulation": "thermally_upgraded"}, 1)
    normal = design_day(
        np.full((1, 24), 1.2), _ambient(), ThermalParameters.iec_defaults()
    )
    upgraded = design_day(np.full((1, 24), 1.2), _ambient(), params)
    assert upgraded.peak_hot_spot_c[0] == pytest.approx(normal.peak_hot_spot_c[0])
    assert upgraded.ageing_per_day[0] < normal.ageing_per_day[0]


def test_design_day_is_periodic() -> None:
    """A periodic steady state does not depend on where the day starts."""
    load = _evening_profile(1.4)[None, :]
    params = parameters_from_mapping({"k21": 2.0}, 1)
    day = design_day(load, _ambient(), params, profiles=True)
    shifted = design_day(
        np.roll(load, 6, axis=1), np.roll(_ambient(), 6), params, profiles=True
    )
    assert day.days == 1
    assert day.hot_spot_c is not None
    assert shifted.hot_spot_c is not None
    assert np.allclose(
        np.roll(day.hot_spot_c[0], 6 * 60), shifted.hot_spot_c[0], atol=1e-9
    )


def test_k21_above_one_overshoots_after_a_load_step() -> None:
    load = _evening_profile(1.4)[None, :]
    plain = design_day(load, _ambient(), parameters_from_mapping({}, 1), profiles=True)
    over = design_day(
        load, _ambient(), parameters_from_mapping({"k21": 2.0}, 1), profiles=True
    )
    assert plain.hot_spot_c is not None
    assert plain.top_oil_c is not None
    assert over.hot_spot_c is not None
    assert over.top_oil_c is not None
    rise_plain = plain.hot_spot_c[0] - plain.top_oil_c[0]
    rise_over = over.hot_spot_c[0] - over.top_oil_c[0]
    step = slice(18 * 60, 21 * 60)  # the evening peak, 18:00-20:59
    # k21 = 1: the rise climbs to its ultimate value and stays there.
    assert rise_plain[step].max() == pytest.approx(rise_plain[21 * 60 - 1], abs=1e-6)
    # k21 = 2: it overshoots first (IEC 60076-7 Figure 4), then settles.
    assert rise_over[step].max() > rise_over[21 * 60 - 1] + 1.0
    assert over.peak_hot_spot_c[0] > plain.peak_hot_spot_c[0]


def test_bad_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="k21"):
        parameters_from_mapping({"k21": 0.5}, 1)
    with pytest.raises(ConfigError, match="oil_time_constant_min"):
        parameters_from_mapping({"oil_time_constant_min": 0}, 1)
    with pytest.raises(ConfigError, match="insulation"):
        parameters_from_mapping({"insulation": "cardboard"}, 1)
    params = ThermalParameters.iec_defaults(1)
    with pytest.raises(ConfigError, match="shape"):
        design_day(np.ones((1, 23)), np.zeros(24), params)
    with pytest.raises(ConfigError, match="finite"):
        design_day(np.full((1, 24), np.nan), np.zeros(24), params)
    with pytest.raises(ConfigError, match="divide"):
        design_day(np.ones((1, 24)), np.zeros(24), params, step_minutes=7)


def test_parameters_for_takes_grid_rows_then_overrides() -> None:
    keys = pd.DataFrame(
        {"grid_id": ["a", "b", "b"], "transformer_id": ["T1", "T1", "T2"]}
    )
    grid_rows = pd.DataFrame(
        [
            {"grid_id": "default", **IEC_ONAN_DISTRIBUTION},
            {"grid_id": "b", **IEC_ONAN_DISTRIBUTION, "top_oil_rise_k": 60.0},
        ]
    )
    overrides = pd.DataFrame(
        {
            "grid_id": ["b"],
            "transformer_id": ["T2"],
            "k21": [2.0],
            "insulation": ["thermally_upgraded"],
            "loss_ratio": [None],
        }
    )
    out = parameters_for(keys, grid_rows, overrides)
    assert out["top_oil_rise_k"].tolist() == [55.0, 60.0, 60.0]
    assert out["k21"].tolist() == [1.0, 1.0, 2.0]
    assert out["loss_ratio"].tolist() == [5.0, 5.0, 5.0]
    assert out["insulation"].tolist() == ["normal", "normal", "thermally_upgraded"]
    with pytest.raises(ConfigError, match="default"):
        parameters_for(keys, grid_rows[grid_rows["grid_id"] == "b"])


# --- Alliander's transformer-thermal-model ----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "peak_pu"),
    [
        ({}, 1.3),
        ({"k21": 2.0}, 1.4),
        (
            {"insulation": "normal", "loss_ratio": 8.0, "oil_time_constant_min": 150.0},
            0.9,
        ),
    ],
)
def test_temperatures_match_transformer_thermal_model(
    overrides: dict[str, float | str], peak_pu: float
) -> None:
    # A dev dependency (pyproject): missing, the test fails rather than skips.
    from transformer_thermal_model import model as ttm_model
    from transformer_thermal_model import schemas as ttm_schemas
    from transformer_thermal_model import transformer as ttm_transformer

    row = {**IEC_ONAN_DISTRIBUTION, **overrides}
    params = parameters_from_mapping(overrides, 1)
    load = _evening_profile(peak_pu)
    ambient = _ambient(18.0, 6.0)
    ours = design_day(load[None, :], ambient, params, profiles=True)
    assert ours.top_oil_c is not None
    assert ours.hot_spot_c is not None

    # Theirs: minute series, value at minute i is held over (i - 1, i]; same
    # day repeated 6 times from a cold start, the last day compared.
    days = 6
    minutes = np.arange(days * 1440 + 1)
    hour_of_step = ((minutes - 1) // 60) % 24
    index = [dt.datetime(2024, 1, 1) + dt.timedelta(minutes=int(i)) for i in minutes]
    profile = ttm_schemas.InputProfile.create(
        datetime_index=index,
        load_profile=load[hour_of_step],
        ambient_temperature_profile=ambient[hour_of_step],
    )
    specs = ttm_schemas.UserTransformerSpecifications(
        load_loss=float(row["loss_ratio"]),
        no_load_loss=1.0,
        nom_load_sec_side=1.0,
        top_oil_temp_rise=float(row["top_oil_rise_k"]),
        winding_oil_gradient=float(row["winding_gradient_k"]),
        hot_spot_fac=float(row["hot_spot_factor"]),
        oil_exp_x=float(row["oil_exponent"]),
        winding_exp_y=float(row["winding_exponent"]),
        time_const_oil=float(row["oil_time_constant_min"]),
        time_const_windings=float(row["winding_time_constant_min"]),
        oil_const_k11=float(row["k11"]),
        winding_const_k21=int(float(row["k21"])),
        winding_const_k22=int(float(row["k22"])),
        amb_temp_surcharge=0.0,
        end_temp_reduction=0.0,
    )
    transformer = ttm_transformer.DistributionTransformer(user_specs=specs)
    output = ttm_model.Model(temperature_profile=profile, transformer=transformer).run()
    their_top = output.top_oil_temp_profile.to_numpy()[-1440:]
    their_hot = output.hot_spot_temp_profile.to_numpy()[-1440:]
    assert np.max(np.abs(ours.top_oil_c[0] - their_top)) < 0.5
    assert np.max(np.abs(ours.hot_spot_c[0] - their_hot)) < 0.5
    assert ours.peak_hot_spot_c[0] == pytest.approx(their_hot.max(), abs=0.5)


# --- charger counts ---------------------------------------------------------------


def _frames(windows_csv: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Two rated transformers with a year of month x hour maxima, one unrated."""
    rows = []
    for t, (peak, cap) in {
        "T1": (40.0, 49.0),
        "T2": (70.0, 73.5),
        "T3": (10.0, None),
    }.items():
        for month in range(1, 13):
            warm = 1.0 + 0.15 * math.cos(2 * math.pi * (month - 1) / 12)
            for hour in range(24):
                if t == "T2" and month == 5:
                    continue  # a month without data
                max_kw = peak * warm * _evening_profile(1.0)[hour]
                rows.append(
                    {
                        "grid_id": "g",
                        "transformer_id": t,
                        "local_month": month,
                        "local_hour": hour,
                        "capacity_kw": cap,
                        "min_load_kw": -5.0 if 10 <= hour <= 14 else 0.3 * max_kw,
                        "max_load_kw": max_kw,
                    }
                )
    dim = pd.DataFrame(
        {
            "grid_id": ["g", "g", "g"],
            "transformer_id": ["T1", "T2", "T3"],
            "capacity_kw": [49.0, 73.5, None],
        }
    )
    windows = windows_csv
    if windows is None:
        windows = pd.DataFrame(
            [
                ("nightly", 1, 12, 22, 4),
                ("evening", 11, 2, 17, 20),
                ("may_noon", 5, 5, 11, 13),
            ],
            columns=[
                "window_name",
                "month_start",
                "month_end",
                "hour_start",
                "hour_end",
            ],
        )
    ambient = pd.DataFrame(
        [
            {
                "grid_id": "default",
                "local_month": m,
                "local_hour": h,
                "ambient_c": 5
                + 10 * math.sin(math.pi * (m - 1) / 11)
                + 4 * math.cos(2 * math.pi * (h - 15) / 24),
            }
            for m in range(1, 13)
            for h in range(24)
        ]
    )
    return {
        "dim_transformers": dim,
        "transformer_headroom_profile": pd.DataFrame(rows),
        "charging_windows": windows,
        "ambient_temperature_normals": ambient,
        "thermal_parameters": pd.DataFrame(
            [{"grid_id": "default", **IEC_ONAN_DISTRIBUTION}]
        ),
        "transformer_thermal_overrides": pd.DataFrame(
            columns=["grid_id", "transformer_id", "k21"]
        ),
    }


def _inputs(frames: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    return build_inputs(
        frames["dim_transformers"],
        frames["transformer_headroom_profile"],
        frames["thermal_parameters"],
        frames["transformer_thermal_overrides"],
        frames["ambient_temperature_normals"],
        frames["charging_windows"],
    )


def _independent_check(
    frames: dict[str, pd.DataFrame],
    transformer: str,
    window: str,
    added_kw: float,
    limits: ThermalLimits,
) -> bool:
    """Re-run the model from the raw frames: does ``added_kw`` in the window fit?"""
    profile = frames["transformer_headroom_profile"]
    profile = profile[profile["transformer_id"] == transformer]
    capacity = float(
        frames["dim_transformers"]
        .set_index("transformer_id")
        .loc[transformer, "capacity_kw"]
    )
    win = frames["charging_windows"].set_index("window_name").loc[window]
    months, hours = window_masks(win.to_dict())
    ambient = frames["ambient_temperature_normals"].pivot(
        index="local_month", columns="local_hour", values="ambient_c"
    )
    params = ThermalParameters.iec_defaults(1)
    for month in range(1, 13):
        cells = profile[profile["local_month"] == month].set_index("local_hour")
        if not months[month - 1] or cells.empty:
            continue
        high = cells["max_load_kw"].reindex(range(24)).to_numpy() + added_kw * hours
        low = cells["min_load_kw"].reindex(range(24)).to_numpy() + added_kw * hours
        k = np.maximum(high, -low) / capacity
        day = design_day(k[None, :], ambient.loc[month].to_numpy(), params)
        if (
            day.peak_hot_spot_c[0] > limits.hot_spot_c
            or day.peak_top_oil_c[0] > limits.top_oil_c
            or day.ageing_per_day[0] > limits.ageing_per_day
            or k.max() > limits.load_pu
        ):
            return False
    return True


@pytest.mark.parametrize(
    "limits",
    [
        ThermalLimits(),
        ThermalLimits(hot_spot_c=110.0, ageing_per_day=50.0, load_pu=3.0),
    ],
)
def test_counts_fit_at_n_and_break_at_n_plus_one(limits: ThermalLimits) -> None:
    frames = _frames()
    inputs = _inputs(frames)
    headroom = thermal_headroom(
        inputs, windows=["nightly", "evening", "may_noon"], limits=limits
    )
    chargers = pd.DataFrame({"charger_type": ["a", "b"], "power_kw": [1.9, 7.2]})
    counts = thermal_counts(
        inputs, headroom=headroom, chargers=chargers, coincidence=0.8, limits=limits
    )
    checked = 0
    for row in counts.itertuples():
        if row.binding_criterion in ("missing_rating", "no_data_in_window"):
            continue
        draw = 0.8 * row.charger_power_kw
        n = row.thermal_max_chargers
        if n > 0:
            assert _independent_check(
                frames, row.transformer_id, row.window_name, n * draw, limits
            )
        assert not _independent_check(
            frames, row.transformer_id, row.window_name, (n + 1) * draw, limits
        )
        assert row.binding_criterion in ("hot_spot", "top_oil", "ageing", "load_pu")
        checked += 1
    assert checked >= 8
    unrated = counts[counts["transformer_id"] == "T3"]
    assert set(unrated["binding_criterion"]) == {"missing_rating"}
    assert (unrated["thermal_max_chargers"] == 0).all()
    # T2 has no May: the May-only window has no design day to check.
    may = counts[
        (counts["transformer_id"] == "T2") & (counts["window_name"] == "may_noon")
    ]
    assert set(may["binding_criterion"]) == {"no_data_in_window"}


def test_tighter_limit_never_fits_more() -> None:
    frames = _frames()
    inputs = _inputs(frames)
    chargers = pd.DataFrame({"charger_type": ["b"], "power_kw": [7.2]})
    loose = thermal_counts(
        inputs,
        headroom=thermal_headroom(inputs, windows=["nightly"], limits=ThermalLimits()),
        chargers=chargers,
    )
    tight_limits = ThermalLimits(hot_spot_c=100.0)
    tight = thermal_counts(
        inputs,
        headroom=thermal_headroom(inputs, windows=["nightly"], limits=tight_limits),
        chargers=chargers,
        limits=tight_limits,
    )
    assert (
        tight["thermal_max_chargers"].to_numpy()
        <= loose["thermal_max_chargers"].to_numpy()
    ).all()
    assert (tight["thermal_max_chargers"] < loose["thermal_max_chargers"]).any()


def test_baseline_over_a_limit_gives_zero_with_its_reason() -> None:
    frames = _frames()
    inputs = _inputs(frames)
    limits = ThermalLimits(hot_spot_c=40.0)
    headroom = thermal_headroom(inputs, windows=["nightly"], limits=limits)
    counts = thermal_counts(
        inputs,
        headroom=headroom,
        chargers=pd.DataFrame({"charger_type": ["b"], "power_kw": [7.2]}),
        limits=limits,
    )
    rated = counts[counts["transformer_id"] != "T3"]
    assert (rated["thermal_max_chargers"] == 0).all()
    assert (rated["baseline_within_limits"] == False).all()  # noqa: E712
    assert set(rated["binding_criterion"]) == {"hot_spot"}


def test_missing_ambient_is_a_config_error() -> None:
    frames = _frames()
    frames["ambient_temperature_normals"] = frames["ambient_temperature_normals"].iloc[
        :-1
    ]
    with pytest.raises(ConfigError, match="every local"):
        _inputs(frames)


def test_thermal_months_peaks_and_hours() -> None:
    months = thermal_months(_inputs(_frames()))
    assert set(months["transformer_id"]) == {"T1", "T2"}
    assert len(months[months["transformer_id"] == "T2"]) == 11
    # The evening peak drives the hot spot; winter (January) is the hot month
    # here because the load grows more than the ambient falls.
    assert months["peak_hot_spot_hour_local"].between(18, 21).all()
    assert (months["ageing_per_day_upgraded_paper"] <= months["ageing_per_day"]).all()


# --- the marts ------------------------------------------------------------------


def test_thermal_fit_on_the_marts_and_write_back(
    marts_conn: psycopg.Connection, pg_conn: psycopg.Connection
) -> None:
    result = thermal_fit(marts_conn, windows=["nightly"])
    assert list(result.columns) == list(THERMAL_FIT_COLUMNS)
    nameplate = read_mart(marts_conn, "transformer_charger_fit")
    nameplate = nameplate[nameplate["window_name"] == "nightly"]
    merged = result.merge(
        nameplate,
        on=["grid_id", "transformer_id", "window_name", "charger_type"],
        suffixes=("", "_np"),
    )
    assert len(merged) == len(result) == len(nameplate)
    assert (merged["max_chargers"] == merged["max_chargers_np"]).all()
    compat = merged["reason"].isin(
        ["voltage_above_secondary", "needs_three_phase", "secondary_not_low_voltage"]
    )
    assert (merged.loc[compat, "thermal_max_chargers"] == 0).all()
    assert (
        merged.loc[compat, "binding_criterion"] == merged.loc[compat, "reason"]
    ).all()
    assert (result["thermal_max_chargers"] >= 0).all()

    written = write_thermal_fit(pg_conn, result)
    assert written == len(result)
    again = write_thermal_fit(pg_conn, result.iloc[:1])
    assert again == 1
    stored = pg_conn.execute(
        "select count(*) from evcap.transformer_thermal_fit"
    ).fetchone()
    assert stored is not None
    first = result.iloc[0]
    same_group = (
        (result["grid_id"] == first["grid_id"])
        & (result["transformer_id"] == first["transformer_id"])
    ).sum()
    assert stored[0] == len(result) - same_group + 1


@pytest.mark.parametrize(
    ("transformer_id", "reason"),
    [
        ("T1", "not_a_distribution_transformer"),
        ("T2", "secondary_voltage_unreadable"),
        ("T3", "phases_unreadable"),
        ("T1", "insufficient_data_in_window"),
    ],
)
def test_thermal_count_is_zero_where_the_nameplate_fit_blocks_it(
    pg_conn: psycopg.Connection, transformer_id: str, reason: str
) -> None:
    # A transformer the nameplate fit rules out for a reason other than
    # headroom (a substation, an unreadable nameplate, too little data) gets no
    # thermal count either, however cool it runs.
    create_marts(pg_conn)
    before = thermal_fit(pg_conn, windows=["nightly"])
    mine = before["transformer_id"] == transformer_id
    assert (before.loc[mine, "thermal_max_chargers"] > 0).any()
    pg_conn.execute(
        "update evcap.transformer_charger_fit set max_chargers = 0, reason = %s"
        " where transformer_id = %s",
        (reason, transformer_id),
    )
    pg_conn.commit()
    after = thermal_fit(pg_conn, windows=["nightly"])
    mine = after["transformer_id"] == transformer_id
    assert (after.loc[mine, "thermal_max_chargers"] == 0).all()
    assert (after.loc[mine, "binding_criterion"] == reason).all()
    others = after.loc[~mine].reset_index(drop=True)
    assert others.equals(
        before.loc[before["transformer_id"] != transformer_id].reset_index(drop=True)
    )


def test_fit_gets_thermal_columns(marts_conn: psycopg.Connection) -> None:
    from evcap import fit

    mix = fit(marts_conn, window="nightly", mode="max-power")
    out = add_thermal_columns(marts_conn, fit_frame=mix)
    assert len(out) == len(mix)
    for column in (
        "thermal_max_chargers",
        "thermal_max_kw",
        "binding_criterion",
        "thermal_ok",
    ):
        assert column in out.columns
    known = out["thermal_max_kw"].notna()
    total = out.groupby(["grid_id", "transformer_id"])["power_kw"].transform("sum")
    assert (
        out.loc[known, "thermal_ok"]
        == (total[known] <= out.loc[known, "thermal_max_kw"] + 1e-9)
    ).all()


def test_thermal_columns_use_the_fits_coincidence(
    marts_conn: psycopg.Connection,
) -> None:
    """The coincidence factor reaches the thermal count (no hidden metadata).

    Halving the coincidence halves each charger's draw, so the thermal count
    at least doubles: floor(2 x) >= 2 floor(x) for the same allowed kW.
    """
    from evcap import fit

    half = add_thermal_columns(
        marts_conn,
        fit_frame=fit(marts_conn, window="nightly", mode="single", coincidence=0.5),
        coincidence=0.5,
    )
    full = add_thermal_columns(
        marts_conn,
        fit_frame=fit(marts_conn, window="nightly", mode="single"),
        coincidence=1.0,
    )
    key = ["grid_id", "transformer_id", "window_name", "charger_type"]
    both = half.merge(full, on=key, suffixes=("_half", "_full"))
    both = both[both["thermal_max_chargers_full"].notna()]
    assert len(both) > 0
    pd.testing.assert_series_equal(
        both["thermal_max_kw_half"], both["thermal_max_kw_full"], check_names=False
    )
    n_half = both["thermal_max_chargers_half"].astype(int)
    n_full = both["thermal_max_chargers_full"].astype(int)
    assert (n_half >= 2 * n_full).all()
    assert n_half.sum() > n_full.sum()


def test_limits_come_from_the_dbt_vars() -> None:
    assert ThermalLimits.from_project() == ThermalLimits(120.0, 105.0, 1.0, 1.5)
    assert ThermalLimits.from_project({"hot_spot_c": 110.0}).hot_spot_c == 110.0
    with pytest.raises(ConfigError):
        ThermalLimits(load_pu=0.0)


def test_cli_thermal_and_plot(
    marts_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evcap import cli

    out = tmp_path / "thermal.csv"
    code = cli.main(
        [
            "thermal",
            "--dsn",
            marts_dsn,
            "--window",
            "nightly",
            "--format",
            "csv",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    frame = pd.read_csv(out)
    assert {"max_chargers", "thermal_max_chargers", "binding_criterion"} <= set(
        frame.columns
    )
    with psycopg.connect(marts_dsn) as conn:
        stored = read_mart(conn, "transformer_thermal_fit")
        months = read_mart(conn, "transformer_thermal_month")
    assert len(stored) == len(frame)
    assert months["local_month"].between(1, 12).all()
    png = tmp_path / "thermal.png"
    assert cli.main(["plot", "thermal", "--dsn", marts_dsn, "--out", str(png)]) == 0
    assert png.stat().st_size > 1000
    assert cli.main(["thermal", "--dsn", marts_dsn, "--window", "lunchtime"]) == 2
    assert "unknown charging window" in capsys.readouterr().err


# --- ambient from an EDM weather data source ------------------------------------

WEATHER_ID = "00000000-0000-0000-0000-00000000a1b1"


def _weather_readings(
    conn: psycopg.Connection, start: str, hours: int, offset_c: float = 0.0
) -> pd.DataFrame:
    """Hourly temperatures into the stand-in, with a late correction and garbage."""
    from evcap.edm_standin import install_standin

    install_standin(conn, "edm")
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    rng = np.random.default_rng(3)
    local = ts.tz_convert("America/Vancouver")
    values = (
        10
        + offset_c
        - 8 * np.cos(2 * np.pi * (local.month.to_numpy() - 1) / 12)
        + 4 * np.cos(2 * np.pi * (local.hour.to_numpy() - 15) / 24)
        + rng.normal(0, 1.5, hours)
    )
    frame = pd.DataFrame({"ts": ts, "value": values})
    received = pd.Timestamp("2030-01-01", tz="UTC")
    rows = [
        (WEATHER_ID, "temperature", t, float(v), 3600, received)
        for t, v in zip(ts, values, strict=True)
    ]
    # A first delivery of the first 48 hours, 5 K off, replaced by the rows above.
    rows += [
        (
            WEATHER_ID,
            "temperature",
            t,
            float(v) + 5.0,
            3600,
            received - pd.Timedelta(days=1),
        )
        for t, v in zip(ts[:48], values[:48], strict=True)
    ]
    # A sensor fault (999 degC), a missing value and another metric: ignored.
    rows.append(
        (
            WEATHER_ID,
            "temperature",
            ts[-1] + pd.Timedelta(hours=1),
            999.0,
            3600,
            received,
        )
    )
    rows.append(
        (
            WEATHER_ID,
            "temperature",
            ts[-1] + pd.Timedelta(hours=2),
            None,
            3600,
            received,
        )
    )
    rows.append((WEATHER_ID, "humidity", ts[0], 80.0, 3600, received))
    with conn.cursor() as cur:
        cur.executemany(
            "insert into edm.ts_data_source_reading values (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    conn.commit()
    return frame


def test_ambient_from_an_edm_weather_source(pg_conn: psycopg.Connection) -> None:
    from evcap.thermal import ambient_from_edm

    frame = _weather_readings(pg_conn, "2023-01-01", 365 * 24)
    got = ambient_from_edm(
        pg_conn, data_source_id=WEATHER_ID, local_timezone="America/Vancouver"
    )
    local = frame["ts"].dt.tz_convert("America/Vancouver")
    expected = frame.groupby([local.dt.month, local.dt.hour])["value"].agg(
        ["mean", "count"]
    )
    assert len(got) == 288
    assert (got["readings"] > 0).all()  # no cell from a fallback
    assert np.allclose(
        got["ambient_c"].to_numpy(), expected["mean"].to_numpy(), atol=1e-9
    )
    assert got["readings"].tolist() == expected["count"].tolist()


def test_ambient_gaps_come_from_the_seed(pg_conn: psycopg.Connection) -> None:
    from evcap.thermal import ambient_from_edm, with_ambient
    from evcap.thermal.inputs import read_seed

    _weather_readings(pg_conn, "2023-01-05", 20 * 24)  # January only
    with pytest.raises(ConfigError, match="no fallback"):
        ambient_from_edm(pg_conn, data_source_id=WEATHER_ID)
    seed = read_seed(None, "ambient_temperature_normals", schema="evcap")
    got = ambient_from_edm(pg_conn, data_source_id=WEATHER_ID, fallback=seed)
    assert int((got["readings"] == 0).sum()) == 288 - 24  # cells from the seed
    july = got[got["local_month"] == 7].set_index("local_hour")["ambient_c"]
    seed_july = seed[seed["local_month"] == 7].set_index("local_hour")["ambient_c"]
    assert np.allclose(july.to_numpy(), seed_july.to_numpy())
    merged = with_ambient(seed, got)
    assert len(merged) == 288
    with pytest.raises(ConfigError, match="no 'temperature' readings"):
        ambient_from_edm(pg_conn, data_source_id="00000000-0000-0000-0000-000000000000")


def test_cli_thermal_with_a_weather_source(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hand_made_marts import create_marts

    from evcap import cli

    with psycopg.connect(pg_dsn) as conn:
        create_marts(conn)
        conn.commit()
        _weather_readings(conn, "2023-01-01", 365 * 24, offset_c=25.0)
    out = tmp_path / "t.csv"
    args = [
        "thermal",
        "--dsn",
        pg_dsn,
        "--window",
        "nightly",
        "--no-write",
        "--format",
        "csv",
    ]
    assert (
        cli.main([*args, "--out", str(out), "--weather-data-source", WEATHER_ID]) == 0
    )
    assert "0 of 288 month x hour cells from the seed" in capsys.readouterr().err
    hot = pd.read_csv(out)
    assert cli.main([*args, "--out", str(tmp_path / "seed.csv")]) == 0
    normal = pd.read_csv(tmp_path / "seed.csv")
    # A station 25 K hotter than the normals fits fewer chargers, never more.
    assert len(hot) == len(normal)
    assert (hot["thermal_max_chargers"] <= normal["thermal_max_chargers"]).all()
    assert hot["thermal_max_chargers"].sum() < normal["thermal_max_chargers"].sum()


def test_single_mode_checks_each_row_alone(marts_conn: psycopg.Connection) -> None:
    from evcap import fit

    single = fit(marts_conn, window="nightly", mode="single")
    out = add_thermal_columns(marts_conn, fit_frame=single)
    known = out["thermal_max_kw"].notna()
    expected = out.loc[known, "power_kw"] <= out.loc[known, "thermal_max_kw"] + 1e-9
    assert (out.loc[known, "thermal_ok"] == expected).all()


@pytest.mark.parametrize(
    ("row", "months", "hours"),
    [
        (
            {"month_start": 11, "month_end": 2, "hour_start": 17, "hour_end": 20},
            [1, 2, 11, 12],
            [17, 18, 19, 20],
        ),
        (
            {"month_start": 6, "month_end": 9, "hour_start": 22, "hour_end": 4},
            [6, 7, 8, 9],
            [22, 23, 0, 1, 2, 3, 4],
        ),
        (
            {"month_start": 1, "month_end": 12, "hour_start": 0, "hour_end": 23},
            list(range(1, 13)),
            list(range(24)),
        ),
        (
            {"month_start": 5, "month_end": 5, "hour_start": 12, "hour_end": 12},
            [5],
            [12],
        ),
    ],
)
def test_window_masks_wrap_like_the_sql_macro(
    row: dict[str, int], months: list[int], hours: list[int]
) -> None:
    month_mask, hour_mask = window_masks(row)
    assert sorted(np.flatnonzero(month_mask) + 1) == sorted(months)
    assert sorted(np.flatnonzero(hour_mask)) == sorted(hours)


def test_a_coarser_step_samples_the_same_day() -> None:
    load = np.stack([_evening_profile(1.3), _evening_profile(0.8)])
    params = parameters_from_mapping({"k21": 2.0}, 2)
    fine = design_day(load, _ambient(), params)
    coarse = design_day(load, _ambient(), params, step_minutes=5)
    # The exact update is step-independent at the hour boundaries; only the
    # sampling of the overshoot between them differs.
    assert np.allclose(coarse.peak_top_oil_c, fine.peak_top_oil_c, atol=1e-9)
    assert np.allclose(coarse.peak_hot_spot_c, fine.peak_hot_spot_c, atol=0.5)
    assert np.allclose(coarse.ageing_per_day, fine.ageing_per_day, rtol=0.05)


def test_blocks_of_design_days_give_the_same_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evcap.thermal.evaluation as thermal_evaluation

    inputs = _inputs(_frames())
    chargers = pd.DataFrame({"charger_type": ["b"], "power_kw": [7.2]})
    whole = thermal_counts(
        inputs,
        headroom=thermal_headroom(inputs, windows=["nightly", "evening"]),
        chargers=chargers,
    )
    monkeypatch.setattr(thermal_evaluation, "EVALUATION_ROWS", 5)
    blocks = thermal_counts(
        inputs,
        headroom=thermal_headroom(inputs, windows=["nightly", "evening"]),
        chargers=chargers,
    )
    pd.testing.assert_frame_equal(whole, blocks)


def test_blocks_of_transformers_give_the_same_counts() -> None:
    from evcap.thermal import thermal_counts_in_blocks

    inputs = _inputs(_frames())
    chargers = pd.DataFrame({"charger_type": ["a", "b"], "power_kw": [1.9, 7.2]})
    windows = ["nightly", "evening", "may_noon"]
    whole = thermal_counts_in_blocks(
        inputs, windows=windows, chargers=chargers, block=100
    )
    one_by_one = thermal_counts_in_blocks(
        inputs, windows=windows, chargers=chargers, block=1
    )
    pd.testing.assert_frame_equal(whole, one_by_one)
