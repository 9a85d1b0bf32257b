"""Security stream detectors (processors/security/detectors/) under the runner contract:
keys -> load stored state (JSON) -> process -> save states, batch after batch."""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from events.alerts import Severity, Signal, SignalState
from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.detector import Detector
from processors.security.detectors import build_detectors, load_security_detectors
from processors.security.detectors.rules import (
    RULES_FILE,
    RulePackError,
    load_rule_pack,
    parse_rule_pack,
)
from processors.security.indicators.loader import IndicatorSet, read_list
from processors.security.sigma.fieldmap import FieldMap

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
FIELDMAP = FieldMap.load()
ATTACKER = "203.0.113.7"
_ids = iter(range(10**9))


def indicators() -> IndicatorSet:
    found = IndicatorSet()
    read_list("bad-ips.txt", "198.51.100.0/24\n", found, "ip")
    read_list("bad-domains.txt", "malware-c2.example\n", found, "domain")
    return found


def detectors(pack_data: dict[str, Any] | None = None) -> dict[str, Detector]:
    data = pack_data or yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    pack = parse_rule_pack(data, "test pack")
    return {d.name: d for d in build_detectors(pack, FIELDMAP, indicators())}


SHIPPED = detectors()


def small_pack() -> dict[str, Any]:
    """The shipped pack with thresholds small enough for generated traffic to cross."""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    small = {
        "sec.bruteforce": {"threshold": 3, "window_seconds": 60},
        "sec.password_spray": {"distinct_users": 3, "window_seconds": 60},
        "sec.success_after_failures": {"failures": 2, "window_seconds": 60},
        "sec.portscan": {"distinct_ports": 3, "distinct_hosts": 2, "window_seconds": 60},
        "sec.ids_alert": {"window_seconds": 60},
        "sec.malware": {"window_seconds": 90},
        "sec.indicator_match": {"window_seconds": 60},
    }
    for detection in data["detections"]:
        detection.update(small[detection["id"]])
    return data


SMALL = detectors(small_pack())


# ---- the runner, as processors/runner.py drives a detector -----------------------------


def run(
    detector: Detector, *batches: Sequence[Any], store: dict[str, Any] | None = None
) -> list[Signal]:
    """Feed batches through keys/process with state kept as JSON text between them."""
    store = {} if store is None else store
    signals: list[Signal] = []
    for batch in batches:
        keys = detector.keys(batch)
        states = {key: json.loads(store[key]) for key in keys if key in store}
        before = copy.deepcopy(states)
        outcome = detector.process(states, batch)
        assert states == before, "process modified the states it was given"
        assert set(outcome.states) <= keys, "a state for a key keys() did not name"
        for key, state in outcome.states.items():
            if state is None:
                store.pop(key, None)
            else:
                assert isinstance(state["expires"], float | int)
                store[key] = json.dumps(state)
        signals.extend(outcome.signals)
    return signals


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(seconds: float, dataset: str, **fields: Any) -> SecurityEvent:
    fields.setdefault("event_id", f"e{next(_ids):06d}")
    ecs = fields.pop("ecs", {})
    return SecurityEvent(time=at(seconds), dataset=dataset, ecs=ecs, **fields)


def fail(seconds: float, ip: str | None = ATTACKER, user: str = "root", host: str = "web01"):
    return event(
        seconds,
        "system.auth",
        category=("authentication",),
        action="ssh_login",
        outcome="failure",
        source_ip=ip,
        user_name=user,
        host_name=host,
    )


def login(seconds: float, ip: str = ATTACKER, user: str = "root", host: str = "web01"):
    return event(
        seconds,
        "system.auth",
        category=("authentication",),
        action="ssh_login",
        outcome="success",
        source_ip=ip,
        user_name=user,
        host_name=host,
    )


def flow(seconds: float, src: str, dst: str, port: int | None) -> SecurityEvent:
    return event(
        seconds,
        "suricata.eve",
        category=("network",),
        action="flow",
        source_ip=src,
        destination_ip=dst,
        destination_port=port,
        ecs={"event": {"kind": "event", "category": ["network"], "action": "flow"}},
    )


