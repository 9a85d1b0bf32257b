"""Alerts: list, read with history, acknowledge, resolve, annotate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Body, Depends, Query, Request, Response

from api import pagination
from api.auth import CurrentUser, forbid_action, may_act, may_see, visible_domains
from api.deps import Conn
from api.errors import not_found, problem, responses
from api.inputs import DeviceIdPath, Instant
from api.schemas import AlertDetail, AlertOut, HistoryEntry, NoteIn, RequiredNoteIn
from events.alerts import Domain, Severity
from processors.alerts import lifecycle
from store.alert_reads import count_alerts, get_alert, history_page, list_alerts, recent_history
from store.users import User

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

# Acknowledge and resolve take an optional {"note": …}; a bare POST is fine too.
OptionalNote = Annotated[NoteIn | None, Body()]
SeverityName = Literal["info", "low", "medium", "high", "critical"]
# An alert's answer carries its newest changes; the whole record is paged at /history.
DETAIL_HISTORY = 100

READ = responses(401, 404, 422, 429)
# The list says how many alerts match in all; counting stops here (a year of resolved
# alerts is not counted on every page).
MAX_COUNT = 10_000
TOTAL_HEADER = {
    "X-Total-Count": {
        "description": f"Alerts matching the filters, all pages; '{MAX_COUNT}+' past {MAX_COUNT}",
        "schema": {"type": "string", "pattern": r"^[0-9]+\+?$"},
    }
}
ACT = responses(400, 401, 403, 404, 409, 413, 422, 429)


def _missing(alert_id: uuid.UUID) -> Exception:
    return not_found("alert_not_found", alert_id=alert_id)


def visible_alert(alert_id: uuid.UUID, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    """The alert if the caller may see it; 404 otherwise, for missing and hidden alike."""
    row = get_alert(conn, alert_id)
    if row is None or not may_see(user.role, row["domain"]):
        raise _missing(alert_id)
    return row


VisibleAlert = Annotated[dict[str, Any], Depends(visible_alert)]


def _detail(conn: psycopg.Connection, row: dict[str, Any]) -> AlertDetail:
    return AlertDetail.from_rows(row, recent_history(conn, row["id"], DETAIL_HISTORY))


@router.get(
    "",
    response_model=list[AlertOut],
    responses={
        **responses(401, 422, 429),
        200: {"headers": {**pagination.LINK_HEADER, **TOTAL_HEADER}},
    },
)
def alerts(
    request: Request,
    response: Response,
    conn: Conn,
    user: CurrentUser,
    status: Annotated[
        Literal["open", "firing", "acknowledged", "resolved"] | None,
        Query(description="open = firing or acknowledged"),
    ] = None,
    domain: Domain | None = None,
    severity: Annotated[SeverityName | None, Query(description="At least this severe")] = None,
    since: Annotated[Instant | None, Query(description="Changed at or after")] = None,
    device: Annotated[DeviceIdPath | None, Query(description="Alerts about this device")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[AlertOut]:
    """Newest change first, one page (see the Link header for the next, X-Total-Count
    for how many match)."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.uuid_part))
    domains = visible_domains(user.role)
    if domain is not None:
        # Asking for a hidden domain gives an empty list, the same as asking for a
        # domain with no alerts.
        domains = domains & {domain}
    if not domains:
        response.headers["X-Total-Count"] = "0"
        return []
    filters: dict[str, Any] = {
        "status": status,
        "min_severity": Severity.parse(severity) if severity else None,
        "since": since,
        "device_id": device,
    }
    total = count_alerts(conn, sorted(domains), **filters, cap=MAX_COUNT)
    response.headers["X-Total-Count"] = f"{MAX_COUNT}+" if total > MAX_COUNT else str(total)
    rows = list_alerts(
        conn,
        sorted(domains),
        **filters,
        after=after,  # type: ignore[arg-type]
        limit=limit + 1,
    )
    shown = pagination.page(request, response, rows, limit, lambda r: (r["updated_at"], r["id"]))
    return [AlertOut.from_row(row) for row in shown]


@router.get("/{alert_id}", response_model=AlertDetail, responses=READ)
def alert(alert: VisibleAlert, conn: Conn) -> AlertDetail:
    return _detail(conn, alert)


@router.get(
    "/{alert_id}/history",
    response_model=list[HistoryEntry],
    responses={**READ, 200: {"headers": pagination.LINK_HEADER}},
)
def alert_history(
    request: Request,
    response: Response,
    alert: VisibleAlert,
    conn: Conn,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[HistoryEntry]:
    """Every change of the alert, oldest first, one page at a time."""
    after = pagination.decode(cursor, (pagination.int_part,))
    rows = history_page(conn, alert["id"], after[0] if after else None, limit + 1)
    shown = pagination.page(request, response, rows, limit, lambda r: (r["id"],))
    return [HistoryEntry.model_validate(row) for row in shown]


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
        raise problem(409, error.code) from error
    except ValueError as error:
        raise problem(422, "invalid_change", reason=str(error)[:200]) from error
    row = get_alert(conn, alert_id)
    if row is None:  # deleted between the change and this read
        raise _missing(alert_id)
    return _detail(conn, row)


@router.post("/{alert_id}/ack", response_model=AlertDetail, responses=ACT)
def acknowledge(
    alert: VisibleAlert, conn: Conn, user: CurrentUser, body: OptionalNote = None
) -> AlertDetail:
    return _act(conn, user, alert, lifecycle.acknowledge, body.note if body else "")


@router.post("/{alert_id}/resolve", response_model=AlertDetail, responses=ACT)
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


@router.post("/{alert_id}/notes", response_model=AlertDetail, responses=ACT)
def add_note(
    alert: VisibleAlert, body: RequiredNoteIn, conn: Conn, user: CurrentUser
) -> AlertDetail:
    return _act(conn, user, alert, lifecycle.add_note, body.note)
