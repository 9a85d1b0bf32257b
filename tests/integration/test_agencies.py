"""Agencies on the real stack (issue 14, acceptance 6): security events through Kafka and
the real worker carry their agency, so do the alerts they raise; the alert service's
log-sources job raises `security.log_source_silent` and resolves it when the source
speaks again (a fixed clock); the per-agency summary and inventory through the API,
with its refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from config import agencies
from config.agencies import Inventory
from config.settings import Settings
from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import TopicRouter
from processors.alerts.manager import AlertManager
from processors.jobs.base import run_exclusive
from processors.jobs.log_sources import LogSourcesJob
from store.agencies import SILENT_RULE
from store.users import create_user, delete_user
from store.writer import Batch, BatchWriter
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

TAG = uuid.uuid4().hex[:6]
AGENCY, OTHER = f"g-tc-{TAG}", f"g-yt-{TAG}"
FIREWALL, WEB = f"g-fw-{TAG}", f"g-web-{TAG}"
FW_HOST, WEB_HOST, YT_HOST = f"tc-fw-{TAG}", f"tc-web-{TAG}", f"yt-srv-{TAG}"
ATTACKER = "198.18.7.9"

INVENTORY = {
    "silent_alert": {"severity": "medium", "after_intervals": 2},
    "agencies": [
        {
            "id": AGENCY,
            "name_vi": "Sở Tài chính (thử nghiệm)",
            "name_en": "Department of Finance (test)",
            "networks": ["10.240.0.0/16"],
            "hosts": [f"tc-*-{TAG}"],
            "log_sources": [
                {
                    "id": FIREWALL,
                    "kind": "firewall",
                    "match": {"host_name": [FW_HOST]},
                    "expected_interval_s": 300,
                },
                {
                    "id": WEB,
                    "kind": "syslog",
                    "match": {"host_name": [WEB_HOST], "topic": ["seclog.syslog*"]},
                    "expected_interval_s": 3600,
                },
            ],
        },
        {
            "id": OTHER,
            "name_vi": "Sở Y tế (thử nghiệm)",
            "name_en": "Department of Health (test)",
            "networks": ["10.241.0.0/16"],
            "hosts": [YT_HOST],
        },
    ],
}


@pytest.fixture
def inventory_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inventory]:
    """The test inventory for this process and for the workers it starts."""
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("IOC_AGENCIES_FILE", str(path))
    inventory = Inventory.load(path)
    agencies.use(inventory)
    yield inventory
    agencies.use(None)


@pytest.fixture
def clean(db: psycopg.Connection) -> psycopg.Connection:
    db.execute("DELETE FROM log_source_seen WHERE source_id LIKE %s", (f"%{TAG}",))
    db.execute("DELETE FROM alerts WHERE labels->>'agency' IN (%s, %s)", (AGENCY, OTHER))
    return db


def _ssh(topic: str, at: datetime, host: str, ip: str, n: int) -> tuple[str, bytes, bytes]:
    line = (
        f"<86>1 {at.isoformat()} {host} sshd {4000 + n} - - Failed password for root"
        f" from {ip} port {30000 + n} ssh2"
    )
    return topic, ip.encode(), line.encode()


def test_events_and_their_alerts_carry_the_agency_through_the_real_worker(
    settings: Settings, clean: psycopg.Connection, routes: TestRoutes, workers, inventory_file
) -> None:
    db = clean
    create_topics(settings, [routes.syslog_topic])
    start = datetime.now(UTC) - timedelta(minutes=2)
    attack = [_ssh(routes.syslog_topic, start + timedelta(seconds=i), WEB_HOST, ATTACKER, i)
              for i in range(12)]  # fmt: skip
    # Another agency's server by its host name; an unknown host reached by its address.
    other = [_ssh(routes.syslog_topic, start, YT_HOST, "10.241.3.3", 99)]
    nobody = [_ssh(routes.syslog_topic, start, "mystery", "192.0.2.77", 98)]
    workers(routes, "agencies", "kafka")
    produce(settings, attack + other + nobody)
    total = len(attack) + len(other) + len(nobody)
    assert wait_for(
        lambda: db.execute("SELECT count(*) FROM security_events").fetchone()[0] == total,
        timeout=90,
    )
    rows = db.execute(
        "SELECT host_name, ecs->'organization'->>'id', ecs->'organization'->>'name',"
        " ecs->'labels'->>'log_source', count(*) FROM security_events GROUP BY 1, 2, 3, 4"
    ).fetchall()
    assert sorted(rows, key=str) == sorted(
        [
            (WEB_HOST, AGENCY, "Sở Tài chính (thử nghiệm)", WEB, 12),
            (YT_HOST, OTHER, "Sở Y tế (thử nghiệm)", None, 1),
            ("mystery", None, None, None, 1),
        ],
        key=str,
    )
    # The brute force against the Finance web server is Finance's alert.
    assert wait_for(
        lambda: (
            db.execute(
                "SELECT count(*) FROM alerts WHERE rule = 'sec.bruteforce'"
                " AND labels->>'source_ip' = %s",
                (ATTACKER,),
            ).fetchone()[0]
            == 1
        ),
        timeout=30,
    )
    labels = db.execute(
        "SELECT labels FROM alerts WHERE rule = 'sec.bruteforce' AND labels->>'source_ip' = %s",
        (ATTACKER,),
    ).fetchone()[0]
    assert labels == {"source_ip": ATTACKER, "agency": AGENCY}


# ---- the silent-log-source alert, on a fixed clock -------------------------------------

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def _write(db_settings: Settings, host: str, at: datetime, n: int) -> None:
    """A firewall's line through decode (which gives it its agency) and the writer."""
    router = TopicRouter({"seclog.syslog": "syslog"}, wildcard=False)
    line = (
        f"<4>1 {at.isoformat()} {host} kernel - - - [UFW BLOCK] IN=eth0 OUT= SRC={ATTACKER}"
        f" DST=10.240.1.{n} LEN=40 PROTO=TCP SPT=40000 DPT=445"
    ).encode()
    message = RawMessage("kafka", "seclog.syslog", line, partition=0, offset=n, received_at=at)
    decoded = decode(message, router, 1 << 20)
    assert decoded.dead_letter is None, decoded.dead_letter
    batch = Batch()
    batch.add(decoded.events)
    with psycopg.connect(db_settings.dsn(), autocommit=True) as conn:
        BatchWriter(conn).write(batch)


