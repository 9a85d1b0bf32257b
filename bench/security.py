"""Security pipeline benchmark: events/s through parse, normalize, detect and write.

Measured apart from the broker: pre-built RawMessages, shaped as the Kafka source hands
them over (topic, partition, offset), go through what `SourceWorker` does minus the
transport, on one thread and one database connection like one worker:
`decode()` with the routes' TopicRouter (parse + normalize to ECS + pydantic
validation), then `BatchWriter(conn, processor=build_runner(settings)).write()` in
batches of 2,000 (COPY, INSERT … ON CONFLICT, the detectors on the new events, the alert
manager, COMMIT).

Traffic (event times end now; one `--events` mixed run plus one run per kind alone):
sshd failures and logins on 12 servers (RFC 5424 and RFC 3164), including a brute force
from each of 5 attackers; netfilter/ufw drops including one port scan; Suricata EVE
flows and alerts; CEF from FortiGate, Check Point and PAN-OS; Winlogbeat 4624/4625;
Defender for Endpoint alerts. Outside addresses come from a fresh random /64 of the
IPv6 documentation prefix per run, so detector state and open alerts left by an earlier
run (same rules, same windows) can never absorb this run's detections.

Per kind, each alone: decode + validate, write (processor=None), and detect (the same
events, new ids, written with the detectors; detect = that write minus the plain one).

Usage: .venv/bin/python bench/security.py [--events 40000] [--sigmahq PATH|none] [--out bench/out]
"""

from __future__ import annotations

import sys
from pathlib import Path

from config.timezone import LOCAL_TZ

# Run as a script, this file's folder comes first on sys.path and bench/ingest.py would
# shadow the `ingest` package; put the repository root there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import hashlib
import ipaddress
import itertools
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.ingest import raw_ceiling, register_devices
from config.settings import Settings, get_settings
from events.alerts import Signal
from ingest.committer import build_batch
from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import kafka_router, load_routes
from processors.catalog import build_runner
from processors.runner import DetectorRunner
from processors.security.sigma import SigmaEngine
from simulators.messages import (
    Flow,
    FlowCounters,
    eve_alert,
    eve_flow,
    pri,
    rfc3164,
    rfc5424,
    sd_element,
)
from simulators.seclogs import load_catalog
from store.writer import BatchWriter

console = Console()
if not console.is_terminal:  # piped to a file: room for the tables
    console.width = 120
BATCH = 2000
EVENTS_PER_SECOND = 1000  # spacing of event times: a busy provincial SOC
ATTACKERS, ATTEMPTS = 5, 30  # brute force: 30 failures each, threshold 10 in 5 min
SCAN_PORTS = 200  # port scan: threshold 20 ports in 1 min
MAX_BYTES = 262144

# Shares of the mixed run (of events, not messages).
MIX = {
    "sshd (syslog)": 0.25,
    "netfilter (syslog)": 0.20,
    "Suricata flow": 0.20,
    "Suricata alert": 0.08,
    "CEF": 0.12,
    "Winlogbeat": 0.13,
    "Defender EDR": 0.02,
}
TOPIC = {
    "sshd (syslog)": "seclog.syslog",
    "netfilter (syslog)": "seclog.syslog",
    "Suricata flow": "seclog.suricata",
    "Suricata alert": "seclog.suricata",
    "CEF": "seclog.cef",
    "Winlogbeat": "seclog.winlog",
    "Defender EDR": "seclog.edr",
}


@dataclass(frozen=True)
class Server:
    host: str
    v4: str
    v6: str
    syslog: str  # rfc5424 | rfc3164

    def address(self, peer: str) -> str:
        """The server's address in the peer's family (dual-stack servers)."""
        return self.v6 if ":" in peer else self.v4


SERVERS = [Server(f"kg-srv{i:02d}", f"10.10.1.{i + 10}", f"fd00:10:10::{i + 10:x}",
                  "rfc5424" if i % 2 else "rfc3164") for i in range(12)]  # fmt: skip
