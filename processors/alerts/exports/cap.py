"""CAP 1.2 (OASIS Common Alerting Protocol) public warnings from environment alerts.

Only flood, salinity and air quality alerts become public warnings (`cap_supported`);
security and device-health alerts never leave the centre this way.

One alert episode is one CAP incident. Each version of it (the row as of `updated_at`,
or `resolved_at` once resolved) is one message with a stable identifier, so exporting
the same version twice gives the same bytes:
- the first message is an Alert; later ones (escalation, de-escalation) are Updates
  that reference the earlier messages the caller says it sent (`previous`);
- a resolved alert is a Cancel (responseType AllClear). Without `previous` it references
  the episode's opening message, whose identifier and time follow from `started_at`.

Each message carries one <info> in vi-VN first, then one in en-US. Wording lives in
cap_text.yaml. The document is built with xml.etree, so every value is escaped, and
`validate_cap` checks it against the bundled OASIS schema (schema/CAP-v1.2.xsd: the
OASIS CAP-v1.2.xsd, copied verbatim from google/cap-library schema/cap12.xsd, commit
4c89bb76a6cc3cef4b9ae7fe2c2934103352da5d, whose only difference from the OASIS file is
whitespace layout) plus the section 3 rules a schema cannot express.

Alert values read (all optional): `value` (the measurement), `level` (or `to_level`:
the level key, e.g. bd2, warning, bad), `threshold` (the line of that level).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import xmlschema

from config.timezone import LOCAL_TZ
from config.yaml_loader import load_data
from events.alerts import AlertStatus, Domain, Severity

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_FILE = Path(__file__).with_name("schema") / "CAP-v1.2.xsd"
TEXT_FILE = Path(__file__).with_name("cap_text.yaml")
DEFAULT_RADIUS_KM = 5.0
# CAP 1.2 section 3.2.2: a headline SHOULD stay under 160 characters (SMS and pagers).
HEADLINE_MAX = 160
LANGS = ("vi", "en")  # Vietnamese first: the public reads it first

STATUSES = frozenset({"Actual", "Exercise", "System", "Test", "Draft"})
SCOPES = frozenset({"Public", "Restricted", "Private"})
CATEGORIES = frozenset(
    {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env"}
    | {"Transport", "Infra", "CBRNE", "Other"}
)
RESPONSES = frozenset(
    {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear"}
    | {"None"}
)
URGENCIES = frozenset({"Immediate", "Expected", "Future", "Past", "Unknown"})

# Section 3.2.1: identifier and sender "MUST NOT include spaces, commas or restricted
# characters (< and &)", because references are comma- and space-separated triples.
_UNSAFE_ID = re.compile(r"[\s,<&]")
_CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
# Characters XML 1.0 cannot carry at all: escaping does not help, they must go.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class CapError(ValueError):
    """A CAP message that cannot be made or is not valid; str() says why."""


class CapNotSupportedError(CapError):
    """The alert is not a kind the centre publishes as a public warning."""


class CapValidationError(CapError):
    """The document is not a valid CAP 1.2 message."""


Reference = tuple[str, str, datetime | str]  # (sender, identifier, sent)


@dataclass(frozen=True, slots=True)
class CapArea:
    """Where the warning applies: the station (WGS 84) and its administrative place.

    polygon, if given, is a ring of (lat, lon) points and replaces the circle; it is
    closed automatically when its last point differs from its first.
    """

    name: str
    lat: float
    lon: float
    province: str = ""
    district: str = ""
    polygon: tuple[tuple[float, float], ...] | None = None
    radius_km: float = DEFAULT_RADIUS_KM

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CapError("area needs a name")
        _check_point(self.lat, self.lon)
        if not (math.isfinite(self.radius_km) and self.radius_km > 0):
            raise CapError(f"area radius must be a positive number of km, not {self.radius_km}")
        if self.polygon is not None:
            for lat, lon in self.polygon:
                _check_point(lat, lon)
            if len(set(self.polygon)) < 3:
                raise CapError("an area polygon needs at least three distinct points")

    @property
    def description(self) -> str:
        return ", ".join(part.strip() for part in (self.name, self.district, self.province) if part)

    def circle_text(self) -> str:
        # "lat,lon radius" with the radius in km (CAP 1.2 section 3.2.4).
        return f"{_coord(self.lat)},{_coord(self.lon)} {_coord(self.radius_km)}"

    def polygon_text(self) -> str | None:
        if self.polygon is None:
            return None
        ring = list(self.polygon)
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        return " ".join(f"{_coord(lat)},{_coord(lon)}" for lat, lon in ring)


def _check_point(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapError(f"({lat}, {lon}) is not a WGS 84 latitude, longitude")


def _coord(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


# --- wording (cap_text.yaml) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelText:
    name: Mapping[str, str]
    response: tuple[str, ...]
    urgency: str
    instruction: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class KindText:
    key: str
    rule_prefix: str
    category: tuple[str, ...]
    expires_after: timedelta
    decimals: int
    unit: str
    event: Mapping[str, str]
    parameters: Mapping[str, str]
    templates: Mapping[str, Mapping[str, str]]  # headline, headline_no_value, reading, …
    levels: Mapping[str, LevelText]
    default: LevelText
    cancel: Mapping[str, Mapping[str, str]]

    def level(self, key: str | None) -> LevelText:
        return self.levels.get(key or "", self.default)


@dataclass(frozen=True, slots=True)
class CapTexts:
    languages: Mapping[str, str]
    time_format: Mapping[str, str]
    disclaimer: Mapping[str, str]
    kinds: tuple[KindText, ...]


def _pick(words: Sequence[str], allowed: frozenset[str], what: str) -> tuple[str, ...]:
    wrong = [w for w in words if w not in allowed]
    if wrong or not words:
        raise CapError(f"cap_text.yaml: {what} {wrong or '(none)'} not in {sorted(allowed)}")
    return tuple(words)


def _bilingual(doc: Any, where: str) -> Mapping[str, str]:
    # An unquoted comma in a YAML flow mapping silently splits a phrase into two keys.
    if not isinstance(doc, Mapping) or not all(
        isinstance(doc.get(lang), str) and doc[lang].strip() for lang in LANGS
    ):
        raise CapError(f"cap_text.yaml: {where} needs non-empty text for {', '.join(LANGS)}")
    return {lang: doc[lang] for lang in LANGS}


def _level_text(doc: Mapping[str, Any], where: str) -> LevelText:
    return LevelText(
        name=_bilingual(doc["name"], f"{where}.name"),
        response=_pick(doc["response"], RESPONSES, f"{where} response"),
        urgency=_pick([doc["urgency"]], URGENCIES, f"{where} urgency")[0],
        instruction=_bilingual(doc["instruction"], f"{where}.instruction"),
    )


def _kind_text(key: str, doc: Mapping[str, Any]) -> KindText:
    names = ("headline", "headline_no_value", "reading", "threshold")
    parameters = doc["parameters"]
    if set(parameters) != {"value", "threshold", "level"}:
        raise CapError(f"cap_text.yaml: {key}.parameters must name value, threshold, level")
    return KindText(
        key=key,
        rule_prefix=doc["rule_prefix"],
        category=_pick(doc["category"], CATEGORIES, f"{key} category"),
        expires_after=timedelta(hours=float(doc["expires_after_hours"])),
        decimals=int(doc["value_decimals"]),
        unit=str(doc["unit"]),
        event=_bilingual(doc["event"], f"{key}.event"),
        parameters=parameters,
        templates={name: _bilingual(doc[name], f"{key}.{name}") for name in names},
        levels={k: _level_text(v, f"{key}.{k}") for k, v in doc["levels"].items()},
        default=_level_text(doc["default"], f"{key}.default"),
        cancel={k: _bilingual(v, f"{key}.cancel.{k}") for k, v in doc["cancel"].items()},
    )


def parse_texts(doc: Mapping[str, Any]) -> CapTexts:
    return CapTexts(
        languages=_bilingual(doc["languages"], "languages"),
        time_format=_bilingual(doc["time_format"], "time_format"),
        disclaimer=_bilingual(doc["disclaimer"], "disclaimer"),
        kinds=tuple(_kind_text(key, kind) for key, kind in doc["kinds"].items()),
    )


@cache
def texts() -> CapTexts:
    """cap_text.yaml, read and checked once per process."""
    return parse_texts(load_data(TEXT_FILE))


def kind_of(alert: Mapping[str, Any]) -> KindText | None:
    rule = str(alert.get("rule", ""))
    return next((k for k in texts().kinds if rule.startswith(k.rule_prefix)), None)


def cap_supported(alert: Mapping[str, Any]) -> bool:
    """Flood, salinity and air quality alerts only; security alerts never go public."""
    return alert.get("domain") == Domain.ENVIRONMENT and kind_of(alert) is not None


# --- identity and times --------------------------------------------------------------


def cap_time(moment: datetime) -> str:
    """CAP dateTime: local Vietnam time with its offset, whole seconds (e.g. +07:00)."""
    if moment.tzinfo is None:
        raise CapError(f"time {moment.isoformat()} has no time zone")
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def _version_time(alert: Mapping[str, Any]) -> datetime:
    updated: datetime = alert["updated_at"]
    resolved: datetime | None = alert.get("resolved_at")
    if alert["status"] == AlertStatus.RESOLVED and resolved is not None:
        return max(updated, resolved)
    return updated


def _identifier(alert_id: Any, version: datetime) -> str:
    if version.tzinfo is None:
        raise CapError(f"time {version.isoformat()} has no time zone")
    utc = version.astimezone(UTC)
    stamp = utc.strftime("%Y%m%dT%H%M%S")
    if utc.microsecond:
        stamp += f".{utc.microsecond:06d}"
    return f"{alert_id}.{stamp}Z"


def message_reference(alert: Mapping[str, Any], *, sender: str) -> tuple[str, str, str]:
    """(sender, identifier, sent) of the message `build_cap` makes for this alert version:
    what the caller keeps to pass as `previous` for the next one."""
    version = _version_time(alert)
    return sender, _identifier(alert["id"], version), cap_time(version)


def _opening_reference(alert: Mapping[str, Any], sender: str) -> tuple[str, str, str]:
    started: datetime = alert["started_at"]
    return sender, _identifier(alert["id"], started), cap_time(started)


def _reference_text(ref: Reference) -> str:
    sender, identifier, sent = ref
    for part in (sender, identifier):
        if not part or _UNSAFE_ID.search(part):
            raise CapError(f"reference part {part!r} is empty or has a space, comma, < or &")
    sent_text = cap_time(sent) if isinstance(sent, datetime) else sent
    if not _CAP_TIME.match(sent_text):
        raise CapError(f"reference time {sent_text!r} is not like 2026-11-20T10:00:00+07:00")
    return f"{sender},{identifier},{sent_text}"


def _message_type(
    alert: Mapping[str, Any], own: str, previous: Sequence[Reference], sender: str
) -> tuple[str, list[Reference]]:
    # A re-export of a message that is itself in `previous` must not reference itself.
    refs: list[Reference] = [ref for ref in previous if ref[1] != own]
    if alert["status"] != AlertStatus.RESOLVED:
        return ("Update" if refs else "Alert"), refs
    if not refs:
        opening = _opening_reference(alert, sender)
        refs = [opening] if opening[1] != own else []
    return "Cancel", refs


# --- text ----------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number_text(number: float, decimals: int, lang: str) -> str:
    text = f"{number:.{decimals}f}"
    return text.replace(".", ",") if lang == "vi" else text  # Vietnamese decimal comma


def _level_key(values: Mapping[str, Any]) -> str | None:
    key = values.get("level", values.get("to_level"))
    return key if isinstance(key, str) else None


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one message says, independent of language."""

    kind: KindText
    level: LevelText
    value: float | None
    threshold: float | None
    at: datetime  # when the measurement was taken (the version time)
    cancel: bool


