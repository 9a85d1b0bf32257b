"""The changes people (through the API) and the grouping job make to cases: each writes
the case, what it holds, and a timeline entry saying who did what, in the caller's
transaction. Decisions are in model.py; SQL in store/cases.py.

Times: `acknowledged_at` is set the first time a person moves the case out of `new` or
assigns it (a case a person creates is acknowledged when made); `closed_at` when it is
closed with a classification. The times to acknowledge and to close count from
`created`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

from processors.cases import observables
from processors.cases.model import (
    CaseSeverity,
    Classification,
    InvalidMove,
    check_move,
    higher,
    severity_of,
)
from processors.cases.playbooks import Playbook, tasks_for
from store import cases as store

# How many events behind the added alerts are read for observables.
MAX_EVENTS = 500
MAX_ALERTS_PER_CHANGE = 100
MANUAL_POSITION = 1_000_000
# What may still change on a closed case: its wording, and sharing it (a case is often
# shared with the national centre once it is understood, i.e. closed) at a marking.
AFTER_CLOSURE = frozenset({"title", "description", "shared", "tlp", "pap"})


class CaseNotFound(LookupError):
    pass


class CaseClosed(ValueError):
    """A closed case takes no alerts, moves, tasks, severity or assignee changes until
    reopened (AFTER_CLOSURE may still change)."""


class NotClosed(ValueError):
    pass


def create(
    conn: psycopg.Connection,
    *,
    title: str,
    actor: str,
    at: datetime,
    alerts: Sequence[Mapping[str, Any]] = (),
    books: Sequence[Playbook] = (),
    severity: CaseSeverity | None = None,
    tlp: str = "amber",
    pap: str = "amber",
    description: str = "",
    assignee: str | None = None,
    by_person: bool = True,
    grouping_rule: str | None = None,
    grouping_key: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A new case holding `alerts`; its severity the highest of theirs unless given."""
    found = [severity_of(a["severity"]) for a in alerts]
    chosen: CaseSeverity = severity or (max(found, key=_rank) if found else "medium")
    case = store.insert_case(
        conn,
        {
            "id": uuid.uuid4(), "title": title, "description": description,
            "severity": chosen, "tlp": tlp, "pap": pap, "assignee": assignee, "created": at,
            "updated": at, "created_by": actor,
            # A person who makes a case has seen it; the job's cases wait for someone.
            "acknowledged_at": at if by_person else None,
            "acknowledged_by": actor if by_person else None,
            "grouping_rule": grouping_rule, "grouping_key": grouping_key,
            "labels": dict(labels or {}),
        },
    )  # fmt: skip
    detail = {"severity": chosen, "tlp": tlp, "pap": pap}
    if grouping_rule:
        detail |= {"grouping_rule": grouping_rule, "grouping_key": grouping_key}
    store.add_entry(conn, case["id"], actor, "created", at, detail=detail)
    if alerts:
        attach(conn, case, alerts, actor=actor, at=at, books=books, raise_severity=False)
    elif books:
        _apply_playbooks(conn, case["id"], books, [])
    return _reread(conn, case["id"])


def _rank(severity: CaseSeverity) -> int:
    return ("low", "medium", "high", "critical").index(severity)


def attach(
    conn: psycopg.Connection,
    case: Mapping[str, Any],
    alerts: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    at: datetime,
    books: Sequence[Playbook],
    raise_severity: bool = True,
) -> list[uuid.UUID]:
    """Add the alerts to the case (those not in it yet): their observables, the tasks of
    playbooks for their kinds, a timeline entry, and the case's severity raised to the
    highest alert's. The ids added."""
    if case["status"] == "closed":
        raise CaseClosed(str(case["id"]))
    case_id = case["id"]
    added = store.add_case_alerts(conn, case_id, alerts, actor, at)
    if not added:
        return []
    new = [a for a in alerts if a["id"] in set(added)]
    groups = [observables.from_alert(a, a["updated_at"] or a["started_at"]) for a in new]
    groups += [observables.from_event(e) for e in store.events_of(conn, new, MAX_EVENTS)]
    store.upsert_observables(conn, case_id, observables.merge(groups))
    _apply_playbooks(conn, case_id, books, [(a["rule"], a.get("technique_ids") or []) for a in new])
    changes: dict[str, Any] = {
        "updated": at,
        "last_alert_at": max(
            [a["updated_at"] or a["started_at"] for a in new]
            + ([case["last_alert_at"]] if case.get("last_alert_at") else [])
        ),
    }
    if raise_severity:
        top = case["severity"]
        for alert in new:
            top = higher(top, severity_of(alert["severity"]))
        if top != case["severity"]:
            changes["severity"] = top
    store.update_case(conn, case_id, changes)
    store.add_entry(
        conn, case_id, actor, "alerts_added", at,
        detail={"alerts": [str(a) for a in added], "severity": changes.get("severity")},
    )  # fmt: skip
    return added


def _apply_playbooks(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    books: Sequence[Playbook],
    kinds: list[tuple[str, list[str]]],
) -> None:
    # The triage playbook (alerts: "*") applies to a case made without alerts too.
    wanted = kinds or [("*", [])]
    store.add_tasks(
        conn,
        case_id,
        (
            (book.id, task.id, book.order * 1000 + position, task.title.vi, task.title.en)
            for book, position, task in tasks_for(books, wanted)
        ),
    )


def detach(
    conn: psycopg.Connection, case_id: uuid.UUID, alert_id: uuid.UUID, *, actor: str, at: datetime
) -> bool:
    case = _locked(conn, case_id)
    if case["status"] == "closed":
        raise CaseClosed(str(case_id))
    if not store.remove_case_alert(conn, case_id, alert_id):
        return False
    store.update_case(conn, case_id, {"updated": at})
    store.add_entry(conn, case_id, actor, "alert_removed", at, detail={"alert": str(alert_id)})
    return True


