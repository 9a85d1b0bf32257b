"""Compile a Sigma detection into one Python predicate over an EventView.

pySigma parses rules and turns a condition into a tree (ConditionAND/OR/NOT over
ConditionFieldEqualsValueExpression and ConditionValueExpression leaves, with the
modifiers already applied to the values: `contains` is a value with * around it, `all`
an AND of leaves, `re` a SigmaRegularExpression, `cidr` a SigmaCIDRExpression…). It has
no way to evaluate a rule against an event: its backends translate rules into SIEM
queries. Matching is ours, and happens here, once per rule: the tree becomes nested
closures, so an event is never matched by re-reading YAML or re-walking pySigma objects.

Semantics follow the Sigma specification: plain string values are case-insensitive with
`*` and `?` wildcards; a list-valued event field matches when any element does; `null`
matches an absent field; keyword (field-less) values are searched inside the message.
Event text is attacker-controlled, so nothing here may backtrack: `re` patterns run on
RE2 (pySigma's default regex engine), wildcard values without `?` on str.find.

Modifiers that rewrite values are pySigma's: `windash` and `base64offset` arrive as a
SigmaExpansion (any of its values), `base64`, `wide`/`utf16`/`utf16be` as encoded strings,
`expand` as placeholders, which the loader replaces from the site configuration
(site.py) before the rule reaches this module. What is ours: `fieldref` (one field of the
event against another) and the timestamp parts (`minute`, `hour`, ... of a time field).
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.modifiers import SigmaWideModifier, modifier_mapping, reverse_modifier_mapping
from sigma.policy import default_policy
from sigma.rule.detection import SigmaDetection, SigmaDetectionItem, SigmaDetections
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

from processors.security.sigma.document import MISSING, EventView, FieldRef

Predicate = Callable[[EventView], bool]
ValueTest = Callable[[Any], bool]
ConditionNode = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression

# Modifier names as written in rules: every one pySigma 2 knows. A new pySigma modifier
# is reported at load (check_modifiers) until it is added here, instead of half-working.
SUPPORTED_MODIFIERS = frozenset(
    {
        "contains", "startswith", "endswith", "all", "cased", "neq",
        "re", "i", "ignorecase", "m", "multiline", "s", "dotall",
        "cidr", "exists", "gt", "gte", "lt", "lte",
        "windash", "base64", "base64offset", "wide", "utf16le", "utf16", "utf16be",
        "expand", "fieldref",
        "minute", "hour", "day", "week", "month", "year",
    }
)  # fmt: skip
# The Sigma specification names UTF-16LE `utf16le` as well as `wide`; pySigma 2 knows only
# `wide`. One alias in pySigma's table (read when a rule is parsed), so rules written
# either way load; the reverse table still names the modifier `wide`.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)
_COMPARE = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}
_MULTI, _SINGLE = SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE


class Unsupported(ValueError):
    """The rule uses a Sigma feature this engine does not evaluate; the text says which."""


class FieldResolver(Protocol):
    keyword_refs: tuple[FieldRef, ...]

    def ref(self, field: str) -> FieldRef: ...


# ---- rules --------------------------------------------------------------------------


def check_modifiers(detections: SigmaDetections) -> None:
    """Raise Unsupported for the first modifier outside SUPPORTED_MODIFIERS."""
    for name, detection in detections.detections.items():
        for item in _items(detection):
            for modifier in item.modifiers:
                modifier_id = _modifier_id(modifier)
                if modifier_id not in SUPPORTED_MODIFIERS:
                    where = f"field {item.field!r}" if item.field else "a keyword value"
                    raise Unsupported(f"modifier '{modifier_id}' on {where} in {name!r}")


def compile_detections(detections: SigmaDetections, fields: FieldResolver) -> Predicate:
    """A rule's conditions as one predicate; several conditions are alternatives."""
    predicates = [
        compile_condition(condition.parse(), fields) for condition in detections.parsed_condition
    ]
    return predicates[0] if len(predicates) == 1 else _any(predicates)


def compile_definition(definition: Any, fields: FieldResolver) -> Predicate:
    """A detection written as data (a map or a list of maps), e.g. a logsource filter."""
    detections = SigmaDetections.from_dict({"filter": definition, "condition": "filter"})
    check_modifiers(detections)
    return compile_detections(detections, fields)


