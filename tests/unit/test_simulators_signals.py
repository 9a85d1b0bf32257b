"""Simulated signals: plausible ranges, the right rhythms, determinism by seed."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from datetime import datetime

import pytest

from simulators.fleet import Device, load_fleet
from simulators.signals import (
    HOUR_S,
    M2_PERIOD_S,
    VN_UTC_OFFSET_S,
    MetricModel,
    local_hour,
    sample_noise,
    smooth_noise,
    value,
)

FLEET = load_fleet()
# A Monday at local midnight, so "hour of day" in the tests is easy to read.
T0 = datetime.fromisoformat("2026-11-23T00:00:00+07:00").timestamp()
SEED = 7

# What a real instrument in these places could report (µg/m³ unless stated).
PLAUSIBLE = {
    "pm25": (0, 250),
    "pm10": (0, 400),
    "no2": (0, 400),
    "so2": (0, 350),
    "o3": (0, 300),
    "co": (0, 10_000),
    "temperature": (18, 40),  # °C, lowlands of southern and south-central Vietnam
    "relativeHumidity": (30, 100),
    "waterLevel": (-1.5, 6),  # m, national datum
    "salinity": (0, 35),  # ‰; 35 is sea water
    "intensity": (0, 700),  # vehicles in 5 minutes on one city road
    "occupancy": (0, 50),  # %; a jam is above 50
    "averageVehicleSpeed": (5, 60),  # km/h in town
    "vehicle_count": (0, 140),  # vehicles over one loop in a minute
    "speed_kmh": (5, 60),
    # Light traps on ordinary nights (a surge is a scenario's): under the watch lines.
    "insect_count_brown_planthopper": (0, 1000),
    "insect_count_whitebacked_planthopper": (0, 1500),
    "insect_count_rice_leaffolder": (0, 300),
}


def _device(device_id: str) -> Device:
    return next(d for d in FLEET.devices if d.id == device_id)


def _metric(device: Device, name: str) -> MetricModel:
    return next(m for m in device.metrics if m.name == name)


def _series(device: Device, name: str, step_s: float, span_s: float, seed: int = SEED):
    model = _metric(device, name)
    n = int(span_s / step_s)
    return [value(model, device.id, T0 + i * step_s, seed) for i in range(n)]


@pytest.mark.parametrize("device", FLEET.devices, ids=lambda d: d.id)
def test_every_metric_stays_in_a_plausible_range_for_two_weeks(device: Device) -> None:
    for model in device.metrics:
        lo, hi = PLAUSIBLE[model.name]
        series = _series(device, model.name, step_s=601, span_s=14 * 24 * HOUR_S)
        assert lo <= min(series) and max(series) <= hi, (model.name, min(series), max(series))


def test_same_device_time_and_seed_give_the_same_value() -> None:
    device = _device("kg-rachgia-aq01")
    for model in device.metrics:
        for t in (T0, T0 + 12_345.6, T0 + 86_400 * 40):
            assert value(model, device.id, t, SEED) == value(model, device.id, t, SEED)


def test_another_seed_gives_other_values() -> None:
    device = _device("kg-rachgia-aq01")
    a = _series(device, "pm25", 300, 24 * HOUR_S, seed=1)
    b = _series(device, "pm25", 300, 24 * HOUR_S, seed=2)
    assert sum(x != y for x, y in zip(a, b, strict=True)) > len(a) * 0.9


def test_devices_with_the_same_profile_do_not_move_in_lockstep() -> None:
    a = _series(_device("kg-rachgia-aq01"), "pm25", 300, 24 * HOUR_S)
    b = _series(_device("hg-vithanh-aq01"), "pm25", 300, 24 * HOUR_S)
    assert a != b


def test_local_hour_is_vietnam_time() -> None:
    assert local_hour(T0) == pytest.approx(0.0)
    assert local_hour(T0 + 7.5 * HOUR_S) == pytest.approx(7.5)
    assert local_hour(0) == pytest.approx(VN_UTC_OFFSET_S / HOUR_S)


def _hourly_means(device: Device, name: str, days: int) -> list[float]:
    model = _metric(device, name)
    by_hour: list[list[float]] = [[] for _ in range(24)]
    for i in range(days * 24 * 6):  # every 10 minutes
        t = T0 + i * 600
        by_hour[int(local_hour(t))].append(value(model, device.id, t, SEED))
    return [statistics.fmean(values) for values in by_hour]


def test_pm25_has_rush_hour_peaks_and_an_afternoon_low() -> None:
    means = _hourly_means(_device("kg-rachgia-aq01"), "pm25", days=30)
    morning, evening = statistics.fmean(means[7:9]), statistics.fmean(means[19:21])
    afternoon = statistics.fmean(means[13:16])
    assert morning > afternoon * 1.15
    assert evening > afternoon * 1.15


def test_temperature_peaks_in_the_afternoon_and_ozone_at_midday() -> None:
    device = _device("kh-nhatrang-aq01")
    temperature = _hourly_means(device, "temperature", days=14)
    ozone = _hourly_means(device, "o3", days=14)
    assert 13 <= temperature.index(max(temperature)) <= 16
    assert temperature.index(min(temperature)) in (1, 2, 3, 4)
    assert 11 <= ozone.index(max(ozone)) <= 15


def test_a_pure_m2_tide_repeats_every_12_42_hours() -> None:
    model = MetricModel(
        name="waterLevel", unit="m", pattern="tide", base=2.0, amplitude=0.5, decimals=3
    )
    for i in range(50):
        t = T0 + i * 3_331.0
        assert value(model, "x", t, SEED) == pytest.approx(value(model, "x", t + M2_PERIOD_S, SEED))
    # ... and is not constant: high and low water are an amplitude either side.
    span = [value(model, "x", T0 + i * 600, SEED) for i in range(75)]
    assert max(span) - min(span) == pytest.approx(1.0, abs=0.01)


def _dominant_period_h(series: list[float], step_s: float, lags_h: tuple[float, float]) -> float:
    mean = statistics.fmean(series)
    centred = [x - mean for x in series]

    def correlation(lag: int) -> float:
        return sum(a * b for a, b in zip(centred, centred[lag:], strict=False))

    lo, hi = (int(h * HOUR_S / step_s) for h in lags_h)
    best = max(range(lo, hi + 1), key=correlation)
    return best * step_s / HOUR_S


@pytest.mark.parametrize("device_id", ["ag-tanchau-wl01", "ag-chaudoc-wl01", "kg-xeoro-wl01"])
def test_water_levels_are_tidal_with_a_12_4_hour_period(device_id: str) -> None:
    step = 600.0
    series = _series(_device(device_id), "waterLevel", step, 10 * 24 * HOUR_S)
    assert _dominant_period_h(series, step, (6, 18)) == pytest.approx(12.42, abs=0.4)


@pytest.mark.parametrize("device_id", ["ag-tanchau-wl01", "ag-chaudoc-wl01", "kg-xeoro-wl01"])
def test_water_levels_reach_alarm_level_one_but_not_three(device_id: str) -> None:
    """Late flood season: alarm I is crossed some days (alerts get exercised), alarm III
    never (a simulator that floods the delta every week is not plausible)."""
    device = _device(device_id)
    levels = device.metadata["alarm_levels"]
    series = _series(device, "waterLevel", 900, 21 * 24 * HOUR_S)
    assert max(series) > levels["bd1"]
    assert max(series) < levels["bd3"]


@pytest.mark.parametrize("device_id", ["kg-xeoro-sal01", "hg-vithanh-sal01", "hg-ngabay-sal01"])
def test_salinity_varies_slowly(device_id: str) -> None:
    device = _device(device_id)
    smooth = dataclasses.replace(_metric(device, "salinity"), noise=0.0, decimals=4)
    series = [value(smooth, device.id, T0 + i * 60, SEED) for i in range(3 * 24 * 60)]
    steps = [abs(b - a) for a, b in itertools.pairwise(series)]
    assert max(steps) < 0.02  # ‰ per minute: no jumps
    assert max(series) - min(series) > 0.1 * smooth.base  # but it does move over days


def test_xeo_ro_is_saltier_than_vi_thanh_which_is_saltier_than_nga_bay() -> None:
    """The further from the Gulf of Thailand, the fresher the water."""

    def mean(device_id: str) -> float:
        return statistics.fmean(_series(_device(device_id), "salinity", 1800, 7 * 24 * HOUR_S))

    assert mean("kg-xeoro-sal01") > mean("hg-vithanh-sal01") > mean("hg-ngabay-sal01")


def test_kien_luong_cement_area_is_dustier_than_nha_trang() -> None:
    def mean_pm10(device_id: str) -> float:
        return statistics.fmean(_series(_device(device_id), "pm10", 1800, 7 * 24 * HOUR_S))

    assert mean_pm10("kg-kienluong-aq01") > 2 * mean_pm10("kh-nhatrang-aq01")


def test_noise_helpers_are_bounded_and_centred() -> None:
    samples = [sample_noise(SEED, "k", T0 + i) for i in range(5000)]
    assert abs(statistics.fmean(samples)) < 0.1
    assert statistics.pstdev(samples) == pytest.approx(1.0, abs=0.1)
    assert max(abs(s) for s in samples) <= 3.47
    wander = [smooth_noise(SEED, "k", T0 + i * 60, 6 * HOUR_S) for i in range(3000)]
    assert all(-1 <= w <= 1 for w in wander)
    assert max(abs(b - a) for a, b in itertools.pairwise(wander)) < 0.02


def _monthly_mean(device_id: str, metric: str, month: int) -> float:
    model = _metric(_device(device_id), metric)
    start = datetime.fromisoformat(f"2026-{month:02d}-15T00:00:00+07:00").timestamp()
    return statistics.fmean(value(model, device_id, start + i * 1800, SEED) for i in range(336))


@pytest.mark.parametrize("device_id", ["ag-tanchau-wl01", "ag-chaudoc-wl01"])
def test_inland_rivers_rise_in_the_flood_season_and_fall_in_the_dry_season(device_id: str) -> None:
    """The Mekong at the border is highest in September-October, lowest in April, and
    crosses alarm level I only in the flood season."""
    means = {month: _monthly_mean(device_id, "waterLevel", month) for month in range(1, 13)}
    assert max(means, key=means.__getitem__) in (9, 10)
    assert min(means, key=means.__getitem__) in (3, 4)
    assert means[10] - means[4] > 2.0  # metres
    bd1 = _device(device_id).metadata["alarm_levels"]["bd1"]
    assert means[4] < bd1 - 1.5


@pytest.mark.parametrize("device_id", ["kg-xeoro-sal01", "hg-vithanh-sal01", "hg-ngabay-sal01"])
def test_salt_pushes_inland_in_the_dry_season(device_id: str) -> None:
    means = {month: _monthly_mean(device_id, "salinity", month) for month in range(1, 13)}
    assert max(means, key=means.__getitem__) in (2, 3, 4)
    assert min(means, key=means.__getitem__) in (8, 9, 10)


def test_vi_thanh_reaches_the_4_per_mille_warning_only_in_the_dry_season() -> None:
    dry = _monthly_mean("hg-vithanh-sal01", "salinity", 3)
    wet = _monthly_mean("hg-vithanh-sal01", "salinity", 9)
    assert dry > 4.0 > 1.0 > wet
