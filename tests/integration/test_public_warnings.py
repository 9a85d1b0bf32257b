"""Issue 15's acceptance for the public CAP feed, on the real stack: readings over MQTT
through `ioc ingest`, the alert in the batch's transaction, the public-warnings job of
`ioc alerts run` issuing signed CAP messages, and the API (`/public/cap.atom`,
`/public/cap/{id}.xml`, `/api/v1/warnings`) serving them. A flood at Xẻo Rô rising
through BĐ II and III and receding appears in the feed, is updated and is cancelled;
every message validates against the OASIS schema and its signature verifies with the
test's own certificate."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from processors.alerts.exports.cap import CAP_NS, validate_cap
from processors.alerts.public import signing
from store.devices import DeviceSpec
from store.public_warnings import active_public_warnings
from store.users import create_user, delete_user
from tests.integration.alerting import AlertServiceProcess
from tests.integration.api_server import api_process
from tests.integration.harness import IOC_BIN, TestRoutes, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration

# Xẻo Rô (Kiên Giang): BĐ I 0.7 m, II 0.9 m, III 1.1 m, 5 cm clear margin
# (processors/environment/alarm_levels.yaml).
STATION = "kg-xeoro-wl01"
RISE_TO_BD2 = [0.50, 0.60, 0.72, 0.80, 0.92]
RISE_TO_BD3 = [0.97, 1.05, 1.12]
RECEDE_BELOW_BD2 = [1.04, 0.95, 0.86, 0.84]  # 0.84 < 0.9 - 0.05: back at BĐ I
RESOLVE = [0.62, 0.55]
NS = {"a": "http://www.w3.org/2005/Atom", "cap": CAP_NS}


@dataclass
class Feed:
    url: str
    cert: bytes
    operator: str
    viewer: str
    env: dict[str, str]  # the signing key and certificate the services are given

    def entries(self, province: str | None = None) -> list[ET.Element]:
        query = f"?province={quote(province)}" if province else ""
        answer = httpx.get(f"{self.url}/public/cap.atom{query}", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/atom+xml")
        assert "max-age" in answer.headers["cache-control"] and answer.headers["etag"]
        assert len(answer.content) < 900_000
        return ET.fromstring(answer.content).findall("a:entry", NS)

    def fetch(self, entry: ET.Element) -> bytes:
        """The entry's CAP message as served, fetched by its link."""
        link = entry.find("a:link", NS)
        assert link is not None and link.get("type") == "application/cap+xml"
        answer = httpx.get(link.get("href", ""), timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.content

    def peek(self, entry: ET.Element) -> ET.Element:
        """The entry's CAP message, not checked: to find ours among the messages other
        tests' services signed with their own keys (the suite shares one database)."""
        return ET.fromstring(self.fetch(entry))

    def message(self, entry: ET.Element) -> ET.Element:
        """The entry's CAP message, valid and signed by us."""
        content = self.fetch(entry)
        validate_cap(content)
        signing.verify(content, self.cert)
        return ET.fromstring(content)

    def ours(self, field: str, value: str, province: str | None = None) -> ET.Element:
        """The message whose `field` (cap:incidents, cap:identifier) is `value`, checked."""
        entry = next(
            e for e in self.entries(province) if self.peek(e).findtext(field, "", NS) == value
        )
        return self.message(entry)


def _keys(tmp_path: Path) -> tuple[dict[str, str], bytes]:
    pair = signing.generate("ioc-test@example.org")
    key, cert = tmp_path / "cap-key.pem", tmp_path / "cap-cert.pem"
    key.write_bytes(pair.key_pem)
    cert.write_bytes(pair.cert_pem)
    key.chmod(0o600)
    return {"IOC_CAP_SIGNING_KEY": str(key), "IOC_CAP_SIGNING_CERT": str(cert)}, pair.cert_pem


def _forget_station(db: psycopg.Connection) -> None:
    db.execute(
        "DELETE FROM public_warnings WHERE alert_id IN"
        " (SELECT id FROM alerts WHERE labels->>'device_id' = %s)",
        (STATION,),
    )
    db.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (STATION,))
    db.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{STATION}|%",))


