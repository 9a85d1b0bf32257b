"""The HTTP API on the real database: tokens and roles, alert visibility and actions,
silences, telemetry, security events, the console files and the live event stream."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.app import create_app
from api.feed import APPLICATION_NAME
from api.routers import live
from config.settings import Settings
from processors.alerts import lifecycle
from processors.alerts.exports.cap import validate_cap
from store.devices import DeviceSpec, upsert_device
from store.users import create_user, delete_user, revoke_user

pytestmark = pytest.mark.integration

ROLES = ("admin", "operator", "csirt", "viewer")
WAIT = 30.0  # upper bound for waits that normally end at once; never asserted on


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def users(conn: psycopg.Connection) -> Iterator[dict[str, dict[str, str]]]:
    """One user per role: role → {"name", "token"}."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ROLES:
        user, token = create_user(conn, f"t-api-{tag}-{role}", role)
        made[role] = {"name": user.name, "token": token}
    yield made
    names = [u["name"] for u in made.values()]
    conn.execute("DELETE FROM silences WHERE created_by = ANY(%s)", (names,))
    for name in names:
        delete_user(conn, name)


def bearer(user: dict[str, str]) -> dict[str, str]:
    # English problem details, so the assertions below read the English text.
    return {"Authorization": f"Bearer {user['token']}", "Accept-Language": "en"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def make_alert(conn: psycopg.Connection) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def insert(
        domain: str,
        *,
        title: str = "Mực nước vượt báo động II",
        severity: int = 2,
        status: str = "firing",
        labels: dict[str, str] | None = None,
        rule: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> str:
        alert_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity,"
            " peak_severity, labels, title_vi, title_en, summary_vi, summary_en,"
            " alert_values, started_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s)",
            (
                alert_id, f"test-{alert_id}", rule or f"test.{domain}", domain, status,
                severity, severity, Jsonb(labels or {"device_id": "kg-wl-001"}), title,
                f"EN {title}", "tóm tắt", "summary", Jsonb(values or {}), now, now,
            ),
        )  # fmt: skip
        made.append(alert_id)
        return alert_id

    yield insert
    conn.execute("DELETE FROM alerts WHERE id = ANY(%s::uuid[])", (made,))


def history(conn: psycopg.Connection, alert_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT actor, action, status, note FROM alert_history WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    ).fetchall()


# -- authentication ------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_refused(
    client: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    missing = client.get("/api/v1/alerts", headers={"Accept-Language": "en"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "bearer token is required" in missing.json()["detail"]

    wrong = client.get(
        "/api/v1/alerts",
        headers={"Authorization": "Bearer not-a-token", "Accept-Language": "en"},
    )
    assert wrong.status_code == 401
    assert "invalid or revoked" in wrong.json()["detail"]

    # The query-string token is for the event stream only.
    token = users["admin"]["token"]
    assert client.get("/api/v1/alerts", params={"access_token": token}).status_code == 401

    assert client.get("/api/v1/alerts", headers=bearer(users["viewer"])).status_code == 200
    assert revoke_user(conn, users["viewer"]["name"])
    revoked = client.get("/api/v1/alerts", headers=bearer(users["viewer"]))
    assert revoked.status_code == 401


def test_me_reports_role_and_domains(client: TestClient, users: dict[str, dict[str, str]]) -> None:
    viewer = client.get("/api/v1/me", headers=bearer(users["viewer"])).json()
    assert viewer["role"] == "viewer"
    assert "security" not in viewer["visible_domains"]
    assert viewer["acting_domains"] == []
    csirt = client.get("/api/v1/me", headers=bearer(users["csirt"])).json()
    assert set(csirt["visible_domains"]) == {"environment", "camera", "health", "security"}
    assert csirt["acting_domains"] == ["security"]


# -- alert visibility ----------------------------------------------------------------------


def test_security_alerts_are_invisible_to_a_viewer_and_visible_to_the_csirt(
    client: TestClient, users: dict[str, dict[str, str]], make_alert: Callable[..., str]
) -> None:
    security = make_alert("security", title="SSH brute force từ 203.0.113.7")
    environment = make_alert("environment")

    def listed(role: str, **params: str) -> set[str]:
        response = client.get(
            "/api/v1/alerts", params={"limit": "500", **params}, headers=bearer(users[role])
        )
        assert response.status_code == 200, response.text
        return {a["id"] for a in response.json()}

    viewer_ids = listed("viewer")
    assert environment in viewer_ids
    assert security not in viewer_ids
    assert listed("viewer", domain="security") == set()
    assert security not in listed("operator")

    hidden = client.get(f"/api/v1/alerts/{security}", headers=bearer(users["viewer"]))
    absent = client.get(f"/api/v1/alerts/{uuid.uuid4()}", headers=bearer(users["viewer"]))
    # Hidden and absent look the same, so a viewer cannot probe for security alerts.
    assert hidden.status_code == absent.status_code == 404

    assert {security, environment} <= listed("csirt")
    assert security in listed("csirt", domain="security", status="open", severity="medium")
    assert security not in listed("csirt", severity="high")
    detail = client.get(f"/api/v1/alerts/{security}", headers=bearer(users["csirt"]))
    assert detail.status_code == 200
    assert detail.json()["domain"] == "security"
    assert detail.json()["severity_label"] == "medium"
    assert detail.json()["history"] == []


def test_list_filters_are_validated(client: TestClient, users: dict[str, dict[str, str]]) -> None:
    headers = bearer(users["admin"])
    assert client.get("/api/v1/alerts?status=done", headers=headers).status_code == 422
    assert client.get("/api/v1/alerts?severity=huge", headers=headers).status_code == 422
    assert client.get("/api/v1/alerts?limit=0", headers=headers).status_code == 422
    naive = client.get("/api/v1/alerts?since=2026-11-24T08:00:00", headers=headers)
    assert naive.status_code == 422
    assert "timezone" in naive.json()["errors"][0]["msg"]
    assert client.get("/api/v1/alerts/not-a-uuid", headers=headers).status_code == 422


# -- alert actions -------------------------------------------------------------------------


def test_operator_acknowledges_an_environment_alert_once(
    client: TestClient,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
    conn: psycopg.Connection,
) -> None:
    alert_id = make_alert("environment")
    operator = users["operator"]
    response = client.post(
        f"/api/v1/alerts/{alert_id}/ack",
        json={"note": "Đã báo đội ứng cứu"},
        headers=bearer(operator),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == operator["name"]
    assert body["history"][-1]["actor"] == operator["name"]
    assert body["history"][-1]["note"] == "Đã báo đội ứng cứu"
    assert body["history"][-1]["note_en"] is None  # an operator's words, shown as typed
    assert history(conn, alert_id) == [
        (operator["name"], "acknowledged", "acknowledged", "Đã báo đội ứng cứu")
    ]

    # No body at all is a note-less acknowledgement.
    again = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=bearer(operator))
    assert again.status_code == 409
    assert again.json()["detail"] == "this alert is already acknowledged"
    assert again.json()["type"] == "urn:ioc:problem:already_acknowledged"
    in_vietnamese = client.post(
        f"/api/v1/alerts/{alert_id}/ack", headers={**bearer(operator), "Accept-Language": "vi"}
    )
    assert in_vietnamese.json()["detail"] == "Cảnh báo này đã được xác nhận rồi"
    assert len(history(conn, alert_id)) == 1

    resolved = client.post(
        f"/api/v1/alerts/{alert_id}/resolve", json={"note": "Nước đã rút"}, headers=bearer(operator)
    )
    assert resolved.status_code == 200
    assert resolved.json()["resolved_by"] == operator["name"]
    twice = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=bearer(operator))
    assert twice.status_code == 409
    assert twice.json()["detail"] == "this alert is already resolved"


def test_roles_that_may_not_act_are_refused(
    client: TestClient,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
    conn: psycopg.Connection,
) -> None:
    environment = make_alert("environment")
    security = make_alert("security")

    viewer = client.post(
        f"/api/v1/alerts/{environment}/ack", json={}, headers=bearer(users["viewer"])
    )
    assert viewer.status_code == 403
    assert "viewer" in viewer.json()["detail"]
    csirt_env = client.post(
        f"/api/v1/alerts/{environment}/ack", json={}, headers=bearer(users["csirt"])
    )
    assert csirt_env.status_code == 403

    # The operator cannot see a security alert, so acting on it is "not found".
    for action in ("ack", "resolve", "notes"):
        response = client.post(
            f"/api/v1/alerts/{security}/{action}",
            json={"note": "x"},
            headers=bearer(users["operator"]),
        )
        assert response.status_code == 404, action
    assert history(conn, security) == []

    csirt = client.post(
        f"/api/v1/alerts/{security}/resolve",
        json={"note": "chặn IP"},
        headers=bearer(users["csirt"]),
    )
    assert csirt.status_code == 200
    admin = client.post(
        f"/api/v1/alerts/{environment}/ack", json={}, headers=bearer(users["admin"])
    )
    assert admin.status_code == 200


def test_notes_need_text_and_are_kept(
    client: TestClient,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
    conn: psycopg.Connection,
) -> None:
    alert_id = make_alert("camera")
    headers = bearer(users["operator"])
    assert (
        client.post(
            f"/api/v1/alerts/{alert_id}/notes", json={"note": ""}, headers=headers
        ).status_code
        == 422
    )
    blank = client.post(f"/api/v1/alerts/{alert_id}/notes", json={"note": "   "}, headers=headers)
    assert blank.status_code == 422
    assert "needs some text" in blank.json()["detail"]
    too_long = client.post(
        f"/api/v1/alerts/{alert_id}/notes", json={"note": "x" * 4001}, headers=headers
    )
    assert too_long.status_code == 422
    added = client.post(
        f"/api/v1/alerts/{alert_id}/notes", json={"note": "camera bị che"}, headers=headers
    )
    assert added.status_code == 200
    assert added.json()["status"] == "firing"
    assert history(conn, alert_id) == [
        (users["operator"]["name"], "note", "firing", "camera bị che")
    ]


def test_hostile_alert_text_is_returned_as_data(
    client: TestClient, users: dict[str, dict[str, str]], make_alert: Callable[..., str]
) -> None:
    title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    alert_id = make_alert("environment", title=title, labels={"host": "<b>h</b>"})
    response = client.get(f"/api/v1/alerts/{alert_id}", headers=bearer(users["viewer"]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["title_vi"] == title
    assert response.json()["labels"] == {"host": "<b>h</b>"}


# -- silences ------------------------------------------------------------------------------


def silence_body(matchers: list[dict[str, str]], hours: float = 2) -> dict[str, Any]:
    start = datetime.now(UTC)
    return {
        "matchers": matchers,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        "reason": "bảo trì trạm",
    }


def test_silences_create_list_expire(client: TestClient, users: dict[str, dict[str, str]]) -> None:
    operator = bearer(users["operator"])
    env_matchers = [
        {"name": "domain", "value": "environment"},
        {"name": "device_id", "op": "=~", "value": "kg-wl-.*"},
    ]
    created = client.post("/api/v1/silences", json=silence_body(env_matchers), headers=operator)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["created_by"] == users["operator"]["name"]
    assert silence["active"] is True

    listed = client.get("/api/v1/silences", headers=bearer(users["viewer"])).json()
    assert silence["id"] in {s["id"] for s in listed}

    expired = client.delete(f"/api/v1/silences/{silence['id']}", headers=operator)
    assert expired.status_code == 200
    assert expired.json()["active"] is False
    assert expired.json()["expired_by"] == users["operator"]["name"]
    assert client.delete(f"/api/v1/silences/{silence['id']}", headers=operator).status_code == 409
    active = client.get("/api/v1/silences", headers=operator).json()
    assert silence["id"] not in {s["id"] for s in active}
    everything = client.get("/api/v1/silences?include_expired=true", headers=operator).json()
    assert silence["id"] in {s["id"] for s in everything}
    assert client.delete(f"/api/v1/silences/{uuid.uuid4()}", headers=operator).status_code == 404


def test_silence_validation_errors(client: TestClient, users: dict[str, dict[str, str]]) -> None:
    headers = bearer(users["operator"])
    bad_regex = [
        {"name": "domain", "value": "environment"},
        {"name": "device_id", "op": "=~", "value": "kg-(wl"},
    ]
    response = client.post("/api/v1/silences", json=silence_body(bad_regex), headers=headers)
    assert response.status_code == 422
    assert "regular expression" in response.text

    backwards = silence_body([{"name": "domain", "value": "environment"}], hours=-1)
    response = client.post("/api/v1/silences", json=backwards, headers=headers)
    assert response.status_code == 422
    assert "ends_at must be after starts_at" in response.text

    naive = silence_body([{"name": "domain", "value": "environment"}])
    naive["starts_at"] = "2026-11-24T08:00:00"
    assert client.post("/api/v1/silences", json=naive, headers=headers).status_code == 422
    no_matchers = silence_body([])
    assert client.post("/api/v1/silences", json=no_matchers, headers=headers).status_code == 422


def test_silence_scope_follows_the_role(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    unscoped = silence_body([{"name": "device_id", "value": "kg-wl-001"}])
    security = silence_body([{"name": "domain", "value": "security"}])

    viewer = client.post("/api/v1/silences", json=unscoped, headers=bearer(users["viewer"]))
    assert viewer.status_code == 403
    operator = client.post("/api/v1/silences", json=unscoped, headers=bearer(users["operator"]))
    assert operator.status_code == 403
    assert (
        "domain = camera | environment | epidemics | health | pests | plates"
        in operator.json()["detail"]
    )
    assert (
        client.post(
            "/api/v1/silences", json=security, headers=bearer(users["operator"])
        ).status_code
        == 403
    )

    csirt = client.post("/api/v1/silences", json=security, headers=bearer(users["csirt"]))
    assert csirt.status_code == 201
    silence_id = csirt.json()["id"]
    # A security silence is CSIRT business: hidden from the viewer, 404 to the operator.
    viewer_list = client.get("/api/v1/silences", headers=bearer(users["viewer"])).json()
    assert silence_id not in {s["id"] for s in viewer_list}
    assert (
        client.delete(
            f"/api/v1/silences/{silence_id}", headers=bearer(users["operator"])
        ).status_code
        == 404
    )
    admin = client.post("/api/v1/silences", json=unscoped, headers=bearer(users["admin"]))
    assert admin.status_code == 201


# -- devices and telemetry -----------------------------------------------------------------


@pytest.fixture
def device(conn: psycopg.Connection) -> Iterator[str]:
    device_id = f"t-api-{uuid.uuid4().hex[:8]}"
    upsert_device(
        conn,
        DeviceSpec(id=device_id, type="water_level", province="Kiên Giang", lat=10.01, lon=105.08),
    )
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO measurements (time, device_id, metric, value, quality)"
            " VALUES (%s, %s, %s, %s, 0)",
            [
                (base + timedelta(minutes=i), device_id, "waterLevel", 1.0 + i / 100)
                for i in range(10)
            ],
        )
    yield device_id
    conn.execute("DELETE FROM measurements WHERE device_id = %s", (device_id,))
    conn.execute("DELETE FROM devices WHERE id = %s", (device_id,))


def test_devices_and_telemetry(
    client: TestClient, users: dict[str, dict[str, str]], device: str
) -> None:
    headers = bearer(users["viewer"])
    listed = client.get("/api/v1/devices", headers=headers)
    assert device in {d["id"] for d in listed.json()}
    one = client.get(f"/api/v1/devices/{device}", headers=headers).json()
    assert one["province"] == "Kiên Giang"
    assert "mqtt_password_hash" not in one
    assert client.get("/api/v1/devices/nope-404", headers=headers).status_code == 404

    latest = client.get(f"/api/v1/devices/{device}/latest", headers=headers).json()
    assert [(r["metric"], r["value"]) for r in latest] == [("waterLevel", 1.09)]

    series = client.get(
        f"/api/v1/devices/{device}/series", params={"metric": "waterLevel"}, headers=headers
    )
    assert series.status_code == 200
    assert len(series.json()["points"]) == 10
    assert series.json()["resolution"] == "raw"

    now = datetime.now(UTC)
    backwards = client.get(
        f"/api/v1/devices/{device}/series",
        params={
            "metric": "waterLevel",
            "start": now.isoformat(),
            "end": (now - timedelta(hours=1)).isoformat(),
        },
        headers=headers,
    )
    assert backwards.status_code == 422
    assert "end must be after start" in backwards.json()["detail"]
    too_long = client.get(
        f"/api/v1/devices/{device}/series",
        params={
            "metric": "waterLevel",
            "start": (now - timedelta(days=30)).isoformat(),
            "resolution": "raw",
        },
        headers=headers,
    )
    assert too_long.status_code == 422
    hourly = client.get(
        f"/api/v1/devices/{device}/series",
        params={
            "metric": "waterLevel",
            "start": (now - timedelta(days=30)).isoformat(),
            "resolution": "1h",
        },
        headers=headers,
    )
    assert hourly.status_code == 200
    assert (
        client.get(
            f"/api/v1/devices/{device}/series",
            params={"metric": "waterLevel", "resolution": "5m"},
            headers=headers,
        ).status_code
        == 422
    )
    assert client.get("/api/v1/devices/nope-404/latest", headers=headers).status_code == 404


# -- exports -------------------------------------------------------------------------------


def test_cap_export_of_an_environment_alert(
    client: TestClient,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
    device: str,
) -> None:
    flood = make_alert(
        "environment",
        severity=3,
        rule="env.water_level",
        labels={"device_id": device},
        values={"value": 2.31, "level": "bd2", "threshold": 2.2},
    )
    response = client.get(f"/api/v1/alerts/{flood}/cap", headers=bearer(users["viewer"]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/cap+xml"
    validate_cap(response.content)
    root = ET.fromstring(response.content)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert root.findtext("cap:msgType", namespaces=ns) == "Alert"
    assert [i.findtext("cap:language", namespaces=ns) for i in root.iterfind("cap:info", ns)] == [
        "vi-VN",
        "en-US",
    ]
    assert "Kiên Giang" in (root.findtext(".//cap:areaDesc", namespaces=ns) or "")

    not_a_kind = make_alert("environment", rule="env.noise", labels={"device_id": device})
    refused = client.get(f"/api/v1/alerts/{not_a_kind}/cap", headers=bearer(users["viewer"]))
    assert refused.status_code == 422
    assert "not published as CAP" in refused.json()["detail"]
    nowhere = make_alert("environment", rule="env.water_level", labels={"device_id": "nope"})
    unplaced = client.get(f"/api/v1/alerts/{nowhere}/cap", headers=bearer(users["viewer"]))
    assert unplaced.status_code == 422
    assert "registered station" in unplaced.json()["detail"]

    security = make_alert("security")
    assert (
        client.get(f"/api/v1/alerts/{security}/cap", headers=bearer(users["viewer"])).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/alerts/{security}/cap", headers=bearer(users["csirt"])).status_code
        == 422
    )


def test_stix_export_for_the_csirt(
    client: TestClient, users: dict[str, dict[str, str]], make_alert: Callable[..., str]
) -> None:
    security = make_alert(
        "security",
        severity=3,
        rule="sigma.ssh_bruteforce",
        labels={"source_ip": "203.0.113.7", "host": "<b>cong-dich-vu</b>"},
    )
    environment = make_alert("environment")
    csirt = bearer(users["csirt"])
    for role in ("viewer", "operator"):
        refused = client.get(
            "/api/v1/exports/stix", params={"alert_id": security}, headers=bearer(users[role])
        )
        assert refused.status_code == 403

    one = client.get("/api/v1/exports/stix", params={"alert_id": security}, headers=csirt)
    assert one.status_code == 200, one.text
    assert one.headers["content-type"].startswith("application/stix+json")
    bundle = one.json()
    assert bundle["type"] == "bundle"
    kinds = [o["type"] for o in bundle["objects"]]
    assert {"identity", "indicator", "sighting", "marking-definition"} <= set(kinds)
    patterns = [o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"]
    assert patterns == ["[ipv4-addr:value = '203.0.113.7']"]

    not_security = client.get(
        "/api/v1/exports/stix", params={"alert_id": environment}, headers=csirt
    )
    assert not_security.status_code == 422
    assert "only security alerts" in not_security.json()["detail"]
    missing = client.get(
        "/api/v1/exports/stix", params={"alert_id": str(uuid.uuid4())}, headers=csirt
    )
    assert missing.status_code == 404

    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    ranged = client.get("/api/v1/exports/stix", params=window, headers=csirt)
    assert ranged.status_code == 200
    sighted = {
        ref.get("external_id")
        for o in ranged.json()["objects"]
        if o["type"] == "sighting"
        for ref in o["external_references"]
    }
    assert security in sighted
    assert environment not in sighted
    assert int(ranged.headers["x-ioc-skipped"]) >= 0

    both = client.get(
        "/api/v1/exports/stix", params={"alert_id": security, **window}, headers=csirt
    )
    assert both.status_code == 422
    assert client.get("/api/v1/exports/stix", headers=csirt).status_code == 422
    backwards = {"start": window["end"], "end": window["start"]}
    assert client.get("/api/v1/exports/stix", params=backwards, headers=csirt).status_code == 422


# -- security events -----------------------------------------------------------------------


def test_security_events_are_for_the_csirt(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    for role in ("viewer", "operator"):
        response = client.get("/api/v1/security/events", headers=bearer(users[role]))
        assert response.status_code == 403
        assert "csirt" in response.json()["detail"]
    ok = client.get(
        "/api/v1/security/events",
        params={"source_ip": "203.0.113.7"},
        headers=bearer(users["csirt"]),
    )
    assert ok.status_code == 200
    assert isinstance(ok.json(), list)
    bad = client.get(
        "/api/v1/security/events", params={"source_ip": "not-an-ip"}, headers=bearer(users["csirt"])
    )
    assert bad.status_code == 422


# -- console -------------------------------------------------------------------------------


def test_console_is_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/console/")
    assert page.status_code == 200
    assert "console.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/console/console.js")
    assert script.status_code == 200
    assert "EventSource" in script.text
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ok"


# -- live stream ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not instance.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(WAIT)


class EventStream:
    """Reads a Server-Sent Events stream in a thread; events land in a queue."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.status: queue.Queue[int] = queue.Queue()
        self.ended = threading.Event()  # the server closed the stream (or close() did)
        self._client = httpx.Client(timeout=httpx.Timeout(WAIT, read=None))
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        try:
            with self._client.stream("GET", url, params={"access_token": token}) as response:
                self._response = response
                self.status.put(response.status_code)
                name, data = "message", []
                for line in response.iter_lines():
                    if line == "":
                        if data:
                            self.events.put((name, "\n".join(data)))
                        name, data = "message", []
                    elif line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()
        finally:
            self.ended.set()

    def next(self, name: str) -> str:
        while True:
            got, data = self.events.get(timeout=WAIT)
            if got == name:
                return data

    def close(self) -> None:
        self._client.close()
        self._thread.join(WAIT)


def _change(settings: Settings, alert_id: str) -> None:
    """A real alert change through the lifecycle, which NOTIFYs on commit."""
    with psycopg.connect(settings.dsn(), autocommit=True) as connection, connection.transaction():
        lifecycle.acknowledge(connection, alert_id, "t-api-stream", "")


def _kill_listener(conn: psycopg.Connection) -> None:
    """End the API's LISTEN connection; its feed reconnects after a second."""
    killed = conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
        (APPLICATION_NAME,),
    ).fetchone()
    assert killed == (1,)


def test_stream_refuses_without_token(client: TestClient) -> None:
    assert client.get("/api/v1/alerts/stream").status_code == 401
    bad = client.get("/api/v1/alerts/stream", params={"access_token": "nope"})
    assert bad.status_code == 401


def test_stream_delivers_changes_by_visibility(
    server: str,
    settings: Settings,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
) -> None:
    security = make_alert("security")
    environment = make_alert("environment")
    url = f"{server}/api/v1/alerts/stream"
    csirt = EventStream(url, users["csirt"]["token"])
    viewer = EventStream(url, users["viewer"]["token"])
    try:
        assert csirt.status.get(timeout=WAIT) == 200
        assert viewer.status.get(timeout=WAIT) == 200
        assert '"role":"csirt"' in csirt.next("ready")
        assert '"role":"viewer"' in viewer.next("ready")

        _change(settings, security)
        _change(settings, environment)

        def alert_ids(stream: EventStream, until: str) -> list[str]:
            seen = []
            while until not in seen:
                seen.append(json.loads(stream.next("alert"))["id"])
            return seen

        csirt_seen = alert_ids(csirt, environment)
        assert csirt_seen.index(security) < csirt_seen.index(environment)
        # Notifications arrive in commit order: had the viewer been sent the security
        # change, it would be here, before the environment one.
        assert security not in alert_ids(viewer, environment)
    finally:
        csirt.close()
        viewer.close()


def test_stream_says_resync_after_the_listener_reconnects(
    server: str,
    settings: Settings,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
) -> None:
    alert_id = make_alert("health")
    stream = EventStream(f"{server}/api/v1/alerts/stream", users["operator"]["token"])
    try:
        assert stream.status.get(timeout=WAIT) == 200
        stream.next("ready")
        with psycopg.connect(settings.dsn(), autocommit=True) as connection:
            _kill_listener(connection)
        # Changes made while the listener was away are not replayed: the client is told
        # to reload instead, and later changes arrive again.
        stream.next("resync")
        _change(settings, alert_id)
        assert json.loads(stream.next("alert"))["id"] == alert_id
    finally:
        stream.close()


def test_stream_ends_when_its_user_is_revoked(
    server: str,
    settings: Settings,
    conn: psycopg.Connection,
    users: dict[str, dict[str, str]],
    make_alert: Callable[..., str],
) -> None:
    alert_id = make_alert("environment")
    url = f"{server}/api/v1/alerts/stream"
    viewer = EventStream(url, users["viewer"]["token"])
    operator = EventStream(url, users["operator"]["token"])
    try:
        viewer.next("ready")
        operator.next("ready")
        assert revoke_user(conn, users["viewer"]["name"])
        viewer.next("revoked")
        assert viewer.ended.wait(WAIT), "the revoked user's stream stayed open"
        # Someone else's revocation leaves a stream as it was.
        _change(settings, alert_id)
        assert json.loads(operator.next("alert"))["id"] == alert_id
        assert not operator.ended.is_set()
        again = EventStream(url, users["viewer"]["token"])
        assert again.status.get(timeout=WAIT) == 401
        again.close()
    finally:
        viewer.close()
        operator.close()


def _revoke_silently(conn: psycopg.Connection, name: str) -> None:
    """A revocation whose announcement never reached the feed."""
    conn.execute("UPDATE api_users SET revoked_at = now() WHERE name = %s", (name,))


def test_stream_ends_after_a_resync_when_its_user_was_revoked_meanwhile(
    server: str, settings: Settings, conn: psycopg.Connection, users: dict[str, dict[str, str]]
) -> None:
    stream = EventStream(f"{server}/api/v1/alerts/stream", users["csirt"]["token"])
    try:
        stream.next("ready")
        _revoke_silently(conn, users["csirt"]["name"])
        _kill_listener(conn)
        stream.next("revoked")
        assert stream.ended.wait(WAIT)
    finally:
        stream.close()


def test_a_quiet_stream_checks_its_user_now_and_then(
    server: str,
    conn: psycopg.Connection,
    users: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "REVALIDATE_SECONDS", 0.3)
    stream = EventStream(f"{server}/api/v1/alerts/stream", users["operator"]["token"])
    try:
        stream.next("ready")
        time.sleep(1.0)  # several checks while the user is active: the stream stays
        assert not stream.ended.is_set()
        _revoke_silently(conn, users["operator"]["name"])
        stream.next("revoked")
        assert stream.ended.wait(WAIT)
    finally:
        stream.close()
