"""Alerts: list, read with history, acknowledge, resolve, annotate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Body, Depends, Query, Request

from api.alert_reads import alert_history, get_alert, list_alerts
from api.auth import CurrentUser, forbid_action, may_act, may_see, visible_domains
from api.deps import Conn
from api.errors import not_found, problem
from api.schemas import AlertDetail, AlertOut, NoteIn, RequiredNoteIn
from events.alerts import Domain, Severity
from processors.alerts import lifecycle
from store.users import User

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

# Acknowledge and resolve take an optional {"note": …}; a bare POST is fine too.
OptionalNote = Annotated[NoteIn | None, Body()]
SeverityName = Literal["info", "low", "medium", "high", "critical"]


def _missing(alert_id: uuid.UUID) -> Exception:
    return not_found(f"cảnh báo {alert_id}", f"alert {alert_id}")


def visible_alert(alert_id: uuid.UUID, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    """The alert if the caller may see it; 404 otherwise, for missing and hidden alike."""
    row = get_alert(conn, alert_id)
    if row is None or not may_see(user.role, row["domain"]):
        raise _missing(alert_id)
    return row


VisibleAlert = Annotated[dict[str, Any], Depends(visible_alert)]


def _detail(conn: psycopg.Connection, alert_id: uuid.UUID) -> AlertDetail:
    row = get_alert(conn, alert_id)
    if row is None:  # deleted between the change and this read
        raise _missing(alert_id)
    return AlertDetail.from_rows(row, alert_history(conn, alert_id))


@router.get("", response_model=list[AlertOut])
def alerts(
    conn: Conn,
    user: CurrentUser,
    status: Annotated[
        Literal["open", "firing", "acknowledged", "resolved"] | None,
        Query(description="open = firing or acknowledged"),
    ] = None,
    domain: Domain | None = None,
    severity: Annotated[SeverityName | None, Query(description="At least this severe")] = None,
    since: Annotated[datetime | None, Query(description="Changed at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    if since is not None and since.tzinfo is None:
        raise problem(400, "since cần có múi giờ", "since needs a timezone offset, e.g. +07:00")
    domains = visible_domains(user.role)
    if domain is not None:
        # Asking for a hidden domain gives an empty list, the same as asking for a
        # domain with no alerts.
        domains = domains & {domain}
    if not domains:
        return []
    rows = list_alerts(
        conn,
        sorted(domains),
        status=status,
        min_severity=Severity.parse(severity) if severity else None,
        since=since,
        limit=limit,
    )
    return [AlertOut.from_row(row) for row in rows]


@router.get("/{alert_id}", response_model=AlertDetail)
def alert(alert: VisibleAlert, conn: Conn) -> AlertDetail:
    return AlertDetail.from_rows(alert, alert_history(conn, alert["id"]))


def _act(
    conn: psycopg.Connection,
    user: User,
    alert: dict[str, Any],
    change: Callable[[psycopg.Connection, str, str, str], object],
    note: str,
) -> AlertDetail:
    if not may_act(user.role, alert["domain"]):
        raise forbid_action(user, alert["domain"])
    alert_id = alert["id"]
    try:
        with conn.transaction():
            change(conn, str(alert_id), user.name, note)
    except lifecycle.AlertNotFound as error:
        raise _missing(alert_id) from error
    except lifecycle.InvalidTransition as error:
        raise problem(
            409, "Không thể chuyển trạng thái cảnh báo", f"invalid transition: {error}"
        ) from error
    except ValueError as error:
        raise problem(400, "Yêu cầu không hợp lệ", str(error)) from error
    return _detail(conn, alert_id)


@router.post("/{alert_id}/ack", response_model=AlertDetail)
def acknowledge(
    alert: VisibleAlert, conn: Conn, user: CurrentUser, body: OptionalNote = None
) -> AlertDetail:
    return _act(conn, user, alert, lifecycle.acknowledge, body.note if body else "")


@router.post("/{alert_id}/resolve", response_model=AlertDetail)
def resolve(
    request: Request,
    alert: VisibleAlert,
    conn: Conn,
    user: CurrentUser,
    body: OptionalNote = None,
) -> AlertDetail:
    # The routing decides who hears of the resolution; the app is given one when it
    # runs next to notifiers (without it the change is recorded and streamed only).
    routing = getattr(request.app.state, "routing", None)

    def change(c: psycopg.Connection, alert_id: str, actor: str, note: str) -> object:
        return lifecycle.resolve(c, alert_id, actor, note, routing=routing)

    return _act(conn, user, alert, change, body.note if body else "")


@router.post("/{alert_id}/notes", response_model=AlertDetail)
def add_note(
    alert: VisibleAlert, body: RequiredNoteIn, conn: Conn, user: CurrentUser
) -> AlertDetail:
    return _act(conn, user, alert, lifecycle.add_note, body.note)
