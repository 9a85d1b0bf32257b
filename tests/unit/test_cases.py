"""CSIRT cases, the pure parts: moves, severities, grouping rules, playbooks,
observables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.yaml_loader import ConfigErrors
from processors.cases import observables
from processors.cases.grouping import decide, load_grouping
from processors.cases.model import InvalidMove, check_move, higher, seconds_between, severity_of
from processors.cases.playbooks import load_playbooks, tasks_for

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _alert(rule: str, severity: int = 3, **labels: str) -> dict:
    return {"rule": rule, "severity": severity, "labels": labels, "alert_values": {}}


# ---- model -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted"),
    [("new", "investigating"), ("new", "contained"), ("investigating", "contained"),
     ("contained", "investigating"), ("new", "new")],
)  # fmt: skip
def test_allowed_moves(current, wanted) -> None:
    check_move(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [("investigating", "new"), ("contained", "new"), ("new", "closed"), ("closed", "new"),
     ("closed", "investigating")],
)  # fmt: skip
def test_refused_moves(current, wanted) -> None:
    with pytest.raises(InvalidMove, match=f"from {current} to {wanted}"):
        check_move(current, wanted)


def test_alert_severity_maps_to_case_severity() -> None:
    assert [severity_of(s) for s in range(5)] == ["low", "low", "medium", "high", "critical"]
    assert higher("medium", "high") == "high" and higher("critical", "low") == "critical"


def test_seconds_between() -> None:
    assert seconds_between(T0, T0 + timedelta(minutes=3)) == 180.0
    assert seconds_between(T0, None) is None


# ---- grouping ----------------------------------------------------------------------------


def test_shipped_grouping_decides_by_first_rule_that_takes_the_alert() -> None:
    grouping = load_grouping()
    indicator = decide(
        grouping, _alert("sec.indicator_match", indicator="evil.example", source_ip="203.0.113.9")
    )
    assert indicator is not None and (indicator.rule.id, indicator.key) == (
        "same_indicator",
        "evil.example",
    )
    brute = decide(grouping, _alert("sec.bruteforce", source_ip="203.0.113.9"))
    assert brute is not None and (brute.rule.id, brute.key) == ("same_source", "203.0.113.9")
    malware = decide(grouping, _alert("sec.malware", host_name="pc-01", file_hash="ab" * 32))
    assert malware is not None and malware.rule.id == "same_host_malware"
    sigma = decide(grouping, _alert("sigma.abc", host_name="ws-7"))
    assert sigma is not None and (sigma.rule.id, sigma.key) == ("same_host", "ws-7")


def test_host_names_group_within_their_agency() -> None:
    grouping = load_grouping()
    a = decide(grouping, _alert("sigma.x", host_name="pc-01", agency="so-tttt"))
    b = decide(grouping, _alert("sigma.x", host_name="pc-01", agency="so-yte"))
    bare = decide(grouping, _alert("sigma.x", host_name="pc-01"))
    assert a is not None and b is not None and bare is not None
    assert (a.key, a.group) == ("pc-01", "pc-01 [agency=so-tttt]")
    assert a.group != b.group and bare.group == "pc-01"
    # An attacker's address groups across agencies: one campaign, one case.
    one = decide(grouping, _alert("sec.bruteforce", source_ip="203.0.113.9", agency="so-tttt"))
    assert one is not None and one.group == "203.0.113.9"


def test_grouping_leaves_out_mild_and_keyless_alerts() -> None:
    grouping = load_grouping()
    assert decide(grouping, _alert("sec.bruteforce", severity=0, source_ip="203.0.113.9")) is None
    assert decide(grouping, _alert("sec.malware", host_name="-")) is None
    assert decide(grouping, _alert("sec.ids_alert", signature_id="1")) is None


def test_grouping_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "grouping.yaml"
    bad.write_text(
        "version: 1\nlookback_minutes: 60\nrules:\n"
        "  - id: a\n    key: source_ip\n    window_minutes: 0\n"
        "    title: {vi: 'x {nope}', en: 'x'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigErrors) as raised:
        load_grouping(bad)
    text = str(raised.value)
    assert "grouping.yaml:6: rules[0].window_minutes" in text
    assert "nope" in text


def test_title_renders_key_and_alert() -> None:
    rule = load_grouping().rules[0]
    assert rule.title.render("en", "evil.example", "x") == "Campaign indicator evil.example"


# ---- playbooks ---------------------------------------------------------------------------


def test_shipped_playbooks_give_triage_and_kind_tasks_once() -> None:
    books = load_playbooks()
    found = tasks_for(
        books, [("sec.bruteforce", []), ("sec.password_spray", []), ("sec.bruteforce", [])]
    )
    names = [(b.id, t.id) for b, _, t in found]
    assert ("triage", "confirm_scope") in names
    assert ("credential_attack", "block_source") in names
    assert len(names) == len(set(names))
    assert not any(b.id == "malware" for b, _, _ in found)
    assert {b.id for b, _, _ in tasks_for(books, [("sigma.x", [])])} == {"triage", "sigma"}
    # A Sigma rule's kind is in its techniques.
    spray = {b.id for b, _, _ in tasks_for(books, [("sigma.x", ["T1110.003"])])}
    assert spray == {"triage", "sigma", "credential_attack"}


def test_playbook_errors_name_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "id: a\nalerts: ['*']\nname: {vi: a, en: a}\ntasks: []\n", encoding="utf-8"
    )
    (tmp_path / "c.yaml").write_text(
        "id: c\nname: {vi: c, en: c}\ntasks:\n  - {id: x, title: {vi: x, en: x}}\n",
        encoding="utf-8",
    )
    (tmp_path / "b.yaml").write_text(
        "id: b\nalerts: ['*']\nname: {vi: b, en: b}\ntasks:\n  - {id: x, title: {vi: x}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigErrors) as raised:
        load_playbooks(tmp_path)
    text = str(raised.value)
    assert "a.yaml:4: tasks" in text and "b.yaml:5: tasks[0].title.en" in text
    assert "c.yaml" in text and "needs `alerts` or `techniques`" in text


# ---- observables -------------------------------------------------------------------------


def test_observables_from_alert_labels_and_values() -> None:
    alert = {
        "labels": {"source_ip": "203.0.113.9", "indicator_type": "domain",
                   "indicator": "Evil.Example.", "host_name": "-"},
        "alert_values": {"users": ["admin", "root", ""], "hosts": ["WEB-01"],
                         "file_hash": "AB" * 32},
    }  # fmt: skip
    found = {(o.type, o.value) for o in observables.from_alert(alert, T0)}
    assert found == {
        ("ipv4", "203.0.113.9"), ("domain", "evil.example"), ("user", "admin"),
        ("user", "root"), ("host", "web-01"), ("sha256", "ab" * 32),
    }  # fmt: skip


def test_observables_from_event_columns_and_ecs() -> None:
    event = {
        "time": T0, "source_ip": "2001:db8::1", "destination_ip": "127.0.0.1",
        "user_name": "alice", "host_name": None,
        "ecs": {
            "url": {"full": "http://evil.example/x.sh", "domain": "evil.example"},
            "file": {"hash": {"md5": "d41d8cd98f00b204e9800998ecf8427e", "sha1": "zz"}},
            "dns.question.name": "c2.example.org",
            "related": {"ip": ["10.0.0.5", "not an ip"], "hash": ["a" * 40]},
        },
    }  # fmt: skip
    found = {(o.type, o.value) for o in observables.from_event(event)}
    assert found == {
        ("ipv6", "2001:db8::1"), ("user", "alice"), ("url", "http://evil.example/x.sh"),
        ("domain", "evil.example"), ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("domain", "c2.example.org"), ("ipv4", "10.0.0.5"), ("sha1", "a" * 40),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("ip", "999.1.1.1"), ("ip", "0.0.0.0"), ("hash", "xyz"), ("hash", "a" * 33),
     ("url", "javascript:alert(1)"), ("url", "http://a b"), ("domain", "localhost"),
     ("domain", "1.2.3.4"), ("host", "x" * 300), ("user", "a\x00b"), ("user", True),
     ("user", {"a": 1}), ("nope", "x")],
)  # fmt: skip
def test_observables_refuse_what_is_not_one(kind, raw) -> None:
    assert observables.typed(kind, raw) is None


def test_merge_counts_sightings_and_spans_time() -> None:
    a = observables.Observable("ipv4", "203.0.113.9", T0)
    b = observables.Observable("ipv4", "203.0.113.9", T0 + timedelta(hours=1))
    c = observables.Observable("user", "root", T0)
    merged = sorted(observables.merge([[a, c], [b]]))
    assert merged == [
        ("ipv4", "203.0.113.9", T0, T0 + timedelta(hours=1), 2),
        ("user", "root", T0, T0, 1),
    ]
