"""Issuing public warnings: decide (pure), compose, sign, check, store.

From alerts (the `public-warnings` job): an alert that reaches a public level of its
kind (policy.yaml) opens an incident with an Alert; a change of public level, or a
warning about to expire while its alert is still at a public level, is an Update; a drop
below the public levels or the alert's resolution is a Cancel. Update and Cancel
reference every earlier message of the incident. The job looks at alerts as they are
when it runs (every few seconds), so changes between two runs are issued as one message.

By hand (api/routers/warnings.py, `ioc warnings`): an operator's Alert, Update, Cancel
(of any incident, with a recorded reason), and Test messages.

Every message is checked against the CAP 1.2 schema before it is stored, signed.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from config.settings import Settings
from processors.alerts.exports.cap import CAP_NS, CapError, validate_cap
from processors.alerts.public import compose, signing
from processors.alerts.public.message import (
    EARTH_KM_PER_DEGREE,
    Area,
    Message,
    Reference,
    to_xml,
)
from processors.alerts.public.policy import Policy, Public, classify, policy
from store import public_warnings as store

log = logging.getLogger(__name__)

# A warning expired this long ago is not renewed or cancelled any more: its alert is gone
# (pruned) or the job was down for a week, and a Cancel of it would tell nobody anything.
LAPSED_AFTER = timedelta(days=7)


def signing_key(settings: Settings) -> signing.SigningKey:
    key, cert = signing.key_paths(
        settings.run_dir, settings.cap_signing_key, settings.cap_signing_cert
    )
    return signing.load_or_create(key, cert, common_name=settings.cap_sender)


# --- deciding ------------------------------------------------------------------------------


def decide(
    alert: Mapping[str, Any],
    last: Mapping[str, Any] | None,
    latest: Mapping[str, Any] | None,
    now: datetime,
    rules: Policy,
) -> tuple[str, Public | None] | None:
    """("Alert"|"Update"|"Cancel", public level) for this alert, or None: nothing to send.

    last: the newest message of the alert's open incident (None: no open incident).
    latest: the newest message ever made from this alert (an operator's Cancel of it
    keeps the job from re-opening the warning until its level changes)."""
    public = classify(alert, rules)
    if last is None:
        if public is None:
            return None
        stopped_by_hand = latest is not None and latest["manual"] and latest["msg_type"] == "Cancel"
        if stopped_by_hand and latest["level"] == public.level_key:
            return None
        return "Alert", public
    if public is None:
        return "Cancel", None
    found = rules.kind_of(alert)
    assert found is not None  # classify found it
    if last["level"] != public.level_key:
        return "Update", public
    if last["expires"] - now <= found[1].refresh_before:
        return "Update", public  # renew: the alert still holds
    return None


# --- storing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    message: Message
    xml: bytes


def _refs(rows: list[dict[str, Any]], sender: str) -> tuple[Reference, ...]:
    return tuple(Reference(sender, r["identifier"], r["sent"]) for r in rows)


def sign_and_store(
    conn: psycopg.Connection,
    message: Message,
    key: signing.SigningKey,
    row: Mapping[str, Any],
) -> Issued:
    """Sign, validate (never publish what others would reject), store in `conn`'s
    transaction."""
    xml = signing.sign(to_xml(message), key)
    validate_cap(xml)
    first = message.infos[0]
    store.insert_message(
        conn,
        {
            "identifier": message.identifier,
            "incident": message.incident,
            "msg_type": message.msg_type,
            "status": message.status,
            "severity": first.severity,
            "headline_vi": message.infos[0].headline,
            "headline_en": message.infos[-1].headline,
            "sent": message.sent,
            "expires": first.expires,
            "manual": False,
            **row,
            "cap_xml": xml.decode(),
        },
    )
    return Issued(message, xml)


def issue_from_alerts(
    conn: psycopg.Connection,
    now: datetime,
    *,
    sender: str,
    key: signing.SigningKey,
    rules: Policy | None = None,
) -> list[Issued]:
    """One pass of the job: every message the alerts call for now."""
    rules = rules or policy()
    lapsed = now - LAPSED_AFTER
    open_incidents = {row["alert_id"]: row for row in store.open_alert_incidents(conn, lapsed)}
    prefixes = [kind.rule_prefix for kind in rules.kinds.values()]
    alerts = store.candidate_alerts(conn, prefixes, list(open_incidents))
    latest = store.latest_by_alert(conn, [a["id"] for a in alerts])
    issued = []
    for alert in alerts:
        last = open_incidents.get(alert["id"])
        choice = decide(alert, last, latest.get(alert["id"]), now, rules)
        if choice is None:
            continue
        try:
            issued.append(_from_alert(conn, alert, last, choice[1], now, sender, key, rules))
        except CapError as error:  # one bad alert must not stop the others
            log.error("public warning for alert %s not issued: %s", alert["id"], error)
    return issued


def _from_alert(
    conn: psycopg.Connection,
    alert: Mapping[str, Any],
    last: Mapping[str, Any] | None,
    public: Public | None,
    now: datetime,
    sender: str,
    key: signing.SigningKey,
    rules: Policy,
) -> Issued:
    found = rules.kind_of(alert)
    place = compose.place_of(alert)
    if found is None or place is None:
        raise CapError("no kind or no place (station coordinates or commune centre)")
    earlier = store.incident_messages(conn, last["incident"]) if last else []
    issue = compose.Issue(
        sender=sender,
        sent=now,
        earlier=_refs(earlier, sender),
        incident=last["incident"] if last else None,
    )
    message = compose.from_alert(alert, place, found[0], public, issue, rules)
    row = {
        "alert_id": alert["id"],
        "kind": found[0],
        "level": public.level_key if public else (last["level"] if last else None),
        "province": place.province,
        "district": place.district,
        "alert_version": alert["updated_at"],
    }
    return sign_and_store(conn, message, key, row)


# --- by hand -------------------------------------------------------------------------------


class WarningNotFound(LookupError):
    pass


class WarningClosed(ValueError):
    """The incident is cancelled already, or is not one this action applies to."""


def issue_manual(
    conn: psycopg.Connection,
    warning: compose.ManualWarning,
    *,
    province: str,
    district: str,
    reason: str,
    user: str,
    now: datetime,
    sender: str,
    key: signing.SigningKey,
    incident: str | None = None,
    rules: Policy | None = None,
) -> Issued:
    """An operator's warning (incident None) or an Update of their own open warning."""
    rules = rules or policy()
    earlier: list[dict[str, Any]] = []
    if incident is not None:
        earlier = _open_incident(conn, incident)
        if not earlier[-1]["manual"] or earlier[0]["alert_id"] is not None:
            raise WarningClosed("only a warning issued by hand is updated by hand")
    issue = compose.Issue(sender, now, _refs(earlier, sender), incident)
    message = compose.manual(warning, issue, rules)
    row = {
        "kind": "manual",
        "level": None,
        "province": province,
        "district": district,
        "manual": True,
        "reason": reason,
        "issued_by": user,
    }
    return sign_and_store(conn, message, key, row)


