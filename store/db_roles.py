"""Login roles for readers outside the application: Grafana's `grafana_reader`.

The group role `ioc_dashboard_reader` (migration 9) holds the privileges and cannot log
in; a deployment gives each reader a login of its own that is only a member of it, so a
password can be changed or a login dropped without touching the grants.

CREATE/ALTER ROLE take no bind parameters, so the role name is quoted as an identifier
(psycopg.sql.Identifier) and the password travels as a literal (psycopg.sql.Literal). The
literal is a SCRAM-SHA-256 verifier computed here by libpq (PQencryptPasswordConn), never
the password itself: it cannot leak into the server's statement log or pg_stat_activity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from store.migrations.m0009_dashboard_reads import READER_ROLE

GRAFANA_LOGIN = "grafana_reader"
# A plain lower-case identifier: the name also appears unquoted in Grafana's data source.
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MIN_PASSWORD_CHARS = 16


class RoleError(Exception):
    """The login cannot be made as asked; the message says what to do."""


@dataclass(frozen=True)
class LoginResult:
    name: str
    created: bool  # False: it existed and got the new password and membership


def ensure_reader_login(
    conn: psycopg.Connection, password: str, name: str = GRAFANA_LOGIN
) -> LoginResult:
    """Create or update `name` as a LOGIN role that is a member of ioc_dashboard_reader and
    nothing more. Idempotent: run at every deploy, it re-sets the password (a rotated
    secret takes effect) and the membership."""
    _check(name, password)
    with conn.transaction():
        if not _exists(conn, READER_ROLE):
            raise RoleError(
                f"group role {READER_ROLE} does not exist: run `ioc db migrate` first"
                " (migration 9 creates it)"
            )
        flags = _flags(conn, name)
        if flags is not None and (flags["rolsuper"] or flags["is_self"]):
            raise RoleError(
                f"role {name} is a superuser or the login running this: refusing to turn it"
                " into a dashboard reader"
            )
        verifier = _scram(conn, name, password)
        verb = "ALTER" if flags is not None else "CREATE"
        _run(
            conn,
            sql.SQL(
                verb + " ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
                " NOBYPASSRLS INHERIT PASSWORD {}"
            ).format(sql.Identifier(name), sql.Literal(verifier)),
        )
        _run(
            conn,
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), sql.Identifier(name)),
        )
    return LoginResult(name=name, created=flags is None)


def _check(name: str, password: str) -> None:
    if not _ROLE_NAME.fullmatch(name):
        raise RoleError(f"role name {name!r}: lower-case letters, digits and '_', 1-63")
    if name == READER_ROLE:
        raise RoleError(f"{READER_ROLE} is the group role; give its member login another name")
    if len(password) < MIN_PASSWORD_CHARS:
        raise RoleError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def _flags(conn: psycopg.Connection, name: str) -> dict[str, bool] | None:
    row = conn.execute(
        "SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    return None if row is None else {"rolsuper": row[0], "is_self": row[1]}


def _scram(conn: psycopg.Connection, name: str, password: str) -> str:
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    return verifier.decode()


def _run(conn: psycopg.Connection, statement: sql.Composed) -> None:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege as error:
        raise RoleError(
            "this database login may not create or change roles (it needs CREATEROLE);"
            " run `ioc db grant-reader` with an administrator's IOC_DATABASE_URL"
        ) from error
