"""Exports: CAP 1.2 public warnings for environment alerts, STIX 2.1 bundles for the
CSIRT's partners (the national CERT, other provinces' SOCs)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.auth import may_see, require_roles
from api.deps import Conn, SettingsDep
from api.errors import not_found, problem, responses
from api.inputs import Instant
from api.routers.alerts import VisibleAlert
from processors.alerts.exports.cap import (
    CapArea,
    CapError,
    CapNotSupportedError,
    build_cap,
    cap_supported,
    message_reference,
    validate_cap,
)
from processors.alerts.exports.stix import (
    StixExportError,
    alert_bundle,
    range_export,
    soc_identity,
)
from store.alert_reads import alerts_active_between, get_alert, version_times
from store.devices import get_device
from store.users import Role, User

router = APIRouter(prefix="/api/v1", tags=["exports"])

CAP_MEDIA_TYPE = "application/cap+xml"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
# Used until Settings carries the centre's own identity (cap_sender, soc_name, province).
# A range export is for a report or a catch-up, not a data dump.
MAX_STIX_SPAN = timedelta(days=31)
MAX_STIX_ALERTS = 5000

CsirtUser = Annotated[User, Depends(require_roles(Role.CSIRT, Role.ADMIN))]


def _earlier_messages(conn: Conn, alert: dict[str, Any], sender: str) -> list[tuple[str, str, str]]:
    """References of the CAP messages this alert's earlier versions made: each fired,
    escalated or de-escalated step was one version (at its event time)."""
    current = message_reference(alert, sender=sender)
    earlier = []
    for at in version_times(conn, alert["id"]):
        reference = message_reference(
            {**alert, "updated_at": at, "status": "firing"}, sender=sender
        )
        if reference != current and reference not in earlier:
            earlier.append(reference)
    return earlier


def _area(conn: Conn, alert: dict[str, Any]) -> CapArea:
    labels = alert["labels"] or {}
    device = get_device(conn, labels["device_id"]) if labels.get("device_id") else None
    if device is None:
        raise problem(422, "cap_no_station")
    return CapArea(
        name=device["name"] or device["id"],
        lat=device["lat"],
        lon=device["lon"],
        province=device["province"] or "",
        district=device["district"] or "",
    )


@router.get(
    "/alerts/{alert_id}/cap",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, **responses(401, 404, 422, 429)},
)
def cap(alert: VisibleAlert, conn: Conn, settings: SettingsDep) -> Response:
    """The alert as a CAP 1.2 message (flood, salinity and air quality alerts only)."""
    if not cap_supported(alert):
        raise problem(
            422,
            "cap_not_supported",
            alert_id=alert["id"],
            domain=alert["domain"],
            rule=alert["rule"],
        )
    try:
        sender = settings.cap_sender
        previous = _earlier_messages(conn, alert, sender)
        xml = build_cap(alert, _area(conn, alert), sender=sender, previous=previous)
        # Never hand out a warning that other systems would reject.
        validate_cap(xml)
    except CapNotSupportedError as error:
        raise problem(
            422,
            "cap_not_supported",
            alert_id=alert["id"],
            domain=alert["domain"],
            rule=alert["rule"],
        ) from error
    except CapError as error:
        raise problem(422, "cap_failed", reason=str(error)[:200]) from error
    return Response(content=xml, media_type=CAP_MEDIA_TYPE)


@router.get(
    "/exports/stix",
    response_class=Response,
    responses={200: {"content": {STIX_MEDIA_TYPE: {}}}, **responses(401, 403, 404, 422, 429)},
)
def stix(
    conn: Conn,
    settings: SettingsDep,
    user: CsirtUser,
    alert_id: uuid.UUID | None = None,
    start: Instant | None = None,
    end: Instant | None = None,
    tlp: Annotated[Literal["clear", "white", "green", "amber", "red"], Query()] = "amber",
) -> Response:
    """A STIX 2.1 bundle of one security alert (`alert_id`), or of the security alerts
    open at some moment between `start` and `end` (those without an observable are left
    out; the X-IOC-Skipped header counts them)."""
    identity = soc_identity(
        settings.soc_name,
        settings.soc_province,
    )
    headers: dict[str, str] = {}
    if alert_id is not None:
        if start is not None or end is not None:
            raise problem(422, "stix_choose_one")
        alert = get_alert(conn, alert_id)
        # A plate alert is hidden from the CSIRT: 404 as for a missing one, not a 422
        # that would say what it is.
        if alert is None or not may_see(user.role, alert["domain"]):
            raise not_found("alert_not_found", alert_id=alert_id)
        try:
            bundle = alert_bundle(alert, identity=identity, tlp=tlp)
        except StixExportError as error:
            raise problem(422, "stix_failed", reason=str(error)[:200]) from error
    else:
        start, end = _window(start, end)
        alerts = alerts_active_between(conn, ["security"], start, end, MAX_STIX_ALERTS + 1)
        if len(alerts) > MAX_STIX_ALERTS:
            raise problem(422, "stix_too_many", limit=MAX_STIX_ALERTS)
        export = range_export(alerts, identity=identity, tlp=tlp)
        bundle = export.bundle
        headers["X-IOC-Skipped"] = str(len(export.skipped))
    return Response(content=bundle.serialize(), media_type=STIX_MEDIA_TYPE, headers=headers)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start is None or end is None:
        raise problem(422, "stix_window_required")
    if end <= start:
        raise problem(422, "end_before_start")
    if end - start > MAX_STIX_SPAN:
        raise problem(422, "stix_window_too_long", days=MAX_STIX_SPAN.days)
    return start, end
