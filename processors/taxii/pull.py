"""Pull the indicators of a remote TAXII 2.1 collection into the indicator lists.

taxii2-client reads the collection page by page (as_pages, match[type]=indicator); the
newest version of each Indicator is kept, revoked and expired ones are dropped, and the
rest are written as one STIX 2.1 bundle, `taxii-<source>.json`, in the indicator folder
(processors/security/indicators/ reads STIX bundles there). The file is replaced
atomically (a temporary dot-file, which the loader skips, then a rename), and only when
its content changed; then the rule generation is bumped so workers reload their
indicators (store/rule_generation.py), as `ioc rules reload` does.

A pull reads the whole collection every time instead of asking `added_after`: the file
is then exactly what the centre publishes now (a withdrawn indicator goes away), and
taxii2-client's envelopes do not carry the X-TAXII-Date-Added-Last header an incremental
pull would need. `max_objects` bounds it; a larger collection is an error, not a silent
cut.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from processors.security.indicators.loader import IndicatorSet, read_stix
from processors.taxii.config import PullSource

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ioc-core:taxii-pull")


class PullError(RuntimeError):
    """A pull that failed; str() says why (never a secret)."""


@dataclass(frozen=True, slots=True)
class PullResult:
    source: str
    indicators: int  # loadable by the indicator matcher
    problems: int  # indicators the matcher cannot use (pattern, type), see the worker log
    digest: str
    changed: bool
    path: Path


class _Timeout(HTTPAdapter):
    """requests has no session-wide timeout; taxii2-client passes none."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self.seconds
        return super().send(request, **kwargs)


def connect(source: PullSource, password: str | None) -> _HTTPConnection:
    conn = _HTTPConnection(source.user, password, verify=source.verify_tls, version="2.1")
    adapter = _Timeout(source.timeout_seconds)
    conn.session.mount("https://", adapter)
    conn.session.mount("http://", adapter)
    return conn


def _newer(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    key = lambda o: str(o.get("modified") or o.get("created") or "")  # noqa: E731
    return b if key(b) >= key(a) else a


def fetch(source: PullSource, conn: _HTTPConnection) -> list[dict[str, Any]]:
    """The collection's current Indicators (newest version of each)."""
    collection = Collection(source.collection, conn=conn)
    found: dict[str, dict[str, Any]] = {}
    seen = 0
    try:
        for envelope in as_pages(collection.get_objects, source.page_size, type="indicator"):
            for item in envelope.get("objects") or []:
                seen += 1
                if seen > source.max_objects:
                    raise PullError(f"{source.name}: more than {source.max_objects} objects")
                if isinstance(item, dict) and item.get("type") == "indicator" and "id" in item:
                    old = found.get(item["id"])
                    found[item["id"]] = item if old is None else _newer(old, item)
    except (requests.RequestException, TAXIIServiceException, ValueError) as error:
        raise PullError(f"{source.name}: {type(error).__name__}: {str(error)[:300]}") from None
    return list(found.values())


def _live(item: dict[str, Any], now: datetime) -> bool:
    if item.get("revoked"):
        return False
    until = item.get("valid_until")
    if isinstance(until, str):
        try:
            return datetime.fromisoformat(until) > now
        except ValueError:
            return True  # the loader reports it
    return True


def bundle(source: PullSource, indicators: list[dict[str, Any]], now: datetime) -> str:
    """The bundle text (stable: same indicators, same bytes)."""
    live = sorted((i for i in indicators if _live(i, now)), key=lambda i: str(i["id"]))
    document = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid5(NAMESPACE, source.name)}",
        "objects": live,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # the workers, another user maybe, read it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pull(
    source: PullSource,
    password: str | None,
    directory: Path,
    *,
    now: datetime | None = None,
    connection: Callable[[PullSource, str | None], _HTTPConnection] = connect,
) -> PullResult:
    now = now or datetime.now(UTC)
    conn = connection(source, password)
    try:
        indicators = fetch(source, conn)
    finally:
        conn.close()
    text = bundle(source, indicators, now)
    checked = IndicatorSet()
    read_stix(source.file_name, text, checked)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = directory / source.file_name
    changed = not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest
    if changed:
        _write(path, text)
    return PullResult(source.name, len(checked), len(checked.problems), digest, changed, path)


def due(
    sources: list[PullSource], last: Callable[[str], datetime | None], now: datetime
) -> Iterator[PullSource]:
    """Sources whose interval has passed since their last pull (pure)."""
    for source in sources:
        pulled = last(source.name)
        if pulled is None or (now - pulled).total_seconds() >= source.every_minutes * 60:
            yield source