# Benign outside services internal clients talk to: few, so client flows never look
# like a scan (20 hosts or 20 ports a minute from one source).
SERVICES = [f"192.0.2.{i}" for i in range(10, 20)]
VALID_USERS = ("deploy", "quantri", "backup", "ansible")
GUESSED_USERS = ("admin", "oracle", "test", "ubuntu", "postgres", "git", "pi", "guest")
# Outside noise: each pool's sources send `repeat` events in a row, all to one server,
# staying below every threshold (10 failures, 5 users, 20 ports or hosts); each pool has
# its own addresses so that no source adds up across formats.
POOLS = {"sshd-fail": 6, "sshd-invalid": 3, "firewall": 4, "ids": 8, "cef": 4, "winlog": 4}
ATTACKER_SEGMENT, SCANNER_SEGMENT = 0xA0, 0x50


# -- traffic -----------------------------------------------------------------------------
class Traffic:
    """Generators for each kind; `slot` counts calls per kind so attacks can be placed
    at fixed slots (compact in event time, whatever the run's size)."""

    def __init__(self, rng: random.Random, prefix: str, attacks: bool) -> None:
        self.rng = rng
        self.prefix = prefix  # 2001:db8:BLOCK:DD, DD = the dataset
        self.attacks = attacks
        self.slot: Counter[str] = Counter()
        self.pools = {name: itertools.count() for name in POOLS}
        self.signatures = load_catalog().rules
        self.malware = [hashlib.sha256(rng.randbytes(16)).hexdigest() for _ in range(4)]
        self.attackers = [f"{prefix}{ATTACKER_SEGMENT:02x}::{i + 1:x}"
                          for i in range(ATTACKERS if attacks else 0)]  # fmt: skip
        self.scanner = f"{prefix}{SCANNER_SEGMENT:02x}::1"

    def outside(self, pool: str) -> tuple[str, int]:
        """(address, its number in the pool)."""
        number = next(self.pools[pool]) // POOLS[pool]
        segment = list(POOLS).index(pool) + 1
        return f"{self.prefix}{segment:02x}::{number + 1:x}", number

    def client(self) -> str:
        return f"10.10.{self.rng.choice((20, 21, 22))}.{self.rng.randint(2, 254)}"

    def port(self) -> int:
        return self.rng.randint(32768, 60999)

    def make(self, kind: str, when: datetime) -> bytes:
        n = self.slot[kind]
        self.slot[kind] += 1
        return GENERATORS[kind](self, when, n)


def _syslog(when: datetime, server: Server, app: str, pid: int, msg: str) -> str:
    prio = pri("authpriv", "info")
    if server.syslog == "rfc5424":
        origin = sd_element("origin", {"ip": server.v4})
        return rfc5424(prio, when, server.host, app, pid, msg, origin)
    return rfc3164(prio, when, server.host, app, pid, msg)


