"""Load a folder of Sigma rules with pySigma and compile what this engine can run.

Every rule ends up either compiled or in `RuleSet.rejected` with the file, the rule and
the reason: a SOC must know which detections are NOT running, so nothing is skipped
silently. Files are parsed one at a time (SigmaCollection.from_yaml with collect_errors)
so one broken file costs only its own rules; references between files (correlations
naming their base rules) are resolved after all files are read, as load_ruleset does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
)
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule, SigmaRuleBase

from processors.security.sigma.document import FieldRef
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.matcher import Unsupported, check_modifiers, compile_detections
from processors.security.sigma.model import (
    TEMPORAL_KINDS,
    CompiledCorrelation,
    CompiledRule,
    CorrelationKind,
    Rejection,
    RuleInfo,
)
from processors.security.sigma.prefilter import needs
from processors.security.sigma.site import Site

RULES_DIR = Path(__file__).resolve().parents[1] / "rules" / "sigma"
RULE_SUFFIXES = (".yml", ".yaml")
DEFAULT_LEVEL = "medium"  # Sigma makes level optional; a rule without one is not ignorable
# A count threshold is also how many events a group keeps (see correlation.py), so it
# bounds memory per group; rules asking for more are rejected rather than truncated.
MAX_THRESHOLD = 1000
_SUPPORTED_CORRELATIONS: dict[SigmaCorrelationType, CorrelationKind] = {
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
    SigmaCorrelationType.TEMPORAL: "temporal",
    SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
}


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[CompiledCorrelation] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class _Parsed:
    rule: SigmaRule | SigmaCorrelationRule
    file: str


def load_rules(
    paths: Path | Iterable[Path] = RULES_DIR,
    fieldmap: FieldMap | None = None,
    site: Site | None = None,
) -> RuleSet:
    """Rules from rule files and folders (searched recursively for .yml/.yaml)."""
    files = rule_files([paths] if isinstance(paths, Path) else paths)
    return load_texts([(str(path), _read(path)) for path in files], fieldmap, site)


def load_texts(
    sources: Iterable[tuple[str, str | OSError]],
    fieldmap: FieldMap | None = None,
    site: Site | None = None,
) -> RuleSet:
    """Rules from (name, YAML text) pairs, e.g. a rule submitted through an API. `site`
    fills the rules' placeholders (default: deploy/security/site.yaml)."""
    fieldmap = fieldmap or FieldMap.load()
    site = site if site is not None else Site.load()
    ruleset = RuleSet()
    parsed: list[_Parsed] = []
    for name, text in sources:
        parsed.extend(_parse(name, text, ruleset.rejected))
    parsed = _drop_duplicates(parsed, ruleset.rejected)
    collection = SigmaCollection([p.rule for p in parsed], resolve_references=False)
    compiled: dict[int, CompiledRule] = {}
    for item in parsed:
        if isinstance(item.rule, SigmaRule):
            rule = _guard(item, ruleset.rejected, lambda i=item: _compile_rule(i, fieldmap, site))
            if rule is not None:
                compiled[id(item.rule)] = rule
    silent: set[str] = set()
    for item in parsed:
        if isinstance(item.rule, SigmaCorrelationRule):
            correlation = _guard(
                item,
                ruleset.rejected,
                lambda i=item: _compile_correlation(i, collection, compiled, fieldmap),
            )
            if correlation is not None:
                ruleset.correlations.append(correlation)
                if not item.rule.generate:
                    silent.update(correlation.rules)
    ruleset.rules = [
        replace(rule, emits=False) if rule.info.key in silent else rule
        for rule in compiled.values()
    ]
    return ruleset


def rule_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES))
        else:
            found.append(path)
    return found


# ---- parsing ------------------------------------------------------------------------


def _read(path: Path) -> str | OSError:
    # Read errors are reported like parse errors, against the file, not raised.
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return OSError(f"not UTF-8: {error}")
    except OSError as error:
        return error


