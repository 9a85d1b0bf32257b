"""Public warnings by hand (roles admin and operator): list the issued CAP messages,
issue a warning, update or cancel it with a recorded reason, cancel a warning the
alerts made, and send a Test message. What the public sees is api/public/warnings_feed.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_roles
from api.deps import Conn, SettingsDep
from api.errors import not_found, problem, responses
from api.inputs import Text
from config.settings import Settings
from processors.alerts.exports.cap import CapError
from processors.alerts.public import issuer, signing
from processors.alerts.public.compose import ManualWarning
from processors.alerts.public.message import Area
from store import public_warnings as store
from store.users import Role, User

router = APIRouter(prefix="/api/v1/warnings", tags=["public warnings"])

Operator = Annotated[User, Depends(require_roles(Role.ADMIN, Role.OPERATOR))]
INCIDENT = r"^[A-Za-z0-9._:-]{1,128}$"
Incident = Annotated[str, FastPath(pattern=INCIDENT)]
Short = Annotated[Text, Field(min_length=3, max_length=160)]
Long = Annotated[Text, Field(min_length=3, max_length=2000)]
Reason = Annotated[Text, Field(min_length=3, max_length=500)]
Place = Annotated[Text, Field(max_length=100)]


class WarningIn(BaseModel):
    """A warning in the operator's words, Vietnamese and English, and where it applies
    (a circle: centre and radius)."""

    # Strict: `false` is not a longitude.
    model_config = ConfigDict(extra="forbid", strict=True)

    headline_vi: Short
    headline_en: Short
    description_vi: Long
    description_en: Long
    instruction_vi: Long
    instruction_en: Long
    area: Annotated[Text, Field(min_length=2, max_length=200)]
    lat: float = Field(ge=-89.9, le=89.9)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(default=10, gt=0, le=200)
    province: Place = ""
    district: Place = ""
    severity: Literal["Extreme", "Severe", "Moderate", "Minor"] = "Moderate"
    urgency: Literal["Immediate", "Expected", "Future"] | None = None
    expires_hours: float | None = Field(default=None, gt=0, le=24 * 14)
    reason: Reason


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: Reason


class MessageOut(BaseModel):
    identifier: str
    incident: str
    alert_id: Any = None
    msg_type: str
    status: str
    kind: str
    level: str | None = None
    severity: str
    province: str
    district: str
    headline_vi: str
    headline_en: str
    sent: datetime
    expires: datetime
    manual: bool
    reason: str | None = None
    issued_by: str | None = None
    cap_url: str


@cache
def _key(run_dir: Path, key: Path | None, cert: Path | None, sender: str) -> signing.SigningKey:
    key_path, cert_path = signing.key_paths(run_dir, key, cert)
    return signing.load_or_create(key_path, cert_path, common_name=sender)


def _signing(settings: Settings) -> signing.SigningKey:
    return _key(settings.run_dir, settings.cap_signing_key, settings.cap_signing_cert,
                settings.cap_sender)  # fmt: skip


def _out(row: dict[str, Any]) -> MessageOut:
    return MessageOut(**row, cap_url=store.CAP_PATH.format(identifier=row["identifier"]))


def _manual(body: WarningIn) -> ManualWarning:
    try:
        area = Area(body.area, body.lat, body.lon, body.radius_km)
    except CapError as error:
        raise problem(422, "public_warning_invalid", reason=str(error)[:200]) from error
    return ManualWarning(
        headline_vi=body.headline_vi, headline_en=body.headline_en,
        description_vi=body.description_vi, description_en=body.description_en,
        instruction_vi=body.instruction_vi, instruction_en=body.instruction_en,
        area=area, severity=body.severity, urgency=body.urgency,
        expires_hours=body.expires_hours,
    )  # fmt: skip


@contextmanager
def _refusals(incident: str | None) -> Iterator[None]:
    """The issuer's refusals of an update or a cancel as problems (404, 409, 422)."""
    try:
        yield
    except issuer.WarningNotFound as error:
        raise not_found("public_warning_not_found", identifier=incident) from error
    except issuer.WarningClosed as error:
        raise problem(409, "public_warning_closed", reason=str(error)[:200]) from error
    except CapError as error:
        raise problem(422, "public_warning_invalid", reason=str(error)[:200]) from error


def _issued(conn: Conn, issued: issuer.Issued) -> MessageOut:
    row = store.get_message(conn, issued.message.identifier)
    assert row is not None
    row.pop("cap_xml")
    row.pop("alert_version", None)
    return _out(row)


@router.get("", response_model=list[MessageOut], responses=responses(401, 403, 422, 429))
def list_warnings(
    conn: Conn,
    user: Operator,
    incident: Annotated[str | None, Query(pattern=INCIDENT)] = None,
    status_: Annotated[Literal["Actual", "Test"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[MessageOut]:
    """Issued CAP messages, newest first (with who issued them by hand and why)."""
    del user
    rows = store.list_messages(conn, limit=limit, incident=incident, status=status_)
    return [_out({k: v for k, v in r.items() if k != "alert_version"}) for r in rows]


@router.post(
    "",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 401, 403, 413, 422, 429),
)
def issue(body: WarningIn, conn: Conn, user: Operator, settings: SettingsDep) -> MessageOut:
    """Issue a public warning by hand (a new incident: CAP Alert)."""
    return _write(conn, settings, user, body, incident=None)


@router.post(
    "/{incident}/update",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def update(
    incident: Incident, body: WarningIn, conn: Conn, user: Operator, settings: SettingsDep
) -> MessageOut:
    """Update a warning issued by hand (CAP Update referencing its earlier messages)."""
    return _write(conn, settings, user, body, incident=incident)


def _write(
    conn: Conn, settings: Settings, user: User, body: WarningIn, incident: str | None
) -> MessageOut:
    key = _signing(settings)
    with conn.transaction(), _refusals(incident):
        issued = issuer.issue_manual(
            conn, _manual(body), province=body.province, district=body.district,
            reason=body.reason, user=user.name, now=datetime.now(UTC),
            sender=settings.cap_sender, key=key, incident=incident,
        )  # fmt: skip
        return _issued(conn, issued)


@router.post(
    "/{incident}/cancel",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def cancel(
    incident: Incident, body: CancelIn, conn: Conn, user: Operator, settings: SettingsDep
) -> MessageOut:
    """Cancel a warning (one issued by hand or made from an alert), with the reason. A
    warning made from an alert is not re-issued until its alert changes level."""
    key = _signing(settings)
    with conn.transaction(), _refusals(incident):
        issued = issuer.cancel_incident(
            conn, incident, reason=body.reason, user=user.name, now=datetime.now(UTC),
            sender=settings.cap_sender, key=key,
        )  # fmt: skip
        return _issued(conn, issued)


@router.post(
    "/test",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 429),
)
def test(conn: Conn, user: Operator, settings: SettingsDep) -> MessageOut:
    """Send a Test message (<status>Test</status>): it shows in the feed for an hour so
    aggregators can check the feed, and never counts as a warning."""
    key = _signing(settings)
    with conn.transaction():
        issued = issuer.issue_test(
            conn, user=user.name, now=datetime.now(UTC), sender=settings.cap_sender, key=key
        )
        return _issued(conn, issued)
