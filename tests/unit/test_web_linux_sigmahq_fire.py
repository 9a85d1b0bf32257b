"""The cases of tests/data/sigmahq_fire/web_linux.yaml, checked without the stack: each
message through its decoder, then SigmaHQ's rules (the vendored snapshot) over the events.
Each case must fire its rule; the background must fire no SigmaHQ rule. The real-stack
run (Kafka -> worker -> security processor) is tests/integration/test_sigmahq_fire.py."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.security.sigma.engine import SigmaEngine
from processors.security.sigma.loader import RULES_DIR

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "sigmahq_fire" / "web_linux.yaml"
SIGMAHQ = ROOT.parent / "shared" / "vendor" / "sigmahq"
FOLDERS = ("rules/web", "rules/linux", "rules/category/antivirus")
TOPIC_FORMATS = {
    "seclog.web": "web_access",
    "seclog.proxy": "proxy_access",
    "seclog.auditd": "auditd",
    "seclog.syslog": "syslog",
}
CASES = yaml.safe_load(DATA.read_text())
needs_sigmahq = pytest.mark.skipif(
    not (SIGMAHQ / "rules").is_dir(),
    reason=f"SigmaHQ's rules are not vendored at {SIGMAHQ} (a plain clone has none)",
)


@cache
def engine() -> SigmaEngine:
    loaded = SigmaEngine.load([RULES_DIR, *(SIGMAHQ / folder for folder in FOLDERS)])
    assert loaded.ruleset.rules, "no rule compiled"
    return loaded


def decoded(topic: str, fmt: str, message: str | dict[str, Any], offset: int) -> list[Any]:
    payload = message.encode() if isinstance(message, str) else orjson.dumps(message)
    return list(get_decoder(fmt)(RawMessage("kafka", topic, payload, 0, offset)))


def fired(events: list[SecurityEvent]) -> dict[str, str]:
    """rule id -> the file it came from, of every rule the events match."""
    return {
        rule.info.key: rule.info.source
        for event in events
        for rule in engine().matching_rules(event)
    }


def test_the_file_follows_the_contract() -> None:
    assert len(CASES["cases"]) >= 6
    for case in CASES["cases"]:
        assert {"rule", "title", "path", "topic", "format", "messages"} <= set(case), case
        assert TOPIC_FORMATS[case["topic"]] == case["format"]
        assert case["messages"]
    assert {entry["topic"] for entry in CASES["background"]} == set(TOPIC_FORMATS)


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["path"].split("/")[-1])
def test_every_message_decodes(case: dict[str, Any]) -> None:
    for offset, message in enumerate(case["messages"]):
        events = decoded(case["topic"], case["format"], message, offset)
        assert events and all(isinstance(e, SecurityEvent) for e in events)


@needs_sigmahq
@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["path"].split("/")[-1])
def test_case_fires_its_rule(case: dict[str, Any]) -> None:
    assert (SIGMAHQ / case["path"]).is_file(), f"{case['path']} is not in the snapshot"
    events = [
        event
        for offset, message in enumerate(case["messages"])
        for event in decoded(case["topic"], case["format"], message, offset)
    ]
    hits = fired(events)
    assert case["rule"] in hits, f"{case['title']} did not fire; fired: {sorted(hits.values())}"
    # Exactly its rule, and the overlapping ones the case lists in `also`.
    others = {k for k, v in hits.items() if str(SIGMAHQ) in v} - {case["rule"]}
    assert others <= set(case.get("also", ())), f"{case['title']} also fired {sorted(others)}"


@needs_sigmahq
@pytest.mark.parametrize("entry", CASES["background"], ids=lambda entry: entry["topic"])
def test_background_fires_no_sigmahq_rule(entry: dict[str, Any]) -> None:
    fmt = TOPIC_FORMATS[entry["topic"]]
    for offset, message in enumerate(entry["messages"]):
        events = decoded(entry["topic"], fmt, message, offset)
        hits = {k: v for k, v in fired(events).items() if str(SIGMAHQ) in v}
        assert not hits, f"background {message!r} fired {sorted(hits.values())}"


@needs_sigmahq
def test_every_web_and_linux_rule_compiles_except_known() -> None:
    # The folders this part maps: a rule SigmaHQ adds that names an unmapped logsource or
    # field shows up here with its reason.
    rejected = [r for r in engine().rejected if any(f in r.file for f in FOLDERS)]
    assert not rejected, "\n".join(map(str, rejected))
