"""API users and their bearer tokens.

A token is shown once, when the user is created, and only its SHA-256 is kept (see
m0004_api_users for why a fast hash is right for random tokens). Revoking keeps the row
so the name stays reserved and the record shows who had access until when.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from events.alerts import LIVE_CHANNEL

TOKEN_BYTES = 32
# Names appear in alert history as the actor; keep them short and free of markup.
_NAME = re.compile(r"^[\w.@-]{1,64}$")


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    CSIRT = "csirt"
    VIEWER = "viewer"
    # Connects equipment: manages devices and their credentials, reads dead letters.
    INTEGRATOR = "integrator"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_user(conn: psycopg.Connection, name: str, role: str | Role) -> tuple[User, str]:
    """Create a user; returns it with its token, which is not stored and cannot be shown
    again."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'")
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(
            f"role {role!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = conn.execute(
        "INSERT INTO api_users (name, role, token_sha256) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING RETURNING id",
        (name, role.value, token_digest(token)),
    ).fetchone()
    if row is None:
        raise ValueError(f"a user named {name!r} exists already (revoked users keep their name)")
    return User(row[0], name, role), token


def revoke_user(conn: psycopg.Connection, name: str) -> bool:
    """Revoke a user's token now, and end their open event streams (on commit).
    False when there is no such active user."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE api_users SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
            " RETURNING id",
            (name,),
        ).fetchone()
        if row is None:
            return False
        message = orjson.dumps({"kind": "revoked", "user_id": row[0]}).decode()
        conn.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, message))
    return True


def is_active(conn: psycopg.Connection, user_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM api_users WHERE id = %s AND revoked_at IS NULL", (user_id,)
    ).fetchone()
    return row is not None


def user_for_token(conn: psycopg.Connection, token: str) -> User | None:
    """The active user holding this token, or None.

    The lookup compares digests in an index, not the token itself, so response time
    tells an attacker nothing about how close a guess was.
    """
    if not token or len(token) > 256:
        return None
    row = conn.execute(
        "SELECT id, name, role FROM api_users WHERE token_sha256 = %s AND revoked_at IS NULL",
        (token_digest(token),),
    ).fetchone()
    return None if row is None else User(row[0], row[1], Role(row[2]))


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT id, name, role, created_at, revoked_at FROM api_users ORDER BY name")
        return cur.fetchall()


def delete_user(conn: psycopg.Connection, name: str) -> None:
    """Remove a user row entirely (tests clean up with this; operators revoke)."""
    conn.execute("DELETE FROM api_users WHERE name = %s", (name,))
