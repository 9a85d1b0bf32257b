"""Frigate NVR `frigate/stats` messages -> per-camera frame-rate readings.

Frigate publishes its stats snapshot every `mqtt.stats_interval` seconds (60 by default):
`{"cameras": {"<name>": {"camera_fps": 5.0, "process_fps": 5.0, "skipped_fps": 0.0,
"detection_fps": 1.5, "pid": …, "capture_pid": …, "ffmpeg_pid": …, …}}, "detectors": {…},
"detection_fps": …, "cpu_usages": {…}, "service": {"uptime": …, "version": …,
"last_updated": <epoch s>, "storage": {…}, "temperatures": {…}}}`.

Each camera's fps values become measurements of the device named like the Frigate camera
(cameras are registered as devices of type `camera` under their Frigate name), so the
snapshot is the cameras' heartbeat: device_last_seen moves and the offline rule covers
them. Process ids, CPU and storage figures are Frigate's own business and are not kept.

A camera whose stream is down is still listed, with camera_fps 0: its readings are
stored like any other (the 0 is what an operator wants to see on a chart), so such a
camera is NOT offline for health.offline as long as Frigate itself runs.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from events.metrics import get_registry
from events.models import Measurement
from events.text import show
from ingest.formats.base import DecodeError, register
from ingest.formats.native_json import parse_time
from ingest.formats.telemetry import DEVICE_ID, load_json
from ingest.message import RawMessage

# The per-camera figures kept, as named in Frigate's payload and in events/metrics.yaml.
METRICS = ("camera_fps", "process_fps", "skipped_fps", "detection_fps")
_MAX_CAMERAS = 1024


@register("frigate_stats")
def decode_frigate_stats(msg: RawMessage) -> list[Measurement]:
    doc = load_json(msg.payload)
    if not isinstance(doc, dict):
        raise DecodeError("payload must be a JSON object")
    cameras = doc.get("cameras")
    if not isinstance(cameras, dict) or not cameras:
        raise DecodeError("field 'cameras' missing, empty or not an object")
    if len(cameras) > _MAX_CAMERAS:
        raise DecodeError(f"field 'cameras': {len(cameras)} cameras, at most {_MAX_CAMERAS}")
    time = _snapshot_time(doc.get("service"), msg.received_at)
    events: list[Measurement] = []
    for name, stats in cameras.items():
        events.extend(_camera(name, stats, time))
    if not events:
        raise DecodeError(f"no camera reports any of {', '.join(METRICS)}")
    return events


def _snapshot_time(service: Any, received_at: datetime) -> datetime:
    """`service.last_updated` is when Frigate took the snapshot; a stats message without
    it (older Frigate, hand-made tests) is taken as of its arrival."""
    if service is None:
        return received_at
    if not isinstance(service, dict):
        raise DecodeError("field 'service' is not an object")
    if service.get("last_updated") is None:
        return received_at
    try:
        return parse_time(service["last_updated"])
    except ValueError as error:
        raise DecodeError(f"field 'service.last_updated': {error}") from None


def _camera(name: str, stats: Any, time: datetime) -> list[Measurement]:
    if not DEVICE_ID.fullmatch(name):
        raise DecodeError(
            f"camera name {name[:200]!r} is not a valid device id"
            " (a letter or digit, then up to 127 letters, digits or _ . : -)"
        )
    if not isinstance(stats, dict):
        raise DecodeError(f"field 'cameras.{name}' is not an object")
    registry = get_registry()
    readings: list[Measurement] = []
    for metric in METRICS:
        value = stats.get(metric)
        if value is None:
            continue
        # bool is a subclass of int in Python but not a number in JSON.
        if (type(value) is not float and type(value) is not int) or not math.isfinite(value):
            raise DecodeError(f"field 'cameras.{name}.{metric}': {show(value)} is not a number")
        spec = registry.resolve(metric)
        number = float(value)
        # Checked here: time (parse_time or the transport), device id (DEVICE_ID), metric
        # (a registry name), value (finite): the model need not check each reading again.
        readings.append(
            Measurement.trusted(time, name, spec.name, number, spec.unit, spec.quality(number))
        )
    return readings
