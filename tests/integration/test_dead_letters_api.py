"""Dead letters for people, on the real stack (issue 13, acceptance 3): messages a
misconfigured route rejected arrive through the real worker and become dead letters;
they are listed (filters, pages), shown (the exact bytes), and replayed after the route
is fixed: what decodes now is stored once however often it is replayed, what still
fails keeps its new reason. Who may see and replay which letters; bad input is a 4xx."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings, get_settings
from events.models import Event
from ingest.decode import decode, reject
from ingest.formats import base as formats_base
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from ingest.provisioning import DeviceCredentials
from ingest.routes import TopicRouter
from store.users import create_user, delete_user
from store.writer import MAX_DEAD_LETTER_PAYLOAD, Batch, BatchWriter
from tests.integration.harness import (
    IOC_BIN,
    TestRoutes,
    WorkerProcess,
    count,
    mosquitto_pub,
    telemetry,
    wait_for,
)

pytestmark = pytest.mark.integration

ROLES = ("admin", "integrator", "csirt", "operator", "viewer")
WAIT = 60.0  # upper bound for waits that normally end in seconds; never asserted on
URL = "/api/v1/dead-letters"


@pytest.fixture
def users(db: psycopg.Connection) -> Iterator[dict[str, dict[str, str]]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ROLES:
        user, token = create_user(db, f"t-dl-{tag}-{role}", role)
        made[role] = {"name": user.name, "token": token}
    yield made
    for user in made.values():
        delete_user(db, user["name"])


def as_(users: dict[str, dict[str, str]], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {users[role]['token']}", "Accept-Language": "en"}


@pytest.fixture
def api(settings: Settings, routes: TestRoutes) -> Iterator[TestClient]:
    """The API reading the test's routes file, as a deployment reads its own."""
    ours = settings.model_copy(update={"routes_file": routes.path})
    app = create_app(ours)
    app.dependency_overrides[get_settings] = lambda: ours
    with TestClient(app) as client:
        yield client


def set_route(routes: TestRoutes, filter_: str, format_name: str) -> None:
    """Rewrite the test's routes file: MQTT `filter_` decoded as `format_name`."""
    config = yaml.safe_load(routes.path.read_text())
    config["mqtt"]["routes"] = [{"filter": filter_, "format": format_name}]
    routes.path.write_text(yaml.safe_dump(config))


