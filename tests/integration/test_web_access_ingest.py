"""Web access, squid and auditd messages through Kafka and the real ingest worker into
PostgreSQL (issue 14, acceptance 1 on the real stack): every message of
tests/data/sigmahq_fire/web_linux.yaml for those three formats becomes one security event
with its dataset, ECS document and raw bytes; broken messages become dead letters with
their reason. The Sigma firing of the same messages is tests/integration/test_sigmahq_fire.py's."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import yaml

from config.settings import Settings
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "sigmahq_fire" / "web_linux.yaml"
FORMATS = {"seclog.web": "web_access", "seclog.proxy": "proxy_access", "seclog.auditd": "auditd"}
BAD = {
    "seclog.web": b"2026-12-03 03:00:00 1.2.3.4 GET /",
    "seclog.proxy": b"1796270400.123 5 10.1.2.3 TCP_MISS/200",
    "seclog.auditd": b"type=EOE msg=audit(1796270400.123:4567): ",
}


def _payload(message: Any) -> bytes:
    return message.encode() if isinstance(message, str) else orjson.dumps(message)


def _messages() -> list[tuple[str, bytes]]:
    data = yaml.safe_load(DATA.read_text())
    found = [(c["topic"], _payload(m)) for c in data["cases"] for m in c["messages"]]
    found += [(b["topic"], _payload(m)) for b in data["background"] for m in b["messages"]]
    return [(topic, payload) for topic, payload in found if topic in FORMATS]


def _own_topics(routes: TestRoutes) -> dict[str, str]:
    """The test's routes file plus topics of its own for the three formats (the shipped
    routes.yaml gets seclog.web, seclog.proxy, seclog.auditd)."""
    tag = uuid.uuid4().hex[:8]
    topics = {base: f"{base}.{tag}" for base in FORMATS}
    config = yaml.safe_load(routes.path.read_text())
    for base, topic in topics.items():
        config["kafka"]["routes"].append({"topic": topic, "format": FORMATS[base]})
    routes.path.write_text(yaml.safe_dump(config))
    return topics


def test_web_proxy_and_audit_messages_become_events_and_broken_ones_dead_letters(
    settings: Settings, db: psycopg.Connection, routes: TestRoutes, workers
) -> None:
    topics = _own_topics(routes)
    create_topics(settings, list(topics.values()))
    messages = _messages()
    workers(routes, "web-linux", "kafka")
    produce(settings, [(topics[base], None, payload) for base, payload in messages])
    produce(settings, [(topics[base], None, payload) for base, payload in BAD.items()])

    def stored() -> bool:
        events = db.execute("SELECT count(*) FROM security_events").fetchone()[0]
        letters = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        return events == len(messages) and letters == len(BAD)

    assert wait_for(stored, timeout=90)
    datasets = dict(db.execute("SELECT dataset, count(*) FROM security_events GROUP BY 1"))
    assert set(datasets) == {
        "nginx.access", "apache.access", "iis.access", "squid.access", "auditd.log"
    }  # fmt: skip
    assert sum(datasets.values()) == len(messages)
    raws = {bytes(row[0]) for row in db.execute("SELECT raw FROM security_events")}
    assert raws == {payload for _, payload in messages}
    sqli = db.execute(
        "SELECT host(source_ip), ecs->'http'->'request'->>'method', ecs->'url'->>'query'"
        " FROM security_events WHERE ecs->'url'->>'query' LIKE '%UNION%'"
    ).fetchall()
    assert len(sqli) == 1 and sqli[0][:2] == ("203.0.113.45", "GET") and "SELECT" in sqli[0][2]
    preload = db.execute(
        "SELECT ecs->'file'->>'path', ecs->'auditd'->'record_types', user_name"
        " FROM security_events WHERE ecs->'auditd'->'syscall'->>'key' = 'preload'"
    ).fetchall()
    assert preload == [("/etc/ld.so.preload", ["SYSCALL", "CWD", "PATH", "PROCTITLE"], None)]
    denied = db.execute(
        "SELECT action, outcome FROM security_events WHERE dataset = 'squid.access'"
        " AND ecs->'url'->>'domain' = 'api.telegram.org'"
    ).fetchall()
    assert denied == [("tcp_tunnel", "success")]
    letters = dict(db.execute("SELECT format, reason FROM dead_letters").fetchall())
    assert "IIS's default #Fields names 15" in letters["web_access"]
    assert "has 4 fields, expected 10" in letters["proxy_access"]
    assert "only EOE" in letters["auditd"]