def compile_condition(node: ConditionNode | None, fields: FieldResolver) -> Predicate:
    if isinstance(node, ConditionAND):
        return _all([compile_condition(arg, fields) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _compile_or(node.args, fields)
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0], fields)
        return lambda view: not inner(view)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if isinstance(node.value, SigmaFieldReference):
            return _fieldref_leaf(fields.ref(node.field), fields.ref(node.value.field), node.value)
        return _field_leaf(fields.ref(node.field), node.value)
    if isinstance(node, ConditionValueExpression):
        return _keyword_leaf(fields.keyword_refs, node.value)
    raise Unsupported(f"condition element {type(node).__name__} is not supported")


def _compile_or(args: list[Any], fields: FieldResolver) -> Predicate:
    """`field: [a, b, c]` arrives as an OR of one leaf per value; exact values of one
    field become a single set lookup instead (one field read, one lower())."""
    exact: dict[str, list[SigmaType]] = {}
    rest = []
    for arg in args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and _is_exact(arg.value):
            exact.setdefault(arg.field, []).append(arg.value)
        else:
            rest.append(arg)
    predicates = [
        _tested_leaf(fields.ref(field), _member_test(values))
        if len(values) > 1
        else _field_leaf(fields.ref(field), values[0])
        for field, values in exact.items()
    ]
    predicates.extend(compile_condition(arg, fields) for arg in rest)
    return predicates[0] if len(predicates) == 1 else _any(predicates)


def _is_exact(value: SigmaType) -> bool:
    if type(value) is SigmaNumber:
        return True
    return type(value) is SigmaString and all(isinstance(part, str) for part in value.s)


def _items(detection: SigmaDetection) -> list[SigmaDetectionItem]:
    found: list[SigmaDetectionItem] = []
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            found.extend(_items(item))
        else:
            found.append(item)
    return found


def _modifier_id(modifier: type) -> str:
    return reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)


