"""The public warnings' SQL and the issuing job's pass against the database, with fixed
clocks: what `active_public_warnings` and the feed list at a given moment, and how the
job follows an alert (a pest alert without a station, an operator's cancel)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from processors.alerts.public import issuer, signing
from store import public_warnings as store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 7, 6, 1, 0, tzinfo=UTC)
SENDER = "ioc-test@example.org"
TAG = "t-pw-" + uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return signing.generate(SENDER, now=T0)


@pytest.fixture
def conn(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    yield db
    db.execute("DELETE FROM public_warnings WHERE province = %s OR issued_by = %s", (TAG, TAG))
    db.execute("DELETE FROM alerts WHERE labels->>'province' = %s", (TAG,))


def _row(identifier: str, incident: str, sent: datetime, **more: object) -> dict:
    return {
        "identifier": identifier, "incident": incident, "msg_type": "Alert",
        "status": "Actual", "kind": "flood", "level": "bd2", "severity": "Severe",
        "province": TAG, "district": "A", "headline_vi": "h", "headline_en": "h",
        "sent": sent, "expires": sent + timedelta(hours=6), "cap_xml": "<alert/>", **more,
    }  # fmt: skip


def test_active_warnings_are_latest_actual_unexpired_and_not_cancelled(conn) -> None:
    rows = [
        _row(f"{TAG}-1", f"{TAG}-1", T0),
        _row(f"{TAG}-2", f"{TAG}-1", T0 + timedelta(hours=1), msg_type="Update", level="bd3"),
        _row(f"{TAG}-3", f"{TAG}-3", T0, district="B"),
        _row(f"{TAG}-4", f"{TAG}-3", T0 + timedelta(hours=2), msg_type="Cancel"),
        _row(f"{TAG}-5", f"{TAG}-5", T0, status="Test", expires=T0 + timedelta(hours=1)),
        _row(f"{TAG}-6", f"{TAG}-6", T0 - timedelta(hours=7)),  # expired at T0 - 1 h
    ]
    with conn.transaction():
        for row in rows:
            store.insert_message(conn, row)
    at = T0 + timedelta(hours=3)
    active = store.active_public_warnings(conn, province=TAG, at=at)
    assert [w["identifier"] for w in active] == [f"{TAG}-2"]
    assert active[0]["cap_url"] == f"/public/cap/{TAG}-2.xml"
    assert "cap_xml" not in active[0] and active[0]["incident"] == f"{TAG}-1"
    assert store.active_public_warnings(conn, province=TAG, district="B", at=at) == []
    # The feed also shows the cancellation and, while it lasts, the Test message.
    feed = store.feed_entries(conn, limit=10, province=TAG, at=T0 + timedelta(minutes=150))
    assert [r["identifier"] for r in feed] == [f"{TAG}-4", f"{TAG}-2"]
    early = store.feed_entries(conn, limit=10, province=TAG, at=T0 + timedelta(minutes=30))
    assert {r["identifier"] for r in early} == {f"{TAG}-1", f"{TAG}-3", f"{TAG}-5"}
    assert store.active_public_warnings(conn, province=TAG, at=T0 + timedelta(hours=8)) == []


def _pest_alert(conn: psycopg.Connection, level: str) -> uuid.UUID:
    alert_id = uuid.uuid4()
    values = {"count": 5200, "threshold": 3000, "level": level, "species_vi": "rầy nâu",
              "species_en": "brown planthopper", "lat": 10.3, "lon": 105.26}  # fmt: skip
    conn.execute(
        "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
        " labels, title_vi, title_en, alert_values, started_at, updated_at)"
        " VALUES (%s, %s, 'pest.light_trap', 'pests', 'firing', 2, 2, %s, 't', 't', %s, %s, %s)",
        (alert_id, f"fp-{alert_id}", Jsonb({"province": TAG, "district": "Thoại Sơn",
         "species": "brown_planthopper", "device_id": f"{TAG}-none"}), Jsonb(values), T0, T0),
    )  # fmt: skip
    return alert_id


def _mine(conn: psycopg.Connection, alert_id: uuid.UUID) -> list[tuple[str, bool]]:
    return conn.execute(
        "SELECT msg_type, manual FROM public_warnings WHERE alert_id = %s ORDER BY sent",
        (alert_id,),
    ).fetchall()


def test_the_job_follows_an_alert_and_respects_an_operators_cancel(conn, key) -> None:
    def run(now: datetime) -> None:
        with conn.transaction():
            issuer.issue_from_alerts(conn, now, sender=SENDER, key=key)

    alert_id = _pest_alert(conn, "watch")
    run(T0)
    assert _mine(conn, alert_id) == []  # a watch is not public
    conn.execute(
        'UPDATE alerts SET alert_values = alert_values || \'{"level": "warning"}\' WHERE id = %s',
        (alert_id,),
    )
    run(T0 + timedelta(minutes=1))
    assert _mine(conn, alert_id) == [("Alert", False)]  # no station: the values' centre
    run(T0 + timedelta(minutes=2))
    assert len(_mine(conn, alert_id)) == 1  # nothing changed, nothing sent
    incident = store.latest_by_alert(conn, [alert_id])[alert_id]["incident"]
    with conn.transaction():
        issuer.cancel_incident(conn, incident, reason="đã kiểm tra ngoài đồng", user=TAG,
                               now=T0 + timedelta(minutes=3), sender=SENDER, key=key)  # fmt: skip
    run(T0 + timedelta(minutes=4))
    assert _mine(conn, alert_id) == [("Alert", False), ("Cancel", True)]
    # Renewal: 36 h later (expires 48 h, renewed within 12 h of it) nothing re-opens either.
    run(T0 + timedelta(hours=40))
    assert len(_mine(conn, alert_id)) == 2
