"""SenML (RFC 8428) JSON packs -> Measurements.

Base fields (bn, bt, bu, bv, bver) apply to their own record and every later record until
changed (§4.1). The device is the topic's, so the metric is the name part after the base
name: `n`, or, for a record without `n`, the last segment of `bn`. Times below 2**28 are
relative to when the message was received (§4.5.3). Units are converted to the metric's
canonical unit from events/metrics.yaml; a known metric in a unit that cannot be
converted is an error, not a silent mix of units.

Written by hand: the SenML libraries on PyPI (e.g. `senml`) are unmaintained and build
objects per record, and resolving the five base fields is a few lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from events.metrics import MetricError, MetricRegistry, get_registry
from events.models import Measurement, check_event_time
from events.text import clean_text, show, validation_reason
from ingest.formats.base import DecodeError

# The keys that make a JSON array a SenML pack (§4.2, §4.3).
SENML_KEYS = frozenset(
    {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
)
SUPPORTED_VERSION = 10
RELATIVE_TIME_LIMIT = 2**28
_VALUE_KEYS = ("v", "vb", "vs", "vd")
# §4.5.1 name characters; a plain character class, so matching cannot backtrack.
_SENML_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
_SEPARATORS = ":/;"
_MAX_UNIT_CHARS = 32


@dataclass(slots=True)
class _Base:
    name: str = ""
    time: float = 0.0
    unit: str | None = None
    value: float = 0.0


def decode_records(doc: Any, device_id: str, received_at: datetime) -> list[Measurement]:
    """Measurements from a parsed SenML pack; atomic: any bad record rejects the pack."""
    if not isinstance(doc, list):
        raise DecodeError("a SenML pack must be a JSON array of records")
    if not doc:
        raise DecodeError("empty SenML pack")
    registry = get_registry()
    base = _Base()
    events: list[Measurement] = []
    for index, record in enumerate(doc, 1):
        try:
            events.append(_record(record, base, registry, device_id, received_at))
        except (MetricError, DecodeError) as error:
            raise DecodeError(f"record {index}: {error}") from None
        except ValidationError as error:
            raise DecodeError(f"record {index}: {validation_reason(error)}") from None
    return events


def _record(
    record: Any, base: _Base, registry: MetricRegistry, device_id: str, received_at: datetime
) -> Measurement:
    if not isinstance(record, dict):
        raise DecodeError("not a JSON object")
    _check_keys(record)
    _update_base(record, base)
    value = _value(record, base)
    spec = registry.resolve(_metric_name(record, base))
    unit = _string(record, "u", base.unit)
    if unit is not None:
        value = registry.conversion(spec, unit).apply(value)
        unit = spec.unit or clean_text(registry.normalise_unit(unit), _MAX_UNIT_CHARS)
    else:
        unit = spec.unit
    if not math.isfinite(value):
        raise DecodeError(f"value of {spec.name!r} is not finite after unit conversion")
    return Measurement(
        time=_time(record, base, received_at),
        device_id=device_id,
        metric=spec.name,
        value=value,
        unit=unit,
        quality=spec.quality(value),
    )


def _check_keys(record: dict[str, Any]) -> None:
    for key in record:
        # §4.4: a field ending in "_" must be understood or the pack rejected.
        if key.endswith("_"):
            raise DecodeError(f"field {show(key)} must be understood but is not supported")


def _update_base(record: dict[str, Any], base: _Base) -> None:
    if "bver" in record:
        version = record["bver"]
        if type(version) is not int or not 1 <= version <= SUPPORTED_VERSION:
            raise DecodeError(f"field 'bver': version {show(version)} is not supported")
    if "bn" in record:
        base.name = _string(record, "bn", "") or ""
    if "bt" in record:
        base.time = _number(record, "bt")
    if "bu" in record:
        base.unit = _string(record, "bu", None)
    if "bv" in record:
        base.value = _number(record, "bv")


def _value(record: dict[str, Any], base: _Base) -> float:
    present = [key for key in _VALUE_KEYS if key in record]
    if not present:
        if "s" in record:
            raise DecodeError("sum-only records (s) are not supported")
        raise DecodeError("no value (v, vb, vs or vd)")
    if len(present) > 1:
        raise DecodeError(f"more than one value field ({', '.join(present)})")
    key = present[0]
    if key == "vs":
        raise DecodeError("string values are not measurements")
    if key == "vd":
        raise DecodeError("data values (vd) are not measurements")
    if key == "vb":
        flag = record["vb"]
        if type(flag) is not bool:
            raise DecodeError(f"field 'vb': {show(flag)} is not true or false")
        return 1.0 if flag else 0.0
    return _number(record, "v") + base.value


def _metric_name(record: dict[str, Any], base: _Base) -> str:
    name = _string(record, "n", "") or ""
    full = base.name + name
    if not full:
        raise DecodeError("no name: neither 'bn' nor 'n' is given")
    if not _SENML_NAME.fullmatch(full):
        raise DecodeError(f"name {show(full)} is not a valid SenML name")
    if name:
        return name
    # No n: the base name is the whole name; its last segment names the quantity.
    cut = max(full.rfind(sep) for sep in _SEPARATORS)
    metric = full[cut + 1 :]
    if not metric:
        raise DecodeError(f"no name: 'n' is missing and base name {show(full)} ends in a separator")
    return metric


def _time(record: dict[str, Any], base: _Base, received_at: datetime) -> datetime:
    offset = _number(record, "t") if "t" in record else 0.0
    seconds = base.time + offset
    try:
        if seconds < RELATIVE_TIME_LIMIT:
            when = received_at + timedelta(seconds=seconds)
        else:
            when = datetime.fromtimestamp(seconds, UTC)
        return check_event_time(when)
    except (ValueError, OverflowError, OSError) as error:
        raise DecodeError(f"time: {error}") from None


def _number(record: dict[str, Any], key: str) -> float:
    value = record[key]
    if type(value) is not float and type(value) is not int:
        raise DecodeError(f"field {key!r}: {show(value)} is not a number")
    return float(value)


def _string(record: dict[str, Any], key: str, default: str | None) -> str | None:
    value = record.get(key, default)
    if value is not None and type(value) is not str:
        raise DecodeError(f"field {key!r}: {show(value)} is not a string")
    return value
