"""The agency inventory (deploy/security/agencies.yaml, IOC_AGENCIES_FILE): which agency
owns which networks, hosts and log sources, and how an event is recognised as theirs.

Pure apart from reading the file: `Inventory.agency_of(event, topic)` is what the ingest
path calls for every security event (ingest/decode.py, through `enrich`), so it costs a
few dictionary lookups, never a scan of every network:

1. a log source whose `match` fits the event (all fields it names: host name, observer
   name or serial number, Kafka/HTTP topic pattern, dataset) names the agency and the
   source;
2. else the host name (exact, or a pattern ending in `*` as a prefix);
3. else the destination address, then the source address, by longest prefix over every
   agency's networks (an attack from outside lands on an agency's address; traffic an
   agency's machine starts comes from one).

`home_networks()` is the union of the agencies' networks: the HOME_NET Sigma
placeholders and "from outside the internal network" detections read (part D).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.settings import REPO_ROOT
from config.yaml_loader import ConfigErrors, load_model
from events.buglog import BugLog

log = logging.getLogger(__name__)
_load_errors = BugLog(log, "cannot load", "security events stored without their agency")

DEFAULT_FILE = REPO_ROOT / "deploy" / "security" / "agencies.yaml"
CACHE_SIZE = 65536
UNKNOWN = "unknown"  # the alert label of an alert no agency could be found for

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"
SourceKind = Literal["firewall", "winlog", "web", "proxy", "auditd", "syslog", "ids", "edr", "cef"]


class SourceMatch(BaseModel):
    """Every field given must fit (AND); a list fits when any item does (OR)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host_name: tuple[str, ...] = ()  # host.name, case-insensitive
    observer_name: tuple[str, ...] = ()  # observer.name or observer.hostname
    observer_serial: tuple[str, ...] = ()  # observer.serial_number (FortiGate devid), exact
    topic: tuple[str, ...] = ()  # glob: "seclog.firewall*", "http/firewall/fw-*"
    dataset: tuple[str, ...] = ()  # event.dataset, exact

    @model_validator(mode="after")
    def _something(self) -> SourceMatch:
        if not (self.host_name or self.observer_name or self.observer_serial or self.topic):
            raise ValueError("match needs host_name, observer_name, observer_serial or topic")
        return self


class LogSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    kind: SourceKind
    match: SourceMatch
    # How often it speaks at the least on an ordinary day; silent once quiet for
    # `silent_alert.after_intervals` of these (a server's cron logs hourly at least).
    expected_interval_s: int = Field(ge=60, le=7 * 86400)
    description: str = ""


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name_vi: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    networks: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    log_sources: tuple[LogSource, ...] = ()

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # strict: 10.10.1.1/24 is a typo for 10.10.1.0/24 often enough to refuse it.
        return tuple(str(ipaddress.ip_network(n, strict=True)) for n in value)

    def parsed_networks(self) -> list[Network]:
        return [ipaddress.ip_network(n) for n in self.networks]


class SilentAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Literal["low", "medium", "high", "critical"] = "medium"
    after_intervals: float = Field(default=2, ge=1, le=100)


class InventoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    silent_alert: SilentAlert = SilentAlert()
    agencies: tuple[Agency, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> InventoryFile:
        _no_repeats("agency id", [a.id for a in self.agencies])
        _no_repeats("log source id", [s.id for a in self.agencies for s in a.log_sources])
        _no_repeats("network", [n for a in self.agencies for n in a.networks])
        return self


def _no_repeats(what: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


@dataclass(frozen=True)
class Found:
    agency: Agency
    source: LogSource | None = None


class Inventory:
    """The loaded file with the lookups the hot path needs built once."""

    def __init__(self, data: InventoryFile) -> None:
        self.data = data
        self.agencies = {a.id: a for a in data.agencies}
        self.sources = {s.id: (a, s) for a in data.agencies for s in a.log_sources}
        self._exact_hosts: dict[str, Agency] = {}
        self._host_prefixes: list[tuple[str, Agency]] = []
        for agency in data.agencies:
            for host in agency.hosts:
                if host.endswith("*"):
                    self._host_prefixes.append((host[:-1].lower(), agency))
                else:
                    self._exact_hosts[host.lower()] = agency
        self._host_prefixes.sort(key=lambda p: -len(p[0]))  # the longest prefix wins
        self._table = _PrefixTable((n, a) for a in data.agencies for n in a.parsed_networks())
        # Logs name the same hosts and addresses over and over: each is looked up once.
        # Bounded, so a scan from a whole /16 cannot grow it without limit.
        self.agency_of_host = lru_cache(maxsize=CACHE_SIZE)(self._agency_of_host)  # type: ignore[method-assign]
        self.agency_of_ip = lru_cache(maxsize=CACHE_SIZE)(self._agency_of_ip)  # type: ignore[method-assign]
        self._matchers = [
            _SourceMatcher(a, s, i)
            for i, (a, s) in enumerate((a, s) for a in data.agencies for s in a.log_sources)
        ]
        # Candidates by host and observer name, so an event meets only the sources that
        # can fit it; sources matched by topic alone are tried for every event.
        self._by_host: dict[str, list[_SourceMatcher]] = {}
        self._by_observer: dict[str, list[_SourceMatcher]] = {}
        self._by_serial: dict[str, list[_SourceMatcher]] = {}
        self._topic_only: list[_SourceMatcher] = []
        for matcher in self._matchers:
            if matcher.hosts:
                for host in matcher.hosts:
                    self._by_host.setdefault(host, []).append(matcher)
            elif matcher.observers:
                for observer in matcher.observers:
                    self._by_observer.setdefault(observer, []).append(matcher)
            elif matcher.serials:
                for serial in matcher.serials:
                    self._by_serial.setdefault(serial, []).append(matcher)
            else:
                self._topic_only.append(matcher)

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> Inventory:
        return cls(load_model(path, InventoryFile, empty={}))

    def home_networks(self) -> list[Network]:
        """Every agency's networks, collapsed (adjacent and nested ones merged)."""
        nets = [n for a in self.data.agencies for n in a.parsed_networks()]
        v4 = [n for n in nets if n.version == 4]
        v6 = [n for n in nets if n.version == 6]
        return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]

    def agency_of_host(self, host: str | None) -> Agency | None:
        return self._agency_of_host(host)  # replaced by its cached form in __init__

    def agency_of_ip(self, address: str | None) -> Agency | None:
        return self._agency_of_ip(address)  # replaced by its cached form in __init__

    def _agency_of_host(self, host: str | None) -> Agency | None:
        if not host:
            return None
        name = host.lower()
        found = self._exact_hosts.get(name)
        if found is not None:
            return found
        for prefix, agency in self._host_prefixes:
            if name.startswith(prefix):
                return agency
        return None

    def _agency_of_ip(self, address: str | None) -> Agency | None:
        return self._table.lookup(address) if address else None

    def agency_of(self, event: Any, topic: str) -> Found | None:
        """The agency (and log source) of a SecurityEvent that came on `topic`."""
        observer, serial = _observer(event.ecs)
        candidates = [
            *self._by_host.get((event.host_name or "").lower(), ()),
            *self._by_observer.get((observer or "").lower(), ()),
            *(self._by_serial.get(serial, ()) if serial else ()),
            *self._topic_only,
        ]
        if len(candidates) > 1:
            candidates.sort(key=lambda m: m.order)
        for matcher in candidates:
            if matcher.fits(event, observer, serial, topic):
                return Found(matcher.agency, matcher.source)
        agency = (
            self.agency_of_host(event.host_name)
            or self.agency_of_ip(event.destination_ip)
            or self.agency_of_ip(event.source_ip)
        )
        return Found(agency) if agency else None

    def agency_of_labels(self, labels: dict[str, str] | Any) -> Agency | None:
        """For an alert none of whose events is at hand: its entity's host or address."""
        return (
            self.agency_of_host(labels.get("host_name") or labels.get("host"))
            or self.agency_of_ip(labels.get("destination_ip"))
            or self.agency_of_ip(labels.get("source_ip"))
        )


class _SourceMatcher:
    def __init__(self, agency: Agency, source: LogSource, order: int) -> None:
        self.agency, self.source, self.order = agency, source, order  # first in the file wins
        match = source.match
        self.hosts = frozenset(h.lower() for h in match.host_name)
        self.observers = frozenset(o.lower() for o in match.observer_name)
        self.serials = frozenset(match.observer_serial)
        self.datasets = frozenset(match.dataset)
        self.topic = (
            re.compile("|".join(fnmatch.translate(t) for t in match.topic)) if match.topic else None
        )

    def fits(self, event: Any, observer: str | None, serial: str | None, topic: str) -> bool:
        if self.hosts and (event.host_name or "").lower() not in self.hosts:
            return False
        if self.observers and (observer or "").lower() not in self.observers:
            return False
        if self.serials and serial not in self.serials:
            return False
        if self.datasets and event.dataset not in self.datasets:
            return False
        return self.topic is None or _topic_fits(self.topic, topic)


@lru_cache(maxsize=4096)
def _topic_fits(pattern: re.Pattern[str], topic: str) -> bool:
    # Topics are few (one per route and HTTP sender): the regex runs once per pair.
    return pattern.match(topic) is not None


def _observer(ecs: dict[str, Any]) -> tuple[str | None, str | None]:
    """(observer.name or observer.hostname, observer.serial_number) when they are text."""
    observer = ecs.get("observer") if isinstance(ecs, dict) else None
    if not isinstance(observer, dict):
        return None, None
    name = observer.get("name") or observer.get("hostname")
    serial = observer.get("serial_number")
    return (
        name if isinstance(name, str) else None,
        serial if isinstance(serial, str) else None,
    )


class _PrefixTable:
    """Longest-prefix match as a router does it: one dict per prefix length, probed from
    the longest length down. ipaddress has no lookup structure; a linear scan over every
    network would cost each event microseconds per network."""

    def __init__(self, entries: Iterable[tuple[Network, Agency]]) -> None:
        tables: dict[tuple[int, int], dict[int, Agency]] = {}
        for network, agency in entries:
            key = (network.version, network.prefixlen)
            tables.setdefault(key, {})[int(network.network_address) >> _host_bits(key)] = agency
        self._levels = sorted(tables.items(), key=lambda kv: -kv[0][1])

    def lookup(self, address: str) -> Agency | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        value = int(ip)
        for (version, _), table in self._levels:
            if version != ip.version:
                continue
            found = table.get(value >> _host_bits((version, _)))
            if found is not None:
                return found
        return None


def _host_bits(key: tuple[int, int]) -> int:
    return (32 if key[0] == 4 else 128) - key[1]


def enrich(events: Sequence[Any], topic: str, inventory: Inventory) -> list[Any]:
    """The events, each security event given its agency in its ECS document (in place):
    `organization.id` / `organization.name` (Vietnamese) and, when a log source was
    recognised, `labels.log_source`. Other events pass unchanged; so does a security
    event no agency claims (it stays without `organization`)."""
    out = []
    for event in events:
        if getattr(event, "kind", None) != "security":
            out.append(event)
            continue
        found = inventory.agency_of(event, topic)
        out.append(event if found is None else _tagged(event, found))
    return out


def _tagged(event: Any, found: Found) -> Any:
    # In place: the event was made by the decoder a moment ago and nothing else holds it
    # yet, and copying the frozen pydantic model (model_copy) cost 8 µs an event, most of
    # the enrichment's cost. The ECS document is a plain dict of its own per event (the
    # model's frozenness is about its fields, not their contents); a nested `labels`
    # dict is copied before it is changed, in case a decoder shares one between events.
    ecs = event.ecs
    ecs["organization"] = {"id": found.agency.id, "name": found.agency.name_vi}
    if found.source is not None:
        labels = ecs.get("labels")
        labels = dict(labels) if isinstance(labels, dict) else {}
        labels["log_source"] = found.source.id
        ecs["labels"] = labels
    return event


def agency_id_of(event: Any) -> str | None:
    org = event.ecs.get("organization") if isinstance(event.ecs, dict) else None
    value = org.get("id") if isinstance(org, dict) else None
    return value if isinstance(value, str) else None


_current: dict[str, Inventory] = {}


def current() -> Inventory:
    """The inventory Settings.agencies_file names, loaded once per process (a changed
    file takes effect when the processes restart, as the routes file does)."""
    inventory = _current.get("inventory")
    if inventory is None:
        from config.settings import get_settings

        inventory = Inventory.load(Path(get_settings().agencies_file))
        _current["inventory"] = inventory
    return inventory


def use(inventory: Inventory | None) -> None:
    """Replace (None: forget) the process's inventory: tests, and a reload."""
    _current.pop("inventory", None)
    if inventory is not None:
        _current["inventory"] = inventory


def enrich_security(events: list[Any], topic: str) -> list[Any]:
    """`enrich` with the process's inventory, for the ingest path (ingest/decode.py).

    A message's events come from one format, so a message whose first event is not a
    security event is passed on untouched at the cost of one attribute read. The worker
    loads the inventory with its detectors (processors/catalog.py): a broken file stops
    it from starting, as a broken rule pack does, and a reload with one keeps the running
    inventory. Should it still fail to load here, ingest goes on: the events are stored
    without their agency and the error is logged once a minute."""
    if not events or getattr(events[0], "kind", None) != "security":
        return events
    try:
        inventory = current()
    except (ConfigErrors, OSError) as error:
        _load_errors.report("agency inventory", error)
        return events
    try:
        return enrich(events, topic, inventory)
    except Exception as error:  # a bug here must cost the agency, never the message
        _load_errors.report("agency of a security event", error)
        return events


def home_networks() -> list[Network]:
    """The union of the agencies' networks of the configured inventory (for part D)."""
    return current().home_networks()
