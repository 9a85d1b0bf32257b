"""Offline devices (rule health.offline, kind no_data), evaluated on a timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.alerts import Domain, Severity, SignalState
from processors.environment.engine import RuleBook
from processors.health import offline_signals

RULE = RuleBook.load().get("health.offline")
LAST = datetime(2024, 11, 20, 3, 0, tzinfo=UTC)
GAUGE = "ag-tanchau-wl01"


def after(seconds: float) -> datetime:
    return LAST + timedelta(seconds=seconds)


def test_fires_only_once_the_silence_exceeds_n_intervals() -> None:
    devices = [(GAUGE, 60, LAST, {})]
    assert RULE.after == 3
    assert offline_signals(devices, set(), after(180), RULE) == []  # exactly 3 × 60 s
    signals = offline_signals(devices, set(), after(181), RULE)
    assert [(s.state, s.at) for s in signals] == [(SignalState.FIRING, after(180))]
    signal = signals[0]
    assert signal.rule == "health.offline" and signal.domain is Domain.HEALTH
    assert signal.severity is Severity.MEDIUM
    assert signal.labels == {"device_id": GAUGE}
    assert signal.title_vi == "Thiết bị Tân Châu mất kết nối"
    assert signal.title_en == "Device Tân Châu is offline"
    assert signal.summary_en == "No data since 10:00 20/11/2024 (3m1s; expected every 1m)."


def test_no_repeat_while_open_and_resolves_when_data_returns() -> None:
    silent = [(GAUGE, 60, LAST, {})]
    assert offline_signals(silent, {GAUGE}, after(3600), RULE) == []
    back = after(4000)
    signals = offline_signals([(GAUGE, 60, back, {})], {GAUGE}, back + timedelta(seconds=5), RULE)
    assert [(s.state, s.at) for s in signals] == [(SignalState.RESOLVED, back)]
    assert signals[0].title_en == "Device Tân Châu is back online"


def test_interval_is_per_device_and_labels_keep_identity() -> None:
    devices = [
        ("fast-01", 10, LAST, {"province": "Kiên Giang"}),
        ("slow-01", 3600, LAST, {"province": "Kiên Giang"}),
    ]
    signals = offline_signals(devices, set(), after(600), RULE)
    assert [s.labels for s in signals] == [{"province": "Kiên Giang", "device_id": "fast-01"}]
    assert signals[0].title_en == "Device fast-01 is offline"  # not in the station table


def test_never_seen_and_no_interval_are_skipped() -> None:
    devices = [("new-01", 60, None, {}), ("manual-01", None, LAST, {}), ("zero-01", 0, LAST, {})]
    assert offline_signals(devices, {"new-01"}, after(86400), RULE) == []
