"""Firewall lines through Kafka and the real ingest worker into PostgreSQL (issue 14,
acceptance 1 on the real stack): every line of tests/data/sigmahq_fire/firewall.yaml
becomes one security event with its vendor's dataset and columns; lines that are no
firewall's become dead letters with their reason. The Sigma firing of the same lines is
tests/integration/test_sigmahq_fire.py's."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from config.settings import Settings
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "sigmahq_fire" / "firewall.yaml"
BAD = [
    b"<14>Dec  1 09:15:02 host sshd[1]: Accepted password for x",
    b"<134>Dec  1 09:15:02 pfsense filterlog[1]: 5,,,1",
]


def _lines() -> list[str]:
    data = yaml.safe_load(DATA.read_text())
    cases = [line for case in data["cases"] for line in case["messages"]]
    return cases + [line for block in data["background"] for line in block["messages"]]


def _firewall_route(routes: TestRoutes) -> str:
    """The test's routes file plus a firewall topic of its own (the shipped routes.yaml
    gets `seclog.firewall: firewall`)."""
    topic = f"seclog.firewall.{uuid.uuid4().hex[:8]}"
    config = yaml.safe_load(routes.path.read_text())
    config["kafka"]["routes"].append({"topic": topic, "format": "firewall"})
    routes.path.write_text(yaml.safe_dump(config))
    return topic


def test_firewall_lines_become_events_and_strangers_dead_letters(
    settings: Settings, db: psycopg.Connection, routes: TestRoutes, workers
) -> None:
    topic = _firewall_route(routes)
    create_topics(settings, [topic])
    lines = _lines()
    workers(routes, "firewall", "kafka")
    produce(settings, [(topic, None, line.encode()) for line in lines])
    produce(settings, [(topic, None, line) for line in BAD])
    assert wait_for(
        lambda: (
            db.execute("SELECT count(*) FROM security_events").fetchone()[0] == len(lines)
            and db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == len(BAD)
        ),
        timeout=90,
    )
    datasets = dict(
        db.execute("SELECT dataset, count(*) FROM security_events GROUP BY 1").fetchall()
    )
    assert set(datasets) == {"fortinet.firewall", "cisco.asa", "panw.panos", "pfsense.log"}
    blocked = db.execute(
        "SELECT observer_vendor, host(source_ip), destination_port, action, outcome,"
        " ecs->'firewall'->>'blocked' FROM security_events"
        " WHERE ecs->'event'->'type' @> '[\"denied\"]' AND 'network' = ANY(category)"
        " ORDER BY 1, 2"
    ).fetchall()
    assert ("Cisco", "185.220.101.4", 23, "deny", "failure", "true") in blocked
    assert ("Netgate", "185.220.101.4", 3389, "block", "failure", "true") in blocked
    assert {row[0] for row in blocked} == {"Cisco", "Fortinet", "Netgate", "Palo Alto Networks"}
    raws = {bytes(row[0]) for row in db.execute("SELECT raw FROM security_events")}
    assert raws == {line.encode() for line in lines}
    letters = db.execute("SELECT format, reason FROM dead_letters ORDER BY reason").fetchall()
    assert [row[0] for row in letters] == ["firewall", "firewall"]
    assert "of at least 9 columns" in letters[0][1]
    assert "not a firewall line" in letters[1][1]
