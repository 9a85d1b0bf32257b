"""API users: a name, a role and the SHA-256 of a bearer token.

Tokens are 32 random bytes (secrets.token_urlsafe), so SHA-256 is enough: a slow
password hash (PBKDF2, bcrypt, argon2) only helps against guessing low-entropy secrets,
and guessing 256 random bits is hopeless at any speed. A fast hash also lets a request
find its user by an indexed equality lookup instead of trying every row.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "API users"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS api_users (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'csirt', 'viewer')),
    token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
