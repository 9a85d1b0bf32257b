"""Silences: label matchers with a time window that mute notifications, never recording.

Matching is pure (`matches`, `muting_silence`); storage is store/silences.py. An alert's
labels are matched together with its rule, domain and severity, so a silence can say
`rule = env.water_level, device_id = kg-wl-001` or `domain = security, severity != critical`.

Every alert change is matched against every active silence, so a silence is bounded:
at most MAX_MATCHERS matchers, each of bounded length, and regular expressions run on
RE2 (linear time in the label's length, no backreferences or look-around, bounded
memory), so no pattern can make matching slow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import psycopg
import re2
from pydantic import BaseModel, Field, ValidationError, model_validator

from events.bounds import Instant, Text
from store import silences as store

log = logging.getLogger(__name__)

Operator = Literal["=", "!=", "=~", "!~"]

MAX_MATCHERS = 32
MAX_NAME = 128
MAX_VALUE = 1024
MAX_PATTERN = 256
MAX_REASON = 2000
# RE2 refuses a pattern whose compiled program needs more (e.g. nested counted repeats).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 1 << 20
_RE2_OPTIONS.log_errors = False


class Matcher(BaseModel):
    name: Text = Field(min_length=1, max_length=MAX_NAME)
    value: Text = Field(max_length=MAX_VALUE)
    op: Operator = "="

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            if len(self.value) > MAX_PATTERN:
                raise ValueError(
                    f"matcher {self.name}: a regular expression is at most {MAX_PATTERN}"
                    f" characters (got {len(self.value)})"
                )
            try:
                _compiled(self.value)
            except re2.error as error:
                raise ValueError(
                    f"matcher {self.name}: invalid or unsupported regular expression"
                    f" (RE2 syntax: no backreferences or look-around): {_reason(error)}"
                ) from error
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        found = str(labels.get(self.name, ""))
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = _compiled(self.value).fullmatch(found) is not None
        return hit if self.op == "=~" else not hit


class SilenceSpec(BaseModel):
    matchers: list[Matcher] = Field(min_length=1, max_length=MAX_MATCHERS)
    starts_at: Instant
    ends_at: Instant
    reason: Text = Field(min_length=1, max_length=MAX_REASON)

    @model_validator(mode="after")
    def _ordered(self) -> SilenceSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _reason(error: Exception) -> str:
    text = error.args[0] if error.args else str(error)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text)[:120]


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
        if silence["starts_at"] <= at < silence["ends_at"]:
            parsed = _stored_matchers(silence)
            if parsed is not None and matches(parsed, labels):
                return str(silence["id"])
    return None


def _stored_matchers(silence: Mapping[str, Any]) -> list[Matcher] | None:
    """A stored silence's matchers; None (mutes nothing) for one made before today's
    limits that no longer passes them, rather than failing the alert change."""
    stored = silence["matchers"]
    if len(stored) > MAX_MATCHERS:
        log.warning("silence %s is ignored: %d matchers", silence.get("id"), len(stored))
        return None
    try:
        return [Matcher.model_validate(m) for m in stored]
    except ValidationError as error:
        log.warning("silence %s is ignored: %s", silence.get("id"), error.errors()[0]["msg"])
        return None


# -- storage (store/silences.py) ------------------------------------------------------------


def create_silence(conn: psycopg.Connection, spec: SilenceSpec, created_by: str) -> dict[str, Any]:
    return store.create_silence(
        conn,
        [m.model_dump() for m in spec.matchers],
        spec.starts_at,
        spec.ends_at,
        created_by,
        spec.reason,
    )


expire_silence = store.expire_silence
active_silences = store.active_silences
