"""Canonical event types shared by every stage.

Ingest decoders produce these, the store writes them, processors read them. They are
pydantic models so that "validate against the canonical event types" is one rule set,
applied the same way whatever the wire format was.
"""

from __future__ import annotations

import ipaddress
import math
import time
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Readings older than this are almost certainly a device clock that was never set
# (1970 epoch) rather than real history; rejecting them keeps garbage out of chunks.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# Devices with drifting clocks run a little ahead; a day ahead is a broken clock.
MAX_CLOCK_SKEW = timedelta(days=1)

DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
MetricName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]


class Quality(IntEnum):
    GOOD = 0
    SUSPECT = 1
    BAD = 2


_EARLIEST_TS = EARLIEST_EVENT_TIME.timestamp()
_SKEW_S = MAX_CLOCK_SKEW.total_seconds()
_NO_OFFSET = timedelta(0)


def check_event_time(value: datetime) -> datetime:
    """Require an aware timestamp inside the plausible window; normalise to UTC.

    Runs for every reading, so it compares POSIX seconds (time.time) instead of building
    datetimes: this check was a tenth of the MQTT worker's CPU in a profile.
    """
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("timestamp has no UTC offset")
    seconds = value.timestamp()
    if seconds < _EARLIEST_TS:
        raise ValueError(f"timestamp {value.isoformat()} is before {EARLIEST_EVENT_TIME.year}")
    if seconds > time.time() + _SKEW_S:
        raise ValueError(f"timestamp {value.isoformat()} is more than a day in the future")
    return value if offset == _NO_OFFSET and value.tzinfo is UTC else value.astimezone(UTC)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    time: datetime

    @field_validator("time")
    @classmethod
    def _time_in_window(cls, value: datetime) -> datetime:
        return check_event_time(value)


class Measurement(_Event):
    """One numeric reading of one metric of one device (the narrow table's row)."""

    kind: Literal["measurement"] = "measurement"
    device_id: DeviceId
    metric: MetricName
    value: float
    unit: str | None = None
    quality: Quality = Quality.GOOD

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value is not a finite number")
        return value

    @classmethod
    def trusted(
        cls,
        time: datetime,
        device_id: str,
        metric: str,
        value: float,
        unit: str | None,
        quality: Quality,
    ) -> Measurement:
        """A Measurement from fields the caller has already checked against this model's
        rules: `time` through check_event_time, `device_id` against DeviceId, `metric`
        resolved by the metric registry, `value` a finite float.

        The telemetry decoders check each field once per message (one time and one
        device for all its metrics), then make several Measurements; validating again
        per Measurement was a fifth of the MQTT worker's CPU, and pydantic's own
        model_construct costs as much as validating. So this fills the instance the
        way model_construct does, by hand. tests/unit/test_models.py keeps it equal to
        a validated instance (pydantic is pinned below 3).
        """
        instance = cls.__new__(cls)
        fields = {
            "time": time,
            "kind": "measurement",
            "device_id": device_id,
            "metric": metric,
            "value": value,
            "unit": unit,
            "quality": quality,
        }
        object.__setattr__(instance, "__dict__", fields)
        object.__setattr__(instance, "__pydantic_fields_set__", set(_TRUSTED_FIELDS))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
        return instance


_TRUSTED_FIELDS = frozenset(("time", "device_id", "metric", "value", "unit", "quality"))


class CameraEvent(_Event):
    """A camera detection. `event_id` is the camera system's own id: updates to the
    same Frigate event overwrite one row instead of adding rows."""

    kind: Literal["camera"] = "camera"
    event_id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=32)  # frigate, hikvision, onvif
    camera: str = Field(min_length=1, max_length=128)
    event_type: str = Field(min_length=1, max_length=64)  # object, intrusion, anpr, tamper…
    state: str = Field(min_length=1, max_length=16)  # new/update/end or active/inactive
    label: str | None = None
    score: float | None = Field(default=None, ge=0, le=1)
    top_score: float | None = Field(default=None, ge=0, le=1)
    zones: tuple[str, ...] = ()
    end_time: datetime | None = None
    plate: str | None = None
    has_snapshot: bool = False
    false_positive: bool = False
    attributes: dict[str, Any] = Field(default_factory=dict)
    # The moment this message describes (Frigate's frame_time, ISAPI's dateTime, ONVIF's
    # UtcTime). Messages of one event may arrive out of order or twice: the stored row
    # keeps the newest, and detectors see each moment once (store/writer.py).
    frame_time: datetime | None = None
    # Where the picture is, never the picture: `frigate:<event id>` (the Frigate server's
    # snapshot of that event) or `isapi:<sha256>.<ext>` (an image part an ISAPI push
    # carried, kept in the snapshot store, ingest/snapshots.py).
    snapshot: str | None = Field(default=None, max_length=512)
    # The object's box in the camera's detect frame, pixels (x1, y1, x2, y2), as Frigate
    # sends it; line crossing follows its bottom centre from message to message.
    box: tuple[float, float, float, float] | None = None
    stationary: bool = False
    plate_score: float | None = Field(default=None, ge=0, le=1)
    # As the camera says it (ISAPI ANPR `direction`: forward/reverse; line rules' own).
    direction: str | None = Field(default=None, max_length=32)

    @field_validator("end_time", "frame_time")
    @classmethod
    def _end_in_window(cls, value: datetime | None) -> datetime | None:
        return None if value is None else check_event_time(value)


class SecurityEvent(_Event):
    """A security log record normalised onto Elastic Common Schema names.

    The common ECS fields are columns (so detections and dashboards can index them);
    `ecs` holds the whole ECS document and `raw` the original bytes, unchanged.
    """

    kind: Literal["security"] = "security"
    event_id: str = Field(min_length=1, max_length=64)
    dataset: str  # e.g. system.auth, suricata.eve
    category: tuple[str, ...] = ()
    action: str | None = None
    outcome: Literal["success", "failure", "unknown"] | None = None
    severity: int | None = None
    source_ip: str | None = None
    source_port: int | None = Field(default=None, ge=0, le=65535)
    destination_ip: str | None = None
    destination_port: int | None = Field(default=None, ge=0, le=65535)
    user_name: str | None = None
    host_name: str | None = None
    process_name: str | None = None
    observer_vendor: str | None = None
    observer_product: str | None = None
    rule_id: str | None = None
    rule_name: str | None = None
    technique_ids: tuple[str, ...] = ()
    message: str | None = None
    ecs: dict[str, Any] = Field(default_factory=dict)
    raw: bytes = b""

    @field_validator("source_ip", "destination_ip")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        # Checked here because one bad address would otherwise fail the whole COPY.
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None


Event = Measurement | CameraEvent | SecurityEvent


class DeadLetter(BaseModel):
    """A message that could not be decoded or validated, kept with why."""

    model_config = ConfigDict(frozen=True)

    transport: str  # mqtt, kafka, http
    topic: str
    payload: bytes
    reason: str
    format: str | None = None
    partition: int | None = None
    offset: int | None = None
    payload_size: int = 0
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