def _facts(alert: Mapping[str, Any], kind: KindText) -> _Facts:
    values: Mapping[str, Any] = alert.get("alert_values") or {}
    return _Facts(
        kind=kind,
        level=kind.level(_level_key(values)),
        value=_as_number(values.get("value")),
        threshold=_as_number(values.get("threshold")),
        at=_version_time(alert),
        cancel=alert["status"] == AlertStatus.RESOLVED,
    )


def _fields(facts: _Facts, area: CapArea, lang: str) -> dict[str, str]:
    kind = facts.kind

    def number(value: float | None) -> str:
        return "" if value is None else _number_text(value, kind.decimals, lang)

    return {
        "station": area.name,
        "place": area.description,
        "level": facts.level.name[lang],
        "value": number(facts.value),
        "threshold": number(facts.threshold),
        "unit": kind.unit,
        "time": facts.at.astimezone(LOCAL_TZ).strftime(texts().time_format[lang]),
    }


def _fill(template: str, fields: Mapping[str, str]) -> str:
    # Values are substituted once: braces inside a station name are not re-read.
    return " ".join(template.format_map(fields).split())


def _headline(facts: _Facts, fields: Mapping[str, str], lang: str) -> str:
    if facts.cancel:
        template = facts.kind.cancel["headline"][lang]
    else:
        name = "headline" if facts.value is not None else "headline_no_value"
        template = facts.kind.templates[name][lang]
    text = _fill(template, fields)
    return text if len(text) <= HEADLINE_MAX else text[: HEADLINE_MAX - 1] + "…"


