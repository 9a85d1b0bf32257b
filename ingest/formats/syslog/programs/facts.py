"""What an authentication program's message says, in ECS terms; shared by its decoders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["success", "failure", "unknown"]
MAX_USER_CHARS = 256


@dataclass(slots=True)
class AuthFacts:
    """ECS facts read from the message of an authentication program."""

    action: str
    outcome: Outcome
    category: tuple[str, ...] = ("authentication",)
    event_type: tuple[str, ...] = ("info",)
    user: str | None = None
    effective_user: str | None = None
    source: str | None = None  # as logged: an IP, or a host name with sshd UseDNS
    port: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # Filebeat's system.auth.*
