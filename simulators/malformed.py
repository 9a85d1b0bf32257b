"""Malformed messages on purpose (`ioc simulate --bad-share`).

An integrator wiring up equipment wants to see what happens to a message the service
cannot use: it arrives, is acknowledged, and lands in `dead_letters` with a reason. So a
share of the simulated messages is spoiled in a way real equipment gets wrong, and sent
like the rest: same broker, same topic, same account. Each spoiling is one the decoders
always refuse (a test checks every kind against them):

- `truncated`: the JSON without its last quarter (a gateway that lost a buffer's end);
- `bad_metric`: a reading under a name no metric can have (`pm 2.5`);
- `bad_time`: a timestamp in the early 1970s (a device whose clock lost its setting
  and counts from the epoch again), so before the accepted window opens (2000);
- `bad_pri`, `no_header`: a syslog line with a priority above 191 (a relay that adds
  its facility twice), or only its text, without `<PRI>` and timestamp (a shipper
  forwarding raw application output).

Seeded: the same seed and sequence of messages spoil the same ones the same way. Two
spoiled messages never come out equal (each keeps something of its own time), so each is
one dead letter: an MQTT dead letter's identity is its topic and payload.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from simulators.messages import (
    FRIGATE_REVIEWS_TOPIC,
    FRIGATE_STATS_TOPIC,
    FRIGATE_TOPIC,
    KAFKA_ONVIF_TOPIC,
    KAFKA_SURICATA_TOPIC,
    KAFKA_SYSLOG_TOPIC,
    Outgoing,
    eve_timestamp,
)

BAD_METRIC = "pm 2.5"  # a space: not a valid metric name, unlike the alias pm2.5
CLOCK_WRAP_S = 100_000_000  # a reset clock reads the time modulo this: about 1973


class Spoiler:
    """Passes messages through, spoiling about `share` of them."""

    def __init__(self, share: float, seed: int) -> None:
        if not 0 <= share <= 1:
            raise ValueError("the bad share is a fraction between 0 and 1")
        self._share = share
        self._rng = random.Random(f"malformed:{seed}")
        self.spoiled = 0

    def __call__(self, message: Outgoing) -> Outgoing:
        if self._share <= 0 or self._rng.random() >= self._share:
            return message
        self.spoiled += 1
        return spoil(message, self._rng.random())


def spoil(message: Outgoing, pick: float) -> Outgoing:
    """The message made unusable, in one of the ways that fit its kind (`pick` in [0, 1)
    chooses which)."""
    if message.topic == KAFKA_SYSLOG_TOPIC:
        kinds = (_bad_pri, _no_header)
    elif message.topic == KAFKA_SURICATA_TOPIC:
        kinds = (_truncated, _eve_bad_time)
    elif message.topic == FRIGATE_TOPIC:
        kinds = (_truncated, _frigate_bad_time)
    elif message.topic == FRIGATE_STATS_TOPIC:
        kinds = (_truncated, _stats_bad_time)
    elif message.topic in (FRIGATE_REVIEWS_TOPIC, KAFKA_ONVIF_TOPIC):
        kinds = (_truncated,)
    else:  # device telemetry: native JSON or SenML
        kinds = (_truncated, _telemetry_bad_metric, _telemetry_bad_time)
    kind = kinds[int(pick * len(kinds))]
    return replace(message, payload=kind(message.payload))


def _truncated(payload: bytes) -> bytes:
    # The last quarter lost: the closing bracket goes, so the JSON never parses, and the
    # start (with the message's own time) stays.
    return payload[: -max(2, len(payload) // 4)]


def _bad_pri(payload: bytes) -> bytes:
    return b"<999>" + payload.split(b">", 1)[-1]


def _no_header(payload: bytes) -> bytes:
    # The text after "TAG[PID]: " (RFC 3164) or after the structured data (RFC 5424).
    return payload.split(b": ", 1)[-1] if b": " in payload else payload.rsplit(b" - ", 1)[-1]


def _telemetry_bad_metric(payload: bytes) -> bytes:
    doc = orjson.loads(payload)
    if isinstance(doc, list):  # SenML: the first record's name
        doc[0]["n"] = BAD_METRIC
    else:
        doc[BAD_METRIC] = 12.0
    return orjson.dumps(doc)


def _reset(t: float) -> float:
    return t % CLOCK_WRAP_S


def _reset_iso(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return datetime.fromtimestamp(_reset(when.timestamp()), when.tzinfo)


def _telemetry_bad_time(payload: bytes) -> bytes:
    doc = orjson.loads(payload)
    if isinstance(doc, list):
        doc[0]["bt"] = round(_reset(doc[0]["bt"]), 3)
    else:
        doc["ts"] = _reset_iso(doc["ts"]).isoformat(timespec="milliseconds")
    return orjson.dumps(doc)


def _frigate_bad_time(payload: bytes) -> bytes:
    doc: dict[str, Any] = orjson.loads(payload)
    doc["after"] = {**doc["after"], "start_time": round(_reset(doc["after"]["start_time"]), 6)}
    return orjson.dumps(doc)


def _stats_bad_time(payload: bytes) -> bytes:
    doc: dict[str, Any] = orjson.loads(payload)
    doc["service"] = {**doc["service"], "last_updated": int(_reset(doc["service"]["last_updated"]))}
    return orjson.dumps(doc)


def _eve_bad_time(payload: bytes) -> bytes:
    doc: dict[str, Any] = orjson.loads(payload)
    doc["timestamp"] = eve_timestamp(_reset_iso(doc["timestamp"]))
    return orjson.dumps(doc)
