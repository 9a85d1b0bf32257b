"""Stable event ids: the same input always gets the same id, so re-delivery is idempotent."""

from __future__ import annotations

import hashlib
import uuid


def stable_id(*parts: str | bytes | int | None) -> str:
    """A UUID-shaped digest of the parts (blake2b, 128 bits).

    Parts are length-prefixed so ("ab", "c") and ("a", "bc") never collide.
    """
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    return str(uuid.UUID(bytes=digest.digest()))
