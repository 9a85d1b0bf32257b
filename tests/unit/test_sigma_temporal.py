"""temporal and temporal_ordered correlations: all rules (in order) within the window,
per group, with aliases, state carried between batches, and the detector's signal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from events.models import SecurityEvent
from processors.security.detectors.rules import SigmaSettings  # before sigma_detector: cycle
from processors.security.sigma import FieldMap, SigmaEngine, SigmaMatch, load_texts
from processors.security.sigma.fieldmap import FIELDMAP_FILE
from processors.security.sigma_detector import SigmaDetector

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def _fieldmap() -> FieldMap:
    data = yaml.safe_load(FIELDMAP_FILE.read_text(encoding="utf-8"))
    data["logsources"]["category"]["test"] = None
    return FieldMap.from_dict(data, "test fieldmap")


FIELDMAP = _fieldmap()


def base(name: str, action: str) -> dict[str, Any]:
    return {
        "title": f"Step {name}",
        "name": name,
        "logsource": {"category": "test"},
        "detection": {"sel": {"event.action": action}, "condition": "sel"},
        "level": "low",
    }


STEPS = [base("recon", "whoami"), base("dump", "lsass_read"), base("exfil", "upload")]


def temporal(kind: str = "temporal", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind,
        "rules": ["recon", "dump", "exfil"],
        "group-by": ["host.name"],
        "timespan": "10m",
    }
    body.update(overrides)
    return {
        "title": f"Kill chain ({kind})",
        "name": f"chain_{kind}",
        "correlation": body,
        "level": "critical",
        "tags": ["attack.t1003.001"],
    }


def engine(*rules: dict[str, Any]) -> SigmaEngine:
    texts = [(f"r{i}.yml", yaml.safe_dump(r)) for i, r in enumerate(rules)]
    ruleset = load_texts(texts, FIELDMAP)
    assert not ruleset.rejected, [str(r) for r in ruleset.rejected]
    return SigmaEngine(ruleset, FIELDMAP)


def event(minutes: float, action: str, host: str = "ketoan-pc01", ident: str = "") -> dict:
    return {
        "@timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "event": {"id": ident or f"{action}@{minutes}@{host}", "action": action},
        "host": {"name": host},
    }


def fired(eng: SigmaEngine, events: list[dict], one_by_one: bool = False) -> list[SigmaMatch]:
    state = eng.initial_state()
    found: list[SigmaMatch] = []
    for batch in [[e] for e in events] if one_by_one else [events]:
        state = json.loads(json.dumps(state))  # the state is plain JSON between batches
        state, matches = eng.process(state, batch)
        found += [m for m in matches if m.kind == "correlation"]
    return found


@pytest.mark.parametrize("one_by_one", [False, True])
def test_temporal_fires_when_every_rule_matched_in_the_window(one_by_one: bool) -> None:
    eng = engine(*STEPS, temporal())
    events = [event(0, "upload"), event(2, "whoami"), event(3, "whoami"), event(5, "lsass_read")]
    (match,) = fired(eng, events, one_by_one)
    assert match.count == 3
    assert match.group == {"host.name": "ketoan-pc01"}
    assert match.values == ("exfil", "recon", "dump")  # by time of each rule's newest event
    assert match.event_ids == (
        "upload@0@ketoan-pc01",
        "whoami@3@ketoan-pc01",
        "lsass_read@5@ketoan-pc01",
    )
    assert match.time == T0 + timedelta(minutes=5)
    assert match.techniques == ("T1003.001",)


def test_temporal_needs_all_rules_inside_one_window_and_one_group() -> None:
    eng = engine(*STEPS, temporal())
    assert fired(eng, [event(0, "whoami"), event(5, "lsass_read"), event(11, "upload")]) == []
    other = [event(0, "whoami"), event(1, "lsass_read"), event(2, "upload", host="other-pc")]
    assert fired(eng, other) == []


def test_temporal_condition_may_ask_for_fewer_rules() -> None:
    eng = engine(*STEPS, temporal(condition={"gte": 2}))
    (match,) = fired(eng, [event(0, "whoami"), event(1, "upload")])
    assert match.count == 2


def test_temporal_ordered_needs_the_order() -> None:
    eng = engine(*STEPS, temporal("temporal_ordered"))
    assert fired(eng, [event(0, "upload"), event(1, "lsass_read"), event(2, "whoami")]) == []
    assert fired(eng, [event(0, "lsass_read"), event(1, "whoami"), event(2, "upload")]) == []
    events = [
        event(0, "lsass_read"),
        event(1, "whoami"),
        event(2, "lsass_read"),
        event(4, "upload"),
    ]
    (match,) = fired(eng, events, one_by_one=True)
    assert match.values == ("recon", "dump", "exfil")
    assert match.event_ids == (
        "whoami@1@ketoan-pc01",
        "lsass_read@2@ketoan-pc01",
        "upload@4@ketoan-pc01",
    )


def test_temporal_ordered_takes_the_latest_start_that_fits_the_window() -> None:
    eng = engine(*STEPS, temporal("temporal_ordered"))
    # recon at 0 and 8; dump at 9; exfil at 12: only the chain from 8 fits 10 minutes.
    events = [event(0, "whoami"), event(8, "whoami"), event(9, "lsass_read"), event(12, "upload")]
    (match,) = fired(eng, events, one_by_one=True)
    assert match.event_ids[0] == "whoami@8@ketoan-pc01"
    # recon at 0, dump at 1, exfil at 11: the whole chain spans 11 minutes.
    assert fired(eng, [event(0, "whoami"), event(1, "lsass_read"), event(11, "upload")]) == []


def test_one_event_matching_two_steps_does_not_follow_itself() -> None:
    both = base("dump", "x")
    both["detection"] = {"sel": {"event.action": ["lsass_read", "whoami"]}, "condition": "sel"}
    eng = engine(STEPS[0], both, STEPS[2], temporal("temporal_ordered"))
    assert fired(eng, [event(0, "whoami"), event(1, "upload")]) == []
    (match,) = fired(eng, [event(0, "whoami"), event(1, "whoami"), event(2, "upload")])
    assert len(match.event_ids) == 3


def test_fires_once_per_window_then_again_after_it() -> None:
    eng = engine(*STEPS, temporal())
    first = [event(0, "whoami"), event(1, "lsass_read"), event(2, "upload")]
    again = [event(3, "upload"), event(4, "whoami")]
    later = [event(20, "whoami"), event(21, "lsass_read"), event(22, "upload")]
    assert len(fired(eng, first + again + later, one_by_one=True)) == 2


def test_aliases_group_rules_with_different_field_names() -> None:
    logon = base("logon", "logon")
    proc = base("proc", "process_start")
    rule = temporal(
        rules=["logon", "proc"],
        **{"group-by": ["who"]},
        aliases={"who": {"logon": "user.target.name", "proc": "user.name"}},
    )
    eng = engine(logon, proc, rule)
    a = event(0, "logon") | {"user": {"target": {"name": "an"}}}
    b = event(1, "process_start") | {"user": {"name": "an"}}
    c = event(1, "process_start") | {"user": {"name": "binh"}}
    assert fired(eng, [a, c]) == []
    (match,) = fired(eng, [a, b])
    assert match.group == {"who": "an"}


def test_base_rules_without_generate_stay_silent() -> None:
    eng = engine(*STEPS, temporal())
    _, matches = eng.process(eng.initial_state(), [event(0, "whoami")])
    assert matches == []
    eng = engine(*STEPS, temporal(generate=True))
    _, matches = eng.process(eng.initial_state(), [event(0, "whoami")])
    assert [m.rule_id for m in matches] == ["recon"]


def test_a_temporal_correlation_of_one_rule_is_rejected() -> None:
    texts = [
        ("a.yml", yaml.safe_dump(STEPS[0])),
        ("b.yml", yaml.safe_dump(temporal(rules=["recon"]))),
    ]
    (rejection,) = load_texts(texts, FIELDMAP).rejected
    assert rejection.reason == "a temporal correlation needs at least two different rules"


def test_the_detector_signal_names_the_rules() -> None:
    eng = engine(*STEPS, temporal("temporal_ordered"))
    detector = SigmaDetector(eng, SigmaSettings())
    events = [
        SecurityEvent(
            time=T0 + timedelta(minutes=i),
            event_id=f"e{i}",
            dataset="test",
            host_name="ketoan-pc01",
            action=action,
            ecs={"event": {"action": action}, "host": {"name": "ketoan-pc01"}},
        )
        for i, action in enumerate(["whoami", "lsass_read", "upload"])
    ]
    keys = detector.keys(events)
    outcome = detector.process({}, events)
    assert keys
    (signal,) = outcome.signals
    assert signal.rule == "sigma.chain_temporal_ordered"
    assert "Step recon" in signal.summary_en and "in order" in signal.summary_en
    assert "theo thứ tự" in signal.summary_vi
    assert signal.labels == {"host_name": "ketoan-pc01"}


def test_the_detector_carries_an_ordered_chain_across_batches_in_its_stored_state() -> None:
    """As the runner does: keys(), the stored states of those keys, process(), store the
    outcome's states (JSON) — one event per batch."""
    eng = engine(*STEPS, temporal("temporal_ordered"))
    detector = SigmaDetector(eng, SigmaSettings(min_alert_level="high"))
    stored: dict[str, Any] = {}
    signals = []
    for i, action in enumerate(["whoami", "lsass_read", "upload"]):
        event = SecurityEvent(
            time=T0 + timedelta(minutes=i),
            event_id=f"e{i}",
            dataset="test",
            host_name="ketoan-pc01",
            action=action,
            ecs={"event": {"action": action}, "host": {"name": "ketoan-pc01"}},
        )
        keys = detector.keys([event])
        outcome = detector.process({k: stored[k] for k in keys if k in stored}, [event])
        for key, state in outcome.states.items():
            if state is None:
                stored.pop(key, None)
            else:
                stored[key] = json.loads(json.dumps(state))
        signals += outcome.signals
    (signal,) = signals  # the low-level steps stay below min_alert_level
    assert signal.rule == "sigma.chain_temporal_ordered"
    assert signal.event_ids == ("e0", "e1", "e2")