def ids_alert(
    seconds: float,
    src: str = ATTACKER,
    sid: int = 2024897,
    level: int = 2,
    dst: str = "10.20.0.5",
    techniques: tuple[str, ...] = (),
) -> SecurityEvent:
    return event(
        seconds,
        "suricata.eve",
        category=("intrusion_detection",),
        action="allowed",
        severity=level,
        source_ip=src,
        destination_ip=dst,
        rule_id=str(sid),
        rule_name=f"ET TEST signature {sid}",
        technique_ids=techniques,
        host_name="ids-hn-01",
        ecs={"event": {"kind": "alert", "category": ["intrusion_detection"]}},
    )


def malware(
    seconds: float,
    host: str = "kt-pc07",
    sha256: str = "ab" * 32,
    action: str = "quarantined",
    outcome: str = "success",
) -> SecurityEvent:
    return event(
        seconds,
        "m365_defender.alert",
        category=("malware",),
        action=action,
        outcome=outcome,
        host_name=host,
        rule_name="Trojan:Win32/Test",
        technique_ids=("T1204.002",),
        ecs={"file": {"name": "x.exe", "hash": {"sha256": sha256}}},
    )


def seconds_of(signals: Sequence[Signal]) -> list[float]:
    return [(s.at - T0).total_seconds() for s in signals]


def decoded(fmt: str, topic: str, payload: bytes) -> SecurityEvent:
    msg = RawMessage("kafka", topic, payload, partition=0, offset=next(_ids), received_at=RECEIVED)
    (decoded_event,) = get_decoder(fmt)(msg)
    assert isinstance(decoded_event, SecurityEvent)
    return decoded_event


def syslog(line: str) -> SecurityEvent:
    return decoded("syslog", "seclog.syslog", line.encode())


# ---- the rule pack ---------------------------------------------------------------------


def test_shipped_pack_builds_every_detection() -> None:
    built = load_security_detectors(indicators=None)
    names = [d.name for d in built]
    assert names == [
        "sec.bruteforce",
        "sec.password_spray",
        "sec.success_after_failures",
        "sec.portscan",
        "sec.ids_alert",
        "sec.malware",
        "sec.indicator_match",
        "sigma",
    ]
    pack = load_rule_pack()
    techniques = {d.id: d.techniques for d in pack.detections}
    assert techniques["sec.bruteforce"] == ("T1110.001",)
    assert techniques["sec.password_spray"] == ("T1110.003",)
    assert "T1078" in techniques["sec.success_after_failures"]
    assert techniques["sec.portscan"] == ("T1046",)


