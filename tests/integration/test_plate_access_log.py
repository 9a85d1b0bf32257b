"""The access record of plate data on the real stack: every plate search, watch-list read
and change, and picture download through the API or `ioc watchlist` leaves exactly one
row naming who (actor, role), what and which plate; a refused or malformed request
leaves none; only admins read the record (by page, in a bounded range; `ioc plates
audit` on the server); the table is append-only but for the pruning job, on both
engines, and the dashboard reader cannot read it."""

from __future__ import annotations

import getpass
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from config.settings import Settings
from events.camera_records import PlateRead
from processors.cameras.plates import normalise
from stack import postgres
from store import plate_audit
from store.cameras import store_plate_reads
from store.migrations.m0009_dashboard_reads import READER_ROLE
from tests.integration import camera_api
from tests.integration.camera_api import as_, assert_problem, client_for, pages
from tests.integration.engines import PLAIN, TIMESCALE, plain_database
from tests.integration.harness import IOC_BIN

pytestmark = pytest.mark.integration

LOG = "/api/v1/plates/access-log"
conn = camera_api.conn
users = camera_api.users
Row = dict[str, Any]


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    directory = tmp_path / "snapshots"
    directory.mkdir()
    return directory


@pytest.fixture
def api(settings: Settings, snapshots: Path) -> Iterator[TestClient]:
    ours = settings.model_copy(update={"snapshot_dir": snapshots, "frigate_url": None})
    with client_for(ours) as client:
        yield client


@pytest.fixture
def plate(conn: psycopg.Connection) -> Iterator[str]:
    """A plate no other test uses, spelled as a person would type it."""
    spelled = f"{random.randint(10, 99)}K-{random.randint(100, 999)}.{random.randint(10, 99)}"
    yield spelled
    conn.execute("DELETE FROM plate_watchlist WHERE plate_norm = %s", (normalise(spelled),))


@pytest.fixture
def camera(conn: psycopg.Connection) -> Iterator[str]:
    name = f"t-audit-{uuid.uuid4().hex[:6]}"
    yield name
    conn.execute("DELETE FROM plate_reads WHERE camera = %s", (name,))


def logged(conn: psycopg.Connection, actor: str) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT actor, role, action, plate_norm, detail FROM plate_access_log"
            " WHERE actor = %s ORDER BY id",
            (actor,),
        )
        return cur.fetchall()


def actor(users: dict[str, dict[str, str]], role: str) -> str:
    return f"api:{users[role]['name']}"


def picture_of(snapshots: Path, conn: psycopg.Connection, camera: str, plate: str) -> str:
    """A stored ISAPI picture and the plate read that carried it."""
    name = f"{uuid.uuid4().hex}{uuid.uuid4().hex}.jpg"
    (snapshots / name).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    read = PlateRead(
        time=datetime.now(UTC) - timedelta(minutes=5), camera=camera, plate=plate,
        plate_norm=normalise(plate), score=0.9, direction="forward", vehicle_type="car",
        event_id=f"{camera}-1", snapshot=f"isapi:{name}", source="hikvision",
    )  # fmt: skip
    with conn.transaction():
        store_plate_reads(conn, [read])
    return name


