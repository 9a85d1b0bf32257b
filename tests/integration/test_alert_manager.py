"""The alert manager on the real PostgreSQL: identity, escalation, resolution, silences,
people's actions, and two workers raising the same condition at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from config.settings import Settings
from events.alerts import Domain, Severity, Signal, SignalState
from processors.alerts import lifecycle
from processors.alerts.manager import AlertManager
from processors.alerts.silences import Matcher, SilenceSpec, create_silence, expire_silence
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        yield conn
        # Channel names here are the real defaults: leave no outbox rows for a dispatcher.
        conn.execute("DELETE FROM alerts WHERE labels->>'device_id' LIKE 'st-%%'")


def _signal(
    station: str,
    severity: Severity,
    minutes: int,
    state: SignalState = SignalState.FIRING,
    rule: str = "env.water_level",
    domain: Domain = Domain.ENVIRONMENT,
) -> Signal:
    return Signal(
        rule=rule,
        domain=domain,
        labels={"device_id": station, "metric": "water_level"},
        state=state,
        severity=severity,
        at=T0 + timedelta(minutes=minutes),
        title_vi=f"Mực nước tại {station}",
        title_en=f"Water level at {station}",
        values={"value": 1.0 + minutes / 100},
    )


def _apply(conn: psycopg.Connection, *signals: Signal) -> list[str]:
    with conn.transaction():
        return [c.kind for c in AlertManager(StubRouting()).apply(conn, signals)]


def _alerts(conn: psycopg.Connection, station: str) -> list[tuple[str, int]]:
    return conn.execute(
        "SELECT status, severity FROM alerts WHERE labels->>'device_id' = %s ORDER BY started_at",
        (station,),
    ).fetchall()


def _outbox(conn: psycopg.Connection, station: str) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT o.kind, o.channel, o.status FROM outbox o JOIN alerts a ON a.id = o.alert_id"
        " WHERE a.labels->>'device_id' = %s ORDER BY o.id",
        (station,),
    ).fetchall()


def test_one_alert_escalates_deescalates_and_resolves(conn: psycopg.Connection) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    kinds = _apply(conn, _signal(station, Severity.MEDIUM, 0))
    kinds += _apply(conn, _signal(station, Severity.MEDIUM, 5))  # still true: same alert
    kinds += _apply(
        conn, _signal(station, Severity.HIGH, 10), _signal(station, Severity.CRITICAL, 20)
    )
    kinds += _apply(conn, _signal(station, Severity.HIGH, 30))
    kinds += _apply(conn, _signal(station, Severity.HIGH, 30, SignalState.RESOLVED))
    assert kinds == ["fired", "updated", "escalated", "escalated", "deescalated", "resolved"]
    assert _alerts(conn, station) == [("resolved", Severity.HIGH)]
    sent = [(kind, channel) for kind, channel, _ in _outbox(conn, station)]
    steps = ["fired", "escalated", "escalated", "deescalated", "resolved"]
    assert sent == [(k, c) for k in steps for c in ("webhook", "mqtt")]
    history = conn.execute(
        "SELECT h.action, h.actor FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE a.labels->>'device_id' = %s ORDER BY h.id",
        (station,),
    ).fetchall()
    assert history == [(k, "system") for k in steps]


def test_a_new_episode_after_resolution_is_a_new_alert(conn: psycopg.Connection) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    _apply(conn, _signal(station, Severity.MEDIUM, 0))
    _apply(conn, _signal(station, Severity.MEDIUM, 1, SignalState.RESOLVED))
    assert _apply(conn, _signal(station, Severity.MEDIUM, 2, SignalState.RESOLVED)) == []
    assert _apply(conn, _signal(station, Severity.MEDIUM, 60)) == ["fired"]
    assert _alerts(conn, station) == [("resolved", 2), ("firing", 2)]


def test_two_workers_raising_the_same_condition_make_one_alert(
    settings: Settings,
) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(4)
    kinds: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            barrier.wait()
            got = _apply(conn, _signal(station, Severity.MEDIUM, offset))
            with lock:
                kinds.extend(got)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(kinds) == ["fired", "updated", "updated", "updated"]
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        assert _alerts(conn, station) == [("firing", Severity.MEDIUM)]
        assert len(_outbox(conn, station)) == 2
        conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (station,))


def test_a_silence_mutes_notifications_but_not_recording(conn: psycopg.Connection) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    spec = SilenceSpec(
        matchers=[
            Matcher(name="device_id", value=station),
            Matcher(name="rule", value="env\\..*", op="=~"),
        ],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        reason="bảo trì trạm / station maintenance",
    )
    silence = create_silence(conn, spec, "operator-a")
    _apply(conn, _signal(station, Severity.MEDIUM, 0))
    assert _alerts(conn, station) == [("firing", Severity.MEDIUM)]
    assert {status for _, _, status in _outbox(conn, station)} == {"silenced"}
    expire_silence(conn, str(silence["id"]), "operator-a")
    _apply(conn, _signal(station, Severity.HIGH, 5))
    assert [s for _, _, s in _outbox(conn, station)][-2:] == ["pending", "pending"]


def test_a_silence_for_another_station_mutes_nothing(conn: psycopg.Connection) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    create_silence(
        conn,
        SilenceSpec(
            matchers=[Matcher(name="device_id", value=station + "-other")],
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            reason="other station",
        ),
        "operator-a",
    )
    _apply(conn, _signal(station, Severity.MEDIUM, 0))
    assert {status for _, _, status in _outbox(conn, station)} == {"pending"}


def test_people_acknowledge_and_resolve_with_history(conn: psycopg.Connection) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    _apply(conn, _signal(station, Severity.MEDIUM, 0))
    alert_id = conn.execute(
        "SELECT id FROM alerts WHERE labels->>'device_id' = %s", (station,)
    ).fetchone()[0]
    with conn.transaction():
        lifecycle.acknowledge(conn, str(alert_id), "nguyen.van.a", "đang kiểm tra")
    with pytest.raises(lifecycle.InvalidTransition), conn.transaction():
        lifecycle.acknowledge(conn, str(alert_id), "nguyen.van.a")
    # A worse reading needs attention again.
    assert _apply(conn, _signal(station, Severity.HIGH, 5)) == ["escalated"]
    assert _alerts(conn, station) == [("firing", Severity.HIGH)]
    with conn.transaction():
        lifecycle.resolve(conn, str(alert_id), "tran.thi.b", "đã xử lý", routing=StubRouting())
    history = conn.execute(
        "SELECT action, actor, note FROM alert_history WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    ).fetchall()
    assert history == [
        ("fired", "system", ""),
        ("acknowledged", "nguyen.van.a", "đang kiểm tra"),
        ("escalated", "system", ""),
        ("resolved", "tran.thi.b", "đã xử lý"),
    ]
    assert _outbox(conn, station)[-1][0] == "resolved"
    with pytest.raises(lifecycle.AlertNotFound), conn.transaction():
        lifecycle.resolve(conn, str(uuid.uuid4()), "x")


def test_unacknowledged_alerts_are_renotified_once_per_interval(conn: psycopg.Connection) -> None:
    from processors.jobs.renotify import renotify_due

    firing, acked = f"st-{uuid.uuid4().hex[:8]}", f"st-{uuid.uuid4().hex[:8]}"
    _apply(conn, _signal(firing, Severity.HIGH, 0), _signal(acked, Severity.HIGH, 0))
    acked_id = conn.execute(
        "SELECT id FROM alerts WHERE labels->>'device_id' = %s", (acked,)
    ).fetchone()[0]
    with conn.transaction():
        lifecycle.acknowledge(conn, str(acked_id), "operator-a")
    # Longer ago than any alert another run left in a shared database: the job takes the
    # longest-waiting first, a batch at a time, so these are in its first batch.
    conn.execute(
        "UPDATE alerts SET last_notified_at = now() - interval '3650 days'"
        " WHERE labels->>'device_id' = ANY(%s)",
        ([firing, acked],),
    )
    now = datetime.now(UTC)
    with conn.transaction():
        renotify_due(conn, now, StubRouting(), timedelta(hours=1))
    with conn.transaction():  # just reminded: not again within the interval
        renotify_due(conn, now + timedelta(minutes=5), StubRouting(), timedelta(hours=1))
    assert [k for k, _, _ in _outbox(conn, firing)] == ["fired", "fired", "renotify", "renotify"]
    assert [k for k, _, _ in _outbox(conn, acked)] == ["fired", "fired"]