def sshd(t: Traffic, when: datetime, n: int) -> bytes:
    """40% logins from the admins' VPN, the rest failures from outside noise; the
    attackers' attempts take every 4th slot until done (30 each in ~2 s, one server)."""
    rng, pid, port = t.rng, t.rng.randint(1000, 65000), t.port()
    attack = n // 4
    if t.attacks and n % 4 == 0 and attack < ATTACKERS * ATTEMPTS:
        source, server = t.attackers[attack // ATTEMPTS], SERVERS[attack // ATTEMPTS]
        user = ("root", "admin")[attack % 2]
        msg = f"Failed password for {user} from {source} port {port} ssh2"
    elif n % 5 in (1, 3):
        user, server = rng.choice(VALID_USERS), rng.choice(SERVERS)
        msg = (f"Accepted publickey for {user} from 10.0.5.{rng.randint(2, 60)} port {port}"
               f" ssh2: ED25519 SHA256:{rng.randbytes(9).hex()}")  # fmt: skip
    elif n % 5 == 2:
        source, number = t.outside("sshd-invalid")
        server = SERVERS[number % len(SERVERS)]
        user = GUESSED_USERS[(number + n) % len(GUESSED_USERS)]
        msg = f"Invalid user {user} from {source} port {port}"
    else:
        source, number = t.outside("sshd-fail")
        server = SERVERS[number % len(SERVERS)]
        msg = f"Failed password for {('root', 'admin')[n % 2]} from {source} port {port} ssh2"
    return _syslog(when, server, "sshd", pid, msg).encode()


def netfilter(t: Traffic, when: datetime, n: int) -> bytes:
    """40% allowed internal connections, the rest outside drops; the scanner takes every
    2nd slot until it has touched SCAN_PORTS ports of one server."""
    local = when.astimezone(LOCAL_TZ)
    stamp = f"{local:%b} {local.day:>2} {local:%H:%M:%S}"
    verdict = "BLOCK"
    if t.attacks and n % 2 == 0 and n // 2 < SCAN_PORTS:
        source, dport, server = t.scanner, 1 + (n // 2) * 7, SERVERS[0]
    elif n % 5 in (1, 3):
        source, dport, server = t.client(), t.rng.choice((443, 22)), t.rng.choice(SERVERS)
        verdict = "ALLOW"
    else:
        source, number = t.outside("firewall")
        dport, server = (22, 23, 445, 3389, 5900, 8080)[n % 6], SERVERS[number % len(SERVERS)]
    dest = server.address(source)
    family = "LEN=80 TC=0 HOPLIMIT=52 FLOWLBL=0" if ":" in source else "LEN=60 TOS=0x00 TTL=52"
    return (
        f"<4>{stamp} fw01 kernel: [{n}.{n % 999999:06d}] [UFW {verdict}] IN=eth0 OUT= "
        f"MAC=00:16:3e:aa:bb:cc:00:16:3e:dd:ee:ff:86:dd SRC={source} DST={dest} {family}"
        f" PROTO=TCP SPT={t.port()} DPT={dport} WINDOW=29200 RES=0x00 SYN URGP=0"
    ).encode()


def _counters(rng: random.Random) -> FlowCounters:
    up, down = rng.randint(1, 40), rng.randint(0, 40)
    return FlowCounters(up, down, up * rng.randint(60, 900), down * rng.randint(60, 1400),
                        rng.randint(0, 120))  # fmt: skip


def suricata_flow(t: Traffic, when: datetime, n: int) -> bytes:
    port, app = t.rng.choice(((443, "tls"), (443, "tls"), (80, "http"), (123, None)))
    flow = Flow(t.client(), t.rng.choice(SERVICES), "UDP" if port == 123 else "TCP",
                t.port(), port, app)  # fmt: skip
    return eve_flow(when, "kg-ids01", "ens192", t.rng.randrange(1, 2**51), flow, _counters(t.rng))


def suricata_alert(t: Traffic, when: datetime, n: int) -> bytes:
    """Each outside source repeats one signature against one server, as IDS alerts come."""
    source, number = t.outside("ids")
    rule = t.signatures[number % len(t.signatures)]
    server = SERVERS[number % len(SERVERS)]
    port = rule.ports[0] if rule.ports else None
    flow = Flow(source, server.address(source), rule.proto, t.port() if port else None, port,
                rule.app_proto)  # fmt: skip
    flow_id = t.rng.randrange(1, 2**51)
    return eve_alert(when, "kg-ids01", "ens192", flow_id, flow, rule.signature, _counters(t.rng))


def cef(t: Traffic, when: datetime, n: int) -> bytes:
    """FortiGate traffic (internal accepts, outside denies), Check Point drops, PAN-OS
    threats."""
    local = when.astimezone(LOCAL_TZ)
    source, number = t.outside("cef")
    server = SERVERS[number % len(SERVERS)]
    if n % 10 < 7:
        stamp = f"{local:%b} {local.day:>2} {local:%H:%M:%S}"
        act = "deny" if n % 2 else "accept"
        if act == "accept":
            source = t.client()
        return (
            f"<185>{stamp} FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|traffic:forward {act}|3|"
            f"deviceExternalId=FG100FTK20000000 cat=traffic:forward src={source}"
            f" spt={t.port()} deviceInboundInterface=wan1 dst={server.address(source)}"
            f" dpt={(443, 22, 3389)[number % 3]} deviceOutboundInterface=internal proto=6"
            f" act={act} app=HTTPS out={t.rng.randint(0, 9000)} in={t.rng.randint(0, 9000)}"
        ).encode()
    if n % 10 < 9:
        return (
            f"<134>1 {local.isoformat()} gw-hn CheckPoint 2511 - - CEF:0|Check Point|"
            f"VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop"
            f" rt={int(when.timestamp() * 1000)} spt={t.port()} dpt=443"
            f" cs2Label=Rule Name cs2=Cleanup rule dst={server.address(source)} inzone=External"
            f" outzone=Internal proto=6 src={source}"
        ).encode()
    stamp = local.astimezone(UTC).strftime("%b %d %Y %H:%M:%S GMT")
    return (
        f"CEF:0|Palo Alto Networks|PAN-OS|10.2.4|spyware|THREAT|5|rt={stamp}"
        f" deviceExternalId=012801000000 src={source} dst={server.address(source)}"
        f" cs1Label=Rule cs1=Allow-Web app=web-browsing spt=443 dpt={t.port()}"
        f" proto=tcp act=reset-both request=update.bin cat=Suspicious DNS(100000) externalId={n}"
    ).encode()


def winlogbeat(t: Traffic, when: datetime, n: int) -> bytes:
    """4624 network logons of staff (two in three), 4625 from outside noise."""
    success = n % 3 != 0
    data = {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
        "TargetUserSid": "S-1-0-0", "TargetDomainName": "SOTTTT",
        "LogonType": "10" if success else "3", "LogonProcessName": "NtLmSsp ",
        "AuthenticationPackageName": "NTLM", "WorkstationName": "KALI", "IpPort": "49286",
        "ProcessId": "0x0", "ProcessName": "-",
    }  # fmt: skip
    if success:
        data.update(TargetUserName=f"nv{n % 50:02d}", IpAddress=t.client(),
                    TargetLogonId=f"0x{n:x}")  # fmt: skip
    else:
        source, _ = t.outside("winlog")
        data.update(TargetUserName="administrator", IpAddress=source, Status="0xc000006d",
                    SubStatus="0xc000006a", FailureReason="%%2313")  # fmt: skip
    doc = {
        "@timestamp": when.astimezone(UTC).isoformat(timespec="milliseconds"),
        "message": "An account was successfully logged on." if success
        else "An account failed to log on.",
        "event": {"code": "4624" if success else "4625", "kind": "event",
                  "provider": "Microsoft-Windows-Security-Auditing"},
        "host": {"name": f"dc0{n % 2 + 1}"},
        "winlog": {"channel": "Security", "computer_name": f"DC0{n % 2 + 1}.sotttt.gov.vn",
                   "event_id": "4624" if success else "4625",
                   "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": n,
                   "keywords": ["Audit Success" if success else "Audit Failure"],
                   "task": "Logon", "api": "wineventlog", "event_data": data},
    }  # fmt: skip
    return orjson.dumps(doc)


def defender(t: Traffic, when: datetime, n: int) -> bytes:
    """One of 4 malware files (fresh hashes per run) on one of 40 workstations."""
    stamp = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    host = f"kt-pc{n % 40:02d}.sotttt.local"
    sha256 = t.malware[n % len(t.malware)]
    doc = {
        "@odata.type": "#microsoft.graph.security.alert", "id": f"da{n}_{sha256[:10]}",
        "providerAlertId": f"da{n}", "incidentId": str(n), "status": "new",
        "severity": "medium", "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "antivirus", "productName": "Microsoft Defender for Endpoint",
        "detectorId": "e0da400f-affd-43ef-b1d5-afc2eb6f2756",
        "title": "'Wacatac' malware was detected", "category": "Malware",
        "threatDisplayName": "Trojan:Win32/Wacatac.B!ml", "threatFamilyName": "Wacatac",
        "mitreTechniques": ["T1204.002"], "createdDateTime": stamp,
        "lastUpdateDateTime": stamp, "firstActivityDateTime": stamp,
        "lastActivityDateTime": stamp, "comments": [], "systemTags": [],
        "evidence": [
            {"@odata.type": "#microsoft.graph.security.deviceEvidence",
             "createdDateTime": stamp, "verdict": "unknown", "remediationStatus": "none",
             "roles": [], "deviceDnsName": host, "osPlatform": "Windows11",
             "mdeDeviceId": hashlib.sha1(host.encode()).hexdigest(),
             "loggedOnUsers": [{"accountName": "tran.thi.b", "domainName": "SOTTTT"}]},
            {"@odata.type": "#microsoft.graph.security.fileEvidence",
             "createdDateTime": stamp, "verdict": "malicious",
             "remediationStatus": "remediated" if n % 4 else "none", "roles": [],
             "detectionStatus": "detected" if n % 4 else "prevented",
             "fileDetails": {"sha256": sha256, "fileName": "invoice.exe",
                             "filePath": "C:\\Users\\tran.thi.b\\Downloads",
                             "fileSize": 4096}},
        ],
    }  # fmt: skip
    return orjson.dumps(doc)


GENERATORS: dict[str, Callable[[Traffic, datetime, int], bytes]] = {
    "sshd (syslog)": sshd,
    "netfilter (syslog)": netfilter,
    "Suricata flow": suricata_flow,
    "Suricata alert": suricata_alert,
    "CEF": cef,
    "Winlogbeat": winlogbeat,
    "Defender EDR": defender,
}


@dataclass
class Dataset:
    name: str
    messages: list[RawMessage]
    attackers: list[str]
    scanner: str | None


class Source:
    """Fresh outside addresses and fresh Kafka positions for every dataset."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        block = self.rng.choice([b for b in range(1, 0xFFFF) if b != 0xDEAD])  # dead: IoC list
        self.block = f"2001:db8:{block:x}"
        self.datasets = itertools.count(1)
        # Kafka positions identify security events: new ones for every run of the bench.
        self.offsets = itertools.count(time.time_ns() // 1000)

    def dataset(self, name: str, counts: dict[str, int], attacks: bool) -> Dataset:
        traffic = Traffic(self.rng, f"{self.block}:{next(self.datasets):02x}", attacks)
        kinds = [k for k, n in counts.items() for _ in range(n)]
        self.rng.shuffle(kinds)
        start = datetime.now(UTC) - timedelta(seconds=len(kinds) / EVENTS_PER_SECOND)
        messages = []
        for i, kind in enumerate(kinds):
            when = start + timedelta(seconds=i / EVENTS_PER_SECOND)
            payload = traffic.make(kind, when)
            messages.append(RawMessage("kafka", TOPIC[kind], payload, partition=0,
                                       offset=next(self.offsets), key=None))  # fmt: skip
        scanner = traffic.scanner if attacks and "netfilter (syslog)" in counts else None
        attackers = traffic.attackers if "sshd (syslog)" in counts else []
        # As the decoders write them (compressed), to compare with the signals' labels.
        attackers = [ipaddress.ip_address(a).compressed for a in attackers]
        scanner = ipaddress.ip_address(scanner).compressed if scanner else None
        return Dataset(name, messages, attackers, scanner)


def mixed_counts(n: int) -> dict[str, int]:
    return {kind: max(int(n * share), 1) for kind, share in MIX.items()}


# -- the pipeline --------------------------------------------------------------------------
class CountingManager:
    """The runner's alert manager, counting what reaches it: signals by rule, and the
    alert changes they made by kind."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.signals: list[Signal] = []
        self.changes: Counter[str] = Counter()

    def apply(self, conn: psycopg.Connection, signals: Iterable[Signal]) -> list[Any]:
        signals = list(signals)
        self.signals += signals
        changes = self.inner.apply(conn, signals)
        self.changes.update(change.kind for change in changes)
        return changes


@dataclass
class Timing:
    events: int = 0
    decode_s: float = 0.0
    write_s: float = 0.0
    dead_letters: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def us(self, seconds: float) -> float:
        return seconds / self.events * 1e6


def run_pipeline(writer: BatchWriter, messages: list[RawMessage], router: Any) -> Timing:
    """What SourceWorker does per batch, minus the transport: decode, then one write."""
    timing = Timing()
    for start in range(0, len(messages), BATCH):
        chunk = messages[start : start + BATCH]
        t0 = time.perf_counter()
        decoded = [decode(m, router, MAX_BYTES) for m in chunk]
        batch = build_batch(decoded)
        t1 = time.perf_counter()
        writer.write(batch)
        t2 = time.perf_counter()
        timing.decode_s += t1 - t0
        timing.write_s += t2 - t1
        timing.events += sum(len(d.events) for d in decoded)
        timing.dead_letters += len(batch.dead_letters)
        timing.reasons.update(d.dead_letter.reason[:120] for d in decoded if d.dead_letter)
    return timing


@dataclass
class KindResult:
    kind: str
    plain: Timing
    detected: Timing
    signals: Counter[str]
    changes: Counter[str]

    @property
    def detect_us(self) -> float:
        return self.detected.us(self.detected.write_s) - self.plain.us(self.plain.write_s)


@dataclass
class Pipeline:
    conn: psycopg.Connection
    router: Any
    plain: BatchWriter
    detecting: BatchWriter
    manager: CountingManager

    def detect(self, messages: list[RawMessage]) -> tuple[Timing, list[Signal], Counter[str]]:
        """Through the detectors, returning only this call's signals and changes."""
        seen, changes = len(self.manager.signals), Counter(self.manager.changes)
        timing = run_pipeline(self.detecting, messages, self.router)
        return timing, self.manager.signals[seen:], self.manager.changes - changes


def open_pipeline(settings: Settings) -> Pipeline:
    runner: DetectorRunner = build_runner(settings)
    manager = CountingManager(runner.manager)
    runner.manager = manager  # type: ignore[assignment]
    conn = psycopg.connect(settings.dsn())
    router = kafka_router(load_routes(settings.routes_file))
    return Pipeline(conn, router, BatchWriter(conn), BatchWriter(conn, runner), manager)


def bench_channels(settings: Settings, directory: Path) -> Settings:
    """The deployed channels under names of the bench's own: the alert manager writes
    the same outbox rows as in production, and no running alert service (whose
    channels have other names) takes them for its own receivers."""
    config = yaml.safe_load(settings.channels_file.read_text(encoding="utf-8"))
    for channel in config["channels"]:
        channel["name"] = f"bench-{channel['name']}"
    path = directory / "channels.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return settings.model_copy(update={"channels_file": path})


# -- report --------------------------------------------------------------------------------
def by_rule(signals: list[Signal]) -> Counter[str]:
    return Counter(s.rule for s in signals)


def sanity(data: Dataset, signals: list[Signal]) -> list[str]:
    """Brute force once per attacker and nobody else; one scan signal for the scanner."""
    lines = []
    brute = Counter(s.labels.get("source_ip") for s in signals if s.rule == "sec.bruteforce")
    per_attacker = [brute.get(a, 0) for a in data.attackers]
    others = sum(n for ip, n in brute.items() if ip not in data.attackers)
    ok = all(n == 1 for n in per_attacker) and others == 0
    lines.append(f"{'ok' if ok else 'CHECK'}: sec.bruteforce signals per attacker "
                 f"{per_attacker} (expected 1 each), from other sources {others}")  # fmt: skip
    if data.scanner:
        scans = Counter(s.labels.get("source_ip") for s in signals if s.rule == "sec.portscan")
        mine, total = scans.get(data.scanner, 0), sum(scans.values())
        ok = mine == 1 and total == 1
        lines.append(f"{'ok' if ok else 'CHECK'}: sec.portscan signals for the scanner "
                     f"{mine} (expected 1), in all {total}")  # fmt: skip
    return lines


def report_mixed(
    data: Dataset, timing: Timing, signals: list[Signal], changes: Counter[str]
) -> None:
    total = timing.decode_s + timing.write_s
    console.print(
        f"[bold]one worker, mixed traffic, apart from the broker[/]: {timing.events:,} events"
        f" in {total:.2f} s = "
        f"[bold]{timing.events / total:,.0f} events/s[/] through decode + validate + write + "
        f"detect + alerts + commit ({timing.us(timing.decode_s):.0f} µs decode+validate, "
        f"{timing.us(timing.write_s):.0f} µs write+detect+alerts per event)"
    )
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule(signals).items()))
    console.print(f"signals by rule: {rules or 'none'}")
    console.print(f"alert changes: {dict(changes) or 'none'}")
    for line in sanity(data, signals):
        console.print(line, style="green" if line.startswith("ok") else "red")


