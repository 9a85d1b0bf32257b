"""One event as the matcher reads it: an ECS document, with SecurityEvent columns behind.

Accepts a SecurityEvent, a dict dumped from one (it has an "ecs" key), or a bare ECS
document. Lookups are cached per event because many rules read the same few fields
(event.dataset, event.outcome, source.ip) and each lookup walks nested dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from events.models import SecurityEvent

MISSING: Final = object()
_UNSEEN: Final = object()
# SecurityEvent.model_dump() keys that are not ECS: where a dumped event keeps its columns.
_DUMP_KEY = "ecs"


class FieldRef:
    """A rule field resolved to ECS paths, split once. FieldMap hands out one instance per
    field, so the per-event cache is keyed by identity and shared by every rule."""

    __slots__ = ("column_names", "parts", "paths", "suffixes")

    def __init__(self, paths: tuple[str, ...], columns: Mapping[str, str]):
        self.paths = paths
        self.parts = tuple(tuple(path.split(".")) for path in paths)
        # suffixes[i][j]: the rest of path i from part j, for flattened keys ("source.ip").
        self.suffixes = tuple(
            tuple(".".join(parts[j:]) for j in range(len(parts))) for parts in self.parts
        )
        self.column_names = tuple(columns.get(path) for path in paths)

    def __repr__(self) -> str:
        return f"FieldRef({self.paths})"


class EventView:
    """Read-only field access over one event; `first(ref)` is what compiled rules call."""

    __slots__ = ("_cache", "_columns", "_doc", "event")

    def __init__(self, event: SecurityEvent | Mapping[str, Any]):
        self.event = event
        # Field values by FieldRef, and logsource filters' answers by filter (holds()).
        self._cache: dict[Any, Any] = {}
        if isinstance(event, SecurityEvent):
            self._doc: Mapping[str, Any] = event.ecs
            self._columns: Any = event
        elif isinstance(event.get(_DUMP_KEY), Mapping):
            self._doc = event[_DUMP_KEY]
            self._columns = _DictColumns(event)
        else:
            self._doc = event
            self._columns = None

    def first(self, ref: FieldRef) -> Any:
        """The value of the first path present (not None, not an empty list), else MISSING."""
        value = self._cache.get(ref, _UNSEEN)
        if value is not _UNSEEN:
            return value
        for index, parts in enumerate(ref.parts):
            value = lookup(self._doc, parts, ref.suffixes[index])
            if value is MISSING and self._columns is not None:
                column = ref.column_names[index]
                if column is not None:
                    value = _present(getattr(self._columns, column, None))
            if value is not MISSING:
                break
        self._cache[ref] = value
        return value

    def holds(self, predicate: Callable[[EventView], bool]) -> bool:
        """predicate(self), computed once per event: thousands of rules share a few
        dozen logsource filters (product windows, category process_creation, ...), and a
        filter's answer for an event does not change."""
        found = self._cache.get(predicate, _UNSEEN)
        if found is _UNSEEN:
            found = self._cache[predicate] = bool(predicate(self))
        return found

    def event_id(self) -> str:
        if isinstance(self.event, SecurityEvent):
            return self.event.event_id
        found = self.event.get("event_id")
        if found is None:
            found = lookup(self._doc, ("event", "id"), ("event.id", "id"))
        return found if type(found) is str else ""

    def timestamp(self) -> float | None:
        """Event time in epoch seconds, or None when the event has no usable time."""
        if isinstance(self.event, SecurityEvent):
            return self.event.time.timestamp()
        stamp = self.event.get("time")
        if stamp is None:
            stamp = self._doc.get("@timestamp")
        return _epoch(stamp)


class _DictColumns:
    """getattr over the top-level keys of a dumped SecurityEvent."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]):
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return self._data.get(name)


def lookup(doc: Mapping[str, Any], parts: tuple[str, ...], suffixes: tuple[str, ...]) -> Any:
    """A path in a nested document. Shippers sometimes write flattened keys ("source.ip":
    …) at some level, so where a part is missing the rest of the path is tried as one key."""
    node: Any = doc
    for index, part in enumerate(parts):
        if type(node) is not dict and not isinstance(node, Mapping):
            return MISSING
        child = node.get(part, MISSING)
        if child is MISSING:
            if index + 1 == len(parts):  # the last part: its suffix is itself
                return MISSING
            return _present(node.get(suffixes[index], MISSING))
        node = child
    return node if type(node) is str else _present(node)


def _present(value: Any) -> Any:
    # A None column or an empty tuple/list is an absent field to Sigma (null, not exists).
    if value is None or value is MISSING:
        return MISSING
    if isinstance(value, tuple):
        return list(value) if value else MISSING
    if isinstance(value, list) and not value:
        return MISSING
    return value


def _epoch(stamp: Any) -> float | None:
    if isinstance(stamp, str):
        try:
            stamp = datetime.fromisoformat(stamp)
        except ValueError:
            return None
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        try:
            return stamp.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
    return None
