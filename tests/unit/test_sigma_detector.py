"""The Sigma engine behind the Detector contract: one state row per correlation group,
persisted as JSON between batches; single-event rules quiet per entity."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.alerts import Severity, Signal
from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from processors.security.detectors.rules import SigmaSettings, load_rule_pack
from processors.security.sigma import FieldMap, SigmaEngine, load_texts
from processors.security.sigma_detector import SigmaDetector

RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ATTACKER = "203.0.113.7"
BRUTE_FORCE = "55b833cb-11b9-455d-91de-ee81f798c828"  # corr_ssh_bruteforce
FAILED_PASSWORD = "eb88093f-8000-4171-8ba8-c8ca533ea253"  # ssh_failed_password
FIREWALL_ADMIN_PORT = "54e0cd07-37f0-4012-b8d4-d573a2c75a23"
INVALID_USER = "85bc4e94-c2cd-43a9-8d28-b825cba77e79"  # ssh_invalid_user (level low)
PACK = load_rule_pack().sigma
# The shipped rules with the pack's titles; nothing muted, to see every rule at work.
SHIPPED = SigmaDetector.load(
    settings=PACK.model_copy(update={"muted": frozenset(), "min_alert_level": "informational"})
)
_offsets = itertools.count()


def run(
    detector: SigmaDetector, *batches: Sequence[Any], store: dict[str, str] | None = None
) -> list[Signal]:
    """The runner: keys -> stored JSON states of those keys -> process -> save."""
    store = {} if store is None else store
    signals: list[Signal] = []
    for batch in batches:
        keys = detector.keys(batch)
        states = {key: json.loads(store[key]) for key in keys if key in store}
        before = copy.deepcopy(states)
        outcome = detector.process(states, batch)
        assert states == before
        assert set(outcome.states) <= keys
        for key, state in outcome.states.items():
            if state is None:
                store.pop(key, None)
            else:
                store[key] = json.dumps(state)
        signals.extend(outcome.signals)
    return signals


def syslog(line: str) -> SecurityEvent:
    msg = RawMessage(
        "kafka", "seclog.syslog", line.encode(), partition=0, offset=next(_offsets),
        received_at=RECEIVED,
    )  # fmt: skip
    (event,) = get_decoder("syslog")(msg)
    assert isinstance(event, SecurityEvent)
    return event


def failed(second: int, ip: str = ATTACKER, user: str = "root") -> SecurityEvent:
    minute, sec = divmod(second, 60)
    return syslog(
        f"<38>Nov 24 08:{minute:02d}:{sec:02d} web01 sshd[42]: Failed password for {user} "
        f"from {ip} port {40000 + second} ssh2"
    )


def of_rule(signals: Sequence[Signal], rule_id: str) -> list[Signal]:
    return [s for s in signals if s.rule == f"sigma.{rule_id}"]


# ---- correlations across batches -------------------------------------------------------


def test_brute_force_correlation_across_batches_with_json_state() -> None:
    store: dict[str, str] = {}
    events = [failed(s) for s in range(12)]
    signals = run(SHIPPED, events[:4], events[4:7], events[7:], store=store)
    (brute,) = of_rule(signals, BRUTE_FORCE)
    assert dict(brute.labels) == {"source_ip": ATTACKER}
    assert brute.severity == Severity.HIGH
    assert brute.technique_ids == ("T1110.001",)
    assert brute.event_ids == tuple(e.event_id for e in events[:10])
    assert brute.at == events[9].time
    assert brute.title_vi == f"Dò mật khẩu SSH từ một nguồn — {ATTACKER}"
    assert brute.title_en == f"SSH Brute Force From One Source — {ATTACKER}"
    assert brute.values["count"] == 10
    key = f'{BRUTE_FORCE}|["{ATTACKER}"]'
    group = json.loads(store[key])
    assert len(group["group"]["events"]) == 10  # the engine keeps `threshold` entries
    assert group["expires"] == group["group"]["last"] + 300


def test_same_events_in_one_batch_give_the_same_correlation() -> None:
    events = [failed(s) for s in range(12)]
    whole = of_rule(run(SHIPPED, events), BRUTE_FORCE)
    split = of_rule(run(SHIPPED, *[[e] for e in events]), BRUTE_FORCE)
    assert whole == split and len(whole) == 1


def test_keys_are_per_group() -> None:
    events = [failed(0, ip=ATTACKER), failed(1, ip="198.51.100.4"), failed(2, ip=ATTACKER)]
    keys = SHIPPED.keys(events)
    spray = "fe77526d-f5b3-46a5-bb22-6815ff6f90c8"
    assert {k for k in keys if k.startswith(BRUTE_FORCE)} == {
        f'{BRUTE_FORCE}|["{ATTACKER}"]',
        f'{BRUTE_FORCE}|["198.51.100.4"]',
    }
    assert {k for k in keys if k.startswith(spray)} == {
        f'{spray}|["{ATTACKER}"]',
        f'{spray}|["198.51.100.4"]',
    }
    # single-event rule keys: one per (rule, source, host)
    assert {k for k in keys if k.startswith(FAILED_PASSWORD)} == {
        f'{FAILED_PASSWORD}|["{ATTACKER}", "web01"]',
        f'{FAILED_PASSWORD}|["198.51.100.4", "web01"]',
    }
    outcome = SHIPPED.process({}, events)
    attacker_group = outcome.states[f'{BRUTE_FORCE}|["{ATTACKER}"]']
    assert attacker_group is not None and len(attacker_group["group"]["events"]) == 2


def test_groups_do_not_mix_sources() -> None:
    events = [failed(s, ip=ATTACKER if s % 2 else "198.51.100.4") for s in range(18)]
    assert of_rule(run(SHIPPED, events), BRUTE_FORCE) == []  # 9 each


def test_group_the_engine_evicts_is_deleted() -> None:
    store: dict[str, str] = {}
    run(SHIPPED, [failed(s) for s in range(3)], store=store)
    key = f'{BRUTE_FORCE}|["{ATTACKER}"]'
    assert key in store
    # A late failure of this group arrives with a much newer one of another group.
    late = [failed(3), failed(1000, ip="198.51.100.4")]
    outcome = SHIPPED.process(
        {k: json.loads(store[k]) for k in SHIPPED.keys(late) if k in store}, late
    )
    assert outcome.states[key] is None


def test_single_event_rule_is_quiet_per_entity() -> None:
    events = [failed(s) for s in range(30)] + [failed(30, ip="198.51.100.4")]
    signals = of_rule(run(SHIPPED, events[:15], events[15:]), FAILED_PASSWORD)
    assert [dict(s.labels) for s in signals] == [
        {"source_ip": ATTACKER, "host_name": "web01"},
        {"source_ip": "198.51.100.4", "host_name": "web01"},
    ]
    assert signals[0].severity == Severity.LOW
    assert signals[0].title_vi.startswith("Đăng nhập SSH sai mật khẩu")


def test_hits_are_cached_between_keys_and_process(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = SigmaDetector.load()
    calls = 0
    original = detector.engine.match

    def counting(event: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(event)

    monkeypatch.setattr(detector.engine, "match", counting)
    events = [failed(s) for s in range(5)]
    detector.keys(events)
    cached = detector.process({}, events)
    assert calls == 5  # matched once, in keys()
    other = [failed(s, ip="198.51.100.9") for s in range(5)]
    detector.keys(other)
    fresh = detector.process({}, events)  # not the batch keys() saw: matched again
    assert calls == 15
    assert fresh.signals == cached.signals and fresh.states == cached.states


# ---- a SigmaHQ-style rule set ----------------------------------------------------------

SIGMAHQ_STYLE = """
title: Failed Logon From A Public Address
id: 0e95725d-7320-415d-80f7-004da920fc11
name: failed_logon_public_source
status: test
logsource:
  category: authentication
