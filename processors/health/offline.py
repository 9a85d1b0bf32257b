"""Offline devices: silent for `after` × their expected send interval (rule kind no_data).

Pure: the alert service's timer passes what the device registry knows and which devices
already have an open offline alert; the answer is the signals to send now. A device
that has never sent is skipped (registered ahead of installation is normal), and so is
one without an expected interval. A device with an open alert that is no longer in the
list (deleted) gets no signal here: its labels are unknown, so the caller resolves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import datetime, timedelta
from typing import NamedTuple

from events.alerts import Signal, SignalState
from processors.environment.engine.durations import format_duration
from processors.environment.engine.model import NoDataRule
from processors.environment.engine.text import local_time, make_signal


class DeviceSeen(NamedTuple):
    device_id: str
    expected_interval_s: float | None
    last_seen: datetime | None
    # Stable identity labels (they make the alert's fingerprint); device_id is added.
    labels: Mapping[str, str] = {}


def offline_signals(
    devices: Iterable[tuple[str, float | None, datetime | None, Mapping[str, str]]],
    open_offline: Set[str],
    now: datetime,
    rule: NoDataRule,
) -> list[Signal]:
    """FIRING for devices newly past the limit, RESOLVED for alerted devices heard from
    again. Silence must EXCEED the limit: a reading due exactly at it is not late yet."""
    signals = []
    for device in (DeviceSeen(*entry) for entry in devices):
        seconds, last_seen = device.expected_interval_s, device.last_seen
        if not seconds or seconds <= 0 or last_seen is None:
            continue
        interval = timedelta(seconds=seconds)
        offline = now - last_seen > interval * rule.after
        if offline != (device.device_id in open_offline):
            signals.append(_signal(rule, device, last_seen, interval, now, offline))
    return signals


def _signal(
    rule: NoDataRule,
    device: DeviceSeen,
    last_seen: datetime,
    interval: timedelta,
    now: datetime,
    offline: bool,
) -> Signal:
    limit = interval * rule.after
    # Event time: the moment the silence crossed the limit, or the reading that ended it.
    at = last_seen + limit if offline else last_seen
    labels = {**device.labels, "device_id": device.device_id}
    name = device.labels.get("name")
    context = {
        "silence": format_duration(now - last_seen),
        "last_seen": local_time(last_seen),
        "after": f"{rule.after:g}",
        "interval": format_duration(interval),
        **({"station": name} if name else {}),
    }
    values = {
        "last_seen": last_seen.isoformat(),
        "silence_s": (now - last_seen).total_seconds(),
        "expected_interval_s": interval.total_seconds(),
        "threshold_s": limit.total_seconds(),
    }
    return make_signal(
        rule,
        state=SignalState.FIRING if offline else SignalState.RESOLVED,
        severity=rule.severity,
        at=at,
        labels=labels,
        context=context,
        values=values,
    )
