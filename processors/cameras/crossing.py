"""Line crossings: LineCrossing records (no alert), counted per minute into readings.

From Frigate: the bottom centre of one tracked object's box, message after message.
Its side of each counting line is decided only outside a band of `crossing.band` around
the line, so a box jittering on the line has no side; a crossing is a change of decided
side whose path passes through the drawn segment (an object walking round the end of
the line does not cross it). Each object counts at most once per line and direction
(a person stepping back and forth over a line counts one in and one out, whatever the
jitter), and a message not newer than the object's last one is ignored, so a re-sent
frame never counts twice. Direction: see processors/cameras/registry.py.

From Hikvision ISAPI and ONVIF: the camera's own line-crossing event (active), its line
by alias, its direction by the line's direction words.

State per camera (plain JSON, common.Tracks): clock, live {event id: {last, lines:
{line: [side, x, y, [directions counted]]}}}, ended {event id: last} (so a re-delivered
message of an ended object is not a new track).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from events.camera_records import LineCrossing
from events.models import CameraEvent
from processors.cameras.common import (
    Tracks,
    by_camera,
    clock_after,
    epoch,
    moment,
    settle,
    unchanged,
)
from processors.cameras.geometry import foot, segments_cross, side
from processors.cameras.registry import Camera, Line, Registry
from processors.cameras.rules import CameraRules
from processors.detector import Outcome, State

NAME = "camera.crossing"
LINE_EVENT = "line_crossing"


class CrossingDetector:
    name = NAME

    def __init__(self, registry: Registry, rules: CameraRules) -> None:
        self.registry = registry
        self.rules = rules
        self.band = rules.crossing.band
        self._drawn = {
            cid
            for cid, camera in registry.cameras.items()
            if camera.frame and any(line.points for line in camera.lines.values())
        }
        self._lined = {cid for cid, camera in registry.cameras.items() if camera.lines}

    def keys(self, events: Sequence[Any]) -> set[str]:
        # A camera's own line events need no state, but the runner calls process() only
        # for a batch with keys: they name their camera's row too.
        reported = {e.camera for e in events if isinstance(e, CameraEvent) and self._reported(e)}
        return set(by_camera(events, self._tracked)) | reported

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for camera_id, batch in by_camera(events, self._tracked).items():
            state, records = self._run(camera_id, states.get(camera_id), batch)
            settle(outcome, states, camera_id, state)
            outcome.records.extend(records)
        for event in events:
            if isinstance(event, CameraEvent) and self._reported(event):
                outcome.records.extend(self._camera_said(event))
        outcome.records.sort(key=lambda r: (r.time, r.camera, r.line, r.event_id, r.direction))
        return outcome

    def _tracked(self, event: CameraEvent) -> bool:
        return (
            event.camera in self._drawn
            and event.event_type == "object"
            and event.box is not None
            and not event.false_positive
        )

    def _reported(self, event: CameraEvent) -> bool:
        return (
            event.camera in self._lined
            and event.event_type == LINE_EVENT
            and event.state in ("active", "new")
        )

    def _run(
        self, camera_id: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[LineCrossing]]:
        camera = self.registry.cameras[camera_id]
        assert camera.frame is not None  # _drawn
        tracks = self._tracks(stored)
        records: list[LineCrossing] = []
        for event in events:
            t = epoch(moment(event))
            tracks.tick(t)
            skip, known = tracks.known(event.event_id, t)
            if skip:
                continue  # re-sent, older than what this object already showed, or over
            assert event.box is not None  # _tracked
            # A ten-thousandth of the frame is below a pixel; fewer digits, smaller state.
            x, y = foot(event.box, camera.frame.width, camera.frame.height)
            point = (round(x, 4), round(y, 4))
            lines = dict(known["lines"]) if known else {}
            for key, line in camera.lines.items():
                entry, crossing = self._step(key, line, lines.get(key), point, event)
                if entry is not None:
                    lines[key] = entry
                if crossing is not None:
                    records.append(crossing)
            if event.state == "end":
                tracks.end(event.event_id, t)
            else:
                tracks.live[event.event_id] = {"last": t, "lines": lines}
        return tracks.state(), records

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        """Objects silent past objects.forget_after_seconds are dropped, so a
        camera that went quiet does not keep its last tracks for ever. No records."""
        outcome = Outcome()
        for camera_id, stored in sorted(states.items()):
            tracks = self._tracks(stored)
            tracks.tick(clock_after(stored, quiet[camera_id]))
            state = tracks.state()
            if not unchanged(stored, state):
                outcome.states[camera_id] = state
        return outcome

    def _tracks(self, stored: State | None) -> Tracks:
        objects = self.rules.objects
        return Tracks(
            stored, objects.forget_after_seconds, objects.max_per_camera, objects.ended_per_camera
        )

    def _step(
        self,
        key: str,
        line: Line,
        entry: list[Any] | None,
        point: tuple[float, float],
        event: CameraEvent,
    ) -> tuple[list[Any] | None, LineCrossing | None]:
        """The object's new [side, x, y, counted] for the line, and a crossing if any."""
        if line.points is None:
            return entry, None
        a, b = line.points
        now = side(a, b, point, self.band)
        if now == 0:
            return entry, None  # on the line: no decided side
        if entry is None:
            return [now, point[0], point[1], []], None
        was, x, y, counted = entry
        if now == was:
            return [now, point[0], point[1], counted], None
        if not segments_cross((x, y), point, a, b):
            return [now, point[0], point[1], counted], None  # went round the line's end
        left_to_right = was < 0 < now
        is_in = left_to_right == (line.in_ == "left_to_right")
        direction = "in" if is_in else "out"
        if direction in counted:
            return [now, point[0], point[1], counted], None
        crossing = LineCrossing(
            time=moment(event),
            camera=event.camera,
            line=key,
            direction=direction,
            label=event.label or "unknown",
            event_id=event.event_id,
            source=event.source,
        )
        return [now, point[0], point[1], [*counted, direction]], crossing

    def _camera_said(self, event: CameraEvent) -> list[LineCrossing]:
        camera = self.registry.camera(event.camera)
        if camera is None:
            return []
        records = []
        for name in event.zones or ("",):
            found = camera.line(name) if name else _only_line(camera)
            if found is None:
                continue
            key, line = found
            direction = line.direction_of(event.direction)
            if direction is None:
                continue  # the camera did not say which way, and the line has no default
            records.append(
                LineCrossing(
                    time=moment(event),
                    camera=event.camera,
                    line=key,
                    direction=direction,
                    label=event.label or "unknown",
                    event_id=event.event_id,
                    source=event.source,
                )
            )
        return records


def _only_line(camera: Camera) -> tuple[str, Line] | None:
    """A camera with one line: an event naming no line is about that one."""
    if len(camera.lines) != 1:
        return None
    return next(iter(camera.lines.items()))
