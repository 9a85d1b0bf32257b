"""Issue 4's acceptance on the real stack: security logs over Kafka through `ioc ingest`,
detections in the batch's transaction, alerts once per attacker; and two workers in one
consumer group keeping per-source counts exact."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from config.settings import Settings
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

Message = tuple[str, bytes, bytes]

BRUTE, SPRAY, SCANNER, KNOWN_BAD = "192.0.2.10", "192.0.2.20", "192.0.2.30", "198.51.100.66"
ATTACKERS = (BRUTE, SPRAY, SCANNER, KNOWN_BAD)


def _ssh(topic: str, at: datetime, ip: str, user: str, ok: bool, host: str = "web1") -> Message:
    what = "Accepted password for" if ok else "Failed password for"
    line = f"<86>1 {at.isoformat()} {host} sshd 4242 - - {what} {user} from {ip} port 40022 ssh2"
    return topic, ip.encode(), line.encode()


def _drop(topic: str, at: datetime, ip: str, port: int, dst: str = "10.0.0.5") -> Message:
    line = (
        f"<4>1 {at.isoformat()} fw01 kernel - - - [UFW BLOCK] IN=eth0 OUT= SRC={ip}"
        f" DST={dst} LEN=40 PROTO=TCP SPT=40000 DPT={port}"
    )
    return topic, ip.encode(), line.encode()


def _background(topic: str, start: datetime, hosts: int = 60) -> list[Message]:
    """Staff logging in from 60 internal addresses: a mistyped password now and then,
    a few blocked packets — nothing any detection should fire on."""
    rng = random.Random(4)
    out = []
    for i in range(hosts):
        ip = f"10.20.{i // 200}.{i % 200 + 1}"
        t = start + timedelta(seconds=i)
        user = f"canbo{i:02d}"
        if i % 3 == 0:
            out.append(_ssh(topic, t, ip, user, ok=False))
        out.append(_ssh(topic, t + timedelta(seconds=1), ip, user, ok=True))
        for k in range(3):
            out.append(
                _drop(topic, t + timedelta(seconds=2 + k), ip, rng.choice((8080, 8443, 5353)))
            )
    return out


def _attacks(topic: str, start: datetime) -> list[Message]:
    out = [_ssh(topic, start + timedelta(seconds=i), BRUTE, "root", ok=False) for i in range(30)]
    users = ["admin", "root", "ubuntu", "oracle", "postgres", "test", "guest", "vanthu"]
    out += [
        _ssh(topic, start + timedelta(seconds=i), SPRAY, u, ok=False) for i, u in enumerate(users)
    ]
    out += [_drop(topic, start + timedelta(seconds=i / 10), SCANNER, 1000 + i) for i in range(40)]
    out += [
        _ssh(topic, start + timedelta(seconds=40 + i), KNOWN_BAD, "root", ok=False)
        for i in range(3)
    ]
    return out


def _security_alerts(db: psycopg.Connection, rule: str) -> dict[str, int]:
    """Alerts of a rule per source address or indicator (every one, not only attackers)."""
    rows = db.execute(
        "SELECT coalesce(labels->>'source_ip', labels->>'indicator'), count(*) FROM alerts"
        " WHERE rule = %s"
        " AND domain = 'security' GROUP BY 1",
        (rule,),
    ).fetchall()
    return dict(rows)


@pytest.fixture
def clean_security(db: psycopg.Connection) -> psycopg.Connection:
    db.execute("DELETE FROM alerts WHERE domain = 'security'")
    db.execute("DELETE FROM detector_state WHERE detector LIKE 'sec.%' OR detector = 'sigma'")
    return db


def _interleave(*streams: Iterable[Message]) -> list[Message]:
    rng = random.Random(11)
    merged = [m for stream in streams for m in stream]
    rng.shuffle(merged)  # arrival order is not event order
    return merged


def test_background_plus_attacks_one_alert_per_attacker_none_for_background(
    settings: Settings, clean_security: psycopg.Connection, routes: TestRoutes, workers
) -> None:
    db = clean_security
    create_topics(settings, [routes.syslog_topic])
    start = datetime.now(UTC) - timedelta(minutes=2)
    messages = _interleave(
        _background(routes.syslog_topic, start), _attacks(routes.syslog_topic, start)
    )
    workers(routes, "soc", "kafka")
    produce(settings, messages)
    assert wait_for(
        lambda: db.execute("SELECT count(*) FROM security_events").fetchone()[0] == len(messages),
        timeout=90,
    )
    assert _security_alerts(db, "sec.bruteforce") == {BRUTE: 1}
    assert _security_alerts(db, "sec.password_spray") == {SPRAY: 1}
    assert _security_alerts(db, "sec.portscan") == {SCANNER: 1}
    assert _security_alerts(db, "sec.indicator_match") == {KNOWN_BAD: 1}
    # The indicator fired on the first matching event (event time), not a later one.
    started, event_ids = db.execute(
        "SELECT started_at, event_ids FROM alerts WHERE rule = 'sec.indicator_match'"
    ).fetchone()
    assert started == start + timedelta(seconds=40)
    first = db.execute(
        "SELECT event_id FROM security_events WHERE source_ip = %s ORDER BY time LIMIT 1",
        (KNOWN_BAD,),
    ).fetchone()[0]
    assert event_ids[0] == first
    # Security alerts carry ATT&CK techniques.
    techniques = dict(
        db.execute(
            "SELECT rule, technique_ids FROM alerts WHERE rule IN"
            " ('sec.bruteforce', 'sec.password_spray', 'sec.portscan')"
        ).fetchall()
    )
    assert "T1110.001" in techniques["sec.bruteforce"]
    assert "T1110.003" in techniques["sec.password_spray"]
    assert "T1046" in techniques["sec.portscan"]
    # No security alert of any rule names a background address.
    background = db.execute(
        "SELECT rule, labels FROM alerts WHERE domain = 'security'"
        " AND labels::text LIKE '%%10.20.%%'"
    ).fetchall()
    assert background == []


def _written(port: int) -> float:
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    pattern = re.compile(
        r'^ioc_ingest_messages_written_total\{[^}]*transport="kafka"[^}]*\} (\S+)$'
    )
    return sum(float(m.group(1)) for line in body.splitlines() if (m := pattern.match(line)))


def test_two_workers_in_one_group_share_the_load_and_count_exactly(
    settings: Settings, clean_security: psycopg.Connection, routes: TestRoutes, workers
) -> None:
    db = clean_security
    create_topics(settings, [routes.syslog_topic])
    start = datetime.now(UTC) - timedelta(minutes=3)
    # 24 attackers, each 9 failures (one short of the threshold) in the first batch of
    # messages and 6 more later: only a worker seeing all 15 — or state shared exactly —
    # counts past 10. Plus background from 60 hosts.
    attackers = [f"192.0.2.{100 + i}" for i in range(24)]
    first = [
        _ssh(routes.syslog_topic, start + timedelta(seconds=k), ip, "root", ok=False)
        for ip in attackers
        for k in range(9)
    ]
    later = [
        _ssh(routes.syslog_topic, start + timedelta(seconds=20 + k), ip, "root", ok=False)
        for ip in attackers
        for k in range(6)
    ]
    one, two = workers(routes, "pair-a", "kafka"), workers(routes, "pair-b", "kafka")
    produce(settings, _interleave(first, _background(routes.syslog_topic, start)))
    produce(settings, later)
    total = len(first) + len(later) + len(_background(routes.syslog_topic, start))
    assert wait_for(
        lambda: db.execute("SELECT count(*) FROM security_events").fetchone()[0] == total,
        timeout=120,
    )
    # Both workers took part.
    assert _written(one.metrics_port) > 0 and _written(two.metrics_port) > 0
    assert _security_alerts(db, "sec.bruteforce") == dict.fromkeys(attackers, 1)
    # Each attacker's window holds exactly its 15 failures, counted once each.
    counts = db.execute(
        "SELECT key, state FROM detector_state WHERE detector = 'sec.bruteforce'"
        " AND key LIKE '%%192.0.2.1%%'"
    ).fetchall()
    assert counts, "no brute-force state stored"
    for key, state in counts:
        assert _failures_in(state) == 15, (key, state)


def _failures_in(state: dict) -> int:
    """Events counted in a brute-force window state (see processors/security/detectors)."""
    return len(state["entries"])
