"""The access record of plate data, from the API's side: who (`api:<user>`, their role)
and from where, for the routes that hand out plates or camera pictures. The route calls
it inside the transaction of its read or change (store/plate_audit.py), after the
request passed its role check and validation: a refused or malformed request processed
no personal data and leaves no row."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import Request

from store import plate_audit
from store.users import User


def record(
    conn: psycopg.Connection,
    request: Request,
    user: User,
    action: plate_audit.Action,
    plate_norm: str | None = None,
    **detail: Any,
) -> None:
    client = request.client.host if request.client else None
    plate_audit.record(
        conn,
        plate_audit.Access(
            actor=f"api:{user.name}",
            role=user.role.value,
            action=action,
            plate_norm=plate_norm,
            detail={**detail, "client": client},
        ),
    )
