"""SQL of the TAXII 2.1 server and pull (api/taxii/, processors/taxii/, migration 23).

Consumers' secrets are random 256-bit tokens shown once; only their SHA-256 is kept
(a fast hash is right for random tokens: m0004_api_users says why). Objects are read
through `objects_page`: the visible rows (TLP at most the collection's ceiling; an
object shared by two cases, an address seen in both, counted once), in (date_added, id)
order, from a keyset cursor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

SECRET_BYTES = 32
NIL_CASE = uuid.UUID(int=0)  # objects of no case: the identity, the TLP markings
# Any constant: every process that publishes must use the same one.
PUBLISH_LOCK = 7_302_114_023
_NAME = re.compile(r"^[\w.@-]{1,64}$")
ALIAS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    collections: frozenset[str] | None  # aliases; None: every collection

    def may_read(self, alias: str) -> bool:
        return self.collections is None or alias in self.collections


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    alias: str
    title: str
    description: str
    tlp_ceiling: str


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# ---- collections ----------------------------------------------------------------------


def _collection(row: dict[str, Any]) -> Collection:
    return Collection(
        str(row["id"]), row["alias"], row["title"], row["description"], row["tlp_ceiling"]
    )


def list_collections(conn: psycopg.Connection) -> list[Collection]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, alias, title, description, tlp_ceiling FROM taxii_collections"
            " ORDER BY alias"
        ).fetchall()
    return [_collection(r) for r in rows]


def find_collection(conn: psycopg.Connection, key: str) -> Collection | None:
    """By id (a UUID) or alias."""
    try:
        as_id: uuid.UUID | None = uuid.UUID(key)
    except ValueError:
        as_id = None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT id, alias, title, description, tlp_ceiling FROM taxii_collections"
            " WHERE id = %s OR alias = %s",
            (as_id, key),
        ).fetchone()
    return _collection(row) if row else None


def add_collection(
    conn: psycopg.Connection, alias: str, title: str, tlp_ceiling: str, description: str = ""
) -> Collection:
    if not ALIAS.fullmatch(alias):
        raise ValueError(f"alias {alias!r}: 1-64 of a-z, 0-9, '_' or '-', starting alnum")
    new_id = uuid.uuid4()
    row = conn.execute(
        "INSERT INTO taxii_collections (id, alias, title, description, tlp_ceiling)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (alias) DO NOTHING RETURNING id",
        (new_id, alias, title, description, tlp_ceiling),
    ).fetchone()
    if row is None:
        raise ValueError(f"a collection with alias {alias!r} exists already")
    return Collection(str(new_id), alias, title, description, tlp_ceiling)


# ---- consumers ------------------------------------------------------------------------


def add_consumer(
    conn: psycopg.Connection,
    name: str,
    collections: Sequence[str] | None = None,
    created_by: str = "cli",
) -> tuple[Consumer, str]:
    """A consumer and its secret, which is not stored and cannot be shown again.
    `collections`: aliases it may read (each must exist); None or empty: all."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"consumer name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'")
    wanted = sorted(set(collections or ())) or None
    if wanted:
        known = {c.alias for c in list_collections(conn)}
        missing = [a for a in wanted if a not in known]
        if missing:
            raise ValueError(f"no such collection: {', '.join(missing)}")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    row = conn.execute(
        "INSERT INTO taxii_consumers (name, secret_sha256, collections, created_by)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
        (name, secret_digest(secret), wanted, created_by),
    ).fetchone()
    if row is None:
        raise ValueError(f"a consumer named {name!r} exists already (revoked ones keep it)")
    return Consumer(name, frozenset(wanted) if wanted else None), secret


def list_consumers(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT name, collections, created, created_by, revoked_at FROM taxii_consumers"
            " ORDER BY name"
        ).fetchall()


def revoke_consumer(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "UPDATE taxii_consumers SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        " RETURNING id",
        (name,),
    ).fetchone()
    return row is not None


