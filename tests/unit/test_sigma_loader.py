"""Loading Sigma rule folders: the shipped set, and the report of what cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from processors.security.sigma import RULES_DIR, FieldMap, FieldMapError, load_rules
from processors.security.sigma.loader import MAX_THRESHOLD
from processors.security.sigma.model import LEVELS

# The deliberately unsupported rule file (a test fixture, never in the shipped folder):
# each document uses one thing the engine refuses, next to two rules it can run.
UNSUPPORTED = """\
title: SSH failure (usable)
id: 0f5e8c1e-3b7a-4c55-9a51-1b2c3d4e5f60
name: base_ssh_failure
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure}
  condition: selection
---
title: Kernel trouble keywords (usable)
logsource: {product: linux}
detection:
  keywords: [segfault, oom-killer]
  condition: keywords
---
title: Temporal correlation
name: temporal_ssh
correlation:
  type: temporal
  rules: [base_ssh_failure]
  group-by: [source.ip]
  timespan: 5m
---
title: Extended condition
correlation:
  type: temporal
  rules: [base_ssh_failure, other_rule]
  group-by: [source.ip]
  timespan: 5m
  condition: base_ssh_failure and not other_rule
---
title: Placeholder expansion
logsource: {product: windows}
detection:
  selection:
    Image|expand: '%systemroot%\\system32\\evil.exe'
  condition: selection
---
title: Unmapped product
logsource: {product: macos, service: unifiedlog}
detection:
  selection: {process.name: osascript}
  condition: selection
---
title: Fewer than three
correlation:
  type: event_count
  rules: [base_ssh_failure]
  group-by: [source.ip]
  timespan: 5m
  condition: {lt: 3}
---
title: Refers to nothing
correlation:
  type: event_count
  rules: [no_such_rule]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
---
title: Undefined selection
logsource: {product: linux}
detection:
  selection: {user.name: root}
  condition: selection and filter
