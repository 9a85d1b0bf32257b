"""Indicator lists: plain files (type inferred or fixed by the file name), CIDR networks,
STIX 2.1 bundles parsed by the pattern grammar, and problems reported, never dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stix2

from processors.security.indicators import (
    INDICATORS_DIR,
    IndicatorSet,
    load_indicators,
    parse_value,
)
from processors.security.indicators.loader import read_list, read_stix

EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
CREATED = datetime(2026, 11, 20, tzinfo=UTC)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- plain lists ---------------------------------------------------------------------


def test_values_are_typed_by_their_shape() -> None:
    assert parse_value("198.51.100.66") == ("ip", "198.51.100.66")
    assert parse_value("203.0.113.0/24") == ("ip", "203.0.113.0/24")
    assert parse_value("2001:DB8::1") == ("ip", "2001:db8::1")
    assert parse_value("198.51.100.66/32") == ("ip", "198.51.100.66")
    assert parse_value("Evil.Example.") == ("domain", "evil.example")
    assert parse_value("*.evil.example") == ("domain", "evil.example")
    assert parse_value("bücher.example") == ("domain", "xn--bcher-kva.example")
    assert parse_value(EICAR_MD5.upper()) == ("md5", EICAR_MD5)
    assert parse_value("3395856ce81f2b7382dee72602f798b642f14140")[0] == "sha1"
    assert parse_value(EICAR_SHA256) == ("sha256", EICAR_SHA256)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("203.0.113.5/24", "host bits set"),
        ("10.0.0.300", "is not an IP address"),
        ("localhost", "is not an IP address"),
        ("abc123", "is not an IP address"),
        ("http://evil.example/x", "is not an IP address"),
    ],
)
def test_values_that_are_no_indicator(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_value(value)


def test_list_with_comments_and_problems_by_line() -> None:
    found = IndicatorSet()
    text = (
        "# sample list\n"
        "\n"
        "198.51.100.66   # C2\n"
        "203.0.113.0/24\n"
        "not a value\n"
        "malware-c2.example\n"
        f"{EICAR_SHA256}  # EICAR\n"
    )
    read_list("iocs.txt", text, found)
    assert len(found) == 4
    (problem,) = found.problems
    assert (problem.file, problem.where) == ("iocs.txt", "line 5")
    assert "'not a value' is not an IP address" in problem.reason
    assert found.match_ip("198.51.100.66") is not None
    assert found.match_hash(EICAR_SHA256.upper()) is not None
    indicator = found.match_domain("malware-c2.example")
    assert indicator is not None and indicator.source == "iocs.txt:6"


def test_file_name_fixes_the_type(tmp_path: Path) -> None:
    write(tmp_path, "bad-ips.txt", "198.51.100.66\nmalware-c2.example\n")
    write(tmp_path, "c2-domains.list", "malware-c2.example\n198.51.100.67\n")
    write(tmp_path, "sha256.txt", f"{EICAR_SHA256}\n{EICAR_MD5}\n")
    found = load_indicators(tmp_path)
    assert len(found) == 3
    reasons = sorted(
        (Path(p.file).name, p.where, p.reason.removesuffix(" values")) for p in found.problems
    )
    assert reasons == [
        ("bad-ips.txt", "line 2", "'malware-c2.example' is of type domain; this list holds ip"),
        ("c2-domains.list", "line 2", "'198.51.100.67' is of type ip; this list holds domain"),
        ("sha256.txt", "line 2", f"'{EICAR_MD5}' is of type md5; this list holds sha256"),
    ]


def test_cidr_networks_match_most_specific_first() -> None:
    found = IndicatorSet()
    read_list("nets.txt", "10.0.0.0/8\n10.20.0.0/16\n10.20.5.0/28\n2001:db8::/32\n", found)
    indicator = found.match_ip("10.20.5.9")
    assert indicator is not None and indicator.value == "10.20.5.0/28"
    indicator = found.match_ip("10.20.6.1")
    assert indicator is not None and indicator.value == "10.20.0.0/16"
    indicator = found.match_ip("10.99.0.1")
    assert indicator is not None and indicator.value == "10.0.0.0/8"
    assert found.match_ip("11.0.0.1") is None
    assert found.match_ip("2001:db8:1::5") is not None
    assert found.match_ip("2001:db9::5") is None
    assert found.match_ip("not an address") is None


def test_domains_match_subdomains_but_not_lookalikes() -> None:
    found = IndicatorSet()
    read_list("d.txt", "evil.example\n", found)
    assert found.match_domain("evil.example") is not None
    assert found.match_domain("a.b.EVIL.example.") is not None
    assert found.match_domain("notevil.example") is None
    assert found.match_domain("evil.example.com") is None
    assert found.match_domain("example") is None


def test_folder_reports_strays_and_missing_paths(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "notes")
    write(tmp_path, "feed.csv", "198.51.100.1,bad\n")
    write(tmp_path, "ok.txt", "198.51.100.1\n")
    found = load_indicators([tmp_path, tmp_path / "missing.txt"])
    assert len(found) == 1
    assert sorted((Path(p.file).name, p.reason) for p in found.problems) == [
        ("feed.csv", "not an indicator file (expected .txt, .list or .json)"),
        ("missing.txt", "not found"),
    ]


def test_first_source_wins_for_duplicates() -> None:
    found = IndicatorSet()
    read_list("a.txt", "198.51.100.1\n", found)
    read_list("b.txt", "198.51.100.1\n", found)
    indicator = found.match_ip("198.51.100.1")
    assert indicator is not None and indicator.source == "a.txt:1"
    assert len(found) == 1 and found.problems == []


# ---- STIX 2.1 ------------------------------------------------------------------------


def indicator(pattern: str, **fields: Any) -> stix2.Indicator:
    return stix2.Indicator(
        pattern=pattern,
        pattern_type=fields.pop("pattern_type", "stix"),
        valid_from=CREATED,
        created=CREATED,
        modified=CREATED,
        **fields,
    )


def bundle_text(*objects: Any) -> str:
    return stix2.Bundle(objects=list(objects), allow_custom=True).serialize()


def test_stix_bundle_equality_and_or_patterns() -> None:
    found = IndicatorSet()
    text = bundle_text(
        stix2.Identity(name="CERT", identity_class="organization"),
        indicator("[ipv4-addr:value = '198.51.100.0/24']", name="C2 net"),
        indicator(
            "[domain-name:value = 'malware-c2.example'] OR [ipv6-addr:value = '2001:db8::7']"
        ),
        indicator(f"[file:hashes.'SHA-256' = '{EICAR_SHA256}' OR file:hashes.MD5 = '{EICAR_MD5}']"),
        indicator("[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]"),
        indicator("[network-traffic:dst_ref.value = '192.0.2.9']"),
    )
    read_stix("feed.json", text, found)
    assert found.problems == []
    assert len(found) == 8
    net = found.match_ip("198.51.100.77")
    assert (
        net is not None and net.name == "C2 net" and net.source.startswith("feed.json indicator--")
    )
    for address in ("2001:db8::7", "192.0.2.1", "192.0.2.2", "192.0.2.9"):
        assert found.match_ip(address) is not None
    assert found.match_domain("x.malware-c2.example") is not None
    assert found.match_hash(EICAR_MD5) is not None and found.match_hash(EICAR_SHA256) is not None


def test_stix_unsupported_patterns_are_reported() -> None:
    found = IndicatorSet()
    anded = indicator("[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f' AND file:name = 'x']")
    like = indicator("[url:value LIKE '%evil%']")
    repeated = indicator("[ipv4-addr:value = '192.0.2.5'] REPEATS 5 TIMES")
    mixed = indicator("[ipv4-addr:value = '192.0.2.6'] OR [url:value = 'http://evil.example/x']")
    negated = indicator("[ipv4-addr:value != '192.0.2.7']")
    yara = indicator("rule x { condition: true }", pattern_type="yara")
    revoked = indicator("[ipv4-addr:value = '192.0.2.8']", revoked=True)
    read_stix("feed.json", bundle_text(anded, like, repeated, mixed, negated, yara, revoked), found)
    reasons = {p.where: p.reason for p in found.problems}
    assert set(reasons) == {i.id for i in (anded, like, repeated, mixed, negated, yara, revoked)}
    assert "not loaded" in reasons[anded.id] and "AND cannot be matched" in reasons[anded.id]
    assert "LikeComparisonExpression is not supported" in reasons[like.id]
    assert "qualifiers" in reasons[repeated.id]
    assert reasons[mixed.id].startswith("pattern partly loaded; unsupported: url:value = 'http")
    assert "object path url:value is not matched here" in reasons[mixed.id]
    assert "negated" in reasons[negated.id]
    assert reasons[yara.id] == "pattern_type 'yara' is not supported (only 'stix')"
    assert reasons[revoked.id] == "revoked; not loaded"
    # Only the supported alternative of the mixed pattern is loaded.
    assert len(found) == 1 and found.match_ip("192.0.2.6") is not None
    assert found.match_ip("192.0.2.5") is None and found.match_ip("192.0.2.8") is None


def test_stix_invalid_objects_and_documents_are_reported() -> None:
    found = IndicatorSet()
    good = json.loads(indicator("[ipv4-addr:value = '192.0.2.1']").serialize())
    broken = dict(good, id="indicator--00000000-0000-4000-8000-000000000001", pattern="[bad")
    read_stix("feed.json", json.dumps({"type": "bundle", "objects": [good, broken]}), found)
    (problem,) = found.problems
    assert problem.where == broken["id"] and problem.reason.startswith("invalid Indicator")
    assert found.match_ip("192.0.2.1") is not None
    read_stix("junk.json", "{not json", found)
    read_stix("list.json", json.dumps({"type": "bundle"}), found)
    assert [p.reason.split(":")[0] for p in found.problems[1:]] == [
        "not JSON",
        "not a STIX bundle (no 'objects' list)",
    ]


def test_stix_valid_until_is_checked_against_event_time() -> None:
    found = IndicatorSet()
    until = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    read_stix(
        "feed.json",
        bundle_text(indicator("[ipv4-addr:value = '192.0.2.1']", valid_until=until)),
        found,
    )
    matched = found.match_ip("192.0.2.1")
    assert matched is not None
    assert matched.valid_at(until.timestamp() - 1)
    assert not matched.valid_at(until.timestamp())


def test_shipped_sample_lists_load_cleanly() -> None:
    found = load_indicators(INDICATORS_DIR)
    assert found.problems == []
    assert found.match_ip("203.0.113.200") is not None  # TEST-NET-3
    assert found.match_ip("198.51.100.66") is not None
    assert found.match_domain("beacon.malware-c2.example") is not None
    assert found.match_hash(EICAR_SHA256) is not None  # from the sample STIX bundle
    assert found.match_ip("8.8.8.8") is None
