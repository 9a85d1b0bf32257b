"""CSIRT cases: incidents grouping security alerts (processors/cases/). For the `csirt`
and `admin` roles only, like security alerts; other roles get 403."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal, TypeVar

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import pagination
from api.auth import require_roles
from api.case_schemas import (
    AlertIdsIn,
    CaseAlertOut,
    CaseDetail,
    CaseIn,
    CaseNoteIn,
    CaseOut,
    CasePatch,
    CloseIn,
    ElsewhereCase,
    ObservableOut,
    ReopenIn,
    TaskIn,
    TaskOut,
    TaskPatch,
    TimelineItem,
)
from api.deps import Conn
from api.errors import not_found, problem, responses
from processors.cases import workflow
from processors.cases.model import CaseSeverity, InvalidMove, ObservableType
from processors.cases.playbooks import Playbook, load_playbooks
from store import cases as store
from store.users import Role, User

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
T = TypeVar("T")

CsirtUser = Annotated[User, Depends(require_roles(Role.CSIRT, Role.ADMIN))]
CaseId = Annotated[uuid.UUID, Path(description="The case's id")]

READ = responses(401, 403, 404, 422, 429)
WRITE = responses(400, 401, 403, 404, 409, 413, 422, 429)
DETAIL_ALERTS = 200
DETAIL_TASKS = 500
TIMELINE_MAX = 1000
ELSEWHERE = 5
ADDRESS_DAYS = 30
ADDRESS_CAP = 10_000
# "Where else seen" counts run under this statement timeout, so a page of observables
# never waits long on a busy events table.
ELSEWHERE_TIMEOUT = "2s"


@cache
def playbooks() -> list[Playbook]:
    """The playbooks, read once per API process (they change with a release)."""
    return load_playbooks()


def _now() -> datetime:
    return datetime.now(UTC)


def _missing(case_id: uuid.UUID) -> Exception:
    return not_found("case_not_found", case_id=case_id)


@contextmanager
def _answers(case_id: uuid.UUID) -> Iterator[None]:
    """The workflow's refusals as problems."""
    try:
        yield
    except workflow.CaseNotFound as error:
        raise _missing(case_id) from error
    except workflow.CaseClosed as error:
        raise problem(409, "case_closed", case_id=case_id) from error
    except workflow.NotClosed as error:
        raise problem(409, "case_not_closed", case_id=case_id) from error
    except InvalidMove as error:
        raise problem(
            409, "case_move_invalid", current=error.current, wanted=error.wanted
        ) from error


def _detail(conn: psycopg.Connection, case_id: uuid.UUID) -> CaseDetail:
    row = store.get_case(conn, case_id)
    if row is None:
        raise _missing(case_id)
    tasks = store.tasks(conn, case_id, DETAIL_TASKS)
    return CaseDetail(
        **CaseOut.fields_of(row, store.alert_count(conn, case_id)),
        description=row["description"],
        acknowledged_by=row["acknowledged_by"],
        closed_by=row["closed_by"],
        closure_note=row["closure_note"],
        alerts=[
            CaseAlertOut.model_validate(a) for a in store.case_alerts(conn, case_id, DETAIL_ALERTS)
        ],
        tasks=[TaskOut.model_validate(t) for t in tasks],
        tasks_done=sum(1 for t in tasks if t["done_at"] is not None),
        observable_count=store.observable_count(conn, case_id),
    )


