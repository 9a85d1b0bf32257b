"""Seeded fuzz payloads for every routed format: valid samples and mutations of them.

Each payload carries the outcome the worker must give it, where that is known:
`row` (a valid sample: stored), `dead` (cannot be valid: a dead letter, with a word its
reason must hold) or `either` (a mutation whose fate the decoder decides; the worker
must still give exactly one of the two). Same seed, same payloads; only the event times
move with the clock, because the worker refuses readings more than a day ahead.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from config.timezone import LOCAL_TZ

# Formats as deploy/ingest/routes.yaml maps them, with the transport that carries each.
MQTT_FORMATS = ("ioc_telemetry", "frigate")
KAFKA_FORMATS = ("syslog", "suricata", "cef", "winlog", "edr")
JSON_FORMATS = frozenset({"ioc_telemetry", "frigate", "suricata", "winlog", "edr"})
TRANSPORT = {f: "mqtt" for f in MQTT_FORMATS} | {f: "kafka" for f in KAFKA_FORMATS}
# Over routes.yaml limits.max_message_bytes (262,144), under mosquitto's 1 MiB limit.
OVERSIZE_BYTES = 300_000


@dataclass(frozen=True, slots=True)
class Payload:
    seq: int
    format: str
    payload: bytes
    expect: str  # row | dead | either
    kind: str  # "valid" or the mutation's name
    reason_word: str | None = None  # a word the dead letter's reason must contain

    @property
    def transport(self) -> str:
        return TRANSPORT[self.format]


# ---- valid samples ------------------------------------------------------------------


class Samples:
    """Valid documents of each format, unique per call (ids, times, addresses), so that
    every valid payload is one new row and re-delivery never hides a lost one."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now

    def when(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(120, 2 * 86400))

    def ip(self) -> str:
        r = self.rng
        if r.random() < 0.2:
            return f"2001:db8::{r.randrange(1, 0xFFFF):x}"
        net = r.choice((203, 198, 10))
        return f"{net}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def word(self, n: int = 6) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

    def telemetry(self, seq: int) -> Any:
        r, t = self.rng, self.when()
        shape = r.randrange(3)
        if shape == 0:
            doc: dict[str, Any] = {"ts": t.astimezone(LOCAL_TZ).isoformat()}
            for metric in r.sample(["pm25", "pm10", "temp", "humidity", "co2", "no2"], 3):
                doc[metric] = round(r.uniform(1, 90), 2)
            return doc
        if shape == 1:
            return [
                {"ts": t.timestamp() + i * 60, "water_level": round(r.uniform(0.2, 3), 3),
                 "salinity": round(r.uniform(0, 30), 2)}
                for i in range(r.randrange(1, 4))
            ]  # fmt: skip
        pack: list[dict[str, Any]] = [
            {"bn": f"urn:dev:ioc:fz{seq}:", "bt": t.timestamp(), "n": "pm25", "u": "ug/m3",
             "v": round(r.uniform(1, 200), 1)},
            {"n": "temp", "u": "Cel", "v": round(r.uniform(15, 40), 1)},
            {"n": "waterLevel", "u": "cm", "v": r.randrange(10, 400), "t": 5},
        ]  # fmt: skip
        return pack[: r.randrange(1, 4)]

    def frigate(self, seq: int) -> Any:
        r, start = self.rng, self.when().timestamp()
        kind = r.choice(("new", "update", "end"))
        after = {
            "id": f"{start:.6f}-fz{seq}-{self.word()}", "camera": r.choice(("cong", "cho")),
            "label": r.choice(("person", "car", "motorcycle")), "score": round(r.random(), 3),
            "top_score": 0.9, "start_time": start,
            "end_time": start + 9 if kind == "end" else None, "box": [1, 2, 3, 4],
            "current_zones": ["a"], "entered_zones": ["a", "b"], "has_snapshot": True,
            "false_positive": False, "stationary": False, "sub_label": None,
        }  # fmt: skip
        return {"type": kind, "before": {}, "after": after}

    def suricata(self, seq: int) -> Any:
        r = self.rng
        eve = {
            "timestamp": self.when().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
            "src_ip": self.ip(), "src_port": r.randrange(1024, 65535), "dest_ip": self.ip(),
            "dest_port": r.choice((22, 80, 443, 3389)), "proto": "TCP", "host": "ids",
            "flow_id": seq,
        }  # fmt: skip
        extra = r.choice([
            {"event_type": "alert", "alert": {"action": "allowed", "signature_id": 2000 + seq,
             "signature": f"ET FUZZ {seq}", "severity": r.randrange(1, 4),
             "metadata": {"mitre_technique_id": ["T1190"]}}},
            {"event_type": "flow", "flow": {"bytes_toserver": r.randrange(10**6),
             "pkts_toclient": r.randrange(100)}},
            {"event_type": "dns", "dns": {"type": "answer", "rrname": f"{self.word()}.vn",
             "answers": [{"rdata": "1.2.3.4"}], "queries": [{"rrname": "b.vn"}]}},
            {"event_type": "http", "http": {"hostname": "h", "url": f"/{self.word()}",
             "status": 200}},
            {"event_type": "tls", "tls": {"version": "TLSv1.2", "ja3": {"hash": self.word(32)}}},
        ])  # fmt: skip
        return eve | extra

    def winlog(self, seq: int) -> Any:
        r, t = self.rng, self.when()
        if r.random() < 0.5:
            stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            return {
                "@timestamp": stamp, "message": "An account failed to log on.",
                "winlog": {"event_id": r.choice(("4625", "4624")), "channel": "Security",
                           "computer_name": "DC01", "keywords": ["Audit Failure"],
                           "record_id": seq,
                           "event_data": {"TargetUserName": self.word(), "TargetDomainName": "D",
                                          "Status": "0xc000006d", "SubStatus": "0xc000006a",
                                          "LogonType": "3", "IpAddress": self.ip(),
                                          "IpPort": str(r.randrange(1024, 65535)),
                                          "WorkstationName": "KALI"}},
            }  # fmt: skip
        return {
            "EventTime": t.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"), "Hostname": "DC02",
            "EventType": "AUDIT_SUCCESS", "EventID": r.choice((4740, 4688)),
            "Channel": "Security", "TargetUserName": self.word(), "TargetDomainName": "WS",
            "NewProcessName": "C:\\a\\b.exe", "CommandLine": f"b.exe -{self.word()}",
        }  # fmt: skip

    def edr(self, seq: int) -> Any:
        t = self.when()
        evidence = {
            "@odata.type": "#microsoft.graph.security.fileEvidence", "verdict": "malicious",
            "remediationStatus": "remediated", "detectionStatus": "detected",
            "fileDetails": {"fileName": f"{self.word()}.exe", "filePath": "C:\\Users",
                            "sha256": self.word(64)},
        }  # fmt: skip
        return {
            "id": f"da{seq}_{self.word()}", "title": "'EICAR' malware was detected",
            "severity": self.rng.choice(("low", "medium", "high")), "category": "Malware",
            "detectionSource": "antivirus", "threatFamilyName": "EICAR",
            "mitreTechniques": ["T1204.002"],
            "createdDateTime": t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
            "evidence": [evidence, {"@odata.type": "#microsoft.graph.security.deviceEvidence",
                                    "deviceDnsName": "pc07",
                                    "loggedOnUsers": [{"accountName": self.word()}]}],
        }  # fmt: skip

    def syslog(self, seq: int) -> str:
        r, t = self.rng, self.when().astimezone(LOCAL_TZ)
        bsd = f"{t:%b} {t.day:2d} {t:%H:%M:%S}"
        ip, port, user = self.ip(), r.randrange(1024, 65535), self.word()
        return r.choice([
            f"<38>{bsd} web{seq % 9} sshd[{seq}]: Failed password for invalid user {user} from"
            f" {ip} port {port} ssh2",
            f"<86>{bsd} h sshd[{seq}]: Accepted publickey for {user} from {ip} port {port} ssh2",
            f"<165>1 {t.isoformat()} fw1 sshd {seq} ID47 [ex@1 a=\"3\"] Invalid user {user}"
            f" from {ip} port {port}",
            f"<85>{bsd} h sudo: {user} : 3 incorrect password attempts ; TTY=pts/0 ;"
            f" USER=root ; COMMAND=/bin/ls {seq}",
            f"<4>{bsd} fw kernel: [{seq}.4] [UFW BLOCK] IN=eth0 OUT= SRC={ip} DST=10.0.0.5"
            f" LEN=60 PROTO=TCP SPT={port} DPT=22 SYN",
        ])  # fmt: skip

    def cef(self, seq: int) -> str:
        r, t = self.rng, self.when()
        ip, user = self.ip(), self.word()
        return r.choice([
            f"<185>{t.astimezone(LOCAL_TZ):%b %d %H:%M:%S} FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|"
            f"{seq}|forward deny|3|src={ip} spt={r.randrange(1024, 65535)} dst=10.20.0.5"
            f" dpt=22 proto=6 act=deny suser={user}",
            f"CEF:0|Palo Alto Networks|PAN-OS|10.2.4|virus|THREAT|High|"
            f"rt={int(t.timestamp() * 1000)} src={ip} cs1Label=Rule cs1=r{seq}"
            f" msg=a\\=b outcome=/Failure",
        ])  # fmt: skip


