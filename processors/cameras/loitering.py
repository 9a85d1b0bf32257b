"""Loitering: an object (of the rule's classes, people by default) standing still in a
zone longer than the zone's `loitering_seconds` (deploy/cameras/registry.yaml).

Frigate marks a tracked object `stationary` once it stops moving; the first frame it is
stationary in a zone starts the clock. Frigate sends nothing for an object that keeps
still, so the camera's other events move the clock too, and so does silence (tick():
the clock moved on by the time nothing came). The alert fires when either shows that
an object has stood still long enough. One alert per zone; it resolves when no object
stands still there any longer (it moved, left, its event ended, or nothing was heard of
it for forget_after_seconds).

State per camera (plain JSON, common.Tracks): clock, live {event id: {last, since,
zones, label, snapshot}} for stationary objects in loitering zones, ended {event id:
last} (so a re-delivered message does not bring one back), firing {zone: [event ids]}.
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
from processors.environment.engine.durations import format_duration

RULE = "camera.loitering"


class LoiteringDetector(PerKeyDetector):
    name = RULE

    def __init__(self, registry: Registry, rules: CameraRules) -> None:
        self.registry = registry
        self.rules = rules
        self.spec = rules.loitering
        self._cameras = {
            cid
            for cid, camera in registry.cameras.items()
            if any(z.loitering_seconds for z in camera.zones.values())
        }

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[CameraEvent]]:
        return by_camera(events, lambda e: e.camera in self._cameras and is_object(e))

    def _run(
        self, camera_id: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[Signal]]:
        camera = self.registry.cameras[camera_id]
        tracks = self._tracks(stored)
        firing: dict[str, list[str]] = dict(stored["firing"]) if stored else {}
        signals: list[Signal] = []
        for event in events:
            t = epoch(moment(event))
            clock = tracks.tick(t)
            skip, known = tracks.known(event.event_id, t)
            if skip:
                continue  # re-sent, older than what we know, or over
            tracked = self._track(camera, event, t, known)
            if event.state == "end" and event.label in self.spec.labels:
                tracks.end(event.event_id, t)
            elif tracked is None:
                tracks.live.pop(event.event_id, None)
            else:
                tracks.live[event.event_id] = tracked
            live = tracks.current()
            firing, changed = self._evaluate(camera, live, firing, clock)
            # A resolution happens at this message (or the clock, if it is older).
            at = moment(event) if epoch(moment(event)) >= clock else from_epoch(clock)
            for zone, ids in changed:
                signals.append(self._signal(camera_id, camera, zone, live, ids, at))
        return tracks.state(firing=firing), signals

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        """Frigate says nothing of an object that keeps still: in the silence one that
        has stood long enough fires, and objects silent past objects.forget_after_seconds
        are forgotten (their zone resolves)."""
        outcome = Outcome()
        for camera_id, stored in sorted(states.items()):
            camera = self.registry.cameras.get(camera_id)
            if camera is None:
                continue  # no longer in the registry: its events are not run either
            tracks = self._tracks(stored)
            clock = tracks.tick(clock_after(stored, quiet[camera_id]))
            live = tracks.current()
            firing, changed = self._evaluate(camera, live, stored["firing"], clock)
            state = tracks.state(firing=firing)
            if not changed and unchanged(stored, state):
                continue
            outcome.states[camera_id] = state
            at = from_epoch(clock)
            for zone, ids in changed:
                outcome.signals.append(self._signal(camera_id, camera, zone, live, ids, at))
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _tracks(self, stored: State | None) -> Tracks:
        objects = self.rules.objects
        return Tracks(
            stored, objects.forget_after_seconds, objects.max_per_camera, objects.ended_per_camera
        )

    def _track(
        self, camera: Camera, event: CameraEvent, t: float, known: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The object's entry after this message; None when it is not loitering-prone."""
        if event.state == "end" or not event.stationary or event.label not in self.spec.labels:
            return None
        zones = [k for k, z in camera.zones_of(current_zones(event)) if z.loitering_seconds]
        if not zones:
            return None
        since = known["since"] if known else t
        return {
            "last": t,
            "since": since,
            "zones": zones,
            "label": event.label,
            "snapshot": event.snapshot or (known["snapshot"] if known else None),
        }

    def _evaluate(
        self,
        camera: Camera,
        objects: Mapping[str, Mapping[str, Any]],
        firing: Mapping[str, list[str]],
        clock: float,
    ) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
        """Which zones have loiterers now, and the zones whose alert changes."""
        now: dict[str, list[str]] = {}
        for object_id, entry in sorted(objects.items()):
            for zone in entry["zones"]:
                spec = camera.zones.get(zone)  # None: dropped from the registry since
                if spec and clock - entry["since"] >= (spec.loitering_seconds or 0):
                    now.setdefault(zone, []).append(object_id)
        changed = [(z, ids) for z, ids in now.items() if z not in firing]
        changed += [(z, []) for z in firing if z not in now]
        return now, sorted(changed)

    def _signal(
        self,
        camera_id: str,
        camera: Camera,
        zone: str,
        objects: Mapping[str, Mapping[str, Any]],
        ids: list[str],
        resolved_at: datetime,
    ) -> Signal:
        zone_spec = camera.zones.get(zone)
        limit = (zone_spec.loitering_seconds if zone_spec else None) or 0
        found = [objects[i] for i in ids]
        # Fired when the first of them had stood still long enough.
        at = from_epoch(min(o["since"] for o in found) + limit) if found else resolved_at
        label = found[0]["label"] if found else self.spec.labels[0]
        snapshot = next((o["snapshot"] for o in found if o["snapshot"]), None)
        return make_signal(
            RULE,
            self.spec,
            self.registry,
            camera=camera_id,
            labels={"camera": camera_id, "zone": zone},
            firing=bool(found),
            at=at,
            fields={
                "zone": zone,
                "zone_name": (zone_spec.name if zone_spec else None) or zone,
                "label_vi": self.rules.label_vi(label),
                "label_en": label,
                "duration": format_duration(from_epoch(limit) - from_epoch(0)),
                "count": len(found),
            },
            values={"zone": zone, "objects": len(found), "loitering_seconds": limit},
            event_ids=ids,
            snapshot=snapshot,
        )
