"""The TAXII 2.1 server on the real API process, read with taxii2-client as a TAXII
client would, and the pull of indicators from a TAXII collection (our own server here)
into the indicator lists.

Cases are written straight into E's tables (migration 22's fixed interface), as the
cases API would leave them: closed with a classification, then marked shared."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import requests
import stix2
from taxii2client.v21 import Server, as_pages

from config.settings import Settings
from processors.jobs.taxii import TaxiiPullJob
from processors.security.indicators.loader import load_indicators
from processors.taxii.config import PullSource, TaxiiConfig
from processors.taxii.pull import pull
from store import rule_generation
from store import taxii as store
from store.users import create_user, delete_user
from tests.integration.api_server import api_process
from tests.integration.harness import TestRoutes, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

TAXII_MEDIA = "application/taxii+json;version=2.1"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as c:
        yield c


@pytest.fixture
def cases(conn: psycopg.Connection) -> Iterator[list[uuid.UUID]]:
    made: list[uuid.UUID] = []
    yield made
    for case_id in made:
        conn.execute("DELETE FROM cases WHERE id = %s", (case_id,))
        store.withdraw_case(conn, case_id)


@pytest.fixture
def consumer(conn: psycopg.Connection) -> Iterator[tuple[str, str]]:
    name = f"t-taxii-{uuid.uuid4().hex[:8]}"
    _, secret = store.add_consumer(conn, name)
    yield name, secret
    conn.execute("DELETE FROM taxii_consumers WHERE name = %s", (name,))


@pytest.fixture
def green(conn: psycopg.Connection) -> Iterator[store.Collection]:
    found = store.add_collection(conn, f"t-green-{uuid.uuid4().hex[:8]}", "Green only", "green")
    yield found
    conn.execute("DELETE FROM taxii_collections WHERE id = %s", (found.id,))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("taxii") / "api.log"
    # Failed logins are part of the tests: a limit that never throttles them.
    with api_process({"IOC_API_AUTH_FAILURES": "1000/minute"}, log) as url:
        yield url
    assert "Traceback" not in log.read_text(errors="replace")


def make_case(
    conn: psycopg.Connection,
    made: list[uuid.UUID],
    *,
    tlp: str = "amber",
    shared: bool = True,
    classification: str = "true_positive",
    ip: str = "203.0.113.77",
) -> uuid.UUID:
    """A brute-force incident from three alerts, worked through to closure."""
    case_id = uuid.uuid4()
    made.append(case_id)
    conn.execute(
        "INSERT INTO cases (id, title, description, severity, tlp, pap, status,"
        " classification, shared, created, updated, acknowledged_at, closed_at)"
        " VALUES (%s, %s, %s, 'high', %s, 'amber', 'closed', %s, %s, %s, %s, %s, %s)",
        (
            case_id, f"Dò mật khẩu SSH từ {ip}", "SSH brute force against the portal",
            tlp, classification, shared, T0, T0 + timedelta(hours=3),
            T0 + timedelta(minutes=10), T0 + timedelta(hours=3),
        ),
    )  # fmt: skip
    observables = [
        ("ipv4", ip, 40),
        ("domain", "c2.bad.example", 2),
        ("sha256", "ab" * 32, 1),
        ("user", "nguyenvana", 40),
        ("host", "portal-01", 40),
    ]
    for kind, value, count in observables:
        conn.execute(
            "INSERT INTO case_observables (case_id, type, value, first_seen, last_seen,"
            " sightings) VALUES (%s, %s, %s, %s, %s, %s)",
            (case_id, kind, value, T0, T0 + timedelta(minutes=30), count),
        )
    for n in range(3):
        conn.execute(
            "INSERT INTO case_alerts (case_id, alert_id, rule, title_en, severity, started_at)"
            " VALUES (%s, %s, 'security.ssh_bruteforce', 'SSH brute force', 3, %s)",
            (case_id, uuid.uuid4(), T0 + timedelta(minutes=n)),
        )
    return case_id


def touch(conn: psycopg.Connection, case_id: uuid.UUID, **changes: Any) -> None:
    """Change a case as the cases API does: `updated` moves."""
    sets = ", ".join(f"{k} = %s" for k in changes)
    conn.execute(
        f"UPDATE cases SET {sets}, updated = clock_timestamp() WHERE id = %s",
        (*changes.values(), case_id),
    )


def collection_of(url: str, who: tuple[str, str], alias: str = "incidents") -> Any:
    server = Server(f"{url}/taxii2/", user=who[0], password=who[1])
    assert server.api_roots, "discovery lists the API root"
    root = server.api_roots[0]
    found = [c for c in root.collections if c.alias == alias]
    assert len(found) == 1, [c.alias for c in root.collections]
    return found[0]


def of_case(objects: list[dict[str, Any]], case_id: uuid.UUID) -> list[dict[str, Any]]:
    def mine(o: dict[str, Any]) -> bool:
        refs = o.get("external_references") or []
        return any(r.get("external_id") == str(case_id) for r in refs)

    return [o for o in objects if mine(o)]


def everything(collection: Any, **filters: Any) -> list[dict[str, Any]]:
    return [
        o
        for page in as_pages(collection.get_objects, per_request=7, **filters)
        for o in page.get("objects", [])
    ]


def test_a_closed_case_shared_is_fetched_back_as_stix(
    api: str, conn: psycopg.Connection, cases: list[uuid.UUID], consumer: tuple[str, str]
) -> None:
    case_id = make_case(conn, cases, shared=False)
    collection = collection_of(api, consumer)
    assert collection.can_read and not collection.can_write
    assert of_case(everything(collection), case_id) == []  # not shared yet

    touch(conn, case_id, shared=True)
    objects = everything(collection)
    mine = of_case(objects, case_id)
    kinds = sorted(o["type"] for o in mine)
    assert kinds == ["indicator"] * 3 + ["report"] + ["sighting"] * 3, kinds
    report = next(o for o in mine if o["type"] == "report")
    assert report["name"] == "Dò mật khẩu SSH từ 203.0.113.77"
    assert "classification:true_positive" in report["labels"]
    patterns = sorted(o["pattern"] for o in mine if o["type"] == "indicator")
    assert patterns == [
        "[domain-name:value = 'c2.bad.example']",
        f"[file:hashes.'SHA-256' = '{'ab' * 32}']",
        "[ipv4-addr:value = '203.0.113.77']",
    ]
    # Users and hosts are not shared, anywhere in the collection.
    assert "nguyenvana" not in str(objects) and "portal-01" not in str(objects)
    by_id = {o["id"]: o for o in objects}
    for ref in report["object_refs"]:
        assert ref in by_id, f"{ref} is referenced but not in the collection"
    observed = [by_id[r] for r in report["object_refs"] if r.startswith("observed-data--")]
    assert len(observed) == 1 and observed[0]["number_observed"] == 3
    sco_types = sorted(by_id[r]["type"] for r in observed[0]["object_refs"])
    assert sco_types == ["domain-name", "file", "ipv4-addr"]
    sighting = next(
        o for o in mine if o["type"] == "sighting" and "ipv4" in by_id[o["sighting_of_ref"]]["name"]
    )
    assert sighting["count"] == 40 and sighting["observed_data_refs"] == [observed[0]["id"]]
    assert all(o["object_marking_refs"] == [AMBER] for o in mine)
    assert AMBER in by_id and by_id[sighting["created_by_ref"]]["type"] == "identity"
    # Every object is valid STIX 2.1 to the stix2 library.
    for item in objects:
        stix2.parse(item, allow_custom=False, version="2.1")

    # One object by id, and the manifest agrees with the objects.
    one = collection.get_object(report["id"])
    assert [o["id"] for o in one["objects"]] == [report["id"]]
    manifest = [m for page in as_pages(collection.get_manifest, per_request=5)
                for m in page.get("objects", [])]  # fmt: skip
    assert sorted(m["id"] for m in manifest) == sorted(by_id)
    assert {m["version"] for m in manifest if m["id"] == report["id"]} == {report["modified"]}


def test_pages_and_added_after_give_every_object_once(
    api: str, conn: psycopg.Connection, cases: list[uuid.UUID], consumer: tuple[str, str]
) -> None:
    first = make_case(conn, cases, ip="198.51.100.10")
    second = make_case(conn, cases, ip="198.51.100.11")
    collection = collection_of(api, consumer)
    paged = everything(collection)
    ids = [o["id"] for o in paged]
    assert len(ids) == len(set(ids)), "a page repeated an object"
    whole = collection.get_objects(limit=1000)
    assert sorted(ids) == sorted(o["id"] for o in whole["objects"])
    assert whole["more"] is False and "next" not in whole

    # The last date_added so far, from the header, as a polling consumer keeps it.
    auth = consumer
    objects_url = collection.objects_url
    answer = httpx.get(objects_url, auth=auth, headers={"Accept": TAXII_MEDIA}, params={"limit": 1})
    assert answer.status_code == 200 and answer.headers["content-type"] == TAXII_MEDIA
    assert answer.json()["more"] is True and answer.json()["next"]
    last = httpx.get(objects_url, auth=auth, params={"limit": 1000}).headers[
        "X-TAXII-Date-Added-Last"
    ]
    assert collection.get_objects(added_after=last) == {}  # nothing new

    touch(conn, second, status="closed", description="Updated after the review")
    newer = collection.get_objects(added_after=last)["objects"]
    assert {
        o["external_references"][0]["external_id"] for o in newer if "external_references" in o
    } == {str(second)}
    assert of_case(newer, first) == []
    report = next(o for o in newer if o["type"] == "report")
    assert report["description"] == "Updated after the review"
    assert report["modified"] > report["created"]


def test_tlp_ceiling_and_withdrawal(
    api: str,
    conn: psycopg.Connection,
    cases: list[uuid.UUID],
    consumer: tuple[str, str],
    green: store.Collection,
) -> None:
    amber = make_case(conn, cases, tlp="amber", ip="192.0.2.1")
    clear = make_case(conn, cases, tlp="clear", ip="192.0.2.2")
    red = make_case(conn, cases, tlp="red", ip="192.0.2.3")
    incidents = everything(collection_of(api, consumer))
    assert of_case(incidents, amber) and of_case(incidents, clear)
    assert of_case(incidents, red) == []
    assert "192.0.2.3" not in str(incidents)
    greens = everything(collection_of(api, consumer, green.alias))
    assert of_case(greens, clear) and of_case(greens, amber) == []
    assert "192.0.2.1" not in str(greens)
    assert AMBER not in {o["id"] for o in greens}  # not even the amber marking

    # Raised to red, then unshared: gone from the collection, object by id 404.
    report_id = next(o["id"] for o in of_case(incidents, amber) if o["type"] == "report")
    touch(conn, amber, tlp="red")
    assert of_case(everything(collection_of(api, consumer)), amber) == []
    touch(conn, clear, shared=False)
    collection = collection_of(api, consumer)
    assert of_case(everything(collection), clear) == []
    with pytest.raises(requests.HTTPError) as refused:
        collection.get_object(report_id)
    assert refused.value.response.status_code == 404
    assert refused.value.response.headers["content-type"] == TAXII_MEDIA


def test_consumers_log_in_with_their_own_secret(
    api: str, conn: psycopg.Connection, consumer: tuple[str, str], green: store.Collection
) -> None:
    name, secret = consumer
    base = f"{api}/taxii2/csirt/collections/"
    assert httpx.get(base, auth=(name, secret)).status_code == 200
    wrong = httpx.get(base, auth=(name, secret + "x"), headers={"Accept-Language": "en"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == TAXII_MEDIA
    assert wrong.json()["http_status"] == "401" and "Basic" in wrong.headers["www-authenticate"]
    assert httpx.get(base).status_code == 401
    # Stored hashed: the secret is nowhere in the table.
    row = conn.execute("SELECT secret_sha256 FROM taxii_consumers WHERE name = %s", (name,))
    assert secret.encode() not in bytes(row.fetchone()[0])

    limited, limited_secret = store.add_consumer(conn, f"t-limited-{uuid.uuid4().hex[:6]}",
                                                 [green.alias])  # fmt: skip
    try:
        listed = httpx.get(base, auth=(limited.name, limited_secret)).json()["collections"]
        assert [c["alias"] for c in listed] == [green.alias]
        other = httpx.get(f"{base}incidents/objects/", auth=(limited.name, limited_secret))
        assert other.status_code == 404
        assert store.revoke_consumer(conn, limited.name)
        assert httpx.get(base, auth=(limited.name, limited_secret)).status_code == 401
    finally:
        conn.execute("DELETE FROM taxii_consumers WHERE name = %s", (limited.name,))

    csirt, token = create_user(conn, f"t-taxii-csirt-{uuid.uuid4().hex[:6]}", "csirt")
    viewer, viewer_token = create_user(conn, f"t-taxii-viewer-{uuid.uuid4().hex[:6]}", "viewer")
    try:
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base, headers=bearer).status_code == 200
        no = httpx.get(base, headers={"Authorization": f"Bearer {viewer_token}"})
        assert no.status_code == 403
    finally:
        delete_user(conn, csirt.name)
        delete_user(conn, viewer.name)


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        ("incidents/objects/", {}, {"Accept": "text/html"}, 406),
        ("incidents/objects/", {}, {"Accept": "application/taxii+json;version=2.0"}, 406),
        ("incidents/objects/", {"added_after": "yesterday"}, {}, 400),
        ("incidents/objects/", {"next": "not-ours"}, {}, 400),
        ("incidents/objects/", {"limit": "0"}, {}, 400),
        ("incidents/objects/", {"match[type]": "Report!"}, {}, 400),
        ("incidents/objects/", {"match[version]": "soon"}, {}, 400),
        ("incidents/objects/not-an-id/", {}, {}, 400),
        ("nothing-here/", {}, {}, 404),
        ("incidents/objects/report--00000000-0000-4000-8000-000000000000/", {}, {}, 404),
    ],
)
def test_bad_requests_are_taxii_errors(
    api: str,
    consumer: tuple[str, str],
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    answer = httpx.get(
        f"{api}/taxii2/csirt/collections/{path}", params=params, headers=headers, auth=consumer
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == TAXII_MEDIA
    body = answer.json()
    assert body["http_status"] == str(status) and body["title"] and body["description"]


def test_pull_brings_the_collections_indicators_into_the_lists(
    api: str,
    conn: psycopg.Connection,
    cases: list[uuid.UUID],
    consumer: tuple[str, str],
    tmp_path: Path,
    settings: Settings,
) -> None:
    case_id = make_case(conn, cases, ip="203.0.113.199")
    collection_id = collection_of(api, consumer).id
    source = PullSource(
        name="self",
        collection=f"{api}/taxii2/csirt/collections/{collection_id}/",
        user=consumer[0],
        password=consumer[1],
        page_size=3,
    )
    result = pull(source, consumer[1], tmp_path)
    assert result.changed and result.path == tmp_path / "taxii-self.json"
    loaded = load_indicators(tmp_path)
    found = loaded.match_ip("203.0.113.199")
    assert found is not None and found.source.startswith("taxii-self.json indicator--")
    assert loaded.match_domain("www.c2.bad.example") is not None
    assert loaded.match_hash("AB" * 32) is not None
    assert pull(source, consumer[1], tmp_path).changed is False  # same content, same file

    # Re-classified as a false positive: its indicators are revoked, and leave the list.
    touch(conn, case_id, classification="false_positive")
    assert pull(source, consumer[1], tmp_path).changed
    assert load_indicators(tmp_path).match_ip("203.0.113.199") is None

    # The job: due sources pulled, the outcome recorded, the workers told to reload.
    touch(conn, case_id, classification="true_positive")
    job_settings = settings.model_copy(update={"indicators": str(tmp_path)})
    named = source.model_copy(update={"name": f"t{uuid.uuid4().hex[:8]}"})
    before = rule_generation.current(conn)
    try:
        with conn.transaction():
            assert (
                TaxiiPullJob(job_settings, TaxiiConfig(pull=[named]))(conn, datetime.now(UTC)) == 1
            )
        state = store.pull_state(conn, named.name)
        assert state is not None and state["error"] is None and state["indicators"] >= 2
        assert rule_generation.current(conn) == before + 1
        assert (tmp_path / named.file_name).exists()
        # Not due again within its interval.
        with conn.transaction():
            assert (
                TaxiiPullJob(job_settings, TaxiiConfig(pull=[named]))(conn, datetime.now(UTC)) == 0
            )
        # A wrong secret: recorded as an error, the last good file kept.
        broken = named.model_copy(update={"password": None, "every_minutes": 5})
        later = datetime.now(UTC) + timedelta(minutes=6)
        with conn.transaction():
            assert TaxiiPullJob(job_settings, TaxiiConfig(pull=[broken]))(conn, later) == 0
        state = store.pull_state(conn, named.name)
        assert state is not None and "401" in (state["error"] or "")
        assert state["indicators"] >= 2 and (tmp_path / named.file_name).exists()
    finally:
        conn.execute("DELETE FROM taxii_pulls WHERE source = %s", (named.name,))


def test_an_incident_from_alerts_worked_to_closure_is_shared_and_fetched_back(
    api: str, conn: psycopg.Connection, consumer: tuple[str, str]
) -> None:
    """Acceptance 5 of issue 14, through the cases API (E's) and taxii2-client."""
    from psycopg.types.json import Jsonb

    address = "203.0.113.250"
    alerts = []
    analyst, token = create_user(conn, f"t-taxii-flow-{uuid.uuid4().hex[:6]}", "csirt")
    case_id = None
    try:
        for rule, severity in (("sec.bruteforce", 3), ("sec.portscan", 2)):
            alert_id = uuid.uuid4()
            alerts.append(alert_id)
            at = datetime.now(UTC) - timedelta(minutes=5)
            conn.execute(
                "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity,"
                " peak_severity, labels, title_vi, title_en, alert_values, event_ids,"
                " started_at, updated_at) VALUES (%s, %s, %s, 'security', 'firing', %s, %s,"
                " %s, %s, %s, '{}', '{}', %s, %s)",
                (
                    alert_id, f"t-taxii-{alert_id}", rule, severity, severity,
                    Jsonb({"source_ip": address}), f"Cảnh báo {rule}", f"Alert {rule}", at, at,
                ),
            )  # fmt: skip
        h = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{api}/api/v1/cases",
            json={"title": f"Tấn công từ {address}", "alert_ids": [str(a) for a in alerts],
                  "tlp": "amber"},
            headers=h,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        case_id = made.json()["id"]
        url = f"{api}/api/v1/cases/{case_id}"
        for change in ({"status": "investigating"}, {"status": "contained", "shared": True}):
            assert httpx.patch(url, json=change, headers=h).status_code == 200
        closed = httpx.post(f"{url}/close", json={"classification": "true_positive"}, headers=h)
        assert closed.status_code == 200, closed.text

        objects = everything(collection_of(api, consumer))
        mine = of_case(objects, uuid.UUID(case_id))
        report = next(o for o in mine if o["type"] == "report")
        assert report["name"] == f"Tấn công từ {address}"
        assert {"status:closed", "classification:true_positive"} <= set(report["labels"])
        patterns = [o["pattern"] for o in mine if o["type"] == "indicator"]
        assert f"[ipv4-addr:value = '{address}']" in patterns
        observed = next(o for o in objects if o["id"] in report["object_refs"]
                        and o["type"] == "observed-data")  # fmt: skip
        assert observed["number_observed"] == 2
    finally:
        if case_id is not None:
            conn.execute("DELETE FROM cases WHERE id = %s", (case_id,))
            store.withdraw_case(conn, uuid.UUID(case_id))
        conn.execute("DELETE FROM alerts WHERE id = ANY(%s::uuid[])", (alerts,))
        delete_user(conn, analyst.name)


def test_consumers_and_collections_from_the_command_line(
    api: str, conn: psycopg.Connection
) -> None:
    import json

    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    name = f"t-cli-{uuid.uuid4().hex[:8]}"
    alias = f"t-cli-{uuid.uuid4().hex[:8]}"
    try:
        made = runner.invoke(app, ["taxii", "collections", "add", "--alias", alias,
                                   "--title", "CLI", "--tlp-ceiling", "TLP:GREEN"])  # fmt: skip
        assert made.exit_code == 0, made.output
        assert json.loads(made.output)["tlp_ceiling"] == "green"
        wrong = runner.invoke(app, ["taxii", "collections", "add", "--alias", "x",
                                    "--title", "x", "--tlp-ceiling", "purple"])  # fmt: skip
        assert wrong.exit_code == 2 and "purple" in wrong.output

        added = runner.invoke(
            app, ["taxii", "consumers", "add", "--name", name, "--collection", alias]
        )
        assert added.exit_code == 0, added.output
        shown = json.loads(added.output)
        assert shown["collections"] == [alias] and len(shown["secret"]) >= 40
        listed = runner.invoke(app, ["taxii", "consumers", "list"])
        assert name in listed.output and shown["secret"] not in listed.output
        answer = httpx.get(f"{api}/taxii2/csirt/collections/", auth=(name, shown["secret"]))
        assert [c["alias"] for c in answer.json()["collections"]] == [alias]
        unknown = runner.invoke(app, ["taxii", "consumers", "add", "--name", f"{name}-2",
                                      "--collection", "no-such-collection"])  # fmt: skip
        assert unknown.exit_code == 2 and "no such collection" in unknown.output

        assert runner.invoke(app, ["taxii", "consumers", "revoke", "--name", name]).exit_code == 0
        again = httpx.get(f"{api}/taxii2/csirt/collections/", auth=(name, shown["secret"]))
        assert again.status_code == 401
        assert runner.invoke(app, ["taxii", "consumers", "revoke", "--name", name]).exit_code == 1
        # The shipped configuration pulls nothing: saying so is an error, not silence.
        nothing = runner.invoke(app, ["taxii", "pull"])
        assert nothing.exit_code == 1 and "no pull source" in nothing.output
    finally:
        conn.execute("DELETE FROM taxii_consumers WHERE name LIKE %s", (f"{name}%",))
        conn.execute("DELETE FROM taxii_collections WHERE alias = %s", (alias,))


def test_pulled_indicators_reach_the_worker_which_alerts_on_them(
    api: str,
    conn: psycopg.Connection,
    cases: list[uuid.UUID],
    consumer: tuple[str, str],
    settings: Settings,
    routes: TestRoutes,
    workers: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole way: a shared case's address pulled over TAXII into the worker's
    indicator folder by the job, the worker reloading on the rule generation, and an
    SSH login from that address raising sec.indicator_match."""
    address = "203.0.113.231"
    folder = tmp_path / "indicators"
    folder.mkdir()
    monkeypatch.setenv("IOC_INDICATORS", str(folder))
    conn.execute("DELETE FROM alerts WHERE rule = 'sec.indicator_match' AND labels::text LIKE %s",
                 (f"%{address}%",))  # fmt: skip
    make_case(conn, cases, ip=address)
    create_topics(settings, [routes.syslog_topic])
    workers(routes, "taxii", "kafka")
    source = PullSource(
        name=f"t{uuid.uuid4().hex[:8]}",
        collection=f"{api}/taxii2/csirt/collections/{collection_of(api, consumer).id}/",
        user=consumer[0],
        password=consumer[1],
    )
    job_settings = settings.model_copy(update={"indicators": str(folder)})

    def login(n: int) -> tuple[str, bytes, bytes]:
        at = datetime.now(UTC).isoformat()
        line = f"<86>1 {at} web1 sshd {4000 + n} - - Failed password for root from {address}"
        return routes.syslog_topic, address.encode(), f"{line} port 40022 ssh2".encode()

    def stored(count: int) -> bool:
        row = conn.execute(
            "SELECT count(*) FROM security_events WHERE source_ip = %s AND time > %s",
            (address, started),
        ).fetchone()
        return bool(row and row[0] >= count)

    def alerts() -> int:
        row = conn.execute(
            "SELECT count(*) FROM alerts WHERE rule = 'sec.indicator_match'"
            " AND labels::text LIKE %s",
            (f"%{address}%",),
        ).fetchone()
        return int(row[0]) if row else 0

    started = datetime.now(UTC) - timedelta(seconds=5)
    sent = 0
    try:
        # A first login, before the address is an indicator: stored, no alert. (The
        # worker also takes its first look at the rule generation with this batch.)
        produce(settings, [login(sent)])
        sent += 1
        assert wait_for(lambda: stored(1), timeout=60)
        assert alerts() == 0
        with conn.transaction():
            pulled = TaxiiPullJob(job_settings, TaxiiConfig(pull=[source]))(conn, datetime.now(UTC))
        assert pulled == 1 and (folder / source.file_name).exists()

        # The worker looks for a new generation at most every 5 s, when a batch comes:
        # keep logging in until the reloaded indicators see the address.
        def alerted() -> bool:
            nonlocal sent
            if alerts():
                return True
            produce(settings, [login(sent)])
            sent += 1
            return False

        assert wait_for(alerted, timeout=60, interval=1.0)
        assert "rules reloaded" in (tmp_path / "w.log").read_text(errors="replace")
        assert alerts() == 1
    finally:
        conn.execute("DELETE FROM taxii_pulls WHERE source = %s", (source.name,))
        conn.execute(
            "DELETE FROM alerts WHERE rule = 'sec.indicator_match' AND labels::text LIKE %s",
            (f"%{address}%",),
        )