def _description(
    alert: Mapping[str, Any], facts: _Facts, fields: Mapping[str, str], lang: str
) -> str:
    kind = facts.kind
    head = [_fill(kind.cancel["description"][lang], fields)] if facts.cancel else []
    # The alert's own words are text, never templates: braces in them stay braces.
    own = (str(alert.get(f"{name}_{lang}") or "").strip() for name in ("title", "summary"))
    measured = []
    if facts.value is not None:
        measured.append(_fill(kind.templates["reading"][lang], fields))
    if facts.threshold is not None and not facts.cancel:
        measured.append(_fill(kind.templates["threshold"][lang], fields))
    lines = [*head, *dict.fromkeys(line for line in own if line), *measured]
    return "\n".join([*lines, texts().disclaimer[lang]])


def _instruction(facts: _Facts, lang: str) -> str:
    if facts.cancel:
        return facts.kind.cancel["instruction"][lang]
    return facts.level.instruction[lang]


# --- XML -----------------------------------------------------------------------------


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _add(parent: ET.Element, tag: str, text: str | None) -> ET.Element | None:
    if text is None:
        return None
    child = ET.SubElement(parent, _q(tag))
    child.text = _clean(text)
    return child


def _add_pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    pair = ET.SubElement(parent, _q(tag))
    _add(pair, "valueName", name)
    _add(pair, "value", value)


