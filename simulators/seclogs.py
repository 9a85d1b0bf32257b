"""Security logs as agency servers and IDS sensors would ship them to Kafka.

Syslog lines (RFC 3164 and RFC 5424, per server) go to seclog.syslog, Suricata EVE JSON
to seclog.suricata. The message key is the source address when the record has one, else
the host: Kafka then sends one source to one partition, which is what per-source
detectors (brute force counting, scan detection) rely on when a group shares the load.

Brute-force campaigns make the data worth detecting: one attacker hammers one server for
a while, and the IDS sometimes sees the same attacker scanning.
"""

from __future__ import annotations

import base64
import ipaddress
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from config.timezone import LOCAL_TZ
from simulators.messages import (
    KAFKA_SURICATA_TOPIC,
    KAFKA_SYSLOG_TOPIC,
    Flow,
    FlowCounters,
    Outgoing,
    Signature,
    eve_alert,
    eve_dns_query,
    eve_flow,
    pri,
    rfc3164,
    rfc5424,
    sd_element,
)

SECLOG_FILE = Path(__file__).with_name("seclog.yaml")
Role = Literal["attacker", "internal", "server", "resolver", "external"]


@dataclass(frozen=True)
class Server:
    host: str
    ip: str
    format: Literal["rfc3164", "rfc5424"]


@dataclass(frozen=True)
class Rule:
    signature: Signature
    proto: str
    ports: tuple[int, ...]
    src: Role
    dest: Role
    app_proto: str | None = None


@dataclass(frozen=True)
class Sensor:
    host: str
    iface: str


@dataclass(frozen=True)
class LogCatalog:
    suricata_share: float
    networks: dict[str, tuple[ipaddress.IPv4Network, ...]]
    servers: tuple[Server, ...]
    valid_users: tuple[str, ...]
    guessed_users: tuple[str, ...]
    campaign_attempts: tuple[int, int]
    syslog_mix: dict[str, float]
    sudo_commands: tuple[str, ...]
    cron_commands: tuple[str, ...]
    systemd_messages: tuple[str, ...]
    sensors: tuple[Sensor, ...]
    eve_mix: dict[str, float]
    resolvers: tuple[str, ...]
    dns_names: tuple[str, ...]
    rules: tuple[Rule, ...]


def _rule(raw: dict[str, Any]) -> Rule:
    signature = Signature(
        sid=raw["sid"],
        rev=raw["rev"],
        msg=raw["msg"],
        category=raw["category"],
        severity=raw["severity"],
        direction=raw.get("direction", "to_server"),
    )
    return Rule(
        signature=signature,
        proto=raw["proto"],
        ports=tuple(raw["ports"]),
        src=raw["from"],
        dest=raw["to"],
        app_proto=raw.get("app_proto"),
    )


def load_catalog(path: Path = SECLOG_FILE) -> LogCatalog:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    suricata = data["suricata"]
    fewest, most = data["ssh"]["campaign_attempts"]
    networks = {
        role: tuple(ipaddress.IPv4Network(n) for n in data[f"{role}_networks"])
        for role in ("attacker", "external", "admin", "client")
    }
    return LogCatalog(
        suricata_share=float(data["suricata_share"]),
        networks=networks,
        servers=tuple(Server(**s) for s in data["servers"]),
        valid_users=tuple(data["ssh"]["valid_users"]),
        guessed_users=tuple(data["ssh"]["guessed_users"]),
        campaign_attempts=(int(fewest), int(most)),
        syslog_mix=data["syslog_mix"],
        sudo_commands=tuple(data["sudo_commands"]),
        cron_commands=tuple(data["cron_commands"]),
        systemd_messages=tuple(data["systemd_messages"]),
        sensors=tuple(Sensor(**s) for s in suricata["sensors"]),
        eve_mix=suricata["mix"],
        resolvers=tuple(suricata["resolvers"]),
        dns_names=tuple(suricata["dns_names"]),
        rules=tuple(_rule(r) for r in suricata["signatures"]),
    )


@dataclass
class _Campaign:
    attacker: str
    target: Server
    remaining: int