def report_kinds(results: list[KindResult]) -> Table:
    table = Table(title="per kind, each alone, µs per event (one thread, batches of 2,000)")
    for col in ("kind", "events", "decode+validate", "write", "detect+alerts", "total",
                "events/s", "signals", "new alerts"):  # fmt: skip
        table.add_column(col, justify="left" if col == "kind" else "right")
    for r in results:
        decode_us = (r.plain.us(r.plain.decode_s) + r.detected.us(r.detected.decode_s)) / 2
        write_us = r.plain.us(r.plain.write_s)
        total = decode_us + write_us + r.detect_us
        table.add_row(r.kind, f"{r.detected.events:,}", f"{decode_us:.1f}", f"{write_us:.1f}",
                      f"{r.detect_us:.1f}", f"{total:.1f}", f"{1e6 / total:,.0f}",
                      str(sum(r.signals.values())), str(r.changes.get("fired", 0)))  # fmt: skip
    return table


def plot(out: Path, results: list[KindResult], mixed_eps: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.kind for r in results]
    decode_us = [(r.plain.us(r.plain.decode_s) + r.detected.us(r.detected.decode_s)) / 2
                 for r in results]  # fmt: skip
    write_us = [r.plain.us(r.plain.write_s) for r in results]
    detect_us = [max(r.detect_us, 0) for r in results]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.barh(names, decode_us, label="decode + validate", color="#1f77b4")
    ax.barh(names, write_us, left=decode_us, label="write (COPY, insert, commit)", color="#2ca02c")
    lefts = [a + b for a, b in zip(decode_us, write_us, strict=True)]
    ax.barh(names, detect_us, left=lefts, label="detect + alerts", color="#ff7f0e")
    for y, (left, width) in enumerate(zip(lefts, detect_us, strict=True)):
        ax.text(left + width + 2, y, f"{left + width:.0f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("µs per event, one thread")
    ax.set_title(f"Security pipeline per kind (mixed traffic: {mixed_eps:,.0f} events/s, 1 worker)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = out / "security.png"
    fig.savefig(path, dpi=120)
    return path


# -- main ----------------------------------------------------------------------------------
def per_kind(pipe: Pipeline, source: Source, n: int) -> list[KindResult]:
    results = []
    for kind in MIX:
        plain = run_pipeline(pipe.plain, source.dataset(kind, {kind: n}, False).messages,
                             pipe.router)  # fmt: skip
        data = source.dataset(kind, {kind: n}, True)
        detected, signals, changes = pipe.detect(data.messages)
        results.append(KindResult(kind, plain, detected, by_rule(signals), changes))
    return results


# -- the yardstick and SigmaHQ -------------------------------------------------------------
# The vendored snapshot of SigmaHQ's rules (DRL 1.1), where the team's machines keep it.
SIGMAHQ_RULES = Path(__file__).resolve().parents[2] / "shared" / "vendor" / "sigmahq" / "rules"
SIGMAHQ_FOLDERS = ("windows", "linux", "network", "web")
TARGET_SHIPPED, TARGET_SIGMAHQ = 0.6, 0.3  # of the raw paho ceiling (issue 14)


def sigmahq_settings(settings: Settings, rules: Path) -> Settings | None:
    """The shipped rules plus SigmaHQ's folders for the log sources the service ingests."""
    folders = [rules / name for name in SIGMAHQ_FOLDERS if (rules / name).is_dir()]
    if not folders:
        console.print(f"[yellow]no SigmaHQ rules at {rules}: the loaded run is skipped[/]")
        return None
    paths = [*settings.sigma_paths(), *folders]
    return settings.model_copy(update={"sigma_rules": ":".join(str(p) for p in paths)})


def run_loaded(pipe: Pipeline, source: Source, events: int) -> Timing:
    with pipe.conn, Progress(console=console, transient=True) as bar:
        bar.add_task(f"mixed run with SigmaHQ loaded, {events:,} events", total=None)
        pipe.detect(source.dataset("warm-up", mixed_counts(2000), True).messages)
        timing, _, _ = pipe.detect(source.dataset("mixed", mixed_counts(events), True).messages)
    return timing


def sigma_rule_count(pipe: Pipeline) -> int:
    """Sigma rules (and correlations) the pipeline's detectors compiled (each security
    detector is wrapped for agency labels: the wrapper's `inner` is the detector)."""
    runner = pipe.detecting.processor
    assert isinstance(runner, DetectorRunner)
    count = 0
    for wrapped in runner.detectors.security:
        engine = getattr(getattr(wrapped, "inner", wrapped), "engine", None)
        if isinstance(engine, SigmaEngine):  # the Sigma detector's
            count += len(engine.ruleset.rules) + len(engine.ruleset.correlations)
    return count


def report_ceiling(
    ceiling: float, shipped: Timing, loaded: Timing | None, loaded_pipe: Pipeline | None
) -> Table:
    table = Table(title="one worker against this machine's raw paho QoS 1 receive ceiling")
    for col in ("run", "events/s", "× ceiling", "target", "met"):
        table.add_column(col, justify="left" if col == "run" else "right")
    table.add_row("raw paho QoS 1 receive (the yardstick)", f"{ceiling:,.0f}", "1.00", "", "")
    rows = [("shipped rules", shipped, TARGET_SHIPPED)]
    if loaded is not None and loaded_pipe is not None:
        rules = sigma_rule_count(loaded_pipe)
        name = f"+ SigmaHQ {'/'.join(SIGMAHQ_FOLDERS)} ({rules:,} rules)"
        rows.append((name, loaded, TARGET_SIGMAHQ))
    for name, timing, target in rows:
        rate = timing.events / (timing.decode_s + timing.write_s)
        ratio = rate / ceiling
        met = "[green]yes[/]" if ratio >= target else "[red]no[/]"
        table.add_row(name, f"{rate:,.0f}", f"{ratio:.2f}", f"≥ {target:.1f}", met)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="events in the mixed run")
    parser.add_argument("--per-kind", type=int, default=0,
                        help="events per kind alone (default: --events / 8)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ceiling-messages", type=int, default=40_000,
                        help="messages for the raw paho QoS 1 receive ceiling")  # fmt: skip
    parser.add_argument("--sigmahq", type=Path, default=SIGMAHQ_RULES,
                        help="SigmaHQ's rules folder (its windows, linux, network and web"
                        " folders are added to the shipped rules); 'none' to skip")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    per_kind_n = args.per_kind or max(args.events // 8, 500)
    source = Source(args.seed if args.seed is not None else time.time_ns())
    with Progress(console=console, transient=True) as bar:
        bar.add_task(f"raw paho QoS 1 receive ceiling, {args.ceiling_messages:,} messages")
        base = get_settings()
        ceiling = raw_ceiling(base, register_devices(base, [], 20), args.ceiling_messages)
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        settings = bench_channels(base, Path(tmp))
        pipe = open_pipeline(settings)
        sigmahq = sigmahq_settings(settings, args.sigmahq)
        loaded = open_pipeline(sigmahq) if sigmahq is not None else None
    with pipe.conn, Progress(console=console, transient=True) as bar:
        bar.add_task("building traffic, warming up", total=None)
        warm = source.dataset("warm-up", mixed_counts(2000), True)
        mixed = source.dataset("mixed", mixed_counts(args.events), True)
        pipe.detect(warm.messages)  # rule loading, prepared statements, temp tables
        bar.add_task(f"mixed run, {len(mixed.messages):,} events", total=None)
        timing, signals, changes = pipe.detect(mixed.messages)
        bar.add_task(f"each kind alone, {per_kind_n:,} events x 2", total=None)
        results = per_kind(pipe, source, per_kind_n)
    with_sigmahq = run_loaded(loaded, source, args.events) if loaded is not None else None
    report_mixed(mixed, timing, signals, changes)
    console.print(report_kinds(results))
    console.print(report_ceiling(ceiling, timing, with_sigmahq, loaded))
    dead = timing.dead_letters + sum(
        r.plain.dead_letters + r.detected.dead_letters for r in results
    )
    console.print(f"dead letters (should be 0): {dead}")
    for reason, n in (
        timing.reasons + sum((r.plain.reasons for r in results), Counter())
    ).most_common(5):
        console.print(f"  {n} × {reason}")
    eps = timing.events / (timing.decode_s + timing.write_s)
    console.print(f"plot: {plot(args.out, results, eps)}")


if __name__ == "__main__":
    main()
