"""FortiGate (FortiOS) syslog: `key=value` pairs, a value quoted when it may hold spaces.

    <189>date=2026-12-01 time=09:15:02 devname="FGT-HQ" devid="FG100FTK20000001"
    eventtime=1764555302123456789 tz="+0700" logid="0000000013" type="traffic"
    subtype="forward" level="notice" vd="root" srcip=10.10.1.20 srcport=51234 …
    action="accept" policyid=12 policyname="LAN-to-WAN" … sentbyte=1200 rcvdbyte=5300

FortiOS writes no syslog header in its default format (only <PRI>), an RFC 3164 or
5424 header with `set format rfc5424`, and the same pairs through FortiAnalyzer. Every
pair is kept under `fortinet.firewall.*` (as Elastic's Fortinet module does), so Sigma
rules written with FortiGate's own names (action, cfgpath) read them; the usual ones also
go to their ECS names. Parsed by hand: one left-to-right pass; a value ends at the next
space, or at its closing quote (FortiOS escapes a quote inside with a backslash).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest.formats.base import DecodeError
from ingest.formats.common import MAX_STRING, digits, int_or_none
from ingest.formats.firewall import event as fw
from ingest.message import RawMessage

MODULE = "fortinet"
DATASET = "fortinet.firewall"
_MAX_PAIRS = 256  # a traffic record has ~60; past this the rest stays only in raw
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# type / subtype -> ECS event.category of a UTM record (a traffic record is a connection).
_UTM_CATEGORIES = {
    "ips": "intrusion_detection",
    "anomaly": "intrusion_detection",
    "virus": "malware",
    "webfilter": "web",
    "dns": "network",
    "app-ctrl": "network",
    "ssl": "network",
    "waf": "web",
}


def looks_like(body: str) -> bool:
    return "logid=" in body and ("devid=" in body or "type=" in body)


def parse_pairs(body: str) -> tuple[dict[str, str], list[str]]:
    """key=value pairs (first occurrence wins) and problems found on the way."""
    pairs: dict[str, str] = {}
    problems: list[str] = []
    pos, size, count = 0, len(body), 0
    while pos < size and count < _MAX_PAIRS:
        while pos < size and body[pos] == " ":
            pos += 1
        equals = body.find("=", pos, pos + 65)
        key = body[pos:equals] if equals > pos else ""
        if not key or not all(c in _KEY_CHARS for c in key):
            space = body.find(" ", pos)
            if pos < size:
                problems.append(f"text that is not key=value at character {pos}")
            pos = size if space < 0 else space + 1
            continue
        value, pos = _value(body, equals + 1)
        pairs.setdefault(key, value)
        count += 1
    if pos < size and count >= _MAX_PAIRS:
        problems.append(f"more than {_MAX_PAIRS} pairs; the rest is in raw")
    return pairs, problems


def _value(body: str, pos: int) -> tuple[str, int]:
    if body.startswith('"', pos):
        end = pos + 1
        while True:
            end = body.find('"', end)
            if end < 0:  # unclosed: the rest of the line is the value
                return body[pos + 1 :], len(body)
            backslashes = 0
            while end - 1 - backslashes > pos and body[end - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                return body[pos + 1 : end].replace('\\"', '"'), end + 1
            end += 1
    space = body.find(" ", pos)
    return (body[pos:], len(body)) if space < 0 else (body[pos:space], space + 1)


def decode(msg: RawMessage, framed: fw.Framed, zone: ZoneInfo) -> list[Any]:
    pairs, problems = parse_pairs(framed.body[: fw.MAX_BODY_CHARS])
    if "logid" not in pairs or "type" not in pairs:
        raise DecodeError("FortiGate record has no logid= or type=")
    doc = to_ecs(pairs)
    fw.header_ecs(doc, framed.header)
    time = _time(pairs, framed, msg.received_at, zone, problems)
    if problems:
        doc["error"] = {"message": "; ".join(problems)}
    return fw.build(msg, doc, time)


def to_ecs(pairs: dict[str, str]) -> dict[str, Any]:
    """The ECS document of FortiGate pairs (also used for FortiGate CEF's FTNTFGT keys)."""
    get = pairs.get
    doc = fw.base_doc(MODULE, DATASET)
    event = doc["event"]
    kind, subtype = get("type", ""), get("subtype", "")
    event["code"] = fw.cut(get("logid"))
    event["action"] = fw.cut(get("action"))
    if get("level"):
        doc["log"] = {"level": fw.cut(get("level"))}
    _connection_ecs(doc, pairs)
    if kind == "traffic":
        fw.connection(doc, get("action"))
    elif kind == "utm":
        fw.connection(doc, get("action"))
        event["category"] = [_UTM_CATEGORIES.get(subtype, "network")]
    elif kind == "event":
        _event_ecs(doc, pairs)
    host = get("devname")
    doc["observer"] = fw.observer(
        "Fortinet",
        "FortiGate",
        hostname=fw.cut(host),
        name=fw.cut(host),
        serial_number=fw.cut(get("devid")),
        ingress=_interface(get("srcintf")),
        egress=_interface(get("dstintf")),
    )
    if host:
        doc["host"] = {"name": fw.cut(host)}
    rule = {"id": fw.cut(get("policyid")), "name": fw.cut(get("policyname") or get("attack"))}
    rule = {key: value for key, value in rule.items() if value}
    if rule:
        doc["rule"] = rule
    message = get("msg") or get("logdesc")
    if message:
        doc["message"] = message
    doc["fortinet"] = {"firewall": {key: fw.cut(value, MAX_STRING) for key, value in pairs.items()}}
    return {key: value for key, value in doc.items() if value not in (None, {})}


def _connection_ecs(doc: dict[str, Any], pairs: dict[str, str]) -> None:
    get = pairs.get
    user = get("user") or get("srcuser")
    source = fw.endpoint(
        get("srcip"),
        get("srcport"),
        bytes=int_or_none(get("sentbyte")),
        packets=int_or_none(get("sentpkt")),
        mac=fw.cut(get("srcmac")),
        user={"name": fw.cut(user)} if user else None,
        nat=fw.endpoint(get("transip"), get("transport")) or None,
    )
    destination = fw.endpoint(
        get("dstip"),
        get("dstport"),
        bytes=int_or_none(get("rcvdbyte")),
        packets=int_or_none(get("rcvdpkt")),
        domain=fw.cut(get("hostname")),
    )
    fw.place_endpoints(doc, source, destination)
    if user:
        doc["user"] = {"name": fw.cut(user)}
    net = fw.network(
        get("proto"),
        source.get("ip"),
        destination.get("ip"),
        application=fw.cut((get("app") or "").lower()) or None,
        protocol=fw.cut((get("service") or "").lower()) or None,
    )
    if net:
        doc["network"] = net
    if get("url"):
        doc["url"] = {"original": fw.cut(get("url"), MAX_STRING)}
    duration = int_or_none(get("duration"))
    if duration is not None:
        doc["event"]["duration"] = duration * 1_000_000_000


def _event_ecs(doc: dict[str, Any], pairs: dict[str, str]) -> None:
    """System, user and VPN events: a configuration change (cfgpath); a login of an
    administrator, an SSL-VPN or IPsec user or a firewall-authentication user, which the
    brute-force and password-spray detections count like any other login."""
    get = pairs.get
    event = doc["event"]
    action = (get("action") or "").lower()
    if get("cfgpath"):
        event["category"] = ["configuration"]
        event["type"] = [{"add": "creation", "delete": "deletion"}.get(action, "change")]
    elif _is_login(action, (get("logdesc") or "").lower()):
        event["category"] = ["authentication"]
        event["type"] = ["end" if "logout" in action else "start"]
        event["outcome"] = _login_outcome(action, (get("status") or "").lower())
        # SSL-VPN events name the remote peer remip; admin logins srcip.
        if "source" not in doc or "ip" not in doc["source"]:
            remote = fw.endpoint(get("remip"), get("remport"))
            if remote:
                doc["source"] = doc.get("source", {}) | remote
    if get("user") and not doc.get("user"):
        doc["user"] = {"name": fw.cut(get("user"))}


def _is_login(action: str, logdesc: str) -> bool:
    # "login", "logout", "ssl-login-fail", "ssl-login" (FortiOS 7), "authentication";
    # logdesc "Admin login failed", "SSL VPN login fail", "Authentication logon".
    words = ("login", "logon", "logout")
    return action == "authentication" or any(w in action or w in logdesc for w in words)


def _login_outcome(action: str, status: str) -> str:
    if "fail" in action or status in ("failed", "failure", "deny", "denied", "negate"):
        return "failure"
    if status in ("success", "succeeded") or action in ("ssl-login", "tunnel-up"):
        return "success"
    return "unknown"


def _interface(name: str | None) -> dict[str, Any] | None:
    return {"interface": {"name": fw.cut(name)}} if name else None


def _time(
    pairs: dict[str, str],
    framed: fw.Framed,
    received_at: datetime,
    zone: ZoneInfo,
    problems: list[str],
) -> datetime:
    """date + time in tz (FortiOS 6.2+ writes tz="+0700"), else eventtime (seconds,
    micro- or nanoseconds by its length), else the syslog header, else reception."""
    date, clock = pairs.get("date"), pairs.get("time")
    if date and clock:
        try:
            local = datetime.fromisoformat(f"{date}T{clock}")
            offset = pairs.get("tz", "")
            if offset[:1] in "+-" and len(offset) == 5 and digits(offset[1:]):
                return datetime.fromisoformat(f"{date}T{clock}{offset[:3]}:{offset[3:]}")
            return local.replace(tzinfo=zone) if local.tzinfo is None else local
        except ValueError:
            problems.append("date/time is not a valid time")
    stamp = pairs.get("eventtime", "")
    if digits(stamp) and 9 <= len(stamp) <= 19:
        # seconds (≤ 10 digits today), milli-, micro- or nanoseconds
        scale = 10 ** (3 * ((len(stamp) - 8) // 3))
        try:
            return datetime.fromtimestamp(int(stamp) / scale, UTC)
        except (ValueError, OverflowError, OSError):
            problems.append("eventtime is not a valid time")
    if framed.header is not None:
        return framed.header.time
    return received_at
