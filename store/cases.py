"""CSIRT cases' SQL (migration 22): cases, their alerts, observables, tasks, timeline,
and what the grouping job reads. Decisions are in processors/cases/; every list here is
bounded by a LIMIT its caller gives, and pages are keysets."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

# What PATCH and the workflow may set directly on a case.
SETTABLE = frozenset({
    "title", "description", "severity", "tlp", "pap", "status", "assignee", "shared",
    "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "classification",
    "closure_note", "last_alert_at", "updated",
})  # fmt: skip
ALERT_COLUMNS = (
    "id, domain, rule, status, severity, labels, alert_values, title_vi, title_en,"
    " event_ids, technique_ids, started_at, updated_at, recorded_at"
)
EVENT_COLUMNS = (
    # host(): the address without a /32 or /128 (inet's text form carries the mask).
    "time, event_id, dataset, category, action, outcome, host(source_ip) AS source_ip,"
    " host(destination_ip) AS destination_ip, user_name, host_name, process_name,"
    " rule_name, message, ecs"
)
# An alert's events are looked for this long before it started (its window) and after
# its last change (events written late): the time bound lets TimescaleDB skip chunks.
EVENT_SLACK = timedelta(days=7)


def _rows(conn: psycopg.Connection, query: Any, params: Any = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _one(conn: psycopg.Connection, query: Any, params: Any = ()) -> dict[str, Any] | None:
    rows = _rows(conn, query, params)
    return rows[0] if rows else None


# ---- cases ------------------------------------------------------------------------------


def insert_case(conn: psycopg.Connection, case: Mapping[str, Any]) -> dict[str, Any]:
    columns = [
        "id", "title", "description", "severity", "tlp", "pap", "assignee", "created",
        "updated", "created_by", "acknowledged_at", "acknowledged_by", "grouping_rule",
        "grouping_key", "labels",
    ]  # fmt: skip
    values = {c: case.get(c) for c in columns}
    values["labels"] = Jsonb(dict(case.get("labels") or {}))
    values["description"] = values["description"] or ""
    query = sql.SQL("INSERT INTO cases ({}) VALUES ({}) RETURNING *").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
    )
    row = _one(conn, query, values)
    assert row is not None
    return row


def get_case(
    conn: psycopg.Connection, case_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    return _one(
        conn, "SELECT * FROM cases WHERE id = %s" + (" FOR UPDATE" if lock else ""), (case_id,)
    )


def update_case(
    conn: psycopg.Connection, case_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    unknown = set(changes) - SETTABLE
    if unknown:
        raise ValueError(f"not settable: {sorted(unknown)}")
    if not changes:
        return get_case(conn, case_id)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in changes
    )
    query = sql.SQL("UPDATE cases SET {} WHERE id = {} RETURNING *").format(
        assignments, sql.Placeholder("case_id")
    )
    return _one(conn, query, {**changes, "case_id": case_id})


def list_cases(
    conn: psycopg.Connection,
    *,
    statuses: Sequence[str] | None = None,
    severities: Sequence[str] | None = None,
    assignee: str | None = None,
    shared: bool | None = None,
    alert_id: uuid.UUID | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest change first; `after` is the (updated, id) of the previous page's last.
    Each row carries how many alerts the case holds."""
    after_at, after_id = after if after else (None, None)
    return _rows(
        conn,
        "SELECT c.*, (SELECT count(*) FROM case_alerts a WHERE a.case_id = c.id) AS alert_count"
        " FROM cases c"
        " WHERE (%(st)s::text[] IS NULL OR c.status = ANY(%(st)s::text[]))"
        " AND (%(sev)s::text[] IS NULL OR c.severity = ANY(%(sev)s::text[]))"
        " AND (%(who)s::text IS NULL OR c.assignee = %(who)s::text)"
        " AND (%(shared)s::boolean IS NULL OR c.shared = %(shared)s::boolean)"
        " AND (%(alert)s::uuid IS NULL OR EXISTS (SELECT 1 FROM case_alerts a"
        "      WHERE a.case_id = c.id AND a.alert_id = %(alert)s::uuid))"
        " AND (%(at)s::timestamptz IS NULL"
        "      OR (c.updated, c.id) < (%(at)s::timestamptz, %(id)s::uuid))"
        " ORDER BY c.updated DESC, c.id DESC LIMIT %(limit)s",
        {
            "st": list(statuses) if statuses else None,
            "sev": list(severities) if severities else None,
            "who": assignee,
            "shared": shared,
            "alert": alert_id,
            "at": after_at,
            "id": after_id,
            "limit": limit,
        },
    )


