"""SQL of the public warnings (issued CAP messages; migration 18).

Readers: the feed (api/public/warnings_feed.py), open data (`active_public_warnings`),
the operators' router and CLI, reports. Writer: processors/alerts/public/issuer.py
through `insert_message`, in the transaction of its decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

# Every column but the signed document, for lists.
COLUMNS = (
    "identifier", "incident", "alert_id", "msg_type", "status", "kind", "level", "severity",
    "province", "district", "headline_vi", "headline_en", "sent", "expires", "manual",
    "reason", "issued_by", "alert_version",
)  # fmt: skip
_LIST = ", ".join(COLUMNS)
CAP_PATH = "/public/cap/{identifier}.xml"
# No message is issued for longer than this (policy.yaml caps expires_after_hours).
MAX_LIFETIME = timedelta(days=14)


def _rows(conn: psycopg.Connection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def insert_message(conn: psycopg.Connection, row: dict[str, Any]) -> None:
    names = [*COLUMNS, "cap_xml"]
    row = {"province": "", "district": "", "manual": False, **row}
    conn.execute(
        f"INSERT INTO public_warnings ({', '.join(names)})"
        f" VALUES ({', '.join(['%s'] * len(names))})",
        [row.get(name) for name in names],
    )


def get_message(conn: psycopg.Connection, identifier: str) -> dict[str, Any] | None:
    rows = _rows(
        conn, f"SELECT {_LIST}, cap_xml FROM public_warnings WHERE identifier = %s", (identifier,)
    )
    return rows[0] if rows else None


def incident_messages(conn: psycopg.Connection, incident: str) -> list[dict[str, Any]]:
    """Every message of an incident, oldest first."""
    return _rows(
        conn,
        f"SELECT {_LIST} FROM public_warnings WHERE incident = %s ORDER BY sent, recorded_at",
        (incident,),
    )


_LATEST = f"""
SELECT DISTINCT ON (incident) {_LIST}{{extra}} FROM public_warnings
 WHERE {{where}}
 ORDER BY incident, sent DESC, recorded_at DESC
"""


def open_alert_incidents(conn: psycopg.Connection, lapsed_after: datetime) -> list[dict[str, Any]]:
    """The latest message of each incident made from an alert and not cancelled yet
    (expired ones too, so the job cancels or renews them, unless they lapsed before
    `lapsed_after`: an incident whose alert is gone is left to lapse, not carried on)."""
    where = "alert_id IS NOT NULL AND status = 'Actual' AND sent > %s"
    rows = _rows(conn, _LATEST.format(extra="", where=where), (lapsed_after - MAX_LIFETIME,))
    return [r for r in rows if r["msg_type"] != "Cancel" and r["expires"] > lapsed_after]


def latest_of_incident(conn: psycopg.Connection, incident: str) -> dict[str, Any] | None:
    rows = _rows(conn, _LATEST.format(extra="", where="incident = %s"), (incident,))
    return rows[0] if rows else None


def active_public_warnings(
    conn: psycopg.Connection,
    *,
    province: str | None = None,
    district: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The latest message of each incident when it is an Actual Alert or Update that has
    not expired at `at` (now; messages sent later are not seen), newest first; each with
    `cap_url`, its public path. Test and Exercise messages never appear here (open data
    serves this)."""
    at = at or datetime.now(UTC)
    sql = f"""
    SELECT * FROM ({_LATEST.format(extra="", where="status = 'Actual' AND sent <= %s")}) AS l
     WHERE msg_type <> 'Cancel' AND expires > %s
       AND (%s::text IS NULL OR province = %s) AND (%s::text IS NULL OR district = %s)
     ORDER BY sent DESC
    """
    rows = _rows(conn, sql, (at, at, province, province, district, district))
    for row in rows:
        row.pop("alert_version", None)
        row["cap_url"] = CAP_PATH.format(identifier=row["identifier"])
    return rows


def feed_entries(
    conn: psycopg.Connection,
    *,
    limit: int,
    province: str | None = None,
    district: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """What the Atom feed lists: the latest message of each incident that is in force at
    `at` (Alert/Update not expired, Test not expired) or was cancelled within the
    `expires` of its Cancel (so aggregators see the all-clear), newest first, at most
    `limit`."""
    at = at or datetime.now(UTC)
    sql = f"""
    SELECT * FROM ({_LATEST.format(extra="", where="sent <= %s")}) AS latest
     WHERE expires > %s
       AND (%s::text IS NULL OR province = %s) AND (%s::text IS NULL OR district = %s)
     ORDER BY sent DESC LIMIT %s
    """
    return _rows(conn, sql, (at, at, province, province, district, district, limit))


def list_messages(
    conn: psycopg.Connection,
    *,
    limit: int = 50,
    incident: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Issued messages, newest first (operators' list)."""
    return _rows(
        conn,
        f"SELECT {_LIST} FROM public_warnings"
        " WHERE (%s::text IS NULL OR incident = %s) AND (%s::text IS NULL OR status = %s)"
        " ORDER BY sent DESC, recorded_at DESC LIMIT %s",
        (incident, incident, status, status, limit),
    )


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def candidate_alerts(
    conn: psycopg.Connection, prefixes: Sequence[str], alert_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Open alerts whose rule starts with one of `prefixes`, plus the alerts named (those
    with an open incident, resolved or not), with their station's place."""
    patterns = [_like_prefix(p) for p in prefixes]
    return _rows(
        conn,
        """
        SELECT a.id, a.rule, a.domain, a.status, a.severity, a.labels, a.alert_values,
               a.title_vi, a.title_en, a.started_at, a.updated_at, a.resolved_at,
               d.name AS device_name, d.lat AS device_lat, d.lon AS device_lon,
               d.province AS device_province, d.district AS device_district
          FROM alerts a
          LEFT JOIN devices d ON d.id = a.labels->>'device_id'
         WHERE (a.status <> 'resolved' AND a.rule LIKE ANY (%s))
            OR a.id = ANY (%s)
         ORDER BY a.started_at
         LIMIT 2000
        """,
        (patterns, list(alert_ids)),
    )


def latest_by_alert(
    conn: psycopg.Connection, alert_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The newest Actual message made from each of these alerts."""
    rows = _rows(
        conn,
        f"SELECT DISTINCT ON (alert_id) {_LIST} FROM public_warnings"
        " WHERE alert_id = ANY (%s) AND status = 'Actual'"
        " ORDER BY alert_id, sent DESC, recorded_at DESC",
        (list(alert_ids),),
    )
    return {row["alert_id"]: row for row in rows}
