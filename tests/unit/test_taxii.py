"""TAXII 2.1 pieces that need no server: TLP levels, the STIX objects of a shared case,
the wire format (negotiation, timestamps, paging tokens, match filters), the pull's
configuration and bundle. The server itself: tests/integration/test_taxii.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stix2
from hypothesis import given
from hypothesis import strategies as st

from api.taxii.protocol import (
    MAX_LIMIT,
    TaxiiError,
    acceptable,
    next_token,
    page_size,
    parse_match,
    parse_next,
    parse_timestamp,
    timestamp,
)
from config.yaml_loader import ConfigErrors
from processors.alerts.exports.stix import soc_identity
from processors.security.indicators.loader import IndicatorSet, read_stix
from processors.taxii import tlp
from processors.taxii.config import PullSource, load_config
from processors.taxii.publish import stored
from processors.taxii.pull import bundle, due
from processors.taxii.stix import CaseObservable, SharedCase, case_objects, global_objects

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
IDENTITY = soc_identity("SOC tỉnh Kiên Giang", "Kiên Giang")


def case(**changes: object) -> SharedCase:
    base = SharedCase(
        id="0b7e3c1e-1111-4111-8111-111111111111",
        title="Dò mật khẩu SSH",
        description="SSH brute force",
        severity="high",
        tlp="amber",
        status="closed",
        classification="true_positive",
        created=T0,
        updated=T0 + timedelta(hours=3),
        observables=(
            CaseObservable("ipv4", "203.0.113.7", T0, T0 + timedelta(minutes=5), 40),
            CaseObservable("url", "http://bad.example/a'b", T0, T0, 1),
            CaseObservable("md5", "d41d8cd98f00b204e9800998ecf8427e", T0, T0, 2),
            CaseObservable("user", "nguyenvana", T0, T0, 40),
            CaseObservable("host", "portal-01", T0, T0, 40),
        ),
        alert_count=3,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# ---- TLP --------------------------------------------------------------------------------


def test_tlp_levels_tighten_in_order_and_accept_the_usual_spellings() -> None:
    assert [tlp.rank(x) for x in ("clear", "green", "amber", "amber+strict", "red")] == [
        0, 1, 2, 3, 4,
    ]  # fmt: skip
    assert tlp.level("TLP:AMBER+STRICT") == "amber+strict" and tlp.level("white") == "clear"
    with pytest.raises(ValueError, match="not one of"):
        tlp.level("purple")


def test_tlp_markings_are_the_published_tlp_2_objects() -> None:
    amber = tlp.marking("amber")
    assert amber.id == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    assert amber.name == "TLP:AMBER"
    assert amber.extensions[tlp.TLP2_EXTENSION]["tlp_2_0"] == "amber"
    assert len({m.id for m in tlp.MARKINGS.values()}) == 5


# ---- STIX of a shared case --------------------------------------------------------------


def test_a_case_becomes_a_report_indicators_sightings_and_observed_data() -> None:
    objects = case_objects(case(), IDENTITY)
    kinds = sorted(o.type for o in objects)
    assert kinds == sorted(
        ["file", "ipv4-addr", "url", "observed-data", "report"] + ["indicator", "sighting"] * 3
    )
    by_id = {o.id: o for o in objects}
    report = next(o for o in objects if o.type == "report")
    assert set(report.object_refs) == (set(by_id) - {report.id}) | {IDENTITY.id}
    assert report.name == "Dò mật khẩu SSH" and "classification:true_positive" in report.labels
    observed = next(o for o in objects if o.type == "observed-data")
    assert observed.number_observed == 3
    assert {by_id[r].type for r in observed.object_refs} == {"ipv4-addr", "url", "file"}
    patterns = {o.pattern for o in objects if o.type == "indicator"}
    assert "[url:value = 'http://bad.example/a\\'b']" in patterns  # the quote escaped
    assert all(
        o.indicator_types == ["malicious-activity"] for o in objects if o.type == "indicator"
    )
    sighting = next(
        o for o in objects if o.type == "sighting" and "ipv4" in by_id[o.sighting_of_ref].name
    )
    assert sighting.count == 40 and sighting.where_sighted_refs == [IDENTITY.id]
    amber = tlp.marking("amber").id
    assert all(o.object_marking_refs == [amber] for o in objects)
    assert all(o.created_by_ref == IDENTITY.id for o in objects if o.type != "ipv4-addr"
               and o.type not in ("url", "file"))  # fmt: skip
    # Valid STIX 2.1 as text, too.
    for obj in objects:
        stix2.parse(obj.serialize(), version="2.1")


def test_users_and_hosts_are_never_shared() -> None:
    text = "".join(o.serialize() for o in case_objects(case(), IDENTITY))
    assert "nguyenvana" not in text and "portal-01" not in text


def test_ids_stay_and_versions_move_when_the_case_changes() -> None:
    before = {o.id: o for o in case_objects(case(), IDENTITY)}
    later = T0 + timedelta(days=1)
    after = {o.id: o for o in case_objects(case(updated=later), IDENTITY)}
    assert set(before) == set(after)
    report = next(i for i in after if i.startswith("report--"))
    assert after[report].modified > before[report].modified


def test_a_false_positive_revokes_its_indicators() -> None:
    objects = case_objects(case(classification="false_positive"), IDENTITY)
    indicators = [o for o in objects if o.type == "indicator"]
    assert indicators and all(o.revoked for o in indicators)
    loaded = IndicatorSet()
    read_stix(
        "x.json", json.dumps({"objects": [json.loads(o.serialize()) for o in objects]}), loaded
    )
    assert len(loaded) == 0  # the indicator lists drop them


def test_a_case_without_shareable_observables_is_a_report_alone() -> None:
    only_people = (CaseObservable("user", "bob", T0, T0),)
    objects = case_objects(case(observables=only_people, severity="low"), IDENTITY)
    assert [o.type for o in objects] == ["report"]
    assert objects[0].object_refs == [IDENTITY.id]


def test_stored_rows_carry_the_marking_level_and_the_version() -> None:
    rows = {r.id: r for r in stored(global_objects(IDENTITY))}
    assert rows[tlp.marking("red").id].tlp_rank == 4
    assert rows[tlp.marking("clear").id].tlp_rank == 0 and rows[IDENTITY.id].tlp_rank == 0
    case_rows = stored(case_objects(case(), IDENTITY), 2)
    report = next(r for r in case_rows if r.type == "report")
    assert report.version == T0 + timedelta(hours=3) and report.tlp_rank == 2
    assert next(r for r in case_rows if r.type == "ipv4-addr").version is None


# ---- the wire format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (None, True),
        ("*/*", True),
        ("application/taxii+json;version=2.1", True),
        ("application/taxii+json", True),
        ("text/html, application/taxii+json; version=2.1", True),
        ("application/taxii+json;version=2.0", False),
        ("application/taxii+json;version=2.1;q=0", False),
        ("text/html", False),
        ("application/stix+json;version=2.1", False),
    ],
)
def test_accept_header(accept: str | None, ok: bool) -> None:
    assert acceptable(accept) is ok


def test_timestamps_and_next_tokens_round_trip() -> None:
    moment = datetime(2026, 12, 3, 20, 1, 2, 345678, tzinfo=UTC)
    assert timestamp(moment) == "2026-12-03T20:01:02.345678Z"
    assert parse_timestamp("2026-12-03T20:01:02.345678Z", "added_after") == moment
    assert parse_timestamp("2026-12-03T20:01:02.345678", "x") == moment  # UTC assumed
    object_id = "indicator--6b3e5a4c-0f1d-4b8e-9a7e-1c2d3e4f5a6b"
    assert parse_next(next_token(moment, object_id)) == (moment, object_id)


@pytest.mark.parametrize("token", ["", "abc", "W10", "WyJ4IiwieSJd", "!!!!"])
def test_a_next_not_given_by_the_server_is_a_400(token: str) -> None:
    with pytest.raises(TaxiiError) as error:
        parse_next(token)
    assert error.value.status == 400 and error.value.code == "invalid_next"


def test_page_size_is_capped_not_refused() -> None:
    assert page_size(None) == 100 and page_size(5) == 5 and page_size(10**9) == MAX_LIMIT
    with pytest.raises(TaxiiError):
        page_size(0)


def test_match_filters() -> None:
    match = parse_match(
        "indicator--6b3e5a4c-0f1d-4b8e-9a7e-1c2d3e4f5a6b", "indicator,report", "last", "2.0,2.1"
    )
    assert match.ids == ["indicator--6b3e5a4c-0f1d-4b8e-9a7e-1c2d3e4f5a6b"]
    assert match.types == ["indicator", "report"] and match.versions is None and match.spec_ok
    stamped = parse_match(versions="2026-12-01T00:00:00.000Z")
    assert stamped.versions == [datetime(2026, 12, 1, tzinfo=UTC)]
    assert parse_match(spec_versions="2.0").spec_ok is False
    for bad in ({"ids": "report"}, {"types": "Report"}, {"versions": "soon"}, {"types": ","}):
        with pytest.raises(TaxiiError):
            parse_match(**bad)  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_hostile_parameters_are_400s_never_crashes(text: str) -> None:
    for parse in (
        lambda: parse_next(text),
        lambda: parse_timestamp(text, "added_after"),
        lambda: parse_match(text, text, text, text),
    ):
        try:
            parse()
        except TaxiiError as error:
            assert error.status == 400
    acceptable(text)


# ---- the pull ---------------------------------------------------------------------------


def test_config_shipped_and_errors_by_line(tmp_path: Path) -> None:
    assert load_config().pull == []
    bad = tmp_path / "taxii.yaml"
    bad.write_text(
        "pull:\n"
        "  - name: ncsc\n"
        "    collection: https://taxii.example/api1/collections/x/\n"
        "  - name: ncsc\n"
        "    collection: ftp://nope\n"
    )
    with pytest.raises(ConfigErrors) as error:
        load_config(bad)
    text = str(error.value)
    assert "taxii.yaml:5" in text and "collection" in text


def _indicator(n: int, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--6b3e5a4c-0f1d-4b8e-9a7e-1c2d3e4f5a{n:02d}",
        "created": "2026-12-01T00:00:00.000Z",
        "modified": "2026-12-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-12-01T00:00:00Z",
        **extra,
    }


def test_bundle_keeps_live_indicators_in_a_stable_order() -> None:
    source = PullSource(name="ncsc", collection="https://taxii.example/api1/collections/x/")
    now = datetime(2026, 12, 3, tzinfo=UTC)
    items = [
        _indicator(2),
        _indicator(1),
        _indicator(3, revoked=True),
        _indicator(4, valid_until="2026-12-02T00:00:00Z"),
    ]
    text = bundle(source, items, now)
    assert text == bundle(source, list(reversed(items)), now)
    loaded = IndicatorSet()
    read_stix("taxii-ncsc.json", text, loaded)
    assert len(loaded) == 2 and loaded.match_ip("198.51.100.1") is not None
    assert loaded.match_ip("198.51.100.3") is None and loaded.match_ip("198.51.100.4") is None


def test_due_sources_by_their_interval() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    hourly = PullSource(name="a", collection="https://x/c/", every_minutes=60)
    daily = PullSource(name="b", collection="https://x/c/", every_minutes=1440)
    last = {"a": now - timedelta(minutes=61), "b": now - timedelta(hours=2)}
    assert [s.name for s in due([hourly, daily], last.get, now)] == ["a"]
    assert [s.name for s in due([hourly, daily], lambda _: None, now)] == ["a", "b"]


def test_bad_observable_rows_are_left_out_not_fatal() -> None:
    rows = (
        CaseObservable("ipv4", "2001:db8::1", T0, T0),  # an IPv6 address filed as ipv4
        CaseObservable("ipv4", "10.0.0.300", T0, T0),
        CaseObservable("sha256", "not-a-hash", T0, T0),
        CaseObservable("url", "http://a b", T0, T0),
        CaseObservable("domain", "Bad.Example.", T0, T0),
        CaseObservable("md5", "D41D8CD98F00B204E9800998ECF8427E", T0, T0),
    )
    objects = case_objects(case(observables=rows), IDENTITY)
    patterns = sorted(o.pattern for o in objects if o.type == "indicator")
    assert patterns == [
        "[domain-name:value = 'bad.example']",
        "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
    ]
