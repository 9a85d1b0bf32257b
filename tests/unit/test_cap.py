"""CAP 1.2 public warnings: the message sequence of an episode, wording per kind, escaping,
and validation against the bundled OASIS schema (which must reject broken documents)."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events.alerts import Severity
from processors.alerts.exports.cap import (
    CAP_NS,
    HEADLINE_MAX,
    CapArea,
    CapError,
    CapNotSupportedError,
    CapValidationError,
    build_cap,
    cap_supported,
    message_reference,
    texts,
    validate_cap,
)
from processors.environment import levels

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
SENDER = "ioc@kiengiang.gov.vn"
NS = {"cap": CAP_NS}
XEO_RO = CapArea("Xẻo Rô", 9.864, 105.113, province="Kiên Giang", district="An Biên")


def _alert(**changes: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "id": uuid.UUID("6f1c1d2e-0000-4000-8000-000000000001"),
        "fingerprint": "fp",
        "rule": "env.water_level",
        "domain": "environment",
        "status": "firing",
        "severity": int(Severity.MEDIUM),
        "labels": {"device_id": "kg-wl-001"},
        "title_vi": "Mực nước tại Xẻo Rô vượt báo động",
        "title_en": "Water level at Xẻo Rô above alarm level",
        "summary_vi": "",
        "summary_en": "",
        "alert_values": {"value": 0.62, "level": "bd1", "threshold": 0.6},
        "technique_ids": [],
        "event_ids": [],
        "started_at": T0,
        "updated_at": T0,
        "resolved_at": None,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_by": None,
    }
    alert.update(changes)
    return alert


def _root(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def _text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None, path
    return found.text or ""


def _infos(root: ET.Element) -> list[ET.Element]:
    return root.findall("cap:info", NS)


def _all(info: ET.Element, tag: str) -> list[str]:
    return [e.text or "" for e in info.findall(f"cap:{tag}", NS)]


def _params(info: ET.Element) -> dict[str, str]:
    return {
        _text(p, "cap:valueName"): _text(p, "cap:value") for p in info.findall("cap:parameter", NS)
    }


def _valid(xml: bytes) -> ET.Element:
    validate_cap(xml)
    return _root(xml)


# --- a flood episode: Alert, Update, Cancel ---------------------------------------


def test_flood_episode_is_alert_then_update_then_cancel() -> None:
    fired = _alert()
    first = _valid(build_cap(fired, XEO_RO, sender=SENDER))
    assert _text(first, "cap:msgType") == "Alert"
    assert first.find("cap:references", NS) is None
    assert _text(first, "cap:sent") == "2026-11-20T10:00:00+07:00"
    ref1 = message_reference(fired, sender=SENDER)
    assert ref1 == (SENDER, _text(first, "cap:identifier"), "2026-11-20T10:00:00+07:00")

    escalated = _alert(
        severity=int(Severity.HIGH),
        updated_at=T0 + timedelta(minutes=40),
        alert_values={"value": 0.93, "level": "bd2", "threshold": 0.9},
    )
    second = _valid(build_cap(escalated, XEO_RO, sender=SENDER, previous=[ref1]))
    assert _text(second, "cap:msgType") == "Update"
    assert _text(second, "cap:references") == ",".join(ref1)
    assert _text(second, "cap:identifier") != ref1[1]
    assert _text(second, "cap:sent") == "2026-11-20T10:40:00+07:00"
    vi, en = _infos(second)
    assert _all(vi, "responseType") == ["Prepare"]
    assert _text(vi, "cap:severity") == "Severe"  # Severity.HIGH.cap_severity
    assert "Báo động II" in _text(vi, "cap:headline")
    assert "0,93 m" in _text(vi, "cap:headline")  # decimal comma in Vietnamese
    assert "0.93 m" in _text(en, "cap:headline")
    assert _params(en)["waterLevel_m"] == "0.93"
    assert _params(en)["alarmLevel"] == "Alarm level II"
    ref2 = message_reference(escalated, sender=SENDER)

    resolved = _alert(
        status="resolved",
        severity=int(Severity.HIGH),
        updated_at=T0 + timedelta(hours=3),
        resolved_at=T0 + timedelta(hours=3),
        alert_values={"value": 0.5},
    )
    third = _valid(build_cap(resolved, XEO_RO, sender=SENDER, previous=[ref1, ref2]))
    assert _text(third, "cap:msgType") == "Cancel"
    assert _text(third, "cap:references") == f"{','.join(ref1)} {','.join(ref2)}"
    for info in _infos(third):
        assert _all(info, "responseType") == ["AllClear"]
        assert _text(info, "cap:urgency") == "Past"
    assert "Kết thúc cảnh báo lũ" in _text(_infos(third)[0], "cap:headline")
    # Every message of the episode names the same incident, and no identifier repeats.
    assert {_text(m, "cap:incidents") for m in (first, second, third)} == {str(fired["id"])}
    assert len({_text(m, "cap:identifier") for m in (first, second, third)}) == 3


def test_flood_alarm_level_three_advises_evacuating_low_lying_areas() -> None:
    alert = _alert(
        severity=int(Severity.CRITICAL),
        alert_values={"value": 4.62, "level": "bd3", "threshold": 4.5},
    )
    chau_doc = CapArea("Châu Đốc", 10.7011, 105.1119, province="An Giang")
    vi, en = _infos(_valid(build_cap(alert, chau_doc, sender=SENDER, previous=[])))
    assert _all(vi, "responseType") == ["Evacuate"]
    assert _text(vi, "cap:urgency") == "Immediate"
    assert _text(vi, "cap:severity") == "Extreme"
    assert "Sơ tán" in _text(vi, "cap:instruction")
    assert "Evacuate low-lying" in _text(en, "cap:instruction")
    assert _all(vi, "category") == ["Met"]
    assert _text(vi, "cap:area/cap:areaDesc") == "Châu Đốc, An Giang"
    assert _text(vi, "cap:area/cap:circle") == "10.7011,105.1119 5"


def test_cancel_without_history_references_the_opening_message() -> None:
    opening = message_reference(_alert(), sender=SENDER)
    resolved = _alert(
        status="resolved", updated_at=T0 + timedelta(hours=1), resolved_at=T0 + timedelta(hours=1)
    )
    root = _valid(build_cap(resolved, XEO_RO, sender=SENDER))
    assert _text(root, "cap:msgType") == "Cancel"
    assert _text(root, "cap:references") == ",".join(opening)


def test_a_re_export_is_byte_identical_and_never_references_itself() -> None:
    alert = _alert()
    own = message_reference(alert, sender=SENDER)
    once = build_cap(alert, XEO_RO, sender=SENDER)
    assert build_cap(alert, XEO_RO, sender=SENDER, previous=[own]) == once
    assert _text(_root(once), "cap:msgType") == "Alert"


def test_vietnamese_info_comes_first_with_times_in_vietnam() -> None:
    vi, en = _infos(_valid(build_cap(_alert(), XEO_RO, sender=SENDER)))
    assert (_text(vi, "cap:language"), _text(en, "cap:language")) == ("vi-VN", "en-US")
    assert _text(vi, "cap:effective") == "2026-11-20T10:00:00+07:00"
    assert _text(vi, "cap:expires") == "2026-11-20T16:00:00+07:00"
    assert "10:00 ngày 20/11/2026" in _text(vi, "cap:description")


# --- salinity and air quality -------------------------------------------------------


def test_salinity_warning() -> None:
    alert = _alert(
        rule="env.salinity",
        labels={"device_id": "kg-sal-002"},
        severity=int(Severity.HIGH),
        title_vi="Độ mặn tại Xẻo Rô",
        title_en="Salinity at Xẻo Rô",
        alert_values={"value": 4.6, "level": "warning", "threshold": 4.0},
    )
    vi, en = _infos(_valid(build_cap(alert, XEO_RO, sender=SENDER)))
    assert _all(vi, "category") == ["Env"]
    assert _all(vi, "responseType") == ["Avoid", "Execute"]
    assert _text(vi, "cap:headline") == "Cảnh báo mặn (≥4‰) tại Xẻo Rô: độ mặn 4,6 ‰"
    assert _text(en, "cap:headline") == "Salinity warning (≥4‰) at Xẻo Rô: salinity 4.6 ‰"
    assert "Dừng lấy nước tưới" in _text(vi, "cap:instruction")
    assert _params(en) == {
        "stationId": "kg-sal-002",
        "salinity_permille": "4.6",
        "salinityThreshold_permille": "4.0",
        "salinityLevel": "Salinity warning (≥4‰)",
    }


def test_air_quality_with_a_polygon_area() -> None:
    alert = _alert(
        rule="env.aqi",
        labels={"device_id": "kg-aq-001"},
        severity=int(Severity.CRITICAL),
        title_vi="Chất lượng không khí tại Rạch Giá",
        title_en="Air quality at Rạch Giá",
        alert_values={"value": 312, "level": "hazardous", "threshold": 301},
    )
    ring = ((10.02, 105.07), (10.02, 105.09), (10.00, 105.09), (10.00, 105.07))
    area = CapArea("Rạch Giá", 10.0125, 105.0809, province="Kiên Giang", polygon=ring)
    vi, en = _infos(_valid(build_cap(alert, area, sender=SENDER)))
    assert _all(vi, "category") == ["Env"]
    assert _all(vi, "responseType") == ["Shelter"]
    assert _text(vi, "cap:headline") == "Chất lượng không khí Nguy hại tại Rạch Giá: VN_AQI 312"
    assert _text(en, "cap:headline") == "Air quality hazardous at Rạch Giá: VN_AQI 312"
    polygon = _text(vi, "cap:area/cap:polygon")
    assert polygon == "10.02,105.07 10.02,105.09 10,105.09 10,105.07 10.02,105.07"  # closed
    assert vi.find("cap:area/cap:circle", NS) is None


def _kind_levels() -> list[tuple[str, str | None]]:
    return [
        (kind.rule_prefix, level)
        for kind in texts().kinds
        for level in [*kind.levels, None]  # None: an alert that names no level
    ]


@pytest.mark.parametrize(("rule", "level"), _kind_levels())
def test_every_kind_and_level_makes_a_valid_message(rule: str, level: str | None) -> None:
    values: dict[str, Any] = {"value": 1.5} if level is None else {"value": 1.5, "level": level}
    for alert in (
        _alert(rule=rule, alert_values=values),
        _alert(rule=rule, alert_values={}),  # nothing measured: the no-value headline
        _alert(rule=rule, status="resolved", resolved_at=T0 + timedelta(hours=2)),
    ):
        for info in _infos(_valid(build_cap(alert, XEO_RO, sender=SENDER))):
            assert "{" not in _text(info, "cap:headline")
            assert _text(info, "cap:instruction")


def test_wording_covers_every_level_the_detectors_raise() -> None:
    detectors = levels.config()["detectors"]
    by_rule = {kind.rule_prefix: set(kind.levels) for kind in texts().kinds}
    assert by_rule["env.water_level"] == {e["key"] for e in detectors["water_level"]["levels"]}
    assert by_rule["env.salinity"] == {e["key"] for e in detectors["salinity"]["levels"]}
    assert by_rule["env.aqi"] == set(detectors["aqi"]["categories"])


# --- escaping ------------------------------------------------------------------------


def test_hostile_text_is_escaped_and_still_valid() -> None:
    hostile = "Mực nước <script>alert(1)</script> & \"quoted\" 'single' {level} đỉnh lũ\x07"
    alert = _alert(title_vi=hostile, summary_en="</description><injected/>")
    area = CapArea("Trạm <b>&\"'", 9.864, 105.113, province="Kiên Giang")
    xml = build_cap(alert, area, sender=SENDER)
    assert b"<script>" not in xml and b"<injected/>" not in xml
    assert b"&lt;script&gt;" in xml
    vi, en = _infos(_valid(xml))
    # Round trip: the reader gets the text back exactly, minus the one character XML
    # cannot carry at all (BEL).
    assert _text(vi, "cap:description").splitlines()[0] == hostile.replace("\x07", "")
    assert "</description><injected/>" in _text(en, "cap:description")
    assert _text(vi, "cap:area/cap:areaDesc") == "Trạm <b>&\"', Kiên Giang"
    assert "Trạm <b>&\"'" in _text(vi, "cap:headline")


def test_long_headline_is_cut_to_the_cap_limit() -> None:
    area = CapArea("Trạm " + "rất dài " * 40, 9.864, 105.113)
    vi, _ = _infos(_valid(build_cap(_alert(), area, sender=SENDER)))
    headline = _text(vi, "cap:headline")
    assert len(headline) == HEADLINE_MAX and headline.endswith("…")


# --- what is refused -----------------------------------------------------------------


def test_security_alerts_are_never_public_warnings() -> None:
    alert = _alert(domain="security", rule="sigma.ssh_bruteforce", severity=4)
    assert not cap_supported(alert)
    with pytest.raises(CapNotSupportedError, match="not published as CAP"):
        build_cap(alert, XEO_RO, sender=SENDER)
    # An environment rule without public wording (a stuck sensor) is not one either.
    assert not cap_supported(_alert(rule="env.stuck"))
    # Nor a water level rule filed under another domain.
    assert not cap_supported(_alert(domain="security"))
    assert cap_supported(_alert())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sender": "ioc kiengiang"}, "sender"),
        ({"sender": "a,b"}, "sender"),
        ({"status": "Real"}, "status"),
        ({"scope": "Everyone"}, "scope"),
        ({"scope": "Restricted"}, "restriction"),
        ({"scope": "Private"}, "addresses"),
        ({"previous": [("x y", "id", T0)]}, "reference"),
        ({"previous": [(SENDER, "id", "20 Nov 2026")]}, "reference time"),
    ],
)
def test_bad_arguments_are_refused(changes: Mapping[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"sender": SENDER, **changes}
    with pytest.raises(CapError, match=message):
        build_cap(_alert(), XEO_RO, **kwargs)


def test_restricted_scope_carries_its_restriction() -> None:
    xml = build_cap(
        _alert(), XEO_RO, sender=SENDER, scope="Restricted", restriction="Ban chỉ huy PCTT"
    )
    assert _text(_valid(xml), "cap:restriction") == "Ban chỉ huy PCTT"


def test_naive_times_and_bad_areas_are_refused() -> None:
    with pytest.raises(CapError, match="time zone"):
        build_cap(_alert(updated_at=datetime(2026, 11, 20, 10, 0)), XEO_RO, sender=SENDER)
    with pytest.raises(CapError, match="WGS 84"):
        CapArea("X", 91.0, 105.0)
    with pytest.raises(CapError, match="radius"):
        CapArea("X", 9.0, 105.0, radius_km=0)
    with pytest.raises(CapError, match="three distinct"):
        CapArea("X", 9.0, 105.0, polygon=((9.0, 105.0), (9.1, 105.0), (9.0, 105.0)))


# --- validation is real ----------------------------------------------------------------


def _edited(xml: bytes, edit: Any) -> bytes:
    root = _root(xml)
    edit(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def _remove(tag: str) -> Any:
    def edit(root: ET.Element) -> None:
        root.remove(root.find(f"cap:{tag}", NS))  # type: ignore[arg-type]

    return edit


def _set(path: str, text: str) -> Any:
    def edit(root: ET.Element) -> None:
        root.find(path, NS).text = text  # type: ignore[union-attr]

    return edit


def test_the_unedited_document_is_valid() -> None:
    xml = build_cap(_alert(), XEO_RO, sender=SENDER)
    validate_cap(_edited(xml, lambda root: None))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_remove("sender"), "sender"),
        (_set("cap:msgType", "Alarm"), "msgType"),
        (_set("cap:sent", "2026-11-20T10:00:00"), "sent"),  # no offset
        (_set("cap:info/cap:severity", "Catastrophic"), "severity"),
        (_set("cap:info/cap:category", "Flood"), "category"),
        (_set("cap:identifier", "two words"), "identifier"),
        (_set("cap:msgType", "Update"), "references"),
    ],
)
def test_broken_documents_fail_validation(edit: Any, message: str) -> None:
    xml = _edited(build_cap(_alert(), XEO_RO, sender=SENDER), edit)
    with pytest.raises(CapValidationError, match=message):
        validate_cap(xml)


def test_unreadable_or_foreign_documents_fail_validation() -> None:
    with pytest.raises(CapValidationError, match="not readable"):
        validate_cap(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>")
    with pytest.raises(CapValidationError):
        validate_cap(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>")
    with pytest.raises(CapValidationError, match="not readable"):
        validate_cap(b"/etc/passwd")  # data, never a path to open
    entity = (
        b"<!DOCTYPE alert [<!ENTITY x 'y'>]>"
        b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>&x;</alert>"
    )
    with pytest.raises(CapValidationError, match="not readable"):
        validate_cap(entity)