def consumer_for(conn: psycopg.Connection, name: str, secret: str) -> Consumer | None:
    """The active consumer with this name and secret, else None."""
    row = conn.execute(
        "SELECT secret_sha256, collections FROM taxii_consumers"
        " WHERE name = %s AND revoked_at IS NULL",
        (name,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[0]), secret_digest(secret)):
        return None
    return Consumer(name, frozenset(row[1]) if row[1] is not None else None)


# ---- publishing -----------------------------------------------------------------------


def try_publish_lock(conn: psycopg.Connection) -> bool:
    """Inside a transaction: the publishing lock until it ends, or False if taken."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PUBLISH_LOCK,)).fetchone()
    return bool(row and row[0])


def changed_cases(conn: psycopg.Connection, limit: int) -> list[dict[str, Any]]:
    """Shared cases not published as they are now, oldest change first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT c.id, c.title, c.description, c.severity, c.tlp, c.status,"
            " c.classification, c.created, c.updated"
            " FROM cases c LEFT JOIN taxii_published p ON p.case_id = c.id"
            " WHERE c.shared AND (p.case_id IS NULL OR p.case_updated <> c.updated"
            "   OR p.tlp <> c.tlp)"
            " ORDER BY c.updated, c.id LIMIT %s",
            (limit,),
        ).fetchall()


def withdrawn_cases(conn: psycopg.Connection) -> list[uuid.UUID]:
    """Published cases that are no longer shared (or no longer exist)."""
    rows = conn.execute(
        "SELECT p.case_id FROM taxii_published p LEFT JOIN cases c ON c.id = p.case_id"
        " WHERE c.id IS NULL OR NOT c.shared"
    ).fetchall()
    return [r[0] for r in rows]


def case_material(conn: psycopg.Connection, case_id: Any) -> tuple[list[dict[str, Any]], int]:
    """A case's observables and how many alerts it holds."""
    with conn.cursor(row_factory=dict_row) as cur:
        observables = cur.execute(
            "SELECT type, value, first_seen, last_seen, sightings FROM case_observables"
            " WHERE case_id = %s ORDER BY type, value",
            (case_id,),
        ).fetchall()
    row = conn.execute("SELECT count(*) FROM case_alerts WHERE case_id = %s", (case_id,)).fetchone()
    return observables, int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class StoredObject:
    id: str
    type: str
    version: datetime | None  # modified, else created; None: no version (an SCO)
    tlp_rank: int
    document: dict[str, Any]


def _insert(conn: psycopg.Connection, case_id: Any, objects: Iterable[StoredObject]) -> None:
    # clock_timestamp(), not now(): under the publishing lock every row added later has
    # a later date_added than every row of an earlier publication (now() is the
    # transaction's start, which may be before an earlier publication committed).
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO taxii_objects (case_id, id, type, version, date_added, tlp_rank, object)"
            " VALUES (%s, %s, %s, coalesce(%s, clock_timestamp()), clock_timestamp(), %s, %s)"
            " ON CONFLICT (case_id, id) DO NOTHING",
            [
                (case_id, o.id, o.type, o.version, o.tlp_rank, orjson.dumps(o.document).decode())
                for o in objects
            ],
        )


def ensure_global(conn: psycopg.Connection, objects: Iterable[StoredObject]) -> None:
    """Objects of no case, added once."""
    _insert(conn, NIL_CASE, objects)


def publish_case(
    conn: psycopg.Connection, case: dict[str, Any], objects: Sequence[StoredObject]
) -> None:
    conn.execute("DELETE FROM taxii_objects WHERE case_id = %s", (case["id"],))
    _insert(conn, case["id"], objects)
    conn.execute(
        "INSERT INTO taxii_published (case_id, case_updated, tlp) VALUES (%s, %s, %s)"
        " ON CONFLICT (case_id) DO UPDATE SET case_updated = excluded.case_updated,"
        " tlp = excluded.tlp, published_at = clock_timestamp()",
        (case["id"], case["updated"], case["tlp"]),
    )


