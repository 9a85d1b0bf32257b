"""The console's cases view (/console/cases/) in a real browser (Debian's chromium driven
by Playwright) on the real API process: a case with alerts, events and a note whose texts
are hostile markup shows them as text; the CSIRT takes it, ticks a task, closes it.
Screenshots land in $CONSOLE_SCREENSHOTS_DIR (default: a temporary directory) and are
looked at by a person."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from config.settings import Settings
from store.users import create_user, delete_user
from tests.integration.api_server import api_process

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or tempfile.gettempdir()) / "console"
WAIT_MS = 15_000
ATTACKER = "198.18.7.7"
HOSTILE = '<img src=x onerror="document.title=1">'


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


def _alert(conn: psycopg.Connection, rule: str, title: str, at: datetime, events: list[str]) -> str:
    alert_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
        " labels, title_vi, title_en, alert_values, event_ids, technique_ids, started_at,"
        " updated_at) VALUES (%s, %s, %s, 'security', 'firing', 3, 3, %s, %s, %s, %s, %s,"
        " %s, %s, %s)",
        (
            alert_id, f"t-cases-console-{alert_id}", rule, Jsonb({"source_ip": ATTACKER}),
            title, title, Jsonb({"users": ["root", "admin"]}), events, ["T1110.001"], at, at,
        ),
    )  # fmt: skip
    return alert_id


def _event(conn: psycopg.Connection, at: datetime, message: str) -> str:
    event_id = f"t-cases-console-{uuid.uuid4().hex}"
    conn.execute(
        "INSERT INTO security_events (time, event_id, dataset, source_ip, user_name, host_name,"
        " message, ecs, raw) VALUES (%s, %s, 'system.auth', %s, 'root', 'web1', %s, '{}', 'x')",
        (at, event_id, ATTACKER, message),
    )
    return event_id


@pytest.fixture
def case(db: psycopg.Connection, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(API url, csirt token, case id)."""
    now = datetime.now(UTC)
    events = [
        _event(db, now - timedelta(minutes=9, seconds=-i), f"Failed password for root {HOSTILE}")
        for i in range(3)
    ]
    brute = _alert(
        db, "sec.bruteforce", f"Dò mật khẩu từ {ATTACKER}", now - timedelta(minutes=8), events
    )
    hostile = _alert(db, "sec.portscan", f"Quét cổng {HOSTILE}", now - timedelta(minutes=7), [])
    user, token = create_user(db, f"t-cases-console-{uuid.uuid4().hex[:8]}", "csirt")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with api_process({"IOC_API_TOKEN_REQUESTS": "100000/minute"}, tmp_path / "api.log") as url:
            body = {"title": f"Tấn công SSH từ {ATTACKER}", "alert_ids": [brute, hostile]}
            made = httpx.post(f"{url}/api/v1/cases", json=body, headers=headers)
            assert made.status_code == 201, made.text
            case_id = made.json()["id"]
            note = {"note": f"Nghi vấn tài khoản root bị lộ {HOSTILE}"}
            httpx.post(f"{url}/api/v1/cases/{case_id}/notes", json=note, headers=headers)
            yield url, token, case_id
    finally:
        delete_user(db, user.name)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: deploy/local/bootstrap.sh installs Debian's chromium")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_cases_view_shows_a_case_as_text_and_works_it_to_closure(browser, case) -> None:
    url, token, case_id = case
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="vi-VN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/console/cases/")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector(f".case[data-id='{case_id}']", timeout=WAIT_MS)
    page.click(f".case[data-id='{case_id}']")
    page.wait_for_selector("#d-timeline li.k-event", timeout=WAIT_MS)

    # Hostile titles, events and notes are text: no element made from them, title intact.
    assert page.locator("#detail img").count() == 0
    assert page.title() == "Vụ việc an ninh — IOC"
    timeline = page.inner_text("#d-timeline")
    assert HOSTILE in timeline and "Nghi vấn tài khoản root" in timeline
    observables = page.inner_text("#d-observables")
    assert ATTACKER in observables and "root" in observables and "web1" in observables
    assert page.locator("#d-tasks li").count() > 0
    _shot(page, "cases-detail.png")

    page.click("#d-take")
    page.wait_for_function(
        "() => document.querySelector('#d-facts').innerText.includes('t-cases-console-')",
        timeout=WAIT_MS,
    )
    page.locator("#d-tasks input[type=checkbox]").first.check()
    page.wait_for_selector("#d-tasks li.done", timeout=WAIT_MS)
    page.select_option("#d-class", "true_positive")
    page.fill("#d-note", "Đã chặn IP, đổi mật khẩu root")
    page.click("#d-close")
    page.wait_for_selector("#d-reopen:not([hidden])", timeout=WAIT_MS)
    facts = page.inner_text("#d-facts")
    assert "Đã đóng" in facts and "Sự cố thật" in facts
    _shot(page, "cases-closed.png")
    assert errors == []

    closed = httpx.get(
        f"{url}/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
    )
    body = closed.json()
    assert (body["status"], body["classification"], body["tasks_done"]) == (
        "closed",
        "true_positive",
        1,
    )
    assert body["time_to_acknowledge_seconds"] is not None
