"""Camera health from the cameras' own alarms: tamper (Hikvision shelteralarm /
tamperdetection, ONVIF tamper) and video loss. FIRING when the alarm goes active,
RESOLVED when it goes inactive; a camera repeating "active" every few seconds is one
alert. Frigate cameras have no such alarm: their video loss is camera_fps staying at 0
(processors/environment/rules/cameras.yaml), and silence is health.offline.

State per camera and alarm (plain JSON): last (epoch s of the newest message used),
since (when it went active), ids (first event ids), snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from events.alerts import Signal
from events.models import CameraEvent
from processors.cameras.common import (
    PerKeyDetector,
    epoch,
    from_epoch,
    listed,
    make_signal,
    moment,
)
from processors.cameras.registry import Registry
from processors.cameras.rules import CameraRules, HealthSpec
from processors.detector import State
from processors.environment.engine.text import local_time

NAME = "camera.health"
ALARMS = ("tamper", "video_loss")
ACTIVE = frozenset({"active", "new", "update"})
INACTIVE = frozenset({"inactive", "end"})


class HealthDetector(PerKeyDetector):
    name = NAME

    def __init__(self, registry: Registry, rules: CameraRules) -> None:
        self.registry = registry
        self.specs: dict[str, HealthSpec] = {"tamper": rules.tamper, "video_loss": rules.video_loss}

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[CameraEvent]]:
        grouped: dict[str, list[CameraEvent]] = {}
        for event in events:
            if (
                isinstance(event, CameraEvent)
                and event.event_type in self.specs
                and self.specs[event.event_type].enabled
                and event.state in ACTIVE | INACTIVE
            ):
                grouped.setdefault(f"{event.camera}|{event.event_type}", []).append(event)
        for batch in grouped.values():
            batch.sort(key=lambda e: (moment(e), e.event_id, e.state))
        return grouped

    def _run(
        self, key: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[Signal]]:
        camera, _, alarm = key.rpartition("|")
        state: dict[str, Any] | None = dict(stored) if stored else None
        last = stored["last"] if stored else None
        signals = []
        for event in events:
            t = epoch(moment(event))
            if last is not None and t < last:
                continue  # older than what decided the current state
            last = t
            if event.state in ACTIVE:
                if state is None or not state.get("firing"):
                    state = {"firing": True, "since": t, "last": t, "ids": [event.event_id]}
                    state["snapshot"] = event.snapshot
                    signals.append(self._signal(camera, alarm, state, True, event))
                else:
                    state = {
                        **state,
                        "last": t,
                        "ids": listed(state["ids"], event.event_id),
                        "snapshot": state.get("snapshot") or event.snapshot,
                    }
            elif state is not None and state.get("firing"):
                signals.append(self._signal(camera, alarm, state, False, event))
                state = {"firing": False, "last": t}
            else:
                state = {"firing": False, "last": t}
        return state, signals

    def _signal(
        self, camera: str, alarm: str, state: Mapping[str, Any], firing: bool, event: CameraEvent
    ) -> Signal:
        ids = list(state["ids"]) if firing else listed(state["ids"], event.event_id)
        return make_signal(
            f"camera.{alarm}",
            self.specs[alarm],
            self.registry,
            camera=camera,
            labels={"camera": camera},
            firing=firing,
            at=moment(event),
            fields={"since": local_time(from_epoch(state["since"]))},
            values={"since": from_epoch(state["since"]).isoformat(), "source": event.source},
            event_ids=ids,
            snapshot=state.get("snapshot") or event.snapshot,
        )