def _parameters(alert: Mapping[str, Any], facts: _Facts, lang: str) -> list[tuple[str, str]]:
    kind = facts.kind
    labels: Mapping[str, Any] = alert.get("labels") or {}
    station = labels.get("device_id") or labels.get("station")
    # Machine-read values: a decimal point in every language.
    pairs = [("stationId", str(station))] if station else []
    if facts.value is not None:
        pairs.append((kind.parameters["value"], _number_text(facts.value, kind.decimals, "en")))
    if facts.threshold is not None:
        threshold = _number_text(facts.threshold, kind.decimals, "en")
        pairs.append((kind.parameters["threshold"], threshold))
    if not facts.cancel:
        pairs.append((kind.parameters["level"], facts.level.name[lang]))
    return pairs


def _add_area(info: ET.Element, area: CapArea) -> None:
    element = ET.SubElement(info, _q("area"))
    _add(element, "areaDesc", area.description)
    polygon = area.polygon_text()
    if polygon is not None:
        _add(element, "polygon", polygon)
    else:
        _add(element, "circle", area.circle_text())


@dataclass(frozen=True, slots=True)
class _Extras:
    sender_name: str | None
    web: str | None
    contact: str | None


def _severity(alert: Mapping[str, Any], facts: _Facts) -> str:
    # An all-clear announces no hazard: "Minor" with urgency "Past", as warning services
    # commonly send their cancellations, not the severity of the condition that ended.
    return "Minor" if facts.cancel else Severity(int(alert["severity"])).cap_severity


def _add_info(
    root: ET.Element,
    alert: Mapping[str, Any],
    facts: _Facts,
    area: CapArea,
    lang: str,
    extras: _Extras,
) -> None:
    kind, fields = facts.kind, _fields(facts, area, lang)
    info = ET.SubElement(root, _q("info"))
    _add(info, "language", texts().languages[lang])
    for category in kind.category:
        _add(info, "category", category)
    _add(info, "event", kind.event[lang])
    for response in ("AllClear",) if facts.cancel else facts.level.response:
        _add(info, "responseType", response)
    _add(info, "urgency", "Past" if facts.cancel else facts.level.urgency)
    _add(info, "severity", _severity(alert, facts))
    _add(info, "certainty", "Observed")  # measured at a station, not forecast
    _add(info, "effective", cap_time(facts.at))
    _add(info, "expires", cap_time(facts.at + kind.expires_after))
    _add(info, "senderName", extras.sender_name)
    _add(info, "headline", _headline(facts, fields, lang))
    _add(info, "description", _description(alert, facts, fields, lang))
    _add(info, "instruction", _instruction(facts, lang))
    _add(info, "web", extras.web)
    _add(info, "contact", extras.contact)
    for name, value in _parameters(alert, facts, lang):
        _add_pair(info, "parameter", name, value)
    _add_area(info, area)


