"""Crowding: at least the zone's `crowding_people` people in it at once
(deploy/cameras/registry.yaml), counted from Frigate's active tracked objects.

A person is in a zone from the message that puts it there until a message moves it out
or ends its event (or nothing is heard of it for objects.forget_after_seconds). One alert
per zone: FIRING when the count reaches the threshold, RESOLVED once it is down to
threshold - clear_margin.

State per camera (plain JSON, common.Tracks): clock, live {event id: {last, zones,
snapshot}} for people in crowding zones, ended {event id: last} (so a re-delivered
message does not bring one back), firing {zone: true}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from events.alerts import Signal
from events.models import CameraEvent
from processors.cameras.common import (
    PerKeyDetector,
    Tracks,
    by_camera,
    clock_after,
    current_zones,
    epoch,
    from_epoch,
    is_object,
    make_signal,
    moment,
    ordered,
    unchanged,
)
from processors.cameras.registry import Camera, Registry
from processors.cameras.rules import CameraRules
from processors.detector import Outcome, State

RULE = "camera.crowding"
PERSON = "person"


class CrowdingDetector(PerKeyDetector):
    name = RULE

    def __init__(self, registry: Registry, rules: CameraRules) -> None:
        self.registry = registry
        self.rules = rules
        self.spec = rules.crowding
        self._cameras = {
            cid
            for cid, camera in registry.cameras.items()
            if any(z.crowding_people for z in camera.zones.values())
        }

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[CameraEvent]]:
        return by_camera(
            events, lambda e: e.camera in self._cameras and is_object(e) and e.label == PERSON
        )

    def _run(
        self, camera_id: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[Signal]]:
        camera = self.registry.cameras[camera_id]
        tracks = self._tracks(stored)
        firing: dict[str, bool] = dict(stored["firing"]) if stored else {}
        signals: list[Signal] = []
        for event in events:
            t = epoch(moment(event))
            tracks.tick(t)
            skip, known = tracks.known(event.event_id, t)
            if skip:
                continue  # re-sent, older than what we know, or over
            zones = [k for k, z in camera.zones_of(current_zones(event)) if z.crowding_people]
            touched = {*zones, *(known["zones"] if known else ()), *firing}
            if event.state == "end":
                tracks.end(event.event_id, t)
            elif not zones:
                tracks.live.pop(event.event_id, None)
            else:
                snapshot = event.snapshot or (known["snapshot"] if known else None)
                tracks.live[event.event_id] = {"last": t, "zones": zones, "snapshot": snapshot}
            people = tracks.current()
            for zone in sorted(touched):
                inside = self._flip(camera, zone, people, firing)
                if inside is None:
                    continue
                # The message's own picture when it is one of the crowd.
                hint = event.snapshot if event.event_id in inside else None
                signals.append(
                    self._signal(camera_id, camera, zone, inside, people, moment(event), hint)
                )
        return tracks.state(firing=firing), signals

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        """People silent past objects.forget_after_seconds (their end message was
        lost) leave the count, so a crowd nobody reports on any more resolves."""
        outcome = Outcome()
        for camera_id, stored in sorted(states.items()):
            camera = self.registry.cameras.get(camera_id)
            if camera is None:
                continue  # no longer in the registry: its events are not run either
            tracks = self._tracks(stored)
            clock = tracks.tick(clock_after(stored, quiet[camera_id]))
            firing: dict[str, bool] = dict(stored["firing"])
            people = tracks.current()
            at = from_epoch(clock)
            signals = []
            for zone in sorted(firing):
                inside = self._flip(camera, zone, people, firing)
                if inside is not None:
                    signals.append(self._signal(camera_id, camera, zone, inside, people, at, None))
            state = tracks.state(firing=firing)
            if signals or not unchanged(stored, state):
                outcome.states[camera_id] = state
                outcome.signals.extend(signals)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _tracks(self, stored: State | None) -> Tracks:
        objects = self.rules.objects
        return Tracks(
            stored, objects.forget_after_seconds, objects.max_per_camera, objects.ended_per_camera
        )

    def _flip(
        self,
        camera: Camera,
        zone: str,
        people: Mapping[str, Mapping[str, Any]],
        firing: dict[str, bool],
    ) -> list[str] | None:
        """The people in the zone when its alert changes (firing updated), else None."""
        threshold = self._threshold(camera, zone)
        inside = sorted(k for k, p in people.items() if zone in p["zones"])
        count = len(inside)
        if not firing.get(zone) and threshold and count >= threshold:
            firing[zone] = True
        elif firing.get(zone) and count <= max(0, threshold - self.spec.clear_margin):
            del firing[zone]
        else:
            return None
        return inside

    @staticmethod
    def _threshold(camera: Camera, zone: str) -> int:
        spec = camera.zones.get(zone)  # None: dropped from the registry since (resolves)
        return (spec.crowding_people if spec else None) or 0

    def _signal(
        self,
        camera_id: str,
        camera: Camera,
        zone: str,
        inside: list[str],
        people: Mapping[str, Mapping[str, Any]],
        at: datetime,
        hint: str | None,
    ) -> Signal:
        threshold = self._threshold(camera, zone)
        # Fired at the threshold, resolved below it (a zone gone from the registry: 0).
        firing = bool(threshold) and len(inside) >= threshold
        snapshot = hint or next(
            (people[i]["snapshot"] for i in inside if people[i]["snapshot"]), None
        )
        return make_signal(
            RULE,
            self.spec,
            self.registry,
            camera=camera_id,
            labels={"camera": camera_id, "zone": zone},
            firing=firing,
            at=at,
            fields={
                "zone": zone,
                "zone_name": (spec.name if (spec := camera.zones.get(zone)) else None) or zone,
                "count": len(inside),
                "threshold": threshold,
            },
            values={"zone": zone, "people": len(inside), "threshold": threshold},
            event_ids=inside[:20],
            snapshot=snapshot,
        )
