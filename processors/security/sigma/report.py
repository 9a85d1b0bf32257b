"""Which rules of a Sigma rule tree (SigmaHQ's, as a site loads it) compile, per folder,
and why the others do not, split by whether the project ingests the rule's log source.

    python -m processors.security.sigma.report ../shared/vendor/sigmahq/rules [--all]

A rule's log source is "ingested" when the field map (fieldmap.yaml + fieldmap.d/) maps
its product, service and category: those are the rules that could fire on events this
project receives, and the ones the ≥ 95% target is about. A rule for a log source we do
not ingest (AWS, Okta, macOS, ...) is counted apart: its rejection says only that.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from processors.security.sigma.fieldmap import FieldMap, LogsourceKey
from processors.security.sigma.loader import RuleSet, load_rules, rule_files
from processors.security.sigma.matcher import Unsupported
from processors.security.sigma.model import Rejection
from processors.security.sigma.site import Site


@dataclass
class FolderReport:
    folder: str  # relative to the root, e.g. windows/process_creation
    total: int = 0  # detection rules in the folder's files
    ingested: int = 0  # of which the project ingests the log source
    compiled: int = 0  # of the ingested ones, compiled
    rejected: list[Rejection] = field(default_factory=list)  # ingested, not compiled
    not_ingested: list[Rejection] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.compiled / self.ingested if self.ingested else 1.0


@dataclass
class Report:
    folders: list[FolderReport]

    def totals(self, prefix: str = "") -> FolderReport:
        """One line summing the folders under `prefix` ('' = all, 'windows' = windows/*)."""
        total = FolderReport(prefix or "all")
        for folder in self.folders:
            if not prefix or folder.folder == prefix or folder.folder.startswith(prefix + "/"):
                total.total += folder.total
                total.ingested += folder.ingested
                total.compiled += folder.compiled
                total.rejected += folder.rejected
                total.not_ingested += folder.not_ingested
        return total

    def tops(self) -> list[str]:
        return sorted({f.folder.split("/")[0] for f in self.folders})

    def text(self, show_not_ingested: bool = False) -> str:
        lines = [
            f"{'folder':48} {'rules':>6} {'ingested':>8} {'compiled':>8} {'share':>7}",
        ]
        for top in self.tops():
            lines.append(_line(self.totals(top)))
            for folder in self.folders:
                if folder.folder.startswith(top + "/"):
                    lines.append(_line(folder, indent="  "))
        lines.append(_line(self.totals()))
        rejected = self.totals().rejected
        lines.append(f"\nRejected rules of ingested log sources ({len(rejected)}):")
        lines.extend(f"  {r}" for r in rejected)
        if show_not_ingested:
            skipped = self.totals().not_ingested
            lines.append(f"\nRules of log sources not ingested ({len(skipped)}):")
            lines.extend(f"  {r}" for r in skipped)
        return "\n".join(lines)


def _line(folder: FolderReport, indent: str = "") -> str:
    share = f"{100 * folder.share:6.1f}%" if folder.ingested else "      -"
    name = f"{indent}{folder.folder}"
    return f"{name:48} {folder.total:6} {folder.ingested:8} {folder.compiled:8} {share}"


def compile_report(
    root: Path, fieldmap: FieldMap | None = None, site: Site | None = None
) -> Report:
    """Load every rule under `root` as a site would and sort the outcome per folder."""
    fieldmap = fieldmap or FieldMap.load()
    ruleset = load_rules(root, fieldmap, site)
    compiled = _compiled_by_file(ruleset)
    rejected = _rejected_by_file(ruleset)
    folders: dict[str, FolderReport] = {}
    for path in rule_files([root]):
        name = str(path)
        relative = path.relative_to(root).parent.as_posix()
        folder = folders.setdefault(relative, FolderReport(relative))
        mapped = [_ingested(fieldmap, key) for key in _logsources(path)]
        folder.total += len(mapped)
        ingested = sum(mapped)
        folder.ingested += ingested
        done = compiled.get(name, 0)
        refused = rejected.get(name, [])
        if ingested == len(mapped):
            folder.compiled += done
            folder.rejected += refused
        elif ingested == 0:
            folder.not_ingested += refused
        else:  # a file of several rules with mixed log sources: split by reason
            folder.compiled += done
            for rejection in refused:
                target = folder.not_ingested if _unmapped(rejection) else folder.rejected
                target.append(rejection)
    return Report(sorted(folders.values(), key=lambda f: f.folder))


def _compiled_by_file(ruleset: RuleSet) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rule in ruleset.rules:
        counts[rule.info.source] = counts.get(rule.info.source, 0) + 1
    return counts


def _rejected_by_file(ruleset: RuleSet) -> dict[str, list[Rejection]]:
    found: dict[str, list[Rejection]] = {}
    for rejection in ruleset.rejected:
        found.setdefault(rejection.file, []).append(rejection)
    return found


def _unmapped(rejection: Rejection) -> bool:
    return rejection.reason.startswith("logsource ") and "has no mapping" in rejection.reason


def _logsources(path: Path) -> list[LogsourceKey]:
    """The log source of each detection rule in a file, read from its YAML (also for
    rules pySigma refuses, which still count in the folder's total)."""
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [(None, None, None)]
    keys = []
    for document in documents:
        if not isinstance(document, dict) or "correlation" in document or "filter" in document:
            continue
        source = document.get("logsource")
        source = source if isinstance(source, dict) else {}
        keys.append(tuple(_lower(source.get(kind)) for kind in ("product", "service", "category")))
    return keys  # type: ignore[return-value]


def _lower(value: object) -> str | None:
    return str(value).lower() if value else None


def _ingested(fieldmap: FieldMap, key: LogsourceKey) -> bool:
    if key == (None, None, None):
        return False
    try:
        fieldmap.logsource_filter(key)
    except Unsupported:
        return False
    return True


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a Sigma rule tree, e.g. SigmaHQ's rules/")
    parser.add_argument("--all", action="store_true", help="also list rules not ingested")
    args = parser.parse_args(list(argv) if argv is not None else None)
    print(compile_report(args.root).text(show_not_ingested=args.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
