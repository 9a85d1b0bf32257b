"""Frigate frigate/stats: each camera's fps figures become readings of that camera.

The fixture is the shape Frigate 0.14 publishes (its web UI's `FrigateStats` type and
the HTTP API's documented /api/stats sample): per camera fps and process ids, detectors,
CPU usage per pid, GPU usage, `service` with uptime, version, storage, temperatures and
`last_updated`. Values differ from any published sample.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from events.models import Measurement, Quality
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from simulators.camera_stats import CameraHeartbeat
from simulators.fleet import load_fleet

SNAPSHOT_AT = 1795482060  # 2026-11-24T01:01:00Z

STATS: dict[str, Any] = {
    "cameras": {
        "cong_chinh": {
            "audio_dBFS": 0.0,
            "audio_rms": 0.0,
            "camera_fps": 5.1,
            "capture_pid": 311,
            "detection_enabled": 1,
            "detection_fps": 2.3,
            "ffmpeg_pid": 318,
            "pid": 342,
            "process_fps": 4.8,
            "skipped_fps": 0.3,
        },
        "bai_xe.sau": {
            "camera_fps": 15,
            "capture_pid": 355,
            "detection_fps": 0.0,
            "ffmpeg_pid": 360,
            "pid": 371,
            "process_fps": 15,
            "skipped_fps": 0,
        },
    },
    "cpu_usages": {"342": {"cmdline": "frigate.process:cong_chinh", "cpu": "7.3", "mem": "1.9"}},
    "detection_fps": 2.3,
    "detectors": {"coral": {"detection_start": 0.0, "inference_speed": 9.41, "pid": 298}},
    "gpu_usages": {"intel-vaapi": {"gpu": "4.2%", "mem": "-%"}},
    "processes": {"go2rtc": {"pid": 120}, "recording": {"pid": 291}},
    "service": {
        "last_updated": SNAPSHOT_AT,
        "latest_version": "0.14.1",
        "storage": {
            "/media/frigate/recordings": {
                "free": 812345.2,
                "mount_type": "ext4",
                "total": 953869.7,
                "used": 141524.5,
            }
        },
        "temperatures": {},
        "uptime": 86412,
        "version": "0.14.1-f4f3cfa",
    },
}


def decode(doc: Any, received_at: datetime | None = None) -> list[Measurement]:
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    msg = RawMessage("mqtt", "frigate/stats", payload)
    if received_at is not None:
        msg.received_at = received_at
    return list(get_decoder("frigate_stats")(msg))  # type: ignore[arg-type]


def stats(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(STATS)
    doc.update(changes)
    return doc


def test_each_cameras_fps_are_readings_of_that_camera_at_the_snapshot_time() -> None:
    events = decode(STATS)
    got = {(e.device_id, e.metric): e.value for e in events}
    assert got == {
        ("cong_chinh", "camera_fps"): 5.1,
        ("cong_chinh", "process_fps"): 4.8,
        ("cong_chinh", "skipped_fps"): 0.3,
        ("cong_chinh", "detection_fps"): 2.3,
        ("bai_xe.sau", "camera_fps"): 15.0,
        ("bai_xe.sau", "process_fps"): 15.0,
        ("bai_xe.sau", "skipped_fps"): 0.0,
        ("bai_xe.sau", "detection_fps"): 0.0,
    }
    assert {e.time for e in events} == {datetime.fromtimestamp(SNAPSHOT_AT, UTC)}
    assert {e.unit for e in events} == {"1/s"}
    assert {e.quality for e in events} == {Quality.GOOD}
    # Valid as the model would make them, though built without re-validating.
    for event in events:
        assert Measurement.model_validate(event.model_dump()) == event


def test_a_missing_figure_is_left_out_and_a_figure_out_of_range_is_kept_as_bad() -> None:
    doc = stats()
    del doc["cameras"]["cong_chinh"]["skipped_fps"]
    doc["cameras"]["bai_xe.sau"]["camera_fps"] = 9000.0
    events = {(e.device_id, e.metric): e for e in decode(doc)}
    assert ("cong_chinh", "skipped_fps") not in events
    assert events[("bai_xe.sau", "camera_fps")].quality == Quality.BAD
    assert events[("cong_chinh", "camera_fps")].quality == Quality.GOOD


def test_without_a_snapshot_time_the_arrival_time_is_used() -> None:
    doc = stats()
    del doc["service"]["last_updated"]
    arrived = datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    assert {e.time for e in decode(doc, received_at=arrived)} == {arrived}
    doc = stats()
    del doc["service"]
    assert {e.time for e in decode(doc, received_at=arrived)} == {arrived}


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'{"cameras": {', "invalid JSON"),
        ([1, 2], "payload must be a JSON object"),
        ({"service": {"uptime": 3}}, "field 'cameras' missing, empty or not an object"),
        (stats(cameras={}), "field 'cameras' missing, empty or not an object"),
        (stats(cameras={"cam/../x": {"camera_fps": 5}}), "camera name 'cam/../x' is not a valid"),
        (stats(cameras={"": {"camera_fps": 5}}), "camera name '' is not a valid device id"),
        (stats(cameras={"gate": [5.0]}), "field 'cameras.gate' is not an object"),
        (stats(cameras={"gate": {"camera_fps": "5.0"}}), "'cameras.gate.camera_fps': '5.0'"),
        (stats(cameras={"gate": {"camera_fps": True}}), "'cameras.gate.camera_fps': true"),
        (stats(cameras={"gate": {"pid": 12}}), "no camera reports any of camera_fps"),
        (stats(service="up"), "field 'service' is not an object"),
        (stats(service={"last_updated": "yesterday"}), "field 'service.last_updated'"),
        (stats(service={"last_updated": 1795482060000}), "milliseconds?"),
        (stats(service={"last_updated": 946684700}), "field 'service.last_updated'"),
    ],
)
def test_unusable_messages_are_refused_with_a_reason(doc: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(doc)
    assert reason in str(caught.value)


def test_one_bad_camera_refuses_the_whole_snapshot() -> None:
    doc = stats()
    doc["cameras"]["cong_chinh"]["detection_fps"] = None
    assert len(decode(doc)) == 7  # null means "not reported", like a missing key
    doc["cameras"]["bai_xe.sau"]["process_fps"] = [15]
    with pytest.raises(DecodeError, match=r"bai_xe\.sau\.process_fps"):
        decode(doc)


def test_the_simulators_snapshot_decodes_to_every_fleet_camera() -> None:
    fleet = load_fleet()
    message = CameraHeartbeat(fleet.cameras, seed=7).next(float(SNAPSHOT_AT))
    assert message.topic == "frigate/stats"
    events = decode(message.payload)
    assert {e.device_id for e in events} == {c.name for c in fleet.cameras}
    assert len(events) == 4 * len(fleet.cameras)
    assert {e.quality for e in events} == {Quality.GOOD}
    by_camera: dict[str, dict[str, float]] = {}
    for e in events:
        by_camera.setdefault(e.device_id, {})[e.metric] = e.value
    for figures in by_camera.values():
        assert figures["process_fps"] + figures["skipped_fps"] == pytest.approx(
            figures["camera_fps"], abs=0.011
        )
