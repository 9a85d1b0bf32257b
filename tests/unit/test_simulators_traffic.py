"""Traffic counting stations: the metrics the cameras desk charts, with a day that looks
like a Vietnamese city road (rush hours at local time, quiet nights)."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import mean

import pytest

from config.timezone import LOCAL_TZ
from dashboards.cameras import TRAFFIC_METRICS
from events.metrics import get_registry
from simulators.fleet import load_fleet
from simulators.signals import MetricModel, value

# A fixed local day, so the test does not depend on when it runs.
MIDNIGHT = datetime(2026, 11, 24, tzinfo=LOCAL_TZ)
STATIONS = [d for d in load_fleet().devices if d.type == "traffic"]


def at(hour: float) -> float:
    return (MIDNIGHT + timedelta(hours=hour)).timestamp()


def hourly_mean(model: MetricModel, device_id: str, hour: int) -> float:
    return mean(value(model, device_id, at(hour + m / 60), seed=3) for m in range(0, 60, 5))


def test_the_fleet_has_traffic_stations_sending_what_the_traffic_panel_reads() -> None:
    assert len(STATIONS) >= 2
    registry = get_registry()
    for station in STATIONS:
        assert {m.name for m in station.metrics} == set(TRAFFIC_METRICS)
        for metric in station.metrics:
            assert registry.resolve(metric.name).unit == metric.unit  # canonical units


@pytest.mark.parametrize("station", STATIONS, ids=lambda d: d.id)
def test_rush_hours_are_busy_and_slow_and_the_night_is_quiet(station) -> None:  # type: ignore[no-untyped-def]
    models = {m.name: m for m in station.metrics}
    count = {h: hourly_mean(models["intensity"], station.id, h) for h in range(24)}
    speed = {h: hourly_mean(models["averageVehicleSpeed"], station.id, h) for h in range(24)}
    night, morning, midday, evening = count[3], count[7], count[12], count[17]
    assert morning > 1.5 * midday and evening > 1.5 * midday
    assert midday > 2 * night
    assert max(count, key=count.__getitem__) in (7, 17, 18)
    assert speed[7] < speed[12] < speed[3]
    # `base` is the daily mean, as for the other patterns.
    assert mean(count.values()) == pytest.approx(models["intensity"].base, rel=0.15)
    registry = get_registry()
    for name, model in models.items():
        spec = registry.resolve(name)
        for hour in range(24):
            assert spec.minimum <= value(model, station.id, at(hour), seed=3) <= spec.maximum
