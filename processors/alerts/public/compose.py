"""Public CAP messages as data, from an alert (policy.yaml's texts), from an operator's
words, or as a Test. Pure: the caller gives the time, identifiers and earlier messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from processors.alerts.exports.cap import CapError
from processors.alerts.public.message import Area, Info, Message, Reference, new_identifier
from processors.alerts.public.policy import (
    LANGS,
    CancelText,
    Kind,
    Policy,
    Public,
    Text,
    fields,
    fill,
    level_key,
    sentences,
)

CANCEL_KEEP = timedelta(hours=24)  # a Cancel stays in the feed this long


@dataclass(frozen=True, slots=True)
class Place:
    """Where an alert is: a station (device) or a commune centre, and its names."""

    name: str
    lat: float
    lon: float
    province: str = ""
    district: str = ""

    @property
    def description(self) -> str:
        parts = [p.strip() for p in (self.name, self.district, self.province) if p and p.strip()]
        return ", ".join(dict.fromkeys(parts))


def place_of(alert: Mapping[str, Any]) -> Place | None:
    """The alert's station (joined device columns `device_*`), else the commune centre an
    epidemic alert carries in its values; None when neither exists."""
    labels: Mapping[str, Any] = alert.get("labels") or {}
    values: Mapping[str, Any] = alert.get("alert_values") or {}
    province = str(alert.get("device_province") or labels.get("province") or "")
    district = str(alert.get("device_district") or labels.get("district") or "")
    if alert.get("device_lat") is not None and alert.get("device_lon") is not None:
        name = alert.get("device_name") or labels.get("device_id") or ""
        return Place(str(name), float(alert["device_lat"]), float(alert["device_lon"]),
                     province, district)  # fmt: skip
    lat, lon = values.get("lat"), values.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        name = labels.get("commune") or district or province
        return Place(str(name), float(lat), float(lon), province, district)
    return None


@dataclass(frozen=True, slots=True)
class Issue:
    """What the caller needs besides the content: who sends, when, which earlier
    messages of the incident there are (oldest first)."""

    sender: str
    sent: datetime
    earlier: Sequence[Reference] = ()
    incident: str | None = None  # None: a new incident (its first message's identifier)
    status: str = "Actual"
    note: str | None = None


def _message(issue: Issue, msg_type: str, infos: tuple[Info, ...]) -> Message:
    identifier = new_identifier(issue.sent)
    return Message(
        identifier=identifier,
        sender=issue.sender,
        sent=issue.sent,
        status=issue.status,
        msg_type=msg_type,
        incident=issue.incident or identifier,
        infos=infos,
        references=tuple(issue.earlier),
        note=issue.note,
    )


def _parameters(
    alert: Mapping[str, Any], kind: Kind, level: str | None
) -> tuple[tuple[str, str], ...]:
    labels: Mapping[str, Any] = alert.get("labels") or {}
    values: Mapping[str, Any] = alert.get("alert_values") or {}
    pairs = [("ruleId", str(alert.get("rule", "")))]
    for name in ("device_id", "species", "disease", "commune"):
        if labels.get(name):
            pairs.append((name, str(labels[name])))
    if level:
        pairs.append(("level", level))
    value = values.get("value", values.get("count", values.get("cases")))
    if isinstance(value, int | float) and not isinstance(value, bool):
        pairs.append(("value", f"{float(value):.{kind.value_decimals}f}"))
    return tuple(pairs)


def from_alert(
    alert: Mapping[str, Any],
    place: Place,
    kind_key: str,
    public: Public | None,
    issue: Issue,
    rules: Policy,
) -> Message:
    """The Alert (no earlier messages), Update or Cancel (public None) for an alert."""
    kind = rules.kinds[kind_key]
    cancel = public is None
    level = None if cancel else kind.levels[public.level_key]  # type: ignore[union-attr]
    measured: datetime = alert.get("updated_at") or issue.sent
    area = Area(place.description, place.lat, place.lon, kind.radius_km)
    infos = []
    for lang in LANGS:
        values = fields(
            alert, kind, lang, place=place.description, at=measured,
            level_name=level.name.of(lang)[0] if level else None, rules=rules,
        )  # fmt: skip
        if level is None:
            headline = fill(kind.cancel.headline, lang, values)
            description = fill(kind.cancel.description, lang, values)
            instruction = fill(kind.cancel.instruction, lang, values)
        else:
            headline = fill(level.headline, lang, values)
            description = fill(kind.description, lang, values)
            instruction = fill(level.instruction, lang, values)
        infos.append(
            Info(
                language=rules.languages[lang],  # type: ignore[index]
                category=tuple(kind.category),
                event=fill(kind.event, lang, values),
                response=("AllClear",) if level is None else tuple(level.response),
                urgency="Past" if level is None else level.urgency,
                # An all-clear announces no hazard.
                severity="Minor" if level is None else level.severity,
                certainty=kind.certainty,
                effective=issue.sent,
                expires=issue.sent + (CANCEL_KEEP if cancel else kind.expires_after),
                sender_name=fill(rules.sender_name, lang, {}),
                headline=headline,
                description=sentences([description, fill(rules.disclaimer, lang, {})]),
                instruction=instruction,
                area=area,
                parameters=_parameters(alert, kind, None if cancel else level_key(alert)),
            )
        )
    msg_type = "Cancel" if cancel else ("Update" if issue.earlier else "Alert")
    return _message(issue, msg_type, tuple(infos))


# --- by hand ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManualWarning:
    """An operator's warning: their words (both languages), where, how severe."""

    headline_vi: str
    headline_en: str
    description_vi: str
    description_en: str
    instruction_vi: str
    instruction_en: str
    area: Area
    severity: str = "Moderate"
    urgency: str | None = None
    expires_hours: float | None = None


