"""Issue 14's incident on the real stack: an attacker's SSH logs and firewall drops go
over Kafka through `ioc ingest` into security alerts; the alert service's grouping job
(built by build_jobs, run as the service runs it) gathers them into one case; the CSIRT
works it through the API process (uvicorn on the test stack) to closure, with the times
to acknowledge and to close, and marks it for sharing with the national centre."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from config.settings import Settings
from processors.alerts.channels import channels_path, load_channels
from processors.cases.job import JOB, CaseGroupingJob
from processors.jobs.base import run_exclusive
from processors.service import build_jobs
from store import cases as case_store
from store.users import create_user, delete_user
from tests.integration.api_server import api_process
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

# 198.18.0.0/15 (benchmarking): no other test's attacker, no indicator list entry.
ATTACKER = "198.18.9.9"
RULES = {"sec.bruteforce", "sec.portscan", "sec.success_after_failures"}


def _ssh(topic: str, at: datetime, what: str, user: str = "root") -> tuple[str, bytes, bytes]:
    line = (
        f"<86>1 {at.isoformat()} web1 sshd 4242 - - {what} {user} from {ATTACKER} port 40022 ssh2"
    )
    return topic, ATTACKER.encode(), line.encode()


def _drop(topic: str, at: datetime, port: int) -> tuple[str, bytes, bytes]:
    line = (
        f"<4>1 {at.isoformat()} fw01 kernel - - - [UFW BLOCK] IN=eth0 OUT= SRC={ATTACKER}"
        f" DST=10.0.0.5 LEN=40 PROTO=TCP SPT=40000 DPT={port}"
    )
    return topic, ATTACKER.encode(), line.encode()


def _attack(topic: str, start: datetime) -> list[tuple[str, bytes, bytes]]:
    """A port scan, then password guessing on SSH, then a login that worked."""
    scan = [_drop(topic, start + timedelta(seconds=i / 10), 1000 + i) for i in range(40)]
    guesses = [
        _ssh(topic, start + timedelta(seconds=10 + i), "Failed password for") for i in range(30)
    ]
    success = [_ssh(topic, start + timedelta(seconds=45), "Accepted password for")]
    return scan + guesses + success


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        yield conn
        conn.execute(
            "DELETE FROM cases WHERE id IN (SELECT case_id FROM case_alerts ca JOIN alerts a"
            " ON a.id = ca.alert_id WHERE a.labels ->> 'source_ip' = %s)",
            (ATTACKER,),
        )
        conn.execute("DELETE FROM alerts WHERE labels ->> 'source_ip' = %s", (ATTACKER,))
        conn.execute("DELETE FROM security_events WHERE source_ip = %s", (ATTACKER,))
        conn.execute("DELETE FROM case_grouping_cursor WHERE job LIKE 't-incident-%%'")
        conn.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%{ATTACKER}%",))


@pytest.fixture
def csirt(db: psycopg.Connection) -> Iterator[tuple[str, dict[str, str]]]:
    user, token = create_user(db, f"t-incident-{uuid.uuid4().hex[:8]}", "csirt")
    yield user.name, {"Authorization": f"Bearer {token}", "Accept-Language": "vi"}
    delete_user(db, user.name)


def _attacker_alerts(db: psycopg.Connection) -> dict[str, uuid.UUID]:
    rows = db.execute(
        "SELECT rule, id FROM alerts WHERE domain = 'security' AND labels ->> 'source_ip' = %s",
        (ATTACKER,),
    ).fetchall()
    return dict(rows)


def _events(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM security_events WHERE source_ip = %s", (ATTACKER,))
    return row.fetchone()[0]


def test_incident_from_alerts_worked_through_to_closure(
    settings: Settings, db: psycopg.Connection, routes: TestRoutes, workers, csirt, tmp_path
) -> None:
    name, headers = csirt
    create_topics(settings, [routes.syslog_topic])
    start = datetime.now(UTC) - timedelta(minutes=2)
    messages = _attack(routes.syslog_topic, start)
    # The job's cursor starts now (the database's clock, which stamps recorded_at): alerts
    # other tests left behind are not this test's.
    (cursor,) = db.execute("SELECT clock_timestamp()").fetchone()
    workers(routes, "cases", "kafka")
    produce(settings, messages)
    # Every event written (detection runs in the same transaction), then the alerts.
    assert wait_for(lambda: _events(db) == len(messages), timeout=90), _events(db)
    assert set(_attacker_alerts(db)) >= RULES, _attacker_alerts(db)
    alerts = _attacker_alerts(db)

    # The alert service's job, with the shipped grouping rules and playbooks; its cursor
    # starts at this test (a cursor of its own), the alerts are already committed so
    # nothing needs to settle.
    (scheduled,) = [
        j for j in build_jobs(settings, load_channels(channels_path(settings))) if j.name == JOB
    ]
    assert isinstance(scheduled.job, CaseGroupingJob) and scheduled.every <= 30
    job = CaseGroupingJob(name=f"t-incident-{uuid.uuid4().hex[:6]}", settle_seconds=0)
    case_store.set_grouping_cursor(db, job.name, cursor, uuid.UUID(int=0))
    assert run_exclusive(db, job.name, job, datetime.now(UTC)) == len(alerts)

    with api_process({}, tmp_path / "api.log") as url, httpx.Client(base_url=url) as api:
        (case,) = api.get("/api/v1/cases", params={"alert": str(alerts["sec.bruteforce"])},
                          headers=headers).json()  # fmt: skip
        case_url = f"/api/v1/cases/{case['id']}"
        detail = api.get(case_url, headers=headers).json()
        # One incident: every alert of the attacker, grouped by source address.
        assert {a["id"] for a in detail["alerts"]} == {str(i) for i in alerts.values()}
        assert (detail["grouping_rule"], detail["grouping_key"]) == ("same_source", ATTACKER)
        assert (detail["status"], detail["severity"], detail["acknowledged_at"]) == (
            "new",
            "high",
            None,
        )
        assert detail["title"] == f"Hoạt động đáng ngờ từ {ATTACKER}"
        books = {t["playbook"] for t in detail["tasks"]}
        # Sigma's own SSH rules may fire too: their playbook comes with them.
        sigma = {"sigma"} if any(r.startswith("sigma.") for r in alerts) else set()
        assert books == {"triage", "credential_attack", "reconnaissance"} | sigma

        observed = api.get(f"{case_url}/observables", headers=headers, params={"limit": 100})
        found = {(o["type"], o["value"]): o for o in observed.json()}
        assert {
            ("ipv4", ATTACKER),
            ("user", "root"),
            ("host", "web1"),
            ("ipv4", "10.0.0.5"),
        } <= set(found)
        assert found[("ipv4", ATTACKER)]["events_from_address"] == len(messages)

        # Acknowledge: assign and start investigating.
        taken = api.patch(case_url, json={"status": "investigating", "assignee": name},
                          headers=headers).json()  # fmt: skip
        assert taken["acknowledged_at"] is not None
        for task in taken["tasks"]:
            done = api.patch(f"{case_url}/tasks/{task['id']}", json={"done": True}, headers=headers)
            assert done.status_code == 200
        note = "Đã chặn 198.18.9.9 trên tường lửa biên; đổi mật khẩu root trên web1."
        assert (
            api.post(f"{case_url}/notes", json={"note": note}, headers=headers).status_code == 200
        )
        api.patch(case_url, json={"status": "contained", "shared": True, "tlp": "green"},
                  headers=headers).raise_for_status()  # fmt: skip
        closure = {"classification": "true_positive", "note": "Dò mật khẩu thành công, đã xử lý"}
        closed = api.post(f"{case_url}/close", json=closure, headers=headers)
        assert closed.status_code == 200, closed.text
        final = closed.json()
        timeline = api.get(f"{case_url}/timeline", headers=headers).json()

    assert (final["status"], final["classification"], final["shared"], final["tlp"]) == (
        "closed",
        "true_positive",
        True,
        "green",
    )
    assert final["tasks_done"] == len(final["tasks"]) > 0
    created = datetime.fromisoformat(final["created"])
    acknowledged = datetime.fromisoformat(final["acknowledged_at"])
    closed_at = datetime.fromisoformat(final["closed_at"])
    assert created < acknowledged < closed_at
    assert final["time_to_acknowledge_seconds"] == pytest.approx(
        (acknowledged - created).total_seconds()
    )
    assert final["time_to_close_seconds"] == pytest.approx((closed_at - created).total_seconds())

    # The timeline: the attack's events, the alerts, then what people did, in time order.
    kinds = [i["kind"] for i in timeline]
    assert kinds.count("alert") == len(alerts) and kinds.count("event") >= 30
    moments = [datetime.fromisoformat(i["at"]) for i in timeline]
    assert moments == sorted(moments)
    actions = [i["action"] for i in timeline if i["kind"] == "entry"]
    assert actions[0] == "created" and actions[-1] == "closed"
    assert "note" in actions and actions.count("task_done") == len(final["tasks"])
    assert any(i["kind"] == "entry" and i["note"] == note for i in timeline)

    # What F's TAXII server reads: the case is shared, with its observables.
    row = db.execute(
        "SELECT shared, tlp, classification FROM cases WHERE id = %s", (final["id"],)
    ).fetchone()
    assert row == (True, "green", "true_positive")
