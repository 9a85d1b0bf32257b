"""Device secrets: MQTT logins for the broker's password file and HTTP ingest tokens.

Only hashes are stored (see m0013_integrators). A secret is live while it is neither
revoked nor past its `expires_at` (the end of a rotation's grace period) and its device
is not disabled. The broker learns of changes when its password file is rewritten from
`live_mqtt_accounts` (stack.mosquitto_auth.sync_accounts).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

HTTP_TOKEN_BYTES = 32
# `~` never occurs in a device id (ingest.provisioning.DEVICE_ID_PATTERN), so a second
# login of a device can never be another device's id.
USERNAME_SEPARATOR = "~"
KINDS = ("mqtt", "http")

_LIVE = (
    "c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now())"
    " AND d.disabled_at IS NULL"
)


@dataclass(frozen=True)
class MqttAccount:
    username: str
    password_hash: str
    device_id: str


def http_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_http_token() -> str:
    return secrets.token_urlsafe(HTTP_TOKEN_BYTES)


def device_of_username(username: str) -> str:
    """The device a login belongs to: `<device_id>` or `<device_id>~<n>`."""
    return username.split(USERNAME_SEPARATOR, 1)[0]


def add_mqtt_credential(
    conn: psycopg.Connection, device_id: str, username: str, password_hash: str, created_by: str
) -> int:
    row = conn.execute(
        "INSERT INTO device_credentials (device_id, kind, username, secret_hash, created_by)"
        " VALUES (%s, 'mqtt', %s, %s, %s) RETURNING id",
        (device_id, username, password_hash, created_by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_http_token(conn: psycopg.Connection, device_id: str, created_by: str) -> str:
    """A new HTTP token for the device; returned once, only its digest is kept."""
    token = new_http_token()
    conn.execute(
        "INSERT INTO device_credentials (device_id, kind, secret_hash, created_by)"
        " VALUES (%s, 'http', %s, %s)",
        (device_id, http_token_digest(token), created_by),
    )
    return token


@dataclass(frozen=True)
class HttpLogin:
    device_id: str
    # The end of a rotation's grace period; None: until revoked or rotated.
    expires_at: datetime | None


def http_login(conn: psycopg.Connection, token: str) -> HttpLogin | None:
    """The live HTTP token's device and how long the token lives, or None."""
    row = conn.execute(
        "SELECT c.device_id, c.expires_at FROM device_credentials c"
        " JOIN devices d ON d.id = c.device_id"
        f" WHERE c.kind = 'http' AND c.secret_hash = %s AND {_LIVE}",
        (http_token_digest(token),),
    ).fetchone()
    return None if row is None else HttpLogin(str(row[0]), row[1])


def live_mqtt_accounts(conn: psycopg.Connection) -> list[MqttAccount]:
    rows = conn.execute(
        "SELECT c.username, c.secret_hash, c.device_id FROM device_credentials c"
        f" JOIN devices d ON d.id = c.device_id WHERE c.kind = 'mqtt' AND {_LIVE}"
        " ORDER BY c.username"
    ).fetchall()
    return [MqttAccount(*row) for row in rows]


def expire_credentials(
    conn: psycopg.Connection, device_id: str, kind: str, at: datetime | None = None
) -> int:
    """Revoke (at=None) or set the end of the grace period of a device's live secrets of
    one kind; returns how many."""
    _close_ended(conn, device_id)
    if at is None:
        sql = "UPDATE device_credentials SET revoked_at = now()"
        params: tuple[object, ...] = (device_id, kind)
    else:
        sql = "UPDATE device_credentials SET expires_at = LEAST(coalesce(expires_at, %s), %s)"
        params = (at, at, device_id, kind)
    cur = conn.execute(
        sql + " WHERE device_id = %s AND kind = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        params,
    )
    return cur.rowcount


def _close_ended(conn: psycopg.Connection, device_id: str) -> None:
    """Mark secrets whose grace period is over as revoked at its end: the unique index on
    MQTT usernames counts every unrevoked row, and a later rotation may take the name
    back (a rotation without grace keeps the device's username)."""
    conn.execute(
        "UPDATE device_credentials SET revoked_at = expires_at WHERE device_id = %s"
        " AND revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= now()",
        (device_id,),
    )


def current_mqtt_username(conn: psycopg.Connection, device_id: str) -> str:
    """The newest live login of the device, or its id when none is live."""
    row = conn.execute(
        "SELECT username FROM device_credentials WHERE device_id = %s AND kind = 'mqtt'"
        " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (device_id,),
    ).fetchone()
    return device_id if row is None else str(row[0])


def next_mqtt_username(conn: psycopg.Connection, device_id: str) -> str:
    """`<device_id>~<n>`, n one above any the device ever had (names are not reused, so
    a log line names one secret)."""
    row = conn.execute(
        "SELECT max(split_part(username, %s, 2)::bigint) FROM device_credentials"
        " WHERE device_id = %s AND kind = 'mqtt' AND username LIKE %s",
        (USERNAME_SEPARATOR, device_id, f"{_like_escape(device_id)}{USERNAME_SEPARATOR}%"),
    ).fetchone()
    highest = row[0] if row and row[0] is not None else 0
    return f"{device_id}{USERNAME_SEPARATOR}{highest + 1}"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def credentials_of(conn: psycopg.Connection, device_id: str) -> list[dict[str, Any]]:
    """Every secret the device had (never the hashes), newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, kind, username, created_at, created_by, expires_at, revoked_at,"
            " (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS live"
            " FROM device_credentials WHERE device_id = %s ORDER BY created_at DESC, id DESC",
            (device_id,),
        )
        return cur.fetchall()


def grace_ends_since(conn: psycopg.Connection, since: datetime | None) -> tuple[datetime, int]:
    """(the database's now, how many MQTT grace periods ended after `since` and by now)."""
    row = conn.execute(
        "SELECT now(), count(*) FILTER (WHERE kind = 'mqtt' AND revoked_at IS NULL"
        " AND expires_at <= now() AND (%s::timestamptz IS NULL OR expires_at > %s))"
        " FROM device_credentials",
        (since, since),
    ).fetchone()
    assert row is not None
    return row[0], int(row[1])
