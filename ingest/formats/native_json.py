"""Native JSON telemetry: `{"ts": ..., "<metric>": <number>, ...}` or a list of those.

`ts` is ISO 8601 with a UTC offset, or epoch seconds. Every other key is a metric (a
canonical name or an alias from events/metrics.yaml; unknown valid names are kept as
they are) whose value must be a finite JSON number. A message is atomic: one bad field
rejects all of it, with a reason naming the record (1-based, batches only) and field.

The device is not in the payload: the topic names it (see telemetry.py, which also
registers this format).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from events.metrics import MetricError, get_registry
from events.models import Measurement, check_event_time
from events.text import show
from ingest.formats.base import DecodeError

# Epoch seconds reach 1e10 only in the year 2286; anything above 1e11 is almost surely
# milliseconds, which deserves a precise hint rather than "year out of range".
_EPOCH_MS_HINT = 1e11


def decode_document(doc: Any, device_id: str) -> list[Measurement]:
    """Measurements from a parsed native JSON document (object or batch)."""
    if isinstance(doc, dict):
        return _record(doc, device_id, "")
    if isinstance(doc, list):
        if not doc:
            raise DecodeError("empty batch: the array holds no records")
        events: list[Measurement] = []
        for index, record in enumerate(doc, 1):
            where = f"record {index}: "
            if not isinstance(record, dict):
                raise DecodeError(f"{where}not a JSON object")
            events.extend(_record(record, device_id, where))
        return events
    raise DecodeError("payload must be a JSON object or an array of objects")


def _record(record: dict[str, Any], device_id: str, where: str) -> list[Measurement]:
    if "ts" not in record:
        raise DecodeError(f"{where}field 'ts' missing")
    try:
        time = parse_time(record["ts"])
    except ValueError as error:
        raise DecodeError(f"{where}field 'ts': {error}") from None
    if len(record) == 1:
        raise DecodeError(f"{where}no metric besides 'ts'")
    registry = get_registry()
    events: list[Measurement] = []
    seen: set[str] = set()
    for key, value in record.items():
        if key == "ts":
            continue
        # bool is a subclass of int in Python but not a number in JSON.
        if type(value) is not float and type(value) is not int:
            raise DecodeError(f"{where}field {show(key)}: value {show(value)} is not a number")
        try:
            spec = registry.resolve(key)
        except MetricError as error:
            raise DecodeError(f"{where}field {show(key)}: {error}") from None
        if spec.name in seen:
            raise DecodeError(f"{where}field {show(key)}: metric {spec.name!r} given twice")
        seen.add(spec.name)
        number = float(value)
        if not math.isfinite(number):
            raise DecodeError(f"{where}field {show(key)}: value is not finite")
        # Every field is checked above (time by parse_time, metric by the registry,
        # value finite) or by the caller (device_id, from the topic), so the model need
        # not check them again for each metric of the record.
        events.append(
            Measurement.trusted(time, device_id, spec.name, number, spec.unit, spec.quality(number))
        )
    return events


def parse_time(value: Any) -> datetime:
    """ISO 8601 with offset, or epoch seconds, as an aware UTC datetime in the accepted
    window. Raises ValueError with the reason."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{show(value)} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError("timestamp has no UTC offset")
    elif type(value) is int or type(value) is float:
        if abs(value) > _EPOCH_MS_HINT:
            raise ValueError(f"{value} is out of range for epoch seconds (milliseconds?)")
        try:
            parsed = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError):
            raise ValueError(f"{value} is out of range for epoch seconds") from None
    else:
        raise ValueError(f"{show(value)} is neither an ISO 8601 string nor epoch seconds")
    return check_event_time(parsed)