def _all(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 2:  # the common case, without a Python-level loop
        first, second = predicates
        return lambda view: first(view) and second(view)
    frozen = tuple(predicates)

    def every(view: EventView) -> bool:
        # A plain loop, not all(genexpr): this runs per rule per event.
        for predicate in frozen:  # noqa: SIM110
            if not predicate(view):
                return False
        return True

    return every


def _any(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda view: first(view) or second(view)
    frozen = tuple(predicates)

    def some(view: EventView) -> bool:
        for predicate in frozen:  # noqa: SIM110
            if predicate(view):
                return True
        return False

    return some


# ---- leaves -------------------------------------------------------------------------


def _field_leaf(ref: FieldRef, value: SigmaType) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda view: view.first(ref) is MISSING
    if isinstance(value, SigmaExists):
        wanted = bool(value.exists)
        return lambda view: (view.first(ref) is not MISSING) is wanted
    return _tested_leaf(ref, value_test(value))


def _keyword_leaf(refs: tuple[FieldRef, ...], value: SigmaType) -> Predicate:
    """A keyword is searched for anywhere in the message, so it gets implicit * around it."""
    if isinstance(value, SigmaExpansion):  # e.g. a keyword with windash or base64offset
        leaves = [_keyword_leaf(refs, expanded) for expanded in value.values]
        return leaves[0] if len(leaves) == 1 else _any(leaves)
    if isinstance(value, SigmaNumber | SigmaBool):
        value = SigmaString(str(value))
    if not isinstance(value, SigmaString):
        raise Unsupported(f"keyword value of type {type(value).__name__} is not supported")
    test = _string_test([_MULTI, *value.s, _MULTI], cased=isinstance(value, SigmaCasedString))
    leaves = [_tested_leaf(ref, test) for ref in refs]
    return leaves[0] if len(leaves) == 1 else _any(leaves)


def _tested_leaf(ref: FieldRef, test: ValueTest) -> Predicate:
    def leaf(view: EventView) -> bool:
        found = view.first(ref)
        if found is MISSING:
            return False
        if type(found) is list:
            return any(test(element) for element in found)
        return test(found)

    return leaf


def value_test(value: SigmaType) -> ValueTest:
    """A test of one scalar event value against one Sigma value."""
    if isinstance(value, SigmaExpansion):
        return _any_test([value_test(expanded) for expanded in value.values])
    if isinstance(value, SigmaTimestampPart):  # a SigmaNumber too: tested first
        return _timestamp_part_test(value.timestamp_part, value.number)
    if isinstance(value, SigmaString):
        return _string_test(list(value.s), cased=isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaBool):
        return _bool_test(bool(value.boolean))
    if isinstance(value, SigmaNumber):
        return _number_test(value.number)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(_COMPARE[value.op], value.number.number)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value.network)
    raise Unsupported(f"value type {type(value).__name__} ({value!r}) is not supported")


# ---- strings ------------------------------------------------------------------------


def _any_test(tests: Sequence[ValueTest]) -> ValueTest:
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def test(value: Any) -> bool:
        for one in frozen:  # noqa: SIM110
            if one(value):
                return True
        return False

    return test


def _fieldref_leaf(ref: FieldRef, other: FieldRef, value: SigmaFieldReference) -> Predicate:
    """`field|fieldref: other`: the field's value equals (or, with contains/startswith/
    endswith, contains...) the other field's value in the same event, case-insensitively
    as Sigma compares strings. Either field absent: no match."""

    def compare(text: str, wanted: str) -> bool:
        if value.starts_with and value.ends_with:
            return wanted in text
        if value.starts_with:
            return text.startswith(wanted)
        if value.ends_with:
            return text.endswith(wanted)
        return text == wanted

    def leaf(view: EventView) -> bool:
        found, wanted = as_text(view.first(ref)), as_text(view.first(other))
        if found is None or wanted is None:
            return False
        return compare(found.lower(), wanted.lower())

    return leaf


def _string_test(parts: list[Any], cased: bool) -> ValueTest:
    if any(not isinstance(part, str | SpecialChars) for part in parts):
        names = ", ".join(f"%{part.name}%" for part in parts if hasattr(part, "name"))
        raise Unsupported(f"placeholder {names} has no value in the site configuration")
    folded = [part.lower() if isinstance(part, str) and not cased else part for part in parts]
    parts = _normalise(folded)
    match_text = _text_matcher(parts, cased)

    def test(value: Any) -> bool:
        text = value if type(value) is str else as_text(value)
        if text is None:
            return False
        return match_text(text if cased else text.lower())

    return test


def _normalise(parts: list[Any]) -> list[Any]:
    """Adjacent strings joined, runs of * collapsed, empty strings dropped."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            if part and out and isinstance(out[-1], str):
                out[-1] += part
            elif part:
                out.append(part)
        elif not (part is _MULTI and out and out[-1] is _MULTI):
            out.append(part)
    return out


def _text_matcher(parts: list[Any], cased: bool) -> Callable[[str], bool]:
    """A matcher of already case-folded text: str methods for the shapes rules use."""
    if _SINGLE in parts:
        return _glob_regex(parts, cased)
    if _MULTI not in parts:
        exact = parts[0] if parts else ""
        return lambda text: text == exact
    head = parts[0] if isinstance(parts[0], str) else ""
    tail = parts[-1] if isinstance(parts[-1], str) else ""
    middle = [part for part in parts[1 if head else 0 : -1 if tail else None] if part is not _MULTI]
    if middle:
        if not head and not tail and len(middle) == 1:
            needle = middle[0]
            return lambda text: needle in text
        return _glob_find(head, middle, tail)
    if head and tail:
        size = len(head) + len(tail)
        return lambda text: len(text) >= size and text.startswith(head) and text.endswith(tail)
    if head:
        return lambda text: text.startswith(head)
    if tail:
        return lambda text: text.endswith(tail)
    return lambda text: True  # "*": any value


def _glob_find(head: str, middle: list[str], tail: str) -> Callable[[str], bool]:
    """head*m1*m2*…*tail by leftmost str.find: linear, and exact for '*'-only globs
    (taking each middle part at its first occurrence never rules out a match)."""

    def match(text: str) -> bool:
        if not text.startswith(head):
            return False
        end = len(text) - len(tail)
        if end < len(head) or not text.endswith(tail):
            return False
        position = len(head)
        for literal in middle:
            found = text.find(literal, position, end)
            if found < 0:
                return False
            position = found + len(literal)
        return True

    return match


def _glob_regex(parts: list[Any], cased: bool) -> Callable[[str], bool]:
    pattern = "".join(
        ".*" if part is _MULTI else "." if part is _SINGLE else re.escape(part) for part in parts
    )
    flags = re.DOTALL if cased else re.DOTALL | re.IGNORECASE
    compiled = default_policy.regex_engine.compile(pattern, flags)
    return lambda text: compiled.fullmatch(text) is not None


def as_text(value: Any) -> str | None:
    """The string form a Sigma string value is compared with; None for non-scalars."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        try:
            return str(value)
        except ValueError:  # an int past Python's str() digit limit
            return None
    return None


def _member_test(values: list[SigmaType]) -> ValueTest:
    """Equality with any of several exact strings (case-insensitive) or numbers."""
    texts = frozenset("".join(v.s).lower() for v in values if type(v) is SigmaString)
    numbers = frozenset(v.number for v in values if type(v) is SigmaNumber)
    texts |= {str(number) for number in numbers}  # 22 also matches the text "22"

    def test(value: Any) -> bool:
        text = value if type(value) is str else as_text(value)
        if text is not None and text.lower() in texts:
            return True
        if not numbers:
            return False
        number = as_number(value)
        return number is not None and number in numbers

    return test


# ---- numbers, booleans, regular expressions, networks -------------------------------


def as_number(value: Any) -> int | float | None:
    """Numbers arrive as JSON numbers or as strings (Winlogbeat: event_id "4625")."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str and 0 < len(value) <= 32 and value.isascii():
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _number_test(wanted: int | float) -> ValueTest:
    def test(value: Any) -> bool:
        number = as_number(value)
        return number is not None and number == wanted

    return test


def _compare_test(compare: Callable[[Any, Any], bool], bound: int | float) -> ValueTest:
    def test(value: Any) -> bool:
        number = as_number(value)
        return number is not None and compare(number, bound)

    return test


_TIME_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda t: t.minute,
    TimestampPart.HOUR: lambda t: t.hour,
    TimestampPart.DAY: lambda t: t.day,
    TimestampPart.WEEK: lambda t: t.isocalendar().week,
    TimestampPart.MONTH: lambda t: t.month,
    TimestampPart.YEAR: lambda t: t.year,
}


def _timestamp_part_test(part: TimestampPart, wanted: int | float) -> ValueTest:
    """`field|hour: 3`: a part of a time value (ISO 8601 text, a datetime, or epoch
    seconds), in UTC: an event's zone is not known here, and UTC is how events store it."""
    read = _TIME_PARTS[part]

    def test(value: Any) -> bool:
        moment = _as_time(value)
        return moment is not None and read(moment) == wanted

    return test


def _as_time(value: Any) -> datetime | None:
    try:
        if isinstance(value, datetime):
            moment = value
        elif type(value) is str and len(value) <= 64:
            moment = datetime.fromisoformat(value)
        elif type(value) in (int, float) and math.isfinite(value):
            return datetime.fromtimestamp(value, UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bool_test(wanted: bool) -> ValueTest:
    text = "true" if wanted else "false"
    return lambda value: value is wanted or (type(value) is str and value.lower() == text)


def _regex_test(value: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    # Unanchored, as the Sigma spec reads `re` (search, not fullmatch); RE2 never backtracks.
    compiled = default_policy.regex_engine.compile(str(value.regexp), flags)

    def test(event_value: Any) -> bool:
        text = as_text(event_value)
        return text is not None and compiled.search(text) is not None

    return test


def _cidr_test(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ValueTest:
    def test(value: Any) -> bool:
        # Longer than any IPv6 text: not an address, and not worth a cache slot.
        address = _ip(value) if type(value) is str and len(value) <= 64 else None
        return address is not None and address.version == network.version and address in network

    return test


@lru_cache(maxsize=8192)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # ip_address costs ~1 µs; the same few thousand addresses recur in any log stream.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