def open_case_for(
    conn: psycopg.Connection, rule: str, key: str, since: datetime
) -> dict[str, Any] | None:
    """The open case the grouping rule made for the key whose last alert is at or after
    `since` (the newest such), locked."""
    return _one(
        conn,
        "SELECT * FROM cases WHERE grouping_rule = %s AND grouping_key = %s"
        " AND status <> 'closed' AND last_alert_at >= %s"
        " ORDER BY last_alert_at DESC LIMIT 1 FOR UPDATE",
        (rule, key, since),
    )


# ---- alerts -----------------------------------------------------------------------------


def alerts_by_ids(conn: psycopg.Connection, ids: Collection[uuid.UUID]) -> list[dict[str, Any]]:
    if not ids:
        return []
    return _rows(
        conn,
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ANY(%s) ORDER BY started_at, id",
        (list(ids),),
    )


def add_case_alerts(
    conn: psycopg.Connection, case_id: uuid.UUID, alerts: Iterable[Mapping[str, Any]], actor: str,
    at: datetime,
) -> list[uuid.UUID]:  # fmt: skip
    """The ids of the alerts that were not in the case yet (and now are)."""
    added: list[uuid.UUID] = []
    for alert in alerts:
        row = conn.execute(
            "INSERT INTO case_alerts (case_id, alert_id, added_at, added_by, rule, title_vi,"
            " title_en, severity, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING alert_id",
            (
                case_id,
                alert["id"],
                at,
                actor,
                alert["rule"],
                alert["title_vi"],
                alert["title_en"],
                alert["severity"],
                alert["started_at"],
            ),
        ).fetchone()
        if row:
            added.append(row[0])
    return added


def in_a_case(conn: psycopg.Connection, alert_id: uuid.UUID) -> bool:
    row = conn.execute(
        "SELECT 1 FROM case_alerts WHERE alert_id = %s LIMIT 1", (alert_id,)
    ).fetchone()
    return row is not None


def remove_case_alert(conn: psycopg.Connection, case_id: uuid.UUID, alert_id: uuid.UUID) -> bool:
    cur = conn.execute(
        "DELETE FROM case_alerts WHERE case_id = %s AND alert_id = %s", (case_id, alert_id)
    )
    return cur.rowcount > 0


def case_alerts(conn: psycopg.Connection, case_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """The case's alerts, oldest first, with the alert's current status and latest
    change when it still exists (a pruned alert keeps what was copied in)."""
    return _rows(
        conn,
        "SELECT ca.alert_id AS id, ca.rule, ca.title_vi, ca.title_en, ca.severity,"
        " ca.started_at, ca.added_at, ca.added_by, a.status, a.updated_at, a.labels"
        " FROM case_alerts ca LEFT JOIN alerts a ON a.id = ca.alert_id"
        " WHERE ca.case_id = %s ORDER BY ca.started_at NULLS LAST, ca.alert_id LIMIT %s",
        (case_id, limit),
    )


def alert_count(conn: psycopg.Connection, case_id: uuid.UUID) -> int:
    row = conn.execute("SELECT count(*) FROM case_alerts WHERE case_id = %s", (case_id,)).fetchone()
    return int(row[0]) if row else 0


def case_rules(conn: psycopg.Connection, case_id: uuid.UUID) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT rule FROM case_alerts WHERE case_id = %s ORDER BY rule", (case_id,)
        )
    ]


