"""Firewall lines (FortiGate, Cisco ASA, PAN-OS, pfSense, their CEF forms) -> ECS events,
or a DecodeError with a reason: valid, malformed and hostile samples, then fuzzing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in

TOPIC = "seclog.firewall"
# What clean_text rewrites: C0 controls but TAB, DEL, C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
RECEIVED = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 12:00 in Hanoi

FGT_HEAD = (
    'date=2026-12-01 time=09:15:02 devname="FGT-HQ" devid="FG100FTK20000001" '
    'eventtime=1796091302123456789 tz="+0700" '
)
FGT_TRAFFIC = (
    "<189>" + FGT_HEAD + 'logid="0000000013" type="traffic" subtype="forward" level="notice" '
    'vd="root" srcip=10.10.1.20 srcport=51234 srcintf="port2" dstip=203.0.113.80 dstport=443 '
    'dstintf="wan1" sessionid=123456 proto=6 action="close" policyid=12 '
    'policyname="LAN to WAN" service="HTTPS" transip=198.51.100.10 transport=40123 '
    'duration=5 sentbyte=1200 rcvdbyte=5300 sentpkt=10 rcvdpkt=12 user="nguyen.van.a"'
)
FGT_DENY = (
    "<189>" + FGT_HEAD + 'logid="0000000013" type="traffic" subtype="forward" level="warning" '
    'srcip=185.220.101.4 srcport=40110 dstip=10.20.0.5 dstport=23 proto=6 action="deny" '
    'policyid=0 policyname="implicit-deny" service="TELNET"'
)
FGT_CONFIG = (
    "<189>" + FGT_HEAD + 'logid="0100044547" type="event" subtype="system" level="information" '
    'vd="root" logdesc="Object attribute configured" user="admin" ui="GUI(10.10.0.5)" '
    'action="Add" cfgtid=1234 cfgpath="system.admin" cfgobj="support2" '
    'cfgattr="accprofile[super_admin]" msg="Add system.admin support2"'
)
FGT_IPS = (
    "<185>" + FGT_HEAD + 'logid="0419016384" type="utm" subtype="ips" eventtype="signature" '
    'level="alert" severity="critical" srcip=185.220.101.4 dstip=10.20.0.5 srcport=40400 '
    'dstport=443 proto=6 action="dropped" policyid=3 attack="Apache.Log4j.Error.Log.Remote.'
    'Code.Execution" msg="applications3: Apache.Log4j.Error.Log.Remote.Code.Execution"'
)
ASA_BUILT = (
    "<166>Dec 01 2026 09:15:02 fw-hq : %ASA-6-302013: Built inbound TCP connection 1234 for "
    "outside:203.0.113.5/51234 (203.0.113.5/51234) to dmz:10.20.0.5/443 (198.51.100.10/443)"
)
ASA_OUTBOUND = (
    "<166>Dec  1 09:15:02 fw-hq %ASA-6-302013: Built outbound TCP connection 99 for "
    "outside:203.0.113.80/443 (203.0.113.80/443) to inside:10.10.1.20/51234 "
    "(198.51.100.10/40123)(CORP\\nguyen.van.a)"
)
PAN_TRAFFIC = (
    "<14>Dec  1 09:15:02 PA-HQ 1,2026/12/01 09:15:02,013201001234,TRAFFIC,end,2561,"
    "2026/12/01 09:15:02,10.10.1.20,203.0.113.80,198.51.100.10,203.0.113.80,allow-web,"
    "corp\\nguyen.van.a,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,forward-to-siem,"
    "2026/12/01 09:15:02,123456,1,51234,443,40123,443,0x400053,tcp,allow,5120,1200,3920,20,"
    "2026/12/01 09:14:52,10,computer-and-internet-info,0,7300000001,0x0,"
    "10.0.0.0-10.255.255.255,United States,0,10,10,tcp-fin,0,0,0,0,,PA-HQ,from-policy"
)
PAN_THREAT = (
    "<14>Dec  1 09:16:01 PA-HQ 1,2026/12/01 09:16:01,013201001234,THREAT,vulnerability,2561,"
    "2026/12/01 09:16:01,185.220.101.4,10.20.0.5,0.0.0.0,0.0.0.0,inbound-web,,,web-browsing,"
    "vsys1,untrust,dmz,ethernet1/1,ethernet1/3,forward-to-siem,2026/12/01 09:16:01,4242,1,"
    '40400,443,0,0,0x2000,tcp,reset-both,"portal.example.vn/a,b",'
    '"Apache Log4j Remote Code Execution Vulnerability(91991)",any,critical,client-to-server,'
    "7300001,0x0,Viet Nam,10.0.0.0-10.255.255.255,0,,0,,,0,,,,,,,,0,0,0,0,,PA-HQ"
)
PAN_CONFIG = (
    "<14>Dec  1 09:17:00 PA-HQ 1,2026/12/01 09:17:00,013201001234,CONFIG,0,2561,"
    "2026/12/01 09:17:00,10.10.0.5,vsys1,set,admin,Web,Succeeded,"
    " vsys  vsys1 rulebase security rules allow-any,7300002"
)
PF_BLOCK = (
    "<134>Dec  1 09:15:02 pfsense filterlog[4242]: 5,,,1000000103,igb0,match,block,in,4,0x0,,"
    "64,12345,0,DF,6,tcp,60,203.0.113.5,10.0.0.1,51234,23,0,S,1234567,,64240,,mss"
)
PF_V6 = (
    "<134>1 2026-12-01T09:15:02.123456+07:00 pfsense.local filterlog 4242 - - 80,,,"
    "1700000300,igb1,match,pass,out,6,0x00,0x00000,64,udp,17,48,2001:db8::5,2001:db8:1::53,"
    "53211,53,40"
)
FGT_CEF = (
    "<189>Dec  1 09:15:02 FGT-HQ CEF:0|Fortinet|Fortigate|v7.2.8|44547|event:system Object "
    "attribute configured|3|deviceExternalId=FG100FTK20000001 FTNTFGTlogid=0100044547 "
    "cat=event:system FTNTFGTsubtype=system FTNTFGTvd=root duser=admin act=Add "
    "FTNTFGTcfgpath=firewall.policy FTNTFGTcfgobj=99 msg=Add firewall.policy 99"
)
FGT7_CEF = (
    "<185>Dec  1 09:15:02 FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|traffic:forward deny|3|"
    "deviceExternalId=FG100FTK20000000 FortinetFortiGatelogid=0000000013 cat=traffic:forward"
    " FortinetFortiGatesubtype=forward src=203.0.113.7 spt=51234 deviceInboundInterface=wan1"
    " dst=10.20.0.5 dpt=22 deviceOutboundInterface=internal proto=6 act=deny"
    " FortinetFortiGatepolicyid=12 app=SSH out=0 in=0"
)
PAN_CEF = (
    "CEF:0|Palo Alto Networks|PAN-OS|10.2.4|virus|THREAT|5|rt=Dec 01 2026 01:00:00 GMT"
    " deviceExternalId=012801000000 src=198.51.100.23 dst=10.20.0.15 cs1Label=Rule"
    " cs1=Allow-Web app=web-browsing cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone"
    " cs4=untrust spt=443 dpt=51234 proto=tcp act=reset-both request=eicar.com"
    " cat=Eicar Test File(100000) dvchost=PA-HQ"
)
CHECK_POINT_CEF = (
    "<134>1 2026-12-01T08:00:00+07:00 gw-hn CheckPoint 2511 - - CEF:0|Check Point|"
    "VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop spt=49710 dpt=443"
    " dst=10.20.0.5 proto=6 src=203.0.113.50"
)
VALID = {
    "fgt_traffic": FGT_TRAFFIC,
    "fgt_deny": FGT_DENY,
    "fgt_config": FGT_CONFIG,
    "fgt_ips": FGT_IPS,
    "asa_built": ASA_BUILT,
    "asa_outbound": ASA_OUTBOUND,
    "pan_traffic": PAN_TRAFFIC,
    "pan_threat": PAN_THREAT,
    "pan_config": PAN_CONFIG,
    "pf_block": PF_BLOCK,
    "pf_v6": PF_V6,
    "fgt_cef": FGT_CEF,
    "fgt7_cef": FGT7_CEF,
    "pan_cef": PAN_CEF,
    "checkpoint_cef": CHECK_POINT_CEF,
}


def msg(line: str | bytes, offset: int | None = 7) -> RawMessage:
    raw = line.encode() if isinstance(line, str) else line
    return RawMessage("kafka", TOPIC, raw, partition=0, offset=offset, received_at=RECEIVED)


def decode(line: str | bytes) -> SecurityEvent:
    (event,) = get_decoder("firewall")(msg(line))
    assert isinstance(event, SecurityEvent)
    return event


def reason(line: str | bytes) -> str:
    with pytest.raises(DecodeError) as caught:
        get_decoder("firewall")(msg(line))
    return str(caught.value)


def clean(event: SecurityEvent) -> None:
    """No control character anywhere; the columns agree with the ECS document."""
    for text in strings_in(event.ecs):
        assert not CONTROL.search(text), repr(text)
    source = event.ecs.get("source", {})
    if event.source_ip is None or source.get("ip") is None:
        assert event.source_ip is None and source.get("ip") is None
    else:  # the same address; the column may spell it canonically ("::c633:6417")
        assert ip_address(event.source_ip) == ip_address(source["ip"])
    assert event.destination_port == event.ecs.get("destination", {}).get("port")
    assert event.dataset == event.ecs["event"]["dataset"]
    assert event.raw


# ---- FortiGate ----------------------------------------------------------------------


def test_fortigate_traffic_is_an_allowed_connection() -> None:
    event = decode(FGT_TRAFFIC)
    assert event.dataset == "fortinet.firewall"
    assert event.time == datetime(2026, 12, 1, 2, 15, 2, tzinfo=UTC)  # tz="+0700"
    assert (event.source_ip, event.source_port) == ("10.10.1.20", 51234)
    assert (event.destination_ip, event.destination_port) == ("203.0.113.80", 443)
    assert (event.action, event.outcome, event.category) == ("close", "success", ("network",))
    assert (event.rule_id, event.rule_name) == ("12", "LAN to WAN")
    assert (event.observer_vendor, event.observer_product) == ("Fortinet", "FortiGate")
    assert event.user_name == "nguyen.van.a"
    ecs = event.ecs
    assert ecs["event"]["type"] == ["connection", "allowed"]
    assert ecs["firewall"] == {"blocked": False}
    assert ecs["source"]["nat"] == {"ip": "198.51.100.10", "port": 40123}
    assert (ecs["source"]["bytes"], ecs["destination"]["bytes"]) == (1200, 5300)
    assert ecs["network"]["transport"] == "tcp"
    assert ecs["event"]["duration"] == 5_000_000_000
    assert ecs["observer"]["ingress"]["interface"]["name"] == "port2"
    assert ecs["fortinet"]["firewall"]["policyname"] == "LAN to WAN"
    assert ecs["log"]["syslog"]["priority"] == 189
    clean(event)


def test_fortigate_deny_is_blocked() -> None:
    event = decode(FGT_DENY)
    assert (event.action, event.outcome) == ("deny", "failure")
    assert event.ecs["event"]["type"] == ["connection", "denied"]
    assert event.ecs["firewall"]["blocked"] is True


def test_fortigate_config_change_and_ips() -> None:
    config = decode(FGT_CONFIG)
    assert config.category == ("configuration",)
    assert config.ecs["event"]["type"] == ["creation"]
    assert config.ecs["fortinet"]["firewall"]["cfgpath"] == "system.admin"
    assert (config.action, config.user_name) == ("Add", "admin")
    assert config.message == "Add system.admin support2"
    assert "firewall" not in config.ecs  # no connection verdict on a config event
    ips = decode(FGT_IPS)
    assert ips.category == ("intrusion_detection",)
    assert ips.ecs["event"]["type"] == ["connection", "denied"]
    assert ips.rule_name == "Apache.Log4j.Error.Log.Remote.Code.Execution"


def test_fortigate_quoted_values_and_headers() -> None:
    line = (
        '<189>1 2026-12-01T09:15:02+07:00 FGT-HQ - - - - logid="0100032001" type="event" '
        'subtype="system" action="login" status="failed" user="a \\"quoted\\" name" '
        'msg="Administrator a login failed from ssh(203.0.113.9) because of invalid password"'
    )
    event = decode(line)
    assert event.user_name == 'a "quoted" name'
    assert (event.category, event.outcome) == (("authentication",), "failure")
    # no date/time/eventtime: the RFC 5424 header's time
    assert event.time == datetime(2026, 12, 1, 2, 15, 2, tzinfo=UTC)
    bare = decode('logid="0000000013" type="traffic" eventtime=1796091302 srcip=10.0.0.1')
    assert bare.time == datetime.fromtimestamp(1796091302, UTC)


def test_fortigate_vpn_login_failures_are_failed_logins() -> None:
    line = (
        "<185>" + FGT_HEAD + 'logid="0101039426" type="event" subtype="vpn" level="alert" '
        'vd="root" logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" '
        'tunnelid=0 remip=203.0.113.9 tunnelip=(null) user="ketoan01" group="N/A" '
        'dst_host="N/A" reason="sslvpn_login_unknown_user" msg="SSL user failed to logged in"'
    )
    event = decode(line)
    assert (event.category, event.outcome) == (("authentication",), "failure")
    assert (event.source_ip, event.user_name) == ("203.0.113.9", "ketoan01")
    admin = decode(
        FGT_HEAD + 'logid="0100032001" type="event" subtype="system" logdesc="Admin login '
        'successful" user="admin" ui="https(10.10.0.5)" srcip=10.10.0.5 action="login" '
        'status="success"'
    )
    assert (admin.category, admin.outcome, admin.source_ip) == (
        ("authentication",),
        "success",
        "10.10.0.5",
    )
    routine = decode(FGT_HEAD + 'logid="0100022902" type="event" subtype="system" action="update"')
    assert routine.category == ()


# ---- Cisco ASA ----------------------------------------------------------------------


def test_asa_built_inbound() -> None:
    event = decode(ASA_BUILT)
    assert event.dataset == "cisco.asa"
    assert event.time == datetime(2026, 12, 1, 2, 15, 2, tzinfo=UTC)  # Asia/Ho_Chi_Minh
    assert event.host_name == "fw-hq"
    assert (event.source_ip, event.destination_ip, event.destination_port) == (
        "203.0.113.5",
        "10.20.0.5",
        443,
    )
    assert event.ecs["destination"]["nat"] == {"ip": "198.51.100.10", "port": 443}
    assert event.ecs["event"]["code"] == "302013"
    assert event.ecs["event"]["type"] == ["connection", "start", "allowed"]
    assert event.severity == 6
    clean(event)


def test_asa_built_outbound_swaps_to_the_initiator() -> None:
    event = decode(ASA_OUTBOUND)
    assert (event.source_ip, event.source_port) == ("10.10.1.20", 51234)
    assert event.destination_ip == "203.0.113.80"
    assert event.user_name == "CORP\\nguyen.van.a"
    assert event.ecs["observer"]["ingress"]["interface"]["name"] == "inside"


@pytest.mark.parametrize(
    ("text", "action", "blocked", "source", "destination"),
    [
        (
            "%ASA-4-106023: Deny tcp src outside:185.220.101.4/40222 dst dmz:10.20.0.5/23 by "
            'access-group "outside_access_in" [0x0, 0x0]',
            "deny",
            True,
            ("185.220.101.4", 40222),
            ("10.20.0.5", 23),
        ),
        (
            "%ASA-2-106001: Inbound TCP connection denied from 203.0.113.9/4444 to "
            "10.20.0.5/3389 flags SYN  on interface outside",
            "deny",
            True,
            ("203.0.113.9", 4444),
            ("10.20.0.5", 3389),
        ),
        (
            "%ASA-6-106100: access-list inside_in permitted udp inside/10.10.1.20(53211) -> "
            "outside/8.8.8.8(53) hit-cnt 1 first hit [0x91c26a3, 0x0]",
            "permitted",
            False,
            ("10.10.1.20", 53211),
            ("8.8.8.8", 53),
        ),
        (
            "%ASA-6-302014: Teardown TCP connection 418280 for outside:2001:db8::45/50144 to "
            "dmz:2001:db8:1::5/443 duration 0:00:31 bytes 18234 TCP FINs",
            "teardown",
            False,
            ("2001:db8::45", 50144),
            ("2001:db8:1::5", 443),
        ),
    ],
)
def test_asa_connection_messages(
    text: str,
    action: str,
    blocked: bool,
    source: tuple[str, int],
    destination: tuple[str, int],
) -> None:
    event = decode("<164>Dec  1 09:15:02 fw-hq " + text)
    assert event.action == action
    assert event.ecs["firewall"]["blocked"] is blocked
    assert (event.source_ip, event.source_port) == source
    assert (event.destination_ip, event.destination_port) == destination


def test_asa_commands_logins_and_unknown_ids() -> None:
    command = decode(
        "<165>%ASA-5-111010: User 'netops', running 'CLI' from IP 10.10.0.5, executed "
        "'clear logging buffer'"
    )
    assert (command.action, command.user_name, command.source_ip) == (
        "command-executed",
        "netops",
        "10.10.0.5",
    )
    assert command.ecs["cisco"]["asa"]["command_line"] == "clear logging buffer"
    assert command.time == RECEIVED  # no timestamp in the line
    login = decode(
        "%ASA-6-605004: Login denied from 203.0.113.9/51234 to outside:10.0.0.1/ssh "
        'for user "admin"'
    )
    assert (login.category, login.outcome, login.user_name) == (
        ("authentication",),
        "failure",
        "admin",
    )
    vpn = decode(
        "<163>Dec 01 2026 09:15:02 fw-hq : %ASA-6-716039: Group <DfltGrpPolicy> User "
        "<ketoan01> IP <203.0.113.9> Authentication: rejected, Session Type: WebVPN."
    )
    assert (vpn.category, vpn.outcome, vpn.user_name, vpn.source_ip) == (
        ("authentication",),
        "failure",
        "ketoan01",
        "203.0.113.9",
    )
    ping = decode("%ASA-3-313001: Denied ICMP type=8, code=0 from 203.0.113.5 on interface outside")
    assert (ping.action, ping.source_ip, ping.ecs["network"]["transport"]) == (
        "deny",
        "203.0.113.5",
        "icmp",
    )
    # the interface a denied packet came in on
    assert ping.ecs["observer"]["ingress"]["interface"]["name"] == "outside"
    unknown = decode("<166>Dec 01 2026 09:15:02 fw-hq : %ASA-6-999999: Something new happened")
    assert unknown.ecs["event"]["code"] == "999999"
    assert unknown.category == ()
    assert unknown.message == "Something new happened"
    ftd = decode(
        "%FTD-6-302013: Built inbound TCP connection 1 for a:1.2.3.4/1 (1.2.3.4/1) to "
        "b:5.6.7.8/2 (5.6.7.8/2)"
    )
    assert ftd.observer_product == "FTD"


# ---- PAN-OS -------------------------------------------------------------------------


def test_panos_traffic() -> None:
    event = decode(PAN_TRAFFIC)
    assert event.dataset == "panw.panos"
    assert event.time == datetime(2026, 12, 1, 2, 15, 2, tzinfo=UTC)
    assert (event.action, event.outcome, event.rule_name) == ("allow", "success", "allow-web")
    assert event.user_name == "corp\\nguyen.van.a"
    assert event.host_name == "PA-HQ"
    ecs = event.ecs
    assert ecs["event"]["type"] == ["connection", "end", "allowed"]
    assert ecs["network"]["application"] == "ssl"
    assert ecs["observer"]["ingress"] == {"zone": "trust", "interface": {"name": "ethernet1/2"}}
    assert "geo" not in ecs["source"]  # a private range, not a country
    assert ecs["destination"]["geo"] == {"country_name": "United States"}
    assert ecs["event"]["reason"] == "tcp-fin"
    clean(event)


def test_panos_threat_with_quoted_comma_and_config() -> None:
    event = decode(PAN_THREAT)
    assert event.category == ("intrusion_detection",)
    assert event.rule_name == "Apache Log4j Remote Code Execution Vulnerability(91991)"
    assert event.ecs["event"]["severity"] == 2
    assert event.ecs["panw"]["panos"]["misc"] == "portal.example.vn/a,b"
    assert event.ecs["firewall"]["blocked"] is True
    config = decode(PAN_CONFIG)
    assert (config.category, config.user_name) == (("configuration",), "admin")


def test_panos_globalprotect_login_failure() -> None:
    line = (
        "<14>Dec  1 09:18:00 PA-HQ 1,2026/12/01 09:18:00,013201001234,GLOBALPROTECT,0,2561,"
        "2026/12/01 09:18:00,vsys1,portal-auth,login,LDAP,,ketoan01,VN,,203.0.113.9,,0.0.0.0,"
        ",,,,,,1,,Authentication failed: Invalid username or password,,failure,,0,,0,"
        "GP-Portal,7300003,0x0,2026-12-01T09:18:00.123+07:00,,,,,,0,0,0,0,,PA-HQ,1,"
    )
    event = decode(line)
    assert (event.category, event.outcome, event.action) == (
        ("authentication",),
        "failure",
        "portal-auth",
    )
    assert (event.source_ip, event.user_name, event.host_name) == (
        "203.0.113.9",
        "ketoan01",
        "PA-HQ",
    )
    assert event.message == "Authentication failed: Invalid username or password"


# ---- pfSense ------------------------------------------------------------------------


def test_pfsense_block_and_ipv6_pass() -> None:
    block = decode(PF_BLOCK)
    assert block.dataset == "pfsense.log"
    assert (block.action, block.outcome, block.rule_id) == ("block", "failure", "1000000103")
    assert (block.destination_ip, block.destination_port) == ("10.0.0.1", 23)
    assert block.ecs["network"] == {"transport": "tcp", "type": "ipv4", "direction": "inbound"}
    assert block.ecs["pfsense"]["filterlog"]["tcp_flags"] == "S"
    passed = decode(PF_V6)
    assert (passed.source_ip, passed.destination_port) == ("2001:db8::5", 53)
    assert passed.ecs["network"]["type"] == "ipv6"
    assert passed.ecs["firewall"]["blocked"] is False
    assert passed.host_name == "pfsense.local"
    clean(passed)


# ---- CEF ----------------------------------------------------------------------------


def test_fortigate_cef_reads_like_fortigate_syslog() -> None:
    event = decode(FGT_CEF)
    assert event.dataset == "fortinet.firewall"
    assert event.ecs["fortinet"]["firewall"]["cfgpath"] == "firewall.policy"
    assert event.ecs["fortinet"]["firewall"]["type"] == "event"
    assert (event.action, event.category) == ("Add", ("configuration",))
    assert event.host_name == "FGT-HQ"
    assert "extensions" in event.ecs["cef"]
    seven = decode(FGT7_CEF)
    assert seven.ecs["fortinet"]["firewall"]["policyid"] == "12"
    assert seven.ecs["firewall"]["blocked"] is True


def test_panos_cef_and_other_cef() -> None:
    threat = decode(PAN_CEF)
    assert threat.dataset == "panw.panos"
    assert threat.category == ("malware",)
    assert threat.rule_name == "Eicar Test File(100000)"
    assert threat.ecs["observer"]["ingress"]["zone"] == "untrust"
    other = decode(CHECK_POINT_CEF)
    assert other.dataset == "cef.log"  # not a vendor this module maps: the CEF decoder's event


# ---- malformed and hostile ----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("<14>Dec  1 09:15:02 host sshd[1]: Accepted password for x", "not a firewall line"),
        ("hello world", "not a firewall line"),
        ('logid="1" devid="x"', "no logid= or type="),
        ("<134>Dec  1 09:15:02 pf filterlog[1]: 5,,,1", "of at least 9 columns"),
        ("<134>Dec  1 09:15:02 pf filterlog[1]: 5,,,1,igb0,match,block,in,5,x", "neither 4 nor 6"),
        ("<134>Dec  1 09:15:02 pf filterlog[1]: 5,,,1,igb0,match,,in,4,x", "no action"),
        ("CEF:0|Fortinet|Fortigate", "not a CEF record"),
    ],
)
def test_malformed_lines_are_refused_with_a_reason(line: str, words: str) -> None:
    assert words in reason(line)


def test_hostile_values_never_reach_a_column() -> None:
    event = decode(
        b'<189>date=2026-12-01 time=09:15:02 logid="13" type="traffic" srcip=999.1.1.1 '
        b'srcport=99999 dstip=10.0.0.1x dstport=-1 user="\x00\x1b[31mred\xff" '
        b'policyname="' + b"A" * 5000 + b'" action="accept"'
    )
    assert event.source_ip is None and event.source_port is None
    assert event.destination_ip is None and event.destination_port is None
    assert event.user_name is not None and not CONTROL.search(event.user_name)
    assert event.rule_name is not None and len(event.rule_name) <= 4096
    clean(event)


def test_huge_and_pathological_lines_stay_bounded() -> None:
    many = decode('logid="13" type="traffic" ' + "k=v " * 50_000)
    assert "more than 256 pairs" in many.ecs["error"]["message"]
    quotes = decode('logid="13" type="traffic" msg="' + '\\"' * 40_000)
    assert quotes.ecs["fortinet"]["firewall"]["logid"] == "13"
    asa = decode("%ASA-4-106023: Deny tcp src " + "a:" * 30_000)
    assert asa.category == ()  # the pattern did not match; the event keeps its code
    pan = decode("1,2026/12/01 09:15:02,0,TRAFFIC,end," + "," * 100_000)
    assert pan.dataset == "panw.panos"
    unclosed = decode('1,2026/12/01 09:15:02,0,THREAT,url,"' + "x" * 1000)
    assert unclosed.dataset == "panw.panos"


def test_a_bad_vendor_time_falls_back() -> None:
    event = decode('date=2026-13-45 time=99:00:00 logid="13" type="traffic"')
    assert "date/time" in event.ecs["error"]["message"]
    assert event.time == RECEIVED
    # found by mutation: an eventtime of 18 digits (nanoseconds), an ASA day of many digits
    nanos = decode('logid="13" type="traffic" eventtime=999999999999999999')
    assert nanos.time == datetime.fromtimestamp(999999999.999999999, UTC)
    asa = decode("<166>Dec 99999999999999999999 2026 09:15:02 fw : %ASA-6-999999: x")
    assert asa.time == RECEIVED
    with pytest.raises(DecodeError, match="future"):
        get_decoder("firewall")(msg('date=2099-01-01 time=00:00:00 logid="13" type="traffic"'))


# ---- fuzzing ------------------------------------------------------------------------

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CELL = st.one_of(
    st.text(max_size=24),
    st.sampled_from(["", '"', "\\", "=", ",", " ", "10.0.0.1", "::1", "65536", "-1", "accept"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


def _mutate(line: str, separator: str, data: st.DataObject) -> str:
    cells = line.split(separator)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        index = data.draw(st.integers(min_value=0, max_value=len(cells) - 1))
        cells[index] = data.draw(CELL)
    if data.draw(st.booleans()):
        cells = cells[: data.draw(st.integers(min_value=0, max_value=len(cells)))]
    return separator.join(cells)


def _check(line: str | bytes) -> None:
    try:
        events = get_decoder("firewall")(msg(line))
    except DecodeError as error:
        assert str(error)
        return
    for event in events:
        assert isinstance(event, SecurityEvent)
        clean(event)


@FUZZ
@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_mutated_vendor_lines_give_events_or_reasons(name: str, data: st.DataObject) -> None:
    line = VALID[name]
    separator = " " if name.startswith(("fgt", "asa")) or "cef" in name else ","
    _check(_mutate(line, separator, data))


@FUZZ
@given(
    prefix=st.sampled_from(["", "<189>", "<166>Dec 01 2026 09:15:02 fw : ", "CEF:0|", "1,2,3,"]),
    body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
)
def test_arbitrary_bytes_give_events_or_reasons(prefix: str, body: bytes) -> None:
    _check(prefix.encode() + body)


def test_valid_samples_all_decode() -> None:
    datasets: dict[str, Any] = {name: decode(line).dataset for name, line in VALID.items()}
    assert set(datasets.values()) == {
        "fortinet.firewall",
        "cisco.asa",
        "panw.panos",
        "pfsense.log",
        "cef.log",
    }
