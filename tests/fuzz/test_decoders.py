"""The fuzz payloads through the in-process pipeline (`decode()` with the routes' routers),
no services needed: no exception escapes, each payload's known outcome holds."""

from __future__ import annotations

import orjson

from events.models import CameraEvent, SecurityEvent
from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import TopicRouter
from tests.fuzz.payloads import KAFKA_FORMATS, MQTT_FORMATS, SHARED_TOPICS, generate, kafka_topic

MQTT = TopicRouter(
    {"ioc/v1/+/telemetry": "ioc_telemetry"} | {t: f for f, t in SHARED_TOPICS.items()}, True
)
KAFKA = TopicRouter({kafka_topic(f): f for f in KAFKA_FORMATS}, False)


def test_every_payload_decodes_or_dead_letters() -> None:
    formats: set[str] = set()
    # About 1,450 payloads a format, as when there were seven formats and 10,000.
    for item in generate(20_300, seed=11):
        formats.add(item.format)
        if item.transport == "mqtt":
            topic = SHARED_TOPICS.get(item.format, f"ioc/v1/d{item.seq}/telemetry")
            result = decode(RawMessage("mqtt", topic, item.payload), MQTT, 262144)
        else:
            message = RawMessage("kafka", kafka_topic(item.format), item.payload, 0, item.seq)
            result = decode(message, KAFKA, 262144)
        outcome = "dead" if result.dead_letter else "row"
        where = (item.seq, item.format, item.kind, item.payload[:200])
        assert item.expect in ("either", outcome), (where, result.dead_letter)
        if result.dead_letter:
            # decode() turns a decoder's crash into a dead letter too; here it is a failure.
            assert not result.dead_letter.reason.startswith("decoder error"), (where, result)
            assert len(result.dead_letter.reason.removeprefix(f"{item.format}:").strip()) >= 8
            if item.reason_word:
                assert item.reason_word in result.dead_letter.reason.lower(), where
        else:
            assert result.events, where
            for event in result.events:
                # The writer stores these with orjson, which refuses integers past 64 bits;
                # a refusal there stopped the worker (an auditd syscall number, once).
                if isinstance(event, SecurityEvent):
                    orjson.dumps(event.ecs)
                elif isinstance(event, CameraEvent):
                    orjson.dumps(event.attributes)
    assert formats == set(MQTT_FORMATS + KAFKA_FORMATS)
