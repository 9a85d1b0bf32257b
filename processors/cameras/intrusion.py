"""Intrusion: a person or vehicle of a zone's restricted classes in the zone while it is
closed (deploy/cameras/registry.yaml). One alert per episode, not per frame.

Sightings come from Frigate's tracked objects (the zones the object is in at that
frame) and from the cameras' own intrusion / region-entrance events (ISAPI
fielddetection, ONVIF FieldDetector: zones by their aliases). An episode of a zone
starts with a sighting while the zone is closed (FIRING) and ends once the camera's
events, or the silence after them (tick()), move `episode_gap_seconds` past the last
sighting (RESOLVED at that moment), so the next sighting is a new alert. Open hours
never fire: a sighting then is no intrusion.

State per camera (plain JSON): clock (newest event time seen, epoch seconds) and, per
zone with an open episode: first, last (epoch s), count, ids (first MAX_IDS event ids),
labels, snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from events.alerts import Signal
from events.models import CameraEvent
from processors.cameras.common import (
    PerKeyDetector,
    by_camera,
    clock_after,
    current_zones,
    epoch,
    from_epoch,
    listed,
    make_signal,
    moment,
    ordered,
)
from processors.cameras.registry import Registry, Zone
from processors.cameras.rules import CameraRules
from processors.detector import Outcome, State
from processors.environment.engine.text import local_time

RULE = "camera.intrusion"
# Camera events that say "something is in the zone" (besides Frigate's objects).
ZONE_EVENTS = frozenset({"intrusion", "region_entrance"})


class IntrusionDetector(PerKeyDetector):
    name = RULE

    def __init__(self, registry: Registry, rules: CameraRules) -> None:
        self.registry = registry
        self.rules = rules
        self.spec = rules.intrusion
        self._cameras = {
            cid
            for cid, camera in registry.cameras.items()
            if any(z.restricted for z in camera.zones.values())
        }

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[CameraEvent]]:
        return by_camera(events, lambda e: e.camera in self._cameras)

    def _run(
        self, camera_id: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[Signal]]:
        clock = stored["clock"] if stored else None
        episodes: dict[str, dict[str, Any]] = dict(stored["zones"]) if stored else {}
        signals: list[Signal] = []
        for event in events:
            t = epoch(moment(event))
            clock = t if clock is None else max(clock, t)
            signals.extend(self._expire(camera_id, episodes, clock))
            for zone in self._sighted(camera_id, event):
                episode = episodes.get(zone)
                if episode is None:
                    episodes[zone] = episode = _episode(event, t)
                    signals.append(self._firing(camera_id, zone, episode, event))
                    continue
                episodes[zone] = _seen(episode, event, t)
                if episode["snapshot"] is None and event.snapshot:
                    # The first picture of the episode: the open alert gets it.
                    signals.append(self._firing(camera_id, zone, episodes[zone], event))
        if not episodes:
            return None, signals
        return {"clock": clock, "zones": episodes}, signals

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        """Episodes idle past the gap resolve without waiting for the camera's next
        event (an intruder who left is followed by silence, not by an event)."""
        outcome = Outcome()
        for camera_id, stored in sorted(states.items()):
            episodes: dict[str, dict[str, Any]] = dict(stored["zones"])
            clock = clock_after(stored, quiet[camera_id])
            signals = self._expire(camera_id, episodes, clock)
            if not signals:
                continue
            outcome.states[camera_id] = {"clock": clock, "zones": episodes} if episodes else None
            outcome.signals.extend(signals)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _expire(
        self, camera_id: str, episodes: dict[str, dict[str, Any]], clock: float
    ) -> list[Signal]:
        """Close (remove and resolve) the episodes the clock is more than the gap past."""
        gap = self.spec.episode_gap_seconds
        over = [z for z, ep in episodes.items() if clock - ep["last"] > gap]
        return [self._resolved(camera_id, zone, episodes.pop(zone)) for zone in over]

    def _sighted(self, camera_id: str, event: CameraEvent) -> list[str]:
        """Registry zones this event puts a restricted object in while they are closed."""
        if event.false_positive:
            return []
        if event.event_type == "object":
            if event.state not in ("new", "update", "end"):
                return []
        elif event.event_type not in ZONE_EVENTS or event.state != "active":
            return []
        camera = self.registry.camera(camera_id)
        if camera is None:
            return []
        at = moment(event)
        return [
            key
            for key, zone in camera.zones_of(current_zones(event))
            if self._restricted(zone, event) and self.registry.closed(zone, at)
        ]

    @staticmethod
    def _restricted(zone: Zone, event: CameraEvent) -> bool:
        if zone.restricted is None:
            return False
        # A camera's own intrusion event need not say what it saw.
        if event.label is None:
            return event.event_type != "object"
        return event.label in zone.restricted.labels

    def _fields(self, camera_id: str, zone: str, episode: Mapping[str, Any]) -> dict[str, Any]:
        camera = self.registry.camera(camera_id)
        found = camera.zone(zone) if camera else None
        restricted = found[1].restricted if found else None
        labels = episode["labels"]
        return {
            "zone": zone,
            "zone_name": (found[1].name if found else "") or zone,
            "labels_vi": ", ".join(self.rules.label_vi(lb) for lb in labels) or "đối tượng",
            "labels_en": ", ".join(labels) or "someone",
            "closed": ", ".join(str(w) for w in restricted.closed) if restricted else "-",
            "since": local_time(from_epoch(episode["first"])),
            "count": episode["count"],
        }

    def _firing(
        self, camera_id: str, zone: str, episode: Mapping[str, Any], event: CameraEvent
    ) -> Signal:
        return self._signal(camera_id, zone, episode, True, moment(event))

    def _resolved(self, camera_id: str, zone: str, episode: Mapping[str, Any]) -> Signal:
        at = from_epoch(episode["last"] + self.spec.episode_gap_seconds)
        return self._signal(camera_id, zone, episode, False, at)

    def _signal(
        self, camera_id: str, zone: str, episode: Mapping[str, Any], firing: bool, at: Any
    ) -> Signal:
        return make_signal(
            RULE,
            self.spec,
            self.registry,
            camera=camera_id,
            labels={"camera": camera_id, "zone": zone},
            firing=firing,
            at=at,
            fields=self._fields(camera_id, zone, episode),
            values={
                "zone": zone,
                "labels": list(episode["labels"]),
                "sightings": episode["count"],
                "first_seen": from_epoch(episode["first"]).isoformat(),
                "last_seen": from_epoch(episode["last"]).isoformat(),
            },
            event_ids=episode["ids"],
            snapshot=episode["snapshot"],
        )


def _episode(event: CameraEvent, t: float) -> dict[str, Any]:
    return {
        "first": t,
        "last": t,
        "count": 1,
        "ids": [event.event_id],
        "labels": [event.label] if event.label else [],
        "snapshot": event.snapshot,
    }


def _seen(episode: Mapping[str, Any], event: CameraEvent, t: float) -> dict[str, Any]:
    labels = episode["labels"]
    if event.label and event.label not in labels:
        labels = [*labels, event.label]
    return {
        "first": min(episode["first"], t),
        "last": max(episode["last"], t),
        "count": episode["count"] + 1,
        "ids": listed(episode["ids"], event.event_id),
        "labels": labels,
        "snapshot": episode["snapshot"] or event.snapshot,
    }
