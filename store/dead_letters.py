"""Dead letters for people: pages with filters, one letter with its bytes and the replays
it took part in, and what a replay records (ingest/replay.py decides; the SQL is here).

Who may see which letter. A dead letter keeps the raw message. Security logs (syslog,
Suricata, CEF, Windows events, EDR) carry user names, addresses and attack traffic: the
same material as security events, which only the CSIRT and admins read. So a letter
counts as *equipment* only when its format is one of the equipment formats below, or it
has no format and did not come over Kafka (Kafka carries security logs only here);
everything else counts as *security*. Defined this way round so that a format added
later is hidden from integrators until someone decides it is equipment data
(tests/unit/test_dead_letter_scope.py makes every registered format be placed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

# Formats whose messages come from equipment (sensors, cameras), not from security logs.
# Integrators read these letters to fix their equipment, so a refused ANPR message shows
# them the plate it carried: a known exposure (docs/cameras.md), smaller than leaving
# camera integrators blind.
# The health department's weekly case reports (epidemic_cases: counts per commune, no
# person) count as equipment too: the department's system posts with an integrator token
# and reads the rows it had refused.
EQUIPMENT_FORMATS = frozenset(
    {"ioc_telemetry", "native_json", "senml", "frigate", "frigate_stats", "frigate_reviews",
     "isapi", "onvif", "epidemic_cases"}
)  # fmt: skip
SECURITY_FORMATS = frozenset(
    {"syslog", "suricata", "cef", "winlog", "edr", "firewall", "web_access", "proxy_access",
     "auditd"}
)  # fmt: skip


class Scope(StrEnum):
    ALL = "all"
    EQUIPMENT = "equipment"


# True for an equipment letter; the parameter is EQUIPMENT_FORMATS as a list.
_EQUIPMENT = "(format = ANY(%(equipment)s) OR (format IS NULL AND transport <> 'kafka'))"

_SUMMARY = (
    "id, received_at, transport, topic, kafka_partition, kafka_offset, format, reason,"
    " payload_size, octet_length(payload) AS stored_size, payload_sha256, replay_count,"
    " last_replayed_at, resolved_at, resolved_by_replay"
)


@dataclass(frozen=True)
class Filters:
    """What selects dead letters; every field optional. `topic` is exact, `topic_prefix`
    a prefix (no wildcard characters to escape), `reason` a case-insensitive substring."""

    transport: str | None = None
    topic: str | None = None
    topic_prefix: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    resolved: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if v is not None
        }


def _where(filters: Filters, scope: Scope) -> tuple[str, dict[str, Any]]:
    clauses = []
    params: dict[str, Any] = {"equipment": sorted(EQUIPMENT_FORMATS)}
    if scope is Scope.EQUIPMENT:
        clauses.append(_EQUIPMENT)
    if filters.transport is not None:
        clauses.append("transport = %(transport)s")
        params["transport"] = filters.transport
    if filters.topic is not None:
        clauses.append("topic = %(topic)s")
        params["topic"] = filters.topic
    if filters.topic_prefix is not None:
        clauses.append("starts_with(topic, %(topic_prefix)s)")
        params["topic_prefix"] = filters.topic_prefix
    if filters.reason is not None:
        # strpos, not LIKE: the text is matched as typed, '%' and '_' included.
        clauses.append("strpos(lower(reason), lower(%(reason)s)) > 0")
        params["reason"] = filters.reason
    if filters.since is not None:
        clauses.append("received_at >= %(since)s")
        params["since"] = filters.since
    if filters.until is not None:
        clauses.append("received_at < %(until)s")
        params["until"] = filters.until
    if filters.resolved is not None:
        clauses.append(f"resolved_at IS {'NOT ' if filters.resolved else ''}NULL")
    return (" AND ".join(clauses) or "TRUE"), params


def _rows(conn: psycopg.Connection, sql: str, params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def page(
    conn: psycopg.Connection,
    filters: Filters,
    scope: Scope,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first by received_at, id breaking ties; `after` is the previous page's last
    (received_at, id). Payloads are left out: a page of 1 MiB letters would be huge."""
    where, params = _where(filters, scope)
    if after is not None:
        where += " AND (received_at, id) < (%(after_time)s, %(after_id)s)"
        params.update(after_time=after[0], after_id=after[1])
    params["limit"] = limit
    return _rows(
        conn,
        f"SELECT {_SUMMARY} FROM dead_letters WHERE {where}"
        " ORDER BY received_at DESC, id DESC LIMIT %(limit)s",
        params,
    )


def get(conn: psycopg.Connection, letter_id: str, scope: Scope) -> dict[str, Any] | None:
    """One letter with its payload, or None (also when the scope may not see it)."""
    where, params = _where(Filters(), scope)
    params["id"] = letter_id
    rows = _rows(
        conn,
        f"SELECT {_SUMMARY}, payload FROM dead_letters WHERE id = %(id)s AND {where}",
        params,
    )
    return rows[0] if rows else None