def _open_incident(conn: psycopg.Connection, incident: str) -> list[dict[str, Any]]:
    earlier = store.incident_messages(conn, incident)
    if not earlier:
        raise WarningNotFound(incident)
    if earlier[-1]["msg_type"] == "Cancel":
        raise WarningClosed(f"incident {incident} is cancelled already")
    if earlier[-1]["status"] != "Actual":
        raise WarningClosed("a test message is not cancelled or updated")
    return earlier


def _area_of(xml: str) -> Area:
    """The area of an incident's last message (a Cancel covers the same place): its
    circle, else the circle around its polygon; CapError when it has neither (a message
    made elsewhere, e.g. with a geocode only)."""
    ns = {"cap": CAP_NS}
    area = ET.fromstring(xml).find("cap:info/cap:area", ns)
    if area is None:
        raise CapError("the incident's last message has no area to cancel over")
    desc = area.findtext("cap:areaDesc", "", ns) or "-"
    circle = _circle(area.findtext("cap:circle", "", ns))
    if circle is None:
        circle = _around(area.findtext("cap:polygon", "", ns))
    if circle is None:
        raise CapError("the incident's last message has no circle or polygon to cancel over")
    return Area(desc, *circle)


def _circle(text: str) -> tuple[float, float, float] | None:
    try:
        point, radius = text.split()
        lat, lon = point.split(",")
        return float(lat), float(lon), float(radius)
    except ValueError:
        return None


def _around(text: str) -> tuple[float, float, float] | None:
    """The centre of a polygon's points and the radius reaching the farthest (an
    equirectangular approximation, as Area.polygon draws circles)."""
    try:
        points = [(float(lat), float(lon)) for lat, lon in (p.split(",") for p in text.split())]
    except ValueError:
        return None
    if len(points) < 3:
        return None
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    squash = max(math.cos(math.radians(lat)), 0.01)
    reach = max(math.hypot(p[0] - lat, (p[1] - lon) * squash) for p in points)
    return lat, lon, min(max(reach * EARTH_KM_PER_DEGREE, 0.1), 500.0)


def cancel_incident(
    conn: psycopg.Connection,
    incident: str,
    *,
    reason: str,
    user: str,
    now: datetime,
    sender: str,
    key: signing.SigningKey,
    rules: Policy | None = None,
) -> Issued:
    """Cancel any open incident by hand (one made from an alert too), with the reason."""
    rules = rules or policy()
    earlier = _open_incident(conn, incident)
    last = earlier[-1]
    full = store.get_message(conn, last["identifier"])
    assert full is not None
    headline = {"vi": last["headline_vi"], "en": last["headline_en"]}
    issue = compose.Issue(sender, now, _refs(earlier, sender), incident)
    message = compose.manual_cancel(headline, _area_of(full["cap_xml"]), reason, issue, rules)
    row = {
        "alert_id": last["alert_id"],
        "kind": last["kind"],
        "level": last["level"],
        "province": last["province"],
        "district": last["district"],
        "manual": True,
        "reason": reason,
        "issued_by": user,
        "alert_version": last["alert_version"],
    }
    return sign_and_store(conn, message, key, row)


def issue_test(
    conn: psycopg.Connection,
    *,
    user: str,
    now: datetime,
    sender: str,
    key: signing.SigningKey,
    rules: Policy | None = None,
) -> Issued:
    rules = rules or policy()
    message = compose.test_message(compose.Issue(sender, now, status="Test"), rules)
    row = {"kind": "test", "manual": True, "reason": "test", "issued_by": user,
           "province": "", "district": ""}  # fmt: skip
    return sign_and_store(conn, message, key, row)
