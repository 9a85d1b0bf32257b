"""A request body -> items (one message each) -> decoded, and the answer per item.

Pure: no network, no database. Each item becomes a RawMessage with transport "http"
and is decoded by ingest.decode.decode, so validation, limits and the reasons of
rejections are those of the MQTT and Kafka paths. A message is atomic there; here an
item is the unit (a reading record, a SenML record, a log line), so one bad reading
costs only itself, and its dead letter holds that item's bytes.

Device telemetry (POST /api/v1/ingest/telemetry) is decoded on the device's MQTT
telemetry topic, `ioc/v1/<device_id>/telemetry`, with the device taken from its token:
the decoders take the device from the topic, as they do for MQTT, so a body cannot name
another device. Generic routes use the topic `http/<route>` (an API user posted) or
`http/<route>/<device_id>` (a device posted with its token).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from events.text import show
from ingest.decode import Decoded, decode, reject
from ingest.message import RawMessage
from ingest.routes import HttpConfig, HttpRoute, TopicRouter
from store.writer import dead_letter_id

TRANSPORT = "http"
NATIVE = "native_json"
SENML = "senml"
# Content-Type (without parameters) -> telemetry format.
TELEMETRY_CONTENT_TYPES = {
    "application/json": NATIVE,
    "application/senml+json": SENML,
}
# Keys a native record might use to name a device; the token names it instead.
DEVICE_KEYS = ("device_id", "deviceId", "device")
# SenML fields that carry over to the records after the one that sets them (RFC 8428 §4.1).
SENML_BASE_KEYS = ("bn", "bt", "bu", "bv", "bver")
SENML_SEPARATORS = ":/;"

Status = Literal["stored", "duplicate", "rejected"]


class BodyUnusable(Exception):
    """The body as a whole cannot be split into items (not JSON, wrong shape)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyItems(Exception):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} items > {limit}")
        self.count = count
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Item:
    """One item's bytes, and a reason to reject it found before decoding (if any)."""

    payload: bytes
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    index: int
    status: Status
    reason: str | None = None
    dead_letter_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.status == "rejected":
            out["reason"] = self.reason
            out["dead_letter_id"] = self.dead_letter_id
        return out


def telemetry_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/telemetry"


def route_topic(route: HttpRoute, device_id: str | None) -> str:
    return f"http/{route.name}" if device_id is None else f"http/{route.name}/{device_id}"


def telemetry_router(format_name: str) -> TopicRouter:
    return TopicRouter({telemetry_topic("+"): format_name}, wildcard=True)


def routes_router(config: HttpConfig) -> TopicRouter:
    table: dict[str, str] = {}
    for route in config.routes:
        table[f"http/{route.name}"] = route.format
        table[f"http/{route.name}/+"] = route.format
    return TopicRouter(table, wildcard=True)


def telemetry_format(content_type: str | None) -> str | None:
    media = (content_type or "").split(";")[0].strip().lower()
    return TELEMETRY_CONTENT_TYPES.get(media)


# -- splitting ----------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BodyUnusable(f"invalid JSON: {error}") from None


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def native_items(body: bytes, device_id: str, limit: int | None = None) -> list[Item]:
    """A native JSON object (one record) or array of records; one item per record.
    Raises TooManyItems past `limit` before any item is built."""
    doc = _json(body)
    if isinstance(doc, dict):
        records: list[Any] = [doc]
    elif isinstance(doc, list):
        records = doc
    else:
        raise BodyUnusable("the body must be a JSON object or an array of objects")
    if not records:
        raise BodyUnusable("empty batch: the array holds no records")
    _check_limit(len(records), limit)
    return [_native_item(record, device_id) for record in records]


def _native_item(record: Any, device_id: str) -> Item:
    if not isinstance(record, dict):
        return Item(_dump(record), "not a JSON object")
    for key in DEVICE_KEYS:
        if key not in record:
            continue
        named = record[key]
        if named != device_id:
            return Item(_dump(record), _other_device(f"field {key!r}", named, device_id))
        # Naming the token's own device is harmless; the decoder would take the key for
        # a metric, so it goes.
        record = {k: v for k, v in record.items() if k != key}
    return Item(_dump(record))


