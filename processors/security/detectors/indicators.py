"""Indicator matches: an event whose addresses, domains or file hashes are on an
indicator list (processors/security/indicators/). The FIRST matching event raises the
signal; repeats of the same indicator value are quiet for the window and then raise one
more with the count.

One key per observed value (the address, the domain as seen, the hash), whatever list
and field it matched through, so the alert is "198.51.100.66 was seen", with the hosts
that talked to it in its values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events.alerts import Signal
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.detectors.rules import (
    IndicatorMatchSpec,
    Rule,
)
from processors.security.detectors.rules.windows import (
    epoch,
    joined,
    ordered,
    security_events,
    settle,
    tally,
)
from processors.security.indicators.loader import Indicator, IndicatorSet

_TYPE_NAMES = {"ip": "IP", "domain": "domain", "md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    observed: str
    field: str
    indicator: Indicator


class IndicatorDetector:
    def __init__(self, rule: Rule[IndicatorMatchSpec], indicators: IndicatorSet):
        self.rule = rule
        self.name = rule.id
        self.indicators = indicators

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(self._grouped(events))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for key, batch in self._grouped(events).items():
            state = states.get(key)
            for event, match in batch:
                involved = _involved(event, match)
                counted = tally(state, event, self.rule.window, {"hosts": involved})
                if counted is None:
                    continue
                state, fire = counted
                if fire:
                    state["fired"] = state["last"]
                    outcome.signals.append(self._signal(event, match, state))
            settle(outcome, states, key, state)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def matches(self, event: SecurityEvent) -> list[Match]:
        """Every indicator the event carries, once per observed value."""
        if not len(self.indicators) or not self.rule.selects(event):
            return []
        moment = epoch(event.time)
        found: dict[str, Match] = {}
        for match in self._lookups(event):
            if match.indicator.valid_at(moment):
                found.setdefault(match.key, match)
        return list(found.values())

    def _lookups(self, event: SecurityEvent) -> Iterator[Match]:
        view = self.rule.fieldmap.view(event)
        fields = self.rule.spec.fields
        table = (
            ("ip", fields.ip, self.indicators.match_ip),
            ("domain", fields.domain, self.indicators.match_domain),
            ("hash", fields.hash, self.indicators.match_hash),
        )
        for kind, paths, lookup in table:
            for path in paths:
                value = self.rule.read(view, path)
                if not isinstance(value, str) or not value:
                    continue
                indicator = lookup(value)
                if indicator is not None:
                    observed = _canonical(kind, value)
                    yield Match(f"{indicator.type}|{observed}", observed, path, indicator)

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[tuple[SecurityEvent, Match]]]:
        grouped: dict[str, list[tuple[SecurityEvent, Match]]] = {}
        for event in security_events(events):
            for match in self.matches(event):
                grouped.setdefault(match.key, []).append((event, match))
        return grouped

    def _signal(self, event: SecurityEvent, match: Match, state: State) -> Signal:
        indicator = match.indicator
        type_name = _TYPE_NAMES[indicator.type]
        hosts = state["notes"]["hosts"]
        return self.rule.signal(
            labels={"indicator_type": indicator.type, "indicator": match.observed},
            at=event.time,
            fields={
                "indicator": match.observed,
                "indicator_type": type_name,
                "listed_as": indicator.value,
                "field": match.field,
                "hosts": joined(hosts),
                "count": state["count"],
                "source": indicator.name or indicator.source,
            },
            values={
                "listed_as": indicator.value,
                "list_source": indicator.source,
                "indicator_name": indicator.name,
                "field": match.field,
                "hosts": hosts,
                "events": state["count"],
                "dataset": event.dataset,
            },
            event_ids=state["ids"],
        )


def _canonical(kind: str, value: str) -> str:
    if kind == "ip":
        return str(ipaddress.ip_address(value.strip()))  # it matched, so it parses
    return value.strip().rstrip(".").lower()


def _involved(event: SecurityEvent, match: Match) -> str | None:
    """Our side of the event: the address at the other end from a listed address, the
    client of a listed domain or file; the logging host when there is no address (an
    IDS or firewall names itself in host.name, so it comes last)."""
    if match.field == "source.ip":
        return event.destination_ip or event.host_name
    return event.source_ip or event.host_name
