"""Command topics and payloads (the wire contract with devices; see
/docs/integrators.md, "Commands")."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ACK_FILTER = "ioc/v1/+/commands/ack"
MAX_ERROR = 500


def command_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/commands"


def ack_device(topic: str) -> str | None:
    """The device id in `ioc/v1/<id>/commands/ack`, else None."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[:2] == ["ioc", "v1"] and parts[3:] == ["commands", "ack"]:
        return parts[2] or None
    return None


def command_payload(row: Mapping[str, Any]) -> bytes:
    expires_at: datetime = row["expires_at"]
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "command": row["command"],
            "params": row["params"],
            "expires_at": expires_at.isoformat(),
        }
    )


class AckPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=MAX_ERROR)


class AckRejected(ValueError):
    pass


def parse_ack(payload: bytes) -> AckPayload:
    try:
        ack = AckPayload.model_validate(orjson.loads(payload))
    except (orjson.JSONDecodeError, ValidationError) as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else "not JSON"
        raise AckRejected(reason) from None
    # PostgreSQL's jsonb and text cannot hold NUL: refuse here rather than fail the commit.
    if b"\\u0000" in orjson.dumps(ack.model_dump(mode="json")):
        raise AckRejected("text holds a NUL character")
    return ack
