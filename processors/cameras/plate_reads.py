"""Plate reads: every camera event that carries a plate becomes a PlateRead record, its
plate normalised (processors/cameras/plates.py) so the watch list and searches match
whatever spelling the camera used.

Stateless: a pass is one camera event (a Frigate event id, an ISAPI ANPR push), and
the read's time is the event's start, so every message of a pass gives the same
(event_id, time) and the store keeps one read per pass, the best scored. The watch-list
match needs the database, so the record sink (processors/cameras/records.py) does it
and raises camera.plate_watch (its wording: plate_watch.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from events.camera_records import PlateRead
from events.models import CameraEvent
from processors.cameras.plates import normalise
from processors.detector import Outcome, State

NAME = "camera.plates"


class PlateReadDetector:
    name = NAME

    def keys(self, events: Sequence[Any]) -> set[str]:
        # No state (each read stands alone), but the runner calls process() only for a
        # batch with keys: the cameras that read plates name an empty row each.
        return {e.camera for e in events if isinstance(e, CameraEvent) and e.plate}

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        reads = [read_of(e) for e in events if isinstance(e, CameraEvent) and e.plate]
        reads = [r for r in reads if r.plate_norm]
        reads.sort(key=lambda r: (r.time, r.event_id))
        return Outcome(records=list(reads))


def read_of(event: CameraEvent) -> PlateRead:
    assert event.plate is not None
    return PlateRead(
        time=event.time,
        camera=event.camera,
        plate=event.plate,
        plate_norm=normalise(event.plate),
        score=event.plate_score,
        direction=event.direction,
        vehicle_type=event.label,
        event_id=event.event_id,
        snapshot=event.snapshot,
        source=event.source,
    )
