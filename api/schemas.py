"""Request and response bodies of the JSON API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from events.alerts import AlertStatus, Domain, Severity
from events.bounds import Instant, Text
from processors.alerts.lifecycle import MAX_NOTE
from processors.alerts.silences import Matcher


class Me(BaseModel):
    name: str
    role: str
    visible_domains: list[Domain]
    acting_domains: list[Domain]


class LatestReading(BaseModel):
    metric: str
    time: datetime
    value: float
    quality: int


class SeriesPoint(BaseModel):
    """A raw reading (value, quality) or a rollup bucket (avg, min, max, count)."""

    time: datetime
    value: float | None = None
    quality: int | None = None
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None


class SeriesOut(BaseModel):
    device_id: str
    metric: str
    resolution: Literal["raw", "1m", "1h"] = Field(
        description="What the points are: raw readings or 1-minute / 1-hour buckets (the"
        " one chosen from the range when the request did not name one)"
    )
    start: datetime
    end: datetime
    points: list[SeriesPoint]
    next_start: datetime | None = Field(
        default=None,
        description="Set when the points stopped at the most one answer holds: the rest"
        " of the range starts here (ask again with start = next_start)",
    )


class StationLatest(BaseModel):
    """A station and the newest reading of each metric it sent in the day before its
    last message."""

    device_id: str
    type: str
    province: str
    name: str | None
    last_seen: datetime | None
    readings: list[LatestReading]


class AlertOut(BaseModel):
    id: uuid.UUID
    fingerprint: str
    rule: str
    domain: str
    status: AlertStatus
    severity: int
    severity_label: str
    peak_severity: int
    labels: dict[str, Any]
    title_vi: str
    title_en: str
    summary_vi: str
    summary_en: str
    values: dict[str, Any]
    technique_ids: list[str]
    event_ids: list[str]
    started_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertOut:
        return cls(**_alert_fields(row))


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    status: str
    severity: int
    note: str = Field(
        description="Vietnamese first when the system wrote it; an operator's note as typed"
    )
    note_en: str | None = Field(
        description="English of a note the system wrote; null for an operator's note and "
        "for system notes stored before both languages were kept (those are English)"
    )
    event_time: datetime | None


class AlertDetail(AlertOut):
    history: list[HistoryEntry]

    @classmethod
    def from_rows(cls, row: Mapping[str, Any], history: list[Mapping[str, Any]]) -> AlertDetail:
        return cls(**_alert_fields(row), history=[HistoryEntry.model_validate(h) for h in history])


def _alert_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: row[name] for name in AlertOut.model_fields if name in row}
    fields["values"] = row["alert_values"]
    fields["severity_label"] = Severity(row["severity"]).label
    return fields


class NoteIn(BaseModel):
    note: Text = Field(default="", max_length=MAX_NOTE)


class RequiredNoteIn(BaseModel):
    note: Text = Field(min_length=1, max_length=MAX_NOTE)


class SilenceOut(BaseModel):
    id: uuid.UUID
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    reason: str
    created_at: datetime
    expired_by: str | None
    active: bool


class SecurityEventOut(BaseModel):
    time: datetime
    event_id: str
    dataset: str
    category: list[str]
    action: str | None
    outcome: str | None
    source_ip: str | None
    user_name: str | None
    host_name: str | None
    rule_name: str | None
    message: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SecurityEventOut:
        ip = row["source_ip"]
        return cls(**{**row, "source_ip": None if ip is None else str(ip)})


class AqiHour(BaseModel):
    hour: datetime
    aqi: int | None
    category: str | None
    colour: str | None
    dominant: str | None
    sub_indices: dict[str, Any]


class DeviceState(BaseModel):
    """A device on the overview map: where it is and its current state (device_overview)."""

    device_id: str
    name: str | None
    type: str
    province: str
    district: str | None
    lat: float
    lon: float
    expected_interval_s: int
    last_seen: datetime | None
    offline: bool
    aqi: int | None
    aqi_category: str | None
    aqi_colour: str | None
    aqi_hour: datetime | None
    open_alerts: int
    worst_severity: int | None
    state: Literal["offline", "critical", "high", "medium", "low", "ok", "unknown"]


class SeverityCounts(BaseModel):
    info: int = 0
    low: int = 0
    medium: int = 0
    high: int = 0
    critical: int = 0
    total: int = 0


class DomainCounts(SeverityCounts):
    domain: Domain


class OverviewOut(BaseModel):
    """The console's overview: devices with their state, open alerts by domain and
    severity (only the domains the caller may see)."""

    generated_at: datetime
    devices: list[DeviceState]
    devices_total: int = Field(description="Devices registered; more than listed when capped")
    alerts_by_domain: list[DomainCounts]
    alerts_total: SeverityCounts


# -- dead letters --------------------------------------------------------------------------

MAX_REPLAY = 1000
DEAD_LETTER_ID = Field(min_length=1, max_length=64)


class DeadLetterOut(BaseModel):
    """A message that could not be stored, and why. `payload_size` is what arrived,
    `stored_size` what was kept (the first MiB): when they differ the letter is
    `truncated` and cannot be replayed."""

    id: str
    received_at: datetime
    transport: str
    topic: str
    kafka_partition: int | None
    kafka_offset: int | None
    format: str | None
    reason: str
    payload_size: int
    stored_size: int
    truncated: bool
    payload_sha256: str
    replay_count: int
    last_replayed_at: datetime | None
    resolved: bool
    resolved_at: datetime | None
    resolved_by_replay: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeadLetterOut:
        fields = {k: v for k, v in row.items() if k in cls.model_fields}
        return cls(
            **fields,
            truncated=row["payload_size"] > row["stored_size"],
            resolved=row["resolved_at"] is not None,
        )


class DeadLetterReplayRef(BaseModel):
    replay_id: int
    requested_by: str
    requested_at: datetime
    outcome: Literal["stored", "still_failing"]
    reason: str | None


class DeadLetterDetail(DeadLetterOut):
    payload_text: str | None = Field(
        description="The kept bytes as text when they are valid UTF-8, else null"
    )
    payload_base64: str = Field(description="The kept bytes, base64 (standard alphabet)")
    replays: list[DeadLetterReplayRef] = Field(description="Replays it took part in, newest first")


class DeadLetterFilter(BaseModel):
    """Which dead letters: every field optional, all given ones must hold."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["mqtt", "kafka", "http"] | None = None
    topic: Text | None = Field(default=None, max_length=512, description="Exact topic")
    topic_prefix: Text | None = Field(default=None, min_length=1, max_length=512)
    reason: Text | None = Field(
        default=None, min_length=1, max_length=200, description="Substring, any case"
    )
    since: Instant | None = None
    until: Instant | None = None
    # Strict: JSON 0 or "false" is not a boolean (schemathesis: accepted as false).
    resolved: StrictBool | None = Field(
        default=False, description="Replays take unresolved letters unless told otherwise"
    )


class ReplayByIds(BaseModel):
    """These letters, whatever their state (a resolved one is written again: nothing is
    stored twice)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[Text, DEAD_LETTER_ID]] = Field(min_length=1, max_length=MAX_REPLAY)


class ReplayByFilter(BaseModel):
    """The letters `filter` selects, oldest first: at most `limit`; a filter that selects
    more is refused, not cut."""

    model_config = ConfigDict(extra="forbid")

    filter: DeadLetterFilter
    limit: int = Field(default=MAX_REPLAY, ge=1, le=MAX_REPLAY)


ReplayIn = ReplayByIds | ReplayByFilter


class ReplayItemOut(BaseModel):
    dead_letter_id: str
    outcome: Literal["stored", "still_failing"]
    reason: str | None


class ReplayOut(BaseModel):
    id: int
    requested_by: str
    requested_at: datetime
    selection: dict[str, Any]
    selected: int
    stored: int
    still_failing: int
    items: list[ReplayItemOut]
