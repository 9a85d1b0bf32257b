"""A case marked `shared` → STIX 2.1 objects for the national centre (pure).

Per case: a Report (the incident: title, description, severity, status, classification),
one Indicator per observable that names attack infrastructure (address, domain, URL,
file hash), a Sighting of each by the province SOC, one Observed Data holding the
observables as cyber-observable objects (SCOs), and those SCOs. Every SDO and SRO is
created by the SOC's Identity and carries the case's TLP 2.0 marking.

Reused from the alert export (processors/alerts/exports/stix.py): the SOC identity, the
id namespace and the observable patterns, so an address is written the same way in an
alert export and in a shared case.

Users and host names are not shared: a user name identifies a person (Decree 13/2023),
a host name is the agency's own machine, not the attacker's infrastructure.

Ids are uuid5 of the case and the pattern (or kind), so a case published again after it
changed keeps its objects' ids and the consumer gets new versions (`modified` is the
case's `updated`). A case closed as false positive or benign publishes its indicators
`revoked`: a consumer that pulled them earlier drops them.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import stix2

from processors.alerts.exports.stix import STIX_NAMESPACE, Observable
from processors.taxii import tlp

SHARED_TYPES = ("ipv4", "ipv6", "domain", "url", "sha256", "sha1", "md5")
RETRACTED = frozenset({"false_positive", "benign"})
SEVERE = frozenset({"high", "critical"})
MAX_COUNT = 999_999_999  # STIX 2.1 Sighting.count and number_observed upper bound
CASE_URN = "ioc-core:case"


@dataclass(frozen=True, slots=True)
class CaseObservable:
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
    sightings: int = 1


@dataclass(frozen=True, slots=True)
class SharedCase:
    id: str
    title: str
    description: str
    severity: str
    tlp: str
    status: str
    classification: str | None
    created: datetime
    updated: datetime
    observables: tuple[CaseObservable, ...] = ()
    alert_count: int = 0

    @classmethod
    def from_rows(
        cls,
        case: Mapping[str, Any],
        observables: Iterable[Mapping[str, Any]],
        alert_count: int,
    ) -> SharedCase:
        return cls(
            id=str(case["id"]),
            title=case["title"],
            description=case.get("description") or "",
            severity=case["severity"],
            tlp=case["tlp"],
            status=case["status"],
            classification=case.get("classification"),
            created=case["created"],
            updated=case["updated"],
            observables=tuple(
                CaseObservable(
                    o["type"], o["value"], o["first_seen"], o["last_seen"], o.get("sightings") or 1
                )
                for o in observables
            ),
            alert_count=alert_count,
        )


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, '|'.join((kind, *parts)))}"


def _sco(observable: CaseObservable, marking_id: str) -> Any:
    marks = {"object_marking_refs": [marking_id]}
    value = observable.value
    if observable.type == "ipv4":
        return stix2.v21.IPv4Address(value=value, **marks)
    if observable.type == "ipv6":
        return stix2.v21.IPv6Address(value=value, **marks)
    if observable.type == "domain":
        return stix2.v21.DomainName(value=value, **marks)
    if observable.type == "url":
        return stix2.v21.URL(value=value, **marks)
    algorithm = {"sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5"}[observable.type]
    return stix2.v21.File(hashes={algorithm: value}, **marks)


_HASH_LENGTH = {"sha256": 64, "sha1": 40, "md5": 32}
MAX_URL = 2048


def normalised(kind: str, value: str) -> str | None:
    """The value as shared, or None when it is not a valid value of its kind (a bad row
    is left out rather than failing the whole case)."""
    text = value.strip()
    if kind in ("ipv4", "ipv6"):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        return str(address) if f"ipv{address.version}" == kind else None
    if kind in _HASH_LENGTH:
        digest = text.lower()
        ok = len(digest) == _HASH_LENGTH[kind] and all(c in "0123456789abcdef" for c in digest)
        return digest if ok else None
    if kind == "domain":
        name = text.lower().rstrip(".")
        return name if name and len(name) <= 253 and not any(c.isspace() for c in name) else None
    if kind == "url":
        return text if 0 < len(text) <= MAX_URL and not any(c.isspace() for c in text) else None
    return None


def _shareable(case: SharedCase) -> list[CaseObservable]:
    seen: dict[tuple[str, str], CaseObservable] = {}
    for observable in case.observables:
        value = normalised(observable.type, observable.value)
        if observable.type in SHARED_TYPES and value is not None:
            seen.setdefault((observable.type, value), replace(observable, value=value))
    return sorted(seen.values(), key=lambda o: (o.type, o.value))


def _pattern(observable: CaseObservable) -> str:
    return Observable(observable.type, observable.value, "case").pattern


def _common(case: SharedCase, identity_id: str, marking_id: str) -> dict[str, Any]:
    return {
        "created_by_ref": identity_id,
        "created": case.created,
        "modified": max(case.created, case.updated),
        "object_marking_refs": [marking_id],
    }


def _reference(case: SharedCase) -> dict[str, str]:
    return {"source_name": "ioc-core", "external_id": case.id, "description": "case id"}


def case_objects(case: SharedCase, identity: stix2.v21.Identity) -> list[Any]:
    """The case's own objects (not the identity nor the marking definition)."""
    marking = tlp.marking(case.tlp)
    common = _common(case, identity.id, marking.id)
    observables = _shareable(case)
    scos = [_sco(o, marking.id) for o in observables]
    objects: list[Any] = list(scos)
    observed = None
    if scos:
        observed = stix2.v21.ObservedData(
            id=_id("observed-data", CASE_URN, case.id),
            first_observed=min(o.first_seen for o in observables),
            last_observed=max(o.last_seen for o in observables),
            number_observed=max(1, min(case.alert_count, MAX_COUNT)),
            object_refs=[s.id for s in scos],
            **common,
        )
        objects.append(observed)
    retracted = case.classification in RETRACTED
    for observable in observables:
        indicator = _indicator(case, observable, common, retracted)
        objects.append(indicator)
        objects.append(_sighting(case, observable, indicator.id, observed, identity.id, common))
    objects.append(_report(case, [identity.id, *(o.id for o in objects)], common))
    return objects


