"""SQL of the agencies: log sources last heard from, and the per-agency summary.

An event's agency is `ecs->'organization'->>'id'` and its log source
`ecs->'labels'->>'log_source'` (set on the way in, config/agencies.py); a security
alert's agency is `labels->>'agency'` (processors/agencies/labels.py). Migration 24.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

SILENT_RULE = "security.log_source_silent"
# A source with no stored last-seen time is looked for this far back: the job's first
# run after deployment (or after a source is added) finds it without scanning all of
# security_events' retention.
FIRST_LOOKBACK = timedelta(days=30)
# A summary's reads are bounded by its window (at most 31 days, api/routers/agencies.py);
# this caps what one request can cost the database.
SUMMARY_TIMEOUT_MS = 10_000


def newest_seen(
    conn: psycopg.Connection[Any], sources: Sequence[str], now: datetime
) -> dict[str, datetime]:
    """Each source's newest event time: stored, or newer from security_events (one index
    probe per source, from the stored time on). Event times after `now` (a sender's
    clock ahead) count as `now`: a source is alive when it speaks, whatever it dates."""
    ids = sorted(set(sources))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT s.id, seen.last_seen, ("
        "   SELECT max(e.time) FROM security_events e"
        "   WHERE (e.ecs -> 'labels' ->> 'log_source') = s.id"
        "     AND e.time > coalesce(seen.last_seen, %(first)s))"
        " FROM unnest(%(ids)s::text[]) AS s(id)"
        " LEFT JOIN log_source_seen seen ON seen.source_id = s.id",
        {"ids": ids, "first": now - FIRST_LOOKBACK},
    ).fetchall()
    # In Python: SQL's least() and greatest() skip NULLs, and "never seen" must stay None.
    out = {}
    for source, stored, found in rows:
        times = [t for t in (stored, None if found is None else min(found, now)) if t is not None]
        if times:
            out[source] = max(times)
    return out


def store_seen(
    conn: psycopg.Connection[Any], seen: dict[str, tuple[str, datetime]], now: datetime
) -> None:
    """seen: source id -> (agency id, last seen). Never moves a time back."""
    ids = sorted(seen)
    if not ids:
        return
    conn.execute(
        "INSERT INTO log_source_seen (source_id, agency_id, last_seen, checked_at)"
        " SELECT s, a, t, %s FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS u(s, a, t)"
        " ON CONFLICT (source_id) DO UPDATE SET agency_id = excluded.agency_id,"
        " last_seen = greatest(log_source_seen.last_seen, excluded.last_seen),"
        " checked_at = excluded.checked_at",
        (now, ids, [seen[i][0] for i in ids], [seen[i][1] for i in ids]),
    )


def last_seen(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    return dict(conn.execute("SELECT source_id, last_seen FROM log_source_seen").fetchall())


def open_silent(conn: psycopg.Connection[Any]) -> dict[str, dict[str, str]]:
    """Open silent-source alerts: log source id -> the alert's labels."""
    rows = conn.execute(
        "SELECT labels FROM alerts WHERE rule = %s AND status <> 'resolved'", (SILENT_RULE,)
    )
    return {labels["log_source"]: labels for (labels,) in rows if labels.get("log_source")}


def summary_counts(
    conn: psycopg.Connection[Any], agency_id: str, since: datetime, until: datetime
) -> dict[str, int]:
    """Malware detections and firewall blocks among the agency's events of the window,
    its open security alerts and its open incidents (cases holding one of its alerts)."""
    conn.execute(f"SET LOCAL statement_timeout = {SUMMARY_TIMEOUT_MS}")
    cur = conn.cursor(row_factory=dict_row)
    events = cur.execute(
        "SELECT"
        " count(*) FILTER (WHERE 'malware' = ANY(category)) AS malware_detections,"
        " count(*) FILTER (WHERE 'network' = ANY(category)"
        "   AND NOT 'malware' = ANY(category)"
        "   AND (ecs -> 'event' -> 'type') @> '[\"denied\"]'::jsonb) AS firewall_blocks,"
        " count(*) AS security_events"
        " FROM security_events"
        " WHERE time >= %s AND time < %s AND (ecs -> 'organization' ->> 'id') = %s",
        (since, until, agency_id),
    ).fetchone()
    alerts = cur.execute(
        "SELECT count(*) AS open_alerts FROM alerts"
        " WHERE domain = 'security' AND (labels ->> 'agency') = %s AND status <> 'resolved'",
        (agency_id,),
    ).fetchone()
    incidents = cur.execute(
        "SELECT count(DISTINCT c.id) AS open_incidents FROM cases c"
        " JOIN case_alerts ca ON ca.case_id = c.id"
        " JOIN alerts a ON a.id = ca.alert_id"
        " WHERE c.status <> 'closed' AND a.domain = 'security' AND (a.labels ->> 'agency') = %s",
        (agency_id,),
    ).fetchone()
    assert events is not None and alerts is not None and incidents is not None
    return {**events, **alerts, **incidents}
