"""Bodies of the camera endpoints: the plate watch list, plate reads, camera events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from events.bounds import Instant, Text

# Vietnamese plates are at most 10 characters; room for separators, spaces and a line
# break between the rows of a two-row plate.
MAX_PLATE = 32
MAX_REASON = 500


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


PlateText = Annotated[Text, Field(min_length=1, max_length=MAX_PLATE), AfterValidator(_not_blank)]


class WatchIn(BaseModel):
    """A plate to watch. Any spelling: the entry is kept under its normalised form, and
    adding a plate that is already listed replaces its entry."""

    model_config = ConfigDict(extra="forbid")

    plate: PlateText = Field(examples=["51F-123.45"])
    reason: Annotated[
        Text, Field(min_length=1, max_length=MAX_REASON), AfterValidator(_not_blank)
    ] = Field(description="Why the plate is watched (shown in every alert it raises)")
    expires_at: Instant | None = Field(
        default=None, description="When the entry stops matching (RFC 3339); null: never"
    )


class WatchEntryOut(BaseModel):
    plate: str = Field(description="As it was entered")
    plate_norm: str = Field(description="What reads are matched on")
    reason: str
    added_by: str | None
    added_at: datetime
    expires_at: datetime | None
    active: bool = Field(description="False once expires_at has passed")


class PlateReadOut(BaseModel):
    time: datetime
    camera: str
    plate: str = Field(description="As the camera read it")
    plate_norm: str
    score: float | None
    direction: str | None
    vehicle_type: str | None
    event_id: str
    source: str
    snapshot: str | None = Field(description="`frigate:<event id>` or `isapi:<file name>`")
    snapshot_url: str | None = Field(
        description="Where the picture is, when it can be resolved (relative to this API"
        " for stored ISAPI images)"
    )


class CameraEventOut(BaseModel):
    time: datetime = Field(description="When the event started")
    event_id: str
    source: str
    camera: str
    event_type: str
    state: str
    label: str | None
    score: float | None
    top_score: float | None
    zones: list[str]
    end_time: datetime | None
    frame_time: datetime | None = Field(description="The moment the newest message described")
    has_snapshot: bool
    false_positive: bool
    snapshot: str | None = Field(description="`frigate:<event id>` or `isapi:<file name>`")
    snapshot_url: str | None = Field(
        description="Where the picture is, when it can be resolved (relative to this API"
        " for stored ISAPI images)"
    )
