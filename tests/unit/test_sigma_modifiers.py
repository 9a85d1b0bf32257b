"""The modifiers SigmaHQ rules use beyond the basic ones: windash, base64/base64offset,
wide/utf16, fieldref, neq, cased, re flags, timestamp parts, expand (site.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from processors.security.sigma import FieldMap, SigmaEngine, Site, load_texts
from processors.security.sigma.fieldmap import FIELDMAP_FILE
from processors.security.sigma.matcher import SUPPORTED_MODIFIERS


def _fieldmap() -> FieldMap:
    data = yaml.safe_load(FIELDMAP_FILE.read_text(encoding="utf-8"))
    data["logsources"]["category"]["test"] = None
    return FieldMap.from_dict(data, "test fieldmap")


FIELDMAP = _fieldmap()
SITE = Site.from_dict(
    {
        "networks": {"home_net": ["10.0.0.0/8", "fd00::/8"]},
        "values": {"admin_hosts": ["QTHT-ADMIN-*", "jump01"], "tools": ["psexec"]},
    }
)


def engine(detection: dict[str, Any], site: Site = SITE) -> SigmaEngine:
    rule = {"title": "t", "logsource": {"category": "test"}, "detection": detection}
    ruleset = load_texts([("t.yml", yaml.safe_dump(rule))], FIELDMAP, site)
    assert not ruleset.rejected, [str(r) for r in ruleset.rejected]
    return SigmaEngine(ruleset, FIELDMAP)


def hits(detection: dict[str, Any], event: dict[str, Any], site: Site = SITE) -> bool:
    return bool(engine(detection, site).matching_rules(event))


def cmd(line: str) -> dict[str, Any]:
    return {"process": {"command_line": line}}


@pytest.mark.parametrize(
    "line",
    [
        "powershell.exe -enc SQBFAFgA",
        "powershell.exe /enc SQBFAFgA",
        "powershell.exe \u2013enc SQBFAFgA",  # en dash, as pasted from a document
        "powershell.exe \u2014enc SQBFAFgA",
        "powershell.exe \u2015enc SQBFAFgA",
        "POWERSHELL.EXE -ENC x",
    ],
)
def test_windash_matches_every_dash_form(line: str) -> None:
    detection = {"sel": {"CommandLine|windash|contains": " -enc "}, "condition": "sel"}
    assert hits(detection, cmd(line))


def test_windash_leaves_dashes_inside_words_alone() -> None:
    detection = {"sel": {"CommandLine|windash|contains": "-no-profile"}, "condition": "sel"}
    assert hits(detection, cmd("x.exe /no-profile"))
    assert not hits(detection, cmd("x.exe -no/profile"))


def test_windash_with_all_needs_each_value_in_some_form() -> None:
    detection = {
        "sel": {"CommandLine|windash|contains|all": [" -w hidden", " -nop"]},
        "condition": "sel",
    }
    assert hits(detection, cmd("powershell /nop /w hidden"))
    assert not hits(detection, cmd("powershell /w hidden"))


@pytest.mark.parametrize("prefix", ["", "a", "ab"])
def test_base64offset_finds_the_text_at_any_offset(prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}IEX (New-Object Net.WebClient)".encode()).decode()
    detection = {
        "sel": {"CommandLine|base64offset|contains": "IEX (New-Object"},
        "condition": "sel",
    }
    assert hits(detection, cmd(f"powershell -enc {encoded}"))
    assert not hits(detection, cmd(f"powershell -enc {base64.b64encode(b'Get-Date').decode()}"))


def test_base64_and_utf16_encodings() -> None:
    wide = base64.b64encode("whoami".encode("utf-16le")).decode()
    detection = {"sel": {"CommandLine|wide|base64offset|contains": "whoami"}, "condition": "sel"}
    assert hits(detection, cmd(f"powershell -e {wide}"))
    plain = {"sel": {"CommandLine|base64|contains": "whoami"}, "condition": "sel"}
    assert hits(plain, cmd(f"echo {base64.b64encode(b'whoami').decode()} | base64 -d"))
    assert not hits(plain, cmd(f"powershell -e {wide}"))


def test_utf16le_is_the_spec_s_name_for_wide() -> None:
    wide = base64.b64encode("whoami".encode("utf-16le")).decode()
    detection = {"sel": {"CommandLine|utf16le|base64offset|contains": "whoami"}, "condition": "sel"}
    assert hits(detection, cmd(f"powershell -e {wide}"))


def test_fieldref_compares_two_fields_of_the_event() -> None:
    same = {"sel": {"user.name|fieldref": "user.target.name"}, "condition": "sel"}
    assert hits(same, {"user": {"name": "Admin", "target": {"name": "admin"}}})
    assert not hits(same, {"user": {"name": "admin", "target": {"name": "guest"}}})
    assert not hits(same, {"user": {"name": "admin"}})  # the other field absent
    inside = {"sel": {"CommandLine|fieldref|contains": "Image"}, "condition": "sel"}
    event = {"process": {"command_line": '"C:\\x\\a.exe" -q', "executable": "c:\\x\\a.exe"}}
    assert hits(inside, event)
    ends = {"sel": {"CommandLine|fieldref|endswith": "Image"}, "condition": "sel"}
    assert not hits(ends, event)


def test_cased_is_case_sensitive() -> None:
    detection = {"sel": {"CommandLine|cased|contains": "AmsiScanBuffer"}, "condition": "sel"}
    assert hits(detection, cmd("x AmsiScanBuffer y"))
    assert not hits(detection, cmd("x amsiscanbuffer y"))


def test_regex_flags() -> None:
    insensitive = {"sel": {"CommandLine|re|i": "^mimikatz"}, "condition": "sel"}
    assert hits(insensitive, cmd("MimiKatz.exe"))
    assert not hits({"sel": {"CommandLine|re": "^mimikatz"}, "condition": "sel"}, cmd("MimiKatz"))
    multiline = {"sel": {"CommandLine|re|m": "^second$"}, "condition": "sel"}
    assert hits(multiline, cmd("first\nsecond\nthird"))
    dotall = {"sel": {"CommandLine|re|s": "first.second"}, "condition": "sel"}
    assert hits(dotall, cmd("first\nsecond"))
    assert not hits(
        {"sel": {"CommandLine|re": "first.second"}, "condition": "sel"}, cmd("first\nsecond")
    )


def test_neq_is_a_negated_item() -> None:
    detection = {"sel": {"event.action": "logon", "user.name|neq": "system"}, "condition": "sel"}
    assert hits(detection, {"event": {"action": "logon"}, "user": {"name": "an"}})
    assert not hits(detection, {"event": {"action": "logon"}, "user": {"name": "SYSTEM"}})


def test_numeric_comparisons_and_exists() -> None:
    detection = {
        "sel": {
            "destination.port|gte": 1024,
            "destination.port|lt": 1100,
            "user.name|exists": False,
        },
        "condition": "sel",
    }
    assert hits(detection, {"destination": {"port": "1080"}})
    assert not hits(detection, {"destination": {"port": 1100}})
    assert not hits(detection, {"destination": {"port": 1080}, "user": {"name": "x"}})


def test_timestamp_parts_read_the_time_in_utc() -> None:
    detection = {"sel": {"@timestamp|hour": 2, "@timestamp|day": 3}, "condition": "sel"}
    assert hits(detection, {"@timestamp": "2026-12-03T09:30:00+07:00"})  # 02:30 UTC
    assert not hits(detection, {"@timestamp": "2026-12-03T09:30:00+00:00"})
    assert not hits(detection, {"@timestamp": "not a time"})


def test_expand_value_placeholders_from_the_site() -> None:
    detection = {"sel": {"host.name|expand": "%admin_hosts%"}, "condition": "sel"}
    assert hits(detection, {"host": {"name": "qtht-admin-07"}})
    assert hits(detection, {"host": {"name": "JUMP01"}})
    assert not hits(detection, {"host": {"name": "ketoan-pc"}})
    inside = {"sel": {"CommandLine|expand|contains": "\\%tools%.exe"}, "condition": "sel"}
    assert hits(inside, cmd("c:\\tools\\PsExec.exe \\\\srv"))


def test_expand_network_placeholders_are_cidr_tests() -> None:
    detection = {
        "sel": {"source.ip|exists": True},
        "home": {"source.ip|expand": "%home_net%"},
        "condition": "sel and not home",
    }
    assert hits(detection, {"source": {"ip": "203.0.113.9"}})
    assert hits(detection, {"source": {"ip": "2001:db8::1"}})
    assert not hits(detection, {"source": {"ip": "10.20.30.40"}})
    assert not hits(detection, {"source": {"ip": "fd12::5"}})


def test_a_placeholder_the_site_lacks_rejects_the_rule_with_its_name() -> None:
    rule = {
        "title": "t",
        "logsource": {"category": "test"},
        "detection": {"sel": {"host.name|expand": "%nowhere%"}, "condition": "sel"},
    }
    ruleset = load_texts([("t.yml", yaml.safe_dump(rule))], FIELDMAP, SITE)
    (rejection,) = ruleset.rejected
    assert rejection.reason == "placeholder %nowhere% has no value in the site configuration"


def test_placeholders_without_expand_are_plain_text() -> None:
    # SigmaHQ writes '%APPDATA%' as text Windows logs contain, not as a placeholder.
    detection = {"sel": {"CommandLine|contains": "%APPDATA%\\x.exe"}, "condition": "sel"}
    assert hits(detection, cmd("cmd /c %appdata%\\x.exe"), Site())


def test_every_pysigma_modifier_is_supported() -> None:
    from sigma.modifiers import modifier_mapping

    assert set(modifier_mapping) <= SUPPORTED_MODIFIERS