def render(fmt: str, doc: Any) -> bytes:
    return doc.encode() if isinstance(doc, str) else orjson.dumps(doc)


# ---- mutations ----------------------------------------------------------------------
# Each takes (rng, format, document, its bytes) and returns (bytes, expect, reason word).

Outcome = tuple[bytes, str, str | None]  # payload, expect, reason word
Mutation = Callable[[random.Random, str, Any, bytes], Outcome]
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 5e-324, "", "NaN",
    "Infinity", "-inf", "1e999", "0x1f", "²", "٣", "\x00", "a\x00b", "\u202e", "\ufeff",
    "\x1b[31m", "x" * 5000, [], {}, [1, [2, [3]]], {"a": {"b": None}}, "2026-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z",
    "203.0.113.999", "fe80::1%eth0", "::ffff:1.2.3.4",
]  # fmt: skip


def _dumps(doc: Any) -> bytes:
    # json, not orjson: orjson refuses integers past 64 bits, which are the point here.
    return json.dumps(doc, ensure_ascii=False).encode()


def _containers(doc: Any) -> list[Any]:
    found = [doc]
    for node in found:
        children = node.values() if isinstance(node, dict) else node
        found.extend(c for c in children if isinstance(c, dict | list) and c)
    return found


def _set_somewhere(rng: random.Random, doc: Any, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = rng.choice(_containers(doc))
    if isinstance(node, dict):
        node[rng.choice(list(node))] = value
    else:
        node[rng.randrange(len(node))] = value
    return doc


def wrong_type(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if not isinstance(doc, dict | list) or not doc:
        return flip_bytes(rng, fmt, doc, raw)
    odd = copy.deepcopy(rng.choice(ODD_VALUES))
    return _dumps(_set_somewhere(rng, doc, odd)), "either", None


def drop_key(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if not isinstance(doc, dict | list) or not any(isinstance(n, dict) for n in _containers(doc)):
        return truncate(rng, fmt, doc, raw)
    doc = copy.deepcopy(doc)
    node = rng.choice([n for n in _containers(doc) if isinstance(n, dict)])
    node.pop(rng.choice(list(node)), None)
    return _dumps(doc), "either", None


def flip_bytes(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 6)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data), "either", None


def truncate(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    cut = raw[: rng.randrange(1, len(raw))]
    # A proper prefix of a JSON object or array is never a JSON document.
    if fmt in JSON_FORMATS:
        return cut, "dead", "json"
    return cut, "either", None


def huge_number(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if fmt not in JSON_FORMATS:
        piece = rng.choice([b"99999999999999999999999", b"1e400", b"-0"])
        return splice(rng, raw, piece), "either", None
    text = rng.choice(["1e400", "-1e999", "123456789e999"])
    # Past a double's range: orjson refuses the document.
    return _json_with_token(rng, doc, text), "dead", "json"


def nan_token(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if fmt not in JSON_FORMATS:
        return splice(rng, raw, rng.choice([b"NaN", b"Infinity", b"-Infinity"])), "either", None
    return _json_with_token(rng, doc, rng.choice(["NaN", "Infinity", "-Infinity"])), "dead", "json"


def _json_with_token(rng: random.Random, doc: Any, token: str) -> bytes:
    marker = "\u0001fuzz-token\u0001"
    text = json.dumps(_set_somewhere(rng, doc, marker))
    return text.replace(json.dumps(marker), token).encode()


def nul_byte(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if fmt in JSON_FORMATS and rng.random() < 0.5:
        # Escaped, the NUL is valid JSON and reaches the decoder as a character.
        return _dumps(_set_somewhere(rng, doc, f"a\x00{rng.random()}")), "either", None
    return splice(rng, raw, b"\x00" * rng.randrange(1, 4)), "either", None


def lone_surrogate(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    if fmt in JSON_FORMATS:
        if rng.random() < 0.5:
            # json.dumps escapes it as \udXXX; orjson refuses a lone surrogate escape.
            return json.dumps(_set_somewhere(rng, doc, "x\ud83d")).encode(), "dead", "json"
        i = raw.find(b'"') + 1  # inside the first string: raw surrogate bytes, not UTF-8
        return raw[:i] + b"\xed\xa0\x80" + raw[i:], "dead", "json"
    piece = rng.choice([b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xff\xfe"])
    return splice(rng, raw, piece), "either", None


def deep_nesting(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    depth = rng.choice([50, 500, 2000, 20000])
    marker = "\u0001fuzz-deep\u0001"
    if fmt in JSON_FORMATS and isinstance(doc, dict | list):
        text = json.dumps(_set_somewhere(rng, doc, marker))
        nested = "[" * depth + "1" + "]" * depth
        data = text.replace(json.dumps(marker), nested).encode()
        # orjson stops at 1024 levels.
        return data, ("dead" if depth > 1000 else "either"), ("json" if depth > 1000 else None)
    return splice(rng, raw, b"[" * depth), "either", None


def oversize(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    size = rng.randrange(OVERSIZE_BYTES, 2 * OVERSIZE_BYTES)
    if isinstance(doc, dict):
        big = dict(doc, padding="x" * size)
        return orjson.dumps(big), "dead", "too large"
    return raw + b" " + b"A" * size, "dead", "too large"


def empty(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    return b"", "dead", "empty"


def random_bytes(rng: random.Random, fmt: str, doc: Any, raw: bytes) -> Outcome:
    return rng.randbytes(rng.randrange(1, 400)), "either", None


def splice(rng: random.Random, raw: bytes, piece: bytes) -> bytes:
    i = rng.randrange(len(raw) + 1)
    return raw[:i] + piece + raw[i:]


MUTATIONS: dict[str, tuple[Mutation, float]] = {
    # name: (mutation, weight)
    "flip_bytes": (flip_bytes, 6),
    "truncate": (truncate, 4),
    "wrong_type": (wrong_type, 6),
    "drop_key": (drop_key, 3),
    "huge_number": (huge_number, 2),
    "nan_token": (nan_token, 2),
    "nul_byte": (nul_byte, 2),
    "lone_surrogate": (lone_surrogate, 2),
    "deep_nesting": (deep_nesting, 1),
    "random_bytes": (random_bytes, 1),
    "empty": (empty, 0.05),
    "oversize": (oversize, 0.05),
}
VALID_SHARE = 0.4


def generate(count: int, seed: int, now: datetime | None = None) -> Iterator[Payload]:
    """`count` payloads spread evenly over the routed formats; 40% valid samples, the
    rest mutations of fresh valid samples. Payloads repeated on one MQTT topic (an
    `empty` of two samples) are skipped: the broker has no position to tell them apart,
    so a repeat is the same dead letter, by design."""
    rng = random.Random(seed)
    samples = Samples(rng, now or datetime.now(UTC))
    formats = MQTT_FORMATS + KAFKA_FORMATS
    names, weights = list(MUTATIONS), [w for _, w in MUTATIONS.values()]
    seen: set[tuple[str, bytes]] = set()
    seq = 0
    while seq < count:
        fmt = formats[seq % len(formats)]
        doc = getattr(samples, fmt.removeprefix("ioc_"))(seq)
        raw = render(fmt, doc)
        if rng.random() < VALID_SHARE:
            item = Payload(seq, fmt, raw, "row", "valid")
        else:
            name = rng.choices(names, weights)[0]
            data, expect, word = MUTATIONS[name][0](rng, fmt, doc, raw)
            item = Payload(seq, fmt, data, expect, name, word)
        if TRANSPORT[fmt] == "mqtt":
            # Telemetry topics are per payload, Frigate's is shared.
            key = ("frigate" if fmt == "frigate" else str(seq), item.payload)
            if key in seen:
                continue
            seen.add(key)
        yield item
        seq += 1
