"""Camera events for people: one keyset page, newest first, within a time range.

A Frigate event stored before migration 14 has no snapshot reference but may have a
snapshot (`has_snapshot`): its reference is the one decoders give today,
`frigate:<event id>`. Plates are not shown here: they live in plate_reads (personal
data, kept for a limited time), and `attributes` may hold Frigate's sub_label (a
recognised plate or face name), so neither column is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

_COLUMNS = (
    "time, event_id, source, camera, event_type, state, label, score, top_score, zones,"
    " end_time, frame_time, has_snapshot, false_positive,"
    " COALESCE(snapshot, CASE WHEN has_snapshot AND source = 'frigate'"
    " THEN 'frigate:' || event_id END) AS snapshot"
)


@dataclass(frozen=True)
class EventFilter:
    """Events that started in [since, until), optionally of one camera and one type."""

    since: datetime
    until: datetime
    camera: str | None = None
    event_type: str | None = None


def events_page(
    conn: psycopg.Connection,
    where: EventFilter,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first (time, then event id); `after` is the previous page's last key."""
    clauses = ["time >= %(since)s", "time < %(until)s"]
    params: dict[str, Any] = {"since": where.since, "until": where.until, "limit": limit}
    if where.camera is not None:
        clauses.append("camera = %(camera)s")
        params["camera"] = where.camera
    if where.event_type is not None:
        clauses.append("event_type = %(event_type)s")
        params["event_type"] = where.event_type
    if after is not None:
        clauses.append("(time, event_id) < (%(after_time)s, %(after_id)s)")
        params.update(after_time=after[0], after_id=after[1])
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM camera_events WHERE {' AND '.join(clauses)}"
            " ORDER BY time DESC, event_id DESC LIMIT %(limit)s",
            params,
        )
        return cur.fetchall()