@pytest.fixture
def station(settings: Settings, db: psycopg.Connection) -> Iterator[DeviceCredentials]:
    _forget_station(db)
    yield register_device(
        settings,
        DeviceSpec(id=STATION, type="water_level", province="Kiên Giang", district="An Biên",
                   lat=10.0458, lon=104.8639, name="Xẻo Rô", expected_interval_s=60),
    )  # fmt: skip
    _forget_station(db)


@pytest.fixture
def feed(settings: Settings, db: psycopg.Connection, tmp_path: Path) -> Iterator[Feed]:
    env, cert = _keys(tmp_path)
    tag = uuid.uuid4().hex[:8]
    operator, operator_token = create_user(db, f"t-warn-{tag}-op", "operator")
    viewer, viewer_token = create_user(db, f"t-warn-{tag}-viewer", "viewer")
    try:
        with api_process({**env, "IOC_API_TOKEN_REQUESTS": "100000/minute"},
                         tmp_path / "api.log") as url:  # fmt: skip
            yield Feed(url, cert, operator_token, viewer_token, env)
    finally:
        delete_user(db, operator.name)
        delete_user(db, viewer.name)


def _publish(settings: Settings, creds: DeviceCredentials, values: list[float],
             start: datetime) -> datetime:  # fmt: skip
    lines = [
        json.dumps({"ts": (start + timedelta(minutes=i)).isoformat(), "waterLevel": v}).encode()
        for i, v in enumerate(values)
    ]
    mosquitto_pub(settings, creds.username, creds.password, creds.topic, lines)
    return start + timedelta(minutes=len(values))


def _messages(db: psycopg.Connection) -> list[tuple[str, str, str | None, str]]:
    """(identifier, msg_type, level, incident) of the station's messages, oldest first."""
    return db.execute(
        "SELECT identifier, msg_type, level, incident FROM public_warnings WHERE alert_id IN"
        " (SELECT id FROM alerts WHERE labels->>'device_id' = %s) ORDER BY sent, recorded_at",
        (STATION,),
    ).fetchall()


def _entry(feed: Feed, incident: str) -> tuple[ET.Element, ET.Element] | None:
    for entry in feed.entries():
        if feed.peek(entry).findtext("cap:incidents", "", NS) != incident:
            continue
        message = feed.message(entry)
        if message.findtext("cap:incidents", "", NS) == incident:
            return entry, message
    return None


def test_flood_through_bd2_appears_updates_and_is_cancelled_in_the_feed(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    station: DeviceCredentials,
    feed: Feed,
    tmp_path: Path,
) -> None:
    workers(routes, "pubwarn", "mqtt")
    service = AlertServiceProcess(feed.env, tmp_path / "alerts.log").start()
    try:
        at = _publish(settings, station, RISE_TO_BD2, datetime.now(UTC) - timedelta(minutes=30))
        assert wait_for(lambda: [m[1] for m in _messages(db)] == ["Alert"], timeout=60), _messages(
            db
        )
        incident = _messages(db)[0][3]
        found = _entry(feed, incident)
        assert found is not None
        entry, alert = found
        assert alert.findtext("cap:msgType", "", NS) == "Alert"
        vi, en = alert.findall("cap:info", NS)
        assert vi.findtext("cap:language", "", NS) == "vi-VN"
        assert "Báo động II" in vi.findtext("cap:headline", "", NS)
        assert "Xẻo Rô" in (entry.findtext("a:title", "", NS) or "")
        assert en.findtext("cap:area/cap:polygon", "", NS)
        # Per area: the province's feed has it, another province's does not.
        assert incident in _incidents(feed, "Kiên Giang")
        assert incident not in _incidents(feed, "Cà Mau")
        assert [w["incident"] for w in active_public_warnings(db, province="Kiên Giang")
                if w["incident"] == incident] == [incident]  # fmt: skip

        at = _publish(settings, station, RISE_TO_BD3, at)
        assert wait_for(lambda: ("Update", "bd3") in [m[1:3] for m in _messages(db)], 60)
        _, update = _entry(feed, incident) or (None, None)
        assert update is not None and update.findtext("cap:msgType", "", NS) == "Update"
        assert "Báo động III" in update.findtext("cap:info/cap:headline", "", NS)

        at = _publish(settings, station, RECEDE_BELOW_BD2, at)
        assert wait_for(lambda: _messages(db)[-1][1] == "Cancel", timeout=60), _messages(db)
        _, cancel = _entry(feed, incident) or (None, None)
        assert cancel is not None and cancel.findtext("cap:msgType", "", NS) == "Cancel"
        for info in cancel.findall("cap:info", NS):
            assert info.findtext("cap:responseType", "", NS) == "AllClear"
        earlier = _messages(db)[:-1]
        refs = cancel.findtext("cap:references", "", NS).split()
        assert [r.split(",")[1] for r in refs] == [m[0] for m in earlier]  # all, in order
        assert not [w for w in active_public_warnings(db) if w["incident"] == incident]

        _publish(settings, station, RESOLVE, at)
        assert wait_for(lambda: _alert_resolved(db), timeout=60)
        count = len(_messages(db))
        kinds = [m[1] for m in _messages(db)]
        assert kinds[0] == "Alert" and kinds[-1] == "Cancel" and kinds.count("Cancel") == 1
        assert set(kinds[1:-1]) == {"Update"}
        # The resolution after the Cancel issues nothing more (one job round later).
        assert not wait_for(lambda: len(_messages(db)) > count, timeout=8)
    finally:
        service.stop()
        log = tmp_path / "alerts.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:])