def pages(client: TestClient, headers: dict[str, str], query: str) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following Link rel=next."""
    found = []
    url: str | None = f"{URL}?{query}"
    while url is not None:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        found.append(answer.json())
        link = answer.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return found


def letters_on(db: psycopg.Connection, prefix: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT id, reason, replay_count, resolved_at IS NOT NULL, resolved_by_replay"
        " FROM dead_letters WHERE starts_with(topic, %s) ORDER BY id",
        (prefix,),
    ).fetchall()


def test_rejected_messages_are_listed_shown_and_replayed_after_the_route_is_fixed(
    db: psycopg.Connection,
    routes: TestRoutes,
    api: TestClient,
    users: dict[str, dict[str, str]],
    devices: Callable[[int, str], list[DeviceCredentials]],
    workers: Callable[..., WorkerProcess],
    settings: Settings,
) -> None:
    # A route sent device telemetry to the Frigate decoder by mistake.
    set_route(routes, "ioc/v1/+/telemetry", "frigate")
    workers(routes, f"dl-{uuid.uuid4().hex[:6]}", "mqtt")
    first, second = devices(2, "air_quality")
    good_first = telemetry(5)
    good_second = telemetry(3, offset=100)
    broken = [b'{"ts": "2026-', b"[1, 2]"]
    mosquitto_pub(settings, first.username, first.password, first.topic, good_first)
    mosquitto_pub(settings, second.username, second.password, second.topic, good_second + broken)
    assert wait_for(lambda: count(db, "dead_letters") == 10, timeout=WAIT)
    assert count(db, "measurements") == 0

    admin, integrator = as_(users, "admin"), as_(users, "integrator")
    # -- listed: filters and pages
    everything = [row for page in pages(api, integrator, "limit=3") for row in page]
    assert len(everything) == 10 and len({r["id"] for r in everything}) == 10
    keys = [(r["received_at"], r["id"]) for r in everything]
    assert keys == sorted(keys, reverse=True)  # newest first, id breaking ties
    assert all(r["reason"].startswith("frigate: ") for r in everything)
    assert all(r["format"] == "frigate" and not r["resolved"] for r in everything)

    def listed(query: str) -> list[dict[str, Any]]:
        answer = api.get(f"{URL}?{query}&limit=500", headers=integrator)
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert len(listed(f"topic={first.topic}")) == 5
    assert len(listed("topic_prefix=ioc/v1/")) == 10
    assert len(listed("topic_prefix=ioc/v1/nobody")) == 0
    assert len(listed("reason=FRIGATE%3A%20INVALID%20JSON")) == 1  # any case, as typed
    assert len(listed("reason=not%20one%20of")) == 8
    assert len(listed("transport=kafka")) == 0
    assert len(listed("transport=mqtt&resolved=false")) == 10
    newest = everything[0]["received_at"]
    assert len(listed(f"since={newest.replace('+', '%2B')}")) >= 1
    assert len(listed(f"until={everything[-1]['received_at'].replace('+', '%2B')}")) == 0

    # -- shown: reason, origin, the exact bytes
    by_payload = {}
    for row in listed(f"topic={second.topic}"):
        detail = api.get(f"{URL}/{row['id']}", headers=integrator)
        assert detail.status_code == 200, detail.text
        body = detail.json()
        raw = base64.b64decode(body["payload_base64"])
        by_payload[raw] = body
        assert body["payload_sha256"] == hashlib.sha256(raw).hexdigest()
        assert body["payload_size"] == body["stored_size"] == len(raw)
        assert body["replays"] == [] and body["replay_count"] == 0
        assert (body["transport"], body["topic"]) == ("mqtt", second.topic)
        download = api.get(f"{URL}/{row['id']}/payload", headers=integrator)
        assert download.status_code == 200
        assert download.content == raw
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["x-content-type-options"] == "nosniff"
    assert set(by_payload) == set(good_second + broken)
    assert by_payload[b"[1, 2]"]["payload_text"] == "[1, 2]"

    # -- the route is fixed; replay what it rejected
    set_route(routes, "ioc/v1/+/telemetry", "ioc_telemetry")
    answer = api.post(
        f"{URL}/replay", headers=integrator, json={"filter": {"topic_prefix": "ioc/v1/"}}
    )
    assert answer.status_code == 200, answer.text
    replay = answer.json()
    assert (replay["selected"], replay["stored"], replay["still_failing"]) == (10, 8, 2)
    assert replay["requested_by"] == users["integrator"]["name"]
    assert replay["selection"] == {
        "filter": {"topic_prefix": "ioc/v1/", "resolved": False}, "limit": 1000,
    }  # fmt: skip
    failing = {
        i["dead_letter_id"]: i["reason"] for i in replay["items"] if i["outcome"] != "stored"
    }
    assert sorted(failing.values()) == [
        "ioc_telemetry: invalid JSON: unexpected end of data: line 1 column 14 (char 13)",
        "ioc_telemetry: record 1: not a JSON object",
    ]
    readings = count(db, "measurements")
    assert readings == 8 * 2  # pm25 and pm10 of each good message, once
    stored_ids = {i["dead_letter_id"] for i in replay["items"] if i["outcome"] == "stored"}
    for letter_id, reason, replays, resolved, by in letters_on(db, "ioc/v1/"):
        assert replays == 1
        if letter_id in stored_ids:
            assert resolved and by == replay["id"]
        else:  # kept, with today's reason
            assert not resolved and reason == failing[letter_id]
    assert len(listed("resolved=true")) == 8
    assert {r["id"] for r in listed("resolved=false")} == set(failing)

    # -- again, by id, every letter: nothing is stored twice, no second letter appears
    ids = [r["id"] for r in everything]
    again = api.post(f"{URL}/replay", headers=admin, json={"ids": ids})
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["still_failing"]) == (8, 2)
    assert count(db, "measurements") == readings
    assert count(db, "dead_letters") == 10
    for letter_id, _, replays, resolved, by in letters_on(db, "ioc/v1/"):
        assert replays == 2
        if letter_id in stored_ids:
            assert resolved and by == replay["id"]  # the first replay to store it
    # A filter replay now finds only the two that still fail.
    third = api.post(f"{URL}/replay", headers=admin, json={"filter": {"transport": "mqtt"}})
    assert third.json()["selected"] == 2 and third.json()["stored"] == 0

    detail = api.get(f"{URL}/{next(iter(failing))}", headers=integrator).json()
    assert [r["replay_id"] for r in detail["replays"]] == [
        third.json()["id"], again.json()["id"], replay["id"],
    ]  # fmt: skip
    assert all(r["outcome"] == "still_failing" for r in detail["replays"])
    records = db.execute(
        "SELECT selected, stored, still_failing, (SELECT count(*) FROM dead_letter_replay_items"
        " i WHERE i.replay_id = r.id) FROM dead_letter_replays r WHERE id = ANY(%s) ORDER BY id",
        ([replay["id"], again.json()["id"], third.json()["id"]],),
    ).fetchall()
    assert records == [(10, 8, 2, 10), (10, 8, 2, 10), (2, 0, 2, 2)]


# -- security letters, letters that cannot be replayed --------------------------------------


def dead_letter(
    db: psycopg.Connection, message: RawMessage, router: TopicRouter, max_bytes: int = 1 << 20
) -> str:
    """Reject `message` as the worker would (decode, then the batch writer) and return
    the stored letter's id."""
    decoded = decode(message, router, max_bytes)
    assert decoded.dead_letter is not None
    BatchWriter(db).write(Batch(dead_letters=[decoded.dead_letter]))
    return letter_with_payload(db, message.payload)