def test_each_access_leaves_one_row_with_its_actor_role_and_plate(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    snapshots: Path,
    camera: str,
    plate: str,
) -> None:
    operator, norm = as_(users, "operator"), normalise(plate)
    picture = picture_of(snapshots, conn, camera, plate)

    entry = {"plate": plate, "reason": "xe liên quan vụ trộm"}
    assert api.post("/api/v1/watchlist", headers=operator, json=entry).status_code == 201
    assert api.get(f"/api/v1/watchlist/{quote(plate)}", headers=operator).status_code == 200
    assert api.get("/api/v1/watchlist?limit=1", headers=operator).status_code == 200
    found = api.get(f"/api/v1/plates?plate={quote(plate)}&camera={camera}", headers=operator)
    assert found.status_code == 200 and len(found.json()) == 1
    image = api.get(f"/api/v1/snapshots/{picture}", headers=operator)
    assert image.status_code == 200
    again = api.get(
        f"/api/v1/snapshots/{picture}", headers={**operator, "If-None-Match": image.headers["etag"]}
    )
    assert again.status_code == 304
    assert api.delete(f"/api/v1/watchlist/{quote(plate)}", headers=operator).status_code == 204

    rows = logged(conn, actor(users, "operator"))
    assert [(r["action"], r["plate_norm"]) for r in rows] == [
        ("watchlist_add", norm),
        ("watchlist_read", norm),
        ("watchlist_read", None),
        ("search", norm),
        ("snapshot", norm),
        ("snapshot", norm),
        ("watchlist_remove", norm),
    ]
    assert {r["role"] for r in rows} == {"operator"}
    assert all(r["detail"]["client"] == "testclient" for r in rows)
    add, read, listing, search, download, cached, remove = (r["detail"] for r in rows)
    assert add["created"] is True and add["reason"] == "xe liên quan vụ trộm"
    assert add["expires_at"] is None
    assert read["found"] is True
    assert listing["list"] is True and listing["results"] == 1 and listing["first_page"] is True
    assert search["camera"] == camera and search["results"] == 1 and search["since"] is None
    assert download == {"snapshot": picture, "not_modified": False, "client": "testclient"}
    assert cached["not_modified"] is True
    assert remove["removed"] is True and remove["added_by"] == actor(users, "operator")
    assert remove["reason"] == "xe liên quan vụ trộm"

    # Other roles that may: their own role; "not listed" is an answer about a plate too.
    admin, csirt = as_(users, "admin"), as_(users, "csirt")
    assert api.get(f"/api/v1/watchlist/{quote(plate)}", headers=admin).status_code == 404
    assert api.delete(f"/api/v1/watchlist/{quote(plate)}", headers=admin).status_code == 404
    assert api.get(f"/api/v1/snapshots/{picture}", headers=csirt).status_code == 200
    # A picture no plate read kept (an intrusion's) is recorded without a plate.
    intrusion = f"{uuid.uuid4().hex}{uuid.uuid4().hex}.png"
    (snapshots / intrusion).write_bytes(b"\x89PNG not really")
    assert api.get(f"/api/v1/snapshots/{intrusion}", headers=csirt).status_code == 200
    assert [(r["role"], r["action"], r["detail"].get("found", r["detail"].get("removed")))
            for r in logged(conn, actor(users, "admin"))] == [
        ("admin", "watchlist_read", False), ("admin", "watchlist_remove", False)]  # fmt: skip
    assert [
        (r["role"], r["action"], r["plate_norm"]) for r in logged(conn, actor(users, "csirt"))
    ] == [("csirt", "snapshot", norm), ("csirt", "snapshot", None)]


def test_every_page_of_a_search_is_one_row(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    camera: str,
    plate: str,
) -> None:
    now = datetime.now(UTC)
    reads = [
        PlateRead(time=now - timedelta(minutes=n), camera=camera, plate=plate,
                  plate_norm=normalise(plate), score=0.8, direction=None, vehicle_type=None,
                  event_id=f"{camera}-{n}", snapshot=None, source="hikvision")
        for n in range(1, 6)
    ]  # fmt: skip
    with conn.transaction():
        store_plate_reads(conn, reads)
    since = quote((now - timedelta(hours=1)).isoformat())
    walked = pages(
        api, as_(users, "admin"), f"/api/v1/plates?plate={quote(plate)}&limit=2&since={since}"
    )
    assert [len(p) for p in walked] == [2, 2, 1]
    rows = logged(conn, actor(users, "admin"))
    assert [(r["action"], r["detail"]["results"], r["detail"]["first_page"]) for r in rows] == [
        ("search", 2, True), ("search", 2, False), ("search", 1, False)]  # fmt: skip
    assert rows[0]["detail"]["since"] == (now - timedelta(hours=1)).isoformat()


def test_refused_and_malformed_requests_leave_no_row(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    snapshots: Path,
    camera: str,
    plate: str,
) -> None:
    picture = picture_of(snapshots, conn, camera, plate)
    for role in ("viewer", "integrator", "csirt"):
        who = as_(users, role)
        assert_problem(
            api.get(f"/api/v1/plates?plate={quote(plate)}", headers=who), 403, "role_forbidden"
        )
        assert_problem(
            api.get(f"/api/v1/watchlist/{quote(plate)}", headers=who), 403, "role_forbidden"
        )
        assert_problem(
            api.post("/api/v1/watchlist", headers=who, json={"plate": plate, "reason": "r"}),
            403,
            "role_forbidden",
        )
    for role in ("viewer", "integrator"):
        assert_problem(
            api.get(f"/api/v1/snapshots/{picture}", headers=as_(users, role)), 403, "role_forbidden"
        )
    operator = as_(users, "operator")
    assert_problem(api.get("/api/v1/plates?plate=...", headers=operator), 422, "plate_unreadable")
    assert_problem(
        api.get(f"/api/v1/snapshots/{'0' * 64}.jpg", headers=operator), 404, "snapshot_not_found"
    )
    past = {"plate": plate, "reason": "r", "expires_at": "2020-01-01T00:00:00+07:00"}
    assert_problem(
        api.post("/api/v1/watchlist", headers=operator, json=past), 422, "watch_expiry_past"
    )
    for role in ("viewer", "integrator", "csirt", "operator"):
        assert logged(conn, actor(users, role)) == [], role