def _incidents(feed: Feed, province: str) -> set[str]:
    return {feed.peek(e).findtext("cap:incidents", "", NS) for e in feed.entries(province)}


def _alert_resolved(db: psycopg.Connection) -> bool:
    row = db.execute(
        "SELECT status FROM alerts WHERE labels->>'device_id' = %s AND rule = 'env.water_level'"
        " ORDER BY started_at DESC LIMIT 1",
        (STATION,),
    ).fetchone()
    return row is not None and row[0] == "resolved"


WARNING = {
    "headline_vi": "Sạt lở bờ sông Vàm Nao",
    "headline_en": "Riverbank collapse on the Vàm Nao",
    "description_vi": "Bờ sông tại ấp Phú Hiệp bị sạt lở, có nguy cơ lan rộng.",
    "description_en": "The riverbank at Phú Hiệp hamlet has collapsed and may spread.",
    "instruction_vi": "Không đến gần bờ sông. Làm theo hướng dẫn của chính quyền xã.",
    "instruction_en": "Keep away from the riverbank. Follow the commune's instructions.",
    "area": "Ấp Phú Hiệp, xã Phú Thành",
    "lat": 10.62,
    "lon": 105.37,
    "radius_km": 2,
    "province": "An Giang",
    "district": "Phú Tân",
    "severity": "Severe",
    "reason": "Báo cáo của UBND xã lúc 8 giờ",
}