class LogStream:
    def __init__(self, catalog: LogCatalog, seed: int) -> None:
        self._c = catalog
        self._rng = random.Random(f"logs:{seed}")
        self._campaign: _Campaign | None = None
        # sshd writes some events as two lines; the second waits here for the next call.
        self._pending: deque[Outgoing] = deque()
        self._syslog_kinds: dict[str, Callable[[datetime], list[Outgoing]]] = {
            "ssh_failed": self._ssh_failed,
            "ssh_invalid_user": self._ssh_invalid_user,
            "ssh_accepted": self._ssh_accepted,
            "sudo": self._sudo,
            "cron": self._cron,
            "systemd": self._systemd,
        }
        unknown = set(catalog.syslog_mix) - set(self._syslog_kinds)
        if unknown:
            raise ValueError(f"syslog_mix names unknown kinds: {sorted(unknown)}")

    def next(self, t: float) -> Outgoing:
        if self._pending:
            return self._pending.popleft()
        when = datetime.fromtimestamp(t, LOCAL_TZ)
        if self._rng.random() < self._c.suricata_share:
            return self._suricata(when)
        first, *rest = self._syslog(when)
        self._pending.extend(rest)
        return first

    # --- shared pieces ---------------------------------------------------------------

    def _pick(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self._rng.choices(names, [weights[n] for n in names])[0]

    def _host_in(self, role: str) -> str:
        network = self._rng.choice(self._c.networks[role])
        return str(network.network_address + self._rng.randint(1, network.num_addresses - 2))

    def _ephemeral_port(self) -> int:
        return self._rng.randint(32768, 60999)  # Linux's default ip_local_port_range

    def _current_campaign(self) -> _Campaign:
        if self._campaign is None or self._campaign.remaining <= 0:
            self._campaign = _Campaign(
                attacker=self._host_in("attacker"),
                target=self._rng.choice(self._c.servers),
                remaining=self._rng.randint(*self._c.campaign_attempts),
            )
        return self._campaign

    # --- syslog ----------------------------------------------------------------------

    def _syslog(self, when: datetime) -> list[Outgoing]:
        return self._syslog_kinds[self._pick(self._c.syslog_mix)](when)

    def _line(
        self,
        server: Server,
        when: datetime,
        app: str,
        pid: int | None,
        facility_severity: tuple[str, str],
        message: str,
        source_ip: str | None = None,
    ) -> Outgoing:
        priority = pri(*facility_severity)
        if server.format == "rfc5424":
            origin = sd_element("origin", {"ip": server.ip})
            text = rfc5424(priority, when, server.host, app, pid, message, origin)
        else:
            text = rfc3164(priority, when, server.host, app, pid, message)
        key = source_ip or server.host
        return Outgoing("syslog", "kafka", KAFKA_SYSLOG_TOPIC, text.encode(), key=key.encode())

    def _ssh_attempt(self) -> tuple[_Campaign, int, int]:
        campaign = self._current_campaign()
        campaign.remaining -= 1
        return campaign, self._rng.randint(1000, 65000), self._ephemeral_port()

    def _ssh_failed(self, when: datetime) -> list[Outgoing]:
        campaign, pid, port = self._ssh_attempt()
        user = self._rng.choice(self._c.guessed_users)
        # root and the real accounts exist, so sshd does not call them "invalid user".
        exists = user == "root" or user in self._c.valid_users
        who = user if exists else f"invalid user {user}"
        message = f"Failed password for {who} from {campaign.attacker} port {port} ssh2"
        auth = ("authpriv", "info")
        return [self._line(campaign.target, when, "sshd", pid, auth, message, campaign.attacker)]

    def _ssh_invalid_user(self, when: datetime) -> list[Outgoing]:
        campaign, pid, port = self._ssh_attempt()
        user = self._rng.choice([u for u in self._c.guessed_users if u != "root"])
        ip, server, auth = campaign.attacker, campaign.target, ("authpriv", "info")
        messages = (
            f"Invalid user {user} from {ip} port {port}",
            f"Failed password for invalid user {user} from {ip} port {port} ssh2",
        )
        return [self._line(server, when, "sshd", pid, auth, m, ip) for m in messages]

    def _ssh_accepted(self, when: datetime) -> list[Outgoing]:
        server = self._rng.choice(self._c.servers)
        ip, user = self._host_in("admin"), self._rng.choice(self._c.valid_users)
        fingerprint = base64.b64encode(self._rng.randbytes(32)).decode().rstrip("=")
        message = (
            f"Accepted publickey for {user} from {ip} port {self._ephemeral_port()} ssh2: "
            f"ED25519 SHA256:{fingerprint}"
        )
        pid = self._rng.randint(1000, 65000)
        return [self._line(server, when, "sshd", pid, ("authpriv", "info"), message, ip)]

    def _sudo(self, when: datetime) -> list[Outgoing]:
        server = self._rng.choice(self._c.servers)
        user = self._rng.choice(self._c.valid_users)
        command = self._rng.choice(self._c.sudo_commands)
        tty = self._rng.randint(0, 3)
        message = f"{user} : TTY=pts/{tty} ; PWD=/home/{user} ; USER=root ; COMMAND={command}"
        return [self._line(server, when, "sudo", None, ("authpriv", "notice"), message)]

    def _cron(self, when: datetime) -> list[Outgoing]:
        server = self._rng.choice(self._c.servers)
        command = self._rng.choice(self._c.cron_commands)
        pid = self._rng.randint(1000, 65000)
        return [self._line(server, when, "CRON", pid, ("cron", "info"), f"(root) CMD ({command})")]

    def _systemd(self, when: datetime) -> list[Outgoing]:
        server = self._rng.choice(self._c.servers)
        template = self._rng.choice(self._c.systemd_messages)
        message = template.format(
            session=self._rng.randint(1, 9999), user=self._rng.choice(self._c.valid_users)
        )
        return [self._line(server, when, "systemd", 1, ("daemon", "info"), message)]

    # --- Suricata --------------------------------------------------------------------

    def _address(self, role: Role) -> str:
        if role == "attacker":
            # Half the time the IDS sees the attacker of the running SSH campaign.
            if self._rng.random() < 0.5:
                return self._current_campaign().attacker
            return self._host_in("attacker")
        if role == "server":
            return self._rng.choice(self._c.servers).ip
        if role == "resolver":
            return self._rng.choice(self._c.resolvers)
        return self._host_in("client" if role == "internal" else "external")

    def _counters(self) -> FlowCounters:
        rng = self._rng
        to_server, to_client = rng.randint(1, 40), rng.randint(0, 40)
        return FlowCounters(
            pkts_toserver=to_server,
            pkts_toclient=to_client,
            bytes_toserver=to_server * rng.randint(60, 900),
            bytes_toclient=to_client * rng.randint(60, 1400),
            age_s=rng.randint(0, 120),
        )

    def _eve(self, payload: bytes, flow: Flow) -> Outgoing:
        return Outgoing(
            "suricata", "kafka", KAFKA_SURICATA_TOPIC, payload, key=flow.src_ip.encode()
        )

    def _suricata(self, when: datetime) -> Outgoing:
        sensor = self._rng.choice(self._c.sensors)
        flow_id = self._rng.randrange(1, 2**51)  # Suricata's flow ids are 51-bit hashes
        kind = self._pick(self._c.eve_mix)
        common = (when, sensor.host, sensor.iface, flow_id)
        if kind == "alert":
            rule = self._rng.choice(self._c.rules)
            flow = self._alert_flow(rule)
            return self._eve(eve_alert(*common, flow, rule.signature, self._counters()), flow)
        if kind == "dns":
            flow = Flow(self._address("internal"), self._address("resolver"), "UDP",
                        self._ephemeral_port(), 53, "dns")  # fmt: skip
            name = self._rng.choice(self._c.dns_names)
            rrtype = self._rng.choice(("A", "A", "AAAA"))
            query_id = self._rng.randint(0, 65535)
            return self._eve(eve_dns_query(*common, flow, name, rrtype, query_id), flow)
        port, app = self._rng.choice(((443, "tls"), (443, "tls"), (80, "http"), (123, None)))
        proto = "UDP" if port == 123 else "TCP"
        flow = Flow(self._address("internal"), self._address("external"), proto,
                    self._ephemeral_port(), port, app)  # fmt: skip
        return self._eve(eve_flow(*common, flow, self._counters()), flow)

    def _alert_flow(self, rule: Rule) -> Flow:
        src, dest = self._address(rule.src), self._address(rule.dest)
        if not rule.ports:
            return Flow(src, dest, rule.proto, app_proto=rule.app_proto)
        service, client = self._rng.choice(rule.ports), self._ephemeral_port()
        if rule.signature.direction == "to_client":
            # A response: the packet comes from the service's port back to the client.
            return Flow(src, dest, rule.proto, service, client, rule.app_proto)
        return Flow(src, dest, rule.proto, client, service, rule.app_proto)
