"""`ioc simulate --backfill`: the replayed past, computed without brokers."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from typer.testing import CliRunner

from simulators.fleet import load_fleet
from simulators.pacing import backfill_rates, parse_duration, simulated_schedule
from simulators.sensors import SensorStream, nightly
from simulators.signals import night_dawn

HOUR = 3600.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("48h", 172800), ("2d", 172800), ("1h30m", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "5m junk", "-"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_every_device_reports_once_per_step_over_the_whole_past() -> None:
    fleet = load_fleet()
    streams = ["sensors", "cameras", "logs"]
    rates = backfill_rates(fleet.stream_shares, streams, len(fleet.devices), step_s=300)
    end = 1_796_000_000.0
    schedule = list(simulated_schedule(rates, end - 6 * HOUR, end))
    counts = Counter(stream for stream, _ in schedule)
    # Every device x 72 five-minute steps (the pacer's float steps may let the last one
    # of the span fall just inside its end); the other streams keep their share.
    assert counts["sensors"] - len(fleet.devices) * 72 in (0, 1)
    total = sum(counts.values())
    for stream in streams:
        assert counts[stream] / total == pytest.approx(fleet.stream_shares[stream], abs=0.01)
    times = [t for _, t in schedule]
    assert times == sorted(times) and times[0] >= end - 6 * HOUR and times[-1] < end

    sensors = SensorStream(fleet.devices, seed=2026)
    seen: dict[str, list[float]] = {}
    for stream, t in schedule:
        if stream == "sensors":
            message = sensors.next(t)
            if message is not None:  # a light trap's turn after its night was sent
                seen.setdefault(message.sender, []).append(t)
    assert set(seen) == {d.id for d in fleet.devices}
    for device in fleet.devices:
        device_times = seen[device.id]
        if nightly(device):  # once a night: the 6 h hold at most one dawn
            assert len({night_dawn(t) for t in device_times}) == len(device_times) <= 2
            continue
        gaps = {round(b - a) for a, b in itertools.pairwise(device_times)}
        assert gaps == {300}


def test_backfill_needs_a_positive_step() -> None:
    fleet = load_fleet()
    with pytest.raises(ValueError, match="positive step"):
        backfill_rates(fleet.stream_shares, ["sensors"], 12, step_s=0)


def test_cli_rejects_a_bad_backfill_before_touching_a_broker() -> None:
    from cli.main import app

    result = CliRunner().invoke(app, ["simulate", "--backfill", "two days"])
    assert result.exit_code == 2
    assert "not a duration" in result.output