def test_operator_issues_updates_and_cancels_by_hand_and_sends_a_test(
    db: psycopg.Connection, feed: Feed
) -> None:
    op = {"Authorization": f"Bearer {feed.operator}"}
    viewer = {"Authorization": f"Bearer {feed.viewer}"}
    api = f"{feed.url}/api/v1/warnings"
    assert httpx.post(api, json=WARNING, headers=viewer).status_code == 403
    assert httpx.post(api, json=WARNING).status_code == 401
    bad = httpx.post(api, json={**WARNING, "lat": 123}, headers=op)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert httpx.post(api, json={**WARNING, "reason": ""}, headers=op).status_code == 422

    first = httpx.post(api, json=WARNING, headers=op)
    assert first.status_code == 201, first.text
    incident = first.json()["incident"]
    assert first.json()["msg_type"] == "Alert" and first.json()["reason"] == WARNING["reason"]
    assert incident in _incidents(feed, "An Giang")

    changed = {**WARNING, "severity": "Extreme", "reason": "Sạt lở lan rộng thêm 20 m"}
    second = httpx.post(f"{api}/{incident}/update", json=changed, headers=op)
    assert second.status_code == 201 and second.json()["msg_type"] == "Update"

    end = httpx.post(f"{api}/{incident}/cancel", json={"reason": "Đã gia cố xong"}, headers=op)
    assert end.status_code == 201 and end.json()["msg_type"] == "Cancel"
    again = httpx.post(f"{api}/{incident}/cancel", json={"reason": "lần nữa"}, headers=op)
    assert again.status_code == 409
    missing = httpx.post(f"{api}/vn-ioc-none/cancel", json={"reason": "không có"}, headers=op)
    assert missing.status_code == 404
    listed = httpx.get(api, params={"incident": incident}, headers=op).json()
    assert [m["msg_type"] for m in listed] == ["Cancel", "Update", "Alert"]
    assert {m["issued_by"] for m in listed} == {first.json()["issued_by"]}
    cancel = feed.ours("cap:incidents", incident, "An Giang")
    assert "Đã gia cố xong" in cancel.findtext("cap:info/cap:description", "", NS)
    assert len(cancel.findtext("cap:references", "", NS).split()) == 2

    test = httpx.post(f"{api}/test", headers=op)
    assert test.status_code == 201 and test.json()["status"] == "Test"
    identifier = test.json()["identifier"]
    assert feed.ours("cap:identifier", identifier).findtext("cap:status", "", NS) == "Test"
    assert identifier not in {w["identifier"] for w in active_public_warnings(db)}
    assert httpx.get(f"{feed.url}/public/cap/nothing-here.xml").status_code == 404
    assert httpx.get(f"{feed.url}/public/cap/bad%20id.xml").status_code in (404, 422)
    db.execute("DELETE FROM public_warnings WHERE incident IN (%s, %s)", (incident, identifier))


def _ioc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IOC_BIN, "warnings", *args], env={**os.environ, **env, "COLUMNS": "250"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_ioc_warnings_issue_list_cancel_and_test(db: psycopg.Connection, tmp_path: Path) -> None:
    env, cert = _keys(tmp_path)
    issued = _ioc(
        env, "issue", "--headline-vi", "Đê bao Phú Hiệp có nguy cơ vỡ",
        "--headline-en", "Phú Hiệp dyke may breach",
        "--description-vi", "Đê bao ấp Phú Hiệp bị thấm nước.",
        "--description-en", "The Phú Hiệp hamlet dyke is seeping.",
        "--instruction-vi", "Chuẩn bị di dời đến nơi an toàn.",
        "--instruction-en", "Prepare to move to a safe place.",
        "--area", "Ấp Phú Hiệp", "--lat", "10.62", "--lon", "105.37",
        "--province", "An Giang", "--reason", "Tin từ trực ban đê điều",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    msg_type, identifier = issued.stdout.split()
    assert msg_type == "Alert"
    row = db.execute(
        "SELECT issued_by, reason, cap_xml FROM public_warnings WHERE identifier = %s",
        (identifier,),
    ).fetchone()
    assert row[0].startswith("cli:") and row[1] == "Tin từ trực ban đê điều"
    validate_cap(row[2].encode())
    signing.verify(row[2].encode(), cert)
    listed = _ioc(env, "list", "--active")
    assert listed.returncode == 0 and identifier in listed.stdout, listed.stdout
    cancelled = _ioc(env, "cancel", identifier, "--reason", "Đã gia cố đê")
    assert cancelled.returncode == 0, cancelled.stderr
    again = _ioc(env, "cancel", identifier, "--reason", "Đã gia cố đê")
    assert again.returncode == 1 and "cancelled already" in again.stderr
    test = _ioc(env, "test")
    assert test.returncode == 0 and test.stdout.startswith("Test ")
    test_id = test.stdout.split()[1]
    assert db.execute(
        "SELECT status FROM public_warnings WHERE identifier = %s", (test_id,)
    ).fetchone() == ("Test",)
    db.execute("DELETE FROM public_warnings WHERE incident IN (%s, %s)", (identifier, test_id))