def senml_items(body: bytes, device_id: str, limit: int | None = None) -> list[Item]:
    """A SenML pack; one item per record, each made self-contained by carrying the base
    fields in force (bn, bt, bu, bv, bver) into it, so it decodes alone to what it
    means in the pack."""
    doc = _json(body)
    if not isinstance(doc, list):
        raise BodyUnusable("a SenML pack must be a JSON array of records")
    if not doc:
        raise BodyUnusable("empty SenML pack")
    _check_limit(len(doc), limit)
    base: dict[str, Any] = {}
    items = []
    for record in doc:
        if not isinstance(record, dict):
            items.append(Item(_dump([record]), "not a JSON object"))
            continue
        for key in SENML_BASE_KEYS:
            if key in record:
                base[key] = record[key]
        whole = {**{k: v for k, v in base.items() if k not in record}, **record}
        items.append(Item(_dump([whole]), _senml_device_problem(whole, device_id)))
    return items


def _senml_device_problem(record: dict[str, Any], device_id: str) -> str | None:
    """A base name may name the device (RFC 8428 suggests a device URN as its prefix);
    if it does, it must be the token's device."""
    name = record.get("bn")
    if type(name) is not str or not name:
        return None  # the decoder explains a base name of the wrong type
    prefix = name
    if "n" not in record:  # the last segment names the quantity; the rest the device
        cut = max(name.rfind(sep) for sep in SENML_SEPARATORS)
        prefix = name[: max(cut, 0)]
    prefix = prefix.rstrip(SENML_SEPARATORS)
    if not prefix or prefix == device_id:
        return None
    tail = prefix[-len(device_id) - 1 :]
    if tail[1:] == device_id and tail[0] in SENML_SEPARATORS:
        return None
    return _other_device("base name", prefix, device_id)


def _other_device(where: str, named: Any, device_id: str) -> str:
    return (
        f"{where} names device {show(named, 80)}, but the token is device {device_id!r}"
        " (the device comes from the token)"
    )


def line_items(body: bytes, limit: int | None = None) -> list[Item]:
    """One item per non-empty line (LF or CRLF)."""
    items = []
    for raw in body.split(b"\n"):
        line = raw.rstrip(b"\r")
        if line.strip():
            items.append(Item(line))
            if limit is not None and len(items) > limit:
                raise TooManyItems(sum(1 for r in body.split(b"\n") if r.strip()), limit)
    return items


def json_array_items(body: bytes, limit: int | None = None) -> list[Item]:
    doc = _json(body)
    if isinstance(doc, dict):
        return [Item(body)]
    if not isinstance(doc, list):
        raise BodyUnusable("the body must be a JSON array (or one JSON object)")
    if not doc:
        raise BodyUnusable("empty batch: the array holds no items")
    _check_limit(len(doc), limit)
    return [Item(_dump(element)) for element in doc]


def check_count(items: Sequence[Item], limit: int) -> None:
    _check_limit(len(items), limit)


def _check_limit(count: int, limit: int | None) -> None:
    if limit is not None and count > limit:
        raise TooManyItems(count, limit)


# -- decoding -----------------------------------------------------------------------------


def decode_items(
    items: Iterable[Item],
    topic: str,
    format_name: str,
    router: TopicRouter,
    max_bytes: int,
    received_at: datetime,
) -> list[Decoded]:
    decoded = []
    for item in items:
        message = RawMessage(TRANSPORT, topic, item.payload, received_at=received_at)
        if item.problem is not None:
            decoded.append(reject(message, format_name, item.problem))
        else:
            decoded.append(decode(message, router, max_bytes))
    return decoded


def body_dead_letter(
    body: bytes, topic: str, format_name: str | None, reason: str, received_at: datetime
) -> Decoded:
    """The whole body as one dead letter: nothing of it could be split into items."""
    message = RawMessage(TRANSPORT, topic, body, received_at=received_at)
    return reject(message, format_name, reason)


# -- the answer ---------------------------------------------------------------------------


def results(items: Sequence[Decoded], fresh: set[int]) -> list[ItemResult]:
    """Per item: rejected (its dead letter), stored (at least one of its events was new
    to the database: `fresh` holds the ids of the event objects the writer reported
    new; a camera event's message is new when it moved its row on, store/writer.py), or
    duplicate (all were there already, or came earlier in the same batch)."""
    out = []
    for index, item in enumerate(items):
        letter = item.dead_letter
        if letter is not None:
            out.append(ItemResult(index, "rejected", letter.reason, dead_letter_id(letter)))
        elif any(id(e) in fresh for e in item.events):
            out.append(ItemResult(index, "stored"))
        else:
            out.append(ItemResult(index, "duplicate"))
    return out


def summary(results_: Sequence[ItemResult]) -> dict[str, Any]:
    counts = {"stored": 0, "duplicate": 0, "rejected": 0}
    for result in results_:
        counts[result.status] += 1
    return {"received": len(results_), **counts, "items": [r.as_json() for r in results_]}
