"""`--bad-share`: the spoiled messages are refused by the real decoders, with a reason,
through the service's own routes; the others still decode; the share is kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import pytest

from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import RoutesConfig, kafka_router, load_routes, mqtt_router
from simulators.camera_stats import CameraHeartbeat
from simulators.cameras import CameraStream
from simulators.fleet import load_fleet
from simulators.malformed import Spoiler, spoil
from simulators.messages import Outgoing
from simulators.seclogs import LogStream, load_catalog
from simulators.sensors import SensorStream

ROUTES = Path(__file__).resolve().parents[2] / "deploy" / "ingest" / "routes.yaml"
T0 = 1_795_482_000.0  # 2026-11-24T01:00:00Z
FLEET = load_fleet()


def _messages(n: int) -> list[Outgoing]:
    sources = [
        SensorStream(FLEET.devices, seed=5),
        CameraStream(FLEET.cameras, seed=5),
        CameraHeartbeat(FLEET.cameras, seed=5),
        LogStream(load_catalog(), seed=5),
    ]
    sent = (sources[i % len(sources)].next(T0 + i * 7.3) for i in range(n))
    return [m for m in sent if m is not None]  # None: a light trap's night was sent


def _decoded(config: RoutesConfig, message: Outgoing):  # type: ignore[no-untyped-def]
    router = mqtt_router(config) if message.transport == "mqtt" else kafka_router(config)
    raw = RawMessage(message.transport, message.topic, message.payload, received_at=_at(T0))
    return decode(raw, router, config.limits.max_message_bytes)


def _at(t: float):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC)


@pytest.fixture(scope="module")
def config() -> RoutesConfig:
    return load_routes(ROUTES)


def test_every_kind_of_spoiling_of_every_stream_is_a_dead_letter_with_a_reason(
    config: RoutesConfig,
) -> None:
    reasons: Counter[str] = Counter()
    spoiled_mqtt: list[tuple[str, bytes]] = []
    for message in _messages(400):
        assert _decoded(config, message).dead_letter is None, message.topic  # good as sent
        for pick in (0.0, 0.34, 0.67, 0.99):  # every kind the topic has
            spoiled = spoil(message, pick)
            assert (spoiled.topic, spoiled.sender, spoiled.transport) == (
                message.topic, message.sender, message.transport)  # fmt: skip
            result = _decoded(config, spoiled)
            assert result.dead_letter is not None, (message.topic, spoiled.payload[:200])
            reasons[result.dead_letter.reason.split(":")[0]] += 1
        if message.transport == "mqtt":  # each kind once (two picks may choose one kind)
            kinds = {spoil(message, pick).payload for pick in (0.0, 0.34, 0.67, 0.99)}
            spoiled_mqtt.extend((message.topic, payload) for payload in kinds)
    # An MQTT dead letter is identified by topic and payload: no two spoilings may collide,
    # or the dead letters would count fewer than were sent.
    assert len(set(spoiled_mqtt)) == len(spoiled_mqtt)
    # Refused by the decoder that owns the topic, never for lack of a route.
    assert set(reasons) == {"ioc_telemetry", "frigate", "frigate_stats", "syslog", "suricata"}


def test_the_share_is_kept_and_seeded(config: RoutesConfig) -> None:
    messages = _messages(2000)
    spoiler = Spoiler(0.05, seed=9)
    out = [spoiler(m) for m in messages]
    changed = sum(a.payload != b.payload for a, b in zip(messages, out, strict=True))
    assert changed == spoiler.spoiled
    assert 60 <= changed <= 140  # 5 % of 2000, give or take the draw
    again = Spoiler(0.05, seed=9)
    assert [again(m).payload for m in messages] == [o.payload for o in out]
    dead = sum(_decoded(config, m).dead_letter is not None for m in out)
    assert dead == changed


def test_no_share_changes_nothing_and_a_share_outside_0_1_is_refused() -> None:
    messages = _messages(50)
    spoiler = Spoiler(0.0, seed=1)
    assert [spoiler(m) for m in messages] == messages
    assert spoiler.spoiled == 0
    for share in (-0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            Spoiler(share, seed=1)


@pytest.mark.parametrize(
    ("topic", "transport", "sample", "format_name"),
    [
        ("frigate/reviews", "mqtt", "frigate_review_docs.json", "frigate_reviews"),
        ("camera.onvif", "kafka", "onvif_field_detector.json", "onvif"),
    ],
)
def test_camera_review_and_onvif_messages_are_spoiled_into_dead_letters(
    config: RoutesConfig, topic: str, transport: Literal["mqtt", "kafka"], sample: str,
    format_name: str,
) -> None:  # fmt: skip
    payload = (ROUTES.parents[2] / "tests" / "data" / "cameras" / sample).read_bytes()
    message = Outgoing("cameras", transport, topic, payload)
    assert _decoded(config, message).dead_letter is None
    for pick in (0.0, 0.5, 0.99):
        letter = _decoded(config, spoil(message, pick)).dead_letter
        assert letter is not None and letter.reason.startswith(format_name)