def replays_of(conn: psycopg.Connection, letter_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The replays a letter took part in, newest first."""
    return _rows(
        conn,
        "SELECT r.id AS replay_id, r.requested_by, r.requested_at, i.outcome, i.reason"
        " FROM dead_letter_replay_items i JOIN dead_letter_replays r ON r.id = i.replay_id"
        " WHERE i.dead_letter_id = %s ORDER BY r.id DESC LIMIT %s",
        (letter_id, limit),
    )


def select_ids(conn: psycopg.Connection, filters: Filters, scope: Scope, limit: int) -> list[str]:
    """Up to `limit` ids matching `filters`, oldest first (the order they arrived in)."""
    where, params = _where(filters, scope)
    params["limit"] = limit
    rows = conn.execute(
        f"SELECT id FROM dead_letters WHERE {where} ORDER BY received_at, id LIMIT %(limit)s",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def visible_ids(conn: psycopg.Connection, ids: Sequence[str], scope: Scope) -> list[str]:
    """Those of `ids` that exist and `scope` may see, oldest first."""
    where, params = _where(Filters(), scope)
    params["ids"] = list(ids)
    rows = conn.execute(
        f"SELECT id FROM dead_letters WHERE id = ANY(%(ids)s) AND {where} ORDER BY received_at, id",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def stored_sizes(conn: psycopg.Connection, ids: Sequence[str]) -> dict[str, int]:
    """Bytes kept per letter, so a replay can load its letters in bounded chunks."""
    rows = conn.execute(
        "SELECT id, octet_length(payload) FROM dead_letters WHERE id = ANY(%s)", (list(ids),)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def lock_for_replay(conn: psycopg.Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The letters with their payloads, locked until the transaction ends: two replays
    of one letter take turns, so its counters and outcome stay right."""
    return _rows(
        conn,
        "SELECT id, received_at, transport, topic, kafka_partition, kafka_offset, format,"
        " payload, payload_size, resolved_at FROM dead_letters WHERE id = ANY(%s)"
        " ORDER BY received_at, id FOR UPDATE",
        (list(ids),),
    )


def start_replay(
    conn: psycopg.Connection, actor: str, selection: dict[str, Any], selected: int
) -> int:
    row = conn.execute(
        "INSERT INTO dead_letter_replays (requested_by, selection, selected, stored,"
        " still_failing) VALUES (%s, %s, %s, 0, 0) RETURNING id",
        (actor, Jsonb(selection), selected),
    ).fetchone()
    assert row is not None
    return int(row[0])


def mark_stored(conn: psycopg.Connection, replay_id: int, ids: Sequence[str]) -> None:
    """The letters decode now and their events are written: resolved by this replay
    (the first replay that stored a letter keeps the credit)."""
    if not ids:
        return
    conn.execute(
        "UPDATE dead_letters SET replay_count = replay_count + 1, last_replayed_at = now(),"
        " resolved_at = coalesce(resolved_at, now()),"
        " resolved_by_replay = coalesce(resolved_by_replay, %s) WHERE id = ANY(%s)",
        (replay_id, list(ids)),
    )
    _items(conn, replay_id, [(i, "stored", None) for i in ids])
    conn.execute(
        "UPDATE dead_letter_replays SET stored = stored + %s WHERE id = %s", (len(ids), replay_id)
    )


def mark_failing(
    conn: psycopg.Connection,
    replay_id: int,
    failures: Sequence[tuple[str, str, str | None]],
    *,
    new_reason: bool = True,
) -> None:
    """(id, reason, format) of letters that still fail. With `new_reason` the letter
    takes the reason of today's decoders (unless it was resolved before: its events are
    stored, so its row keeps saying what once went wrong); without, only the replay item
    says why (a letter that cannot be replayed at all keeps its own reason)."""
    if not failures:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE dead_letters SET replay_count = replay_count + 1, last_replayed_at = now(),"
            " reason = CASE WHEN %s AND resolved_at IS NULL THEN %s ELSE reason END,"
            " format = CASE WHEN %s AND resolved_at IS NULL THEN %s ELSE format END"
            " WHERE id = %s",
            [(new_reason, reason, new_reason, fmt, i) for i, reason, fmt in failures],
        )
    _items(conn, replay_id, [(i, "still_failing", reason) for i, reason, _ in failures])
    conn.execute(
        "UPDATE dead_letter_replays SET still_failing = still_failing + %s WHERE id = %s",
        (len(failures), replay_id),
    )


def _items(
    conn: psycopg.Connection, replay_id: int, items: Sequence[tuple[str, str, str | None]]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dead_letter_replay_items (replay_id, dead_letter_id, outcome, reason)"
            " VALUES (%s, %s, %s, %s)",
            [(replay_id, i, outcome, reason) for i, outcome, reason in items],
        )


def get_replay(conn: psycopg.Connection, replay_id: int) -> dict[str, Any] | None:
    """A replay record with its items (in the order the letters were replayed)."""
    rows = _rows(
        conn,
        "SELECT id, requested_by, requested_at, selection, selected, stored, still_failing"
        " FROM dead_letter_replays WHERE id = %s",
        (replay_id,),
    )
    if not rows:
        return None
    record = rows[0]
    record["items"] = _rows(
        conn,
        "SELECT i.dead_letter_id, i.outcome, i.reason FROM dead_letter_replay_items i"
        " LEFT JOIN dead_letters d ON d.id = i.dead_letter_id WHERE i.replay_id = %s"
        " ORDER BY d.received_at NULLS LAST, i.dead_letter_id",
        (replay_id,),
    )
    return record
