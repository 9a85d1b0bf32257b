"""The public CAP warnings feed (no token), mounted at /public by api/public/app.py.

- `GET /cap.atom` (`?province=&district=`): an Atom feed (RFC 4287) of the warnings in
  force, newest first: each incident's latest message while it has not expired,
  cancellations included for a day (so aggregators see the all-clear) and Test messages
  (aggregators check the feed with them). Each entry links to its CAP message.
- `GET /cap/{identifier}.xml`: one CAP 1.2 message exactly as issued, xmldsig-signed.

What public alert aggregators ask of a feed (the Google Public Alerts feed guide): under
900 KB (entries are bounded by count and by size), a self link, `application/cap+xml`
links, ETag and Cache-Control so pollers can ask cheaply. The feed is built with
lxml (every value escaped); messages are served from the table, never rebuilt.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urljoin

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from lxml import etree as ET

from api.deps import Conn
from api.errors import not_found, responses
from processors.alerts.public.policy import fill, policy
from store.public_warnings import feed_entries, get_message

router = APIRouter(tags=["warnings / cảnh báo"])

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
CAP_MEDIA_TYPE = "application/cap+xml"
MAX_FEED_BYTES = 900_000  # aggregators refuse larger feeds
MAX_ENTRIES = 500
FEED_MAX_AGE = 60  # seconds: warnings change by the minute, pollers come every few
MESSAGE_MAX_AGE = 86_400  # a message never changes once issued
IDENTIFIER = r"^[A-Za-z0-9._:-]{1,128}$"
_FEED_END = b"</feed>"
# Characters XML 1.0 cannot carry at all: escaping does not help, they must go.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _limited(request: Request) -> None:
    """The open data's per-address rate limit (api/public/delivery.py), when configured."""
    open_data = getattr(request.app.state, "open_data", None)
    if open_data is not None:
        host = request.client.host if request.client else "unknown"
        open_data.limits.check_public(host)


Limited = Annotated[None, Depends(_limited)]
Place = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _q(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _text(parent: ET._Element, tag: str, text: str, **attrs: str) -> ET._Element:
    element = ET.SubElement(parent, _q(tag), attrs)
    element.text = _XML_ILLEGAL.sub("", text)
    return element


def _entry(row: dict[str, Any], cap_url: str) -> ET._Element:
    entry = ET.Element(_q("entry"), nsmap={None: ATOM_NS})
    _text(entry, "id", cap_url)
    test = row["status"] != "Actual"
    prefix = {"Cancel": "[Kết thúc / Ended] ", "Update": "[Cập nhật / Update] "}.get(
        row["msg_type"], ""
    )
    _text(entry, "title", ("[TEST] " if test else "") + prefix + row["headline_vi"])
    _text(entry, "updated", _atom_time(row["sent"]))
    _text(entry, "published", _atom_time(row["sent"]))
    ET.SubElement(entry, _q("link"), rel="alternate", type=CAP_MEDIA_TYPE, href=cap_url)
    place = ", ".join(p for p in (row["district"], row["province"]) if p)
    summary = f"{row['headline_vi']}. {row['headline_en']}."
    if place:
        summary += f" ({place})"
    _text(entry, "summary", summary)
    _text(entry, "category", "", term=row["kind"], label=row["severity"])
    return entry


def build_feed(
    rows: list[dict[str, Any]], *, self_url: str, now: datetime, limit_bytes: int = MAX_FEED_BYTES
) -> tuple[bytes, datetime, int]:
    """(Atom document, its updated time, entries kept): the newest entries that fit in
    `limit_bytes`."""
    rules = policy()
    feed = ET.Element(_q("feed"), nsmap={None: ATOM_NS})
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "vi")
    _text(feed, "id", self_url)
    _text(feed, "title", "Cảnh báo công cộng / Public warnings")
    _text(feed, "subtitle", "CAP 1.2: " + fill(rules.sender_name, "vi", {}))
    updated = max((r["sent"] for r in rows), default=now)
    _text(feed, "updated", _atom_time(updated))
    author = ET.SubElement(feed, _q("author"))
    _text(author, "name", fill(rules.sender_name, "vi", {}))
    ET.SubElement(feed, _q("link"), rel="self", type=ATOM_MEDIA_TYPE, href=self_url)
    head = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    head = head[: -len(_FEED_END)]  # the feed has children: it ends with its end tag
    parts, size, kept = [head], len(head) + len(_FEED_END), 0
    for row in rows:
        # Relative to the feed's own address, so it is right wherever the app is mounted.
        url = urljoin(self_url, f"cap/{row['identifier']}.xml")
        piece = ET.tostring(_entry(row, url), encoding="utf-8")
        if size + len(piece) > limit_bytes:
            break
        parts.append(piece)
        size += len(piece)
        kept += 1
    parts.append(_FEED_END)
    return b"".join(parts), updated, kept


def _cached(request: Request, body: bytes, media_type: str, max_age: int, **extra: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}", **extra}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


@router.get(
    "/cap.atom",
    response_class=Response,
    responses={200: {"content": {ATOM_MEDIA_TYPE: {}}}, **responses(422, 429)},
    summary="Cảnh báo công cộng (Atom, CAP 1.2) / Public warnings feed",
)
def cap_feed(
    request: Request,
    conn: Conn,
    _: Limited,
    province: Place = None,
    district: Place = None,
) -> Response:
    """Các cảnh báo đang có hiệu lực, mỗi mục dẫn tới bản tin CAP 1.2 có chữ ký số.
    The warnings in force; each entry links to its signed CAP 1.2 message."""
    now = datetime.now(UTC)
    rows = feed_entries(conn, limit=MAX_ENTRIES, province=province, district=district, at=now)
    self_url = str(request.url)
    body, updated, _kept = build_feed(rows, self_url=self_url, now=now)
    last_modified = updated.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return _cached(request, body, ATOM_MEDIA_TYPE, FEED_MAX_AGE, **{"Last-Modified": last_modified})


@router.get(
    "/cap/{identifier}.xml",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, **responses(404, 422, 429)},
    summary="Một bản tin CAP 1.2 có chữ ký / One signed CAP 1.2 message",
)
def cap_message(
    request: Request,
    conn: Conn,
    _: Limited,
    identifier: Annotated[str, Path(pattern=IDENTIFIER)],
) -> Response:
    """Bản tin CAP 1.2 đúng như đã phát, có chữ ký XML (xmldsig).
    The CAP 1.2 message exactly as issued, with its XML signature (xmldsig)."""
    row = get_message(conn, identifier)
    if row is None or not re.match(IDENTIFIER, identifier):
        raise not_found("public_warning_not_found", identifier=identifier)
    body = row["cap_xml"].encode()
    return _cached(request, body, CAP_MEDIA_TYPE, MESSAGE_MAX_AGE)
