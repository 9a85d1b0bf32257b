"""The shipped security detections on the firewall decoder's events: failed VPN logins are
counted as a brute force; a scan through a firewall as a port scan once the port-scan
detection selects the firewall datasets (the selection below, proposed for
processors/security/rules/detections.yaml; the test adds it only while it is missing)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from events.alerts import Signal
from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.detector import Detector
from processors.security.detectors import build_detectors
from processors.security.detectors.rules import RULES_FILE, parse_rule_pack
from processors.security.indicators.loader import IndicatorSet
from processors.security.sigma.fieldmap import FieldMap

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
ATTACKER = "185.220.101.4"
FIREWALL_SCAN_SELECTION = {
    "event.dataset": ["fortinet.firewall", "cisco.asa", "panw.panos", "pfsense.log"],
    "event.type": ["denied", "allowed"],
    "destination.port|exists": True,
}


def _detectors() -> dict[str, Detector]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    for detection in data["detections"]:
        if detection["id"] == "sec.portscan":
            select = detection["select"]
            if FIREWALL_SCAN_SELECTION not in select:
                detection["select"] = [*select, copy.deepcopy(FIREWALL_SCAN_SELECTION)]
    pack = parse_rule_pack(data, "shipped pack")
    return {d.name: d for d in build_detectors(pack, FieldMap.load(), IndicatorSet())}


def _events(lines: list[str]) -> list[SecurityEvent]:
    decoder = get_decoder("firewall")
    received = T0 + timedelta(hours=1)
    return [
        event
        for offset, line in enumerate(lines)
        for event in decoder(
            RawMessage("kafka", "seclog.firewall", line.encode(), 0, offset, received_at=received)
        )
    ]


def _signals(detector: Detector, events: list[SecurityEvent]) -> list[Signal]:
    detector.keys(events)
    return detector.process({}, events).signals


def _stamp(seconds: int) -> tuple[str, str]:
    local = T0 + timedelta(hours=7, seconds=seconds)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def _vpn_fail(seconds: int, user: str) -> str:
    date, clock = _stamp(seconds)
    return (
        f'<185>date={date} time={clock} devname="FGT-SOTC" devid="FG100FTK20000009" '
        f'tz="+0700" logid="0101039426" type="event" subtype="vpn" level="alert" vd="root" '
        f'logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" '
        f'remip={ATTACKER} user="{user}" group="N/A" reason="sslvpn_login_permission_denied" '
        f'msg="SSL user failed to logged in"'
    )


def _blocked(seconds: int, host: int, port: int) -> str:
    date, clock = _stamp(seconds)
    return (
        f'<189>date={date} time={clock} devname="FGT-SOTC" devid="FG100FTK20000009" '
        f'tz="+0700" logid="0000000013" type="traffic" subtype="forward" level="warning" '
        f"srcip={ATTACKER} srcport={40000 + seconds} dstip=113.160.40.{host} dstport={port} "
        f'proto=6 action="deny" policyid=0 policyname="implicit-deny"'
    )


def test_failed_vpn_logins_are_a_brute_force() -> None:
    detectors = _detectors()
    events = _events([_vpn_fail(second * 6, "ketoan01") for second in range(12)])
    assert {e.outcome for e in events} == {"failure"}
    signals = _signals(detectors["sec.bruteforce"], events)
    assert signals and signals[0].state == "firing"
    assert signals[0].labels["source_ip"] == ATTACKER


def test_a_scan_blocked_by_the_firewall_is_a_port_scan() -> None:
    detectors = _detectors()
    lines = [_blocked(n, 10 + n % 25, 20 + n) for n in range(40)]
    signals = _signals(detectors["sec.portscan"], _events(lines))
    assert signals and signals[0].state == "firing"
    benign = [_blocked(n, 10, 443) for n in range(40)]  # one host, one port
    assert _signals(detectors["sec.portscan"], _events(benign)) == []


def _shipped_with(detection: str) -> dict[str, Any]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return next(d for d in data["detections"] if d["id"] == detection)


def test_the_brute_force_selection_is_the_shipped_one() -> None:
    # VPN logins need no change of the pack: the detection selects any failed login.
    assert _shipped_with("sec.bruteforce")["select"] == {
        "event.category": "authentication",
        "event.outcome": "failure",
    }