def _parse(name: str, text: str | OSError, rejected: list[Rejection]) -> list[_Parsed]:
    try:
        if isinstance(text, OSError):
            raise text
        collection = SigmaCollection.from_yaml(
            text,
            collect_errors=True,
            source=SigmaRuleLocation(Path(name)),
            collect_filters=True,
            resolve_references=False,
        )
    except (OSError, yaml.YAMLError, SigmaError) as error:
        rejected.append(Rejection(name, "-", _reason(error)))
        return []
    rule_errors = {id(e) for rule in collection.rules for e in rule.errors}
    rejected.extend(
        Rejection(name, "-", _reason(e)) for e in collection.errors if id(e) not in rule_errors
    )
    rejected.extend(
        Rejection(name, _label(f), "Sigma filters (meta-rules) are not supported")
        for f in collection.filters
    )
    parsed = []
    for rule in collection.rules:
        if rule.errors:
            reasons = "; ".join(dict.fromkeys(_reason(e) for e in rule.errors))
            rejected.append(Rejection(name, _label(rule), reasons))
        else:
            parsed.append(_Parsed(rule, name))
    return parsed


def _drop_duplicates(parsed: list[_Parsed], rejected: list[Rejection]) -> list[_Parsed]:
    """Ids and names must be unique: a correlation referring to a duplicated one would
    count the wrong rule, so the later duplicate is rejected."""
    seen: dict[str, str] = {}
    kept = []
    for item in parsed:
        names = [n for n in (str(item.rule.id) if item.rule.id else None, item.rule.name) if n]
        clash = next((n for n in names if n in seen), None)
        if clash is not None:
            reason = f"id or name {clash!r} is already used by a rule in {seen[clash]}"
            rejected.append(Rejection(item.file, _label(item.rule), reason))
            continue
        seen.update(dict.fromkeys(names, item.file))
        kept.append(item)
    return kept


def _guard(item: _Parsed, rejected: list[Rejection], build: Any) -> Any:
    """Run one rule's compilation; a failure rejects that rule, never the rule set."""
    try:
        return build()
    except (Unsupported, SigmaError) as error:
        rejected.append(Rejection(item.file, _label(item.rule), _reason(error)))
    except Exception as error:  # a rule shape the compiler mishandles: report, keep loading
        reason = f"internal error compiling the rule: {type(error).__name__}: {error}"
        rejected.append(Rejection(item.file, _label(item.rule), reason))
    return None


def _reason(error: BaseException) -> str:
    # SigmaError's str() appends " in <absolute path>"; the file is already reported.
    if isinstance(error, SigmaError) and error.args:
        text = str(error.args[0])
    else:
        text = " ".join(str(error).split())  # YAML errors span lines
    return text or type(error).__name__


def _label(rule: SigmaRuleBase | SigmaFilter) -> str:
    ident = str(rule.id) if rule.id else rule.name
    if ident and rule.title and ident != rule.title:
        return f"{ident} ({rule.title})"
    return ident or rule.title or "-"


def _info(rule: SigmaRuleBase, file: str) -> RuleInfo:
    return RuleInfo(
        key=_key(rule),
        title=rule.title or _key(rule),
        level=str(rule.level) if rule.level is not None else DEFAULT_LEVEL,
        tags=tuple(str(tag) for tag in rule.tags),
        source=file,
    )


def _key(rule: SigmaRuleBase) -> str:
    return str(rule.id) if rule.id else rule.name or rule.title


# ---- compiling ----------------------------------------------------------------------


def _compile_rule(item: _Parsed, fieldmap: FieldMap, site: Site) -> CompiledRule:
    rule = item.rule
    assert isinstance(rule, SigmaRule)
    check_modifiers(rule.detection)
    site.apply(rule)
    logsource = fieldmap.logsource_key(rule.logsource)
    fieldmap.logsource_filter(logsource)  # raises Unsupported for an unmapped logsource
    predicate = compile_detections(rule.detection, fieldmap)
    literals = needs(rule.detection, fieldmap)
    return CompiledRule(_info(rule, item.file), logsource, predicate, needs=literals)


