"""Kernel netfilter LOG lines (ufw, iptables, nftables) inside syslog -> network events."""

from __future__ import annotations

import pytest

from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in as _strings

TOPIC = "seclog.syslog"
UFW_BLOCK = (
    "<4>Nov 24 08:00:00 web01 kernel: [1234567.891011] [UFW BLOCK] IN=eth0 OUT="
    " MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:08:00 SRC=203.0.113.7 DST=10.20.0.5 LEN=60"
    " TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200"
    " RES=0x00 SYN URGP=0"
)


def decode(line: str | bytes) -> SecurityEvent:
    raw = line.encode() if isinstance(line, str) else line
    (event,) = get_decoder("syslog")(RawMessage("kafka", TOPIC, raw, partition=0, offset=9))
    assert isinstance(event, SecurityEvent)
    return event


def kernel(message: str, header: str = "<4>Nov 24 08:00:00 fw01 kernel: ") -> SecurityEvent:
    return decode(header + message)


def test_ufw_block() -> None:
    event = decode(UFW_BLOCK)
    assert (event.dataset, event.category, event.action, event.outcome) == (
        "system.firewall",
        ("network",),
        "ufw-block",
        "failure",
    )
    assert (event.source_ip, event.source_port) == ("203.0.113.7", 51234)
    assert (event.destination_ip, event.destination_port) == ("10.20.0.5", 22)
    assert (event.observer_vendor, event.observer_product) == ("netfilter", "ufw")
    assert (event.host_name, event.process_name, event.severity) == ("web01", "kernel", 4)
    ecs = event.ecs
    assert ecs["event"]["type"] == ["connection", "denied"]
    assert ecs["network"] == {"transport": "tcp", "type": "ipv4"}
    assert ecs["source"]["mac"] == "00-16-3E-DD-EE-FF"
    assert ecs["destination"]["mac"] == "00-16-3E-AA-BB-CC"
    assert ecs["observer"]["ingress"] == {"interface": {"name": "eth0"}}
    assert "egress" not in ecs["observer"]  # OUT= empty: the packet was for this host
    assert ecs["iptables"]["prefix"] == "[UFW BLOCK]"
    assert ecs["iptables"]["fields"]["TTL"] == "52"
    assert ecs["iptables"]["flags"] == ["DF", "SYN"]


@pytest.mark.parametrize(
    ("prefix", "action", "outcome", "kind"),
    [
        ("[UFW ALLOW] ", "ufw-allow", "success", "allowed"),
        ("[UFW LIMIT BLOCK] ", "ufw-limit-block", "failure", "denied"),
        ("[UFW AUDIT] ", "ufw-audit", "unknown", None),
        ("IPTables-Dropped: ", "iptables-dropped", "failure", "denied"),
        ("DROP:", "drop", "failure", "denied"),  # --log-prefix without the space
        ("DROP-IN ", "drop-in", "failure", "denied"),
        ("FW REJECT ", "fw-reject", "failure", "denied"),
        ("ACCEPT-SSH: ", "accept-ssh", "success", "allowed"),
        ("nft-wan-in ", "nft-wan-in", "unknown", None),
        ("", "iptables-log", "unknown", None),
    ],
)
def test_prefix_decides_action_and_outcome(
    prefix: str, action: str, outcome: str, kind: str | None
) -> None:
    event = kernel(
        f"{prefix}IN=ens3 OUT= SRC=198.51.100.9 DST=10.0.0.5 LEN=40 PROTO=UDP SPT=5353 DPT=53"
    )
    assert (event.action, event.outcome) == (action, outcome)
    assert event.ecs["event"]["type"] == ["connection", kind] if kind else ["connection"]
    assert event.observer_product == ("ufw" if prefix.startswith("[UFW") else "iptables")
    assert event.ecs["network"]["transport"] == "udp"


def test_forwarded_packet_has_both_interfaces() -> None:
    event = kernel(
        "FWD-DROP: IN=eth1 OUT=eth0 SRC=10.20.0.44 DST=185.220.101.3 LEN=52 TOS=0x00"
        " PREC=0x00 TTL=63 ID=0 DF PROTO=TCP SPT=40112 DPT=9001 WINDOW=64240 RES=0x00 SYN URGP=0"
    )
    observer = event.ecs["observer"]
    assert observer["ingress"]["interface"]["name"] == "eth1"
    assert observer["egress"]["interface"]["name"] == "eth0"
    assert observer["hostname"] == "fw01"


