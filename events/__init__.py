from events.ids import stable_id
from events.models import CameraEvent, DeadLetter, Event, Measurement, Quality, SecurityEvent

__all__ = [
    "CameraEvent",
    "DeadLetter",
    "Event",
    "Measurement",
    "Quality",
    "SecurityEvent",
    "stable_id",
]
