"""Licence plates in the simulated Frigate events (Frigate 0.16+ LPR on gate cameras)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import orjson

from events.models import CameraEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from simulators.cameras import CameraStream
from simulators.fleet import load_fleet

FLEET = load_fleet()
VN_PLATE = re.compile(r"^(67|68|79|95)[AC]-\d{3}\.\d{2}$")


def _events(count: int = 4000) -> dict[str, list[dict[str, Any]]]:
    stream, by_id = CameraStream(FLEET.cameras, seed=7), defaultdict(list)
    for i in range(count):
        message = orjson.loads(stream.next(1_796_000_000 + i * 0.5).payload)
        by_id[message["after"]["id"]].append(message)
    return by_id


def test_gate_cameras_read_car_and_truck_plates_from_the_first_update() -> None:
    lpr = {c.name for c in FLEET.cameras if c.lpr}
    assert lpr and lpr != {c.name for c in FLEET.cameras}
    read = 0
    for messages in _events().values():
        after = messages[0]["after"]
        plates = [m["after"]["recognized_license_plate"] for m in messages]
        if after["camera"] in lpr and after["label"] in ("car", "truck"):
            assert plates[0] is None  # not read yet on "new"
            assert len(set(plates[1:])) == 1 and VN_PLATE.match(plates[-1]), plates
            read += 1
        else:
            assert set(plates) == {None}
    assert read > 20


def test_the_ingest_decoder_stores_the_plate() -> None:
    decode = get_decoder("frigate")
    messages = next(m for m in _events().values() if m[-1]["after"]["recognized_license_plate"])
    raw = orjson.dumps(messages[-1])
    (event,) = decode(RawMessage("mqtt", "frigate/events", raw))
    assert isinstance(event, CameraEvent)
    assert event.plate == messages[-1]["after"]["recognized_license_plate"]
