"""Every request bounded, on a real uvicorn process with small limits: the body limit
(declared and chunked), silences that would slow every alert, text PostgreSQL cannot
store, instants outside what every layer holds, rate limits, cursor pages, and the one
error shape (RFC 9457) in Vietnamese and English."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from config.settings import Settings
from store import alert_pruning
from store.users import create_user, delete_user
from tests.integration.api_server import api_process

pytestmark = pytest.mark.integration

MAX_BODY = 64 * 1024
TOKEN_REQUESTS = 40
AUTH_FAILURES = 3
PROBLEM = "application/problem+json"
# A far-off instant no other test's alerts share, so a page walk sees only its own.
PAGE_TIME = datetime(2150, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "IOC_API_MAX_BODY_BYTES": str(MAX_BODY),
        "IOC_API_AUTH_FAILURES": f"{AUTH_FAILURES}/minute",
        "IOC_API_TOKEN_REQUESTS": f"{TOKEN_REQUESTS}/minute",
    }
    with api_process(env, tmp_path_factory.mktemp("api") / "api.log") as url:
        yield url


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def admin(conn: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """(name, token) of a fresh admin: each test has its own request budget."""
    user, token = create_user(conn, f"t-bounds-{uuid.uuid4().hex[:8]}", "admin")
    yield user.name, token
    conn.execute("DELETE FROM silences WHERE created_by = %s", (user.name,))
    delete_user(conn, user.name)


def client(api: str, token: str | None = None, lang: str = "en", **kw: Any) -> httpx.Client:
    headers = {"Accept-Language": lang}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=api, headers=headers, timeout=30, **kw)


def silence(matchers: list[dict[str, str]], **overrides: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "matchers": matchers,
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "reason": "bảo trì trạm",
        **overrides,
    }


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:ioc:problem:{code}"
    assert body["code"] == code
    assert body["title"] and body["detail"] and body["instance"]
    return body


def field_error(body: dict[str, Any], *loc: str | int) -> dict[str, Any]:
    found = [e for e in body["errors"] if tuple(e["loc"][: len(loc)]) == loc]
    assert found, body["errors"]
    assert all("input" not in e and "ctx" not in e for e in body["errors"])
    return found[0]


def stored_silences(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT count(*) FROM silences WHERE created_by = %s", (name,)).fetchone()
    return row[0] if row else 0


# -- the error shape -------------------------------------------------------------------------


def test_problem_details_in_vietnamese_and_english(api: str, admin: tuple[str, str]) -> None:
    missing = f"/api/v1/alerts/{uuid.uuid4()}"
    with client(api, admin[1], lang="vi") as vi, client(api, admin[1], lang="en") as en:
        body_vi = assert_problem(vi.get(missing), 404, "alert_not_found")
        body_en = assert_problem(en.get(missing), 404, "alert_not_found")
        french_first = en.get(missing, headers={"Accept-Language": "fr, en;q=0.5"})
        default = vi.get(missing, headers={"Accept-Language": ""})
    assert body_vi["title"] == "Không tìm thấy"
    assert body_vi["detail"].startswith("Không tìm thấy cảnh báo")
    assert body_en["title"] == "Not found"
    assert body_en["detail"] == f"alert {missing.rsplit('/', 1)[1]} not found"
    assert body_vi["instance"] == body_en["instance"] == missing
    assert body_vi["type"] == body_en["type"]
    assert french_first.json()["title"] == "Not found"
    assert french_first.headers["content-language"] == "en"
    assert default.json()["title"] == "Không tìm thấy"  # Vietnamese unless asked otherwise

    with client(api, lang="en") as anonymous:
        unauthorized = assert_problem(anonymous.get("/api/v1/alerts"), 401, "token_required")
        assert "bearer token" in unauthorized["detail"]
        unknown = assert_problem(anonymous.get("/api/v1/nothing-here"), 404, "route_not_found")
        assert unknown["instance"] == "/api/v1/nothing-here"
        method = anonymous.put("/api/v1/me")
        assert_problem(method, 405, "method_not_allowed")


def test_validation_errors_name_the_field_and_never_echo_the_input(
    api: str, admin: tuple[str, str]
) -> None:
    secret = "Z" * 3000
    body = silence([{"name": "domain", "value": "environment"}], reason=secret + "x" * 2000)
    with client(api, admin[1]) as http:
        response = http.post("/api/v1/silences", json=body)
    problem = assert_problem(response, 422, "invalid_request")
    assert field_error(problem, "body", "reason")["type"] == "string_too_long"
    assert "body.reason" in problem["detail"]
    assert "ZZZZZZZZ" not in response.text
    assert len(response.content) < 1000


TAXII = "application/taxii+json;version=2.1"


def test_openapi_lists_the_problems_of_each_operation(api: str) -> None:
    schema = httpx.get(f"{api}/openapi.json", timeout=30).json()
    assert "Problem" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            if path.startswith("/taxii2/"):
                # TAXII 2.1 answers errors with its own error message (section 3.6.1),
                # in its media type: what its clients parse.
                for status in ("401", "404", "429"):
                    assert TAXII in answers[status]["content"], (method, path, status)
                continue
            takes_input = "parameters" in operation or "requestBody" in operation
            for status in ("401", "429", *(("422",) if takes_input else ())):
                content = answers[status]["content"]
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    method,
                    path,
                    status,
                )
            if "requestBody" in operation:
                assert "413" in answers, (method, path)
            if "{" in path:
                assert "404" in answers, (method, path)
    assert "403" in schema["paths"]["/api/v1/security/events"]["get"]["responses"]
    assert "409" in schema["paths"]["/api/v1/silences"]["post"]["responses"]


# -- body size -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_declared_or_chunked(
    api: str, admin: tuple[str, str], conn: psycopg.Connection
) -> None:
    too_big = json.dumps(silence([{"name": "domain", "value": "environment"}] * 4000)).encode()
    assert len(too_big) > MAX_BODY
    with client(api, admin[1]) as http:
        declared = http.post(
            "/api/v1/silences", content=too_big, headers={"Content-Type": "application/json"}
        )
    body = assert_problem(declared, 413, "body_too_large")
    assert str(MAX_BODY) in body["detail"]

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the server only learns the size by reading.
        for start in range(0, len(too_big), 8192):
            yield too_big[start : start + 8192]

    with client(api, admin[1]) as http:
        chunked = http.post(
            "/api/v1/silences", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert_problem(chunked, 413, "body_too_large")
    assert stored_silences(conn, admin[0]) == 0

    # Just under the limit is read and judged on its content.
    with client(api, admin[1]) as http:
        fine = http.post("/api/v1/silences", json=silence([{"name": "domain", "value": "camera"}]))
    assert fine.status_code == 201, fine.text


# -- silences that would slow every alert ----------------------------------------------------


def test_a_silence_with_400000_matchers_is_refused(
    api: str, admin: tuple[str, str], conn: psycopg.Connection
) -> None:
    huge = silence([{"name": "device_id", "op": "=~", "value": f"kg-{i}"} for i in range(400_000)])
    with client(api, admin[1]) as http:
        response = http.post("/api/v1/silences", json=huge)
        # Under the body limit, the matcher count itself is the bound.
        many = http.post("/api/v1/silences", json=silence([{"name": "a", "value": "b"}] * 33))
    assert_problem(response, 413, "body_too_large")
    problem = assert_problem(many, 422, "invalid_request")
    assert field_error(problem, "body", "matchers")["type"] == "too_long"
    assert stored_silences(conn, admin[0]) == 0


def test_regular_expressions_are_bounded_and_linear(
    api: str, admin: tuple[str, str], conn: psycopg.Connection
) -> None:
    scoped = {"name": "domain", "value": "environment"}
    with client(api, admin[1]) as http:
        backreference = http.post(
            "/api/v1/silences",
            json=silence([scoped, {"name": "device_id", "op": "=~", "value": "(a)\\1"}]),
        )
        lookahead = http.post(
            "/api/v1/silences",
            json=silence([scoped, {"name": "device_id", "op": "=~", "value": "(?=a)a"}]),
        )
        too_long = http.post(
            "/api/v1/silences",
            json=silence([scoped, {"name": "device_id", "op": "=~", "value": "a" * 257}]),
        )
        # Catastrophic for a backtracking engine; RE2 takes it and matches in linear time.
        nested = http.post(
            "/api/v1/silences",
            json=silence([scoped, {"name": "device_id", "op": "=~", "value": "(a+)+$"}]),
        )
    for refused in (backreference, lookahead, too_long):
        problem = assert_problem(refused, 422, "invalid_request")
        assert "regular expression" in field_error(problem, "body", "matchers")["msg"]
    assert nested.status_code == 201, nested.text

    from processors.alerts.silences import Matcher

    matcher = Matcher(name="device_id", op="=~", value="(a+)+$")
    assert not matcher.matches({"device_id": "a" * 100_000 + "!"})


def test_too_many_active_silences_are_refused(
    api: str, admin: tuple[str, str], conn: psycopg.Connection
) -> None:
    from api.routers import silences

    active = conn.execute("SELECT count(*) FROM silences WHERE ends_at > now()").fetchone()
    assert active is not None and active[0] < silences.MAX_ACTIVE
    rows = [
        (uuid.uuid4(), Jsonb([{"name": "domain", "op": "=", "value": "camera"}]), admin[0])
        for _ in range(silences.MAX_ACTIVE - active[0])
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, reason)"
            " VALUES (%s, %s, now(), now() + interval '1 hour', %s, 'filler')",
            rows,
        )
    with client(api, admin[1]) as http:
        response = http.post("/api/v1/silences", json=silence([{"name": "domain", "value": "x"}]))
    body = assert_problem(response, 409, "too_many_silences")
    assert str(silences.MAX_ACTIVE) in body["detail"]


# -- text and instants -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["trạm\u0000KG", "\ud800 lone", "lone \udfff"])
def test_nul_bytes_and_lone_surrogates_are_a_422(
    api: str, admin: tuple[str, str], conn: psycopg.Connection, bad: str
) -> None:
    # json.dumps escapes both as \u0000 / \udXXX: valid JSON that decodes to them.
    raw = json.dumps(silence([{"name": "domain", "value": "environment"}], reason=bad))
    with client(api, admin[1]) as http:
        headers = {"Content-Type": "application/json"}
        in_body = http.post("/api/v1/silences", content=raw, headers=headers)
        matcher = json.dumps(silence([{"name": "domain", "value": bad}]))
        in_matcher = http.post("/api/v1/silences", content=matcher, headers=headers)
    problem = assert_problem(in_body, 422, "invalid_request")
    # NUL is refused by the API's text type, a lone surrogate already by the JSON parser.
    message = field_error(problem, "body", "reason")["msg"]
    assert "NUL" in message if "\x00" in bad else "unicode" in message.lower()
    assert_problem(in_matcher, 422, "invalid_request")
    assert stored_silences(conn, admin[0]) == 0


def test_nul_bytes_in_paths_and_queries_are_a_422(api: str, admin: tuple[str, str]) -> None:
    with client(api, admin[1]) as http:
        path = http.get("/api/v1/devices/kg%00wl")
        query = http.get("/api/v1/devices/kg-wl-001/series", params={"metric": "water\x00"})
        cursor = http.get("/api/v1/devices", params={"cursor": "WyJhAGIiXQ"})  # ["a\u0000b"]
    field_error(assert_problem(path, 422, "invalid_request"), "path", "device_id")
    field_error(assert_problem(query, 422, "invalid_request"), "query", "metric")
    assert_problem(cursor, 422, "invalid_cursor")


def test_a_request_line_over_64_kib_is_refused_by_the_server_and_it_keeps_serving(
    api: str, admin: tuple[str, str]
) -> None:
    """uvicorn's httptools parser (kept for its lower cost per request: docs/
    performance.md, cameras) refuses a request line over 64 KiB itself, as a reverse
    proxy would: a plain-text 400 the API never sees, so no OpenAPI document lists it
    (test_schemathesis.py does not generate such requests). Never a 500, never a hang;
    the next request is answered as usual."""
    _, token = admin
    # Sent on a socket: httpx itself refuses to build a URL this long.
    address = urlsplit(api)
    request = (
        f"GET /api/v1/alerts?q={'x' * (70 * 1024)} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Invalid HTTP request" in answer
    with client(api, token) as http:
        assert http.get("/api/v1/alerts", params={"limit": 1}).status_code == 200


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00+07:00",  # year 0 in UTC: beyond Python's datetime
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-07:00",  # year 10000 in UTC
        "10000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "1e12",  # a number is not an RFC 3339 date-time
        "2026-11-24T08:00:00",  # no offset
    ],
)
def test_instants_outside_the_supported_range_are_a_422(
    api: str, admin: tuple[str, str], conn: psycopg.Connection, instant: str
) -> None:
    with client(api, admin[1]) as http:
        listed = http.get("/api/v1/alerts", params={"since": instant})
        series = http.get(
            "/api/v1/devices/kg-wl-001/series", params={"metric": "waterLevel", "start": instant}
        )
        body = silence([{"name": "domain", "value": "environment"}], starts_at=instant)
        created = http.post("/api/v1/silences", json=body)
        stix = http.get("/api/v1/exports/stix", params={"start": instant, "end": instant})
    field_error(assert_problem(listed, 422, "invalid_request"), "query", "since")
    field_error(assert_problem(series, 422, "invalid_request"), "query", "start")
    field_error(assert_problem(created, 422, "invalid_request"), "body", "starts_at")
    assert_problem(stix, 422, "invalid_request")
    assert stored_silences(conn, admin[0]) == 0


# -- rate limits -----------------------------------------------------------------------------


def test_failed_authentications_are_limited_per_address(api: str, admin: tuple[str, str]) -> None:
    # From an address of its own, so the other tests' requests are not refused.
    transport = httpx.HTTPTransport(local_address="127.0.0.77")
    with client(api, "not-a-token", transport=transport) as guesser:
        for _ in range(AUTH_FAILURES):
            assert_problem(guesser.get("/api/v1/me"), 401, "token_invalid")
        refused = guesser.get("/api/v1/me")
        # Once over, the right token is refused too: the answer tells a guesser nothing.
        right = guesser.get("/api/v1/me", headers={"Authorization": f"Bearer {admin[1]}"})
        # Not presenting a token guesses nothing and is not counted.
        anonymous = guesser.get("/api/v1/me", headers={"Authorization": ""})
    body = assert_problem(refused, 429, "auth_rate_limited")
    retry = int(refused.headers["retry-after"])
    assert 0 < retry <= 60
    assert str(retry) in body["detail"]
    assert_problem(right, 429, "auth_rate_limited")
    assert_problem(anonymous, 401, "token_required")
    with client(api, admin[1]) as elsewhere:  # from 127.0.0.1
        assert elsewhere.get("/api/v1/me").status_code == 200


def test_requests_are_limited_per_token(
    api: str, conn: psycopg.Connection, admin: tuple[str, str]
) -> None:
    user, token = create_user(conn, f"t-bounds-rate-{uuid.uuid4().hex[:6]}", "viewer")
    try:
        with client(api, token) as http:
            answers = [http.get("/api/v1/me").status_code for _ in range(TOKEN_REQUESTS)]
            over = http.get("/api/v1/me")
        with client(api, admin[1]) as other:
            assert other.get("/api/v1/me").status_code == 200  # another token's budget
    finally:
        delete_user(conn, user.name)
    assert answers == [200] * TOKEN_REQUESTS
    assert_problem(over, 429, "token_rate_limited")
    assert 0 < int(over.headers["retry-after"]) <= 60


# -- pages -----------------------------------------------------------------------------------


@pytest.fixture
def paged_alerts(conn: psycopg.Connection) -> Iterator[list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(11)]
    for i, alert_id in enumerate(ids):
        # Two share each updated_at, so the id must break ties in the cursor.
        at = PAGE_TIME + timedelta(minutes=i // 2)
        conn.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity,"
            " peak_severity, labels, title_vi, title_en, started_at, updated_at)"
            " VALUES (%s, %s, 'test.page', 'environment', 'firing', 2, 2, '{}', 't', 't',"
            " %s, %s)",
            (alert_id, f"page-{alert_id}", at, at),
        )
    yield ids
    conn.execute("DELETE FROM alerts WHERE id = ANY(%s::uuid[])", (ids,))


def test_a_cursor_walk_visits_every_alert_once_newest_first(
    api: str, admin: tuple[str, str], paged_alerts: list[str]
) -> None:
    seen: list[dict[str, Any]] = []
    pages = 0
    url: str | None = "/api/v1/alerts?" + str(
        httpx.QueryParams({"since": PAGE_TIME.isoformat(), "limit": "3"})
    )
    with client(api, admin[1]) as http:
        while url is not None:
            response = http.get(url)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page) <= 3
            seen += page
            pages += 1
            url = response.links.get("next", {}).get("url")
            assert pages <= 10, "the walk does not end"
        assert pages == 4  # 3 + 3 + 3 + 2
        keys = [(a["updated_at"], a["id"]) for a in seen]
        assert [a["id"] for a in seen].count(seen[0]["id"]) == 1
        assert sorted(a["id"] for a in seen) == sorted(paged_alerts)
        assert keys == sorted(keys, reverse=True)

        assert_problem(
            http.get("/api/v1/alerts", params={"cursor": "bm90LWpzb24"}), 422, "invalid_cursor"
        )
        assert_problem(http.get("/api/v1/alerts", params={"cursor": "%%%"}), 422, "invalid_cursor")
        over = http.get("/api/v1/alerts", params={"limit": "501"})
        field_error(assert_problem(over, 422, "invalid_request"), "query", "limit")


def test_silences_and_devices_are_paged_too(api: str, admin: tuple[str, str]) -> None:
    with client(api, admin[1]) as http:
        for hours in (1, 2, 3):
            start = datetime.now(UTC) + timedelta(days=hours)
            made = http.post(
                "/api/v1/silences",
                json=silence(
                    [{"name": "domain", "value": "health"}],
                    starts_at=start.isoformat(),
                    ends_at=(start + timedelta(hours=1)).isoformat(),
                ),
            )
            assert made.status_code == 201, made.text
        first = http.get("/api/v1/silences", params={"limit": "2"})
        assert len(first.json()) == 2
        second = http.get(first.links["next"]["url"])
        ids = [s["id"] for s in first.json() + second.json()]
        assert len(ids) == len(set(ids)) >= 3
        devices = http.get("/api/v1/devices", params={"limit": "1"})
        assert devices.status_code == 200 and len(devices.json()) <= 1


# -- pruning by policy -----------------------------------------------------------------------


def test_old_silences_alerts_and_history_are_pruned(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=500)
    old_silence, new_silence = uuid.uuid4(), uuid.uuid4()
    for silence_id, ends in ((old_silence, long_ago), (new_silence, now - timedelta(days=1))):
        conn.execute(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, reason)"
            " VALUES (%s, '[]', %s, %s, 't-prune', 'r')",
            (silence_id, ends - timedelta(hours=1), ends),
        )
    old_alert, open_alert = uuid.uuid4(), uuid.uuid4()
    for alert_id, status, resolved in (
        (old_alert, "resolved", long_ago),
        (open_alert, "firing", None),
    ):
        conn.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
            " labels, title_vi, title_en, started_at, updated_at, resolved_at)"
            " VALUES (%s, %s, 'test.prune', 'health', %s, 2, 2, '{}', 't', 't', %s, %s, %s)",
            (alert_id, f"prune-{alert_id}", status, long_ago, long_ago, resolved),
        )
        for at in (long_ago, now):
            conn.execute(
                "INSERT INTO alert_history (alert_id, at, actor, action, status, severity)"
                " VALUES (%s, %s, 'system', 'fired', %s, 2)",
                (alert_id, at, status),
            )
    try:
        with conn.transaction():
            deleted = alert_pruning.prune(conn, now, batch_rows=1)
        assert deleted["silences"] >= 1 and deleted["alerts"] >= 1
        assert deleted["alert_history"] >= 1
        silences_left = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM silences WHERE id = ANY(%s)", ([old_silence, new_silence],)
            )
        }
        assert silences_left == {new_silence}
        alerts_left = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM alerts WHERE id = ANY(%s)", ([old_alert, open_alert],)
            )
        }
        assert alerts_left == {open_alert}
        history = conn.execute(
            "SELECT alert_id, at > %s FROM alert_history WHERE alert_id = ANY(%s)",
            (now - timedelta(days=1), [old_alert, open_alert]),
        ).fetchall()
        assert history == [(open_alert, True)]
    finally:
        conn.execute("DELETE FROM silences WHERE id = ANY(%s)", ([old_silence, new_silence],))
        conn.execute("DELETE FROM alerts WHERE id = ANY(%s)", ([old_alert, open_alert],))
