"""Port and host scans: one source touching many destination ports on one host
(vertical) or many destination hosts (horizontal sweep) within the window.

Counts connection records from firewalls (iptables/ufw, firewall CEF) and Suricata flows,
allowed or dropped alike: a scan shows in both. Distinct counts are idempotent, so the
same connection seen by the firewall and by Suricata is counted once.

State per source address (plain JSON), each entry [newest epoch seconds, event id]:
  hosts: {destination ip: entry}            newest `kept(distinct_hosts)` hosts
  ports: {destination ip: {port: entry}}    newest `kept(distinct_ports)` ports for each
                                            of the PORT_HOSTS most recently touched hosts
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from events.alerts import Signal
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.detectors.rules import (
    PortScanSpec,
    Rule,
)
from processors.security.detectors.rules.windows import (
    advance,
    epoch,
    kept,
    may_fire,
    ordered,
    security_events,
    settle,
    shown_count,
)

# Hosts whose port sets a source keeps: a vertical scan is on one or a few hosts; a
# sweep over thousands of hosts must not grow the state with a port set each.
PORT_HOSTS = 8
Entry = list[Any]  # [epoch seconds, event id]


class PortScanDetector:
    def __init__(self, rule: Rule[PortScanSpec]):
        self.rule = rule
        self.name = rule.id
        self._ignored = rule.spec.ignore_sources
        self._host_cap = kept(rule.spec.distinct_hosts)
        self._port_cap = kept(rule.spec.distinct_ports)

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(self._grouped(events))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for key, batch in self._grouped(events).items():
            state, signals = self._run(key, states.get(key), batch)
            settle(outcome, states, key, state)
            outcome.signals.extend(signals)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[SecurityEvent]]:
        grouped: dict[str, list[SecurityEvent]] = {}
        for event in security_events(events):
            if self._counts(event) and event.source_ip:
                grouped.setdefault(event.source_ip, []).append(event)
        return grouped

    def _counts(self, event: SecurityEvent) -> bool:
        if not event.source_ip or not event.destination_ip or not self.rule.selects(event):
            return False
        source = ipaddress.ip_address(event.source_ip)
        return not any(source in network for network in self._ignored)

    def _run(
        self, key: str, state: State | None, events: list[SecurityEvent]
    ) -> tuple[State | None, list[Signal]]:
        signals = []
        window = self.rule.window
        for event in events:
            moment = epoch(event.time)
            current, newest, horizon = advance(state, moment, window, _fresh)
            if moment <= horizon:
                continue  # too late for the window
            hosts, ports = self._touch(current, event, moment, horizon)
            fired = current["fired"]
            state = {
                "hosts": hosts,
                "ports": ports,
                "fired": fired,
                "last": newest,
                "expires": newest + window,
            }
            signal = self._check(key, event, hosts, ports)
            if signal is not None and may_fire(fired, newest, window):
                state["fired"] = newest
                signals.append(signal)
        return state, signals

    def _touch(
        self, state: State, event: SecurityEvent, moment: float, horizon: float
    ) -> tuple[dict[str, Entry], dict[str, dict[str, Entry]]]:
        host = str(event.destination_ip)
        hosts = _newest(_inside(state["hosts"], horizon), host, [moment, event.event_id])
        hosts = _capped(hosts, self._host_cap)
        ports = {h: _inside(p, horizon) for h, p in state["ports"].items()}
        ports = {h: p for h, p in ports.items() if p}
        if event.destination_port is not None:
            entry = [moment, event.event_id]
            table = _newest(ports.get(host, {}), str(event.destination_port), entry)
            ports[host] = _capped(table, self._port_cap)
            # The port sets of the hosts touched most recently are the ones kept.
            recent = sorted(ports, key=lambda h: (max(e[0] for e in ports[h].values()), h))
            ports = {h: ports[h] for h in recent[-PORT_HOSTS:]}
        return hosts, ports

    def _check(
        self,
        source_ip: str,
        event: SecurityEvent,
        hosts: dict[str, Entry],
        ports: dict[str, dict[str, Entry]],
    ) -> Signal | None:
        spec = self.rule.spec
        target = max(ports, key=lambda h: (len(ports[h]), h), default=None)
        vertical = target is not None and len(ports[target]) >= spec.distinct_ports
        horizontal = len(hosts) >= spec.distinct_hosts
        if not (vertical or horizontal):
            return None
        port_count = shown_count(len(ports[target]), self._port_cap) if target else "0"
        host_count = shown_count(len(hosts), self._host_cap)
        kinds_vi, kinds_en, ids = [], [], []
        if vertical and target is not None:
            kinds_vi.append(f"chạm tới {port_count} cổng khác nhau trên {target}")
            kinds_en.append(f"touched {port_count} distinct ports on {target}")
            ids.extend(e[1] for e in ports[target].values())
        if horizontal:
            kinds_vi.append(f"chạm tới {host_count} máy khác nhau")
            kinds_en.append(f"touched {host_count} distinct hosts")
            ids.extend(e[1] for e in hosts.values())
        kind = (
            "vertical+horizontal"
            if vertical and horizontal
            else ("vertical" if vertical else "horizontal")
        )
        return self.rule.signal(
            labels={"source_ip": source_ip},
            at=event.time,
            fields={
                "source_ip": source_ip,
                "ports": port_count,
                "hosts": host_count,
                "target": target or "-",
                "kind_vi": " và ".join(kinds_vi),
                "kind_en": " and ".join(kinds_en),
            },
            values={
                "kind": kind,
                "distinct_ports": port_count,
                "target": target,
                "distinct_hosts": host_count,
                "ports": sorted(ports.get(target, {}), key=int)[:50] if target else [],
            },
            event_ids=list(dict.fromkeys(ids)),
        )


def _fresh(moment: float) -> State:
    return {"hosts": {}, "ports": {}, "fired": None, "last": moment, "expires": moment}


def _inside(table: Mapping[str, Entry], horizon: float) -> dict[str, Entry]:
    return {name: entry for name, entry in table.items() if entry[0] > horizon}


def _newest(table: dict[str, Entry], name: str, entry: Entry) -> dict[str, Entry]:
    """The table with `name` seen at entry's time, keeping its newest sighting."""
    known = table.get(name)
    if known is not None and known[0] >= entry[0]:
        return table
    return {**table, name: entry}


def _capped(table: dict[str, Entry], cap: int) -> dict[str, Entry]:
    if len(table) <= cap:
        return table
    newest = sorted(table.items(), key=lambda item: (item[1][0], item[0]))[-cap:]
    return dict(newest)