def _security_alerts(conn: psycopg.Connection, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The alerts, all of them security alerts; 422 naming how many are not."""
    wanted = list(dict.fromkeys(ids))
    found = [a for a in store.alerts_by_ids(conn, wanted) if a["domain"] == "security"]
    if len(found) != len(wanted):
        raise problem(422, "case_alerts_unknown", count=len(wanted) - len(found))
    return found


@router.get(
    "",
    response_model=list[CaseOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def list_cases(
    request: Request,
    response: Response,
    conn: Conn,
    user: CsirtUser,
    status: Annotated[
        Literal["open", "new", "investigating", "contained", "closed"] | None,
        Query(description="open = anything not closed"),
    ] = None,
    severity: Annotated[CaseSeverity | None, Query(description="At least this severe")] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    shared: bool | None = None,
    alert: Annotated[uuid.UUID | None, Query(description="Cases holding this alert")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[CaseOut]:
    """Newest change first, one page (see the Link header for the next)."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.uuid_part))
    statuses = (
        ["new", "investigating", "contained"] if status == "open" else [status] if status else None
    )
    order = ["low", "medium", "high", "critical"]
    severities = order[order.index(severity) :] if severity else None
    rows = store.list_cases(
        conn, statuses=statuses, severities=severities, assignee=_text(assignee), shared=shared,
        alert_id=alert, after=after, limit=limit + 1,  # type: ignore[arg-type]
    )  # fmt: skip
    shown = pagination.page(request, response, rows, limit, lambda r: (r["updated"], r["id"]))
    return [CaseOut.from_row(r) for r in shown]


def _text(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise problem(422, "value_rejected", reason="text must not contain NUL")
    return value


@router.post("", status_code=201, response_model=CaseDetail, responses=WRITE)
def create_case(body: CaseIn, conn: Conn, user: CsirtUser) -> CaseDetail:
    """A case made by hand, from any number of security alerts (at most 100 at once)."""
    with conn.transaction():
        alerts = _security_alerts(conn, body.alert_ids)
        case = workflow.create(
            conn, title=body.title, description=body.description, actor=user.name, at=_now(),
            alerts=alerts, books=playbooks(), severity=body.severity, tlp=body.tlp,
            pap=body.pap, assignee=body.assignee,
        )  # fmt: skip
    return _detail(conn, case["id"])


@router.get("/{case_id}", response_model=CaseDetail, responses=READ)
def get_case(case_id: CaseId, conn: Conn, user: CsirtUser) -> CaseDetail:
    return _detail(conn, case_id)


@router.patch("/{case_id}", response_model=CaseDetail, responses=WRITE)
def patch_case(case_id: CaseId, body: CasePatch, conn: Conn, user: CsirtUser) -> CaseDetail:
    """Status (new → investigating → contained, or back one step), assignee, severity,
    TLP, PAP, shared, title, description."""
    with _answers(case_id), conn.transaction():
        workflow.change(conn, case_id, body.changes(), actor=user.name, at=_now())
    return _detail(conn, case_id)


@router.post("/{case_id}/close", response_model=CaseDetail, responses=WRITE)
def close_case(case_id: CaseId, body: CloseIn, conn: Conn, user: CsirtUser) -> CaseDetail:
    """Close with a classification: true_positive, false_positive or benign."""
    with _answers(case_id), conn.transaction():
        workflow.close(
            conn, case_id, body.classification, actor=user.name, at=_now(), note=body.note
        )
    return _detail(conn, case_id)


@router.post("/{case_id}/reopen", response_model=CaseDetail, responses=WRITE)
def reopen_case(
    case_id: CaseId, conn: Conn, user: CsirtUser, body: ReopenIn | None = None
) -> CaseDetail:
    with _answers(case_id), conn.transaction():
        workflow.reopen(conn, case_id, actor=user.name, at=_now(), note=body.note if body else "")
    return _detail(conn, case_id)


@router.post("/{case_id}/alerts", response_model=CaseDetail, responses=WRITE)
def add_alerts(case_id: CaseId, body: AlertIdsIn, conn: Conn, user: CsirtUser) -> CaseDetail:
    """Add security alerts (at most 100 at once); alerts already in the case are kept."""
    with _answers(case_id), conn.transaction():
        alerts = _security_alerts(conn, body.alert_ids)
        workflow.add_alerts(conn, case_id, alerts, actor=user.name, at=_now(), books=playbooks())
    return _detail(conn, case_id)


@router.delete("/{case_id}/alerts/{alert_id}", response_model=CaseDetail, responses=WRITE)
def remove_alert(case_id: CaseId, alert_id: uuid.UUID, conn: Conn, user: CsirtUser) -> CaseDetail:
    with _answers(case_id), conn.transaction():
        removed = workflow.detach(conn, case_id, alert_id, actor=user.name, at=_now())
    if not removed:
        raise not_found("case_alert_not_found", case_id=case_id, alert_id=alert_id)
    return _detail(conn, case_id)


@router.post("/{case_id}/notes", response_model=CaseDetail, responses=WRITE)
def add_note(case_id: CaseId, body: CaseNoteIn, conn: Conn, user: CsirtUser) -> CaseDetail:
    with _answers(case_id), conn.transaction():
        workflow.note(conn, case_id, body.note, actor=user.name, at=_now())
    return _detail(conn, case_id)


@router.get("/{case_id}/tasks", response_model=list[TaskOut], responses=READ)
def list_tasks(case_id: CaseId, conn: Conn, user: CsirtUser) -> list[TaskOut]:
    """Every task of the case (playbooks' first, then those added by hand)."""
    _exists(conn, case_id)
    return [TaskOut.model_validate(t) for t in store.tasks(conn, case_id, DETAIL_TASKS)]


@router.post("/{case_id}/tasks", status_code=201, response_model=TaskOut, responses=WRITE)
def add_task(case_id: CaseId, body: TaskIn, conn: Conn, user: CsirtUser) -> TaskOut:
    with _answers(case_id), conn.transaction():
        task = workflow.add_task(conn, case_id, body.title, actor=user.name, at=_now())
    return TaskOut.model_validate(task)


@router.patch("/{case_id}/tasks/{task_id}", response_model=TaskOut, responses=WRITE)
def set_task(
    case_id: CaseId,
    task_id: Annotated[int, Path(ge=1, lt=2**63)],
    body: TaskPatch,
    conn: Conn,
    user: CsirtUser,
) -> TaskOut:
    """Mark a task done (`{"done": true}`) or not done."""
    with _answers(case_id), conn.transaction():
        task = workflow.set_task(conn, case_id, task_id, body.done, actor=user.name, at=_now())
    if task is None:
        raise not_found("case_task_not_found", case_id=case_id, task_id=task_id)
    return TaskOut.model_validate(task)


def _exists(conn: psycopg.Connection, case_id: uuid.UUID) -> dict[str, Any]:
    row = store.get_case(conn, case_id)
    if row is None:
        raise _missing(case_id)
    return row


@router.get(
    "/{case_id}/observables",
    response_model=list[ObservableOut],
    responses={**READ, 200: {"headers": pagination.LINK_HEADER}},
)
def observables(
    request: Request,
    response: Response,
    case_id: CaseId,
    conn: Conn,
    user: CsirtUser,
    type: Annotated[ObservableType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size (at most 100)")] = 50,
    cursor: pagination.Cursor = None,
) -> list[ObservableOut]:
    """The case's observables by type and value, each with the other cases holding it
    and, for addresses, how many security events came from it lately."""
    after = pagination.decode(cursor, (pagination.text_part, pagination.text_part))
    _exists(conn, case_id)
    rows = store.observables_page(conn, case_id, type, after, limit + 1)  # type: ignore[arg-type]
    shown = pagination.page(request, response, rows, limit, lambda r: (r["type"], r["value"]))
    pairs = [(r["type"], r["value"]) for r in shown]
    addresses = [r["value"] for r in shown if r["type"] in ("ipv4", "ipv6")]
    elsewhere = _bounded(conn, lambda: store.other_cases(conn, pairs, case_id, ELSEWHERE), {})
    since = _now() - timedelta(days=ADDRESS_DAYS)
    counts = _bounded(
        conn, lambda: store.events_from_addresses(conn, addresses, since, ADDRESS_CAP), {}
    )
    return [
        ObservableOut(
            **r,
            other_cases=[
                ElsewhereCase.model_validate(c) for c in elsewhere.get((r["type"], r["value"]), [])
            ],
            events_from_address=counts.get(r["value"]),
        )
        for r in shown
    ]


def _bounded(conn: psycopg.Connection, query: Callable[[], T], fallback: T) -> T:
    """The query under ELSEWHERE_TIMEOUT; `fallback` (shown as unknown) when it runs out:
    where else a value was seen is a hint, not worth holding the page for."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = '{ELSEWHERE_TIMEOUT}'")
            return query()
    except psycopg.errors.QueryCanceled:
        return fallback


@router.get("/{case_id}/timeline", response_model=list[TimelineItem], responses=READ)
def timeline(
    case_id: CaseId,
    conn: Conn,
    user: CsirtUser,
    limit: Annotated[
        int, Query(ge=1, le=TIMELINE_MAX, description=f"Items (at most {TIMELINE_MAX})")
    ] = 500,
) -> list[TimelineItem]:
    """Notes and changes, the alerts and their events, oldest first: the newest `limit`
    of each kind merged by time."""
    _exists(conn, case_id)
    items = [_entry(e) for e in store.entries(conn, case_id, limit)]
    alerts = store.alerts_for_timeline(conn, case_id, limit)
    items += [_alert(a) for a in alerts]
    with_events = [a for a in alerts if a["event_ids"] and a["started_at"] is not None]
    items += [_event(e) for e in store.events_of(conn, with_events, limit)]
    items.sort(key=lambda i: (i.at, ("event", "alert", "entry").index(i.kind)))
    return items[-limit:]


def _entry(row: dict[str, Any]) -> TimelineItem:
    return TimelineItem(
        at=row["at"], kind="entry", actor=row["actor"], action=row["action"], note=row["note"],
        detail=row["detail"],
    )  # fmt: skip


def _alert(row: dict[str, Any]) -> TimelineItem:
    return TimelineItem(
        at=row["started_at"], kind="alert", alert_id=row["id"], rule=row["rule"],
        title_vi=row["title_vi"], title_en=row["title_en"], severity=row["severity"],
    )  # fmt: skip


def _event(row: dict[str, Any]) -> TimelineItem:
    return TimelineItem(
        at=row["time"], kind="event", event_id=row["event_id"], dataset=row["dataset"],
        message=row["message"], source_ip=row["source_ip"], destination_ip=row["destination_ip"],
        user_name=row["user_name"], host_name=row["host_name"], action=row["action"],
    )  # fmt: skip
