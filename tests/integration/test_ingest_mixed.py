"""Acceptance 2: mixed traffic with 5% malformed -> exactly the valid rows once each,
every bad message a dead letter with a reason naming its problem."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from config.secrets import MQTT_FRIGATE_USER, load_secrets
from tests.integration.harness import count, create_topics, mosquitto_pub, produce, wait_for
from tests.integration.traffic import kafka_traffic, mqtt_traffic

pytestmark = pytest.mark.integration


def test_mixed_mqtt_and_kafka_traffic(settings, db, routes, devices, workers):
    creds = {c.device_id: c for c in devices(20)}
    mqtt = mqtt_traffic(list(creds), total=10_000, bad_share=0.05)
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    kafka = kafka_traffic(routes.syslog_topic, routes.suricata_topic, total=10_000, bad_share=0.05)
    assert mqtt.total == 10_000 and len(kafka.messages) == 10_000

    tag = uuid.uuid4().hex[:6]
    workers(routes, f"{tag}-a")
    frigate_password = load_secrets(settings).mqtt_frigate_password
    for topic, payloads in mqtt.by_topic.items():
        if topic == "frigate/events":
            mosquitto_pub(settings, MQTT_FRIGATE_USER, frigate_password, topic, payloads)
        else:
            device = topic.split("/")[2]
            mosquitto_pub(settings, device, creds[device].password, topic, payloads)
    produce(settings, kafka.messages)

    expected_dead = len(mqtt.bad) + len(kafka.bad_words)
    done = wait_for(
        lambda: (
            count(db, "measurements") >= mqtt.measurement_rows
            and count(db, "security_events") >= kafka.valid
            and count(db, "dead_letters") >= expected_dead
        ),
        timeout=180,
    )
    assert done, (
        count(db, "measurements"),
        count(db, "security_events"),
        count(db, "dead_letters"),
    )
    # Give stragglers (duplicates, if any) a moment, then count exactly.
    wait_for(lambda: False, timeout=2)
    assert count(db, "measurements") == mqtt.measurement_rows
    assert count(db, "camera_events") == mqtt.camera_events
    assert count(db, "security_events") == kafka.valid
    assert count(db, "dead_letters") == expected_dead

    ended = db.execute("SELECT count(*) FROM camera_events WHERE state = 'end'").fetchone()[0]
    assert ended == mqtt.camera_events, "every Frigate event ends as one row in state 'end'"

    letters = db.execute("SELECT transport, topic, payload, reason FROM dead_letters").fetchall()
    by_payload = {(t, bytes(p)): r for _, t, p, r in letters if len(p) < 262144}
    for topic, payload, word in mqtt.bad:
        if len(payload) >= 262144:
            continue
        reason = by_payload[(topic, payload)]
        assert word in reason.lower(), (word, reason)
    large = [r for *_, r in letters if "too large" in r]
    assert len(large) == sum(1 for *_, w in mqtt.bad if w == "too large") + kafka.bad_words.count(
        "too large"
    )
    kafka_reasons = Counter(r.split(":")[0] for tr, *_, r in letters if tr == "kafka")
    assert sum(kafka_reasons.values()) == len(kafka.bad_words)
    for word, expected in Counter(kafka.bad_words).items():
        found = sum(1 for tr, _, _, r in letters if tr == "kafka" and word in r.lower())
        assert found >= expected, (word, found, expected)
