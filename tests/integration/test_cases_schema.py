"""Migration 22 (CSIRT cases): the tables F and G build on, with the interface's columns
and values, and running it again changes nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from store.engine import Engine
from store.migrations import m0022_cases

pytestmark = pytest.mark.integration

INTERFACE = {
    "cases": {
        "id", "title", "severity", "tlp", "pap", "status", "classification", "shared",
        "created", "updated",
    },
    "case_alerts": {"case_id", "alert_id"},
    "case_observables": {"case_id", "type", "value", "first_seen", "last_seen"},
}  # fmt: skip


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {r[0] for r in rows}


def test_interface_tables_exist_and_migration_reruns(db: psycopg.Connection) -> None:
    with db.transaction():
        m0022_cases.upgrade(db, Engine.TIMESCALE)  # already applied: a no-op
    for table, columns in INTERFACE.items():
        assert columns <= _columns(db, table), table


def test_constraints_refuse_bad_values(db: psycopg.Connection) -> None:
    case = uuid.uuid4()
    try:
        db.execute("INSERT INTO cases (id, title) VALUES (%s, 'schema test')", (case,))
        row = db.execute(
            "SELECT severity, tlp, pap, status, shared FROM cases WHERE id = %s", (case,)
        ).fetchone()
        assert row == ("medium", "amber", "amber", "new", False)
        for statement in (
            "UPDATE cases SET tlp = 'white' WHERE id = %s",
            "UPDATE cases SET status = 'closed' WHERE id = %s",  # no closed_at/classification
            "INSERT INTO case_observables VALUES (%s, 'email', 'a@b', now(), now())",
        ):
            with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
                db.execute(statement, (case,))
    finally:
        db.execute("DELETE FROM cases WHERE id = %s", (case,))