def _indicator(
    case: SharedCase, observable: CaseObservable, common: Mapping[str, Any], retracted: bool
) -> stix2.v21.Indicator:
    pattern = _pattern(observable)
    return stix2.v21.Indicator(
        id=_id("indicator", CASE_URN, case.id, pattern),
        name=f"{observable.type} {observable.value}",
        description=f"Seen in incident: {case.title}",
        indicator_types=["malicious-activity" if case.severity in SEVERE else "anomalous-activity"],
        pattern=pattern,
        pattern_type="stix",
        valid_from=observable.first_seen,
        revoked=retracted,
        external_references=[_reference(case)],
        **common,
    )


def _sighting(
    case: SharedCase,
    observable: CaseObservable,
    indicator_id: str,
    observed: stix2.v21.ObservedData | None,
    identity_id: str,
    common: Mapping[str, Any],
) -> stix2.v21.Sighting:
    return stix2.v21.Sighting(
        id=_id("sighting", CASE_URN, case.id, indicator_id),
        sighting_of_ref=indicator_id,
        observed_data_refs=[observed.id] if observed is not None else None,
        where_sighted_refs=[identity_id],
        first_seen=observable.first_seen,
        last_seen=max(observable.first_seen, observable.last_seen),
        count=max(1, min(observable.sightings, MAX_COUNT)),
        external_references=[_reference(case)],
        **common,
    )


def _report(case: SharedCase, refs: Sequence[str], common: Mapping[str, Any]) -> stix2.v21.Report:
    labels = [f"severity:{case.severity}", f"status:{case.status}"]
    if case.classification:
        labels.append(f"classification:{case.classification}")
    return stix2.v21.Report(
        id=_id("report", CASE_URN, case.id),
        name=case.title,
        description=case.description or None,
        report_types=["threat-report"],
        published=max(case.created, case.updated),
        object_refs=list(dict.fromkeys(refs)),
        labels=labels,
        external_references=[_reference(case)],
        **common,
    )


def global_objects(identity: stix2.v21.Identity) -> list[Any]:
    """Objects of no case: the SOC's identity and the TLP marking definitions."""
    return [identity, *tlp.MARKINGS.values()]