def test_ipv6_source_is_canonicalised() -> None:
    event = kernel(
        "[UFW BLOCK] IN=eth0 OUT= MAC=33:33:00:00:00:01:00:16:3e:aa:bb:cc:86:dd"
        " SRC=2001:0db8:0000:0000:0000:0000:0000:0007 DST=ff02:0000:0000:0000:0000:0000:0000:0001"
        " LEN=72 TC=0 HOPLIMIT=1 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=5353 LEN=32"
    )
    assert (event.source_ip, event.destination_ip) == ("2001:db8::7", "ff02::1")
    assert event.ecs["network"] == {"transport": "udp", "type": "ipv6"}
    assert event.ecs["iptables"]["fields"]["LEN"] == "72"  # the first LEN: the IP packet's


def test_icmp_error_quotes_another_packet_which_is_ignored() -> None:
    event = kernel(
        "[UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.1 DST=10.0.0.5 LEN=88 PROTO=ICMP TYPE=3 CODE=3"
        " [SRC=10.0.0.5 DST=203.0.113.1 LEN=60 PROTO=UDP SPT=53 DPT=33434 LEN=40 ]"
    )
    assert (event.source_ip, event.destination_ip) == ("203.0.113.1", "10.0.0.5")
    assert (event.source_port, event.destination_port) == (None, None)
    assert event.ecs["network"]["transport"] == "icmp"
    assert event.ecs["iptables"]["fields"]["TYPE"] == "3"


def test_numeric_protocol_and_missing_ports() -> None:
    event = kernel("GRE-LOG IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=100 PROTO=47")
    assert event.ecs["network"]["transport"] == "gre"
    assert (event.source_port, event.destination_port) == (None, None)


def test_rfc5424_kernel_line() -> None:
    event = decode(
        "<4>1 2026-11-24T08:00:00.123+07:00 gw01 kernel - - - [UFW ALLOW] IN=eth0 OUT="
        " SRC=10.20.0.8 DST=10.20.0.1 PROTO=TCP SPT=50000 DPT=443"
    )
    assert (event.action, event.outcome, event.host_name) == ("ufw-allow", "success", "gw01")


@pytest.mark.parametrize(
    "line",
    [
        "<4>Nov 24 08:00:00 fw01 kernel: eth0: link up, 1000Mbps",  # no SRC/DST
        "<4>Nov 24 08:00:00 fw01 sshd[1]: note SRC=1.2.3.4 DST=5.6.7.8 IN=eth0",  # not kernel
        "<4>Nov 24 08:00:00 fw01 kernel: audit: SRC=1.2.3.4 DST=5.6.7.8 OUT=",  # no IN=
        "<4>Nov 24 08:00:00 fw01 kernel: IN=a b OUT= SRC=1.2.3.4 DST=5.6.7.8",  # IN= not next
    ],
)
def test_other_kernel_and_program_lines_are_not_firewall_events(line: str) -> None:
    event = decode(line)
    assert event.dataset != "system.firewall"
    assert event.action is None and "iptables" not in event.ecs


def test_bad_addresses_and_ports_are_left_out() -> None:
    event = kernel("[UFW BLOCK] IN=eth0 OUT= SRC=300.1.1.1 DST=10.0.0.5 PROTO=TCP SPT=99999 DPT=x")
    assert (event.source_ip, event.source_port, event.destination_port) == (None, None, None)
    assert event.destination_ip == "10.0.0.5"
    assert event.ecs["iptables"]["fields"]["SRC"] == "300.1.1.1"


def test_hostile_prefix_and_fields_are_clean() -> None:
    line = (
        b"<4>Nov 24 08:00:00 fw01 kernel: \x1b[31m[UFW BLOCK]\x00 IN=eth\x07 OUT= SRC=1.2.3.4"
        b" DST=10.0.0.5 PROTO=TCP\x9b SPT=1 DPT=2 <script>=x \xff=\xfe"
    )
    event = decode(line)
    assert event.raw == line
    for text in _strings(event.model_dump(exclude={"raw"})):
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text), text
    assert event.action == "31m-ufw-block"
    assert event.ecs["network"]["transport"] == "tcp\ufffd"


def test_long_kernel_line_is_parsed_only_at_its_head() -> None:
    line = UFW_BLOCK + " X=" + "A" * 1_000_000
    event = decode(line)
    assert event.source_ip == "203.0.113.7"
    assert all(len(value) <= 2048 for value in event.ecs["iptables"]["fields"].values())
