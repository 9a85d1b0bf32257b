"""CSIRT cases on the real database: /api/v1/cases (roles, problems, each change and what
it records) and the grouping job (rules, windows, thresholds, its cursor).

Alerts are inserted as the alert manager writes them, each test with addresses of its
own, so the suite's other security alerts never meet these assertions; the job runs with
a cursor of its own placed at the test's start."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.app import create_app
from config.settings import Settings
from processors.cases.grouping import Grouping, GroupingRule, Title
from processors.cases.job import CaseGroupingJob
from processors.jobs.base import run_exclusive
from store import cases as case_store
from store.users import create_user, delete_user

pytestmark = pytest.mark.integration

ROLES = ("admin", "operator", "csirt", "viewer", "integrator")


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def users(conn: psycopg.Connection) -> Iterator[dict[str, dict[str, str]]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ROLES:
        user, token = create_user(conn, f"t-cases-{tag}-{role}", role)
        made[role] = {"name": user.name, "token": token}
    yield made
    for user in made.values():
        delete_user(conn, user["name"])


def bearer(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}", "Accept-Language": "en"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def cleanup(conn: psycopg.Connection) -> Iterator[dict[str, list[Any]]]:
    """Cases, alerts, events and job cursors a test made, deleted afterwards."""
    made: dict[str, list[Any]] = {"cases": [], "alerts": [], "events": [], "jobs": []}
    yield made
    conn.execute("DELETE FROM case_alerts WHERE alert_id = ANY(%s::uuid[])", (made["alerts"],))
    # 198.18.0.0/15 (benchmarking) addresses are these tests' own.
    conn.execute(
        "DELETE FROM cases WHERE id = ANY(%s::uuid[]) OR grouping_key LIKE '198.18.%%'",
        (made["cases"],),
    )
    conn.execute("DELETE FROM alerts WHERE id = ANY(%s::uuid[])", (made["alerts"],))
    conn.execute("DELETE FROM security_events WHERE event_id = ANY(%s)", (made["events"],))
    conn.execute("DELETE FROM case_grouping_cursor WHERE job = ANY(%s)", (made["jobs"],))


@pytest.fixture
def make_alert(conn: psycopg.Connection, cleanup: dict[str, list[Any]]) -> Callable[..., uuid.UUID]:
    def insert(
        rule: str = "sec.bruteforce",
        *,
        severity: int = 3,
        labels: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        domain: str = "security",
        at: datetime | None = None,
        event_ids: list[str] | None = None,
    ) -> uuid.UUID:
        alert_id = uuid.uuid4()
        at = at or datetime.now(UTC)
        conn.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity,"
            " peak_severity, labels, title_vi, title_en, alert_values, event_ids, started_at,"
            " updated_at) VALUES (%s, %s, %s, %s, 'firing', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                alert_id, f"t-cases-{alert_id}", rule, domain, severity, severity,
                Jsonb(labels or {}), f"Cảnh báo {rule}", f"Alert {rule}", Jsonb(values or {}),
                event_ids or [], at, at,
            ),
        )  # fmt: skip
        cleanup["alerts"].append(alert_id)
        return alert_id

    return insert


@pytest.fixture
def make_event(conn: psycopg.Connection, cleanup: dict[str, list[Any]]) -> Callable[..., str]:
    def insert(at: datetime, source_ip: str, **ecs: Any) -> str:
        event_id = f"t-cases-{uuid.uuid4().hex}"
        conn.execute(
            "INSERT INTO security_events (time, event_id, dataset, source_ip, destination_ip,"
            " user_name, host_name, message, ecs, raw) VALUES (%s, %s, 'test.cases', %s,"
            " '198.18.0.200', 'root', 'web1', 'Failed password', %s, 'raw')",
            (at, event_id, source_ip, Jsonb(ecs)),
        )
        cleanup["events"].append(event_id)
        return event_id

    return insert


def _job(conn: psycopg.Connection, cleanup: dict[str, list[Any]], **kw: Any) -> CaseGroupingJob:
    name = f"t-cases-{uuid.uuid4().hex[:8]}"
    cleanup["jobs"].append(name)
    # Its cursor starts now (the database's clock, which stamps recorded_at): alerts
    # other tests left behind are not its business.
    (now,) = conn.execute("SELECT clock_timestamp()").fetchone()
    case_store.set_grouping_cursor(conn, name, now, uuid.UUID(int=0))
    return CaseGroupingJob(name=name, **kw)


def _run(conn: psycopg.Connection, job: CaseGroupingJob, later: float = 60) -> int | None:
    # As the alert service runs it; `now` past the settle time of the alerts just made.
    return run_exclusive(conn, job.name, job, datetime.now(UTC) + timedelta(seconds=later))


def _cases_of(conn: psycopg.Connection, alert_id: uuid.UUID) -> list[uuid.UUID]:
    rows = conn.execute("SELECT case_id FROM case_alerts WHERE alert_id = %s", (alert_id,))
    return [r[0] for r in rows]


# ---- roles and problems -------------------------------------------------------------------


def test_only_csirt_and_admin_reach_cases(client: TestClient, users) -> None:
    assert client.get("/api/v1/cases").status_code == 401
    for role in ("operator", "viewer", "integrator"):
        answer = client.get("/api/v1/cases", headers=bearer(users[role]))
        assert answer.status_code == 403, role
        assert answer.headers["content-type"] == "application/problem+json"
        denied = client.post("/api/v1/cases", json={"title": "x"}, headers=bearer(users[role]))
        assert denied.status_code == 403
    for role in ("csirt", "admin"):
        assert client.get("/api/v1/cases", headers=bearer(users[role])).status_code == 200


def test_bad_requests_are_problems_not_server_errors(client: TestClient, users) -> None:
    h = bearer(users["csirt"])
    missing = client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=h)
    assert missing.status_code == 404 and missing.json()["code"] == "case_not_found"
    for body in (
        {}, {"title": ""}, {"title": "x" * 301}, {"title": "a\x00b"},
        {"title": "x", "tlp": "white"}, {"title": "x", "alert_ids": ["nope"]},
        {"title": "x", "extra": 1},
        {"title": "x", "alert_ids": [str(uuid.uuid4()) for _ in range(101)]},
    ):  # fmt: skip
        answer = client.post("/api/v1/cases", json=body, headers=h)
        assert answer.status_code == 422, body
        assert answer.json()["code"] == "invalid_request"
    assert client.get("/api/v1/cases/not-a-uuid", headers=h).status_code == 422
    assert client.get("/api/v1/cases", params={"cursor": "!!"}, headers=h).status_code == 422
    assert client.get("/api/v1/cases", params={"limit": 501}, headers=h).status_code == 422
    unknown = client.post(
        "/api/v1/cases", json={"title": "x", "alert_ids": [str(uuid.uuid4())]}, headers=h
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "case_alerts_unknown"


def test_environment_alerts_cannot_join_a_case(client: TestClient, users, make_alert) -> None:
    water = make_alert("env.water_level", domain="environment", labels={"device_id": "kg-1"})
    answer = client.post(
        "/api/v1/cases",
        json={"title": "x", "alert_ids": [str(water)]},
        headers=bearer(users["csirt"]),
    )
    assert answer.status_code == 422
    assert "1 alert(s) do not exist or are not security alerts" in answer.json()["detail"]


# ---- working a case by hand ---------------------------------------------------------------


def test_case_by_hand_from_alerts_with_moves_tasks_notes_and_closure(
    client: TestClient, users, make_alert, make_event, cleanup
) -> None:
    h, who = bearer(users["csirt"]), users["csirt"]["name"]
    now = datetime.now(UTC)
    event = make_event(
        now - timedelta(minutes=5), "198.18.1.10", url={"full": "http://x.example/a"}
    )
    brute = make_alert(labels={"source_ip": "198.18.1.10"}, values={"users": ["root"]},
                       event_ids=[event], at=now - timedelta(minutes=4))  # fmt: skip
    scan = make_alert("sec.portscan", severity=2, labels={"source_ip": "198.18.1.10"})
    made = client.post(
        "/api/v1/cases",
        json={"title": "Tấn công SSH từ 198.18.1.10", "alert_ids": [str(brute), str(scan)],
              "tlp": "amber+strict"},
        headers=h,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    case = made.json()
    cleanup["cases"].append(case["id"])
    # Severity: the highest alert's (sec.bruteforce: high); a person's case is acknowledged.
    assert (case["severity"], case["status"], case["tlp"], case["alert_count"]) == (
        "high",
        "new",
        "amber+strict",
        2,
    )
    assert case["acknowledged_at"] == case["created"] and case["time_to_acknowledge_seconds"] == 0
    assert {a["id"] for a in case["alerts"]} == {str(brute), str(scan)}
    playbooks = {t["playbook"] for t in case["tasks"]}
    assert playbooks == {"triage", "credential_attack", "reconnaissance"}
    assert case["tasks"][0]["playbook"] == "triage"  # first in every case

    observed = client.get(f"/api/v1/cases/{case['id']}/observables", headers=h).json()
    pairs = {(o["type"], o["value"]) for o in observed}
    # The event's destination only the event names (its inet column, without the /32).
    assert {("ipv4", "198.18.1.10"), ("user", "root"), ("host", "web1"),
            ("url", "http://x.example/a"), ("ipv4", "198.18.0.200")} <= pairs  # fmt: skip
    address = next(o for o in observed if o["value"] == "198.18.1.10")
    assert address["events_from_address"] == 1

    # Moves: forward, back one step; never back to new; closing needs /close.
    url = f"/api/v1/cases/{case['id']}"
    assert (
        client.patch(url, json={"status": "investigating", "assignee": who}, headers=h).json()[
            "assignee"
        ]
        == who
    )
    back = client.patch(url, json={"status": "new"}, headers=h)
    assert back.status_code == 409 and back.json()["code"] == "case_move_invalid"
    assert client.patch(url, json={"status": "closed"}, headers=h).status_code == 422
    task = case["tasks"][0]
    done = client.patch(f"{url}/tasks/{task['id']}", json={"done": True}, headers=h).json()
    assert done["done_by"] == who and done["done_at"] is not None
    extra = client.post(f"{url}/tasks", json={"title": "Gọi điện cho đơn vị"}, headers=h)
    assert extra.status_code == 201 and extra.json()["playbook"] == "manual"
    missing_task = client.patch(f"{url}/tasks/999999999", json={"done": True}, headers=h)
    assert missing_task.status_code == 404
    assert client.post(f"{url}/notes", json={"note": "Đã chặn IP"}, headers=h).status_code == 200
    removed = client.delete(f"{url}/alerts/{scan}", headers=h)
    assert removed.status_code == 200 and removed.json()["alert_count"] == 1
    assert client.delete(f"{url}/alerts/{scan}", headers=h).status_code == 404
    patched = client.patch(
        url, json={"status": "contained", "shared": True, "tlp": "green", "severity": "critical"},
        headers=h,
    ).json()  # fmt: skip
    assert (patched["status"], patched["shared"], patched["tlp"]) == ("contained", True, "green")

    closed = client.post(f"{url}/close", json={"classification": "true_positive"}, headers=h)
    assert closed.status_code == 200
    closed_case = closed.json()
    assert (closed_case["status"], closed_case["classification"]) == ("closed", "true_positive")
    assert closed_case["time_to_close_seconds"] > 0
    # Closed: nothing changes until reopened.
    again = client.patch(url, json={"severity": "low"}, headers=h)
    assert again.status_code == 409 and again.json()["code"] == "case_closed"
    # Sharing and markings still change after closure (shared once understood).
    later = client.patch(url, json={"shared": False, "tlp": "amber", "pap": "green"}, headers=h)
    assert later.status_code == 200
    assert (later.json()["shared"], later.json()["pap"]) == (False, "green")
    assert (
        client.post(f"{url}/alerts", json={"alert_ids": [str(scan)]}, headers=h).status_code == 409
    )
    reopened = client.post(f"{url}/reopen", json={"note": "tái diễn"}, headers=h).json()
    assert (reopened["status"], reopened["classification"], reopened["closed_at"]) == (
        "investigating",
        None,
        None,
    )
    assert client.post(f"{url}/reopen", headers=h).status_code == 409

    tasks = client.get(f"{url}/tasks", headers=h).json()
    assert tasks[-1]["playbook"] == "manual" and tasks[0]["playbook"] == "triage"
    timeline = client.get(f"{url}/timeline", headers=h).json()
    (seen,) = [i for i in timeline if i["kind"] == "event"]
    assert (seen["source_ip"], seen["destination_ip"]) == ("198.18.1.10", "198.18.0.200")
    actions = [i["action"] for i in timeline if i["kind"] == "entry"]
    assert actions == [
        "created", "alerts_added", "changed", "task_done", "task_added", "note", "alert_removed",
        "changed", "closed", "changed", "reopened",
    ]  # fmt: skip


def test_list_filters_and_pages(client: TestClient, users, make_alert, cleanup) -> None:
    h = bearer(users["admin"])
    alert = make_alert(labels={"source_ip": "198.18.2.1"})
    ids = []
    for i in range(3):
        body = {"title": f"page {i}", "severity": "low" if i else "critical"}
        if i == 0:
            body["alert_ids"] = [str(alert)]
        ids.append(client.post("/api/v1/cases", json=body, headers=h).json()["id"])
    cleanup["cases"].extend(ids)
    held = client.get("/api/v1/cases", params={"alert": str(alert)}, headers=h).json()
    assert [c["id"] for c in held] == [ids[0]]
    first = client.get("/api/v1/cases", params={"limit": 2}, headers=h)
    assert [c["id"] for c in first.json()] == [ids[2], ids[1]]
    link = first.headers["link"]
    assert 'rel="next"' in link
    following = client.get(link[1 : link.index(">")], headers=h).json()
    assert following[0]["id"] == ids[0]
    critical = client.get("/api/v1/cases", params={"severity": "critical", "limit": 500}, headers=h)
    assert ids[0] in {c["id"] for c in critical.json()} and ids[1] not in {
        c["id"] for c in critical.json()
    }


def test_observables_say_where_else_they_were_seen(
    client: TestClient, users, make_alert, cleanup
) -> None:
    h = bearer(users["csirt"])
    one = make_alert(labels={"source_ip": "198.18.3.3", "host_name": "mail1"})
    two = make_alert("sec.portscan", labels={"source_ip": "198.18.3.3"})
    a = client.post("/api/v1/cases", json={"title": "a", "alert_ids": [str(one)]}, headers=h)
    b = client.post("/api/v1/cases", json={"title": "b", "alert_ids": [str(two)]}, headers=h)
    cleanup["cases"].extend([a.json()["id"], b.json()["id"]])
    seen = client.get(
        f"/api/v1/cases/{a.json()['id']}/observables", params={"type": "ipv4"}, headers=h
    ).json()
    assert len(seen) == 1
    assert [c["id"] for c in seen[0]["other_cases"]] == [b.json()["id"]]
    hosts = client.get(
        f"/api/v1/cases/{a.json()['id']}/observables", params={"type": "host"}, headers=h
    ).json()
    assert [(o["value"], o["other_cases"], o["events_from_address"]) for o in hosts] == [
        ("mail1", [], None)
    ]


# ---- the grouping job ---------------------------------------------------------------------


def test_job_groups_by_source_within_window_and_opens_a_new_case_after_it(
    conn: psycopg.Connection, make_alert, cleanup
) -> None:
    now = datetime.now(UTC)
    job = _job(conn, cleanup)
    first = make_alert(labels={"source_ip": "198.18.4.4"}, at=now - timedelta(minutes=90))
    second = make_alert("sec.portscan", labels={"source_ip": "198.18.4.4"}, at=now)
    third = make_alert("sec.password_spray", labels={"source_ip": "198.18.4.4"}, at=now)
    assert _run(conn, job) == 3
    # The first is 90 minutes older than the others: past same_source's 60-minute window.
    (early,), (late,) = _cases_of(conn, first), _cases_of(conn, second)
    assert early != late and _cases_of(conn, third) == [late]
    case = case_store.get_case(conn, late)
    assert case is not None
    assert (case["grouping_rule"], case["grouping_key"], case["status"]) == (
        "same_source",
        "198.18.4.4",
        "new",
    )
    assert case["acknowledged_at"] is None and case["created_by"] == "system:case-grouping"
    assert case["title"] == "Hoạt động đáng ngờ từ 198.18.4.4"
    assert case["labels"]["title_en"] == "Suspicious activity from 198.18.4.4"
    # Run again: the cursor is past them; nothing is grouped twice.
    assert _run(conn, job) == 0
    fourth = make_alert(labels={"source_ip": "198.18.4.4"}, at=now + timedelta(minutes=1))
    assert _run(conn, job, later=120) == 1
    assert _cases_of(conn, fourth) == [late]
    cleanup["cases"].extend([early, late])


def test_job_leaves_mild_keyless_and_unsettled_alerts_and_skips_closed_cases(
    conn: psycopg.Connection, make_alert, cleanup
) -> None:
    job = _job(conn, cleanup)
    mild = make_alert(severity=0, labels={"source_ip": "198.18.5.5"})
    keyless = make_alert("sec.ids_alert", labels={"signature_id": "2010935"})
    # Not yet settled: `now` is the alert's own time, so the job does not read it yet.
    fresh = make_alert(labels={"source_ip": "198.18.5.6"})
    assert run_exclusive(conn, job.name, job, datetime.now(UTC)) == 0
    assert _run(conn, job) == 1
    assert _cases_of(conn, mild) == [] and _cases_of(conn, keyless) == []
    (case_id,) = _cases_of(conn, fresh)
    cleanup["cases"].append(case_id)
    conn.execute(
        "UPDATE cases SET status = 'closed', classification = 'benign', closed_at = now()"
        " WHERE id = %s",
        (case_id,),
    )
    after = make_alert(labels={"source_ip": "198.18.5.6"}, at=datetime.now(UTC))
    assert _run(conn, job, later=120) == 1
    (other,) = _cases_of(conn, after)
    assert other != case_id
    cleanup["cases"].append(other)


def test_job_threshold_opens_a_case_only_when_enough_alerts_share_the_key(
    conn: psycopg.Connection, make_alert, cleanup
) -> None:
    grouping = Grouping(
        version=1, lookback_minutes=60, tlp="red",
        rules=[GroupingRule(id="pair", key="source_ip", window_minutes=30, min_alerts=2,
                            title=Title(vi="Cặp {key}", en="Pair {key}"))],
    )  # fmt: skip
    job = _job(conn, cleanup, grouping=grouping)
    one = make_alert(labels={"source_ip": "198.18.6.6"})
    assert _run(conn, job) == 0 and _cases_of(conn, one) == []
    two = make_alert("sec.portscan", labels={"source_ip": "198.18.6.6"})
    assert _run(conn, job, later=90) == 2
    (case_id,) = _cases_of(conn, one)
    assert _cases_of(conn, two) == [case_id]
    case = case_store.get_case(conn, case_id)
    assert case is not None and (case["tlp"], case["title"]) == ("red", "Cặp 198.18.6.6")
    cleanup["cases"].append(case_id)


def test_where_else_seen_gives_up_rather_than_holding_the_page(conn: psycopg.Connection) -> None:
    from api.routers.cases import _bounded

    # A query past the statement timeout (2 s) gives the fallback, and the connection
    # is usable after it.
    assert _bounded(conn, lambda: conn.execute("SELECT pg_sleep(10)").fetchone(), "unknown") == (
        "unknown"
    )
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_job_keeps_one_host_name_of_two_agencies_apart(
    conn: psycopg.Connection, make_alert, cleanup
) -> None:
    job = _job(conn, cleanup)
    one = make_alert("sigma.t-cases", labels={"host_name": "pc-198-18", "agency": "so-a"})
    two = make_alert("sigma.t-cases", labels={"host_name": "pc-198-18", "agency": "so-b"})
    again = make_alert("sigma.t-cases", labels={"host_name": "pc-198-18", "agency": "so-a"})
    assert _run(conn, job) == 3
    (a,), (b,) = _cases_of(conn, one), _cases_of(conn, two)
    cleanup["cases"].extend([a, b])
    assert a != b and _cases_of(conn, again) == [a]
    case = case_store.get_case(conn, a)
    assert case is not None and case["grouping_key"] == "pc-198-18 [agency=so-a]"
    assert case["title"] == "Hoạt động đáng ngờ trên máy pc-198-18"