def test_only_admins_read_the_record_by_page_in_a_bounded_range(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    who = f"cli:t-audit-{uuid.uuid4().hex[:8]}"
    plates = ("51F-123.45", "30A-999.99")
    # Seven rows an hour apart, then one 40 days ago (outside the default 30 days).
    stamps = [now - timedelta(hours=h) for h in range(7)] + [now - timedelta(days=40)]
    with conn.transaction():
        for i, at in enumerate(stamps):
            conn.execute(
                "INSERT INTO plate_access_log (at, actor, role, action, plate_norm, detail)"
                " VALUES (%s, %s, 'cli', %s, %s, %s)",
                (at, who, "search" if i % 2 else "watchlist_read", normalise(plates[i % 2]),
                 Jsonb({"i": i})),
            )  # fmt: skip
    for role in ("operator", "csirt", "viewer", "integrator"):
        assert_problem(api.get(LOG, headers=as_(users, role)), 403, "role_forbidden")
    assert_problem(api.get(LOG), 401, "token_required")

    admin = as_(users, "admin")
    walked = pages(api, admin, f"{LOG}?actor={quote(who)}&limit=3")
    assert [len(p) for p in walked] == [3, 3, 1]
    rows = [r for p in walked for r in p]
    assert [r["detail"]["i"] for r in rows] == list(range(7))
    assert rows[0]["actor"] == who and rows[0]["role"] == "cli"
    assert rows[0]["plate_norm"] == normalise("51F12345") and rows[0]["action"] == "watchlist_read"

    def numbers(query: str) -> list[int]:
        answer = api.get(f"{LOG}?actor={quote(who)}&{query}", headers=admin)
        assert answer.status_code == 200, answer.text
        return [r["detail"]["i"] for r in answer.json()]

    assert numbers("plate=30A99999") == [1, 3, 5]
    assert numbers("plate=51F%20123.45&action=watchlist_read") == [0, 2, 4, 6]
    assert numbers("action=snapshot") == []
    old = quote((now - timedelta(days=41)).isoformat())
    assert numbers(f"since={old}") == list(range(8))
    window = f"since={quote(stamps[4].isoformat())}&until={quote(stamps[1].isoformat())}"
    assert numbers(window) == [2, 3, 4]

    far = quote((now - timedelta(days=400)).isoformat())
    assert_problem(api.get(f"{LOG}?since={far}", headers=admin), 422, "time_range_too_long")
    backwards = f"since={quote(now.isoformat())}&until={old}"
    assert_problem(api.get(f"{LOG}?{backwards}", headers=admin), 422, "time_range_invalid")
    assert_problem(api.get(f"{LOG}?plate=...", headers=admin), 422, "plate_unreadable")
    assert_problem(api.get(f"{LOG}?cursor=bm90LWEta2V5", headers=admin), 422, "invalid_cursor")
    assert api.get(f"{LOG}?action=delete", headers=admin).status_code == 422
    # Reading the record is not itself recorded: the admin left no row.
    assert logged(conn, actor(users, "admin")) == []


def test_the_command_line_is_recorded_and_reads_the_record(
    conn: psycopg.Connection, plate: str
) -> None:
    env = dict(os.environ, COLUMNS="250")

    def ioc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [IOC_BIN, *args], env=env, capture_output=True, text=True, timeout=120
        )

    me, norm = f"cli:{getpass.getuser()}", normalise(plate)
    start = datetime.now(UTC)
    assert ioc("watchlist", "add", plate, "--reason", "xe mất cắp").returncode == 0
    assert ioc("watchlist", "list", "--active", "--limit", "5").returncode == 0
    assert ioc("watchlist", "remove", plate).returncode == 0
    assert ioc("watchlist", "remove", plate).returncode == 1
    assert ioc("watchlist", "add", "...", "--reason", "r").returncode == 2

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT actor, role, action, plate_norm, detail FROM plate_access_log"
            " WHERE actor = %s AND at >= %s AND (plate_norm = %s OR plate_norm IS NULL)"
            " ORDER BY id",
            (me, start, norm),
        )
        rows = cur.fetchall()
    assert [(r["action"], r["plate_norm"]) for r in rows] == [
        ("watchlist_add", norm), ("watchlist_read", None),
        ("watchlist_remove", norm), ("watchlist_remove", norm),
    ]  # fmt: skip
    assert {(r["actor"], r["role"]) for r in rows} == {(me, "cli")}
    assert rows[0]["detail"]["reason"] == "xe mất cắp" and rows[0]["detail"]["created"] is True
    assert rows[1]["detail"]["active"] is True and rows[1]["detail"]["list"] is True
    assert [r["detail"]["removed"] for r in rows[2:]] == [True, False]

    audit = ioc("plates", "audit", "--plate", plate, "--actor", me, "--since", "1h")
    assert audit.returncode == 0, audit.stderr
    assert "3 rows" in audit.stdout and audit.stdout.count(norm) == 3
    assert "watchlist_add" in audit.stdout and "watchlist_remove" in audit.stdout
    wrong = ioc("plates", "audit", "--action", "delete")
    assert wrong.returncode == 2 and "--action" in wrong.stderr


