"""One public CAP 1.2 message as data (`Message`), its XML, and its area.

The XML is built with xml.etree as processors/alerts/exports/cap.py builds the per-alert
export (every value escaped, XML-illegal characters dropped) and checked with its
`validate_cap` (the bundled OASIS schema plus the section 3 rules). Signing is
signing.py's: the signature goes last in <alert>, where the schema allows xmldsig.
"""

from __future__ import annotations

import math
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from processors.alerts.exports.cap import CAP_NS, HEADLINE_MAX, CapError, cap_time

# Section 3.2.1: no spaces, commas, < or & in identifiers and senders (references are
# comma- and space-separated triples).
_UNSAFE_ID = re.compile(r"[\s,<&]")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
EARTH_KM_PER_DEGREE = 111.32  # one degree of latitude (and of longitude at the equator)
CIRCLE_POINTS = 24


@dataclass(frozen=True, slots=True)
class Area:
    """Where a warning applies: a circle around a point, sent both as a polygon (what
    aggregators draw) and as the CAP circle."""

    description: str
    lat: float
    lon: float
    radius_km: float

    def __post_init__(self) -> None:
        ok = math.isfinite(self.lat) and math.isfinite(self.lon) and math.isfinite(self.radius_km)
        if not ok or not (-90 < self.lat < 90 and -180 <= self.lon <= 180):
            raise CapError(f"({self.lat}, {self.lon}) is not a WGS 84 latitude, longitude")
        if not 0 < self.radius_km <= 500:
            raise CapError(f"area radius {self.radius_km} km is not in (0, 500]")
        if not self.description.strip():
            raise CapError("an area needs a description")

    def polygon(self) -> list[tuple[float, float]]:
        """The circle as a closed ring of (lat, lon) points, counter-clockwise; an
        equirectangular approximation, good to well under 1 % at these radii."""
        dlat = self.radius_km / EARTH_KM_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(self.lat)), 0.01)
        ring = []
        for i in range(CIRCLE_POINTS):
            angle = 2 * math.pi * i / CIRCLE_POINTS
            lat = max(-90.0, min(90.0, self.lat + dlat * math.sin(angle)))
            lon = (self.lon + dlon * math.cos(angle) + 180) % 360 - 180
            ring.append((round(lat, 5), round(lon, 5)))
        return [*ring, ring[0]]

    def polygon_text(self) -> str:
        return " ".join(f"{_coord(lat)},{_coord(lon)}" for lat, lon in self.polygon())

    def circle_text(self) -> str:
        return f"{_coord(self.lat)},{_coord(self.lon)} {_coord(self.radius_km)}"


def _coord(value: float) -> str:
    return f"{value:.5f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class Info:
    """One <info> block: one language."""

    language: str
    category: tuple[str, ...]
    event: str
    response: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    effective: datetime
    expires: datetime
    sender_name: str
    headline: str
    description: str
    instruction: str
    area: Area
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime

    def text(self) -> str:
        for part in (self.sender, self.identifier):
            if not part or _UNSAFE_ID.search(part):
                raise CapError(f"reference part {part!r} is empty or has a space, comma, < or &")
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


@dataclass(frozen=True, slots=True)
class Message:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual | Test | Exercise
    msg_type: str  # Alert | Update | Cancel
    incident: str
    infos: tuple[Info, ...]
    references: tuple[Reference, ...] = field(default=())
    note: str | None = None

    def reference(self) -> Reference:
        return Reference(self.sender, self.identifier, self.sent)


def new_identifier(sent: datetime) -> str:
    """Unique, readable, and safe in a reference triple (no space, comma, < or &)."""
    stamp = sent.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"vn-ioc-{stamp}-{secrets.token_hex(4)}"


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _add(parent: ET.Element, tag: str, text: str | None) -> None:
    if text is not None:
        ET.SubElement(parent, _q(tag)).text = _clean(text)


def _headline(text: str) -> str:
    # CAP 1.2 section 3.2.2: a headline SHOULD stay under 160 characters.
    return text if len(text) <= HEADLINE_MAX else text[: HEADLINE_MAX - 1] + "…"


def _add_info(root: ET.Element, info: Info) -> None:
    element = ET.SubElement(root, _q("info"))
    _add(element, "language", info.language)
    for category in info.category:
        _add(element, "category", category)
    _add(element, "event", info.event)
    for response in info.response:
        _add(element, "responseType", response)
    _add(element, "urgency", info.urgency)
    _add(element, "severity", info.severity)
    _add(element, "certainty", info.certainty)
    _add(element, "effective", cap_time(info.effective))
    _add(element, "expires", cap_time(info.expires))
    _add(element, "senderName", info.sender_name)
    _add(element, "headline", _headline(info.headline))
    _add(element, "description", info.description)
    _add(element, "instruction", info.instruction)
    for name, value in info.parameters:
        pair = ET.SubElement(element, _q("parameter"))
        _add(pair, "valueName", name)
        _add(pair, "value", value)
    area = ET.SubElement(element, _q("area"))
    _add(area, "areaDesc", info.area.description)
    _add(area, "polygon", info.area.polygon_text())
    _add(area, "circle", info.area.circle_text())


def to_xml(message: Message) -> bytes:
    """The unsigned CAP document (UTF-8)."""
    for part in (message.identifier, message.sender):
        if not part or _UNSAFE_ID.search(part):
            raise CapError(f"{part!r} is empty or has a space, comma, < or &")
    root = ET.Element(_q("alert"))
    _add(root, "identifier", message.identifier)
    _add(root, "sender", message.sender)
    _add(root, "sent", cap_time(message.sent))
    _add(root, "status", message.status)
    _add(root, "msgType", message.msg_type)
    _add(root, "scope", "Public")
    _add(root, "note", message.note)
    if message.references:
        _add(root, "references", " ".join(ref.text() for ref in message.references))
    _add(root, "incidents", message.incident)
    for info in message.infos:
        _add_info(root, info)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def references_of(earlier: Sequence[Message | Reference]) -> tuple[Reference, ...]:
    return tuple(m.reference() if isinstance(m, Message) else m for m in earlier)