detection:
  selection:
    event.outcome: failure
  filter_private:
    source.ip|cidr:
      - 10.0.0.0/8
      - 192.168.0.0/16
  condition: selection and not filter_private
level: low
tags:
  - attack.credential_access
  - attack.t1110
---
title: Repeated Failed Logons From A Public Address
id: 2d8a0e3a-5d49-4a4c-8a7e-2f5b7c1d9e40
name: corr_failed_logon_public
status: test
correlation:
  type: event_count
  rules:
    - failed_logon_public_source
  group-by:
    - source.ip
    - host.name
  timespan: 1m
  condition:
    gte: 3
level: medium
tags:
  - attack.t1110.001
---
title: Antivirus Hacktool Detection
id: 7b6c1a55-0f44-4e1c-9a53-3c6e5f2d8b10
status: test
logsource:
  category: antivirus
detection:
  selection:
    Signature|contains:
      - 'HackTool'
      - 'Mimikatz'
      - 'Cobalt'
  condition: selection
level: high
tags:
  - attack.execution
  - attack.t1204
"""


def sigmahq() -> SigmaDetector:
    fieldmap = FieldMap.load()
    ruleset = load_texts([("sigmahq.yml", SIGMAHQ_STYLE)], fieldmap)
    assert ruleset.rejected == []
    settings_ = SigmaSettings(event_window_seconds=600)
    return SigmaDetector(SigmaEngine(ruleset, fieldmap), settings_)


def auth(seconds: int, ip: str, outcome: str, host: str = "dc01") -> SecurityEvent:
    return SecurityEvent(
        time=T0 + timedelta(seconds=seconds),
        event_id=f"a{next(_offsets)}",
        dataset="system.security",
        category=("authentication",),
        action="logon-failed" if outcome == "failure" else "logged-in",
        outcome=outcome,  # type: ignore[arg-type]
        source_ip=ip,
        user_name="administrator",
        host_name=host,
    )


def test_sigmahq_correlation_fires_only_on_matching_events() -> None:
    detector = sigmahq()
    noise = [auth(s, "10.20.3.4", "failure") for s in range(10)]  # private: filtered
    noise += [auth(s, ATTACKER, "success") for s in range(10)]  # successes
    noise += [auth(s, ATTACKER, "failure", host=f"srv{s}") for s in range(5)]  # other hosts
    assert [s for s in run(detector, noise) if s.values["kind"] == "correlation"] == []
    assert not any(k.startswith("2d8a0e3a") for k in detector.keys(noise[:20]))
    attack = [auth(30 + s, ATTACKER, "failure") for s in range(3)]
    signals = run(detector, noise + attack)
    (correlation,) = [s for s in signals if s.values["kind"] == "correlation"]
    assert dict(correlation.labels) == {"source_ip": ATTACKER, "host_name": "dc01"}
    assert correlation.rule == "sigma.2d8a0e3a-5d49-4a4c-8a7e-2f5b7c1d9e40"
    assert correlation.severity == Severity.MEDIUM
    assert correlation.event_ids == tuple(e.event_id for e in attack)
    assert correlation.title_vi.startswith("Quy tắc Sigma: Repeated Failed Logons")


def test_antivirus_category_reads_edr_malware_events() -> None:
    alert = {
        "id": "da6386_1",
        "severity": "high",
        "detectionSource": "antivirus",
        "category": "Malware",
        "title": "'Mimikatz' hacktool was prevented",
        "threatDisplayName": "HackTool:Win32/Mimikatz.D",
        "threatFamilyName": "Mimikatz",
        "createdDateTime": "2026-11-24T01:02:03Z",
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "deviceDnsName": "kt-pc07.sotttt.local",
            }
        ],
    }
    msg = RawMessage("kafka", "seclog.edr", orjson.dumps(alert), partition=0, offset=1)
    (event,) = get_decoder("edr")(msg)
    (signal,) = run(sigmahq(), [event])
    assert signal.rule == "sigma.7b6c1a55-0f44-4e1c-9a53-3c6e5f2d8b10"
    assert signal.severity == Severity.HIGH
    assert signal.technique_ids == ("T1204",)
    assert dict(signal.labels) == {"host_name": "kt-pc07.sotttt.local"}
    harmless = {**alert, "threatDisplayName": "Virus:DOS/EICAR_Test_File"}
    msg = RawMessage("kafka", "seclog.edr", orjson.dumps(harmless), partition=0, offset=2)
    assert run(sigmahq(), get_decoder("edr")(msg)) == []


def test_firewall_category_admits_firewall_cef() -> None:
    line = (
        "<185>Nov 24 08:00:00 FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|traffic:forward "
        f"deny|3|src={ATTACKER} spt=51234 dst=10.20.0.5 dpt=3389 proto=6 act=deny"
    )
    msg = RawMessage("kafka", "seclog.cef", line.encode(), partition=0, offset=1,
                     received_at=RECEIVED)  # fmt: skip
    (event,) = get_decoder("cef")(msg)
    (signal,) = of_rule(run(SHIPPED, [event]), FIREWALL_ADMIN_PORT)
    assert dict(signal.labels) == {"source_ip": ATTACKER, "host_name": "FGT100F"}
    # antivirus CEF (act=quarantined maps to event.type denied) has no destination port
    av = "CEF:0|Trend Micro|Deep Security Agent|20.0.0|4000000|Eicar|6|act=quarantined dvchost=pc"
    msg = RawMessage("kafka", "seclog.cef", av.encode(), partition=0, offset=2)
    (av_event,) = get_decoder("cef")(msg)
    firewall = SHIPPED.engine.fieldmap.logsource_filter((None, None, "firewall"))
    assert firewall is not None
    assert firewall(SHIPPED.engine.fieldmap.view(event))
    assert not firewall(SHIPPED.engine.fieldmap.view(av_event))


# ---- property: batch boundaries do not change what fires --------------------------------


@st.composite
def failures(draw: st.DrawFn) -> list[SecurityEvent]:
    count = draw(st.integers(min_value=0, max_value=40))
    events = []
    for index in range(count):
        seconds = draw(st.integers(min_value=0, max_value=200))
        ip = draw(st.sampled_from([ATTACKER, "198.51.100.4", "10.20.3.4"]))
        outcome = draw(st.sampled_from(["failure", "failure", "success"]))
        host = draw(st.sampled_from(["dc01", "dc02"]))
        item = auth(seconds, ip, outcome, host)
        events.append(item.model_copy(update={"event_id": f"p{index:04d}"}))
    return sorted(events, key=lambda e: (e.time, e.event_id))


def _signature(signals: Sequence[Signal]) -> list[tuple[Any, ...]]:
    return sorted((s.at, s.rule, s.fingerprint, s.event_ids, repr(s.values)) for s in signals)


DETECTOR = sigmahq()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=failures(), cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=4))
def test_split_batches_give_the_same_signals(events: list[SecurityEvent], cuts: list[int]) -> None:
    whole = run(DETECTOR, events)
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    split = run(DETECTOR, *[events[a:b] for a, b in itertools.pairwise(bounds)])
    assert _signature(split) == _signature(whole)


def test_property_traffic_reaches_the_correlation() -> None:
    # The property above is only worth something if its traffic can fire the correlation.
    events = [auth(s, ATTACKER, "failure") for s in (0, 10, 20, 100, 110, 120)]
    kinds = [s.values["kind"] for s in run(DETECTOR, events[:2], events[2:4], events[4:])]
    assert kinds.count("correlation") == 2


def test_unknown_sigma_yaml_is_not_loaded_silently() -> None:
    ruleset = load_texts([("x.yml", yaml.safe_dump({"title": "no detection"}))], FieldMap.load())
    assert ruleset.rejected  # the Sigma loader reports; the detector never sees it


def test_muted_rules_count_but_raise_no_alert() -> None:
    """The pack mutes the brute-force correlation (sec.bruteforce covers it): its window
    still fills, it never becomes a signal; other rules still speak."""
    assert BRUTE_FORCE in PACK.muted and FAILED_PASSWORD in PACK.muted
    deployed = SigmaDetector.load(settings=PACK)
    store: dict[str, str] = {}
    signals = run(deployed, [failed(s) for s in range(12)], store=store)
    assert of_rule(signals, BRUTE_FORCE) == [] and of_rule(signals, FAILED_PASSWORD) == []
    assert any(key.startswith(BRUTE_FORCE) for key in store)  # counted all the same
    assert of_rule(run(SHIPPED, [failed(s) for s in range(12)]), BRUTE_FORCE)


def test_low_level_rules_raise_no_alert_in_the_deployed_pack() -> None:
    assert PACK.min_alert_level == "medium"
    deployed = SigmaDetector.load(settings=PACK)
    # ssh_invalid_user is a low-level rule: counted, not alerted.
    line = (
        "<38>Nov 24 08:00:00 web01 sshd[42]: Failed password for invalid user oracle"
        " from 198.51.100.9 port 40022 ssh2"
    )
    assert of_rule(run(deployed, [syslog(line)]), INVALID_USER) == []
    assert of_rule(run(SHIPPED, [syslog(line)]), INVALID_USER)
