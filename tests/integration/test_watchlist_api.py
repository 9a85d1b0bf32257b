"""The plate watch list through the API and `ioc watchlist`, on the real database: any
spelling of a plate is one entry (added, replaced, found, removed), every entry says why
and who added it, only operators and admins use it, and bad input is a 4xx problem."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from events.camera_records import PlateRead
from processors.cameras.plates import normalise
from store import plates
from store.cameras import watch_hits
from tests.integration import camera_api
from tests.integration.camera_api import as_, assert_problem, client_for, pages
from tests.integration.harness import IOC_BIN

pytestmark = pytest.mark.integration

URL = "/api/v1/watchlist"
conn = camera_api.conn
users = camera_api.users


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with client_for(settings) as client:
        yield client


# The plates these tests list; other tests' entries are left alone.
PLATES = ("51F-123.45", "30A-999.99", "65C1-234.56", "29B-000.01", "92H-456.78", "51F1-234.56")


@pytest.fixture(autouse=True)
def clear(conn: psycopg.Connection) -> Iterator[None]:
    def forget() -> None:
        norms = [normalise(p) for p in PLATES]
        conn.execute("DELETE FROM plate_watchlist WHERE plate_norm = ANY(%s)", (norms,))

    forget()
    yield
    forget()


def stored(conn: psycopg.Connection) -> int:
    norms = [normalise(p) for p in PLATES]
    row = conn.execute(
        "SELECT count(*) FROM plate_watchlist WHERE plate_norm = ANY(%s)", (norms,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_any_spelling_is_one_entry_added_replaced_found_and_removed(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    operator, admin = as_(users, "operator"), as_(users, "admin")
    added = api.post(URL, headers=operator, json={"plate": "51F-123.45", "reason": "xe tang vật"})
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["plate"] == "51F-123.45"
    assert entry["plate_norm"] == normalise("51F-123.45") == normalise("51F12345")
    assert entry["reason"] == "xe tang vật" and entry["active"] is True
    assert entry["added_by"] == f"api:{users['operator']['name']}"
    assert entry["expires_at"] is None

    # The same plate as another camera writes it, by another person: the entry is replaced.
    expires = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    again = api.post(
        URL,
        headers=admin,
        json={"plate": "51F12345", "reason": "truy tìm", "expires_at": expires.isoformat()},
    )
    assert again.status_code == 200, again.text
    replaced = again.json()
    assert replaced["plate_norm"] == entry["plate_norm"] and replaced["plate"] == "51F12345"
    assert replaced["reason"] == "truy tìm"
    assert replaced["added_by"] == f"api:{users['admin']['name']}"
    assert datetime.fromisoformat(replaced["expires_at"]) == expires
    assert stored(conn) == 1

    # Found and removed in yet other spellings (a two-row plate's read, spaces).
    for spelling in ("51F 123.45", "51F\n123.45"):
        found = api.get(f"{URL}/{quote(spelling, safe='')}", headers=operator)
        assert found.status_code == 200, found.text
        assert found.json()["reason"] == "truy tìm"
    assert api.delete(f"{URL}/{quote('51f-12345')}", headers=operator).status_code == 204
    assert stored(conn) == 0
    gone = assert_problem(
        api.delete(f"{URL}/51F12345", headers=operator), 404, "watch_entry_not_found"
    )
    assert "51F12345" in gone["detail"]
    vietnamese = api.get(f"{URL}/51F12345", headers=as_(users, "operator", lang="vi"))
    assert vietnamese.json()["detail"] == "Biển số 51F12345 không có trong danh sách theo dõi"
    assert stored(conn) == 0


def test_only_operators_and_admins_use_the_list(
    api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    body = {"plate": "30A-999.99", "reason": "kiểm tra quyền"}
    for role in ("viewer", "integrator", "csirt"):
        headers = as_(users, role)
        for response in (
            api.get(URL, headers=headers),
            api.post(URL, headers=headers, json=body),
            api.get(f"{URL}/30A99999", headers=headers),
            api.delete(f"{URL}/30A99999", headers=headers),
        ):
            problem = assert_problem(response, 403, "role_forbidden")
            assert role in problem["detail"]
    assert_problem(api.get(URL), 401, "token_required")
    assert_problem(api.post(URL, json=body), 401, "token_required")
    for role in ("operator", "admin"):
        assert api.get(URL, headers=as_(users, role)).status_code == 200


def test_bad_input_is_a_problem_and_stores_nothing(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    operator = as_(users, "operator")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        ({"plate": "51F-123.45"}, "invalid_request", ("body", "reason")),
        ({"plate": "51F-123.45", "reason": "   "}, "invalid_request", ("body", "reason")),
        ({"plate": "51F-123.45", "reason": "x" * 501}, "invalid_request", ("body", "reason")),
        ({"reason": "không có biển"}, "invalid_request", ("body", "plate")),
        ({"plate": "5" * 33, "reason": "dài"}, "invalid_request", ("body", "plate")),
        ({"plate": "51F\x00123", "reason": "nul"}, "invalid_request", ("body", "plate")),
        ({"plate": "51F-123.45", "reason": "r", "x": 1}, "invalid_request", ("body", "x")),
        (
            {"plate": "51F-123.45", "reason": "r", "expires_at": "2026-12-01T00:00:00"},
            "invalid_request",
            ("body", "expires_at"),
        ),
        ({"plate": "51F-123.45", "reason": "r", "expires_at": past}, "watch_expiry_past", None),
        ({"plate": "-- . --", "reason": "không có ký tự"}, "plate_unreadable", None),
    ]
    for body, code, field in cases:
        problem = assert_problem(api.post(URL, headers=operator, json=body), 422, code)
        if field is not None:
            assert any(tuple(e["loc"]) == field for e in problem["errors"]), (body, problem)
    assert_problem(api.get(f"{URL}/{quote('-.-')}", headers=operator), 422, "plate_unreadable")
    assert_problem(api.delete(f"{URL}/{'9' * 33}", headers=operator), 422, "invalid_request")
    assert_problem(api.get(f"{URL}?limit=501", headers=operator), 422, "invalid_request")
    assert_problem(api.get(f"{URL}?cursor=nonsense", headers=operator), 422, "invalid_cursor")
    assert stored(conn) == 0


def test_pages_and_the_active_filter(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    now = datetime.now(UTC)
    spellings = list(PLATES[:5])
    for i, plate in enumerate(spellings):
        # Straight through the store: an entry that has already run out cannot be posted.
        expires = now - timedelta(hours=1) if i % 2 else None
        plates.watch(conn, plate, f"lý do {i}", "test", expires)
    operator = as_(users, "operator")
    walked = [e for page in pages(api, operator, f"{URL}?limit=2") for e in page]
    everyone = [e["plate_norm"] for e in walked]
    assert everyone == sorted(set(everyone))  # by normalised plate, each once
    ours = [e for e in walked if e["added_by"] == "test" and e["plate"] in spellings]
    assert [e["plate_norm"] for e in ours] == sorted(normalise(p) for p in spellings)

    def listed(active: str) -> dict[str, bool]:
        rows = [e for page in pages(api, operator, f"{URL}?limit=2&active={active}") for e in page]
        return {e["plate"]: e["active"] for e in rows if e["plate"] in spellings}

    assert listed("true") == dict.fromkeys([spellings[0], spellings[2], spellings[4]], True)
    assert listed("false") == dict.fromkeys([spellings[1], spellings[3]], False)


def test_the_command_line_adds_lists_and_removes(conn: psycopg.Connection) -> None:
    env = dict(os.environ, COLUMNS="200")

    def ioc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [IOC_BIN, "watchlist", *args], env=env, capture_output=True, text=True, timeout=120
        )

    reason = f"xe bị mất cắp {uuid.uuid4().hex[:6]}"
    added = ioc("add", "51-F1 234.56", "--reason", reason, "--expires", "30d")
    assert added.returncode == 0, added.stderr
    norm = normalise("51-F1 234.56")
    assert f"added 51-F1 234.56 (matched as {norm}, until " in added.stdout
    row = conn.execute(
        "SELECT plate, reason, added_by, expires_at FROM plate_watchlist WHERE plate_norm = %s",
        (norm,),
    ).fetchone()
    assert row is not None and row[0] == "51-F1 234.56" and row[1] == reason
    assert row[2].startswith("cli:")
    assert timedelta(days=29) < row[3] - datetime.now(UTC) <= timedelta(days=30)

    replaced = ioc("add", "51F123456", "--reason", "đổi lý do")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith("replaced the entry of 51F123456")
    listing = ioc("list")
    assert listing.returncode == 0, listing.stderr
    assert "51F123456" in listing.stdout and "đổi lý do" in listing.stdout
    assert "active" in listing.stdout
    assert ioc("list", "--expired").stdout.count(norm) == 0

    past = ioc("add", "51F-123.45", "--reason", "r", "--expires", "2020-01-01T00:00:00+07:00")
    assert past.returncode == 2 and "future" in past.stderr
    assert ioc("add", "51F-123.45", "--reason", "r", "--expires", "soon").returncode == 2
    assert ioc("add", "51F-123.45", "--reason", "  ").returncode == 2
    assert ioc("add", "...", "--reason", "r").returncode == 2

    removed = ioc("remove", "51F1-234.56")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith("removed 51F123456")
    missing = ioc("remove", "51F1-234.56")
    assert missing.returncode == 1 and "not on the watch list" in missing.stderr
    assert stored(conn) == 0


def test_what_the_api_lists_is_what_the_plate_watch_rule_matches(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    """The rule's matcher (store.cameras.watch_hits) reads the entries this API keeps:
    a two-row read in another spelling hits; an expired or removed entry does not."""
    operator = as_(users, "operator")

    def hits(plate: str) -> list[str]:
        read = PlateRead(
            time=datetime.now(UTC), camera="t-anpr", plate=plate, plate_norm=normalise(plate),
            score=0.8, direction="forward", vehicle_type="car", event_id="t-anpr-1",
            snapshot=None, source="hikvision",
        )  # fmt: skip
        return [entry.reason for _, entry in watch_hits(conn, [read])]

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for plate, reason, expires in (
        ("51F-123.45", "xe tang vật", None),
        ("30A-999.99", "hết hạn", later),
    ):
        body = {"plate": plate, "reason": reason, "expires_at": expires}
        assert api.post(URL, headers=operator, json=body).status_code == 201
    assert hits("51F\n123.45") == ["xe tang vật"]
    assert hits("30A99999") == ["hết hạn"]
    assert hits("51F-123.46") == []
    # Its expiry passes (the API takes only future ones; the store takes any).
    plates.watch(conn, "30A-999.99", "hết hạn", "test", datetime.now(UTC) - timedelta(seconds=1))
    assert hits("30A99999") == []  # no longer matched, still listed
    assert api.get(f"{URL}/30A99999", headers=operator).json()["active"] is False
    assert api.delete(f"{URL}/51F12345", headers=operator).status_code == 204
    assert hits("51F\n123.45") == []
