"""The record sink: what camera detectors derive (events/camera_records.py) is stored in
the transaction of the events it came from, and a stored plate on the watch list raises
`camera.plate_watch`.

The detector runner (processors/runner.py) hands every batch's records here. Crossings
are stored once each (their identity absorbs re-delivery); a pass's plate read keeps its
best-scored read, and a pass is matched against the watch list when its stored plate
becomes new (store.cameras.store_plate_reads), so a pass raises at most one alert however
often its messages come. The alert's wording is data: plate_watch.yaml beside this.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, model_validator

from config.timezone import LOCAL_TZ
from config.yaml_loader import load_model
from events.alerts import Domain, Severity, Signal, SignalState
from events.camera_records import LineCrossing, PlateRead
from store import cameras as camera_store
from store.cameras import WatchEntry

log = logging.getLogger(__name__)

TEXTS_FILE = Path(__file__).with_name("plate_watch.yaml")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(_Doc):
    vi: str
    en: str


class WatchText(_Doc):
    title_vi: str
    title_en: str
    summary_vi: str
    summary_en: str

    @model_validator(mode="after")
    def _same_placeholders(self) -> WatchText:
        for vi, en in ((self.title_vi, self.title_en), (self.summary_vi, self.summary_en)):
            if _fields(vi) != _fields(en):
                raise ValueError(f"vi uses {sorted(_fields(vi))}, en uses {sorted(_fields(en))}")
        unknown = set().union(*map(_fields, (self.title_vi, self.summary_vi))) - PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}")
        return self


class PlateWatchPack(_Doc):
    rule: str
    severity: Severity
    text: WatchText
    directions: dict[str, Words] = {}
    unknown: Words

    @model_validator(mode="before")
    @classmethod
    def _severity_word(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("severity"), str):
            return {**data, "severity": Severity.parse(data["severity"])}
        return data


PLACEHOLDERS = {"plate", "watched", "camera", "site", "at", "reason", "direction", "confidence"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclass(frozen=True)
class CameraPlace:
    name: str
    site: str


class CameraRecordSink:
    """`DetectorSet.record_sink`: `sink(conn, records) -> signals`."""

    def __init__(self, pack: PlateWatchPack, places: Mapping[str, CameraPlace]) -> None:
        self.pack = pack
        self.places = places

    @classmethod
    def load(cls, texts: Path = TEXTS_FILE, registry: Path | None = None) -> CameraRecordSink:
        """The wording from `texts`; camera names and sites from the camera registry when
        one is given and exists (alerts then name the camera as operators know it)."""
        places: dict[str, CameraPlace] = {}
        if registry is not None and registry.exists():
            from processors.cameras.registry import load_registry

            for camera_id, camera in load_registry(registry).cameras.items():
                places[camera_id] = CameraPlace(camera.name or camera_id, camera.site)
        return cls(load_model(texts, PlateWatchPack), places)

    def __call__(self, conn: psycopg.Connection, records: Sequence[Any]) -> list[Signal]:
        crossings = [r for r in records if isinstance(r, LineCrossing)]
        reads = [r for r in records if isinstance(r, PlateRead)]
        others = len(records) - len(crossings) - len(reads)
        if others:
            # A detector bug; failing the batch would dead-letter good events.
            log.error("record sink: %d records of an unknown kind ignored", others)
        camera_store.insert_crossings(conn, crossings)
        changed = camera_store.store_plate_reads(conn, reads)
        return [self.signal(read, entry) for read, entry in camera_store.watch_hits(conn, changed)]

    def signal(self, read: PlateRead, entry: WatchEntry) -> Signal:
        place = self.places.get(read.camera, CameraPlace(read.camera, read.camera))
        local = read.time.astimezone(LOCAL_TZ).strftime("%H:%M:%S %d/%m/%Y")
        common = {
            # A two-row plate may come with its line break: one line in a title.
            "plate": " ".join(read.plate.split()), "watched": entry.plate, "camera": place.name,
            "site": place.site, "at": local, "reason": entry.reason,
        }  # fmt: skip
        vi = {**common, **self._words(read, "vi")}
        en = {**common, **self._words(read, "en")}
        text = self.pack.text
        return Signal(
            rule=self.pack.rule,
            domain=Domain.PLATES,
            labels={"camera": read.camera, "event_id": read.event_id},
            state=SignalState.FIRING,
            severity=self.pack.severity,
            at=read.time,
            title_vi=text.title_vi.format(**vi),
            title_en=text.title_en.format(**en),
            summary_vi=text.summary_vi.format(**vi),
            summary_en=text.summary_en.format(**en),
            values={
                "camera": read.camera,
                "time": read.time.isoformat(),
                "direction": read.direction,
                "confidence": read.score,
                "snapshot": read.snapshot,
                "plate": read.plate,
                "plate_norm": read.plate_norm,
                "vehicle_type": read.vehicle_type,
                "reason": entry.reason,
                "event_ids": [read.event_id],
            },
            event_ids=(read.event_id,),
        )

    def _words(self, read: PlateRead, lang: str) -> dict[str, str]:
        unknown = getattr(self.pack.unknown, lang)
        direction = unknown
        if read.direction:
            said = self.pack.directions.get(read.direction.strip().lower())
            direction = getattr(said, lang) if said else read.direction
        confidence = unknown if read.score is None else f"{read.score:.0%}"
        return {"direction": direction, "confidence": confidence}