"""


@pytest.fixture
def unsupported(tmp_path: Path) -> Path:
    path = tmp_path / "unsupported.yml"
    path.write_text(UNSUPPORTED, encoding="utf-8")
    return path


def write(folder: Path, name: str, *documents: dict[str, object]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    return path


def test_shipped_rule_set_loads_completely() -> None:
    ruleset = load_rules()
    assert ruleset.rejected == []
    assert len(ruleset.rules) == 8
    assert {c.kind for c in ruleset.correlations} == {"event_count", "value_count"}
    keys = {rule.info.key for rule in ruleset.rules}
    for item in [*ruleset.rules, *ruleset.correlations]:
        assert item.info.level in LEVELS
        assert item.info.source.startswith(str(RULES_DIR))
    for correlation in ruleset.correlations:
        assert set(correlation.rules) <= keys
    spray = next(c for c in ruleset.correlations if c.kind == "value_count")
    assert (spray.threshold, spray.timespan, spray.value_field) == (5, 600.0, "user.name")
    assert len(spray.rules) == 2  # SSH and Windows failures


def test_unsupported_rules_are_reported_with_file_rule_and_reason(unsupported: Path) -> None:
    ruleset = load_rules(unsupported)
    assert {rule.info.title for rule in ruleset.rules} == {
        "SSH failure (usable)",
        "Kernel trouble keywords (usable)",
    }
    assert ruleset.correlations == []
    reasons = {r.rule.split(" (")[-1].rstrip(")"): r.reason for r in ruleset.rejected}
    assert {r.file for r in ruleset.rejected} == {str(unsupported)}
    assert reasons == {
        "Temporal correlation": "a temporal correlation needs at least two different rules",
        "Extended condition": "extended (boolean) correlation conditions are not supported",
        "Placeholder expansion": (
            "placeholder %systemroot% has no value in the site configuration"
        ),
        "Unmapped product": "logsource product 'macos' has no mapping in fieldmap.yaml",
        "Fewer than three": "correlation condition 'lt' is not supported (only gte, gt)",
        "Refers to nothing": "Rule 'no_such_rule' not found in rule collection",
        "Undefined selection": "Detection 'filter' not defined in detections",
    }
    labels = [r.rule for r in ruleset.rejected]
    assert "temporal_ssh (Temporal correlation)" in labels  # the id or name, then the title


def test_broken_file_is_reported_and_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [\n", encoding="utf-8")
    (tmp_path / "latin1.yml").write_bytes("title: Đăng nhập\n".encode("utf-16"))
    write(
        tmp_path,
        "good.yaml",
        {
            "title": "good",
            "logsource": {"product": "linux"},
            "detection": {"sel": {"user.name": "root"}, "condition": "sel"},
        },
    )
    ruleset = load_rules(tmp_path)
    assert [r.info.title for r in ruleset.rules] == ["good"]
    broken = {Path(r.file).name: r for r in ruleset.rejected}
    assert set(broken) == {"broken.yml", "latin1.yml"}
    assert broken["broken.yml"].rule == "-"
    assert "expected the node content" in broken["broken.yml"].reason
    assert "UTF-8" in broken["latin1.yml"].reason


def test_invalid_rule_reports_pysigma_error(tmp_path: Path) -> None:
    write(tmp_path, "bad.yml", {"title": "no detection", "logsource": {"product": "linux"}})
    (rejection,) = load_rules(tmp_path).rejected
    assert rejection.reason == "Sigma rule must have a detection definitions"


def test_duplicate_id_is_rejected(tmp_path: Path) -> None:
    rule = {
        "title": "one",
        "id": "6c1c6f43-1f6c-4c1e-8a8e-5f1e2d3c4b5a",
        "logsource": {"product": "linux"},
        "detection": {"sel": {"user.name": "root"}, "condition": "sel"},
    }
    write(tmp_path, "a.yml", rule)
    write(tmp_path, "b.yml", {**rule, "title": "two"})
    ruleset = load_rules(tmp_path)
    assert [r.info.title for r in ruleset.rules] == ["one"]
    (rejection,) = ruleset.rejected
    assert rejection.file.endswith("b.yml") and "already used" in rejection.reason


def test_correlation_over_a_rejected_or_correlation_rule_is_rejected(tmp_path: Path) -> None:
    base = {
        "title": "base",
        "name": "base",
        "logsource": {"product": "plan9"},
        "detection": {"sel": {"user.name": "root"}, "condition": "sel"},
    }
    count = {
        "title": "count",
        "name": "count",
        "correlation": {
            "type": "event_count",
            "rules": ["base"],
            "group-by": ["source.ip"],
            "timespan": "5m",
            "condition": {"gte": 2},
        },
    }
    chained = {**count, "title": "chained", "name": "chained"}
    chained["correlation"] = {**count["correlation"], "rules": ["count"]}  # type: ignore[dict-item]
    write(tmp_path, "rules.yml", base, count, chained)
    reasons = {r.rule: r.reason for r in load_rules(tmp_path).rejected}
    assert reasons["count"] == "refers to rule base, which was rejected"
    assert reasons["chained"] == "refers to correlation rule count; chaining is not supported"


def test_threshold_above_the_memory_bound_is_rejected(tmp_path: Path) -> None:
    base = {
        "title": "base",
        "name": "base",
        "logsource": {"product": "linux"},
        "detection": {"sel": {"user.name": "root"}, "condition": "sel"},
    }
    huge = {
        "title": "huge",
        "name": "huge",
        "correlation": {
            "type": "event_count",
            "rules": ["base"],
            "group-by": ["source.ip"],
            "timespan": "1h",
            "condition": {"gte": MAX_THRESHOLD + 1},
        },
    }
    write(tmp_path, "rules.yml", base, huge)
    (rejection,) = load_rules(tmp_path).rejected
    assert rejection.reason == f"correlation threshold {MAX_THRESHOLD + 1} is above {MAX_THRESHOLD}"


def test_filters_are_reported_not_applied(tmp_path: Path) -> None:
    write(
        tmp_path,
        "filter.yml",
        {
            "title": "Ignore the scanner",
            "logsource": {"product": "linux"},
            "filter": {
                "rules": ["base"],
                "selection": {"source.ip": "10.0.0.9"},
                "condition": "not selection",
            },
        },
    )
    (rejection,) = load_rules(tmp_path).rejected
    assert rejection.reason == "Sigma filters (meta-rules) are not supported"


def test_fieldmap_errors_name_the_entry() -> None:
    bad = {"logsources": {"product": {"linux": {"event.module|expand": "%x%"}}}}
    with pytest.raises(FieldMapError, match=r"logsources\.product\.linux: placeholder %x%"):
        FieldMap.from_dict(bad, "fieldmap.yaml")
    with pytest.raises(FieldMapError, match=r"fields\.User"):
        FieldMap.from_dict({"fields": {"User": []}}, "fieldmap.yaml")
