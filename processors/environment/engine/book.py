"""RuleBook: every rule of a set of packs, loaded and checked as a whole.

Loading is pure (files in, RuleBook or RuleErrors out), so reloading without a restart
is: load a new book, and swap it in only if it loaded. A half-valid set of packs is
refused as a whole: running some rules of an edited pack silently is worse than running
yesterday's rules until the file is fixed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from config.yaml_loader import ConfigError as RuleError
from config.yaml_loader import ConfigErrors as RuleErrors
from config.yaml_loader import Path_, Source, display_path, read_source
from config.yaml_loader import validation_errors as pydantic_errors
from events.metrics import MetricRegistry, get_registry

from .model import KINDS, AnyRule, NightCountRule, PackShell, Rule
from .params import StationTable, load_table
from .validate import check_rule

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
RULE_SUFFIXES = (".yaml", ".yml")
_RULE: TypeAdapter[AnyRule] = TypeAdapter(Rule)


@dataclass(frozen=True)
class _Placed:
    rule: AnyRule
    source: Source
    path: Path_


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[AnyRule, ...]
    files: tuple[str, ...] = ()
    _by_metric: Mapping[str, tuple[AnyRule, ...]] = field(init=False, repr=False, compare=False)
    _any_metric: tuple[AnyRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_metric: dict[str, list[AnyRule]] = {}
        for rule in self.rules:
            for metric in rule.metrics or ():
                by_metric.setdefault(metric, []).append(rule)
        any_metric = tuple(r for r in self.rules if r.kind == "out_of_range" and not r.metrics)
        object.__setattr__(self, "_by_metric", {m: tuple(rs) for m, rs in by_metric.items()})
        object.__setattr__(self, "_any_metric", any_metric)

    @classmethod
    def load(
        cls,
        paths: Iterable[str | Path] | str | Path | None = None,
        *,
        registry: MetricRegistry | None = None,
    ) -> RuleBook:
        """Rules from pack files and folders (their *.yaml); raises RuleErrors listing
        every problem found."""
        files, errors = rule_files(paths)
        registry = registry or get_registry()
        tables: dict[tuple[Path, str], StationTable] = {}
        placed: list[_Placed] = []
        for path in files:
            found, problems = _load_pack(path, registry, tables)
            placed += found
            errors += problems
        errors += _clashes(placed)
        if errors:
            raise RuleErrors(errors)
        return cls(tuple(p.rule for p in placed), tuple(display_path(f) for f in files))

    def for_metric(self, metric: str) -> tuple[AnyRule, ...]:
        """Rules that watch readings of `metric` (including all-metric health rules)."""
        return self._by_metric.get(metric, ()) + self._any_metric

    def of_kind(self, kind: str) -> tuple[AnyRule, ...]:
        return tuple(r for r in self.rules if r.kind == kind)

    def get(self, rule_id: str, metric: str | None = None) -> AnyRule:
        for rule in self.rules:
            if rule.id == rule_id and (
                metric is None or rule.metrics in (None, ()) or metric in rule.metrics
            ):
                return rule
        raise KeyError(f"no rule {rule_id!r}" + (f" for {metric!r}" if metric else ""))

    def counts(self) -> dict[str, int]:
        """Rules per kind, in the order KINDS lists them."""
        counted = Counter(r.kind for r in self.rules)
        return {kind: counted[kind] for kind in KINDS if counted[kind]}


def rule_files(
    paths: Iterable[str | Path] | str | Path | None,
) -> tuple[list[Path], list[RuleError]]:
    if paths is None:
        paths = [DEFAULT_RULES_DIR]
    elif isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    errors: list[RuleError] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix in RULE_SUFFIXES)
            if not found:
                errors.append(RuleError(display_path(item), 0, "", "no *.yaml rule files here"))
            files += found
        elif item.is_file():
            files.append(item)
        else:
            errors.append(RuleError(display_path(item), 0, "", "no such file or directory"))
    return files, errors


def _load_pack(
    path: Path, registry: MetricRegistry, tables: dict[tuple[Path, str], StationTable]
) -> tuple[list[_Placed], list[RuleError]]:
    source, errors = read_source(path)
    if source is None:
        return [], errors
    try:
        shell = PackShell.model_validate(source.data)
    except ValidationError as error:
        return [], errors + pydantic_errors(source, error)
    table = None
    if shell.stations is not None:
        table, problem, table_errors = load_table(shell.stations, path, tables)
        errors += table_errors
        if problem:
            errors.append(source.error(("stations",), problem))
    placed = []
    for index, raw in enumerate(shell.rules):
        where: Path_ = ("rules", index)
        try:
            rule = _RULE.validate_python(raw)
        except ValidationError as error:
            errors += pydantic_errors(source, error, where)
            continue
        rule._table = table
        if isinstance(rule, NightCountRule):
            rule._thresholds, problem, more = load_table(rule.thresholds, path, tables)
            errors += more
            if problem:
                errors.append(source.error((*where, "thresholds"), problem))
        rule._origin = f"{source.file}:{source.line(where)}"
        errors += check_rule(rule, source, where, registry)
        placed.append(_Placed(rule, source, where))
    return placed, errors


def _clashes(placed: list[_Placed]) -> list[RuleError]:
    """One rule per (id, metric): the pair is the alert identity, so two rules writing to
    it would fight over one alert. Reusing an id across metrics is fine (one text, a
    duration per metric) if the kind is the same."""
    errors = []
    owners: dict[tuple[str, str | None], _Placed] = {}
    kinds: dict[str, str] = {}
    for item in placed:
        rule = item.rule
        if kinds.setdefault(rule.id, rule.kind) != rule.kind:
            message = f"id {rule.id!r} is already a {kinds[rule.id]} rule"
            errors.append(item.source.error((*item.path, "id"), message))
            continue
        for metric in rule.metrics or (None,):
            clash = owners.get((rule.id, metric)) or owners.get((rule.id, None))
            if clash is None and metric is None:
                clash = next((p for (i, _), p in owners.items() if i == rule.id), None)
            if clash is not None:
                what = f" for {metric!r}" if metric else ""
                message = f"rule {rule.id!r}{what} is already defined at {clash.rule.origin}"
                errors.append(item.source.error((*item.path, "id"), message))
                break
            owners[(rule.id, metric)] = item
    return errors
