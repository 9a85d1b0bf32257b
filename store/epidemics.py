"""SQL of the epidemics domain: weekly case counts, loaded baselines, report dead letters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import psycopg

from events.ids import stable_id

MAX_LETTER_BYTES = 1 << 20


def upsert_cases(
    conn: psycopg.Connection, rows: Iterable[tuple[str, str, int, int, int]], source: str
) -> int:
    """(commune, disease, iso_year, iso_week, cases); a re-sent week replaces its count."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO epidemic_cases (commune, disease, iso_year, iso_week, cases, source)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (commune, disease, iso_year, iso_week)"
            " DO UPDATE SET cases = EXCLUDED.cases, source = EXCLUDED.source,"
            " received_at = now()",
            [(*row, source) for row in rows],
        )
        return cur.rowcount


def clear_commune(conn: psycopg.Connection, commune: str, disease: str) -> int:
    """Every stored week of one commune and disease (a simulator's fresh start)."""
    return conn.execute(
        "DELETE FROM epidemic_cases WHERE commune = %s AND disease = %s", (commune, disease)
    ).rowcount


def newest_week(conn: psycopg.Connection, commune: str, disease: str) -> tuple[int, int] | None:
    row = conn.execute(
        "SELECT iso_year, iso_week FROM epidemic_cases WHERE commune = %s AND disease = %s"
        " ORDER BY iso_year DESC, iso_week DESC LIMIT 1",
        (commune, disease),
    ).fetchone()
    return (row[0], row[1]) if row else None


def history(
    conn: psycopg.Connection, commune: str, disease: str, first_year: int, last_year: int
) -> dict[tuple[int, int], float]:
    """Weekly counts of one commune and disease in ISO years first..last (inclusive)."""
    rows = conn.execute(
        "SELECT iso_year, iso_week, cases FROM epidemic_cases"
        " WHERE commune = %s AND disease = %s AND iso_year BETWEEN %s AND %s",
        (commune, disease, first_year, last_year),
    ).fetchall()
    return {(y, w): float(c) for y, w, c in rows}


def loaded_baseline(
    conn: psycopg.Connection, commune: str, disease: str, iso_week: int
) -> tuple[float, float, int] | None:
    row = conn.execute(
        "SELECT mean, sd, years FROM epidemic_baselines"
        " WHERE commune = %s AND disease = %s AND iso_week = %s",
        (commune, disease, iso_week),
    ).fetchone()
    return (float(row[0]), float(row[1]), int(row[2])) if row else None


def upsert_baselines(
    conn: psycopg.Connection,
    rows: Iterable[tuple[str, str, int, float, float, int]],
    source: str,
) -> int:
    """(commune, disease, iso_week, mean, sd, years)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO epidemic_baselines (commune, disease, iso_week, mean, sd, years, source)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (commune, disease, iso_week) DO UPDATE SET mean = EXCLUDED.mean,"
            " sd = EXCLUDED.sd, years = EXCLUDED.years, source = EXCLUDED.source,"
            " loaded_at = now()",
            [(*row, source) for row in rows],
        )
        return cur.rowcount


def insert_dead_letters(
    conn: psycopg.Connection,
    letters: Sequence[tuple[bytes, str]],
    *,
    transport: str,
    topic: str,
    fmt: str,
) -> list[str]:
    """One dead letter per (payload, reason); their ids (the same bytes on the same topic
    are the same letter, as for MQTT messages)."""
    now = datetime.now(UTC)
    ids, rows = [], []
    for payload, reason in letters:
        letter_id = stable_id(transport, topic, payload)
        ids.append(letter_id)
        rows.append(
            (
                letter_id, now, transport, topic, None, None, fmt, reason[:1000],
                payload[:MAX_LETTER_BYTES], len(payload), hashlib.sha256(payload).hexdigest(),
            )
        )  # fmt: skip
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (id, received_at, transport, topic, kafka_partition,"
                " kafka_offset, format, reason, payload, payload_size, payload_sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                rows,
            )
    return ids
