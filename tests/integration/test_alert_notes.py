"""History notes the system writes, on the real PostgreSQL: Vietnamese in `note`, English
in `note_en`; operators' notes and rows from before migration 10 read as they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.schemas import HistoryEntry
from config.settings import Settings
from events.alerts import Domain, Severity, Signal, SignalState
from processors.alerts import lifecycle
from processors.alerts.manager import AlertManager
from processors.jobs.renotify import renotify_due
from store.alert_reads import history_page, recent_history
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        yield conn
        conn.execute("DELETE FROM alerts WHERE labels->>'device_id' LIKE 'notes-%%'")


def _signal(
    station: str, severity: Severity, minutes: int, vi: str, en: str, state: SignalState
) -> Signal:
    return Signal(
        rule="env.water_level",
        domain=Domain.ENVIRONMENT,
        labels={"device_id": station, "metric": "waterLevel"},
        state=state,
        severity=severity,
        at=T0 + timedelta(minutes=minutes),
        title_vi=f"Mực nước tại {station}",
        title_en=f"Water level at {station}",
        summary_vi=vi,
        summary_en=en,
    )


def _apply(conn: psycopg.Connection, *signals: Signal) -> None:
    with conn.transaction():
        AlertManager(StubRouting()).apply(conn, signals)


def _history(conn: psycopg.Connection, alert_id: object) -> list[tuple[str, str, str | None]]:
    return conn.execute(
        "SELECT action, note, note_en FROM alert_history WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    ).fetchall()


def test_system_notes_are_vietnamese_with_english_beside(conn: psycopg.Connection) -> None:
    station = f"notes-{uuid.uuid4().hex[:8]}"
    firing, high = SignalState.FIRING, Severity.HIGH
    _apply(conn, _signal(station, high, 0, "Mực nước 0,95 m", "Water level 0.95 m", firing))
    alert_id = conn.execute(
        "SELECT id FROM alerts WHERE labels->>'device_id' = %s", (station,)
    ).fetchone()[0]
    conn.execute(
        "UPDATE alerts SET last_notified_at = now() - interval '3650 days' WHERE id = %s",
        (alert_id,),
    )
    with conn.transaction():
        renotify_due(conn, datetime.now(UTC), StubRouting(), timedelta(hours=1))
    with conn.transaction():
        lifecycle.add_note(conn, str(alert_id), "nguyen.van.a", "Đã gọi trạm Xẻo Rô")
    # A detector that wrote only English: stored as one-language, not dropped.
    _apply(conn, _signal(station, high, 30, "", "Back below alarm I", SignalState.RESOLVED))

    assert _history(conn, alert_id) == [
        ("fired", "Mực nước 0,95 m", "Water level 0.95 m"),
        (
            "renotified",
            "Đã gửi tới 2 kênh thông báo vì chưa có ai xác nhận",
            "Sent to 2 notification channels as nobody has acknowledged it",
        ),
        ("note", "Đã gọi trạm Xẻo Rô", None),
        ("resolved", "Back below alarm I", None),
    ]
    # What the API answers with (AlertDetail.history and GET …/history).
    shown = [HistoryEntry.model_validate(r) for r in recent_history(conn, alert_id, 10)]
    assert [(h.note, h.note_en) for h in shown][:2] == [
        ("Mực nước 0,95 m", "Water level 0.95 m"),
        (
            "Đã gửi tới 2 kênh thông báo vì chưa có ai xác nhận",
            "Sent to 2 notification channels as nobody has acknowledged it",
        ),
    ]
    assert len(history_page(conn, alert_id, None, 10)) == 4


def test_a_row_from_before_migration_10_reads_as_it_was(conn: psycopg.Connection) -> None:
    station = f"notes-{uuid.uuid4().hex[:8]}"
    _apply(
        conn, _signal(station, Severity.MEDIUM, 0, "Mực nước", "Water level", SignalState.FIRING)
    )
    alert_id = conn.execute(
        "SELECT id FROM alerts WHERE labels->>'device_id' = %s", (station,)
    ).fetchone()[0]
    # The insert the old code made: no note_en column named.
    conn.execute(
        "INSERT INTO alert_history (alert_id, actor, action, status, severity, note)"
        " VALUES (%s, 'system', 'renotified', 'firing', 2, '2 channel(s)')",
        (alert_id,),
    )
    last = HistoryEntry.model_validate(recent_history(conn, alert_id, 10)[-1])
    assert (last.action, last.note, last.note_en) == ("renotified", "2 channel(s)", None)