def syslog_line(i: int) -> bytes:
    at = (datetime.now(UTC) - timedelta(minutes=5, seconds=i)).isoformat()
    return (
        f"<86>1 {at} mail sshd {i} - - Failed password for root from 198.51.100.{i}"
        f" port {40000 + i} ssh2"
    ).encode()


def test_security_letters_are_for_the_csirt_and_admins_and_replay_by_kafka_position(
    db: psycopg.Connection,
    routes: TestRoutes,
    api: TestClient,
    users: dict[str, dict[str, str]],
) -> None:
    topic = routes.syslog_topic
    nowhere = TopicRouter({}, wildcard=False)  # the topic had no route yet
    ids = [
        dead_letter(db, RawMessage("kafka", topic, syslog_line(i), partition=1, offset=i), nowhere)
        for i in range(3)
    ]
    telemetry_id = dead_letter(
        db, RawMessage("mqtt", "ioc/v1/kg-x/telemetry", b"{"), TopicRouter({}, wildcard=True)
    )
    first = db.execute(
        "SELECT reason, format FROM dead_letters WHERE id = %s", (ids[0],)
    ).fetchone()
    assert first == (f"no format is configured for topic {topic!r}", None)

    # Integrators see equipment letters only; a security letter does not exist for them.
    seen = api.get(URL, headers=as_(users, "integrator")).json()
    assert [r["id"] for r in seen] == [telemetry_id]
    for path in (f"{URL}/{ids[0]}", f"{URL}/{ids[0]}/payload"):
        assert api.get(path, headers=as_(users, "integrator")).status_code == 404
    refused = api.post(f"{URL}/replay", headers=as_(users, "integrator"), json={"ids": ids})
    assert refused.status_code == 404 and refused.json()["code"] == "dead_letters_unknown"
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "ids", i] for i in range(3)]
    # The CSIRT reads them all but does not replay; operators and viewers read none.
    csirt = api.get(URL, headers=as_(users, "csirt")).json()
    assert {r["id"] for r in csirt} == {*ids, telemetry_id}
    assert api.get(f"{URL}/{ids[0]}", headers=as_(users, "csirt")).status_code == 200
    assert (
        api.post(f"{URL}/replay", headers=as_(users, "csirt"), json={"ids": ids}).status_code == 403
    )
    for role in ("operator", "viewer"):
        assert api.get(URL, headers=as_(users, role)).status_code == 403
        assert api.get(f"{URL}/{ids[0]}", headers=as_(users, role)).status_code == 403
    assert api.get(URL).status_code == 401

    # The routes file of this test routes the topic (make_routes): an admin replays.
    for attempt in range(2):
        answer = api.post(f"{URL}/replay", headers=as_(users, "admin"), json={"ids": ids})
        assert answer.status_code == 200, answer.text
        assert answer.json()["stored"] == 3, answer.json()
        # Security events are identified by their Kafka position: stored once.
        assert count(db, "security_events") == 3, f"after replay {attempt + 1}"


