"""SigmaHQ rules fire on the real stack (issue 14, acceptance 3).

The cases are data: tests/data/sigmahq_fire/*.yaml, one file per log source family
(schema in the file's own header and docs/soc/sigma.md): each case names a SigmaHQ rule
(id, title, path in the vendored snapshot) and the Kafka messages, as the shipper sends
them, that should fire it; `background` holds benign messages of the same sources.

One `ioc ingest` worker runs with the shipped Sigma rules plus the SigmaHQ folders the
cases come from (IOC_SIGMA_RULES, as a site configures it) and a copy of the rule pack
that alerts from level informational up (the shipped pack alerts from medium: low rules
would match and stay silent). Each case's messages go through Kafka, the decoders, the
writer and the Sigma detector in the batch's transaction; the runner waits until the
worker has committed every message sent (its received counter), reads the security
alerts, then clears them and the detectors' state before the next case, so each alert is
the case's own. Then the background goes the same way and must raise no SigmaHQ alert.

What a case may fire besides its rule: the folders hold SigmaHQ's overlapping rules (a
whoami with /priv also is "whoami execution"), so a case fires its own rule and may fire
others; a case's `also:` list (optional) names rules it is known to fire as well, and
anything else it fires is printed in the report, never silently dropped. A case whose
format is not registered (a decoder not written yet) is skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from config.settings import REPO_ROOT, Settings
from ingest.formats.base import known_formats
from processors.security.detectors.rules import RULES_FILE
from processors.security.sigma.loader import RULES_DIR
from tests.integration.harness import WorkerProcess, create_topics, produce, wait_for

pytestmark = pytest.mark.integration

DATA = REPO_ROOT / "tests" / "data" / "sigmahq_fire"
SIGMAHQ = Path(os.environ.get("SIGMAHQ_DIR") or REPO_ROOT.parent / "shared/vendor/sigmahq")
# The formats of the contract's topics (issue 14): background items name only a topic.
TOPIC_FORMATS = {
    "seclog.winlog": "winlog",
    "seclog.web": "web_access",
    "seclog.proxy": "proxy_access",
    "seclog.auditd": "auditd",
    "seclog.firewall": "firewall",
    "seclog.syslog": "syslog",
    "seclog.cef": "cef",
}
_RECEIVED = re.compile(r'^ioc_ingest_messages_received_total\{[^}]*transport="kafka"[^}]*\} (\S+)$')


@dataclass(frozen=True)
class Case:
    file: str
    rule: str
    title: str
    path: str
    topic: str
    format: str
    messages: tuple[Any, ...]
    also: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.file}: {self.title}"


@dataclass
class Outcome:
    fired: dict[str, set[str]] = field(default_factory=dict)  # case label -> sigma rule ids
    background: set[str] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)  # case label -> reason


def _files() -> list[Path]:
    return sorted(DATA.glob("*.yaml")) if DATA.is_dir() else []


def _load() -> tuple[list[Case], list[tuple[str, Any]]]:
    cases: list[Case] = []
    background: list[tuple[str, Any]] = []
    for path in _files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("cases") or []:
            cases.append(
                Case(
                    file=path.name,
                    rule=str(item["rule"]),
                    title=str(item.get("title") or item["rule"]),
                    path=str(item["path"]),
                    topic=str(item["topic"]),
                    format=str(item.get("format") or TOPIC_FORMATS.get(item["topic"], "")),
                    messages=tuple(item["messages"]),
                    also=frozenset(str(rule) for rule in item.get("also") or ()),
                )
            )
        for item in data.get("background") or []:
            background.extend((str(item["topic"]), m) for m in item["messages"])
    return cases, background


CASES, BACKGROUND = _load()


def _payload(message: Any) -> bytes:
    if isinstance(message, str):
        return message.encode("utf-8")
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def _received(port: int) -> float:
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(m.group(1)) for line in body.splitlines() if (m := _RECEIVED.match(line)))


def _sigma_alerts(db: psycopg.Connection) -> set[str]:
    rows = db.execute(
        "SELECT DISTINCT rule FROM alerts WHERE domain = 'security' AND rule LIKE 'sigma.%%'"
    ).fetchall()
    return {rule.removeprefix("sigma.") for (rule,) in rows}


def _forget(db: psycopg.Connection) -> None:
    db.execute("DELETE FROM alerts WHERE domain = 'security'")
    db.execute("DELETE FROM detector_state WHERE detector LIKE 'sec.%%' OR detector = 'sigma'")


def _pack(directory: Path) -> Path:
    """The shipped rule pack, alerting from informational up."""
    pack = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    pack["sigma"]["min_alert_level"] = "informational"
    path = directory / "detections.yaml"
    path.write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
    return path


def _routes(directory: Path, topics: dict[str, str], tag: str) -> Path:
    config = {
        "mqtt": {"share_group": f"fire-{tag}", "routes": []},
        "kafka": {
            "group_id": f"fire-{tag}",
            "routes": [{"topic": topic, "format": fmt} for topic, fmt in topics.items()],
        },
        "limits": {"max_message_bytes": 1 << 20},
        "batching": {"max_messages": 500, "max_wait_seconds": 0.2},
    }
    path = directory / "routes.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class _Routes:  # what WorkerProcess reads of harness.TestRoutes
    path: Path


@pytest.fixture(scope="module")
def outcome(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    if not (SIGMAHQ / "rules").is_dir():
        pytest.skip(f"the vendored SigmaHQ rules are not here ({SIGMAHQ}/rules)")
    if not CASES:
        pytest.skip(f"no case files in {DATA}")
    formats = set(known_formats())
    result = Outcome()
    runnable = []
    for case in CASES:
        if case.format not in formats:
            result.skipped[case.label] = f"format {case.format!r} is not registered"
        else:
            runnable.append(case)
    background = [(t, m) for t, m in BACKGROUND if TOPIC_FORMATS.get(t) in formats]
    tag = uuid.uuid4().hex[:8]
    topics = {case.topic: case.format for case in runnable}
    topics.update({t: TOPIC_FORMATS[t] for t, _ in background})
    routed = {base: f"{base}.{tag}" for base in topics}
    directory = tmp_path_factory.mktemp("sigmahq-fire")
    folders = sorted({str((SIGMAHQ / case.path).parent) for case in runnable})
    create_topics(settings, routed.values(), partitions=1)
    with (
        psycopg.connect(settings.dsn(), autocommit=True) as db,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("IOC_SIGMA_RULES", ":".join([str(RULES_DIR), *folders]))
        env.setenv("IOC_SECURITY_RULES", str(_pack(directory)))
        routes = _routes(directory, {routed[b]: f for b, f in topics.items()}, tag)
        worker = WorkerProcess(_Routes(routes), f"fire-{tag}", ("kafka",), directory / "w.log")  # type: ignore[arg-type]
        _forget(db)
        sent = 0
        try:
            # Loading SigmaHQ's folders (a few thousand rules, their literal index) takes
            # longer than the harness's 60 s on a busy machine.
            worker.start(wait=False)
            wait_for(lambda: not worker.alive() or worker.ready(), timeout=240)
            assert worker.ready(), "the worker did not become ready (its log is above)"

            def send(messages: list[tuple[str, Any]]) -> None:
                nonlocal sent
                sent += produce(settings, [(routed[t], None, _payload(m)) for t, m in messages])
                assert wait_for(lambda: _received(worker.metrics_port) >= sent, timeout=120), (
                    f"the worker committed {_received(worker.metrics_port)} of {sent} messages"
                )

            for case in runnable:
                send([(case.topic, m) for m in case.messages])
                result.fired[case.label] = _sigma_alerts(db)
                _forget(db)
            send(background)
            result.background = _sigma_alerts(db)
            _forget(db)
        except BaseException:
            log = directory / "w.log"
            print(log.read_text(errors="replace")[-6000:] if log.exists() else "no worker log")
            raise
        finally:
            if worker.alive():
                worker.stop()
    yield result


def test_the_cases_name_at_least_twenty_sigmahq_rules() -> None:
    if not CASES:
        pytest.skip(f"no case files in {DATA}")
    assert len({case.rule for case in CASES}) >= 20
    for case in CASES:
        text = (SIGMAHQ / case.path).read_text(encoding="utf-8") if SIGMAHQ.is_dir() else ""
        assert not text or f"id: {case.rule}" in text, f"{case.label}: {case.path}"


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_case_fires_its_sigmahq_rule(outcome: Outcome, case: Case) -> None:
    if case.label in outcome.skipped:
        pytest.skip(outcome.skipped[case.label])
    fired = outcome.fired[case.label]
    assert case.rule in fired, f"{case.label} fired {sorted(fired)}, not {case.rule}"
    others = fired - {case.rule} - case.also
    if others:
        print(f"{case.label} also fired: {sorted(others)}")


def test_cases_fire_no_other_case_rule(outcome: Outcome) -> None:
    """The crafted events are specific: a case fires no rule another case is written for,
    unless it says so in `also`."""
    written_for = {case.rule for case in CASES}
    crossed = {
        case.label: sorted((outcome.fired[case.label] & written_for) - {case.rule} - case.also)
        for case in CASES
        if case.label in outcome.fired
    }
    assert {k: v for k, v in crossed.items() if v} == {}


def test_background_fires_no_sigmahq_rule(outcome: Outcome) -> None:
    shipped = _shipped_rule_ids()
    if outcome.background & shipped:  # the project's own rules are not SigmaHQ's: shown
        print(f"background fired shipped rules: {sorted(outcome.background & shipped)}")
    assert outcome.background - shipped == set()


def _shipped_rule_ids() -> set[str]:
    ids = set()
    for path in RULES_DIR.glob("*.yml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("id"):
                ids.add(str(document["id"]))
    return ids