def _locked(conn: psycopg.Connection, case_id: uuid.UUID) -> dict[str, Any]:
    case = store.get_case(conn, case_id, lock=True)
    if case is None:
        raise CaseNotFound(str(case_id))
    return case


def _reread(conn: psycopg.Connection, case_id: uuid.UUID) -> dict[str, Any]:
    case = store.get_case(conn, case_id)
    if case is None:
        raise CaseNotFound(str(case_id))
    return case


def add_alerts(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    alerts: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    at: datetime,
    books: Sequence[Playbook],
) -> list[uuid.UUID]:
    case = _locked(conn, case_id)
    return attach(conn, case, alerts, actor=actor, at=at, books=books)


def change(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    """PATCH: title, description, severity, TLP, PAP, status (not closed: see close),
    assignee (None unassigns), shared. Only what differs is written and recorded."""
    case = _locked(conn, case_id)
    wanted = {k: v for k, v in changes.items() if case.get(k) != v}
    if not wanted:
        return case
    if case["status"] == "closed" and set(wanted) - AFTER_CLOSURE:
        raise CaseClosed(str(case_id))
    if "status" in wanted:
        if wanted["status"] == "closed":
            raise InvalidMove(case["status"], "closed")
        check_move(case["status"], wanted["status"])
    moved = wanted.get("status") not in (None, "new") or wanted.get("assignee") is not None
    if moved and case["acknowledged_at"] is None:
        wanted |= {"acknowledged_at": at, "acknowledged_by": actor}
    store.update_case(conn, case_id, {**wanted, "updated": at})
    shown = {k: v for k, v in wanted.items() if k not in ("acknowledged_at", "acknowledged_by")}
    before = {k: case.get(k) for k in shown}
    store.add_entry(conn, case_id, actor, "changed", at, detail={"from": before, "to": shown})
    return _reread(conn, case_id)


def close(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    classification: Classification,
    *,
    actor: str,
    at: datetime,
    note: str = "",
) -> dict[str, Any]:
    case = _locked(conn, case_id)
    if case["status"] == "closed":
        raise CaseClosed(str(case_id))
    acknowledged = (
        {}
        if case["acknowledged_at"] is not None
        else {"acknowledged_at": at, "acknowledged_by": actor}
    )
    store.update_case(
        conn, case_id,
        {
            "status": "closed", "classification": classification, "closed_at": at,
            "closed_by": actor, "closure_note": note, "updated": at, **acknowledged,
        },
    )  # fmt: skip
    store.add_entry(
        conn, case_id, actor, "closed", at, note,
        detail={"from": case["status"], "classification": classification},
    )  # fmt: skip
    return _reread(conn, case_id)


def reopen(
    conn: psycopg.Connection, case_id: uuid.UUID, *, actor: str, at: datetime, note: str = ""
) -> dict[str, Any]:
    """Back to investigating; the closure is kept in the timeline, not on the case."""
    case = _locked(conn, case_id)
    if case["status"] != "closed":
        raise NotClosed(str(case_id))
    store.update_case(
        conn, case_id,
        {
            "status": "investigating", "classification": None, "closed_at": None,
            "closed_by": None, "closure_note": "", "updated": at,
        },
    )  # fmt: skip
    store.add_entry(
        conn, case_id, actor, "reopened", at, note,
        detail={"classification": case["classification"], "closed_at": _iso(case["closed_at"])},
    )  # fmt: skip
    return _reread(conn, case_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def note(
    conn: psycopg.Connection, case_id: uuid.UUID, text: str, *, actor: str, at: datetime
) -> None:
    _locked(conn, case_id)
    store.update_case(conn, case_id, {"updated": at})
    store.add_entry(conn, case_id, actor, "note", at, text)


def add_task(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    title: str,
    *,
    actor: str,
    at: datetime,
) -> dict[str, Any]:
    """A task a person adds (playbook `manual`)."""
    case = _locked(conn, case_id)
    if case["status"] == "closed":
        raise CaseClosed(str(case_id))
    key = "t" + uuid.uuid4().hex[:12]
    # After every playbook's tasks (their positions stay below 1,000,000).
    store.add_tasks(conn, case_id, [("manual", key, MANUAL_POSITION, title, title)])
    store.update_case(conn, case_id, {"updated": at})
    store.add_entry(conn, case_id, actor, "task_added", at, title)
    row = conn.execute(
        "SELECT id FROM case_tasks WHERE case_id = %s AND playbook = 'manual' AND task = %s",
        (case_id, key),
    ).fetchone()
    assert row is not None
    task = store.get_task(conn, case_id, row[0])
    assert task is not None
    return task


def set_task(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    task_id: int,
    done: bool,
    *,
    actor: str,
    at: datetime,
) -> dict[str, Any] | None:
    """Mark a task done (or not); None when the case has no such task."""
    case = _locked(conn, case_id)
    task = store.get_task(conn, case_id, task_id)
    if task is None:
        return None
    if (task["done_at"] is not None) == done:
        return task
    if case["status"] == "closed":
        raise CaseClosed(str(case_id))
    row = store.set_task_done(conn, case_id, task_id, at if done else None, actor if done else None)
    store.update_case(conn, case_id, {"updated": at})
    store.add_entry(
        conn, case_id, actor, "task_done" if done else "task_undone", at, task["title_vi"],
        detail={"task": task_id, "playbook": task["playbook"], "key": task["task"]},
    )  # fmt: skip
    return row
