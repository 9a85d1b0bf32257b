"""What the camera detectors derive from camera events, besides alerts.

A detector returns these in `Outcome.records`; the runner hands them to the record sink
(processors/cameras/records.py), which stores them in the same transaction as the events
that caused them: a crossing is counted once however often its messages are delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class LineCrossing:
    """One object crossing one counting line of one camera, in one direction."""

    time: datetime
    camera: str
    line: str
    direction: Direction
    label: str  # person, bicycle, motorcycle, car, bus, truck
    event_id: str  # the camera event that crossed (Frigate id, or the ISAPI push's id)
    source: str  # frigate, hikvision, onvif


@dataclass(frozen=True)
class PlateRead:
    """One plate read by one camera in one pass (a Frigate event, an ISAPI ANPR push)."""

    time: datetime
    camera: str
    plate: str  # as the camera read it
    plate_norm: str  # processors/cameras/plates.py: what the watch list matches
    score: float | None
    direction: str | None
    vehicle_type: str | None
    event_id: str
    snapshot: str | None
    source: str
