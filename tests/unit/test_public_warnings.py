"""Public warnings: the policy (which alerts, which levels, texts that fill), the issuing
decisions, the message chain (Alert → Update → Cancel with references), each CAP valid
against the OASIS schema, xmldsig signatures (valid, and refused once tampered), and
the Atom feed (RFC 4287 structure, size bound)."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.public.warnings_feed import ATOM_NS, build_feed
from processors.alerts.exports.cap import CAP_NS, CapValidationError, validate_cap
from processors.alerts.public import compose, signing
from processors.alerts.public.issuer import decide
from processors.alerts.public.message import Area, to_xml
from processors.alerts.public.policy import LANGS, classify, fields, fill, policy
from processors.environment import levels

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
SENDER = "ioc@kiengiang.gov.vn"
NS = {"cap": CAP_NS, "a": ATOM_NS}
XEO_RO = compose.Place("Xẻo Rô", 9.864, 105.113, "Kiên Giang", "An Biên")


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return signing.generate(SENDER, now=T0)


def _flood(level: str | None, value: float, *, status: str = "firing", **more: Any) -> dict:
    return {
        "id": uuid.UUID("6f1c1d2e-0000-4000-8000-000000000001"),
        "rule": "env.water_level",
        "domain": "environment",
        "status": status,
        "severity": 3,
        "labels": {"device_id": "kg-xeoro-wl01"},
        "alert_values": {"value": value, "level": level, "threshold": 0.9},
        "updated_at": T0,
        **more,
    }


def _pest(level: str = "warning") -> dict:
    return {
        "id": uuid.uuid4(),
        "rule": "pest.light_trap",
        "domain": "pests",
        "status": "firing",
        "labels": {"device_id": "ag-thoaison-lt01", "species": "brown_planthopper",
                   "province": "An Giang", "district": "Thoại Sơn"},
        "alert_values": {"count": 5200, "mean_3n": 3100, "threshold": 3000, "level": level,
                         "species_vi": "rầy nâu", "species_en": "brown planthopper",
                         "action_vi": "Thăm đồng và phun thuốc đặc trị khi rầy cám xuất hiện.",
                         "action_en": "Check fields and spray when nymphs appear."},
        "updated_at": T0,
    }  # fmt: skip


def _epidemic() -> dict:
    return {
        "id": uuid.uuid4(),
        "rule": "epidemic.cases",
        "domain": "epidemics",
        "status": "firing",
        "labels": {"commune": "Phường Rạch Giá", "district": "Rạch Giá",
                   "province": "An Giang", "disease": "dengue"},
        "alert_values": {"cases": 14, "week": "2026-W27", "threshold": 6, "level": "warning",
                         "disease_vi": "sốt xuất huyết", "disease_en": "dengue",
                         "lat": 10.0125, "lon": 105.0809},
        "updated_at": T0,
    }  # fmt: skip


def _signed(message: Any, key: signing.SigningKey) -> ET.Element:
    xml = signing.sign(to_xml(message), key)
    validate_cap(xml)  # the OASIS schema, with the signature where the schema allows it
    signing.verify(xml, key.cert_pem)
    return ET.fromstring(xml)


def _t(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None, path
    return found.text or ""


# --- policy -------------------------------------------------------------------------------


def test_policy_public_levels_are_the_ones_the_issue_names() -> None:
    rules = policy()
    assert set(rules.kinds["flood"].levels) == {"bd2", "bd3"}  # BĐ II and up
    assert set(rules.kinds["salinity"].levels) == {"warning"}  # 4 ‰
    assert set(rules.kinds["air"].levels) == {"bad", "very_bad", "hazardous"}  # Xấu and up
    assert rules.kinds["pest"].rule_prefix == "pest."
    assert rules.kinds["epidemic"].rule_prefix == "epidemic."


def test_policy_level_keys_exist_in_the_detectors_level_definitions() -> None:
    rules = policy()
    flood = {lvl["key"] for lvl in levels.config()["detectors"]["water_level"]["levels"]}
    salinity = {lvl["key"] for lvl in levels.config()["detectors"]["salinity"]["levels"]}
    aqi = set(levels.config()["detectors"]["aqi"]["categories"])
    assert set(rules.kinds["flood"].levels) <= flood
    assert set(rules.kinds["salinity"].levels) <= salinity
    assert set(rules.kinds["air"].levels) <= aqi


@pytest.mark.parametrize("kind", ["flood", "salinity", "air", "pest", "epidemic"])
def test_every_text_fills_with_only_place_and_time_and_reads_as_sentences(kind: str) -> None:
    """The last template of each text needs no measurement: a sentence never has a hole."""
    rules = policy()
    spec = rules.kinds[kind]
    for lang in LANGS:
        values = fields({}, spec, lang, place="Xẻo Rô", at=T0, level_name="X", rules=rules)
        for level in spec.levels.values():
            assert fill(level.headline, lang, values)
            assert fill(level.instruction, lang, values).endswith(".")
        assert fill(spec.description, lang, values).endswith(".")
        for text in (spec.cancel.description, spec.cancel.instruction):
            assert fill(text, lang, values).endswith(".")


@pytest.mark.parametrize(
    ("alert", "level"),
    [
        (_flood("bd1", 0.75), None),
        (_flood("bd2", 0.92), "bd2"),
        (_flood("bd3", 1.12), "bd3"),
        (_flood("bd2", 0.92, status="resolved"), None),
        (_flood("bd2", 0.92, status="acknowledged"), "bd2"),
        ({**_flood("bd2", 0.9), "domain": "security"}, None),
        ({**_flood("warning", 4.2), "rule": "env.salinity"}, "warning"),
        ({**_flood("watch", 1.2), "rule": "env.salinity"}, None),
        ({**_flood("poor", 120), "rule": "env.aqi"}, None),
        ({**_flood("bad", 160), "rule": "env.aqi"}, "bad"),
        (_pest("watch"), None),
        (_pest("warning"), "warning"),
        (_epidemic(), "warning"),
    ],
)
def test_classify(alert: dict, level: str | None) -> None:
    public = classify(alert)
    assert (public.level_key if public else None) == level


# --- deciding ------------------------------------------------------------------------------


def _row(level: str, expires: datetime, *, msg_type: str = "Alert", manual: bool = False) -> dict:
    return {"level": level, "expires": expires, "msg_type": msg_type, "manual": manual,
            "incident": "i1"}  # fmt: skip


def test_decisions_follow_the_alert_through_an_episode() -> None:
    rules, later = policy(), T0 + timedelta(hours=6)
    assert decide(_flood("bd1", 0.75), None, None, T0, rules) is None
    assert decide(_flood("bd2", 0.92), None, None, T0, rules)[0] == "Alert"
    open_bd2 = _row("bd2", later)
    assert decide(_flood("bd2", 0.95), open_bd2, open_bd2, T0, rules) is None  # no change
    assert decide(_flood("bd3", 1.12), open_bd2, open_bd2, T0, rules)[0] == "Update"
    # Renewed before it lapses while the flood holds (refresh_before_hours: 2).
    assert (
        decide(_flood("bd2", 0.95), open_bd2, open_bd2, later - timedelta(hours=1), rules)[0]
        == "Update"
    )
    assert decide(_flood("bd1", 0.84), open_bd2, open_bd2, T0, rules) == ("Cancel", None)
    resolved = _flood(None, 0.5, status="resolved")
    assert decide(resolved, open_bd2, open_bd2, T0, rules) == ("Cancel", None)


def test_an_operators_cancel_holds_until_the_alert_changes_level() -> None:
    rules = policy()
    by_hand = _row("bd2", T0 + timedelta(days=1), msg_type="Cancel", manual=True)
    assert decide(_flood("bd2", 0.93), None, by_hand, T0, rules) is None
    assert decide(_flood("bd3", 1.12), None, by_hand, T0, rules)[0] == "Alert"
    automatic = _row("bd2", T0 + timedelta(days=1), msg_type="Cancel")
    assert decide(_flood("bd2", 0.93), None, automatic, T0, rules)[0] == "Alert"


# --- messages -----------------------------------------------------------------------------


def _episode(key: signing.SigningKey) -> list[ET.Element]:
    rules = policy()
    steps = [
        (_flood("bd2", 0.92), T0),
        (_flood("bd3", 1.12, updated_at=T0 + timedelta(hours=1)), T0 + timedelta(hours=1)),
        (_flood(None, 0.84, status="resolved"), T0 + timedelta(hours=3)),
    ]
    messages, roots = [], []
    for alert, at in steps:
        earlier = tuple(m.reference() for m in messages)
        incident = messages[0].incident if messages else None
        issue = compose.Issue(SENDER, at, earlier, incident)
        message = compose.from_alert(alert, XEO_RO, "flood", classify(alert), issue, rules)
        messages.append(message)
        roots.append(_signed(message, key))
    return roots


def test_a_flood_episode_is_alert_update_cancel_each_referencing_all_earlier(key) -> None:
    alert, update, cancel = _episode(key)
    assert [_t(r, "cap:msgType") for r in (alert, update, cancel)] == ["Alert", "Update", "Cancel"]
    ids = [_t(r, "cap:identifier") for r in (alert, update, cancel)]
    sent = [_t(r, "cap:sent") for r in (alert, update, cancel)]
    assert len(set(ids)) == 3
    assert alert.find("cap:references", NS) is None
    assert _t(update, "cap:references") == f"{SENDER},{ids[0]},{sent[0]}"
    assert _t(cancel, "cap:references") == (
        f"{SENDER},{ids[0]},{sent[0]} {SENDER},{ids[1]},{sent[1]}"
    )
    assert {_t(r, "cap:incidents") for r in (alert, update, cancel)} == {ids[0]}
    for info in cancel.findall("cap:info", NS):
        assert _t(info, "cap:responseType") == "AllClear"
        assert _t(info, "cap:urgency") == "Past"


def test_every_message_is_vietnamese_first_with_expiry_description_and_a_polygon(key) -> None:
    for root in _episode(key):
        infos = root.findall("cap:info", NS)
        assert [_t(i, "cap:language") for i in infos] == ["vi-VN", "en-US"]
        for info in infos:
            assert _t(info, "cap:expires") > _t(info, "cap:effective")
            assert _t(info, "cap:description").strip()
            ring = _t(info, "cap:area/cap:polygon").split()
            assert len(ring) >= 4 and ring[0] == ring[-1]  # a closed ring
            assert _t(info, "cap:area/cap:circle")
    vi, en = _episode(key)[1].findall("cap:info", NS)
    assert (
        _t(vi, "cap:headline")
        == "Cảnh báo lũ lớn ở mức Báo động III tại Xẻo Rô, An Biên, Kiên Giang"
    )
    assert "1,12 m" in _t(vi, "cap:description")  # decimal comma in Vietnamese
    assert "1.12 m" in _t(en, "cap:description")
    assert _t(vi, "cap:severity") == "Extreme"
    assert _t(vi, "cap:responseType") == "Evacuate"


def test_polygon_points_lie_on_the_circle() -> None:
    area = Area("x", 10.7, 105.11, 5)
    for lat, lon in area.polygon():
        dy = (lat - 10.7) * 111.32
        dx = (lon - 105.11) * 111.32 * 0.98261  # cos(10.7°)
        assert (dx * dx + dy * dy) ** 0.5 == pytest.approx(5, rel=0.01)


def test_pest_and_epidemic_warnings_carry_the_alerts_own_action_and_a_place(key) -> None:
    rules = policy()
    trap = compose.Place("Bẫy đèn Thoại Sơn", 10.3, 105.26, "An Giang", "Thoại Sơn")
    pest = _signed(compose.from_alert(_pest(), trap, "pest", classify(_pest()),
                                      compose.Issue(SENDER, T0), rules), key)  # fmt: skip
    vi, en = pest.findall("cap:info", NS)
    assert _t(vi, "cap:instruction") == "Thăm đồng và phun thuốc đặc trị khi rầy cám xuất hiện."
    assert "bắt được 5200 con trong đêm" in _t(vi, "cap:description")
    assert _t(vi, "cap:description").startswith("Số rầy nâu vào đèn đã vượt ngưỡng cảnh báo 3000")
    assert _t(en, "cap:headline").startswith("Brown planthopper warning")
    epidemic = _epidemic()
    place = compose.place_of(epidemic)  # no device: the commune's centre
    assert place is not None and place.lat == 10.0125
    root = _signed(compose.from_alert(epidemic, place, "epidemic", classify(epidemic),
                                      compose.Issue(SENDER, T0), rules), key)  # fmt: skip
    vi = root.findall("cap:info", NS)[0]
    assert _t(vi, "cap:description").startswith(
        "Trong tuần 27 năm 2026, Phường Rạch Giá ghi nhận 14 ca sốt xuất huyết"
    )
    assert _t(vi, "cap:category") == "Health"
    assert "Phường Rạch Giá" in _t(vi, "cap:area/cap:areaDesc")


def test_test_message_has_status_test_and_an_area(key) -> None:
    root = _signed(compose.test_message(compose.Issue(SENDER, T0, status="Test"), policy()), key)
    assert _t(root, "cap:status") == "Test"
    assert _t(root, "cap:info/cap:area/cap:polygon")


def test_manual_warning_and_cancel_with_reason(key) -> None:
    rules = policy()
    area = Area("Xã Vĩnh Thạnh Trung", 10.57, 105.36, 3)
    warning = compose.ManualWarning(
        "Sạt lở bờ sông {nguy hiểm}", "Riverbank collapse", "Bờ sông sạt lở.",
        "The riverbank collapsed.", "Tránh xa bờ sông.", "Keep away from the bank.", area,
    )  # fmt: skip
    first = compose.manual(warning, compose.Issue(SENDER, T0), rules)
    root = _signed(first, key)
    assert _t(root, "cap:info/cap:headline") == "Sạt lở bờ sông {nguy hiểm}"  # braces stay
    issue = compose.Issue(SENDER, T0 + timedelta(hours=1), (first.reference(),), first.incident)
    headline = {"vi": "Sạt lở bờ sông", "en": "Riverbank collapse"}
    cancel = _signed(compose.manual_cancel(headline, area, "đã gia cố {xong}", issue, rules), key)
    assert _t(cancel, "cap:msgType") == "Cancel"
    assert "đã gia cố {xong}" in _t(cancel, "cap:info/cap:description")


# --- signatures -----------------------------------------------------------------------------


def test_a_tampered_or_foreign_signature_is_refused(key) -> None:
    issue = compose.Issue(SENDER, T0)
    alert = _flood("bd2", 0.92)
    message = compose.from_alert(alert, XEO_RO, "flood", classify(alert), issue, policy())
    xml = signing.sign(to_xml(message), key)
    signing.verify(xml, key.cert_pem)
    tampered = xml.replace("Báo động II".encode(), "Báo động I".encode())
    assert tampered != xml
    with pytest.raises(signing.SignatureError):
        signing.verify(tampered, key.cert_pem)
    other = signing.generate("someone@else", now=T0)
    with pytest.raises(signing.SignatureError):
        signing.verify(xml, other.cert_pem)


def test_the_schema_refuses_an_update_without_references(key) -> None:
    alert = _flood("bd2", 0.92)
    message = compose.from_alert(alert, XEO_RO, "flood", classify(alert),
                                 compose.Issue(SENDER, T0), policy())  # fmt: skip
    broken = to_xml(message).replace(b"<msgType>Alert", b"<msgType>Update")
    with pytest.raises(CapValidationError):
        validate_cap(broken)


def test_a_generated_key_pair_is_written_owner_only(tmp_path) -> None:
    key_path, cert_path = signing.key_paths(tmp_path, None, None)
    pair = signing.load_or_create(key_path, cert_path, common_name=SENDER)
    assert (key_path.stat().st_mode & 0o777, cert_path.stat().st_mode & 0o777) == (0o600, 0o600)
    assert signing.load_or_create(key_path, cert_path, common_name=SENDER) == pair  # kept
    cert_path.unlink()
    with pytest.raises(FileNotFoundError):
        signing.load_or_create(key_path, cert_path, common_name=SENDER)


# --- the feed -----------------------------------------------------------------------------


def _feed_row(i: int, **more: Any) -> dict:
    return {
        "identifier": f"vn-ioc-20261120T030000Z-{i:08x}", "incident": "i", "msg_type": "Alert",
        "status": "Actual", "kind": "flood", "severity": "Severe", "province": "Kiên Giang",
        "district": "An Biên", "headline_vi": "Cảnh báo lũ Báo động II tại Xẻo Rô <&>",
        "headline_en": "Flood warning", "sent": T0 - timedelta(minutes=i), **more,
    }  # fmt: skip


def test_feed_is_atom_with_an_entry_per_warning_linking_its_cap() -> None:
    url = "http://example.org/public/cap.atom?province=Ki%C3%AAn+Giang"
    rows = [_feed_row(0), _feed_row(1, status="Test", msg_type="Alert")]
    body, updated, kept = build_feed(rows, self_url=url, now=T0)
    root = ET.fromstring(body)
    assert root.tag == f"{{{ATOM_NS}}}feed" and kept == 2 and updated == T0
    for tag in ("id", "title", "updated", "author/a:name"):
        assert _t(root, f"a:{tag}")
    assert root.find("a:link[@rel='self']", NS).get("href") == url
    entries = root.findall("a:entry", NS)
    assert len(entries) == 2
    for entry in entries:
        for tag in ("id", "title", "updated", "summary"):
            assert _t(entry, f"a:{tag}")
        link = entry.find("a:link", NS)
        assert link.get("type") == "application/cap+xml"
        assert link.get("href").startswith("http://example.org/public/cap/vn-ioc-")
        assert link.get("href").endswith(".xml")
    assert _t(entries[0], "a:title").endswith("<&>")  # escaped, read back as text
    assert _t(entries[1], "a:title").startswith("[TEST]")


def test_feed_stays_under_its_size_bound_keeping_the_newest() -> None:
    rows = [_feed_row(i) for i in range(400)]
    body, _, kept = build_feed(rows, self_url="http://x/public/cap.atom", now=T0,
                               limit_bytes=20_000)  # fmt: skip
    assert len(body) <= 20_000 and 0 < kept < 400
    ids = [e.findtext("a:id", "", NS) for e in ET.fromstring(body).findall("a:entry", NS)]
    assert ids[0].endswith(f"{0:08x}.xml")  # the newest first
    full, _, all_kept = build_feed(rows, self_url="http://x/public/cap.atom", now=T0)
    assert all_kept == 400 and len(full) < 900_000