def withdraw_case(conn: psycopg.Connection, case_id: Any) -> None:
    conn.execute("DELETE FROM taxii_objects WHERE case_id = %s", (case_id,))
    conn.execute("DELETE FROM taxii_published WHERE case_id = %s", (case_id,))


# ---- reading --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectQuery:
    ceiling: int  # TLP rank
    added_after: datetime | None = None
    after: tuple[datetime, str] | None = None  # the cursor: (date_added, id) last given
    types: Sequence[str] | None = None
    ids: Sequence[str] | None = None
    versions: Sequence[datetime] | None = None  # None: any (we keep one version)
    limit: int = 100


_VISIBLE = """
WITH visible AS (
    SELECT DISTINCT ON (id) id, type, spec_version, version, date_added, object
    FROM taxii_objects
    WHERE tlp_rank <= %(ceiling)s
      AND (%(types)s::text[] IS NULL OR type = ANY(%(types)s::text[]))
      AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
    ORDER BY id, date_added DESC
)
SELECT id, type, spec_version, version, date_added, {columns},
       object->>'modified' AS modified_text, object->>'created' AS created_text
FROM visible
WHERE (%(added_after)s::timestamptz IS NULL OR date_added > %(added_after)s::timestamptz)
  AND (%(after_t)s::timestamptz IS NULL
       OR (date_added, id) > (%(after_t)s::timestamptz, %(after_id)s::text))
  AND (%(versions)s::timestamptz[] IS NULL OR version = ANY(%(versions)s::timestamptz[]))
ORDER BY date_added, id
LIMIT %(limit)s
"""


def objects_page(
    conn: psycopg.Connection, query: ObjectQuery, *, with_objects: bool = True
) -> tuple[list[dict[str, Any]], bool]:
    """Up to query.limit rows and whether more follow."""
    sql = _VISIBLE.format(columns="object" if with_objects else "NULL AS object")
    params = {
        "ceiling": query.ceiling,
        "types": list(query.types) if query.types is not None else None,
        "ids": list(query.ids) if query.ids is not None else None,
        "added_after": query.added_after,
        "after_t": query.after[0] if query.after else None,
        "after_id": query.after[1] if query.after else None,
        "versions": list(query.versions) if query.versions is not None else None,
        "limit": query.limit + 1,
    }
    # Bounded: a page is at most the limit, and the read has a timeout of its own.
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SET LOCAL statement_timeout = '10s'")
        rows = cur.execute(sql, params).fetchall()
    return rows[: query.limit], len(rows) > query.limit


# ---- pulls ----------------------------------------------------------------------------


def pull_state(conn: psycopg.Connection, source: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM taxii_pulls WHERE source = %s", (source,)).fetchone()


def record_pull(
    conn: psycopg.Connection,
    source: str,
    at: datetime,
    *,
    indicators: int = 0,
    problems: int = 0,
    digest: str | None = None,
    error: str | None = None,
) -> None:
    """A pull's outcome; a failed one keeps the last good counts and digest."""
    conn.execute(
        "INSERT INTO taxii_pulls (source, pulled_at, ok_at, indicators, problems, digest, error)"
        " VALUES (%(s)s, %(at)s, CASE WHEN %(e)s::text IS NULL THEN %(at)s END,"
        "  %(i)s, %(p)s, %(d)s, %(e)s)"
        " ON CONFLICT (source) DO UPDATE SET pulled_at = excluded.pulled_at,"
        " error = excluded.error,"
        " ok_at = coalesce(excluded.ok_at, taxii_pulls.ok_at),"
        " indicators = CASE WHEN excluded.error IS NULL THEN excluded.indicators"
        "   ELSE taxii_pulls.indicators END,"
        " problems = CASE WHEN excluded.error IS NULL THEN excluded.problems"
        "   ELSE taxii_pulls.problems END,"
        " digest = coalesce(excluded.digest, taxii_pulls.digest)",
        {"s": source, "at": at, "i": indicators, "p": problems, "d": digest, "e": error},
    )
