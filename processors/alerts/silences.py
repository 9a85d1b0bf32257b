"""Silences: label matchers with a time window that mute notifications, never recording.

Matching is pure (`matches`, `muting_silence`); the rest is small SQL. An alert's labels
are matched together with its rule, domain and severity, so a silence can say
`rule = env.water_level, device_id = kg-wl-001` or `domain = security, severity != critical`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, field_validator, model_validator

Operator = Literal["=", "!=", "=~", "!~"]


class Matcher(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    value: str = Field(max_length=1024)
    op: Operator = "="

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                _compiled(self.value)
            except re.error as error:
                raise ValueError(
                    f"matcher {self.name}: invalid regular expression: {error}"
                ) from error
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        found = labels.get(self.name, "")
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = _compiled(self.value).fullmatch(found) is not None
        return hit if self.op == "=~" else not hit


class SilenceSpec(BaseModel):
    matchers: list[Matcher] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("times need a timezone offset, e.g. 2026-11-24T08:00:00+07:00")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SilenceSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def alert_labels(
    rule: str, domain: str, severity_label: str, labels: Mapping[str, str]
) -> dict[str, str]:
    """The label set silences match against: the entity labels plus rule/domain/severity."""
    return {**labels, "rule": rule, "domain": domain, "severity": severity_label}


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def muting_silence(
    silences: Sequence[Mapping[str, Any]], labels: Mapping[str, str], at: datetime
) -> str | None:
    """The id of the first active silence that mutes these labels at this moment."""
    for silence in silences:
        if silence["starts_at"] <= at < silence["ends_at"] and matches(
            (Matcher.model_validate(m) for m in silence["matchers"]), labels
        ):
            return str(silence["id"])
    return None


# -- storage ------------------------------------------------------------------------------


def create_silence(conn: psycopg.Connection, spec: SilenceSpec, created_by: str) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
        (
            uuid.uuid4(),
            Jsonb([m.model_dump() for m in spec.matchers]),
            spec.starts_at,
            spec.ends_at,
            created_by,
            spec.reason,
        ),
    )
    return _as_dict(row)


def expire_silence(conn: psycopg.Connection, silence_id: str, actor: str) -> dict[str, Any] | None:
    """End a silence now (kept, for the record). None if there is no such active silence."""
    cur = conn.execute(
        "UPDATE silences SET ends_at = greatest(starts_at + interval '1 microsecond', now()),"
        " expired_by = %s WHERE id = %s AND ends_at > now() RETURNING *",
        (actor, silence_id),
    )
    return _as_dict(cur)


def active_silences(conn: psycopg.Connection, at: datetime | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM silences WHERE ends_at > coalesce(%s, now()) ORDER BY starts_at, id",
            (at,),
        )
        return cur.fetchall()


def list_silences(
    conn: psycopg.Connection, *, include_expired: bool = False
) -> list[dict[str, Any]]:
    where = "" if include_expired else "WHERE ends_at > now()"
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM silences {where} ORDER BY starts_at DESC, id LIMIT 1000")
        return cur.fetchall()


def _as_dict(cur: psycopg.Cursor[Any]) -> dict[str, Any] | None:
    row = cur.fetchone()
    if row is None:
        return None
    names = [c.name for c in cur.description or ()]
    return dict(zip(names, row, strict=True))