def _alerts(db: psycopg.Connection) -> list[tuple[str, dict[str, str]]]:
    return db.execute(
        "SELECT status, labels FROM alerts WHERE rule = %s AND labels->>'agency' = %s"
        " ORDER BY started_at",
        (SILENT_RULE, AGENCY),
    ).fetchall()


def test_a_silent_log_source_raises_an_alert_that_resolves_when_it_speaks_again(
    settings: Settings, clean: psycopg.Connection, inventory_file: Inventory
) -> None:
    db = clean
    job = LogSourcesJob(AlertManager(StubRouting()), inventory_file)

    def run(now: datetime) -> Any:
        return run_exclusive(db, "log-sources-test", job, now)

    _write(settings, FW_HOST, NOW - timedelta(minutes=3), 1)
    run(NOW)
    assert _alerts(db) == []
    seen = dict(db.execute("SELECT source_id, last_seen FROM log_source_seen").fetchall())
    assert seen[FIREWALL] == NOW - timedelta(minutes=3)
    assert WEB not in seen  # never heard from: nothing to say about it
    # 300 s × 2: silent past 10 minutes after its last line; exactly 10 is not yet.
    run(NOW + timedelta(minutes=7))
    assert _alerts(db) == []
    run(NOW + timedelta(minutes=8))
    ((status, labels),) = _alerts(db)
    assert status == "firing" and labels == {"agency": AGENCY, "log_source": FIREWALL}
    title, values, started = db.execute(
        "SELECT title_vi, alert_values, started_at FROM alerts WHERE rule = %s"
        " AND labels->>'log_source' = %s",
        (SILENT_RULE, FIREWALL),
    ).fetchone()
    assert "ngừng gửi" in title and values["threshold_s"] == 600
    assert started == NOW + timedelta(minutes=7)  # when the silence crossed the limit
    run(NOW + timedelta(minutes=9))
    assert len(_alerts(db)) == 1  # still one alert while it stays silent
    # It speaks again: the next run resolves the same alert.
    _write(settings, FW_HOST, NOW + timedelta(minutes=9, seconds=30), 2)
    run(NOW + timedelta(minutes=10))
    ((status, labels),) = _alerts(db)
    assert status == "resolved"


