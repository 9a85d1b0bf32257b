"""Snapshot references → links.

Events keep where the picture is, never the picture: `frigate:<event id>` is the Frigate
server's snapshot of that event (a link only when `frigate_url` is configured), and
`isapi:<sha256>.<ext>` a file in the snapshot store, served by GET /api/v1/snapshots.
ISAPI links are relative to this API, so they are right behind any proxy.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from config.settings import Settings

# Content-addressed names only: nothing else is ever a file of the store, and the
# pattern leaves no room for a path (no separator, no dot-dot).
SNAPSHOT_NAME = r"^[0-9a-f]{64}\.(jpg|png)$"
_NAME = re.compile(SNAPSHOT_NAME)
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
SNAPSHOTS_PATH = "/api/v1/snapshots"


def snapshot_url(reference: str | None, settings: Settings) -> str | None:
    if not reference:
        return None
    scheme, _, rest = reference.partition(":")
    if scheme == "isapi" and _NAME.fullmatch(rest):
        return f"{SNAPSHOTS_PATH}/{rest}"
    if scheme == "frigate" and rest and settings.frigate_url:
        return f"{settings.frigate_url.rstrip('/')}/api/events/{quote(rest, safe='')}/snapshot.jpg"
    return None


def is_snapshot_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None