def _check_header(
    sender: str, status: str, scope: str, restriction: str | None, addresses: str | None
) -> None:
    if not sender or _UNSAFE_ID.search(sender):
        raise CapError(f"sender {sender!r} is empty or has a space, comma, < or &")
    if status not in STATUSES:
        raise CapError(f"status {status!r} is not one of {sorted(STATUSES)}")
    if scope not in SCOPES:
        raise CapError(f"scope {scope!r} is not one of {sorted(SCOPES)}")
    if scope == "Restricted" and not restriction:
        raise CapError("scope Restricted needs a restriction text")
    if scope == "Private" and not addresses:
        raise CapError("scope Private needs addresses")


def build_cap(
    alert: Mapping[str, Any],
    area: CapArea,
    *,
    sender: str,
    status: str = "Actual",
    scope: str = "Public",
    previous: Sequence[Reference] = (),
    sender_name: str | None = None,
    web: str | None = None,
    contact: str | None = None,
    restriction: str | None = None,
    addresses: str | None = None,
) -> bytes:
    """The CAP 1.2 message (UTF-8 XML) for this version of an environment alert.

    previous: (sender, identifier, sent) of the messages already issued for this
    episode, oldest first (see `message_reference`). Raises CapNotSupportedError for an
    alert that is not a public warning kind, CapError for bad arguments.
    """
    kind = kind_of(alert)
    if not cap_supported(alert) or kind is None:
        raise CapNotSupportedError(
            f"alert {alert.get('id')} ({alert.get('domain')}, rule {alert.get('rule')!r}) is"
            " not a flood, salinity or air quality alert: it is not published as CAP"
        )
    _check_header(sender, status, scope, restriction, addresses)
    facts = _facts(alert, kind)
    own = _identifier(alert["id"], facts.at)
    msg_type, refs = _message_type(alert, own, previous, sender)

    root = ET.Element(_q("alert"))
    _add(root, "identifier", own)
    _add(root, "sender", sender)
    _add(root, "sent", cap_time(facts.at))
    _add(root, "status", status)
    _add(root, "msgType", msg_type)
    _add(root, "scope", scope)
    _add(root, "restriction", restriction if scope == "Restricted" else None)
    _add(root, "addresses", addresses if scope == "Private" else None)
    if refs:
        _add(root, "references", " ".join(_reference_text(ref) for ref in refs))
    _add(root, "incidents", str(alert["id"]))  # every message of one episode
    extras = _Extras(sender_name, web, contact)
    for lang in LANGS:
        _add_info(root, alert, facts, area, lang, extras)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


# --- validation ----------------------------------------------------------------------


@cache
def _schema() -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(XSD_FILE)


def _spec_errors(root: Any) -> list[str]:
    """Section 3 rules the schema does not express."""
    errors = []
    for tag in ("identifier", "sender"):
        text = root.findtext(_q(tag)) or ""
        if _UNSAFE_ID.search(text):
            errors.append(f"<{tag}> must not contain spaces, commas, < or &")
    if root.findtext(_q("msgType")) in ("Update", "Cancel") and not root.findtext(_q("references")):
        errors.append("an Update or Cancel message needs <references>")
    return errors


def validate_cap(xml: bytes) -> None:
    """Raise CapValidationError unless `xml` is a valid CAP 1.2 message."""
    try:
        # Data only: no file or network access, no entity declarations.
        resource = xmlschema.XMLResource(xml, allow="none", defuse="always")
        errors = list(_schema().iter_errors(resource))
    except (xmlschema.XMLResourceError, ET.ParseError) as error:
        raise CapValidationError(f"CAP document is not readable XML: {error}") from error
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CapValidationError(
            f"CAP document does not follow the CAP 1.2 schema at {first.path}: {first.reason}{more}"
        )
    problems = _spec_errors(resource.root)
    if problems:
        raise CapValidationError("CAP document breaks CAP 1.2 section 3: " + "; ".join(problems))