def _compile_correlation(
    item: _Parsed,
    collection: SigmaCollection,
    compiled: dict[int, CompiledRule],
    fieldmap: FieldMap,
) -> CompiledCorrelation:
    rule = item.rule
    assert isinstance(rule, SigmaCorrelationRule)
    kind = _SUPPORTED_CORRELATIONS.get(rule.type)
    if kind is None:
        raise Unsupported(
            f"correlation type '{rule.type.name.lower()}' is not supported"
            " (only event_count, value_count, temporal, temporal_ordered)"
        )
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        # and/or/not over rules: "not" is an absence, known only when the window closes.
        raise Unsupported("extended (boolean) correlation conditions are not supported")
    rule.resolve_rule_references(collection)  # SigmaRuleNotFoundError names a missing rule
    rule.aliases.resolve_rule_references(collection)
    bases = [_referenced(ref.rule, compiled) for ref in rule.referenced_rules]
    group_by = tuple(rule.group_by or ())
    value_field = _value_field(rule) if kind == "value_count" else None
    keys = tuple(dict.fromkeys(base.info.key for _, base in bases))
    if kind in TEMPORAL_KINDS and len(keys) < 2:
        raise Unsupported(f"a {kind} correlation needs at least two different rules")
    return CompiledCorrelation(
        info=_info(rule, item.file),
        kind=kind,
        rules=keys,
        timespan=float(rule.timespan.seconds),
        threshold=_temporal_threshold(rule, len(keys))
        if kind in TEMPORAL_KINDS
        else _threshold(rule),
        group_by=group_by,
        group_paths={
            base.info.key: tuple(_alias_paths(rule, name, sigma, fieldmap) for name in group_by)
            for sigma, base in bases
        },
        value_paths={
            base.info.key: _alias_paths(rule, value_field, sigma, fieldmap) for sigma, base in bases
        }
        if value_field
        else {},
        value_field=value_field,
    )


def _referenced(
    rule: SigmaRule | SigmaCorrelationRule, compiled: dict[int, CompiledRule]
) -> tuple[SigmaRule, CompiledRule]:
    if isinstance(rule, SigmaCorrelationRule):
        raise Unsupported(f"refers to correlation rule {_label(rule)}; chaining is not supported")
    if id(rule) not in compiled:
        raise Unsupported(f"refers to rule {_label(rule)}, which was rejected")
    return rule, compiled[id(rule)]


def _threshold(rule: SigmaCorrelationRule) -> int:
    """The smallest count satisfying the condition. Only "at least" conditions can fire
    as events arrive; lt/lte/eq/neq need the window to close (absence detection)."""
    condition = rule.condition
    op = getattr(condition, "op", None)
    if op is SigmaCorrelationConditionOperator.GTE:
        threshold = math.ceil(condition.count)
    elif op is SigmaCorrelationConditionOperator.GT:
        threshold = math.floor(condition.count) + 1
    else:
        name = op.name.lower() if op is not None else "extended"
        raise Unsupported(f"correlation condition '{name}' is not supported (only gte, gt)")
    if threshold > MAX_THRESHOLD:
        raise Unsupported(f"correlation threshold {threshold} is above {MAX_THRESHOLD}")
    return max(threshold, 1)


def _temporal_threshold(rule: SigmaCorrelationRule, rules: int) -> int:
    """How many of its rules a temporal correlation needs: all of them (the Sigma spec),
    unless a temporal condition asks for fewer (pySigma writes gte 1 for a rule without
    a condition, which means all here). temporal_ordered always needs the whole list."""
    if rule.type is SigmaCorrelationType.TEMPORAL_ORDERED:
        return rules
    wanted = _threshold(rule)  # raises for conditions other than gte, gt
    return wanted if 1 < wanted < rules else rules


def _value_field(rule: SigmaCorrelationRule) -> str:
    fieldref = getattr(rule.condition, "fieldref", None)
    if not isinstance(fieldref, str):
        raise Unsupported("value_count needs exactly one field in its condition")
    return fieldref


def _alias_paths(
    rule: SigmaCorrelationRule, name: str, base: SigmaRule, fieldmap: FieldMap
) -> FieldRef:
    """A group-by or value field as the base rule's events name it: an alias maps it per
    referenced rule, anything else goes through the field map."""
    alias = rule.aliases.aliases.get(name)
    if alias is not None:
        for reference, field_name in alias.mapping.items():
            if getattr(reference, "rule", None) is base:
                return fieldmap.ref(field_name)
        raise Unsupported(f"alias '{name}' has no field for rule {_label(base)}")
    return fieldmap.ref(name)
