"""Open data on the real stack: /public/v1/ through a real API process, no token.

Seeds open stations with readings and indices beside private data of every kind (a
private station, a camera and a firewall, device secrets and credentials, internal hosts
and addresses in device metadata, security events and alerts, camera plates, plate
alerts, API users and their tokens, dead letters, a manual warning's reason and issuer)
and checks: JSON and CSV with licence and attribution, ETag/304 and the server-side
cache, 4xx for bad parameters, 429 past the per-address rate, the public reader role's
reach, and that no private marker appears in any public answer or the public OpenAPI.
The catalogue page is rendered by Debian's chromium (Playwright) to
$CONSOLE_SCREENSHOTS_DIR/open-data/catalogue.png (default: a temporary directory).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from psycopg.types.json import Jsonb

from config.settings import Settings
from events.alerts import Domain, Severity, Signal, SignalState
from processors.alerts.manager import AlertManager
from store.air_quality import AqiRow, store_day, store_hour
from store.engine import Engine, recorded
from store.migrations.m0020_open_data import PUBLIC_ROLE
from store.rollups import refresh
from store.users import create_user, delete_user
from tests.integration.api_server import REPO, api_process

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:6]
AIR, WATER, SALT = f"od-{TAG}-aq01", f"od-{TAG}-wl01", f"od-{TAG}-sal01"
# Air station the config keeps private, a camera and a firewall (types never opened).
PRIVATE_AIR, CAMERA, FIREWALL = f"od-{TAG}-hidden-aq", f"od-{TAG}-cam01", f"od-{TAG}-fw01"
OPEN_IDS = {AIR, WATER, SALT}
HOUR0 = datetime(2026, 11, 20, 1, tzinfo=UTC)  # three seeded hours from here
DAY0 = date(2026, 11, 20)
RANGE = {"from": HOUR0.isoformat(), "to": (HOUR0 + timedelta(hours=3)).isoformat()}
PROVINCE = f"Tỉnh thử {TAG}"
# Every string below must never appear in a public answer.
LEAKS = {
    "private station": PRIVATE_AIR, "camera id": CAMERA, "firewall id": FIREWALL,
    "camera name": "LEAK-camera-name", "internal host": "scada-LEAK.internal.lan",
    "internal address": "10.99.88.77", "metadata secret": "LEAK-metadata-apikey",
    "credential hash": "$7$LEAK-credential-hash",
    "credential user": "LEAK-mqtt-user", "private metric": "LEAKcpuTemp",
    "aqi inputs": "LEAK-aqi-inputs", "sub indices": "LEAK-sub-indices",
    "security user": "LEAK-secuser", "security host": "LEAK-sechost.corp",
    "attacker address": "198.51.100.77", "security message": "LEAK-secmessage",
    "plate in camera event": "LEAK51H99999", "plate read": "LEAK65A12345",
    "security alert": "LEAK-security-alert", "plate alert": "LEAK-plate-alert",
    "environment alert": "LEAK-environment-alert", "dead letter": "LEAK-dead-letter",
    "dead letter topic": "LEAK-topic", "warning reason": "LEAK-warning-reason",
    "warning issuer": "LEAK-operator", "user name": f"leakuser{TAG}",
}  # fmt: skip


class _NoChannels:
    def for_alert(self, domain: Domain, severity: Severity) -> list[Any]:
        return []


@dataclass
class Stack:
    url: str
    token: str
    has_warnings: bool


def _device(conn: psycopg.Connection, device_id: str, kind: str, name: str) -> None:
    metadata = {"host": "scada-LEAK.internal.lan", "ip": "10.99.88.77",
                "api_key": "LEAK-metadata-apikey"}  # fmt: skip
    conn.execute(
        "INSERT INTO devices (id, type, province, district, name, lat, lon, metadata)"
        " VALUES (%s, %s, %s, 'Huyện thử', %s, 10.01, 105.08, %s)",
        (device_id, kind, PROVINCE, name, Jsonb(metadata)),
    )
    conn.execute(
        "INSERT INTO device_credentials (device_id, kind, username, secret_hash, created_by)"
        " VALUES (%s, 'mqtt', %s, '$7$LEAK-credential-hash', 'test')",
        (device_id, f"LEAK-mqtt-user-{device_id}"),
    )


def _signal(rule: str, domain: Domain, device: str, title: str) -> Signal:
    return Signal(
        rule=rule, domain=domain, labels={"device_id": device, "source_ip": "198.51.100.77"},
        state=SignalState.FIRING, severity=Severity.HIGH, at=datetime.now(UTC),
        title_vi=title, title_en=title, summary_vi=title,
    )  # fmt: skip


def _seed(conn: psycopg.Connection) -> bool:
    """Everything, open and private; True when the public warnings table exists."""
    with conn.transaction():
        _device(conn, AIR, "air_quality", "Trạm không khí thử")
        _device(conn, WATER, "water_level", "Trạm mực nước thử")
        _device(conn, SALT, "salinity", "Trạm độ mặn thử")
        _device(conn, PRIVATE_AIR, "air_quality", "Trạm riêng")
        _device(conn, CAMERA, "camera", "LEAK-camera-name")
        _device(conn, FIREWALL, "firewall", "fw-core")
        for i in range(3):
            hour = HOUR0 + timedelta(hours=i)
            inputs = {"pm25": 10 + i, "note": "LEAK-aqi-inputs"}
            for device in (AIR, PRIVATE_AIR, CAMERA):
                row = AqiRow(50 + i, "good", "#00e400", "pm25", {"x": "LEAK-sub-indices"}, inputs)
                store_hour(conn, device, hour, row)
            for metric, device, value in (
                ("waterLevel", WATER, 1.1 + i / 10),
                ("salinity", SALT, 4.5 + i),
                ("LEAKcpuTemp", WATER, 70.0),
                ("waterLevel", PRIVATE_AIR, 9.9),
            ):
                conn.execute(
                    "INSERT INTO measurements (time, device_id, metric, value) VALUES"
                    " (%s, %s, %s, %s)",
                    (hour + timedelta(minutes=10), device, metric, value),
                )
        for device in (AIR, PRIVATE_AIR):
            store_day(conn, device, DAY0, AqiRow(61, "moderate", "#ffff00", "pm25", {}, {}))
        conn.execute(
            "INSERT INTO security_events (time, event_id, dataset, source_ip, user_name,"
            " host_name, message, raw) VALUES (now(), %s, 'sshd', '198.51.100.77',"
            " 'LEAK-secuser', 'LEAK-sechost.corp', 'LEAK-secmessage', 'LEAK raw')",
            (f"ev-{TAG}",),
        )
        conn.execute(
            "INSERT INTO camera_events (time, event_id, source, camera, event_type, state,"
            " plate, attributes) VALUES (now(), %s, 'frigate', %s, 'lpr', 'end',"
            " 'LEAK51H99999', '{\"sub_label\": \"LEAK51H99999\"}')",
            (f"cam-{TAG}", CAMERA),
        )
        conn.execute(
            "INSERT INTO plate_reads (time, camera, plate, plate_norm, event_id, source)"
            " VALUES (now(), %s, 'LEAK65A12345', 'LEAK65A12345', %s, 'isapi')",
            (CAMERA, f"pr-{TAG}"),
        )
        conn.execute(
            "INSERT INTO dead_letters (id, received_at, transport, topic, reason, payload,"
            " payload_size, payload_sha256) VALUES (%s, now(), 'mqtt', 'LEAK-topic',"
            " 'LEAK-dead-letter', 'LEAK-dead-letter', 16, 'x')",
            (f"dl-{TAG}",),
        )
        AlertManager(_NoChannels()).apply(conn, [
            _signal("sec.bruteforce", Domain.SECURITY, FIREWALL, "LEAK-security-alert"),
            _signal("camera.plate_watch", Domain.PLATES, CAMERA, "LEAK-plate-alert"),
            _signal("env.test", Domain.ENVIRONMENT, AIR, "LEAK-environment-alert"),
        ])  # fmt: skip
        has_warnings = conn.execute("SELECT to_regclass('public_warnings')").fetchone()[0]
        if has_warnings:
            _warning(conn)
    _refresh_rollups(conn)
    return has_warnings is not None


def _refresh_rollups(conn: psycopg.Connection) -> None:
    """The seeded hours lie before the rollups' watermark once earlier tests of the suite
    have refreshed them up to now: TimescaleDB's real-time aggregate then shows only what
    was materialised, and plain PostgreSQL's refresh looks back from its watermark. So
    the seeded range is refreshed explicitly, as test_store_engines does."""
    if recorded(conn) is Engine.TIMESCALE:
        for view in ("measurements_1m", "measurements_1h"):
            conn.execute(
                "CALL refresh_continuous_aggregate(%s, %s, %s)",
                (view, HOUR0 - timedelta(hours=1), HOUR0 + timedelta(hours=4)),
            )
    else:
        conn.execute("DELETE FROM rollup_watermarks")
        refresh(conn)


def _warning(conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO public_warnings (identifier, incident, msg_type, status, kind, severity,"
        " province, district, headline_vi, headline_en, sent, expires, manual, reason,"
        " issued_by, cap_xml) VALUES (%s, %s, 'Alert', 'Actual', 'manual', 'Severe', %s,"
        " 'Huyện thử', 'Cảnh báo lũ thử', 'Test flood warning', %s, %s, true,"
        " 'LEAK-warning-reason', 'LEAK-operator', '<alert/>')",
        (f"w-{TAG}", f"w-{TAG}", PROVINCE, now, now + timedelta(hours=6)),
    )


def _clean(conn: psycopg.Connection) -> None:
    ids = [AIR, WATER, SALT, PRIVATE_AIR, CAMERA, FIREWALL]
    conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = ANY(%s)", (ids,))
    conn.execute("DELETE FROM aqi_hourly WHERE device_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM aqi_daily WHERE device_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM measurements WHERE device_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM devices WHERE id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM security_events WHERE event_id = %s", (f"ev-{TAG}",))
    conn.execute("DELETE FROM camera_events WHERE event_id = %s", (f"cam-{TAG}",))
    conn.execute("DELETE FROM plate_reads WHERE event_id = %s", (f"pr-{TAG}",))
    conn.execute("DELETE FROM dead_letters WHERE id = %s", (f"dl-{TAG}",))
    if conn.execute("SELECT to_regclass('public_warnings')").fetchone()[0]:
        conn.execute("DELETE FROM public_warnings WHERE identifier = %s", (f"w-{TAG}",))


def _config(tmp: Path, rate: str) -> Path:
    """The shipped config with the private air station and the given rate."""
    data = yaml.safe_load((REPO / "api/public/open_data.yaml").read_text(encoding="utf-8"))
    data["stations"]["private"] = [PRIVATE_AIR]
    data["limits"]["requests"] = rate
    path = tmp / f"open_data_{rate.replace('/', '_')}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def stack(conn: psycopg.Connection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("open-data")
    has_warnings = _seed(conn)
    user, token = create_user(conn, f"leakuser{TAG}", "admin")
    env = {"IOC_OPEN_DATA_FILE": str(_config(tmp, "100000/minute"))}
    try:
        with api_process(env, tmp / "api.log") as url:
            yield Stack(url, token, has_warnings)
    finally:
        delete_user(conn, user.name)
        _clean(conn)


def _get(stack: Stack, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{stack.url}{path}", params=params, timeout=30)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---- answers ---------------------------------------------------------------------------


def test_stations_without_a_token_are_the_open_ones_only(stack: Stack) -> None:
    answer = _get(stack, "/public/v1/stations", province=PROVINCE)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {s["id"] for s in body["data"]} == OPEN_IDS
    assert set(body["data"][0]) == {"id", "name", "type", "province", "district", "lat", "lon"}
    assert body["licence"]["id"] == "CC-BY-4.0"
    assert "CC BY 4.0" in body["attribution"] and "CC BY 4.0" in body["attribution_en"]
    assert 'rel="license"' in answer.headers["link"]


def test_stations_as_csv_carry_the_licence_in_the_link_header(stack: Stack) -> None:
    for answer in (
        _get(stack, "/public/v1/stations.csv", province=PROVINCE),
        _get(stack, "/public/v1/stations", province=PROVINCE, format="csv"),
    ):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        rows = _csv(answer.text)
        assert {r["id"] for r in rows} == OPEN_IDS
        assert list(rows[0]) == ["id", "name", "type", "province", "district", "lat", "lon"]
        link = answer.headers["link"]
        assert "<https://creativecommons.org/licenses/by/4.0/>" in link
        assert "title*=UTF-8''CC-BY-4.0" in link


def test_hourly_aqi_json_and_csv(stack: Stack) -> None:
    answer = _get(stack, "/public/v1/aqi/hourly", station=AIR, **RANGE)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [(r["hour"], r["aqi"]) for r in data] == [
        ((HOUR0 + timedelta(hours=i)).isoformat(), 50 + i) for i in range(3)
    ]
    assert set(data[0]) == {"station", "hour", "aqi", "category", "colour", "dominant"}
    rows = _csv(_get(stack, "/public/v1/aqi/hourly.csv", station=AIR, **RANGE).text)
    assert [r["aqi"] for r in rows] == ["50", "51", "52"]
    everyone = _get(stack, "/public/v1/aqi/hourly", province=PROVINCE, **RANGE).json()
    assert {r["station"] for r in everyone["data"]} == {AIR}  # not the private one


def test_daily_aqi(stack: Stack) -> None:
    day = DAY0.isoformat()
    answer = _get(stack, "/public/v1/aqi/daily", province=PROVINCE, **{"from": day, "to": day})
    assert answer.status_code == 200, answer.text
    assert [(r["station"], r["day"], r["aqi"]) for r in answer.json()["data"]] == [(AIR, day, 61)]


def test_hourly_water_level_and_salinity(stack: Stack) -> None:
    answer = _get(stack, "/public/v1/water/hourly", province=PROVINCE, **RANGE)
    assert answer.status_code == 200, answer.text
    got = {(r["station"], r["metric"], r["hour"]): r for r in answer.json()["data"]}
    assert {k[:2] for k in got} == {(WATER, "waterLevel"), (SALT, "salinity")}
    first = got[(WATER, "waterLevel", HOUR0.isoformat())]
    assert first["mean"] == pytest.approx(1.1) and first["unit"] == "m" and first["count"] == 1
    assert got[(SALT, "salinity", HOUR0.isoformat())]["unit"] == "‰"
    only = _get(stack, "/public/v1/water/hourly.csv", station=SALT, metric="salinity", **RANGE)
    assert [r["mean"] for r in _csv(only.text)] == ["4.5", "5.5", "6.5"]


def test_active_public_warnings(stack: Stack) -> None:
    if not stack.has_warnings:
        pytest.skip("no public_warnings table: migration 18 (the CAP feed) is not installed")
    answer = _get(stack, "/public/v1/warnings", province=PROVINCE)
    assert answer.status_code == 200, answer.text
    [warning] = answer.json()["data"]
    assert warning["headline_vi"] == "Cảnh báo lũ thử"
    assert warning["cap_url"] == f"/public/cap/w-{TAG}.xml"
    assert "reason" not in warning and "issued_by" not in warning
    assert (
        _csv(_get(stack, "/public/v1/warnings.csv", province=PROVINCE).text)[0]["identifier"]
        == f"w-{TAG}"
    )


def test_etag_304_and_the_server_side_cache(stack: Stack, conn: psycopg.Connection) -> None:
    params = {"station": AIR, **RANGE}
    first = _get(stack, "/public/v1/aqi/hourly", **params)
    assert first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    again = httpx.get(
        f"{stack.url}/public/v1/aqi/hourly", params=params, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # A change inside the TTL is not seen yet: the answer comes from the cache.
    with conn.transaction():
        store_hour(conn, AIR, HOUR0, AqiRow(99, "moderate", "#ffff00", "pm25", {}))
    try:
        cached = _get(stack, "/public/v1/aqi/hourly", **params)
        assert cached.headers["etag"] == etag and cached.json()["data"][0]["aqi"] == 50
    finally:
        with conn.transaction():
            store_hour(conn, AIR, HOUR0, AqiRow(50, "good", "#00e400", "pm25", {}))


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/public/v1/aqi/hourly", {"from": "2026-11-20T00:00:00"}, 422, "invalid_request"),
        ("/public/v1/aqi/hourly", {"from": "yesterday"}, 422, "invalid_request"),
        ("/public/v1/aqi/hourly", {"from": "1600000000"}, 422, "invalid_request"),
        ("/public/v1/aqi/hourly", {"from": "0001-01-01T00:00:00+07:00"}, 422, "invalid_request"),
        ("/public/v1/aqi/hourly", {"from": RANGE["to"], "to": RANGE["from"]}, 422,
         "open_range_reversed"),
        ("/public/v1/aqi/hourly", {"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
         422, "open_range_too_wide"),
        ("/public/v1/water/hourly", {"limit": "100000"}, 422, "open_limit_too_large"),
        ("/public/v1/water/hourly", {"limit": "0"}, 422, "invalid_request"),
        ("/public/v1/water/hourly", {"limit": "many"}, 422, "invalid_request"),
        ("/public/v1/water/hourly", {"metric": "pm25"}, 422, "open_metric_closed"),
        ("/public/v1/aqi/daily", {"from": "1900-01-01", "to": "1900-01-02"}, 422,
         "open_date_out_of_range"),
        ("/public/v1/aqi/daily", {"from": "2020-01-01", "to": "2026-01-01"}, 422,
         "open_range_too_wide"),
        ("/public/v1/aqi/daily", {"from": "2026-13-45"}, 422, "invalid_request"),
        ("/public/v1/aqi/hourly", {"station": "no-such-station"}, 404, "open_station_not_found"),
        ("/public/v1/aqi/hourly", {"station": PRIVATE_AIR}, 404, "open_station_not_found"),
        ("/public/v1/aqi/hourly", {"station": CAMERA}, 404, "open_station_not_found"),
        ("/public/v1/stations", {"province": "x" * 101}, 422, "invalid_request"),
        ("/public/v1/stations", {"province": "a\x00b"}, 422, "invalid_request"),
        ("/public/v1/stations", {"format": "xml"}, 422, "invalid_request"),
        ("/public/v1/nothing", {}, 404, "route_not_found"),
    ],
)  # fmt: skip
def test_bad_parameters_are_a_4xx_problem(
    stack: Stack, path: str, params: dict[str, str], status: int, code: str
) -> None:
    answer = _get(stack, path, **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


def test_a_private_station_is_answered_as_one_that_does_not_exist(stack: Stack) -> None:
    hidden = _get(stack, "/public/v1/aqi/hourly", station=PRIVATE_AIR).json()
    missing = _get(stack, "/public/v1/aqi/hourly", station="od-none").json()
    assert hidden["detail"].replace(PRIVATE_AIR, "?") == missing["detail"].replace("od-none", "?")


# ---- the rate limit ---------------------------------------------------------------------


def test_past_the_rate_an_address_gets_429_even_with_a_forged_forwarded_for(
    stack: Stack, tmp_path: Path
) -> None:
    env = {"IOC_OPEN_DATA_FILE": str(_config(tmp_path, "3/minute")), "IOC_API_TRUSTED_PROXIES": ""}
    with api_process(env, tmp_path / "api.log", via_cli=True) as url:
        statuses = [
            httpx.get(f"{url}/public/v1/stations", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(5)
        ]
    assert [a.status_code for a in statuses] == [200, 200, 200, 429, 429]
    refused = statuses[3]
    assert refused.json()["code"] == "public_rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


# ---- nothing private leaks --------------------------------------------------------------


def test_the_public_reader_role_reads_the_open_views_only(conn: psycopg.Connection) -> None:
    readable = {
        row[0]
        for row in conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')"
            # Where the application's data lives (TimescaleDB's chunks included), less
            # the extension's own statistics views, which every role may read.
            " AND n.nspname IN ('public', '_timescaledb_internal')"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            "                 WHERE d.objid = c.oid AND d.deptype = 'e')"
            " AND (has_table_privilege(%s, c.oid, 'SELECT')"
            "      OR has_any_column_privilege(%s, c.oid, 'SELECT'))",
            (PUBLIC_ROLE, PUBLIC_ROLE),
        )
    }
    allowed = {
        "public.open_stations", "public.open_aqi_hourly", "public.open_aqi_daily",
        "public.open_water_hourly", "public.public_warnings",
    }  # fmt: skip
    assert readable <= allowed and readable >= allowed - {"public.public_warnings"}
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {PUBLIC_ROLE}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT 1 FROM devices LIMIT 1")


def _public_paths(stack: Stack) -> list[str]:
    document = _get(stack, "/public/openapi.json").json()
    return [p for p, ops in document["paths"].items() if "get" in ops and "{" not in p]


def test_no_private_field_reaches_any_public_answer(stack: Stack) -> None:
    answers: dict[str, str] = {}
    queries: list[dict[str, str]] = [
        {}, {"province": PROVINCE}, RANGE, {"province": PROVINCE, **RANGE},
        *({"station": s, **RANGE} for s in sorted(OPEN_IDS)),
        {"from": DAY0.isoformat(), "to": DAY0.isoformat()},
    ]  # fmt: skip
    paths = ["/public/", "/public/docs", "/public/openapi.json", *_public_paths(stack)]
    assert "/v1/warnings" in {p.removeprefix("/public") for p in paths} or paths
    for path in paths:
        full = path if path.startswith("/public") else f"/public{path}"
        for query in queries:
            for fmt in ("json", "csv"):
                answer = _get(stack, full, **query, format=fmt)
                assert answer.status_code < 500, (full, query, answer.text)
                answers[f"{full} {query} {fmt}"] = answer.text + str(dict(answer.headers))
    if stack.has_warnings:
        data = _get(stack, "/public/v1/warnings", province=PROVINCE).json()["data"]
        answers["cap"] = _get(stack, data[0]["cap_url"]).text
    assert any(AIR in text for text in answers.values())  # the scan did see open data
    found = [
        (what, where)
        for where, text in answers.items()
        for what, marker in {**LEAKS, "api token": stack.token}.items()
        if marker in text
    ]
    assert found == []


# ---- the catalogue page -----------------------------------------------------------------


def test_the_catalogue_page_lists_every_dataset(stack: Stack) -> None:
    page = _get(stack, "/public/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for title in ("Trạm quan trắc", "Monitoring stations", "Mực nước và độ mặn theo giờ",
                  "CC BY 4.0", "/public/v1/aqi/daily.csv", "Tần suất cập nhật"):  # fmt: skip
        assert title in page.text


def test_the_catalogue_page_renders(stack: Stack) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail(f"{chromium} missing: deploy/local/bootstrap.sh installs Debian's chromium")
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or tempfile.gettempdir()) / "open-data"
    out.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{stack.url}/public/")
        rows = page.locator("tbody tr").count()
        page.screenshot(path=str(out / "catalogue.png"), full_page=True)
        browser.close()
    assert rows == 5
    assert errors == []  # e.g. a style refused by the page's own CSP


# ---- both engines, and generated requests -----------------------------------------------


def test_the_open_queries_answer_the_same_on_plain_postgresql(settings: Settings) -> None:
    """The views and the role on a schema made on plain PostgreSQL (service-kept rollups)."""
    from store import open_data
    from tests.integration.engines import plain_database

    scope = open_data.Scope(types=("water_level", "air_quality"))
    with (
        plain_database(settings, f"ioc_open_plain_{TAG}") as dsn,
        psycopg.connect(dsn, autocommit=True) as plain,
    ):
        with plain.transaction():
            _device(plain, WATER, "water_level", "Trạm mực nước thử")
            _device(plain, CAMERA, "camera", "LEAK-camera-name")
            for i, device in enumerate((WATER, CAMERA)):
                plain.execute(
                    "INSERT INTO measurements (time, device_id, metric, value)"
                    " VALUES (%s, %s, 'waterLevel', %s), (%s, %s, 'LEAKcpuTemp', 1)",
                    (HOUR0, device, 1.5 + i, HOUR0, device),
                )
            store_hour(plain, WATER, HOUR0, AqiRow(42, "good", "#00e400", "pm25", {}))
        refresh(plain)
        with open_data.public_reader(plain):
            stations = open_data.stations(plain, scope)
            water = open_data.water_hourly(
                plain, scope, metrics=("waterLevel", "LEAKcpuTemp"), start=HOUR0,
                end=HOUR0 + timedelta(hours=1), limit=10,
            )  # fmt: skip
            hours = open_data.aqi_hourly(
                plain, scope, start=HOUR0, end=HOUR0 + timedelta(hours=1), limit=10
            )
        with plain.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            plain.execute(f"SET LOCAL ROLE {PUBLIC_ROLE}")
            plain.execute("SELECT 1 FROM measurements_1h LIMIT 1")
    assert [s["id"] for s in stations] == [WATER]
    assert [(w["station"], w["metric"], w["mean"]) for w in water] == [(WATER, "waterLevel", 1.5)]
    assert [(h["station"], h["aqi"]) for h in hours] == [(WATER, 42)]


def test_generated_requests_find_no_server_error(stack: Stack, tmp_path: Path) -> None:
    """schemathesis against the public document (as tests/integration/test_schemathesis.py
    does for the private one), within a small time budget."""
    import json
    import subprocess
    import sys

    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{stack.url}/public/openapi.json",
        "--url", f"{stack.url}/public",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance",
        "--max-examples", "20", "--max-time", "60", "--seed", "20261203", "--workers", "1",
        "--request-timeout", "30", "--report", "json",
        "--report-json-path", str(tmp_path / "report.json"), "--output-truncate", "true",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=400)
    output = (run.stdout + run.stderr)[-6000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failures"] == [] and report["errors"] == [], output
    assert run.returncode == 0, output
