"""The camera registry (deploy/cameras/registry.yaml): what the camera rules know of each
camera besides its events.

Per camera: where it is, its detect frame, the zones that matter (by the names Frigate
uses, with the ISAPI region ids / ONVIF rule names of the same zone as aliases), a zone's
closed hours (intrusion), how long an object may stand still in it (loitering) and how
many people make a crowd, and the counting lines. Segments pair two ANPR cameras a known
distance apart (speed from plate pairs).

Line direction: stand on the line's first point and look at its second, as drawn on the
picture. `in: left_to_right` counts an object moving from your left to your right as
"in" (and the other way as "out"); `right_to_left` the reverse. For a line drawn from
the left edge to the right edge of the picture, your left is the top of the picture: an
object coming down the picture (towards a camera looking down a road) is "in".

Schedules are local times of the registry's `timezone` ("22:00-05:00" crosses midnight;
"00:00-24:00" is all day). Errors come as file:line: field: message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.settings import REPO_ROOT
from config.yaml_loader import ConfigErrors, read_source, validate_source

REGISTRY_FILE = REPO_ROOT / "deploy" / "cameras" / "registry.yaml"
NAME = r"^[A-Za-z0-9_.:-]{1,128}$"
# Frigate camera names: letters, digits, _ and -; device ids add dots.
CAMERA_ID = r"^[A-Za-z0-9_.-]{1,128}$"
CLASSES = ("person", "bicycle", "motorcycle", "car", "bus", "truck")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]
Direction = Literal["in", "out"]


class RegistryError(ConfigErrors):
    """registry.yaml is malformed; each line names the file, line and field."""


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(Doc):
    """A daily period of local time; end before start crosses midnight."""

    start: time
    end: time | None  # None: midnight at the end of the day ("24:00")

    def holds(self, moment: time) -> bool:
        if self.end is None:
            return moment >= self.start
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def _window(value: object) -> Window:
    if isinstance(value, Window):
        return value
    found = _WINDOW.match(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"expected a period like '22:00-05:00', got {value!r}")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"{value!r}: not a time of day")
    start, end = time(h1, m1), None if h2 == 24 else time(h2, m2)
    if end == start:
        raise ValueError(f"{value!r} is empty; write '00:00-24:00' for all day")
    return Window(start=start, end=end)


Period = Annotated[Window, BeforeValidator(_window)]


class Restricted(Doc):
    """Who may not be in the zone, and when (intrusion)."""

    labels: tuple[str, ...] = Field(min_length=1)
    closed: tuple[Period, ...]

    @field_validator("labels")
    @classmethod
    def _known(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        for label in labels:
            if label not in CLASSES:
                raise ValueError(f"label {label!r} is not one of {', '.join(CLASSES)}")
        return labels

    @field_validator("closed")
    @classmethod
    def _some(cls, closed: tuple[Window, ...]) -> tuple[Window, ...]:
        if not closed:
            raise ValueError("name at least one period, e.g. '22:00-05:00'")
        return closed


class Zone(Doc):
    name: str = ""  # what operators call it; default: its key
    aliases: tuple[Annotated[str, Field(pattern=NAME)], ...] = ()
    restricted: Restricted | None = None
    loitering_seconds: float | None = Field(None, gt=0, le=86400)
    crowding_people: int | None = Field(None, ge=1, le=10000)


class Line(Doc):
    name: str = ""
    # Where the line is in the picture (fractions of the frame): needed to count from
    # Frigate's boxes; a line the camera itself watches (ISAPI/ONVIF) may leave it out.
    points: tuple[Point, Point] | None = None
    in_: Literal["left_to_right", "right_to_left"] = Field("left_to_right", alias="in")
    aliases: tuple[Annotated[str, Field(pattern=NAME)], ...] = ()
    # The camera's own words for a crossing's direction (ISAPI/ONVIF) -> in/out, on top
    # of the usual ones (DIRECTION_WORDS); `default` for a camera that says nothing
    # (a one-way rule on the camera).
    directions: dict[str, Direction] = {}

    @field_validator("points")
    @classmethod
    def _apart(cls, points: tuple[Point, Point] | None) -> tuple[Point, Point] | None:
        if points is not None and points[0] == points[1]:
            raise ValueError("the two points are the same")
        return points

    def direction_of(self, said: str | None) -> Direction | None:
        """in/out for what the camera said about a crossing, None if not known."""
        word = (said or "default").strip().lower()
        mine = {k.lower(): v for k, v in self.directions.items()}
        return mine.get(word) or DIRECTION_WORDS.get(word.replace(" ", ""))


# Direction words cameras and VMSs use, when a line does not say otherwise.
DIRECTION_WORDS: dict[str, Direction] = {
    "in": "in",
    "out": "out",
    "enter": "in",
    "entry": "in",
    "entering": "in",
    "exit": "out",
    "leave": "out",
    "leaving": "out",
    "forward": "in",
    "reverse": "out",
    "a->b": "in",
    "b->a": "out",
    "atob": "in",
    "btoa": "out",
    "lefttoright": "in",
    "righttoleft": "out",
}


class Frame(Doc):
    width: int = Field(gt=0, le=100_000)
    height: int = Field(gt=0, le=100_000)


class Camera(Doc):
    name: str = ""
    site: str = Field(min_length=1)
    province: str = ""
    district: str = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    source: Literal["frigate", "hikvision", "onvif"] = "frigate"
    frame: Frame | None = None  # Frigate's detect size: boxes are in its pixels
    zones: dict[Annotated[str, Field(pattern=NAME)], Zone] = {}
    lines: dict[Annotated[str, Field(pattern=NAME)], Line] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Camera:
        if self.source == "frigate":
            for key, line in self.lines.items():
                if line.points is None:
                    raise ValueError(f"line {key!r} needs `points` to count from Frigate's boxes")
            if self.lines and self.frame is None:
                raise ValueError("lines need `frame` (Frigate's boxes are in its pixels)")
        for kind, table in (("zone", self.zones), ("line", self.lines)):
            owner: dict[str, str] = {}
            for key, item in table.items():
                for alias in (key, *item.aliases):
                    if owner.setdefault(alias, key) != key:
                        raise ValueError(f"{kind} name {alias!r} is used by {owner[alias]!r} too")
        return self

    def zone(self, name: str) -> tuple[str, Zone] | None:
        """The zone a camera system calls `name` (its key or an alias)."""
        return _find(self.zones, name)

    def line(self, name: str) -> tuple[str, Line] | None:
        return _find(self.lines, name)

    def zones_of(self, names: tuple[str, ...]) -> Iterator[tuple[str, Zone]]:
        """Registry zones among `names`, each once, keyed by the registry's name."""
        seen: set[str] = set()
        for name in names:
            found = self.zone(name)
            if found is not None and found[0] not in seen:
                seen.add(found[0])
                yield found


