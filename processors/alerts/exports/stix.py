"""STIX 2.1 export of security alerts for the national monitoring centre.

Each observable of a security alert (an address, domain, URL or file hash found in its
labels or values) becomes an Indicator with a STIX pattern, and the alert becomes a
Sighting of that Indicator by the province SOC (an Identity), which also signs every
object. Every SDO and SRO carries one TLP marking (default TLP:AMBER).

Ids are deterministic (uuid5): an Indicator's from its pattern, a Sighting's from the
alert id and the Indicator, the SOC's from its name and province. A re-export therefore
refers to the same objects, and the receiver updates instead of duplicating; in a range
export one Indicator serves every alert that saw the same observable.

A user name is not an observable here: it identifies a person, not attack
infrastructure. ATT&CK techniques go out as external references (mitre-attack); no
kill_chain_phases, because an alert carries technique ids, not the tactic the technique
was used for, and a technique can serve several tactics.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stix2

from events.alerts import AlertStatus, Domain, Severity

# Namespace of every id this exporter derives; fixed forever, or ids change meaning.
STIX_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ioc-core:stix2")
# An Identity never changes: a fixed creation time keeps every export byte-identical.
IDENTITY_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
ATTACK_URL = "https://attack.mitre.org/techniques/"
MAX_COUNT = 999_999_999  # STIX 2.1 Sighting.count upper bound

_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")

TLP: Mapping[str, stix2.v21.MarkingDefinition] = {
    "white": stix2.v21.TLP_WHITE,
    # TLP 2.0 CLEAR replaced TLP 1.0 WHITE with the same meaning; stix2 ships only 1.0.
    "clear": stix2.v21.TLP_WHITE,
    "green": stix2.v21.TLP_GREEN,
    "amber": stix2.v21.TLP_AMBER,
    "red": stix2.v21.TLP_RED,
}

# Label and value keys that name an observable, in the snake_case and ECS spellings the
# detectors use, and what kind of observable each holds.
OBSERVABLE_KEYS: Mapping[str, str] = {
    **dict.fromkeys(("source_ip", "source.ip", "src_ip"), "ip"),
    **dict.fromkeys(("destination_ip", "destination.ip", "dst_ip", "dest_ip"), "ip"),
    **dict.fromkeys(("domain", "destination.domain", "dns.question.name", "url.domain"), "domain"),
    **dict.fromkeys(("url", "url.full", "url.original"), "url"),
    **dict.fromkeys(("sha256", "file.hash.sha256"), "sha256"),
    **dict.fromkeys(("sha1", "file.hash.sha1"), "sha1"),
    **dict.fromkeys(("md5", "file.hash.md5"), "md5"),
}

_HASH_LENGTH = {"sha256": 64, "sha1": 40, "md5": 32}
_PATTERN_PATH = {
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "domain": "domain-name:value",
    "url": "url:value",
    "sha256": "file:hashes.'SHA-256'",
    "sha1": "file:hashes.'SHA-1'",
    "md5": "file:hashes.'MD5'",
}
_KIND_NAME = {
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "domain": "Domain",
    "url": "URL",
    "sha256": "File SHA-256",
    "sha1": "File SHA-1",
    "md5": "File MD5",
}


class StixExportError(ValueError):
    """An alert that cannot go to the national centre as STIX; str() says why."""


@dataclass(frozen=True, slots=True)
class Observable:
    kind: str  # ipv4 | ipv6 | domain | url | sha256 | sha1 | md5
    value: str  # normalised
    role: str  # the label or value key it came from (source_ip …)

    @property
    def pattern(self) -> str:
        return f"[{_PATTERN_PATH[self.kind]} = '{escape_pattern_string(self.value)}']"


@dataclass(frozen=True, slots=True)
class Skipped:
    alert_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StixExport:
    bundle: stix2.v21.Bundle
    skipped: tuple[Skipped, ...] = ()


def escape_pattern_string(value: str) -> str:
    """A STIX patterning string literal: backslash and single quote are escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _stix_id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(STIX_NAMESPACE, '|'.join(parts))}"


def tlp_marking(name: str) -> stix2.v21.MarkingDefinition:
    """'amber', 'TLP:AMBER', 'clear'/'white', 'green', 'red' (any case)."""
    key = name.strip().lower().removeprefix("tlp:")
    if key not in TLP:
        raise StixExportError(f"TLP {name!r} is not one of clear, white, green, amber, red")
    return TLP[key]


