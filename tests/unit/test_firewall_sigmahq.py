"""tests/data/sigmahq_fire/firewall.yaml through the firewall decoder and SigmaHQ's own
network rules (the vendored snapshot, as a site loads it): each case fires its rule and
no other SigmaHQ rule, the background fires none. The real-stack run of the same file is
tests/integration/test_sigmahq_fire.py; this one needs no services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.security.sigma.engine import SigmaEngine

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "sigmahq_fire" / "firewall.yaml"
SIGMAHQ = ROOT.parent / "shared" / "vendor" / "sigmahq"
RECEIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not (SIGMAHQ / "rules" / "network").is_dir(),
    reason="the vendored SigmaHQ snapshot (../shared/vendor/sigmahq, DRL 1.1) is not beside "
    "this clone; the firewall cases are checked against it where it is",
)


def _data() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text())


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.load([SIGMAHQ / "rules" / "network"])


def _fired(engine: SigmaEngine, format_name: str, topic: str, line: str, offset: int) -> set[str]:
    decoder = get_decoder(format_name)
    message = RawMessage("kafka", topic, line.encode(), 0, offset, received_at=RECEIVED)
    return {rule.info.key for event in decoder(message) for rule in engine.matching_rules(event)}


def test_every_case_rule_is_loaded_from_the_snapshot(engine: SigmaEngine) -> None:
    loaded = {rule.info.key for rule in engine.ruleset.rules}
    wanted = {case["rule"] for case in _data()["cases"]}
    assert len(wanted) >= 6
    assert wanted <= loaded, f"rejected: {[str(r) for r in engine.rejected]}"
    for case in _data()["cases"]:
        assert (SIGMAHQ / case["path"]).is_file(), case["path"]


@pytest.mark.parametrize("case", _data()["cases"], ids=lambda case: case["title"])
def test_case_fires_exactly_its_rule(engine: SigmaEngine, case: dict[str, Any]) -> None:
    for offset, line in enumerate(case["messages"]):
        fired = _fired(engine, case["format"], case["topic"], line, offset)
        assert fired == {case["rule"]}, f"message {offset}: {line[:80]}"


def test_background_fires_nothing(engine: SigmaEngine) -> None:
    for block in _data()["background"]:
        for offset, line in enumerate(block["messages"]):
            assert _fired(engine, "firewall", block["topic"], line, offset) == set(), line[:80]


def test_background_covers_every_vendor() -> None:
    decoder = get_decoder("firewall")
    datasets = {
        event.dataset
        for block in _data()["background"]
        for line in block["messages"]
        for event in decoder(RawMessage("kafka", "seclog.firewall", line.encode(), 0, 1))
    }
    assert datasets == {"fortinet.firewall", "cisco.asa", "panw.panos", "pfsense.log"}