def _bilingual(vi: str, en: str) -> Text:
    return Text(vi=[vi.replace("{", "{{").replace("}", "}}")],
                en=[en.replace("{", "{{").replace("}", "}}")])  # fmt: skip


def manual(warning: ManualWarning, issue: Issue, rules: Policy) -> Message:
    """An operator's Alert (no earlier messages) or Update."""
    spec = rules.manual
    hours = warning.expires_hours or spec.expires_after_hours
    if not 0 < hours <= 24 * 14:
        raise CapError("a warning by hand expires within 14 days")
    infos = tuple(
        Info(
            language=rules.languages[lang],  # type: ignore[index]
            category=tuple(spec.category),
            event=spec.event.of(lang)[0],
            response=tuple(spec.response),
            urgency=warning.urgency or spec.urgency,
            severity=warning.severity,
            certainty=spec.certainty,
            effective=issue.sent,
            expires=issue.sent + timedelta(hours=hours),
            sender_name=fill(rules.sender_name, lang, {}),
            headline=getattr(warning, f"headline_{lang}"),
            description=getattr(warning, f"description_{lang}"),
            instruction=getattr(warning, f"instruction_{lang}"),
            area=warning.area,
        )
        for lang in LANGS
    )
    return _message(issue, "Update" if issue.earlier else "Alert", infos)


def manual_cancel(
    headline: Mapping[str, str], area: Area, reason: str, issue: Issue, rules: Policy,
    cancel: CancelText | None = None,
) -> Message:  # fmt: skip
    """A Cancel by hand of any incident (one from an alert too), with the reason."""
    cancel = cancel or rules.manual.cancel
    infos = []
    for lang in LANGS:
        values = {"headline": headline[lang], "reason": reason, "place": area.description}
        infos.append(
            Info(
                language=rules.languages[lang],  # type: ignore[index]
                category=tuple(rules.manual.category),
                event=rules.manual.event.of(lang)[0],
                response=("AllClear",),
                urgency="Past",
                severity="Minor",
                certainty="Observed",
                effective=issue.sent,
                expires=issue.sent + CANCEL_KEEP,
                sender_name=fill(rules.sender_name, lang, {}),
                headline=fill(cancel.headline, lang, values),
                description=fill(cancel.description, lang, values),
                instruction=fill(cancel.instruction, lang, values),
                area=area,
            )
        )
    return _message(issue, "Cancel", tuple(infos))


def test_message(issue: Issue, rules: Policy) -> Message:
    """A <status>Test</status> message: aggregators check the feed with it; nobody acts."""
    if issue.status != "Test":
        raise CapError("a test message has status Test")
    spec = rules.test
    area = Area(spec.area.description, spec.area.lat, spec.area.lon, spec.area.radius_km)
    infos = tuple(
        Info(
            language=rules.languages[lang],  # type: ignore[index]
            category=("Other",),
            event=spec.event.of(lang)[0],
            response=("None",),
            urgency="Unknown",
            severity="Minor",
            certainty="Unknown",
            effective=issue.sent,
            expires=issue.sent + timedelta(hours=spec.expires_after_hours),
            sender_name=fill(rules.sender_name, lang, {}),
            headline=spec.headline.of(lang)[0],
            description=spec.description.of(lang)[0],
            instruction=spec.instruction.of(lang)[0],
            area=area,
        )
        for lang in LANGS
    )
    return _message(issue, "Alert", infos)