def soc_identity(name: str, province: str) -> stix2.v21.Identity:
    """The province SOC as a STIX Identity; the same name and province, the same id."""
    if not name.strip() or not province.strip():
        raise StixExportError("a SOC identity needs a name and a province")
    return stix2.v21.Identity(
        id=_stix_id("identity", "soc", name.strip(), province.strip()),
        created=IDENTITY_CREATED,
        modified=IDENTITY_CREATED,
        name=name.strip(),
        description=f"Security operations centre (SOC) of {province.strip()} province",
        identity_class="organization",
        sectors=["government-regional"],
    )


# --- observables (pure) --------------------------------------------------------------


def _normalise(kind: str, raw: str) -> tuple[str, str] | None:
    """(observable kind, normalised value), or None when the text is not that kind."""
    text = raw.strip()
    if not text:
        return None
    if kind == "ip":
        return _ip(text)
    if kind == "domain":
        name = text.lower().rstrip(".")  # DNS names are case-blind; the root dot is implied
        return ("domain", name) if name else None
    if kind == "url":
        return "url", text
    digest = text.lower()
    if len(digest) == _HASH_LENGTH[kind] and all(c in "0123456789abcdef" for c in digest):
        return kind, digest
    return None


def _ip(text: str) -> tuple[str, str] | None:
    try:
        address: Any = (
            ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text)
        )
    except ValueError:
        return None
    return f"ipv{address.version}", str(address)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def observables(alert: Mapping[str, Any]) -> tuple[list[Observable], list[str]]:
    """The alert's observables (one per distinct pattern, labels first) and the
    observable-keyed values that were not valid, as 'key=value' texts."""
    found: dict[str, Observable] = {}
    rejected: list[str] = []
    sources = (alert.get("labels") or {}, alert.get("alert_values") or {})
    for source in sources:
        for key, value in source.items():
            kind = OBSERVABLE_KEYS.get(key)
            for text in _texts(value) if kind else []:
                parsed = _normalise(kind, text)
                if parsed is None:
                    rejected.append(f"{key}={text!r}")
                    continue
                observable = Observable(parsed[0], parsed[1], key)
                found.setdefault(observable.pattern, observable)
    return list(found.values()), rejected


def refusal(alert: Mapping[str, Any]) -> str | None:
    """Why this alert cannot be exported, or None when it can."""
    if alert.get("domain") != Domain.SECURITY:
        return (
            f"alert {alert.get('id')} is a {alert.get('domain')} alert: only security alerts"
            " are exported as STIX"
        )
    found, rejected = observables(alert)
    if not found:
        bad = f"; not valid: {', '.join(rejected)}" if rejected else ""
        return (
            f"alert {alert.get('id')} has no observable (address, domain, URL or file hash)"
            f" to sight{bad}"
        )
    return None


# --- objects -------------------------------------------------------------------------


def _attack_references(technique_ids: Iterable[str]) -> list[dict[str, str]]:
    cleaned = (t.strip().upper() for t in technique_ids if isinstance(t, str))
    valid = sorted({t for t in cleaned if _TECHNIQUE.match(t)})
    return [
        {
            "source_name": "mitre-attack",
            "external_id": technique,
            "url": ATTACK_URL + technique.replace(".", "/") + "/",
        }
        for technique in valid
    ]


def _last_seen(alert: Mapping[str, Any]) -> datetime:
    updated: datetime = alert["updated_at"]
    resolved: datetime | None = alert.get("resolved_at")
    if alert.get("status") == AlertStatus.RESOLVED and resolved is not None:
        return max(updated, resolved)
    return updated


def _count(alert: Mapping[str, Any]) -> int:
    # A correlation says how many events it counted; otherwise the events it lists.
    counted = (alert.get("alert_values") or {}).get("count")
    if isinstance(counted, int) and not isinstance(counted, bool) and counted > 0:
        return min(counted, MAX_COUNT)
    return max(1, min(len(alert.get("event_ids") or ()), MAX_COUNT))


@dataclass
class _IndicatorPlan:
    """One observable and every alert in the export that saw it."""

    observable: Observable
    roles: set[str] = field(default_factory=set)
    alerts: list[Mapping[str, Any]] = field(default_factory=list)


def _indicator(plan: _IndicatorPlan, identity_id: str, marking_id: str) -> stix2.v21.Indicator:
    observable = plan.observable
    first = min(alert["started_at"] for alert in plan.alerts)
    severe = any(int(alert["severity"]) >= Severity.HIGH for alert in plan.alerts)
    techniques = (t for alert in plan.alerts for t in alert.get("technique_ids") or ())
    return stix2.v21.Indicator(
        id=_stix_id("indicator", observable.pattern),
        created_by_ref=identity_id,
        created=first,
        modified=max(_last_seen(alert) for alert in plan.alerts),
        name=f"{_KIND_NAME[observable.kind]} {observable.value}",
        description=f"Seen in security alerts as: {', '.join(sorted(plan.roles))}.",
        indicator_types=["malicious-activity" if severe else "anomalous-activity"],
        pattern=observable.pattern,
        pattern_type="stix",
        valid_from=first,
        external_references=_attack_references(techniques) or None,
        object_marking_refs=[marking_id],
    )


