"""HMAC-SHA256 over the exact body bytes, as GitHub and Stripe sign their webhooks.

The header is `X-IOC-Signature: sha256=<hex>`. The body carries its own `sent_at`, so
the signature covers the time too and a receiver can refuse stale replays; the
notification ids inside let it drop the duplicates at-least-once delivery brings.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-IOC-Signature"
TIMESTAMP_HEADER = "X-IOC-Timestamp"
IDS_HEADER = "X-IOC-Notification-Ids"
_PREFIX = "sha256="


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The X-IOC-Signature header value for `body`."""
    return _PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of exactly these body bytes (constant time)."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
