"""The agency label of security alerts, added around the security detectors.

A wrapper rather than a change in each detector: the detectors stay pure functions of
their events, and one place decides where an alert's agency comes from:

1. the agency of the newest of the signal's events that is in the batch (the event that
   made it fire: its agency was set on the way in, config/agencies.py);
2. else the agency of the alert's entity labels (host name, destination or source
   address), e.g. a signal a tick raised with no event at hand;
3. else `unknown`, so that every security alert has the label and a per-agency count
   never silently drops one.

The label is part of the alert's identity (its fingerprint): the same attacker against
two agencies is two alerts, one in each agency's summary. Security detectors fire once
per window per entity, so one episode keeps one agency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from config.agencies import UNKNOWN, Inventory, agency_id_of
from events.alerts import Signal
from processors.detector import Detector, Outcome, State, TimedDetector

LABEL = "agency"


def agency_label(signal: Signal, events_by_id: Mapping[str, Any], inventory: Inventory) -> str:
    for event_id in reversed(signal.event_ids):
        event = events_by_id.get(event_id)
        if event is not None:
            found = agency_id_of(event)
            if found is not None:
                return found
    agency = inventory.agency_of_labels(signal.labels)
    return agency.id if agency is not None else UNKNOWN


def with_agency(
    signals: Sequence[Signal], events: Sequence[Any], inventory: Inventory
) -> list[Signal]:
    if not signals:
        return list(signals)
    by_id = {getattr(e, "event_id", None): e for e in events}
    out = []
    for signal in signals:
        if LABEL in signal.labels:
            out.append(signal)  # a detector that names the agency itself is believed
            continue
        labels = {**signal.labels, LABEL: agency_label(signal, by_id, inventory)}
        out.append(replace(signal, labels=labels))
    return out


class AgencyLabelled:
    """A security detector whose signals carry `agency`; same name, keys and state."""

    def __init__(self, inner: Detector, inventory: Inventory) -> None:
        self.inner = inner
        self.name = inner.name
        self.inventory = inventory

    def keys(self, events: Sequence[Any]) -> set[str]:
        return self.inner.keys(events)

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = self.inner.process(states, events)
        outcome.signals = with_agency(outcome.signals, events, self.inventory)
        return outcome


class TimedAgencyLabelled(AgencyLabelled):
    """The same for a detector that also decides on silence (TimedDetector)."""

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        outcome = self.inner.tick(states, quiet)  # type: ignore[attr-defined]
        outcome.signals = with_agency(outcome.signals, (), self.inventory)
        return outcome


def labelled(detectors: Sequence[Detector], inventory: Inventory) -> list[Detector]:
    """The security detectors, each wrapped (a timed one keeps its tick)."""
    return [
        TimedAgencyLabelled(d, inventory)
        if isinstance(d, TimedDetector)
        else AgencyLabelled(d, inventory)
        for d in detectors
    ]
