"""The compile report's bookkeeping on a small tree: ingested or not, compiled or not."""

from __future__ import annotations

from pathlib import Path

import yaml

from processors.security.sigma import FieldMap
from processors.security.sigma.report import compile_report, main


def rule(title: str, logsource: dict, detection: dict | None = None) -> dict:
    return {
        "title": title,
        "logsource": logsource,
        "detection": detection or {"sel": {"user.name": "root"}, "condition": "sel"},
    }


def tree(root: Path) -> Path:
    linux = root / "linux" / "builtin"
    cloud = root / "cloud" / "aws"
    linux.mkdir(parents=True)
    cloud.mkdir(parents=True)
    (linux / "ok.yml").write_text(yaml.safe_dump(rule("ok", {"product": "linux"})))
    broken = rule("bad", {"product": "linux"}, {"sel": {"a": 1}, "condition": "sel and nope"})
    (linux / "bad.yml").write_text(yaml.safe_dump(broken))
    (cloud / "aws.yml").write_text(yaml.safe_dump(rule("aws", {"product": "aws"})))
    return root


def test_report_counts_per_folder_and_lists_reasons(tmp_path: Path, capsys) -> None:
    report = compile_report(tree(tmp_path), FieldMap.load())
    linux = report.totals("linux")
    assert (linux.total, linux.ingested, linux.compiled) == (2, 2, 1)
    (rejection,) = linux.rejected
    assert rejection.file.endswith("bad.yml") and "nope" in rejection.reason
    cloud = report.totals("cloud")
    assert (cloud.total, cloud.ingested, cloud.compiled) == (1, 0, 0)
    assert "logsource product 'aws' has no mapping" in cloud.not_ingested[0].reason
    assert report.totals().share == 0.5
    text = report.text(show_not_ingested=True)
    assert "linux/builtin" in text and "50.0%" in text and "bad.yml" in text
    assert main([str(tmp_path)]) == 0
    assert "Rejected rules of ingested log sources (1)" in capsys.readouterr().out
