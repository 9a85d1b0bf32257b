"""STIX 2.1 export of security alerts: Indicators and Sightings, TLP markings, ATT&CK
references, deterministic ids, dedup across alerts, and patterns that hostile values
cannot break. Every bundle is parsed back by stix2 without custom content allowed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stix2
from stix2patterns.v21.pattern import Pattern
from stix2patterns.validator import validate

from events.alerts import Severity
from processors.alerts.exports.stix import (
    StixExportError,
    alert_bundle,
    escape_pattern_string,
    range_bundle,
    range_export,
    soc_identity,
    tlp_marking,
)

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SOC = soc_identity("Trung tâm SOC tỉnh Kiên Giang", "Kiên Giang")


def _alert(n: int = 1, **changes: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "id": uuid.UUID(int=n),
        "fingerprint": f"fp{n}",
        "rule": "sigma.corr_ssh_bruteforce",
        "domain": "security",
        "status": "firing",
        "severity": int(Severity.HIGH),
        "labels": {"source_ip": "203.0.113.7", "user_name": "root"},
        "title_vi": "Dò mật khẩu SSH từ một địa chỉ",
        "title_en": "SSH brute force from one source",
        "summary_vi": "",
        "summary_en": "",
        "alert_values": {"count": 14},
        "technique_ids": ["T1110"],
        "event_ids": ["e1", "e2"],
        "started_at": T0,
        "updated_at": T0 + timedelta(minutes=5),
        "resolved_at": None,
    }
    alert.update(changes)
    return alert


def _round_trip(bundle: stix2.v21.Bundle) -> stix2.v21.Bundle:
    """Serialized and parsed back strictly: proves the bundle is plain, valid STIX 2.1."""
    parsed = stix2.parse(bundle.serialize(), allow_custom=False)
    assert parsed.serialize() == bundle.serialize()
    return parsed


def _of(bundle: stix2.v21.Bundle, kind: str) -> list[Any]:
    return [o for o in bundle.objects if o.type == kind]


def test_brute_force_becomes_an_indicator_and_a_sighting_under_tlp_amber() -> None:
    bundle = _round_trip(alert_bundle(_alert(), identity=SOC))
    (indicator,) = _of(bundle, "indicator")
    (sighting,) = _of(bundle, "sighting")
    (identity,) = _of(bundle, "identity")
    assert indicator.pattern == "[ipv4-addr:value = '203.0.113.7']"
    assert indicator.pattern_type == "stix"
    assert indicator.valid_from == T0
    assert indicator.indicator_types == ["malicious-activity"]
    assert indicator.created_by_ref == identity.id == SOC.id
    assert sighting.sighting_of_ref == indicator.id
    assert sighting.where_sighted_refs == [SOC.id]
    assert sighting.created_by_ref == SOC.id
    assert sighting.count == 14
    assert (sighting.first_seen, sighting.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert "SSH brute force" in sighting.description
    assert "Dò mật khẩu SSH" in sighting.description

    attack = [r for r in indicator.external_references if r.source_name == "mitre-attack"]
    assert [(r.external_id, r.url) for r in attack] == [
        ("T1110", "https://attack.mitre.org/techniques/T1110/")
    ]
    assert any(r.external_id == "T1110" for r in sighting.external_references)

    (marking,) = _of(bundle, "marking-definition")
    assert marking.id == stix2.v21.TLP_AMBER.id
    for obj in (indicator, sighting, identity):
        assert obj.object_marking_refs == [stix2.v21.TLP_AMBER.id]
    # A user name identifies a person, not attack infrastructure: never an indicator.
    assert "root" not in bundle.serialize()


def test_sub_technique_links_to_its_attack_page() -> None:
    techniques = ["t1110.001", "T1110.001", "not-a-technique"]
    bundle = alert_bundle(_alert(technique_ids=techniques), identity=SOC)
    (indicator,) = _of(bundle, "indicator")
    assert [(r.external_id, r.url) for r in indicator.external_references] == [
        ("T1110.001", "https://attack.mitre.org/techniques/T1110/001/")
    ]


def test_ids_are_the_same_on_every_export() -> None:
    first = alert_bundle(_alert(), identity=SOC)
    again = alert_bundle(
        _alert(), identity=soc_identity("Trung tâm SOC tỉnh Kiên Giang", "Kiên Giang")
    )
    assert first.serialize() == again.serialize()
    assert first.id == again.id
    # A later version of the same alert keeps its Indicator and Sighting ids.
    later = alert_bundle(_alert(updated_at=T0 + timedelta(hours=1)), identity=SOC)
    assert [o.id for o in later.objects] == [o.id for o in first.objects]
    assert _of(later, "sighting")[0].modified > _of(first, "sighting")[0].modified


def test_soc_identity_is_deterministic_per_name_and_province() -> None:
    assert soc_identity("SOC", "Kiên Giang").id == soc_identity("SOC", "Kiên Giang").id
    assert soc_identity("SOC", "Kiên Giang").id != soc_identity("SOC", "Khánh Hòa").id
    with pytest.raises(StixExportError, match="province"):
        soc_identity("SOC", " ")


def test_range_bundle_shares_one_indicator_per_observable_and_reports_skips() -> None:
    alerts = [
        _alert(1),
        # The same address under the ECS spelling, an hour later, from another rule.
        _alert(
            2,
            rule="sigma.corr_password_spray",
            labels={"source.ip": "203.0.113.7"},
            technique_ids=["T1110.003"],
            started_at=T0 + timedelta(hours=1),
            updated_at=T0 + timedelta(hours=2),
        ),
        _alert(3, labels={"source_ip": "198.51.100.20"}, severity=int(Severity.LOW)),
        _alert(4, domain="environment", rule="env.water_level", labels={"device_id": "x"}),
        _alert(5, labels={"user_name": "admin"}),
    ]
    export = range_export(alerts, identity=SOC, tlp="green")
    bundle = _round_trip(export.bundle)
    indicators = {i.pattern: i for i in _of(bundle, "indicator")}
    assert set(indicators) == {
        "[ipv4-addr:value = '203.0.113.7']",
        "[ipv4-addr:value = '198.51.100.20']",
    }
    shared = indicators["[ipv4-addr:value = '203.0.113.7']"]
    assert shared.valid_from == T0  # the earliest sighting
    assert shared.modified == T0 + timedelta(hours=2)  # the latest
    assert {r.external_id for r in shared.external_references} == {"T1110", "T1110.003"}
    assert indicators["[ipv4-addr:value = '198.51.100.20']"].indicator_types == [
        "anomalous-activity"
    ]
    sightings = _of(bundle, "sighting")
    assert len(sightings) == 3
    assert sum(s.sighting_of_ref == shared.id for s in sightings) == 2
    assert all(o.object_marking_refs == [stix2.v21.TLP_GREEN.id] for o in sightings)
    skipped = {s.alert_id: s.reason for s in export.skipped}
    assert set(skipped) == {str(uuid.UUID(int=4)), str(uuid.UUID(int=5))}
    assert "only security alerts" in skipped[str(uuid.UUID(int=4))]
    assert "no observable" in skipped[str(uuid.UUID(int=5))]
    assert range_bundle(alerts, identity=SOC, tlp="green").serialize() == bundle.serialize()


def test_the_same_alert_twice_is_one_sighting() -> None:
    bundle = range_bundle([_alert(), _alert()], identity=SOC)
    assert len(_of(bundle, "sighting")) == 1


def test_ipv6_addresses_are_normalised() -> None:
    alert = _alert(labels={"destination_ip": "2001:DB8:0:0::1"})
    (indicator,) = _of(_round_trip(alert_bundle(alert, identity=SOC)), "indicator")
    assert indicator.pattern == "[ipv6-addr:value = '2001:db8::1']"
    assert indicator.name == "IPv6 address 2001:db8::1"


def test_file_hashes_domains_and_urls() -> None:
    sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
    alert = _alert(
        labels={"host": "kg-web-01"},
        alert_values={
            "file.hash.sha256": sha256,
            "md5": "d41d8cd98f00b204e9800998ecf8427e",
            "domain": "Evil.Example.",
            "url": "http://evil.example/a?b=c",
        },
    )
    bundle = _round_trip(alert_bundle(alert, identity=SOC))
    patterns = sorted(i.pattern for i in _of(bundle, "indicator"))
    assert patterns == sorted(
        [
            f"[file:hashes.'SHA-256' = '{sha256.lower()}']",
            "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
            "[domain-name:value = 'evil.example']",
            "[url:value = 'http://evil.example/a?b=c']",
        ]
    )
    assert len(_of(bundle, "sighting")) == 4


def test_invalid_observables_are_named_in_the_refusal() -> None:
    alert = _alert(labels={"source_ip": "999.1.1.1", "sha256": "abc", "domain": "."})
    with pytest.raises(StixExportError, match=r"no observable.*source_ip='999\.1\.1\.1'"):
        alert_bundle(alert, identity=SOC)


def _comparisons(pattern: str) -> dict[str, int]:
    data = Pattern(pattern).inspect()
    assert not data.observation_ops, pattern
    return {kind: len(found) for kind, found in data.comparisons.items()}


def test_hostile_values_cannot_break_the_pattern() -> None:
    domain = "evil.example'] OR [ipv4-addr:value = '0.0.0.0"
    url = "http://x.example/\\' AND 1=1"
    # Pasted in unescaped, the domain would smuggle in a second comparison.
    naive = f"[domain-name:value = '{domain}']"
    assert validate(naive, stix_version="2.1")
    assert Pattern(naive).inspect().comparisons.keys() == {"domain-name", "ipv4-addr"}

    alert = _alert(labels={"domain": domain, "url": url})
    bundle = _round_trip(alert_bundle(alert, identity=SOC))
    patterns = {i.name.split(" ", 1)[0]: i.pattern for i in _of(bundle, "indicator")}
    for pattern in patterns.values():
        ok, errors = validate(pattern, stix_version="2.1", ret_errs=True)
        assert ok, errors
    # One comparison each, holding the whole value (domains are compared lower-cased).
    assert _comparisons(patterns["Domain"]) == {"domain-name": 1}
    assert _comparisons(patterns["URL"]) == {"url": 1}
    assert patterns["Domain"] == (
        "[domain-name:value = 'evil.example\\'] or [ipv4-addr:value = \\'0.0.0.0']"
    )
    assert patterns["URL"] == "[url:value = 'http://x.example/\\\\\\' AND 1=1']"


def test_escape_pattern_string() -> None:
    assert escape_pattern_string("a'b\\c") == "a\\'b\\\\c"


def test_non_security_alerts_are_refused() -> None:
    alert = _alert(domain="environment", rule="env.water_level")
    with pytest.raises(StixExportError, match="only security alerts"):
        alert_bundle(alert, identity=SOC)


def test_an_alert_without_observables_is_refused() -> None:
    with pytest.raises(StixExportError, match="no observable"):
        alert_bundle(_alert(labels={"user_name": "root"}, alert_values={}), identity=SOC)


@pytest.mark.parametrize(
    ("name", "marking"),
    [
        ("amber", stix2.v21.TLP_AMBER),
        ("TLP:GREEN", stix2.v21.TLP_GREEN),
        ("clear", stix2.v21.TLP_WHITE),
        ("White", stix2.v21.TLP_WHITE),
        ("red", stix2.v21.TLP_RED),
    ],
)
def test_tlp_names(name: str, marking: stix2.v21.MarkingDefinition) -> None:
    assert tlp_marking(name) is marking
    bundle = _round_trip(alert_bundle(_alert(), identity=SOC, tlp=name))
    assert _of(bundle, "marking-definition")[0].id == marking.id
    assert {
        tuple(o.object_marking_refs) for o in bundle.objects if o.type != "marking-definition"
    } == {(marking.id,)}


def test_unknown_tlp_is_refused() -> None:
    with pytest.raises(StixExportError, match="TLP"):
        tlp_marking("purple")


def test_count_falls_back_to_the_events_listed() -> None:
    alert = _alert(alert_values={}, event_ids=["a", "b", "c"])
    (sighting,) = _of(alert_bundle(alert, identity=SOC), "sighting")
    assert sighting.count == 3
