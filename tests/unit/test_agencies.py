"""The agency inventory (config/agencies.py), the enrichment of security events on the
way in, the agency label of security alerts and the silent-log-source decisions."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import agencies
from config.agencies import UNKNOWN, Inventory, InventoryFile, enrich
from config.yaml_loader import ConfigErrors
from events.alerts import Domain, Severity, SignalState
from events.models import Measurement, SecurityEvent
from ingest.decode import decode
from ingest.message import RawMessage
from ingest.routes import TopicRouter
from processors.agencies.labels import AgencyLabelled, TimedAgencyLabelled, labelled
from processors.agencies.silent import silent_signals
from processors.detector import Outcome, TimedDetector
from processors.security.detectors import build_detectors
from processors.security.detectors.rules import RULES_FILE, parse_rule_pack
from processors.security.indicators.loader import IndicatorSet
from processors.security.sigma.fieldmap import FieldMap
from store.agencies import SILENT_RULE

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # the job's fixed clock

INVENTORY = {
    "silent_alert": {"severity": "high", "after_intervals": 2},
    "agencies": [
        {
            "id": "so-tc",
            "name_vi": "Sở Tài chính",
            "name_en": "Department of Finance",
            "networks": ["10.40.0.0/16", "2001:db8:40::/48"],
            "hosts": ["tc-*", "ketoan01"],
            "log_sources": [
                {
                    "id": "tc-fw01",
                    "kind": "firewall",
                    "match": {"observer_name": ["tc-fw01"], "topic": ["seclog.firewall*"]},
                    "expected_interval_s": 300,
                },
                {
                    "id": "tc-web01-access",
                    "kind": "web",
                    "match": {"host_name": ["tc-web01"], "dataset": ["nginx.access"]},
                    "expected_interval_s": 600,
                },
            ],
        },
        {
            "id": "so-tc-kho-bac",
            "name_vi": "Kho bạc (mạng con của Sở Tài chính)",
            "name_en": "Treasury (a subnet inside Finance's)",
            "networks": ["10.40.7.0/24"],
            "log_sources": [
                {
                    "id": "kb-http",
                    "kind": "syslog",
                    "match": {"topic": ["http/syslog/kb-*"]},
                    "expected_interval_s": 3600,
                }
            ],
        },
    ],
}


def inventory(data: dict[str, Any] = INVENTORY) -> Inventory:
    return Inventory(InventoryFile.model_validate(data))


INV = inventory()
FIELDMAP = FieldMap.load()


def sec(host: str | None = None, **fields: Any) -> SecurityEvent:
    fields.setdefault(
        "event_id", f"e-{host}-{fields.get('destination_ip')}-{fields.get('source_ip')}"
    )
    fields.setdefault("dataset", "system.auth")
    return SecurityEvent(time=T0, host_name=host, **fields)


# ---- the inventory file ----------------------------------------------------------------


def test_shipped_inventory_loads_and_covers_the_simulated_servers() -> None:
    shipped = Inventory.load(agencies.DEFAULT_FILE)
    assert shipped.agency_of_host("kg-dvc-web01").id == "vp-ubnd"
    assert shipped.agency_of_host("kh-camera-nvr01").id == "cong-an-tinh"
    assert shipped.agency_of_ip("10.30.1.25").id == "vp-tinh-uy"
    assert shipped.agency_of_ip("203.0.113.7") is None
    assert {s for s in shipped.sources} >= {"kg-dvc-web01-syslog", "kg-ids01-suricata"}


def test_home_networks_are_the_union_of_the_agencies_networks_collapsed() -> None:
    nets = INV.home_networks()
    assert nets == [
        ipaddress.ip_network("10.40.0.0/16"),  # 10.40.7.0/24 lies inside it
        ipaddress.ip_network("2001:db8:40::/48"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["agencies"][1].update(id="so-tc"), "agency id 'so-tc' appears twice"),
        (lambda d: d["agencies"][0]["networks"].append("10.41.0.1/16"), "host bits set"),
        (lambda d: d["agencies"][1]["networks"].append("10.40.0.0/16"), "network '10.40.0.0/16'"),
        (lambda d: d["agencies"][0]["log_sources"][0].update(match={}), "match needs host_name"),
        (lambda d: d["agencies"][0]["log_sources"][0].update(kind="fax"), "kind"),
        (lambda d: d["agencies"][0].update(id="Sở TC"), "id"),
        (lambda d: d["agencies"][0]["log_sources"][0].update(expected_interval_s=5), "60"),
    ],
)
def test_a_bad_inventory_is_refused_with_its_line(
    tmp_path: Path, change: Any, message: str
) -> None:
    import copy

    data = copy.deepcopy(INVENTORY)
    change(data)
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigErrors) as raised:
        Inventory.load(path)
    text = str(raised.value)
    assert message in text
    assert "agencies.yaml:" in text  # file:line: field: message


def test_an_empty_file_is_an_empty_inventory(tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text("", encoding="utf-8")
    empty = Inventory.load(path)
    assert empty.home_networks() == [] and empty.sources == {}


# ---- which agency an event belongs to ----------------------------------------------------


def test_log_source_by_observer_and_topic_names_agency_and_source() -> None:
    event = sec(None, ecs={"observer": {"name": "TC-FW01"}}, source_ip="203.0.113.9")
    found = INV.agency_of(event, "seclog.firewall.test-1")
    assert (found.agency.id, found.source.id) == ("so-tc", "tc-fw01")
    # Every field the match names must fit: the same observer on another topic is no
    # log source (but still the agency's, by nothing else here: no agency at all).
    assert INV.agency_of(event, "seclog.syslog") is None


def test_a_firewall_is_known_by_its_serial_number_whatever_its_name() -> None:
    data = {
        "agencies": [
            {
                "id": "so-tc",
                "name_vi": "Sở Tài chính",
                "name_en": "Department of Finance",
                "log_sources": [
                    {
                        "id": "tc-fgt",
                        "kind": "firewall",
                        "match": {"observer_serial": ["FG100FTK22001234"]},
                        "expected_interval_s": 300,
                    }
                ],
            }
        ]
    }
    inv = inventory(data)
    renamed = sec(
        None, ecs={"observer": {"name": "FGT-new-name", "serial_number": "FG100FTK22001234"}}
    )
    assert inv.agency_of(renamed, "seclog.firewall").source.id == "tc-fgt"
    other = sec(None, ecs={"observer": {"serial_number": "FG100FTK29999999"}})
    assert inv.agency_of(other, "seclog.firewall") is None


def test_shipped_firewall_and_domain_controller_sources() -> None:
    shipped = Inventory.load(agencies.DEFAULT_FILE)
    fgt = sec("kg-fgt01", ecs={"observer": {"serial_number": "FG100FTK22001234"}})
    assert shipped.agency_of(fgt, "seclog.firewall").source.id == "kg-fgt01-firewall"
    dc = sec("KG-DC01.kiengiang.local", dataset="windows.sysmon_operational")
    assert shipped.agency_of(dc, "seclog.winlog").source.id == "kg-dc01-winlog"


def test_log_source_dataset_must_fit_too() -> None:
    access = sec("tc-web01", dataset="nginx.access")
    auth = sec("tc-web01", dataset="system.auth")
    assert INV.agency_of(access, "seclog.web").source.id == "tc-web01-access"
    found = INV.agency_of(auth, "seclog.syslog")
    assert found.source is None and found.agency.id == "so-tc"  # by host prefix tc-*


def test_topic_only_source_matches_http_senders() -> None:
    found = INV.agency_of(sec("anything"), "http/syslog/kb-gw02")
    assert (found.agency.id, found.source.id) == ("so-tc-kho-bac", "kb-http")


def test_host_exact_and_prefix_case_insensitive() -> None:
    assert INV.agency_of(sec("KETOAN01"), "t").agency.id == "so-tc"
    assert INV.agency_of(sec("tc-db09"), "t").agency.id == "so-tc"
    assert INV.agency_of(sec("ketoan012"), "t") is None


def test_addresses_destination_first_then_source_longest_prefix() -> None:
    inbound = sec("unknown-host", source_ip="203.0.113.7", destination_ip="10.40.7.12")
    assert INV.agency_of(inbound, "t").agency.id == "so-tc-kho-bac"  # /24 inside the /16
    outbound = sec(None, source_ip="10.40.1.5", destination_ip="198.51.100.1")
    assert INV.agency_of(outbound, "t").agency.id == "so-tc"
    v6 = sec(None, source_ip="2001:db8:40::9")
    assert INV.agency_of(v6, "t").agency.id == "so-tc"
    assert INV.agency_of(sec(None, source_ip="192.0.2.1"), "t") is None


def test_enrich_sets_organization_and_log_source() -> None:
    shared_labels = {"rule": "x"}
    firewall = sec(None, ecs={"observer": {"name": "tc-fw01"}, "labels": shared_labels})
    reading = Measurement(time=T0, device_id="kg-aq-01", metric="pm25", value=12.0)
    stranger = sec("nobody")
    out = enrich([firewall, reading, stranger], "seclog.firewall", INV)
    assert out[0].ecs["organization"] == {"id": "so-tc", "name": "Sở Tài chính"}
    assert out[0].ecs["labels"] == {"rule": "x", "log_source": "tc-fw01"}
    assert shared_labels == {"rule": "x"}  # a nested dict is copied, never changed
    assert out[1] is reading and out[2] is stranger and "organization" not in stranger.ecs
    assert agencies.agency_id_of(out[0]) == "so-tc" and agencies.agency_id_of(stranger) is None


def test_lookups_are_cached_per_inventory() -> None:
    fresh = inventory()
    assert fresh.agency_of_ip("10.40.7.9").id == "so-tc-kho-bac"
    assert fresh.agency_of_ip("10.40.7.9").id == "so-tc-kho-bac"
    assert fresh.agency_of_ip.cache_info().hits == 1  # type: ignore[attr-defined]
    assert fresh.agency_of_ip("not an address") is None


def test_decode_gives_security_events_their_agency() -> None:
    agencies.use(INV)
    try:
        router = TopicRouter({"seclog.syslog": "syslog"}, wildcard=False)
        line = (
            b"<38>Dec  3 08:00:00 tc-web01 sshd[1234]: Failed password for root"
            b" from 203.0.113.7 port 49286 ssh2"
        )
        message = RawMessage("kafka", "seclog.syslog", line, partition=0, offset=1, received_at=NOW)
        decoded = decode(message, router, 1 << 20)
        (event,) = decoded.events
        assert event.ecs["organization"]["id"] == "so-tc"
    finally:
        agencies.use(None)


def test_a_broken_inventory_never_stops_ingest(tmp_path: Path, monkeypatch) -> None:
    def broken() -> Inventory:
        raise ConfigErrors([])

    monkeypatch.setattr(agencies, "current", broken)
    event = sec("tc-web01")
    assert agencies.enrich_security([event], "seclog.syslog") == [event]


# ---- the agency label of security alerts ---------------------------------------------


def _bruteforce() -> Any:
    """The shipped brute-force detection with a threshold of 3."""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["detections"] = [d for d in data["detections"] if d["id"] == "sec.bruteforce"]
    data["detections"][0].update(threshold=3, window_seconds=60)
    (detector,) = build_detectors(parse_rule_pack(data, "test pack"), FIELDMAP, IndicatorSet())
    return detector


def _failures(host: str, n: int, start: int = 0) -> list[SecurityEvent]:
    return [
        sec(
            host,
            event_id=f"f-{host}-{start + i}",
            category=("authentication",),
            outcome="failure",
            source_ip="203.0.113.7",
            user_name="root",
        )
        for i in range(n)
    ]


def test_security_signals_carry_the_agency_of_the_event_that_fired_them() -> None:
    inner = _bruteforce()
    wrapped = AgencyLabelled(inner, INV)
    events = enrich(_failures("tc-db01", 3), "seclog.syslog", INV)
    assert wrapped.name == inner.name and wrapped.keys(events) == inner.keys(events)
    outcome = wrapped.process({}, events)
    (signal,) = outcome.signals
    assert dict(signal.labels) == {"source_ip": "203.0.113.7", "agency": "so-tc"}
    # The state is the inner detector's, unchanged by the wrapper.
    assert outcome.states == inner.process({}, events).states


def test_an_alert_without_its_events_at_hand_takes_its_labels_agency_or_unknown() -> None:
    class Fixed:
        name = "fixed"

        def __init__(self, labels: dict[str, str]) -> None:
            self.labels = labels

        def keys(self, events: Any) -> set[str]:
            return {"k"}

        def process(self, states: Any, events: Any) -> Outcome:
            signal = _bruteforce().process({}, _failures("x", 3)).signals[0]
            from dataclasses import replace

            return Outcome(signals=[replace(signal, labels=self.labels, event_ids=("gone",))])

    by_host = AgencyLabelled(Fixed({"host_name": "ketoan01"}), INV).process({}, [])
    assert by_host.signals[0].labels["agency"] == "so-tc"
    by_ip = AgencyLabelled(Fixed({"source_ip": "10.40.7.1"}), INV).process({}, [])
    assert by_ip.signals[0].labels["agency"] == "so-tc-kho-bac"
    nobody = AgencyLabelled(Fixed({"source_ip": "203.0.113.1"}), INV).process({}, [])
    assert nobody.signals[0].labels["agency"] == UNKNOWN
    named = AgencyLabelled(Fixed({"agency": "so-khac"}), INV).process({}, [])
    assert named.signals[0].labels["agency"] == "so-khac"


def test_a_timed_detector_keeps_its_tick() -> None:
    class Timed:
        name = "timed"

        def keys(self, events: Any) -> set[str]:
            return set()

        def process(self, states: Any, events: Any) -> Outcome:
            return Outcome()

        def tick(self, states: Any, quiet: Any) -> Outcome:
            signal = _bruteforce().process({}, _failures("tc-a", 3)).signals[0]
            return Outcome(signals=[signal])

    plain, timed = labelled([_bruteforce(), Timed()], INV)
    assert type(plain) is AgencyLabelled and not isinstance(plain, TimedDetector)
    assert type(timed) is TimedAgencyLabelled and isinstance(timed, TimedDetector)
    # No event at hand in a tick: the labels decide (an outside address: unknown).
    assert timed.tick({}, {}).signals[0].labels["agency"] == UNKNOWN


# ---- silent log sources (fixed clock) ----------------------------------------------------


def test_silent_only_past_the_limit_and_never_for_a_source_never_heard() -> None:
    # tc-fw01: 300 s × 2 = 10 minutes.
    exactly = {"tc-fw01": NOW - timedelta(minutes=10)}
    assert silent_signals(INV, exactly, {}, NOW) == []
    past = {"tc-fw01": NOW - timedelta(minutes=10, seconds=1)}
    (signal,) = silent_signals(INV, past, {}, NOW)
    assert signal.rule == SILENT_RULE and signal.state is SignalState.FIRING
    assert signal.domain is Domain.SECURITY and signal.severity is Severity.HIGH
    assert dict(signal.labels) == {"agency": "so-tc", "log_source": "tc-fw01"}
    assert signal.at == past["tc-fw01"] + timedelta(minutes=10)  # when it crossed
    assert signal.values["threshold_s"] == 600
    assert "Nguồn nhật ký ngừng gửi" in signal.title_vi and "Sở Tài chính" in signal.title_vi
    assert "Log source silent" in signal.title_en
    # Already open: nothing new while it stays silent.
    open_alerts = {"tc-fw01": dict(signal.labels)}
    assert silent_signals(INV, past, open_alerts, NOW + timedelta(hours=1)) == []


def test_silent_alert_resolves_when_the_source_speaks_again() -> None:
    open_alerts = {"tc-fw01": {"agency": "so-tc", "log_source": "tc-fw01"}}
    spoke = NOW - timedelta(seconds=30)
    (signal,) = silent_signals(INV, {"tc-fw01": spoke}, open_alerts, NOW)
    assert signal.state is SignalState.RESOLVED and signal.at == spoke
    assert dict(signal.labels) == open_alerts["tc-fw01"]  # the same alert (fingerprint)


def test_an_open_alert_of_a_source_gone_from_the_inventory_is_resolved() -> None:
    gone = {"old-fw": {"agency": "so-tc", "log_source": "old-fw"}}
    (signal,) = silent_signals(INV, {}, gone, NOW)
    assert signal.state is SignalState.RESOLVED and dict(signal.labels) == gone["old-fw"]