class Segment(Doc):
    """Two ANPR cameras a known road distance apart: speed from the same plate's reads."""

    name: str = ""
    from_: str = Field(alias="from", pattern=CAMERA_ID)
    to: str = Field(pattern=CAMERA_ID)
    distance_m: float = Field(gt=0, le=1_000_000)


class Registry(Doc):
    timezone: str = "Asia/Ho_Chi_Minh"
    cameras: dict[Annotated[str, Field(pattern=CAMERA_ID)], Camera] = {}
    segments: dict[Annotated[str, Field(pattern=CAMERA_ID)], Segment] = {}

    @field_validator("timezone")
    @classmethod
    def _zone_known(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("segments")
    @classmethod
    def _segments_known(
        cls, segments: dict[str, Segment], info: ValidationInfo
    ) -> dict[str, Segment]:
        if "cameras" not in info.data:
            return segments  # the cameras did not validate: that is the error to show
        cameras = info.data["cameras"]
        for key, segment in segments.items():
            for end in (segment.from_, segment.to):
                if end not in cameras:
                    raise ValueError(f"segment {key!r}: camera {end!r} is not in `cameras`")
            if segment.from_ == segment.to:
                raise ValueError(f"segment {key!r}: from and to are the same camera")
        return segments

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def camera(self, camera_id: str) -> Camera | None:
        return self.cameras.get(camera_id)

    def closed(self, zone: Zone, at: datetime) -> bool:
        """Whether the zone is restricted and closed at `at` (local time)."""
        if zone.restricted is None:
            return False
        local = at.astimezone(self.tz).time()
        return any(window.holds(local) for window in zone.restricted.closed)

    def counting_points(self) -> list[str]:
        """`<camera>:<line>` of every counting line: the device ids of their counts."""
        return [f"{c}:{line}" for c, camera in self.cameras.items() for line in camera.lines]


def _find(table: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    if name in table:
        return name, table[name]
    for key, item in table.items():
        if name in getattr(item, "aliases", ()):
            return key, item
    return None


_REGISTRY = TypeAdapter(Registry)
EMPTY = Registry()


def load_registry(path: Path = REGISTRY_FILE) -> Registry:
    """The registry at `path`; raises RegistryError naming every problem's line."""
    source, errors = read_source(path)
    if source is None or errors:
        raise RegistryError(errors)
    try:
        return validate_source(source, _REGISTRY)
    except ConfigErrors as error:
        raise RegistryError(error.errors) from None