def events_of(
    conn: psycopg.Connection, alerts: Iterable[Mapping[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """The security events behind the alerts (by their event_ids), oldest first."""
    ids: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    for alert in alerts:
        ids.extend(alert.get("event_ids") or [])
        first, last = alert["started_at"], alert.get("updated_at") or alert["started_at"]
        start = first if start is None else min(start, first)
        end = last if end is None else max(end, last)
    if not ids or start is None or end is None:
        return []
    return _rows(
        conn,
        f"SELECT {EVENT_COLUMNS} FROM security_events WHERE event_id = ANY(%s)"
        " AND time >= %s AND time <= %s ORDER BY time, event_id LIMIT %s",
        (list(dict.fromkeys(ids))[: limit * 4], start - EVENT_SLACK, end + EVENT_SLACK, limit),
    )


# ---- the grouping job -------------------------------------------------------------------


def grouping_cursor(conn: psycopg.Connection, job: str) -> tuple[datetime, uuid.UUID] | None:
    row = conn.execute(
        "SELECT recorded_at, alert_id FROM case_grouping_cursor WHERE job = %s", (job,)
    ).fetchone()
    return (row[0], row[1]) if row else None


def set_grouping_cursor(
    conn: psycopg.Connection, job: str, recorded_at: datetime, alert_id: uuid.UUID
) -> None:
    conn.execute(
        "INSERT INTO case_grouping_cursor (job, recorded_at, alert_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (job) DO UPDATE SET recorded_at = EXCLUDED.recorded_at,"
        " alert_id = EXCLUDED.alert_id, updated = now()",
        (job, recorded_at, alert_id),
    )


def new_security_alerts(
    conn: psycopg.Connection,
    after: tuple[datetime, uuid.UUID] | None,
    since: datetime,
    until: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """Security alerts recorded after the cursor (and not before `since`, nor after
    `until`), oldest first, that are in no case yet."""
    after_at, after_id = after if after else (None, None)
    return _rows(
        conn,
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE domain = 'security'"
        " AND recorded_at >= %s AND recorded_at <= %s"
        " AND (%s::timestamptz IS NULL OR (recorded_at, id) > (%s::timestamptz, %s::uuid))"
        " AND NOT EXISTS (SELECT 1 FROM case_alerts ca WHERE ca.alert_id = a.id)"
        " ORDER BY recorded_at, id LIMIT %s",
        (since, until, after_at, after_at, after_id, limit),
    )


def ungrouped_with_label(
    conn: psycopg.Connection, label: str, value: str, since: datetime, until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Security alerts in no case whose label has the value, last changed between
    `since` and `until`, oldest first."""
    return _rows(
        conn,
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE domain = 'security'"
        " AND labels ->> %s = %s AND updated_at >= %s AND updated_at <= %s"
        " AND NOT EXISTS (SELECT 1 FROM case_alerts ca WHERE ca.alert_id = a.id)"
        " ORDER BY started_at, id LIMIT %s",
        (label, value, since, until, limit),
    )


# ---- observables ------------------------------------------------------------------------


def upsert_observables(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    rows: Iterable[tuple[str, str, datetime, datetime, int]],
) -> None:
    for kind, value, first, last, sightings in rows:
        conn.execute(
            "INSERT INTO case_observables (case_id, type, value, first_seen, last_seen,"
            " sightings) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (case_id, type, value) DO UPDATE SET"
            " first_seen = least(case_observables.first_seen, EXCLUDED.first_seen),"
            " last_seen = greatest(case_observables.last_seen, EXCLUDED.last_seen),"
            " sightings = case_observables.sightings + EXCLUDED.sightings",
            (case_id, kind, value, first, last, sightings),
        )


def observables_page(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    kind: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    after_type, after_value = after if after else (None, None)
    return _rows(
        conn,
        "SELECT type, value, first_seen, last_seen, sightings FROM case_observables"
        " WHERE case_id = %s AND (%s::text IS NULL OR type = %s::text)"
        " AND (%s::text IS NULL OR (type, value) > (%s::text, %s::text))"
        " ORDER BY type, value LIMIT %s",
        (case_id, kind, kind, after_type, after_type, after_value, limit),
    )


def observable_count(conn: psycopg.Connection, case_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) FROM case_observables WHERE case_id = %s", (case_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def other_cases(
    conn: psycopg.Connection,
    pairs: Sequence[tuple[str, str]],
    exclude: uuid.UUID,
    per_value: int,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """For each (type, value): the other cases holding it, newest first, at most
    `per_value` each."""
    if not pairs:
        return {}
    rows = _rows(
        conn,
        "SELECT p.type, p.value, c.id, c.title, c.status, c.severity, o.last_seen"
        " FROM unnest(%s::text[], %s::text[]) AS p(type, value)"
        " CROSS JOIN LATERAL (SELECT case_id, last_seen FROM case_observables o"
        "   WHERE o.type = p.type AND o.value = p.value AND o.case_id <> %s"
        "   ORDER BY last_seen DESC LIMIT %s) o"
        " JOIN cases c ON c.id = o.case_id ORDER BY p.type, p.value, o.last_seen DESC",
        ([t for t, _ in pairs], [v for _, v in pairs], exclude, per_value),
    )
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault((row.pop("type"), row.pop("value")), []).append(row)
    return found


def events_from_addresses(
    conn: psycopg.Connection, addresses: Sequence[str], since: datetime, cap: int
) -> dict[str, int]:
    """Security events with each source address since `since`, each counted up to `cap`,
    in one statement (the source_ip index answers it)."""
    if not addresses:
        return {}
    rows = conn.execute(
        "SELECT a.address, (SELECT count(*) FROM (SELECT 1 FROM security_events"
        "   WHERE source_ip = a.address::inet AND time >= %s LIMIT %s) AS seen)"
        " FROM unnest(%s::text[]) AS a(address)",
        (since, cap, list(addresses)),
    ).fetchall()
    return {address: int(count) for address, count in rows}


# ---- tasks ------------------------------------------------------------------------------


def add_tasks(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    tasks: Iterable[tuple[str, str, int, str, str]],
) -> int:
    """(playbook, task, position, title_vi, title_en) added once per case; how many new."""
    added = 0
    for playbook, task, position, title_vi, title_en in tasks:
        cur = conn.execute(
            "INSERT INTO case_tasks (case_id, playbook, task, position, title_vi, title_en)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (case_id, playbook, task, position, title_vi, title_en),
        )
        added += cur.rowcount
    return added


def tasks(conn: psycopg.Connection, case_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT id, playbook, task, title_vi, title_en, done_at, done_by FROM case_tasks"
        # A playbook's tasks together, in its order; playbooks by their `order`, then id.
        " WHERE case_id = %s ORDER BY position / 1000, playbook, position, id LIMIT %s",
        (case_id, limit),
    )


def set_task_done(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    task_id: int,
    done_at: datetime | None,
    done_by: str | None,
) -> dict[str, Any] | None:
    return _one(
        conn,
        "UPDATE case_tasks SET done_at = %s, done_by = %s WHERE case_id = %s AND id = %s"
        " RETURNING id, playbook, task, title_vi, title_en, done_at, done_by",
        (done_at, done_by, case_id, task_id),
    )


def get_task(conn: psycopg.Connection, case_id: uuid.UUID, task_id: int) -> dict[str, Any] | None:
    return _one(
        conn,
        "SELECT id, playbook, task, title_vi, title_en, done_at, done_by FROM case_tasks"
        " WHERE case_id = %s AND id = %s",
        (case_id, task_id),
    )


def task_counts(conn: psycopg.Connection, case_id: uuid.UUID) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*), count(done_at) FROM case_tasks WHERE case_id = %s", (case_id,)
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


# ---- timeline ---------------------------------------------------------------------------


def add_entry(
    conn: psycopg.Connection,
    case_id: uuid.UUID,
    actor: str,
    action: str,
    at: datetime,
    note: str = "",
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO case_timeline (case_id, at, actor, action, note, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (case_id, at, actor, action, note, Jsonb(dict(detail or {}))),
    )


def entries(conn: psycopg.Connection, case_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """The case's own entries (notes, changes), oldest first; the newest `limit`."""
    rows = _rows(
        conn,
        "SELECT id, at, actor, action, note, detail FROM case_timeline WHERE case_id = %s"
        " ORDER BY at DESC, id DESC LIMIT %s",
        (case_id, limit),
    )
    return rows[::-1]


def alerts_for_timeline(
    conn: psycopg.Connection, case_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """The case's alerts with what the timeline shows and finds their events by."""
    return _rows(
        conn,
        "SELECT ca.alert_id AS id, ca.rule, ca.title_vi, ca.title_en, ca.severity,"
        " coalesce(a.started_at, ca.started_at, ca.added_at) AS started_at, a.updated_at,"
        " a.event_ids FROM case_alerts ca LEFT JOIN alerts a ON a.id = ca.alert_id"
        " WHERE ca.case_id = %s ORDER BY 6, 1 LIMIT %s",
        (case_id, limit),
    )
