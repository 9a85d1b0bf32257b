"""SigmaHQ's Windows rules fire on the events of tests/data/sigmahq_fire/windows.yaml,
decoded by the winlog decoder as the shippers send them: each case exactly its rule and
the overlapping rules it names (`also`); the benign background fires none.

The engine loads the whole windows folder of the vendored SigmaHQ snapshot (and the
antivirus category, which Defender's detections belong to), so the background is checked
against every Windows rule, not only the cases' own. The
real-pipeline runner (tests/integration/test_sigmahq_fire.py) sends the same file through
Kafka and the worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.security.sigma import SigmaEngine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "sigmahq_fire" / "windows.yaml"
SIGMAHQ = ROOT.parent / "shared" / "vendor" / "sigmahq"
WINDOWS_RULES = SIGMAHQ / "rules" / "windows"
# Defender's detections are antivirus events too (event.category malware).
ANTIVIRUS_RULES = SIGMAHQ / "rules" / "category" / "antivirus"
CASES: list[dict[str, Any]] = yaml.safe_load(DATA.read_text())["cases"]
BACKGROUND: list[dict[str, Any]] = yaml.safe_load(DATA.read_text())["background"]

pytestmark = pytest.mark.skipif(
    not WINDOWS_RULES.is_dir(),
    reason=f"the vendored SigmaHQ rules are not here ({WINDOWS_RULES}): a plain clone "
    "has no copy of them (Detection Rule License 1.1, vendored beside the project)",
)


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.load([WINDOWS_RULES, ANTIVIRUS_RULES])


def decoded(topic: str, fmt: str, messages: list[Any]) -> list[SecurityEvent]:
    decoder = get_decoder(fmt)
    events: list[SecurityEvent] = []
    for offset, message in enumerate(messages):
        payload = message.encode() if isinstance(message, str) else orjson.dumps(message)
        for event in decoder(RawMessage("kafka", topic, payload, partition=0, offset=offset)):
            assert isinstance(event, SecurityEvent)
            events.append(event)
    return events


def fired(engine: SigmaEngine, events: list[SecurityEvent]) -> set[str]:
    _, matches = engine.process(engine.initial_state(), events)
    return {match.rule_id for match in matches}


def test_the_file_names_at_least_twenty_rules_of_the_snapshot() -> None:
    assert len({case["rule"] for case in CASES}) >= 20
    for case in CASES:
        assert (SIGMAHQ / case["path"]).is_file(), case["path"]
        assert f"id: {case['rule']}" in (SIGMAHQ / case["path"]).read_text(), case["title"]


def test_every_case_rule_compiles(engine: SigmaEngine) -> None:
    compiled = {rule.info.key for rule in engine.ruleset.rules}
    missing = [case["path"] for case in CASES if case["rule"] not in compiled]
    reasons = [f"{r.file}: {r.reason}" for r in engine.rejected if r.file.endswith(tuple(missing))]
    assert not missing, reasons


@pytest.mark.parametrize("case", CASES, ids=[case["title"] for case in CASES])
def test_case_fires_its_rule_and_only_the_overlaps_it_names(
    engine: SigmaEngine, case: dict[str, Any]
) -> None:
    """Against every Windows and antivirus rule of the snapshot: the case's rule and its `also` list
    (SigmaHQ's overlapping rules, named in the file), nothing else."""
    events = decoded(case["topic"], case["format"], case["messages"])
    assert fired(engine, events) == {case["rule"], *case.get("also", ())}


def test_background_fires_no_sigmahq_rule(engine: SigmaEngine) -> None:
    for batch in BACKGROUND:
        events = decoded(batch["topic"], "winlog", batch["messages"])
        assert len(events) == len(batch["messages"])
        hits = {
            event.message: [rule.info.title for rule in engine.matching_rules(event)]
            for event in events
        }
        assert not any(hits.values()), {k: v for k, v in hits.items() if v}