def _sighting_text(alert: Mapping[str, Any]) -> str:
    # English first for the national centre's analysts, the operators' Vietnamese beside.
    parts = [alert.get(k) for k in ("title_en", "summary_en", "title_vi", "summary_vi")]
    severity = Severity(int(alert["severity"])).label
    lines = [str(p).strip() for p in parts if p and str(p).strip()]
    return "\n".join([*dict.fromkeys(lines), f"Rule {alert.get('rule')}, severity {severity}."])


def _sighting(
    alert: Mapping[str, Any], indicator_id: str, identity_id: str, marking_id: str
) -> stix2.v21.Sighting:
    alert_id = str(alert["id"])
    source = {"source_name": "ioc-core", "external_id": alert_id, "description": "alert id"}
    return stix2.v21.Sighting(
        id=_stix_id("sighting", alert_id, indicator_id),
        created_by_ref=identity_id,
        created=alert["started_at"],
        modified=_last_seen(alert),
        description=_sighting_text(alert),
        sighting_of_ref=indicator_id,
        count=_count(alert),
        first_seen=alert["started_at"],
        last_seen=_last_seen(alert),
        where_sighted_refs=[identity_id],
        external_references=[source, *_attack_references(alert.get("technique_ids") or ())],
        object_marking_refs=[marking_id],
    )


def _marked_identity(
    identity: stix2.v21.Identity, marking: stix2.v21.MarkingDefinition
) -> stix2.v21.Identity:
    properties = {k: v for k, v in identity.items() if k != "object_marking_refs"}
    return stix2.v21.Identity(**properties, object_marking_refs=[marking.id])


def _plan(alerts: Iterable[Mapping[str, Any]]) -> tuple[dict[str, _IndicatorPlan], list[Skipped]]:
    plans: dict[str, _IndicatorPlan] = {}
    skipped: list[Skipped] = []
    for alert in alerts:
        reason = refusal(alert)
        if reason is not None:
            skipped.append(Skipped(str(alert.get("id")), reason))
            continue
        for observable in observables(alert)[0]:
            plan = plans.setdefault(observable.pattern, _IndicatorPlan(observable))
            plan.roles.add(observable.role)
            # The same alert listed twice is still one sighting.
            if all(a["id"] != alert["id"] for a in plan.alerts):
                plan.alerts.append(alert)
    return plans, skipped


def range_export(
    alerts: Iterable[Mapping[str, Any]],
    *,
    identity: stix2.v21.Identity,
    tlp: str = "amber",
) -> StixExport:
    """One bundle for many alerts, one Indicator per distinct observable; the alerts
    that cannot be exported (not security, no observable) are listed in `skipped`."""
    marking = tlp_marking(tlp)
    plans, skipped = _plan(alerts)
    indicators = {p: _indicator(plan, identity.id, marking.id) for p, plan in plans.items()}
    sightings = {
        (str(alert["id"]), pattern): _sighting(
            alert, indicators[pattern].id, identity.id, marking.id
        )
        for pattern, plan in plans.items()
        for alert in plan.alerts
    }
    objects: list[Any] = [
        marking,
        _marked_identity(identity, marking),
        *sorted(indicators.values(), key=lambda o: o.id),
        *sorted(sightings.values(), key=lambda o: o.id),
    ]
    bundle_id = _stix_id("bundle", *(o.id for o in objects))
    return StixExport(stix2.v21.Bundle(objects=objects, id=bundle_id), tuple(skipped))


def range_bundle(
    alerts: Iterable[Mapping[str, Any]],
    *,
    identity: stix2.v21.Identity,
    tlp: str = "amber",
) -> stix2.v21.Bundle:
    """`range_export` without the list of skipped alerts."""
    return range_export(alerts, identity=identity, tlp=tlp).bundle


def alert_bundle(
    alert: Mapping[str, Any],
    *,
    identity: stix2.v21.Identity,
    tlp: str = "amber",
) -> stix2.v21.Bundle:
    """The bundle for one security alert; StixExportError says why an alert cannot go."""
    reason = refusal(alert)
    if reason is not None:
        raise StixExportError(reason)
    return range_export([alert], identity=identity, tlp=tlp).bundle
