"""Bring `taxii_objects` in line with the cases marked shared.

Run before every TAXII read (api/taxii/) and by the alert service's job, so a case
shared, changed, re-classified, re-marked or unshared is seen at once, and its objects
get a `date_added` near the moment it changed even when nobody reads. One publisher at a
time (a transaction-scoped advisory lock); a reader that finds it taken reads what is
committed, which is safe: what the running publisher adds gets later `date_added`s, so a
consumer's next `added_after` still finds it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import stix2
from stix2.exceptions import STIXError

from processors.taxii import tlp
from processors.taxii.stix import SharedCase, case_objects, global_objects
from store import taxii as store

log = logging.getLogger(__name__)

# Cases published per run: a backlog (many cases shared at once) is worked off over a
# few reads instead of holding one request for long.
MAX_CASES = 100


@dataclass(frozen=True, slots=True)
class SyncReport:
    published: int = 0
    withdrawn: int = 0
    busy: bool = False  # another publisher held the lock


def _version(document: dict[str, Any]) -> datetime | None:
    stamp = document.get("modified") or document.get("created")
    return stix2.utils.parse_into_datetime(stamp) if stamp else None


def stored(objects: Iterable[Any], rank: int | None = None) -> list[store.StoredObject]:
    """stix2 objects as rows; `rank` None: a marking definition's own level, else 0."""
    rows = []
    for obj in objects:
        document = stix2.serialization.serialize(obj, sort_keys=True)
        parsed: dict[str, Any] = json.loads(document)
        own = rank
        if own is None:
            tlp2 = parsed.get("extensions", {}).get(tlp.TLP2_EXTENSION, {}).get("tlp_2_0")
            own = tlp.RANK.get(tlp2, 0) if tlp2 else 0
        rows.append(store.StoredObject(obj.id, obj.type, _version(parsed), own, parsed))
    return rows


def _objects(
    conn: psycopg.Connection, row: dict[str, Any], identity: stix2.v21.Identity
) -> list[store.StoredObject]:
    """The case's rows; none (it is recorded as published, with nothing) when stix2
    refuses what it holds, so one bad case neither blocks the others nor is retried
    until it changes."""
    observables, alerts = store.case_material(conn, row["id"])
    case = SharedCase.from_rows(row, observables, alerts)
    try:
        return stored(case_objects(case, identity), tlp.rank(case.tlp))
    except (STIXError, ValueError) as error:
        log.warning("TAXII: case %s not published: %s", row["id"], str(error)[:300])
        return []


def sync(
    conn: psycopg.Connection, identity: stix2.v21.Identity, limit: int = MAX_CASES
) -> SyncReport:
    with conn.transaction():
        if not store.try_publish_lock(conn):
            return SyncReport(busy=True)
        store.ensure_global(conn, stored(global_objects(identity)))
        withdrawn = store.withdrawn_cases(conn)
        for case_id in withdrawn:
            store.withdraw_case(conn, case_id)
        changed = store.changed_cases(conn, limit)
        for row in changed:
            store.publish_case(conn, row, _objects(conn, row, identity))
    if changed or withdrawn:
        log.info("TAXII: %d case(s) published, %d withdrawn", len(changed), len(withdrawn))
    return SyncReport(len(changed), len(withdrawn))