# ---- the API ---------------------------------------------------------------------------


@pytest.fixture
def users(db: psycopg.Connection) -> Iterator[dict[str, str]]:
    made = {}
    for role in ("admin", "csirt", "operator", "viewer", "integrator"):
        _, token = create_user(db, f"t-ag-{TAG}-{role}", role)
        made[role] = token
    yield made
    for role in made:
        delete_user(db, f"t-ag-{TAG}-{role}")


def _seed(db: psycopg.Connection, inventory: Inventory) -> None:
    """Recent events of both agencies (malware, firewall blocks, logins), one open and
    one resolved Finance alert, an open and a closed case holding Finance alerts, and a
    silent firewall."""
    now = datetime.now(UTC)
    events = [
        ("malware", ["malware"], ["info"], AGENCY),
        ("quarantined", ["malware"], ["denied"], AGENCY),  # a malware block is malware
        ("deny", ["network"], ["connection", "denied"], AGENCY),
        ("deny", ["network"], ["connection", "denied"], AGENCY),
        ("allow", ["network"], ["connection", "allowed"], AGENCY),
        ("login", ["authentication"], ["start"], AGENCY),
        ("deny", ["network"], ["connection", "denied"], OTHER),
        ("malware", ["malware"], ["info"], OTHER),
    ]
    for i, (action, category, types, agency) in enumerate(events):
        db.execute(
            "INSERT INTO security_events (time, event_id, dataset, category, action, ecs, raw)"
            " VALUES (%s, %s, 'test', %s, %s, %s, '')",
            (
                now - timedelta(minutes=10 + i),
                f"ag-{TAG}-{i}",
                category,
                action,
                psycopg.types.json.Jsonb(
                    {"event": {"type": types}, "organization": {"id": agency}}
                ),
            ),
        )
    # An event older than the window counts nowhere.
    db.execute(
        "INSERT INTO security_events (time, event_id, dataset, category, ecs, raw)"
        " VALUES (%s, %s, 'test', '{malware}', %s, '')",
        (now - timedelta(hours=30), f"ag-{TAG}-old", psycopg.types.json.Jsonb(
            {"organization": {"id": AGENCY}})),
    )  # fmt: skip
    alert_ids = {}
    for name, status in (("open", "firing"), ("done", "resolved"), ("other", "firing")):
        alert_id = uuid.uuid4()
        agency = OTHER if name == "other" else AGENCY
        db.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
            " labels, title_vi, title_en, started_at, updated_at)"
            " VALUES (%s, %s, 'sec.test', 'security', %s, 2, 2, %s, 't', 't', now(), now())",
            (alert_id, f"fp-{TAG}-{name}", status,
             psycopg.types.json.Jsonb({"agency": agency, "k": name})),
        )  # fmt: skip
        alert_ids[name] = alert_id
    for status, alerts in (("investigating", ["open", "done"]), ("closed", ["open"])):
        case_id = uuid.uuid4()
        db.execute(
            "INSERT INTO cases (id, title, status, classification, closed_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (case_id, f"case {TAG}", status,
             "true_positive" if status == "closed" else None,
             now if status == "closed" else None),
        )  # fmt: skip
        for name in alerts:
            db.execute(
                "INSERT INTO case_alerts (case_id, alert_id) VALUES (%s, %s)",
                (case_id, alert_ids[name]),
            )
    db.execute(
        "INSERT INTO log_source_seen (source_id, agency_id, last_seen) VALUES"
        " (%s, %s, %s), (%s, %s, %s)",
        (FIREWALL, AGENCY, now - timedelta(hours=1), WEB, AGENCY, now - timedelta(minutes=5)),
    )