def test_a_letter_whose_payload_was_cut_cannot_be_replayed(
    db: psycopg.Connection, api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    huge = json.dumps({"ts": datetime.now(UTC).isoformat(), "note": "x" * (1 << 20)}).encode()
    router = TopicRouter({"ioc/v1/+/telemetry": "ioc_telemetry"}, wildcard=True)
    letter_id = dead_letter(db, RawMessage("mqtt", "ioc/v1/kg-big/telemetry", huge), router, 1000)
    row = api.get(f"{URL}/{letter_id}", headers=as_(users, "admin")).json()
    assert row["truncated"] and row["stored_size"] == MAX_DEAD_LETTER_PAYLOAD
    assert row["payload_size"] == len(huge) and row["reason"].startswith("message too large")
    answer = api.post(f"{URL}/replay", headers=as_(users, "admin"), json={"ids": [letter_id]})
    item = answer.json()["items"][0]
    assert item["outcome"] == "still_failing"
    assert item["reason"].startswith(
        f"cannot be replayed: only the first {MAX_DEAD_LETTER_PAYLOAD}"
    )
    after = api.get(f"{URL}/{letter_id}", headers=as_(users, "admin")).json()
    assert after["reason"] == row["reason"] and after["replay_count"] == 1


def test_a_letter_whose_events_cannot_be_written_stays_failing_and_the_others_are_stored(
    db: psycopg.Connection,
    routes: TestRoutes,
    api: TestClient,
    users: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A letter that decodes now to an event the writer refuses with no database error
    (an ECS integer past 64 bits, which orjson refuses: a bug meeting one message's
    data) is isolated as the committers isolate it: it keeps its row with the reason
    saying so, the letters replayed with it are stored, and the replay answers."""
    real = get_decoder("syslog")

    def planted(message: RawMessage) -> Sequence[Event]:
        events = real(message)
        if b"plant_unwritable" in message.payload:
            return [e.model_copy(update={"ecs": {**e.ecs, "process": {"pid": 10**25}}})
                    for e in events]  # fmt: skip
        return events

    monkeypatch.setitem(formats_base._REGISTRY, "syslog", planted)
    topic = routes.syslog_topic
    nowhere = TopicRouter({}, wildcard=False)
    lines = [syslog_line(i) for i in range(20, 23)]
    lines[1] += b" plant_unwritable"
    ids = [
        dead_letter(db, RawMessage("kafka", topic, line, partition=2, offset=i), nowhere)
        for i, line in enumerate(lines)
    ]
    reason = "could not be written: TypeError: Integer exceeds 64-bit range"
    for attempt in range(2):
        answer = api.post(f"{URL}/replay", headers=as_(users, "admin"), json={"ids": ids})
        assert answer.status_code == 200, answer.text
        replay = answer.json()
        assert (replay["selected"], replay["stored"], replay["still_failing"]) == (3, 2, 1)
        outcomes = {i["dead_letter_id"]: (i["outcome"], i["reason"]) for i in replay["items"]}
        assert outcomes == {
            ids[0]: ("stored", None), ids[1]: ("still_failing", reason), ids[2]: ("stored", None)
        }  # fmt: skip
        assert count(db, "security_events") == 2, f"after replay {attempt + 1}"
        row = db.execute(
            "SELECT reason, replay_count, resolved_at FROM dead_letters WHERE id = %s", (ids[1],)
        ).fetchone()
        assert row == (reason, attempt + 1, None)


@pytest.mark.parametrize("broken", ["routes", "rules"])
def test_replay_while_the_configuration_does_not_load_is_503_and_changes_nothing(
    db: psycopg.Connection,
    api: TestClient,
    users: dict[str, dict[str, str]],
    routes: TestRoutes,
    tmp_path: Path,
    broken: str,
) -> None:
    router = TopicRouter({"ioc/v1/+/telemetry": "ioc_telemetry"}, wildcard=True)
    letter_id = dead_letter(db, RawMessage("mqtt", "ioc/v1/kg-cfg/telemetry", b"{not json"), router)
    before = api.get(f"{URL}/{letter_id}", headers=as_(users, "admin")).json()
    replays = db.execute("SELECT count(*) FROM dead_letter_replays").fetchone()
    if broken == "routes":
        routes.path.write_text("mqtt: [unclosed\n")
    else:
        rules = tmp_path / "env-rules"
        rules.mkdir()
        (rules / "broken.yaml").write_text("rules:\n  - id: [unclosed\n")
        ours = api.app.dependency_overrides[get_settings]()  # type: ignore[attr-defined]
        broken_settings = ours.model_copy(update={"env_rules": str(rules)})
        api.app.dependency_overrides[get_settings] = lambda: broken_settings  # type: ignore[attr-defined]
    answer = api.post(f"{URL}/replay", headers=as_(users, "admin"), json={"ids": [letter_id]})
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "replay_config_invalid"
    assert api.get(f"{URL}/{letter_id}", headers=as_(users, "admin")).json() == before
    assert db.execute("SELECT count(*) FROM dead_letter_replays").fetchone() == replays


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "transport=smtp",
        "since=2026-01-01T00:00:00",  # no offset
        "until=yesterday",
        "reason=" + "x" * 201,
        "reason=a%00b",
        "topic_prefix=",
        "resolved=perhaps",
        "limit=0",
        "limit=501",
        "cursor=not-a-cursor",
        "cursor=" + base64.urlsafe_b64encode(b'["x", 1]').decode(),
    ],
)
def test_bad_filters_are_422(
    db: psycopg.Connection, api: TestClient, users: dict[str, dict[str, str]], query: str
) -> None:
    answer = api.get(f"{URL}?{query}", headers=as_(users, "admin"))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": ["a"], "filter": {}},
        {"ids": []},
        {"ids": ["a" * 65]},
        {"ids": [f"id-{i}" for i in range(1001)]},
        {"filter": {"transport": "smtp"}},
        {"filter": {"reason": "x" * 201}},
        {"filter": {"since": "2026-01-01"}},
        {"filter": {"surprise": 1}},
        {"filter": {}, "limit": 1001},
        {"ids": "abc"},
    ],
)
def test_bad_replay_requests_are_422(
    db: psycopg.Connection, api: TestClient, users: dict[str, dict[str, str]], body: Any
) -> None:
    answer = api.post(f"{URL}/replay", headers=as_(users, "admin"), json=body)
    assert answer.status_code == 422, answer.text


def test_unknown_letters_and_selections_too_large(
    db: psycopg.Connection, api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    admin = as_(users, "admin")
    for path in ("0d4f", "not%20an%20id", "x" * 64, str(uuid.uuid4())):
        assert api.get(f"{URL}/{path}", headers=admin).status_code == 404
        assert api.get(f"{URL}/{path}/payload", headers=admin).status_code == 404
    assert api.get(f"{URL}/{'x' * 65}", headers=admin).status_code == 422
    unknown = api.post(f"{URL}/replay", headers=admin, json={"ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 404
    router = TopicRouter({}, wildcard=True)
    for i in range(3):
        dead_letter(db, RawMessage("mqtt", f"site/{i}/x", f"m{i}".encode()), router)
    big = api.post(
        f"{URL}/replay", headers=admin, json={"filter": {"topic_prefix": "site/"}, "limit": 2}
    )
    assert big.status_code == 422 and big.json()["code"] == "replay_too_many"
    nothing = api.post(f"{URL}/replay", headers=admin, json={"filter": {"topic": "none"}})
    assert nothing.status_code == 200 and nothing.json()["selected"] == 0


# -- the command line ------------------------------------------------------------------------


def test_cli_lists_shows_raw_bytes_and_replays(
    db: psycopg.Connection, routes: TestRoutes, settings: Settings
) -> None:
    payload = b'{"ts": "' + datetime.now(UTC).isoformat().encode() + b'", "pm25": 12}\x1b[31m'
    letter_id = dead_letter(
        db, RawMessage("mqtt", "ioc/v1/kg-cli/telemetry", payload), TopicRouter({}, wildcard=True)
    )
    env = dict(os.environ, IOC_ROUTES_FILE=str(routes.path), COLUMNS="200")

    def ioc(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [IOC_BIN, "deadletters", *args], env=env, capture_output=True, timeout=120
        )

    listing = ioc("list", "--topic-prefix", "ioc/v1/kg-cli")
    assert listing.returncode == 0, listing.stderr
    assert letter_id.encode() in listing.stdout and b"no format is configured" in listing.stdout
    assert ioc("show", letter_id, "--raw").stdout == payload
    shown = ioc("show", letter_id)
    assert b"\\x1b[31m" in shown.stdout and b"\x1b[31m" not in shown.stdout  # no terminal codes
    assert (
        ioc("replay", "--topic", "ioc/v1/kg-cli/telemetry", "--since", "1h", "--yes").returncode
        == 0
    )
    # The payload's trailing bytes are not JSON: it still fails, now for today's reason.
    reason = db.execute(
        "SELECT reason, replay_count FROM dead_letters WHERE id = %s", (letter_id,)
    ).fetchone()
    assert reason[0].startswith("ioc_telemetry: invalid JSON") and reason[1] == 1
    assert ioc("show", "nope").returncode == 1
    assert ioc("replay", letter_id, "--topic", "x", "--yes").returncode == 2


def test_payload_download_is_never_rendered(
    db: psycopg.Connection, api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    page = b"<html><script>alert(1)</script></html>"
    letter_id = dead_letter(db, RawMessage("mqtt", "frigate/events", page), TopicRouter({}, True))
    answer = api.get(f"{URL}/{letter_id}/payload", headers=as_(users, "integrator"))
    assert answer.content == page
    assert answer.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in answer.headers["content-security-policy"]


# -- letters of the HTTP ingest path ---------------------------------------------------------


def test_http_letters_replay_by_the_http_paths_own_rules(
    db: psycopg.Connection,
    routes: TestRoutes,
    api: TestClient,
    users: dict[str, dict[str, str]],
) -> None:
    """A log line posted to a route not configured yet is stored once the route exists;
    device telemetry is split and checked as POST /ingest/telemetry does, so a record
    naming another device than the token's still fails on replay."""
    nowhere = TopicRouter({}, wildcard=True)
    line = syslog_line(60)
    posted = dead_letter(db, RawMessage("http", "http/syslog/kg-ship-1", line), nowhere)
    at = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0).isoformat()

    def rejected(record: dict[str, Any], reason: str) -> str:
        message = RawMessage("http", "ioc/v1/kg-http-a/telemetry", json.dumps(record).encode())
        letter = reject(message, "native_json", reason).dead_letter
        assert letter is not None
        BatchWriter(db).write(Batch(dead_letters=[letter]))
        return letter_with_payload(db, message.payload)

    other = rejected({"ts": at, "pm25": 3, "device_id": "kg-http-b"}, "names another device")
    valid = rejected({"ts": at, "pm25": 7}, "database rejected the message: (simulated)")
    config = yaml.safe_load(routes.path.read_text())
    config["http"] = {"routes": [{"name": "syslog", "format": "syslog", "devices": True}]}
    routes.path.write_text(yaml.safe_dump(config))

    for attempt in range(2):
        answer = api.post(
            f"{URL}/replay", headers=as_(users, "admin"), json={"ids": [posted, other, valid]}
        )
        assert answer.status_code == 200, answer.text
        outcomes = {
            i["dead_letter_id"]: (i["outcome"], i["reason"]) for i in answer.json()["items"]
        }
        assert outcomes[posted] == ("stored", None)
        assert outcomes[valid] == ("stored", None)
        assert outcomes[other][0] == "still_failing"
        assert "names device 'kg-http-b'" in outcomes[other][1]
        assert count(db, "security_events") == 1, f"after replay {attempt + 1}"
        stored = db.execute(
            "SELECT device_id, metric, value FROM measurements WHERE device_id LIKE 'kg-http-%'"
        ).fetchall()
        assert stored == [("kg-http-a", "pm25", 7.0)], f"after replay {attempt + 1}"


def letter_with_payload(db: psycopg.Connection, payload: bytes) -> str:
    row = db.execute(
        "SELECT id FROM dead_letters WHERE payload_sha256 = %s",
        (hashlib.sha256(payload).hexdigest(),),
    ).fetchone()
    assert row is not None
    return row[0]
