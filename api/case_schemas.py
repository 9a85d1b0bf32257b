"""Request and response bodies of /api/v1/cases (CSIRT cases)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from events.bounds import Text
from processors.cases.model import (
    CaseSeverity,
    Classification,
    Marking,
    ObservableType,
    seconds_between,
)

MAX_TITLE = 300
MAX_DESCRIPTION = 10_000
MAX_NOTE = 4000
MAX_NAME = 128
MAX_ALERTS = 100

Title = Annotated[Text, Field(min_length=1, max_length=MAX_TITLE)]
Name = Annotated[Text, Field(min_length=1, max_length=MAX_NAME)]
AlertIds = Annotated[list[uuid.UUID], Field(max_length=MAX_ALERTS)]
OpenStatus = Literal["new", "investigating", "contained"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_In):
    title: Title
    description: Annotated[Text, Field(max_length=MAX_DESCRIPTION)] = ""
    severity: CaseSeverity | None = Field(
        default=None, description="Default: the highest of the alerts' (medium without alerts)"
    )
    tlp: Marking = "amber"
    pap: Marking = "amber"
    assignee: Name | None = None
    alert_ids: AlertIds = Field(default_factory=list, description="Security alerts to group")


class CasePatch(_In):
    """Only the fields sent change; `assignee: null` unassigns. Closing has its own
    request (`POST /close`, with a classification)."""

    title: Title | None = None
    description: Annotated[Text, Field(max_length=MAX_DESCRIPTION)] | None = None
    severity: CaseSeverity | None = None
    tlp: Marking | None = None
    pap: Marking | None = None
    status: OpenStatus | None = None
    assignee: Name | None = None
    shared: StrictBool | None = Field(
        default=None, description="Marked for sharing with the national centre (TAXII)"
    )

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(exclude_unset=True)
        # null means "leave it" for every field but the assignee.
        return {k: v for k, v in sent.items() if v is not None or k == "assignee"}


class AlertIdsIn(_In):
    alert_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_ALERTS)]


class CaseNoteIn(_In):
    note: Annotated[Text, Field(min_length=1, max_length=MAX_NOTE)]


class CloseIn(_In):
    classification: Classification
    note: Annotated[Text, Field(max_length=MAX_NOTE)] = ""


class ReopenIn(_In):
    note: Annotated[Text, Field(max_length=MAX_NOTE)] = ""


class TaskIn(_In):
    title: Annotated[Text, Field(min_length=1, max_length=500)]


class TaskPatch(_In):
    done: StrictBool


class TaskOut(BaseModel):
    id: int
    playbook: str
    task: str
    title_vi: str
    title_en: str
    done_at: datetime | None
    done_by: str | None


class CaseAlertOut(BaseModel):
    id: uuid.UUID
    rule: str
    title_vi: str
    title_en: str
    severity: int | None
    started_at: datetime | None
    added_at: datetime
    added_by: str
    status: str | None = Field(description="The alert's status now; null once it was pruned")


class CaseOut(BaseModel):
    id: uuid.UUID
    title: str
    title_en: str | None = Field(default=None, description="Set on cases the job made")
    severity: CaseSeverity
    tlp: Marking
    pap: Marking
    status: Literal["new", "investigating", "contained", "closed"]
    classification: Classification | None
    shared: bool
    assignee: str | None
    created: datetime
    updated: datetime
    created_by: str
    acknowledged_at: datetime | None
    closed_at: datetime | None
    grouping_rule: str | None
    grouping_key: str | None
    alert_count: int
    time_to_acknowledge_seconds: float | None = Field(description="From created to acknowledged")
    time_to_close_seconds: float | None = Field(description="From created to closed")

    @classmethod
    def fields_of(cls, row: Mapping[str, Any], alert_count: int) -> dict[str, Any]:
        names = set(cls.model_fields) - {
            "alert_count", "time_to_acknowledge_seconds", "time_to_close_seconds", "title_en"
        }  # fmt: skip
        return {
            **{n: row[n] for n in names},
            "title_en": (row.get("labels") or {}).get("title_en"),
            "alert_count": alert_count,
            "time_to_acknowledge_seconds": seconds_between(row["created"], row["acknowledged_at"]),
            "time_to_close_seconds": seconds_between(row["created"], row["closed_at"]),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CaseOut:
        return cls(**cls.fields_of(row, int(row.get("alert_count") or 0)))


class CaseDetail(CaseOut):
    description: str
    acknowledged_by: str | None
    closed_by: str | None
    closure_note: str
    alerts: list[CaseAlertOut] = Field(description="The first 200 alerts, oldest first")
    tasks: list[TaskOut]
    tasks_done: int
    observable_count: int


class ElsewhereCase(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    severity: str
    last_seen: datetime


class ObservableOut(BaseModel):
    type: ObservableType
    value: str
    first_seen: datetime
    last_seen: datetime
    sightings: int
    other_cases: list[ElsewhereCase] = Field(description="Other cases holding it (newest 5)")
    events_from_address: int | None = Field(
        default=None,
        description="Security events with this source address in the last 30 days"
        " (counted to 10,000); null for other types, or when counting took too long",
    )


class TimelineItem(BaseModel):
    at: datetime
    kind: Literal["entry", "alert", "event"]
    actor: str | None = None
    action: str | None = None
    note: str | None = None
    detail: dict[str, Any] | None = None
    alert_id: uuid.UUID | None = None
    rule: str | None = None
    title_vi: str | None = None
    title_en: str | None = None
    severity: int | None = None
    event_id: str | None = None
    dataset: str | None = None
    message: str | None = None
    source_ip: str | None = None
    destination_ip: str | None = None
    user_name: str | None = None
    host_name: str | None = None
