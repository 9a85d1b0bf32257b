"""event_count / value_count correlations: thresholds, windows, groups, state."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from processors.security.sigma import FieldMap, Limits, SigmaEngine, SigmaMatch, load_texts
from processors.security.sigma.fieldmap import FIELDMAP_FILE

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def _fieldmap() -> FieldMap:
    data = yaml.safe_load(FIELDMAP_FILE.read_text(encoding="utf-8"))
    data["logsources"]["category"]["test"] = None
    return FieldMap.from_dict(data, "test fieldmap")


FIELDMAP = _fieldmap()

FAIL = {
    "title": "Login failed",
    "name": "fail",
    "logsource": {"category": "test"},
    "detection": {"selection": {"event.outcome": "failure"}, "condition": "selection"},
    "level": "low",
}


def correlation(kind: str = "event_count", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind,
        "rules": ["fail"],
        "group-by": ["source.ip"],
        "timespan": "60s",
        "condition": {"gte": 3} if kind == "event_count" else {"gte": 3, "field": "user.name"},
        "generate": True,
    }
    body.update(overrides)
    return {
        "title": f"Too many failures ({kind})",
        "name": f"burst_{kind}",
        "correlation": body,
        "level": "high",
        "tags": ["attack.credential_access", "attack.t1110.001"],
    }


def engine(*rules: dict[str, Any], limits: Limits | None = None) -> SigmaEngine:
    texts = [(f"rule{i}.yml", yaml.safe_dump(r)) for i, r in enumerate(rules)]
    ruleset = load_texts(texts, FIELDMAP)
    assert not ruleset.rejected, [str(r) for r in ruleset.rejected]
    return SigmaEngine(ruleset, FIELDMAP, limits or Limits())


_ids = iter(range(10**9))


def fail(
    seconds: float, ip: str = "203.0.113.7", user: str = "root", event_id: str | None = None
) -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(seconds=seconds)).isoformat(),
        "event": {"id": event_id or f"e{next(_ids)}", "outcome": "failure"},
        "source": {"ip": ip},
        "user": {"name": user},
    }


def correlations(matches: list[SigmaMatch]) -> list[SigmaMatch]:
    return [m for m in matches if m.kind == "correlation"]


def run(eng: SigmaEngine, events: list[dict[str, Any]], one_by_one: bool = False) -> list[Any]:
    state = eng.initial_state()
    found: list[SigmaMatch] = []
    for batch in [[e] for e in events] if one_by_one else [events]:
        state, matches = eng.process(state, batch)
        found += correlations(matches)
    return found


# ---- event_count --------------------------------------------------------------------


@pytest.mark.parametrize("one_by_one", [False, True])
def test_fires_once_at_threshold_not_per_event(one_by_one: bool) -> None:
    eng = engine(FAIL, correlation())
    events = [fail(s) for s in range(6)]
    (match,) = run(eng, events, one_by_one)
    assert match.event_ids == tuple(e["event"]["id"] for e in events[:3])
    assert match.count == 3
    assert match.group == {"source.ip": "203.0.113.7"}
    assert match.time == T0 + timedelta(seconds=2)
    assert (match.level, match.techniques) == ("high", ("T1110.001",))
    assert match.title == "Too many failures (event_count)"


def test_groups_are_isolated() -> None:
    eng = engine(FAIL, correlation())
    events = [fail(0, "203.0.113.7"), fail(1, "198.51.100.4"), fail(2, "203.0.113.7")]
    events += [fail(3, "198.51.100.4"), fail(4, "203.0.113.7")]
    (match,) = run(eng, events)
    assert match.group == {"source.ip": "203.0.113.7"}


def test_window_slides() -> None:
    eng = engine(FAIL, correlation())
    assert run(eng, [fail(0), fail(30), fail(61)]) == []  # t=0 left the window at t=61
    (match,) = run(eng, [fail(0), fail(30), fail(61), fail(70)])
    assert match.time == T0 + timedelta(seconds=70)
    assert match.count == 3


def test_refires_only_after_the_window_that_fired_has_passed() -> None:
    eng = engine(FAIL, correlation())
    first = [fail(s) for s in (0, 1, 2, 3, 4, 5)]
    later = [fail(s) for s in (100, 101, 102)]
    matches = run(eng, first + later)
    assert [m.time for m in matches] == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=102)]
    assert set(matches[1].event_ids) == {e["event"]["id"] for e in later}


def test_continuing_attack_gives_one_match_per_timespan() -> None:
    eng = engine(FAIL, correlation())
    matches = run(eng, [fail(s) for s in range(0, 200, 5)])
    assert [(m.time - T0).seconds for m in matches] == [10, 70, 130, 190]


def test_gt_condition() -> None:
    eng = engine(FAIL, correlation(condition={"gt": 2}))
    (match,) = run(eng, [fail(0), fail(1), fail(2)])
    assert match.count == 3


def test_late_event_outside_the_window_is_ignored() -> None:
    eng = engine(FAIL, correlation())
    assert run(eng, [fail(100), fail(101), fail(10)]) == []


def test_redelivered_event_counts_once() -> None:
    eng = engine(FAIL, correlation())
    events = [fail(0, event_id="a"), fail(1, event_id="b"), fail(1, event_id="b")]
    assert run(eng, events) == []
    assert len(run(eng, [*events, fail(2, event_id="c")])) == 1


def test_event_without_group_field_or_time_is_not_counted() -> None:
    eng = engine(FAIL, correlation())
    no_ip = [fail(s) for s in range(5)]
    for event in no_ip:
        del event["source"]
    no_time = [fail(s) for s in range(5)]
    for event in no_time:
        del event["@timestamp"]
    _, matches = eng.process(eng.initial_state(), no_ip + no_time)
    assert correlations(matches) == []
    assert len(matches) == 10  # the base rule still matches each of them


def test_event_matching_two_referenced_rules_counts_once() -> None:
    also = {**FAIL, "name": "fail_too", "title": "Also failed"}
    eng = engine(FAIL, also, correlation(rules=["fail", "fail_too"]))
    assert run(eng, [fail(0), fail(1)]) == []
    assert len(run(eng, [fail(0), fail(1), fail(2)])) == 1


def test_aliases_name_the_group_field_per_rule() -> None:
    win = {
        **FAIL,
        "name": "win_fail",
        "title": "Windows failed",
        "detection": {"selection": {"EventID": 4625}, "condition": "selection"},
    }
    rule = correlation(
        rules=["fail", "win_fail"],
        **{"group-by": ["attacker"]},
        aliases={"attacker": {"fail": "source.ip", "win_fail": "IpAddress"}},
    )
    eng = engine(FAIL, win, rule)
    windows = {
        "@timestamp": (T0 + timedelta(seconds=2)).isoformat(),
        "winlog": {"event_id": "4625", "event_data": {"IpAddress": "203.0.113.7"}},
    }
    (match,) = run(eng, [fail(0), fail(1), windows])
    assert match.group == {"attacker": "203.0.113.7"}


# ---- value_count --------------------------------------------------------------------


def test_value_count_counts_distinct_values_not_events() -> None:
    eng = engine(FAIL, correlation("value_count"))
    assert run(eng, [fail(s, user="root") for s in range(10)]) == []
    users = ["root", "admin", "root", "oracle", "pi"]
    events = [fail(s, user=u) for s, u in enumerate(users)]
    (match,) = run(eng, events)
    assert match.count == 3
    assert match.values == ("admin", "root", "oracle")  # by each value's newest sighting
    assert match.time == T0 + timedelta(seconds=3)
    assert len(match.event_ids) == 3


def test_value_count_window_slides_per_value() -> None:
    eng = engine(FAIL, correlation("value_count"))
    events = [fail(0, user="u1"), fail(30, user="u2"), fail(70, user="u3"), fail(75, user="u2")]
    assert run(eng, events) == []  # u1 left the window before u3 arrived
    (match,) = run(eng, [*events, fail(80, user="u4")])
    assert set(match.values) == {"u2", "u3", "u4"}


def test_value_count_groups_are_isolated() -> None:
    eng = engine(FAIL, correlation("value_count"))
    events = [fail(s, ip=f"203.0.113.{s}", user=f"u{s}") for s in range(10)]
    assert run(eng, events) == []


# ---- state --------------------------------------------------------------------------


def test_process_leaves_the_given_state_untouched() -> None:
    eng = engine(FAIL, correlation(), correlation("value_count"))
    state, _ = eng.process(eng.initial_state(), [fail(0), fail(1, user="admin")])
    before = copy.deepcopy(state)
    new_state, matches = eng.process(state, [fail(2, user="oracle")])
    assert state == before
    assert new_state != before
    assert len(correlations(matches)) == 2


def test_state_survives_json_round_trip() -> None:
    eng = engine(FAIL, correlation(), correlation("value_count"))
    state, _ = eng.process(eng.initial_state(), [fail(0), fail(1, user="admin")])
    restored = json.loads(json.dumps(state))
    _, direct = eng.process(state, [fail(2, user="oracle", event_id="x")])
    _, via_json = eng.process(restored, [fail(2, user="oracle", event_id="x")])
    assert direct == via_json and len(direct) == 3


def test_state_of_another_version_is_refused() -> None:
    eng = engine(FAIL, correlation())
    with pytest.raises(ValueError, match="version"):
        eng.process({"version": 99, "groups": {}}, [])


def test_groups_past_the_window_are_evicted() -> None:
    eng = engine(FAIL, correlation())
    state, _ = eng.process(eng.initial_state(), [fail(0, ip="203.0.113.7")])
    state, _ = eng.process(state, [fail(1000, ip="198.51.100.4")])
    (groups,) = state["groups"].values()
    assert list(groups) == ['["198.51.100.4"]']


def test_groups_are_capped_keeping_the_most_recent() -> None:
    eng = engine(FAIL, correlation(), limits=Limits(max_entries=30))  # 10 groups of 3
    events = [fail(s, ip=f"203.0.113.{s}") for s in range(50)]
    state, _ = eng.process(eng.initial_state(), events)
    (groups,) = state["groups"].values()
    assert sorted(groups) == sorted(f'["203.0.113.{s}"]' for s in range(40, 50))


def test_events_kept_per_group_are_bounded_by_the_threshold() -> None:
    eng = engine(FAIL, correlation())
    state, _ = eng.process(eng.initial_state(), [fail(s / 10) for s in range(500)])
    (groups,) = state["groups"].values()
    (group,) = groups.values()
    assert len(group["events"]) == 3


def test_rules_referenced_without_generate_do_not_match_alone() -> None:
    eng = engine(FAIL, correlation(generate=False))
    _, matches = eng.process(eng.initial_state(), [fail(s) for s in range(3)])
    assert [m.kind for m in matches] == ["correlation"]


def test_state_written_under_another_rule_type_is_not_misread() -> None:
    as_count = correlation()
    as_values = {**correlation("value_count"), "name": as_count["name"]}
    state, _ = engine(FAIL, as_count).process(engine(FAIL).initial_state(), [fail(0), fail(1)])
    users = [fail(2, user="a"), fail(3, user="b"), fail(4, user="c")]
    _, matches = engine(FAIL, as_values).process(state, users)
    (match,) = correlations(matches)
    assert match.values == ("a", "b", "c")  # the old events were not read as user names