@pytest.fixture(params=(TIMESCALE, PLAIN))
def any_engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    if request.param == TIMESCALE:
        if not postgres.timescale_installed():
            pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
        yield settings.dsn()
        return
    with plain_database(settings, "ioc_plate_access_plain") as plain:
        yield plain


def test_the_record_is_append_only_but_for_pruning_past_its_period(any_engine: str) -> None:
    who = f"cli:t-prune-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    keep = timedelta(days=10)
    with psycopg.connect(any_engine, autocommit=True) as db:
        with db.transaction():
            for days in (30, 11, 9, 0):
                db.execute(
                    "INSERT INTO plate_access_log (at, actor, role, action) VALUES (%s, %s,"
                    " 'cli', 'search')",
                    (now - timedelta(days=days), who),
                )
        refused = (
            ("UPDATE plate_access_log SET actor = 'x' WHERE actor = %s", (who,)),
            ("DELETE FROM plate_access_log WHERE actor = %s", (who,)),
            ("TRUNCATE plate_access_log", None),
        )
        for statement, params in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                db.execute(statement, params)

        def ages() -> list[int]:
            rows = db.execute(
                "SELECT at FROM plate_access_log WHERE actor = %s ORDER BY at", (who,)
            ).fetchall()
            return [round((now - r[0]) / timedelta(days=1)) for r in rows]

        with db.transaction():
            # The job's permission reaches rows past its cutoff only, and ends with it.
            assert plate_audit.prune(db, now, keep, batch_rows=1) >= 2
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                db.execute("DELETE FROM plate_access_log WHERE actor = %s", (who,))
        assert ages() == [9, 0]
        # Not the dashboards' to read.
        granted = db.execute(
            "SELECT has_table_privilege(%s, 'plate_access_log', 'SELECT')", (READER_ROLE,)
        ).fetchone()
        assert granted == (False,)


def test_the_alert_service_prunes_the_record_after_two_years(
    settings: Settings, conn: psycopg.Connection
) -> None:
    from processors.alerts.channels import channels_path, load_channels
    from processors.jobs.base import run_exclusive
    from processors.service import build_jobs

    (scheduled,) = [
        j for j in build_jobs(settings, load_channels(channels_path(settings)))
        if j.name == "plate-access-pruning"
    ]  # fmt: skip
    who = f"cli:t-job-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    for days in (731, 729):
        conn.execute(
            "INSERT INTO plate_access_log (at, actor, role, action) VALUES (%s, %s, 'cli',"
            " 'search')",
            (now - timedelta(days=days), who),
        )
    assert run_exclusive(conn, scheduled.name, scheduled.job, now) >= 1
    left = conn.execute("SELECT at FROM plate_access_log WHERE actor = %s", (who,)).fetchall()
    assert [round((now - at) / timedelta(days=1)) for (at,) in left] == [729]
    # The job's permission ended with its transaction.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM plate_access_log WHERE actor = %s", (who,))
