"""The camera.plate_watch alert as the record sink builds it: identity per pass, the
values an operator needs, Vietnamese first, wording from plate_watch.yaml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.yaml_loader import ConfigErrors
from events.alerts import Domain, Severity, SignalState
from events.camera_records import PlateRead
from processors.cameras.records import TEXTS_FILE, CameraRecordSink
from store.cameras import WatchEntry

AT = datetime(2026, 12, 3, 15, 4, 5, tzinfo=UTC)  # 22:04:05 local
ENTRY = WatchEntry("51F-12345", "51F-123.45", "xe bị báo mất cắp", "op", AT, None)


def _read(**changes: object) -> PlateRead:
    fields: dict[str, object] = {
        "time": AT, "camera": "kh-camranh-anpr01", "plate": "51F\n123.45",
        "plate_norm": "51F-12345", "score": 0.874, "direction": "forward",
        "vehicle_type": "car", "event_id": "isapi-ev-1", "snapshot": "isapi:ab.jpg",
        "source": "hikvision",
    }  # fmt: skip
    fields.update(changes)
    return PlateRead(**fields)  # type: ignore[arg-type]


def test_one_alert_per_pass_with_what_an_operator_needs() -> None:
    sink = CameraRecordSink.load()
    signal = sink.signal(_read(), ENTRY)
    assert (signal.rule, signal.domain, signal.state) == (
        "camera.plate_watch", Domain.PLATES, SignalState.FIRING,
    )  # fmt: skip
    assert signal.severity is Severity.HIGH
    assert signal.labels == {"camera": "kh-camranh-anpr01", "event_id": "isapi-ev-1"}
    assert signal.event_ids == ("isapi-ev-1",)
    assert signal.values["event_ids"] == ["isapi-ev-1"]
    assert signal.values["snapshot"] == "isapi:ab.jpg"
    assert signal.values["plate"] == "51F\n123.45"  # as read, kept whole
    assert signal.values["confidence"] == 0.874
    assert signal.values["reason"] == "xe bị báo mất cắp"
    assert signal.values["time"] == AT.isoformat()
    # Another pass of the same plate at the same camera is another alert.
    assert sink.signal(_read(event_id="isapi-ev-2"), ENTRY).fingerprint != signal.fingerprint


def test_texts_are_vietnamese_first_in_local_time() -> None:
    signal = CameraRecordSink.load().signal(_read(), ENTRY)
    assert signal.title_vi.startswith("Phát hiện biển số")
    assert "51F-123.45" in signal.title_vi and "51F-123.45" in signal.title_en
    assert "51F 123.45" in signal.summary_vi  # a two-row read on one line
    assert "22:04:05 03/12/2026" in signal.summary_vi
    assert "chiều đi" in signal.summary_vi and "forward" in signal.summary_en
    assert "87%" in signal.summary_vi
    assert "xe bị báo mất cắp" in signal.summary_vi


def test_names_come_from_the_registry_and_unknowns_say_so(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "cameras:\n  kh-camranh-anpr01:\n    name: QL1A Cam Ranh km 1\n"
        "    site: Cam Ranh\n    source: hikvision\n"
    )
    sink = CameraRecordSink.load(registry=registry)
    signal = sink.signal(_read(direction=None, score=None), ENTRY)
    assert "QL1A Cam Ranh km 1 (Cam Ranh)" in signal.summary_vi
    assert "hướng không rõ" in signal.summary_vi and "độ tin cậy không rõ" in signal.summary_vi
    assert "direction unknown" in signal.summary_en


def test_a_text_with_placeholders_the_other_language_lacks_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "plate_watch.yaml"
    broken.write_text(
        TEXTS_FILE.read_text().replace("Watch-listed plate {watched}", "Watch-listed plate")
    )
    with pytest.raises(ConfigErrors, match=r"plate_watch.yaml:\d+: text"):
        CameraRecordSink.load(texts=broken)
