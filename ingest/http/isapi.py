"""A Hikvision ISAPI push body -> its XML and image parts, and what status a refusal gets.

Pure: no network, no database, no files (api/routers/isapi.py saves the image through
ingest/snapshots.py and commits through the group committer).

Cameras send either the EventNotificationAlert XML alone (application/xml or text/xml)
or a multipart body (multipart/form-data, some firmware multipart/mixed) with the XML
part (`anpr.xml`, `MoveDetection.xml`, … as Content-Type application/xml or text/xml,
or the first part that is neither an image nor named like one) and image parts
(`licensePlatePicture.jpg`, `detectionPicture.jpg`, image/jpeg). The multipart syntax is
parsed by python-multipart (the parser Starlette uses), at its low level so that both
subtypes are read the same way and every part's headers are seen.

Refusals carry the HTTP status and a reason (the dead letter's): 400 for a body that is
not well-formed (broken multipart, no closing boundary: cut off, malformed XML), 413
for a part over its limit, 415 for another Content-Type, 422 for a well-formed body
that holds no usable event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.formats.isapi import MALFORMED, TOPIC_PREFIX
from ingest.routes import TopicRouter

FORMAT = "isapi"
PATH = "/api/v1/ingest/isapi"
XML_TYPES = frozenset({"application/xml", "text/xml"})
MULTIPART_TYPES = frozenset({"multipart/form-data", "multipart/mixed"})
MAX_PARTS = 8
MAX_PART_HEADERS = 16
# The snapshot of an ANPR push: the scene (detectionPicture), not the plate crop.
_CROP_NAMES = ("licenseplate", "plate")


class Refused(Exception):
    """The push is refused with `status`; `payload` is what its dead letter keeps."""

    def __init__(self, status: int, reason: str, payload: bytes) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.payload = payload


@dataclass(slots=True)
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type"))

    @property
    def name(self) -> str:
        disposition = self.headers.get("content-disposition", "")
        _, options = parse_options_header(disposition)
        found = options.get(b"filename") or options.get(b"name") or b""
        return found.decode("latin-1")

    def is_image(self) -> bool:
        return self.media_type.startswith("image/") or self.name.lower().endswith(
            (".jpg", ".jpeg", ".png")
        )


@dataclass(frozen=True, slots=True)
class Push:
    xml: bytes
    images: list[Part]

    def snapshot_image(self) -> Part | None:
        """The picture the event refers to: the first that is not a plate crop, else the
        first (a plate read's scene shows the vehicle; the crop is in it)."""
        for image in self.images:
            if not any(crop in image.name.lower() for crop in _CROP_NAMES):
                return image
        return self.images[0] if self.images else None


def camera_login(api_base_url: str, device_id: str, http_token: str | None) -> dict[str, str]:
    """What a camera's alarm-server settings need (shown with its other secrets, once):
    the push URL and its HTTP Basic login. Empty without an HTTP token."""
    if not http_token:
        return {}
    return {
        "isapi_url": api_base_url.rstrip("/") + PATH,
        "http_username": device_id,
        "http_password": http_token,
    }


def topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}"


def router() -> TopicRouter:
    return TopicRouter({f"{TOPIC_PREFIX}+": FORMAT}, wildcard=True)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def split(content_type: str | None, body: bytes, max_xml: int, max_image: int) -> Push:
    """The XML and the images of a push body. Raises Refused."""
    kind = media_type(content_type)
    if not body.strip():
        raise Refused(422, "empty body: no EventNotificationAlert", body)
    if kind in XML_TYPES:
        if len(body) > max_xml:
            raise Refused(413, f"XML body too large: {len(body)} bytes > {max_xml}", body)
        return Push(body, [])
    if kind not in MULTIPART_TYPES:
        shown = kind or "none"
        raise Refused(
            415,
            f"Content-Type {shown!r} is not application/xml, text/xml, multipart/form-data"
            " or multipart/mixed",
            body,
        )
    parts = _parts(content_type or "", body)
    return _push(parts, body, max_xml, max_image)


def _parts(content_type: str, body: bytes) -> list[Part]:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise Refused(400, "multipart body without a boundary parameter", body)
    parts: list[Part] = []
    header: list[bytes] = [b"", b""]
    ended = False

    def begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise Refused(413, f"more than {MAX_PARTS} parts in one push", body)
        parts.append(Part())

    def header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def header_end() -> None:
        headers = parts[-1].headers
        if len(headers) >= MAX_PART_HEADERS:
            raise Refused(400, f"a part has more than {MAX_PART_HEADERS} headers", body)
        headers[header[0].decode("latin-1").strip().lower()] = header[1].decode("latin-1")
        header[0] = header[1] = b""

    def part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    def finished() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": part_data,
            "on_end": finished,
        },
        max_header_count=MAX_PART_HEADERS,
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise Refused(400, f"malformed multipart body: {error}", body) from None
    if not ended:
        raise Refused(400, "truncated multipart body: no closing boundary", body)
    return parts


def _push(parts: list[Part], body: bytes, max_xml: int, max_image: int) -> Push:
    images = [part for part in parts if part.is_image()]
    others = [part for part in parts if not part.is_image()]
    xml_parts = [part for part in others if part.media_type in XML_TYPES] or others
    if not xml_parts:
        raise Refused(422, "multipart push holds no XML part (EventNotificationAlert)", body)
    xml = bytes(xml_parts[0].data)
    if len(xml) > max_xml:
        raise Refused(413, f"XML part too large: {len(xml)} bytes > {max_xml}", xml)
    for image in images:
        if len(image.data) > max_image:
            reason = f"image part {image.name!r} too large: {len(image.data)} bytes > {max_image}"
            raise Refused(413, reason, xml)
    return Push(xml, images)


def status_of(reason: str) -> int:
    """The HTTP status of a decoder's refusal (the dead letter's reason)."""
    if reason.startswith(f"{FORMAT}: {MALFORMED}"):
        return 400
    if reason.startswith("message too large"):
        return 413
    return 422
