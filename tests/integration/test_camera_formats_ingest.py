"""Frigate review items (MQTT frigate/reviews) and ONVIF events (Kafka camera.onvif)
through a real `ioc ingest` worker: a review's new, update and end are one stored row
with its final state, ONVIF messages are stored once each (a re-published one is the
same event), and an unknown ONVIF topic is a dead letter naming it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from config.secrets import MQTT_FRIGATE_USER, load_secrets
from config.settings import Settings
from tests.integration.harness import (
    TestRoutes,
    WorkerProcess,
    create_topics,
    mosquitto_pub,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration


def routes_file(directory: Path) -> tuple[TestRoutes, str]:
    tag = uuid.uuid4().hex[:8]
    onvif_topic = f"camera.onvif.{tag}"
    routes = TestRoutes(directory / f"routes-{tag}.yaml", f"test-{tag}", f"test-{tag}", "", "")
    config = {
        "mqtt": {
            "share_group": routes.share_group,
            "routes": [{"filter": "frigate/reviews", "format": "frigate_reviews"}],
        },
        "kafka": {"group_id": routes.kafka_group,
                  "routes": [{"topic": onvif_topic, "format": "onvif"}]},
        "limits": {"max_message_bytes": 262144},
        "batching": {"max_messages": 100, "max_wait_seconds": 0.1},
    }  # fmt: skip
    routes.path.write_text(yaml.safe_dump(config))
    return routes, onvif_topic


def rows(conn: psycopg.Connection, camera: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT source, event_type, state, label, zones, end_time IS NOT NULL"
        " FROM camera_events WHERE camera = %s ORDER BY time, event_id",
        (camera,),
    ).fetchall()


def test_frigate_reviews_and_onvif_events_through_the_worker(
    settings: Settings,
    tmp_path: Path,
    workers: Callable[..., WorkerProcess],
    db: psycopg.Connection,
) -> None:
    routes, onvif_topic = routes_file(tmp_path)
    create_topics(settings, [onvif_topic], partitions=1)
    workers(routes, f"cam-{uuid.uuid4().hex[:6]}", "mqtt", "kafka")
    tag = uuid.uuid4().hex[:6]
    frigate_cam, onvif_cam = f"t-frig-{tag}", f"t-onvif-{tag}"

    start = time.time() - 60
    review = {
        "id": f"{start:.6f}-{tag}", "camera": frigate_cam, "start_time": start,
        "end_time": None, "severity": "detection",
        "data": {"detections": ["a"], "objects": ["person"], "sub_labels": [], "zones": [],
                 "audio": []},
    }  # fmt: skip
    messages = [
        {"type": "new", "before": {}, "after": review},
        {"type": "update", "before": review, "after": {**review, "severity": "alert",
         "data": {**review["data"], "zones": ["cong_cang"]}}},
        {"type": "end", "before": review, "after": {**review, "severity": "alert",
         "end_time": start + 30, "data": {**review["data"], "zones": ["cong_cang"]}}},
    ]  # fmt: skip
    password = load_secrets(settings).mqtt_frigate_password
    for message in messages:  # one publish each: arrival order gives the frame times
        mosquitto_pub(settings, MQTT_FRIGATE_USER, password, "frigate/reviews",
                      [json.dumps(message).encode()])  # fmt: skip

    utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    inside = {
        "camera": onvif_cam, "topic": "tns1:RuleEngine/FieldDetector/ObjectsInside",
        "utc_time": utc, "source": {"Rule": "cong_cang"},
        "data": {"IsInside": True, "ClassTypes": "Human"},
    }  # fmt: skip
    tamper = {
        "camera": onvif_cam, "topic": "tns1:RuleEngine/TamperDetector/Tamper",
        "utc_time": utc, "data": {"IsTamper": True},
    }  # fmt: skip
    unknown = {**tamper, "topic": "tns1:Device/Trigger/DigitalInput"}
    payloads = [inside, inside, tamper, unknown]  # the second: a VMS re-publishing
    produce(settings, [(onvif_topic, None, json.dumps(p).encode()) for p in payloads])

    def settled() -> bool:
        reviews = rows(db, frigate_cam)
        letters = db.execute(
            "SELECT count(*) FROM dead_letters WHERE topic = %s", (onvif_topic,)
        ).fetchone()[0]
        return bool(reviews) and reviews[0][5] and len(rows(db, onvif_cam)) == 2 and letters

    assert wait_for(settled, timeout=60), (rows(db, frigate_cam), rows(db, onvif_cam))

    assert rows(db, frigate_cam) == [("frigate", "review", "end", "alert", ["cong_cang"], True)]
    # Both at the same UtcTime: compared as a set.
    assert sorted(rows(db, onvif_cam)) == [
        ("onvif", "intrusion", "active", "person", ["cong_cang"], False),
        ("onvif", "tamper", "active", None, [], False),
    ]
    (reason,) = db.execute(
        "SELECT reason FROM dead_letters WHERE topic = %s", (onvif_topic,)
    ).fetchone()
    assert "onvif: topic 'tns1:Device/Trigger/DigitalInput' is not one the service reads" in reason
