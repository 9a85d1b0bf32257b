"""`ioc cases list` and `ioc cases group` on the test stack."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from cli.main import app
from config.settings import Settings
from processors.cases.job import JOB
from store import cases as case_store

pytestmark = pytest.mark.integration

ATTACKER = "198.18.8.8"


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        before = case_store.grouping_cursor(conn, JOB)
        yield conn
        conn.execute("DELETE FROM cases WHERE grouping_key = %s", (ATTACKER,))
        conn.execute("DELETE FROM alerts WHERE labels ->> 'source_ip' = %s", (ATTACKER,))
        if before is None:
            conn.execute("DELETE FROM case_grouping_cursor WHERE job = %s", (JOB,))
        else:
            case_store.set_grouping_cursor(conn, JOB, *before)


def test_group_then_list(db: psycopg.Connection) -> None:
    alert_id = uuid.uuid4()
    # Settled: recorded a minute ago, as the job reads only alerts older than 30 s.
    at = datetime.now(UTC) - timedelta(minutes=1)
    db.execute(
        "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
        " labels, title_vi, title_en, started_at, updated_at, recorded_at) VALUES (%s, %s,"
        " 'sec.bruteforce', 'security', 'firing', 3, 3, %s, 'Dò mật khẩu', 'Brute force', %s,"
        " %s, %s)",
        (alert_id, f"t-cases-cli-{alert_id}", Jsonb({"source_ip": ATTACKER}), at, at, at),
    )
    # The shared job's cursor just before this alert: an alert service of an earlier test
    # may have moved it past a minute ago, and older alerts are not this test's.
    case_store.set_grouping_cursor(db, JOB, at - timedelta(seconds=1), uuid.UUID(int=0))
    runner = CliRunner()
    grouped = runner.invoke(app, ["cases", "group"])
    assert grouped.exit_code == 0, grouped.output
    # At least this one (an earlier test's alert of the last minute may be grouped too).
    count, _, rest = grouped.output.strip().partition(" ")
    assert rest == "alert(s) put into cases" and int(count) >= 1
    (case_id,) = [r[0] for r in db.execute(
        "SELECT case_id FROM case_alerts WHERE alert_id = %s", (alert_id,)
    )]  # fmt: skip
    listed = runner.invoke(app, ["cases", "list", "--status", "new", "--limit", "500"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    mine = [r for r in rows if r["id"] == str(case_id)]
    assert len(mine) == 1 and mine[0]["alert_count"] == 1 and mine[0]["status"] == "new"
    bad = runner.invoke(app, ["cases", "list", "--status", "nope"])
    assert bad.exit_code == 2
