"""The sensor stream: each device in turn reports all its metrics for the current time."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime

from config.timezone import LOCAL_TZ
from ingest.provisioning import telemetry_topic
from simulators.fleet import Device
from simulators.messages import Outgoing, Reading, native_json, senml
from simulators.signals import night_dawn, value


def nightly(device: Device) -> bool:
    """A light trap: one reading a night, dated at dawn (simulators/signals.py)."""
    return any(m.pattern == "nightly" for m in device.metrics)


def readings(device: Device, t: float, seed: int) -> list[Reading]:
    return [Reading(m.name, m.unit, value(m, device.id, t, seed)) for m in device.metrics]


def telemetry_payload(device: Device, t: float, seed: int) -> bytes:
    when = datetime.fromtimestamp(night_dawn(t) if nightly(device) else t, LOCAL_TZ)
    values = readings(device, t, seed)
    if device.format == "senml":
        return senml(device.id, values, when)
    return native_json(values, when)


class SensorStream:
    """Round-robin over the fleet, so every device reports at the same cadence."""

    stream = "sensors"

    def __init__(
        self, devices: tuple[Device, ...], seed: int, topics: Mapping[str, str] | None = None
    ) -> None:
        if not devices:
            raise ValueError("the sensor stream needs at least one device")
        self._turn = itertools.cycle(devices)
        self._seed = seed
        # A light trap sends its night once; its later turns that night pass with nothing
        # sent (as a paused device's do), so the others keep their cadence. Sending again
        # would repeat a stored reading and push the writer onto its duplicate path.
        self._night_sent: dict[str, float] = {}
        # Provisioning says where each device may publish; the default is its usual topic.
        self._topics = dict(topics or {})

    def topic(self, device_id: str) -> str:
        return self._topics.get(device_id) or telemetry_topic(device_id)

    def next(self, t: float) -> Outgoing | None:
        device = next(self._turn)
        if nightly(device):
            if self._night_sent.get(device.id) == night_dawn(t):
                return None
            self._night_sent[device.id] = night_dawn(t)
        return Outgoing(
            stream=self.stream,
            transport="mqtt",
            topic=self.topic(device.id),
            payload=telemetry_payload(device, t, self._seed),
            sender=device.id,
        )
