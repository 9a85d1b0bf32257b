"""Which rules an event can possibly match, from the literal text the rules require.

With SigmaHQ loaded, a Sysmon process creation meets a thousand rules of its logsource,
and almost every one of them needs some literal text in some field (`Image|endswith:
'\\whoami.exe'`, `CommandLine|contains: ' -enc '`). For each rule we derive, from
pySigma's condition tree, a set of (field, literal) atoms such that the rule cannot match
unless at least one of them occurs in the field's case-folded value. Per field, an
Aho-Corasick automaton of all the atoms finds in one pass over the value which atoms
occur, hence which rules are worth evaluating. The index only narrows: a candidate is
still decided by its compiled predicate, so a rule the index cannot describe (regular
expressions, numbers, `not`, nulls, field references, cased strings) is always a
candidate, and matching stays exactly the matcher's.

Literals are derived from the same normalised, lower()-folded string parts the matcher
compares (matcher._string_test), and searched in `as_text(value).lower()`, the text the
matcher compares: an attacker's case tricks (U+0130, the Kelvin sign) fold the same way
for both. pyahocorasick does the multi-pattern search (no hand-written automaton).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule.detection import SigmaDetections
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaString, SpecialChars

from processors.security.sigma.document import MISSING, EventView, FieldRef
from processors.security.sigma.matcher import FieldResolver, as_text

# (field, literal): the rule needs `literal` inside the field's lower-cased text.
Atom = tuple[FieldRef, str]
# At least one atom of the set must occur; None: no literal is required (always a candidate).
Needs = frozenset[Atom] | None
# Buckets smaller than this are evaluated whole: the index costs more than it saves.
MIN_INDEXED_RULES = 8


def needs(detections: SigmaDetections, fields: FieldResolver) -> Needs:
    """A rule's literal needs: its conditions are alternatives, so their needs add up."""
    found = [_needs(condition.parse(), fields) for condition in detections.parsed_condition]
    return _union(found)


def _needs(node: Any, fields: FieldResolver) -> Needs:
    if isinstance(node, ConditionAND):
        return _best([_needs(arg, fields) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _union([_needs(arg, fields) for arg in node.args])
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value_needs([fields.ref(node.field)], node.value)
    if isinstance(node, ConditionValueExpression):  # a keyword: searched in these fields
        return _value_needs(list(fields.keyword_refs), node.value)
    return None


def _value_needs(refs: list[FieldRef], value: Any) -> Needs:
    if isinstance(value, SigmaExpansion):  # windash, base64offset: any of its values
        return _union([_value_needs(refs, one) for one in value.values])
    if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
        return None
    literal = _longest_literal(value)
    if literal is None:
        return None
    return frozenset((ref, literal) for ref in refs)


def _longest_literal(value: SigmaString) -> str | None:
    """The longest run of plain text between wildcards, lower-cased as the matcher folds
    it; None when there is none or a placeholder is left."""
    runs: list[str] = []
    current = ""
    for part in value.s:
        if isinstance(part, str):
            current += part
        elif isinstance(part, SpecialChars):
            runs.append(current)
            current = ""
        else:  # an unresolved placeholder: the loader rejects the rule anyway
            return None
    runs.append(current)
    longest = max(runs, key=len).lower()
    return longest or None


def _union(found: Sequence[Needs]) -> Needs:
    if not found or any(one is None for one in found):
        return None
    return frozenset().union(*found)  # type: ignore[arg-type]


def _best(found: Sequence[Needs]) -> Needs:
    """Of an AND's parts, the needs that narrow most: the longest shortest literal (a
    two-letter literal occurs everywhere), then the fewest atoms."""
    known = [one for one in found if one is not None]
    if not known:
        return None
    return max(known, key=lambda atoms: (min(len(literal) for _, literal in atoms), -len(atoms)))


@dataclass
class _FieldIndex:
    ref: FieldRef
    automaton: Any  # ahocorasick.Automaton: literal -> tuple of rule positions


class RuleIndex:
    """The rules of one logsource bucket, narrowed per event by the literals they need."""

    def __init__(self, rules: Sequence[Any], rule_needs: Sequence[Needs]):
        self.rules = tuple(rules)
        indexed = len(self.rules) >= MIN_INDEXED_RULES
        self._always = tuple(
            i for i, atoms in enumerate(rule_needs) if atoms is None or not indexed
        )
        self._fields = _field_indexes(rule_needs) if indexed else ()

    def candidates(self, view: EventView) -> Iterable[Any]:
        """The rules that may match, in their loaded order."""
        if not self._fields:
            return self.rules
        hit = set(self._always)
        for index in self._fields:
            for text in _texts(view.first(index.ref)):
                for _, positions in index.automaton.iter(text):
                    hit.update(positions)
        rules = self.rules
        return [rules[i] for i in sorted(hit)]


def _field_indexes(rule_needs: Sequence[Needs]) -> tuple[_FieldIndex, ...]:
    by_field: dict[FieldRef, dict[str, list[int]]] = {}
    for position, atoms in enumerate(rule_needs):
        for ref, literal in atoms or ():
            by_field.setdefault(ref, {}).setdefault(literal, []).append(position)
    indexes = []
    for ref, literals in by_field.items():
        automaton = ahocorasick.Automaton()
        for literal, positions in literals.items():
            automaton.add_word(literal, tuple(positions))
        automaton.make_automaton()
        indexes.append(_FieldIndex(ref, automaton))
    return tuple(indexes)


def _texts(value: Any) -> list[str]:
    """The case-folded texts the matcher would compare, one per element of a list."""
    if value is MISSING:
        return []
    values = value if type(value) is list else [value]
    texts = []
    for one in values:
        text = as_text(one)
        if text is not None:
            texts.append(text.lower())
    return texts