@pytest.fixture
def seeded(clean: psycopg.Connection, inventory_file: Inventory) -> Iterator[psycopg.Connection]:
    _seed(clean, inventory_file)
    yield clean
    clean.execute("DELETE FROM cases WHERE title = %s", (f"case {TAG}",))
    clean.execute("DELETE FROM alerts WHERE fingerprint LIKE %s", (f"fp-{TAG}-%",))


def test_summary_counts_the_agencys_malware_blocks_incidents_and_silent_sources(
    seeded: psycopg.Connection, users: dict[str, str]
) -> None:
    with TestClient(create_app()) as client:
        answer = client.get(
            f"/api/v1/agencies/{AGENCY}/summary",
            headers={"Authorization": f"Bearer {users['csirt']}"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["agency"] == AGENCY and body["name_vi"] == "Sở Tài chính (thử nghiệm)"
        assert body["malware_detections"] == 2
        assert body["firewall_blocks"] == 2
        assert body["security_events"] == 6
        assert body["open_alerts"] == 1
        assert body["open_incidents"] == 1  # the closed case does not count
        assert [s["id"] for s in body["silent_log_sources"]] == [FIREWALL]
        assert body["silent_log_sources"][0]["status"] == "silent"
        # A longer window reaches the older event.
        longer = client.get(
            f"/api/v1/agencies/{AGENCY}/summary?hours=48",
            headers={"Authorization": f"Bearer {users['admin']}"},
        ).json()
        assert longer["malware_detections"] == 3

        listed = client.get(
            "/api/v1/agencies", headers={"Authorization": f"Bearer {users['admin']}"}
        ).json()
        assert [(a["id"], a["log_sources"], a["silent_log_sources"]) for a in listed] == [
            (AGENCY, 2, 1),
            (OTHER, 0, 0),
        ]
        one = client.get(
            f"/api/v1/agencies/{AGENCY}", headers={"Authorization": f"Bearer {users['csirt']}"}
        ).json()
        assert one["networks"] == ["10.240.0.0/16"]
        assert {s["id"]: s["status"] for s in one["log_sources"]} == {
            FIREWALL: "silent",
            WEB: "ok",
        }


@pytest.mark.parametrize(
    ("path", "role", "status", "code"),
    [
        ("/api/v1/agencies", "viewer", 403, "role_forbidden"),
        ("/api/v1/agencies", "operator", 403, "role_forbidden"),
        (f"/api/v1/agencies/{AGENCY}/summary", "integrator", 403, "role_forbidden"),
        ("/api/v1/agencies/khong-co", "csirt", 404, "agency_not_found"),
        ("/api/v1/agencies/khong-co/summary", "csirt", 404, "agency_not_found"),
        ("/api/v1/agencies/Bad%20Id", "csirt", 422, "invalid_request"),
        (f"/api/v1/agencies/{AGENCY}/summary?hours=0", "csirt", 422, "invalid_request"),
        (f"/api/v1/agencies/{AGENCY}/summary?hours=745", "csirt", 422, "invalid_request"),
        (f"/api/v1/agencies/{AGENCY}/summary?hours=x", "csirt", 422, "invalid_request"),
        ("/api/v1/agencies", None, 401, "token_required"),
    ],
)
def test_refusals_are_problems_never_server_errors(
    inventory_file: Inventory, users: dict[str, str], path: str, role: str | None, status: int,
    code: str,
) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {users[role]}"} if role else {}
    with TestClient(create_app()) as client:
        answer = client.get(path, headers={**headers, "Accept-Language": "en"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
