"""Sigma field names and logsources -> ECS, read from fieldmap.yaml (the data lives there)
and from the files of fieldmap.d/ beside it, one per log source family (Sysmon, web
servers, firewalls, ...), merged in name order: a field or a logsource named again gets
its paths or alternatives appended, so a family adds to an entry without editing it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.rule.logsource import SigmaLogSource

from config.yaml_loader import ConfigErrors, load_data
from events.models import SecurityEvent
from processors.security.sigma.document import EventView, FieldRef
from processors.security.sigma.matcher import Predicate, Unsupported, compile_definition

FIELDMAP_FILE = Path(__file__).with_name("fieldmap.yaml")
FIELDMAP_EXTRA_SUFFIXES = (".yaml", ".yml")
VIEW_CACHE_SIZE = 4096  # events whose views are kept: a batch or two (up to 2,000 each)
_LOGSOURCE_KINDS = ("product", "service", "category")
LogsourceKey = tuple[str | None, str | None, str | None]


class FieldMapError(ValueError):
    """fieldmap.yaml is malformed; the message names the file and the entry."""


class FieldMap:
    """Field resolution for compiled rules and logsource filters for the engine."""

    def __init__(
        self,
        fields: Mapping[str, tuple[str, ...]],
        keyword_paths: tuple[str, ...],
        columns: Mapping[str, str],
        logsources: Mapping[str, Mapping[str, Any]],
    ):
        self.fields = dict(fields)
        self.columns = dict(columns)
        self._refs: dict[tuple[str, ...], FieldRef] = {}
        # Searched one by one: a keyword may be in any of them, not just the first present.
        self.keyword_refs = tuple(self._ref((path,)) for path in keyword_paths)
        self._definitions = {kind: dict(logsources.get(kind) or {}) for kind in _LOGSOURCE_KINDS}
        # Compiled once per (kind, name): rules sharing a logsource share one predicate.
        self._compiled: dict[tuple[str, str], Predicate | None] = {}
        self._views: dict[int, EventView] = {}

    @classmethod
    def load(cls, path: Path = FIELDMAP_FILE) -> FieldMap:
        """`path` and every file of `<path stem>.d/` beside it, merged."""
        files = [path, *extra_files(path)]
        merged: dict[str, Any] = {}
        for file in files:
            try:
                data = load_data(file)
            except ConfigErrors as error:  # file:line of a syntax error or a duplicate key
                raise FieldMapError(str(error)) from None
            merged = merge(merged, data, str(file))
        return cls.from_dict(merged, ", ".join(str(f) for f in files))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<fieldmap>") -> FieldMap:
        """Validated and with every logsource compiled, so a bad entry fails at startup."""
        if not isinstance(data, dict):
            raise FieldMapError(f"{source}: top level must be a map")
        fieldmap = cls(
            fields=_fields(source, data.get("fields") or {}),
            keyword_paths=_paths(source, "keywords", data.get("keywords") or ["message"]),
            columns=_string_map(source, "columns", data.get("columns") or {}),
            logsources=_logsources(source, data.get("logsources") or {}),
        )
        fieldmap.compile_all(source)
        return fieldmap

    def paths(self, field: str) -> tuple[str, ...]:
        """ECS paths for a Sigma field name; an unmapped name is itself an ECS path."""
        return self.fields.get(field, (field,))

    def ref(self, field: str) -> FieldRef:
        return self._ref(self.paths(field))

    def view(self, event: Any) -> EventView:
        """One view per event, shared by every detector and rule reading it in a batch
        (each view caches the fields read): the native detectors and the Sigma engine
        each asked for their own, and read the same fields of the same event again,
        most of detection's time in bench/security.py. Only frozen SecurityEvents are
        shared (a dict may change between two reads); a view holds its event, so the
        id() it is kept under cannot be reused while it is kept."""
        if type(event) is not SecurityEvent:
            return EventView(event)
        key = id(event)
        found = self._views.get(key)
        if found is not None and found.event is event:
            return found
        view = EventView(event)
        if len(self._views) >= VIEW_CACHE_SIZE:
            self._views.clear()  # a batch is at most a few thousand events
        self._views[key] = view
        return view

    def _ref(self, paths: tuple[str, ...]) -> FieldRef:
        # One FieldRef per distinct path list: rules reading the same field share a
        # per-event cache entry (EventView caches by FieldRef identity).
        if paths not in self._refs:
            self._refs[paths] = FieldRef(paths, self.columns)
        return self._refs[paths]

    def logsource_key(self, logsource: SigmaLogSource) -> LogsourceKey:
        return (
            _lower(logsource.product),
            _lower(logsource.service),
            _lower(logsource.category),
        )

    def logsource_filter(self, key: LogsourceKey) -> Predicate | None:
        """The events a logsource admits; None admits all. Unsupported if unmapped."""
        product, service, category = key
        predicates = []
        for kind, name in (
            ("product", product),
            ("service", self._service_name(product, service)),
            ("category", category),
        ):
            if name is not None:
                predicate = self._predicate(kind, name)
                if predicate is not None:
                    predicates.append(predicate)
        if not predicates:
            return None
        if len(predicates) == 1:
            only = predicates[0]
            return lambda view: view.holds(only)
        return lambda view: all(view.holds(predicate) for predicate in predicates)

    def compile_all(self, source: str) -> None:
        for kind, definitions in self._definitions.items():
            for name in definitions:
                try:
                    self._predicate(kind, name)
                except (SigmaError, Unsupported) as error:
                    raise FieldMapError(f"{source}: logsources.{kind}.{name}: {error}") from None

    def _service_name(self, product: str | None, service: str | None) -> str | None:
        if service is None:
            return None
        qualified = f"{product}/{service}" if product else service
        if qualified in self._definitions["service"]:
            return qualified
        if service in self._definitions["service"]:
            return service
        return qualified  # reported as unmapped under the name the rule used

    def _predicate(self, kind: str, name: str) -> Predicate | None:
        cache_key = (kind, name)
        if cache_key not in self._compiled:
            definitions = self._definitions[kind]
            if name not in definitions:
                raise Unsupported(f"logsource {kind} '{name}' has no mapping in fieldmap.yaml")
            definition = definitions[name]
            self._compiled[cache_key] = (
                None if definition is None else compile_definition(definition, self)
            )
        return self._compiled[cache_key]


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _fields(source: str, raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise FieldMapError(f"{source}: 'fields' must be a map")
    return {
        str(name): _paths(source, f"fields.{name}", [paths] if isinstance(paths, str) else paths)
        for name, paths in raw.items()
    }


def _paths(source: str, where: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise FieldMapError(f"{source}: '{where}' must be a non-empty list of ECS paths")
    return tuple(raw)


def _string_map(source: str, where: str, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise FieldMapError(f"{source}: '{where}' must map strings to strings")
    return raw


def _logsources(source: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or set(raw) - set(_LOGSOURCE_KINDS):
        raise FieldMapError(f"{source}: 'logsources' may only have {', '.join(_LOGSOURCE_KINDS)}")
    for kind, entries in raw.items():
        if not isinstance(entries, dict):
            raise FieldMapError(f"{source}: 'logsources.{kind}' must be a map")
    return {kind: {str(k).lower(): v for k, v in entries.items()} for kind, entries in raw.items()}


def extra_files(path: Path) -> list[Path]:
    folder = path.with_name(f"{path.stem}.d")
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix in FIELDMAP_EXTRA_SUFFIXES)


def merge(base: dict[str, Any], extra: Any, source: str) -> dict[str, Any]:
    """`extra` added to `base`: field paths and logsource alternatives appended (a
    logsource map is one alternative), keywords appended, columns added (a column named
    twice with another value is an error: a path reads one column)."""
    if not isinstance(extra, dict):
        raise FieldMapError(f"{source}: top level must be a map")
    for section in ("fields", "columns", "logsources"):
        if not isinstance(extra.get(section) or {}, dict):
            raise FieldMapError(f"{source}: '{section}' must be a map")
    out = dict(base)
    fields = dict(out.get("fields") or {})
    for name, paths in (extra.get("fields") or {}).items():
        fields[name] = _union(_as_list(fields.get(name)), _as_list(paths))
    out["fields"] = fields
    out["keywords"] = _union(out.get("keywords") or [], extra.get("keywords") or [])
    columns = dict(out.get("columns") or {})
    for path, column in (extra.get("columns") or {}).items():
        if columns.get(path, column) != column:
            raise FieldMapError(f"{source}: columns.{path} is {columns[path]!r} elsewhere")
        columns[path] = column
    out["columns"] = columns
    logsources = {kind: dict(v or {}) for kind, v in (out.get("logsources") or {}).items()}
    for kind, entries in (extra.get("logsources") or {}).items():
        if not isinstance(entries, dict):
            raise FieldMapError(f"{source}: 'logsources.{kind}' must be a map")
        known = logsources.setdefault(kind, {})
        for name, definition in entries.items():
            known[name] = _alternatives(known, name, definition)
    out["logsources"] = logsources
    return out


def _alternatives(known: dict[str, Any], name: str, definition: Any) -> Any:
    if name not in known:
        return definition
    if known[name] is None or definition is None:
        return None  # one side admits every event: so does the union
    return _union(_as_list(known[name]), _as_list(definition))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _union(first: list[Any], second: list[Any]) -> list[Any]:
    return first + [item for item in second if item not in first]
