"""VN_AQI (Decision 1459/QĐ-TCMT) and the means it is computed from."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from config.timezone import LOCAL_TZ
from events.models import Measurement, Quality
from processors.environment.aqi import (
    DailyInputs,
    category_for,
    daily_aqi,
    hourly_aqi,
    nowcast,
    round_aqi,
    sub_index,
    tables,
)
from processors.environment.averaging import (
    daily_inputs,
    hourly_means,
    nowcast_hours,
    points_from_measurements,
    rolling_means,
)

T0 = datetime(2024, 11, 20, 0, 0, tzinfo=UTC)


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


# ---- worked examples printed in the decision ------------------------------------------


def test_hourly_worked_example_sub_indices() -> None:
    assert round_aqi(sub_index("o3_1h", 136.1)) == 43
    # The formula gives 59.35; the decision prints 60 (its rounding is inconsistent).
    assert sub_index("no2", 118.7) == pytest.approx(59.35)
    assert abs(round_aqi(sub_index("no2", 118.7)) - 60) <= 1
    assert round_aqi(sub_index("pm25", 20.3)) == 41


def test_hourly_worked_example_aqi() -> None:
    result = hourly_aqi({"o3": 136.1, "no2": 118.7}, {"pm25": [20.3] * 12})
    assert result.concentrations["pm25"] == pytest.approx(20.3)
    assert result.sub_indices["o3_1h"] == 43
    assert result.sub_indices["pm25"] == 41
    assert abs(result.aqi - 60) <= 1
    assert result.dominant == "no2"
    assert result.category == "moderate"


def test_daily_worked_example() -> None:
    result = daily_aqi(
        DailyInputs(o3_max_8h=89.3, o3_max_1h=114.6, no2_max_1h=130.8, pm25_24h=55.7)
    )
    assert result.sub_indices == {"o3_8h": 45, "o3_1h": 36, "no2": 65, "pm25": 110}
    assert result.aqi == 110
    assert result.dominant == "pm25"
    assert (result.category, result.name_vi, result.name_en) == ("poor", "Kém", "poor")
    assert result.colour == (255, 126, 0)


# ---- sub-index ------------------------------------------------------------------------


@pytest.mark.parametrize("column", sorted(tables().breakpoints))
def test_every_breakpoint_maps_to_its_index(column: str) -> None:
    for bp, index in zip(tables().breakpoints[column], tables().index, strict=False):
        assert sub_index(column, bp) == pytest.approx(index)


def test_interpolation_is_continuous_without_epa_lower_bounds() -> None:
    # EPA jumps from 50 to 51 at the band edge; VN_AQI interpolates 25 → 50 → 100.
    assert sub_index("pm25", 25.0) == pytest.approx(50.0)
    assert sub_index("pm25", 25.1) == pytest.approx(50.2)
    assert sub_index("pm25", 37.5) == pytest.approx(75.0)


def test_tables_are_not_the_us_epa_ones() -> None:
    assert tables().breakpoints["pm25"][:4] == (0, 25, 50, 80)
    # 35.4 µg/m³ is EPA's top of "moderate" (AQI 100); in VN_AQI it is 70.8.
    assert round_aqi(sub_index("pm25", 35.4)) == 71


@pytest.mark.parametrize(
    ("column", "value"),
    [("pm25", 500), ("pm25", 900), ("pm10", 999), ("co", 200_000), ("o3_1h", 5000)],
)
def test_above_the_top_breakpoint_caps_at_500(column: str, value: float) -> None:
    assert sub_index(column, value) == 500


def test_o3_8h_is_undefined_above_400() -> None:
    assert sub_index("o3_8h", 400) == 300
    assert sub_index("o3_8h", 400.1) is None


def test_negative_concentration_is_rejected() -> None:
    with pytest.raises(ValueError):
        sub_index("pm25", -1)


def test_rounding_is_half_up_and_ignores_float_noise() -> None:
    assert round_aqi(50.5) == 51
    assert round_aqi(109.49999999999999) == 110
    assert round_aqi(109.4999) == 109


# ---- categories -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aqi", "key"),
    [
        (0, "good"),
        (50, "good"),
        (51, "moderate"),
        (100, "moderate"),
        (101, "poor"),
        (150, "poor"),
        (151, "bad"),
        (200, "bad"),
        (201, "very_bad"),
        (300, "very_bad"),
        (301, "hazardous"),
        (500, "hazardous"),
    ],
)
def test_category_boundaries(aqi: int, key: str) -> None:
    assert category_for(aqi).key == key


def test_category_outside_scale_is_an_error() -> None:
    with pytest.raises(ValueError):
        category_for(501)


def test_category_names_and_colours_follow_the_decision() -> None:
    got = {c.key: (c.vi, c.rgb) for c in tables().categories}
    assert got == {
        "good": ("Tốt", (0, 228, 0)),
        "moderate": ("Trung bình", (255, 255, 0)),
        "poor": ("Kém", (255, 126, 0)),
        "bad": ("Xấu", (255, 0, 0)),
        "very_bad": ("Rất xấu", (143, 63, 151)),
        "hazardous": ("Nguy hại", (126, 0, 35)),
    }


def test_boundary_reached_through_concentration() -> None:
    # pm25 25.0 → 50 (good); 25.25 → 50.5 → 51 (moderate); 50 → 100; 50.3 → 100.5 → 101.
    assert hourly_aqi({}, {"pm25": [25.0] * 12}).category == "good"
    assert hourly_aqi({}, {"pm25": [25.25] * 12}).category == "moderate"
    assert hourly_aqi({}, {"pm25": [50.0] * 12}).aqi == 100
    assert hourly_aqi({}, {"pm25": [50.3] * 12}).category == "poor"


# ---- NowCast --------------------------------------------------------------------------


def _weighted(hours: list[float | None], w: float) -> float:
    pairs = [(w**i, c) for i, c in enumerate(hours) if c is not None]
    return sum(wi * c for wi, c in pairs) / sum(wi for wi, _ in pairs)


def test_nowcast_steady_concentration_is_that_concentration() -> None:
    assert nowcast([40.0] * 12) == pytest.approx(40.0)  # w* = 1


def test_nowcast_rapid_change_uses_w_one_half() -> None:
    hours = [100.0, 60.0, 30.0, 20.0] + [10.0] * 8  # w* = 0.1
    assert nowcast(hours) == pytest.approx(_weighted(hours, 0.5))
    # Dominated by the latest hours, far above the plain mean.
    assert nowcast(hours) > 70


def test_nowcast_slow_change_uses_w_star() -> None:
    hours = [50.0, 48.0, 46.0, 44.0] + [40.0] * 8  # w* = 0.8
    assert nowcast(hours) == pytest.approx(_weighted(hours, 0.8))


def test_nowcast_w_star_exactly_one_half_uses_one_half() -> None:
    hours = [40.0, 20.0, 30.0]
    assert nowcast(hours) == pytest.approx(_weighted(hours, 0.5))


def test_nowcast_missing_hours_get_weight_zero() -> None:
    hours: list[float | None] = [30.0, None, 20.0, None, None, 25.0] + [None] * 6
    assert nowcast(hours) == pytest.approx(_weighted(hours, 20 / 30))
    # Not the same as treating a gap as zero.
    assert nowcast(hours) > nowcast([30.0, 0.0, 20.0, 0.0, 0.0, 25.0])


def test_nowcast_needs_two_of_the_first_three_hours() -> None:
    assert nowcast([None, None, 20.0] + [20.0] * 9) is None
    assert nowcast([20.0, None, None] + [20.0] * 9) is None
    assert nowcast([None, 20.0, 22.0]) is not None
    assert nowcast([20.0]) is None


def test_nowcast_all_zero_is_zero() -> None:
    assert nowcast([0.0] * 12) == 0.0


def test_nowcast_ignores_hours_beyond_twelve() -> None:
    assert nowcast([10.0] * 12 + [1000.0]) == pytest.approx(10.0)


# ---- hourly and daily AQI -------------------------------------------------------------


def test_hourly_aqi_without_pm_has_no_value_and_says_why() -> None:
    result = hourly_aqi({"o3": 136.1, "no2": 118.7})
    assert result.aqi is None
    assert "PM2.5 or PM10" in result.reason
    assert result.sub_indices["o3_1h"] == 43  # still reported for display


def test_hourly_aqi_with_pm_gap_reports_the_skip() -> None:
    result = hourly_aqi({"no2": 50}, {"pm25": [None, None, 30.0]})
    assert result.aqi is None
    assert "2 of the last 3" in result.skipped["pm25"]


def test_hourly_aqi_refuses_a_plain_pm_hour_mean() -> None:
    with pytest.raises(ValueError, match="NowCast"):
        hourly_aqi({"pm25": 30.0})


def test_hourly_aqi_uses_pm10_alone_and_ignores_other_metrics() -> None:
    result = hourly_aqi({"temperature": 31.0, "so2": 10.0}, {"pm10": [100.0] * 12})
    assert result.aqi == 75
    assert result.dominant == "pm10"
    assert set(result.sub_indices) == {"so2", "pm10"}


def test_daily_o3_uses_the_larger_of_1h_and_8h() -> None:
    result = daily_aqi(DailyInputs(pm25_24h=10, o3_max_1h=150, o3_max_8h=150))
    assert result.sub_indices["o3_8h"] > result.sub_indices["o3_1h"]
    assert result.dominant == "o3_8h"
    assert result.aqi == result.sub_indices["o3_8h"] == 130  # 100 + 50·(150-120)/50


def test_daily_o3_8h_is_skipped_above_400() -> None:
    result = daily_aqi(DailyInputs(pm25_24h=10, o3_max_1h=300, o3_max_8h=420))
    assert "o3_8h" not in result.sub_indices
    assert "420" in result.skipped["o3_8h"]
    assert result.aqi == 150  # from O3 1h
    assert result.dominant == "o3_1h"


def test_daily_o3_8h_at_400_still_counts() -> None:
    result = daily_aqi(DailyInputs(pm25_24h=10, o3_max_1h=300, o3_max_8h=400))
    assert result.aqi == 300
    assert result.dominant == "o3_8h"


def test_daily_without_pm_has_no_value() -> None:
    assert daily_aqi(DailyInputs(no2_max_1h=130.8)).aqi is None


def test_result_is_json_serialisable() -> None:
    result = hourly_aqi({"o3": 136.1}, {"pm25": [20.3] * 12})
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["aqi"] == 43
    assert doc["colour"] == [0, 228, 0]


# ---- averaging ------------------------------------------------------------------------


def test_hourly_means_bucket_by_hour_and_drop_bad_readings() -> None:
    readings = [
        (hour(0), 10.0),
        (hour(0.5), 20.0, Quality.GOOD),
        (hour(0.75), 900.0, Quality.BAD),  # a broken sensor must not move the mean
        (hour(0.9), 30.0, Quality.SUSPECT),
        (hour(1), 50.0),  # exactly on the hour: starts the next bucket
    ]
    assert hourly_means(readings) == [(hour(0), 20.0), (hour(1), 50.0)]


def test_hourly_means_leave_thin_hours_out() -> None:
    readings = [(hour(0), 10.0), (hour(0.5), 20.0), (hour(1.5), 5.0)]
    assert hourly_means(readings, min_count=2) == [(hour(0), 15.0)]


def test_hourly_means_normalise_local_time_to_utc_hours() -> None:
    local = datetime(2024, 11, 20, 7, 30, tzinfo=LOCAL_TZ)  # 00:30 UTC
    assert hourly_means([(local, 12.0)]) == [(hour(0), 12.0)]


def test_hourly_means_reject_naive_times() -> None:
    with pytest.raises(ValueError):
        hourly_means([(datetime(2024, 1, 1), 1.0)])


def test_points_from_measurements_drop_bad_and_optionally_suspect() -> None:
    def m(value: float, quality: Quality, metric: str = "pm25") -> Measurement:
        return Measurement(
            time=hour(0), device_id="d1", metric=metric, value=value, quality=quality
        )

    ms = [m(1, Quality.GOOD), m(2, Quality.SUSPECT), m(3, Quality.BAD), m(4, Quality.GOOD, "no2")]
    assert [v for _, v in points_from_measurements(ms, "pm25")] == [1, 2]
    assert [v for _, v in points_from_measurements(ms, "pm25", allow_suspect=False)] == [1]


def test_rolling_means_over_eight_hours_with_a_gap() -> None:
    hourly = [(hour(h), float(h)) for h in range(10) if h != 3]
    means = dict(rolling_means(hourly, hours=8, min_count=6))
    assert hour(5) not in means  # only 5 of 8 hours (0,1,2,4,5) so far
    assert means[hour(6)] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)
    assert means[hour(9)] == pytest.approx((2 + 4 + 5 + 6 + 7 + 8 + 9) / 7)


def test_nowcast_hours_start_at_the_current_hour() -> None:
    hourly = [(hour(h), float(h)) for h in range(20) if h != 18]
    c = nowcast_hours(hourly, hour(19.5))
    assert c[:3] == [19.0, None, 17.0]
    assert c[11] == 8.0
    assert len(c) == 12


def test_daily_inputs_use_the_local_day() -> None:
    day = date(2024, 11, 20)
    start = datetime(2024, 11, 20, tzinfo=LOCAL_TZ).astimezone(UTC)  # 17:00 UTC the day before
    hours = [start + timedelta(hours=h) for h in range(-8, 25)]  # 8h before to 1h after
    pm = [(t, 55.7) for t in hours[8:32]]
    o3 = [(t, 80.0) for t in hours[:-1]]
    o3[8 + 14] = (o3[8 + 14][0], 114.6)  # 14:00 local peak
    no2 = [(hours[8 + 9], 130.8), (hours[-1], 999.0)]  # the 999 is the next day
    inputs = daily_inputs({"pm25": pm, "o3": o3, "no2": no2}, day)
    assert inputs.pm25_24h == pytest.approx(55.7)
    assert inputs.o3_max_1h == 114.6
    assert inputs.o3_max_8h == pytest.approx((7 * 80 + 114.6) / 8)
    assert inputs.no2_max_1h == 130.8
    assert daily_aqi(inputs).aqi == 110


def test_daily_pm_needs_enough_hours() -> None:
    start = datetime(2024, 11, 20, tzinfo=LOCAL_TZ)
    pm = [(start + timedelta(hours=h), 30.0) for h in range(17)]
    assert daily_inputs({"pm25": pm}, date(2024, 11, 20)).pm25_24h is None