def test_disabled_detection_is_not_built() -> None:
    data = small_pack()
    data["detections"][0]["enabled"] = False
    assert "sec.bruteforce" not in detectors(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["detections"][3].update(window_seconds=0),
            "detections[3].window_seconds: input should be greater than 0, got 0",
        ),
        (
            lambda d: d["detections"][0].update(threshold="many"),
            "detections[0].threshold: input should be a valid integer",
        ),
        (
            lambda d: d["detections"][0]["title"].update(vi="Dò {attacker}"),
            "detections[0].title: vi: unknown placeholder {attacker}",
        ),
        (
            lambda d: d["detections"][0]["title"].update(en="{source_ip.__class__}"),
            "is not a name",
        ),
        (
            lambda d: d["detections"][1].update(id="sec.bruteforce"),
            "detection id 'sec.bruteforce' is used twice",
        ),
        (
            lambda d: d["detections"][0].update(type="guesswork"),
            "detections[0].type: unknown kind 'guesswork'",
        ),
        (lambda d: d["detections"][0].update(colour="red"), "detections[0].colour: unknown field"),
    ],
)
def test_pack_errors_name_the_file_and_field(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = small_pack()
    change(data)
    with pytest.raises(RulePackError) as error:
        parse_rule_pack(data, "detections.yaml")
    assert str(error.value).startswith("detections.yaml: ")
    assert expected in str(error.value)


@pytest.mark.parametrize(("index", "selection"), [(0, "select"), (2, "success")])
def test_bad_selection_is_a_load_error(tmp_path: Path, index: int, selection: str) -> None:
    data = small_pack()
    data["detections"][index][selection] = {"event.outcome|nosuchmodifier": "failure"}
    path = tmp_path / "detections.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    ident = data["detections"][index]["id"]
    with pytest.raises(RulePackError) as caught:
        load_security_detectors(path, indicators=None, sigma_rules=None)
    line = _line_of(path, f"{selection}:", after=f"id: {ident}")
    expected = rf"^{path}:{line}: detections\[{index}\]\.{selection}: {ident}: "
    assert re.match(expected, str(caught.value)), str(caught.value)


def _line_of(path: Path, text: str, after: str) -> int:
    """The 1-based line of the first `text` after the line holding `after`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i > start and text in line.strip()) + 1


# ---- brute force -----------------------------------------------------------------------

BRUTE = SHIPPED["sec.bruteforce"]


def test_bruteforce_fires_once_at_threshold() -> None:
    assert run(BRUTE, [fail(s) for s in range(9)]) == []
    events = [fail(s, user=f"u{s % 3}") for s in range(20)]
    (signal,) = run(BRUTE, events)
    assert signal.at == at(9)  # the tenth failure
    assert (signal.rule, signal.state, signal.severity) == (
        "sec.bruteforce",
        SignalState.FIRING,
        Severity.HIGH,
    )
    assert dict(signal.labels) == {"source_ip": ATTACKER}
    assert signal.technique_ids == ("T1110.001",)
    assert signal.event_ids == tuple(e.event_id for e in events[:10])
    assert signal.values["users"] == ["u0", "u1", "u2"]
    assert signal.title_vi.startswith("Dò mật khẩu") and ATTACKER in signal.title_en
    assert "10 failed logins" in signal.summary_en and "5 min" in signal.summary_en


def test_bruteforce_ignores_background_from_many_sources() -> None:
    events = [fail(s, ip=f"198.51.100.{s % 60}") for s in range(180)]  # 3 from each of 60
    assert run(BRUTE, events) == []


def test_bruteforce_window_expires() -> None:
    spread = [fail(s * 40) for s in range(12)]  # 12 failures, never 10 within 300 s
    assert run(BRUTE, spread) == []


def test_bruteforce_refires_once_per_window_while_it_holds() -> None:
    events = [fail(s * 10) for s in range(70)]  # one failure every 10 s for 700 s
    signals = run(BRUTE, events)
    assert seconds_of(signals) == [90, 390, 690]  # at the 10th, then once per 300 s


def test_bruteforce_tolerates_out_of_order_batch() -> None:
    events = [fail(s) for s in range(12)]
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    (in_order,) = run(BRUTE, events)
    (mixed,) = run(BRUTE, shuffled)
    assert mixed == in_order


def test_bruteforce_does_not_count_redelivered_events() -> None:
    store: dict[str, Any] = {}
    first = [fail(s) for s in range(9)]
    assert run(BRUTE, first, first, first[:5] + first[:5], store=store) == []
    assert len(run(BRUTE, [fail(9)], store=store)) == 1


def test_bruteforce_late_event_outside_window_is_not_counted() -> None:
    store: dict[str, Any] = {}
    assert run(BRUTE, [fail(1000 + s) for s in range(9)], store=store) == []
    assert run(BRUTE, [fail(10)], store=store) == []  # 990 s before the newest: too late
    assert len(run(BRUTE, [fail(1010)], store=store)) == 1


def test_bruteforce_counts_an_ssh_attempt_once_despite_pam_duplicate() -> None:
    lines = []
    for n in range(6):
        stamp = f"Nov 24 08:00:{n:02d}"
        lines.append(
            f"<38>{stamp} web01 sshd[9]: Failed password for root from {ATTACKER} "
            f"port {40000 + n} ssh2"
        )
        lines.append(
            f"<38>{stamp} web01 sshd[9]: pam_unix(sshd:auth): authentication failure; "
            f"logname= uid=0 euid=0 tty=ssh ruser= rhost={ATTACKER}  user=root"
        )
    events = [syslog(line) for line in lines]
    assert sum(e.action == "pam_authentication" for e in events) == 6
    assert run(BRUTE, events) == []  # 6 attempts, not 12 failures
    more = [
        syslog(f"<38>Nov 24 08:01:{n:02d} web01 sshd[9]: Failed password for root from {ATTACKER}")
        for n in range(4)
    ]
    (signal,) = run(BRUTE, events + more)
    assert signal.values["hosts"] == ["web01"]


def test_bruteforce_counts_windows_failed_logons() -> None:
    failures = [
        event(
            s,
            "system.security",
            category=("authentication",),
            action="logon-failed",
            outcome="failure",
            source_ip="10.20.3.44",
            user_name="administrator",
            host_name="dc01",
        )
        for s in range(10)
    ]
    (signal,) = run(BRUTE, failures)
    assert dict(signal.labels) == {"source_ip": "10.20.3.44"}


def test_bruteforce_skips_failures_without_a_source_address() -> None:
    assert run(BRUTE, [fail(s, ip=None) for s in range(20)]) == []


# ---- password spraying -----------------------------------------------------------------

SPRAY = SHIPPED["sec.password_spray"]


def test_spray_fires_at_distinct_users() -> None:
    assert run(SPRAY, [fail(s, user=f"user{s}") for s in range(4)]) == []
    events = [fail(s, user=f"user{s}") for s in range(8)]
    (signal,) = run(SPRAY, events)
    assert signal.at == at(4)
    assert signal.values["users"] == ["user0", "user1", "user2", "user3", "user4"]
    assert signal.technique_ids == ("T1110.003",)
    assert "5 different accounts" in signal.summary_en


def test_spray_not_for_one_user_many_times_nor_many_sources() -> None:
    assert run(SPRAY, [fail(s, user="root") for s in range(50)]) == []
    background = [fail(s, ip=f"198.51.100.{s % 40}", user=f"u{s % 80}") for s in range(80)]
    assert run(SPRAY, background) == []  # 2 users from each of 40 addresses


def test_spray_window_expires_and_users_repeat_keep_it_alive() -> None:
    slow = [fail(s * 200, user=f"user{s}") for s in range(6)]  # 3 per 600 s at most
    assert run(SPRAY, slow) == []
    store: dict[str, Any] = {}
    assert run(SPRAY, [fail(s, user=f"user{s}") for s in range(4)], store=store) == []
    assert run(SPRAY, [fail(5, user="user0")], store=store) == []  # a repeat is not new
    assert len(run(SPRAY, [fail(6, user="user9")], store=store)) == 1


# ---- success after failures ------------------------------------------------------------

SUCCESS = SHIPPED["sec.success_after_failures"]


def test_success_after_failures_from_one_source() -> None:
    failures = [fail(s, user=f"u{s}") for s in range(5)]
    (signal,) = run(SUCCESS, [*failures, login(30, user="deploy")])
    assert dict(signal.labels) == {
        "user_name": "deploy",
        "host_name": "web01",
        "source_ip": ATTACKER,
    }
    assert signal.values["basis"] == ["source"]
    assert set(signal.technique_ids) == {"T1078", "T1110"}
    assert signal.at == at(30)
    assert "5 failures" in signal.summary_en
    assert signal.title_vi.startswith("Đăng nhập thành công sau nhiều lần thất bại")


def test_success_after_distributed_failures_for_one_account() -> None:
    failures = [fail(s, ip=f"198.51.100.{s}", user="admin") for s in range(6)]
    (signal,) = run(SUCCESS, failures, [login(40, ip="192.0.2.10", user="admin")])
    assert signal.values["basis"] == ["user"]


def test_success_counted_once_when_both_runs_qualify() -> None:
    failures = [fail(s, user="admin") for s in range(5)]
    (signal,) = run(SUCCESS, [*failures, login(30, user="admin")])
    assert signal.values["basis"] == ["source", "user"]


def test_success_needs_enough_recent_failures() -> None:
    assert run(SUCCESS, [fail(s) for s in range(4)] + [login(10)]) == []
    old = [fail(s) for s in range(5)]
    assert run(SUCCESS, [*old, login(700)]) == []  # the failures left the 600 s window
    background = [fail(s, ip=f"198.51.100.{s}", user=f"u{s}") for s in range(30)]
    assert run(SUCCESS, [*background, login(40, ip="192.0.2.10", user="ops")]) == []


def test_success_ends_the_run() -> None:
    store: dict[str, Any] = {}
    assert len(run(SUCCESS, [fail(s) for s in range(5)], [login(10)], store=store)) == 1
    assert run(SUCCESS, [login(20)], [fail(21), login(22)], store=store) == []


def test_logoff_is_not_a_login() -> None:
    failures = [fail(s, user="admin") for s in range(6)]
    logoff = event(
        30,
        "system.security",
        category=("authentication",),
        action="logged-out",
        outcome="success",
        source_ip=ATTACKER,
        user_name="admin",
        host_name="web01",
    )
    assert run(SUCCESS, [*failures, logoff]) == []


def test_success_after_failures_on_decoded_sshd_lines() -> None:
    lines = [
        f"<38>Nov 24 08:00:0{n} web01 sshd[9]: Failed password for deploy from {ATTACKER} "
        f"port 4100{n} ssh2"
        for n in range(5)
    ]
    lines.append(
        f"<38>Nov 24 08:00:09 web01 sshd[9]: Accepted password for deploy from {ATTACKER} "
        "port 41009 ssh2"
    )
    (signal,) = run(SUCCESS, [syslog(line) for line in lines])
    assert signal.values["basis"] == ["source", "user"]
    assert signal.labels["user_name"] == "deploy"


def test_logins_alone_leave_no_state() -> None:
    store: dict[str, Any] = {}
    assert run(SUCCESS, [login(s, user=f"u{s}") for s in range(20)], store=store) == []
    assert store == {}


# ---- port scans ------------------------------------------------------------------------

SCAN = SHIPPED["sec.portscan"]


def test_vertical_scan_fires_at_distinct_ports() -> None:
    assert run(SCAN, [flow(s, ATTACKER, "10.20.0.5", 1000 + s) for s in range(19)]) == []
    events = [flow(s, ATTACKER, "10.20.0.5", 1000 + s) for s in range(40)]
    (signal,) = run(SCAN, events)
    assert signal.at == at(19)
    assert signal.values["kind"] == "vertical"
    assert signal.values["target"] == "10.20.0.5"
    assert signal.technique_ids == ("T1046",)
    assert "20 distinct ports on 10.20.0.5" in signal.summary_en


def test_horizontal_sweep_fires_at_distinct_hosts() -> None:
    events = [flow(s, ATTACKER, f"10.20.1.{s}", 445) for s in range(1, 30)]
    (signal,) = run(SCAN, events)
    assert signal.values["kind"] == "horizontal"
    assert signal.at == at(20)


def test_scan_not_for_busy_ordinary_traffic() -> None:
    same_port = [flow(s * 0.5, "10.20.0.9", "10.20.0.5", 443) for s in range(100)]
    many_clients = [flow(s, f"10.30.{s}.1", "10.20.0.5", 1000 + s) for s in range(50)]
    assert run(SCAN, same_port + many_clients) == []


def test_scan_window_expires() -> None:
    slow = [flow(s * 4, ATTACKER, "10.20.0.5", 2000 + s) for s in range(25)]  # 15/60 s
    assert run(SCAN, slow) == []


def test_scan_ignores_listed_sources() -> None:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["detections"][3]["ignore_sources"] = ["203.0.113.0/28"]
    scan = detectors(data)["sec.portscan"]
    assert run(scan, [flow(s, ATTACKER, "10.20.0.5", 1000 + s) for s in range(40)]) == []


def test_scan_counts_firewall_drops_and_cef() -> None:
    kernel = [
        syslog(
            f"<4>Nov 24 08:00:{n:02d} gw01 kernel: [UFW BLOCK] IN=eth0 OUT= MAC= "
            f"SRC={ATTACKER} DST=10.20.0.5 LEN=44 PROTO=TCP SPT=5{n:04d} DPT={8000 + n} SYN"
        )
        for n in range(10)
    ]
    cef = [
        decoded(
            "cef",
            "seclog.cef",
            (
                f"<185>Nov 24 08:00:{20 + n:02d} FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|"
                f"traffic:forward deny|3|src={ATTACKER} spt=51234 dst=10.20.0.5 "
                f"dpt={9000 + n} proto=6 act=deny"
            ).encode(),
        )
        for n in range(10)
    ]
    assert {e.dataset for e in kernel} == {"system.firewall"}
    assert run(SCAN, kernel[:9] + cef[:10]) == []  # 19 ports
    (signal,) = run(SCAN, kernel + cef)
    assert signal.values["kind"] == "vertical"


def test_scan_state_is_bounded() -> None:
    store: dict[str, Any] = {}
    events = [flow(s * 0.01, ATTACKER, f"10.{s // 250}.{s % 250}.1", s % 999) for s in range(3000)]
    run(SCAN, events, store=store)
    (state,) = (json.loads(v) for v in store.values())
    assert len(state["hosts"]) <= 50
    assert len(state["ports"]) <= 8
    assert all(len(ports) <= 50 for ports in state["ports"].values())


# ---- IDS alerts ------------------------------------------------------------------------

IDS = SHIPPED["sec.ids_alert"]


@pytest.mark.parametrize(
    ("level", "severity"),
    [(1, Severity.HIGH), (2, Severity.MEDIUM), (3, Severity.LOW), (4, Severity.LOW)],
)
def test_ids_one_signal_per_signature_and_source(level: int, severity: Severity) -> None:
    (signal,) = run(IDS, [ids_alert(s, level=level) for s in range(100)])
    assert signal.severity == severity
    assert dict(signal.labels) == {"signature_id": "2024897", "source_ip": ATTACKER}
    assert signal.values["alerts"] == 1  # the first alert raises it


def test_ids_separate_signatures_and_sources() -> None:
    events = [ids_alert(0), ids_alert(1, sid=2100498), ids_alert(2, src="198.51.100.9")]
    events += [ids_alert(3), ids_alert(4, sid=2100498)]
    signals = run(IDS, events)
    assert len(signals) == 3
    assert len({s.fingerprint for s in signals}) == 3


def test_ids_refires_after_window_with_count() -> None:
    events = [ids_alert(s * 60) for s in range(15)]  # one a minute for 15 minutes
    signals = run(IDS, events)
    assert seconds_of(signals) == [0, 600]
    assert signals[1].values["alerts"] == 11


def test_ids_carries_event_techniques_only() -> None:
    (with_t,) = run(IDS, [ids_alert(0, techniques=("T1190",))])
    (without,) = run(IDS, [ids_alert(0, src="198.51.100.1")])
    assert (with_t.technique_ids, without.technique_ids) == (("T1190",), ())


def test_ids_on_decoded_suricata_alert_and_not_on_flows() -> None:
    record: dict[str, Any] = {
        "timestamp": "2026-11-24T08:00:00.123456+0700",
        "event_type": "alert",
        "src_ip": ATTACKER,
        "src_port": 49286,
        "dest_ip": "10.10.1.11",
        "dest_port": 80,
        "proto": "TCP",
        "host": "kg-ids01",
        "alert": {
            "action": "allowed",
            "signature_id": 2024897,
            "signature": "ET EXPLOIT Apache Struts RCE",
            "category": "Attempted Administrator Privilege Gain",
            "severity": 1,
            "metadata": {"mitre_technique_id": ["T1190"]},
        },
    }
    alert = decoded("suricata", "seclog.suricata", orjson.dumps(record))
    flow_record = {k: v for k, v in record.items() if k != "alert"} | {"event_type": "flow"}
    flow_event = decoded("suricata", "seclog.suricata", orjson.dumps(flow_record))
    (signal,) = run(IDS, [alert, flow_event])
    assert signal.severity == Severity.HIGH
    assert signal.technique_ids == ("T1190",)
    assert "ET EXPLOIT Apache Struts RCE" in signal.title_en
    assert signal.values["targets"] == ["10.10.1.11"]


# ---- malware ---------------------------------------------------------------------------

MALWARE = SHIPPED["sec.malware"]
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def defender_alert(remediation: str, detection: str = "detected") -> SecurityEvent:
    alert = {
        "id": "da638671234567890123_-1234567890",
        "severity": "medium",
        "detectionSource": "antivirus",
        "title": "'EICAR_Test_File' malware was detected",
        "category": "Malware",
        "threatDisplayName": "Virus:DOS/EICAR_Test_File",
        "threatFamilyName": "EICAR_Test_File",
        "mitreTechniques": ["T1204.002"],
        "createdDateTime": "2026-11-24T01:02:03.1234567Z",
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "deviceDnsName": "kt-pc07.sotttt.local",
            },
            {
                "@odata.type": "#microsoft.graph.security.fileEvidence",
                "verdict": "malicious",
                "remediationStatus": remediation,
                "detectionStatus": detection,
                "fileDetails": {
                    "sha256": EICAR_SHA256,
                    "fileName": "eicar.com",
                    "filePath": "C:\\Users\\tran.thi.b\\Downloads",
                },
            },
        ],
    }
    return decoded("edr", "seclog.edr", orjson.dumps(alert))


def test_malware_quarantined_is_high_with_host_and_hash() -> None:
    (signal,) = run(MALWARE, [defender_alert("remediated")])
    assert signal.severity == Severity.HIGH
    assert dict(signal.labels) == {"host_name": "kt-pc07.sotttt.local", "file_hash": EICAR_SHA256}
    assert signal.technique_ids == ("T1204.002",)
    assert "Virus:DOS/EICAR_Test_File" in signal.title_en
    assert signal.title_vi.startswith("Phát hiện mã độc")


def test_malware_not_stopped_is_critical_and_escalates_in_window() -> None:
    (signal,) = run(MALWARE, [defender_alert("notRemediated")])
    assert signal.severity == Severity.CRITICAL
    store: dict[str, Any] = {}
    signals = run(
        MALWARE, [defender_alert("remediated")], [defender_alert("notRemediated")], store=store
    )
    assert [s.severity for s in signals] == [Severity.HIGH, Severity.CRITICAL]
    assert run(MALWARE, [defender_alert("remediated")], store=store) == []  # no de-escalation


def test_malware_one_signal_per_host_and_file() -> None:
    events = [malware(s) for s in range(10)]
    events += [malware(20, host="kt-pc08"), malware(21, sha256="cd" * 32)]
    signals = run(MALWARE, events)
    assert len(signals) == 3
    assert signals[0].values["detections"] == 1


def test_malware_ignores_other_edr_alerts() -> None:
    other = event(0, "m365_defender.alert", category=("intrusion_detection",), host_name="x")
    assert run(MALWARE, [other]) == []


# ---- indicator matches -----------------------------------------------------------------

IOC = SHIPPED["sec.indicator_match"]


def test_indicator_fires_on_first_matching_event() -> None:
    events = [flow(0, "10.20.0.9", "198.51.100.66", 443)]
    events += [flow(s, "10.20.0.10", "198.51.100.66", 443) for s in range(1, 20)]
    (signal,) = run(IOC, events)
    assert signal.at == at(0)
    assert dict(signal.labels) == {"indicator_type": "ip", "indicator": "198.51.100.66"}
    assert signal.values["listed_as"] == "198.51.100.0/24"
    assert signal.values["field"] == "destination.ip"
    assert signal.values["hosts"] == ["10.20.0.9"]


def test_indicator_domain_and_subdomain_in_dns() -> None:
    query = event(
        0,
        "suricata.eve",
        category=("network",),
        source_ip="10.20.0.9",
        destination_ip="10.20.0.53",
        ecs={"dns": {"question": {"name": "CDN.Malware-C2.example."}}},
    )
    (signal,) = run(IOC, [query])
    assert signal.labels == {"indicator_type": "domain", "indicator": "cdn.malware-c2.example"}
    assert signal.values["listed_as"] == "malware-c2.example"


def test_indicator_not_for_clean_traffic() -> None:
    clean = [flow(s, f"10.20.0.{s}", "192.0.2.1", 443) for s in range(50)]
    assert run(IOC, clean) == []


def test_indicator_repeats_quiet_then_once_more_after_window() -> None:
    events = [flow(s * 120, "10.20.0.9", "198.51.100.66", 443) for s in range(40)]
    signals = run(IOC, events)
    assert seconds_of(signals) == [0, 3600]
    assert signals[1].values["events"] == 31


# ---- properties shared by every detector -----------------------------------------------

ADDRESSES = ["203.0.113.7", "198.51.100.66", "10.20.0.9"]
TARGETS = ["10.20.0.5", "10.20.0.6", "10.20.0.7", "10.20.0.8"]


KINDS = ["fail", "login", "flow", "ids", "malware"]
# What each detector reads most: its traffic is weighted towards it (other kinds stay in
# the mix, to be ignored), so its condition holds often and across batch boundaries.
FOCUS = {
    "sec.bruteforce": "fail",
    "sec.password_spray": "fail",
    "sec.success_after_failures": "fail",
    "sec.portscan": "flow",
    "sec.ids_alert": "ids",
    "sec.malware": "malware",
    "sec.indicator_match": "flow",
}


@st.composite
def traffic(draw: st.DrawFn, focus: str | None = None) -> list[SecurityEvent]:
    """A mix of every kind of event the detectors read, on few entities so thresholds
    are crossed; times in whole seconds so ties happen."""
    kinds = KINDS + [focus] * 4 if focus else KINDS
    count = draw(st.integers(min_value=0, max_value=60))
    events = []
    for index in range(count):
        seconds = draw(st.integers(min_value=0, max_value=240))
        src = draw(st.sampled_from(ADDRESSES))
        user = draw(st.sampled_from(["root", "admin", "deploy", "ops"]))
        kind = draw(st.sampled_from(kinds))
        if kind == "fail":
            item = fail(seconds, ip=src, user=user)
        elif kind == "login":
            item = login(seconds, ip=src, user=user)
        elif kind == "flow":
            dst = draw(st.sampled_from(TARGETS))
            item = flow(seconds, src, dst, draw(st.sampled_from([22, 80, 443, 445, 3389])))
        elif kind == "ids":
            item = ids_alert(seconds, src=src, sid=draw(st.sampled_from([1, 2])))
        else:
            item = malware(seconds, host=draw(st.sampled_from(["pc1", "pc2"])))
        events.append(item.model_copy(update={"event_id": f"g{index:04d}"}))
    return sorted(events, key=lambda e: (e.time, e.event_id))


def _signature(signals: Sequence[Signal]) -> list[tuple[Any, ...]]:
    return sorted(
        (s.at, s.rule, s.fingerprint, s.severity, s.summary_en, s.event_ids, repr(s.values))
        for s in signals
    )


@pytest.mark.parametrize("name", sorted(SMALL))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=5))
def test_split_batches_with_json_state_match_one_batch(
    name: str, data: st.DataObject, cuts: list[int]
) -> None:
    events = data.draw(traffic(FOCUS[name]), label="events")
    detector = SMALL[name]
    whole_store: dict[str, Any] = {}
    whole = run(detector, events, store=whole_store)
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    batches = [events[a:b] for a, b in itertools.pairwise(bounds)]
    split_store: dict[str, Any] = {}
    split = run(detector, *batches, store=split_store)
    assert _signature(split) == _signature(whole)
    assert split_store == whole_store


@pytest.mark.parametrize("name", sorted(SMALL))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(min_value=0, max_value=2**16))
def test_batch_order_does_not_matter(name: str, data: st.DataObject, seed: int) -> None:
    events = data.draw(traffic(FOCUS[name]), label="events")
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    assert _signature(run(SMALL[name], shuffled)) == _signature(run(SMALL[name], events))


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # find() shows its example
def test_generated_traffic_does_raise_signals(name: str) -> None:
    # Keeps the properties above honest: the traffic they draw makes each detector fire,
    # and fire more than once for one entity (the quiet period crosses batches).
    found = find(
        traffic(FOCUS[name]),
        lambda events: _repeats(run(SMALL[name], events)),
        settings=settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate]),
    )
    assert _repeats(run(SMALL[name], found))


def _repeats(signals: Sequence[Signal]) -> bool:
    fingerprints = [s.fingerprint for s in signals]
    return len(set(fingerprints)) < len(fingerprints)
