"""Hikvision ISAPI event pushes, as a camera's "HTTP listening" (alarm host) sends them.

A camera POSTs one `EventNotificationAlert` per event to the host it was given (here
`/api/v1/ingest/isapi`, HTTP Basic with the camera's device id and HTTP token): plain
XML, or multipart/form-data with the XML part and picture parts (ANPR sends the plate
crop and the scene). Builders are pure: values in, bytes out; the JPEG is drawn with
Pillow from the seed, so the same push is the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import httpx

from config.timezone import LOCAL_TZ
from simulators.fleet import Camera
from simulators.messages import ISAPI_PATH, Outgoing
from simulators.plates import PROVINCE_CODES, PlateKind, misread, random_plate

XMLNS = "http://www.isapi.org/ver20/XMLSchema"
# eventType → (what the XML part is called in a multipart push, eventDescription)
EVENT_TYPES = {
    "VMD": ("MoveDetection.xml", "Motion alarm"),
    "linedetection": ("linedetection.xml", "Line crossing alarm"),
    "fielddetection": ("fielddetection.xml", "Intrusion alarm"),
    "regionEntrance": ("regionEntrance.xml", "Region entrance alarm"),
    "regionExiting": ("regionExiting.xml", "Region exiting alarm"),
    "shelteralarm": ("shelteralarm.xml", "Video tampering alarm"),
    "videoloss": ("videoloss.xml", "Video loss alarm"),
    "ANPR": ("anpr.xml", "ANPR"),
}
# Object classes ISAPI names in detectionTarget / ANPR vehicleType.
TARGETS = {"person": "human", "car": "vehicle", "truck": "vehicle", "motorcycle": "vehicle"}
VEHICLE_TYPES = {"car": "vehicle", "truck": "truck", "bus": "largeBus", "motorcycle": "motorcycle"}


@dataclass(frozen=True)
class Anpr:
    plate: str  # as the camera read it
    direction: str = "forward"  # forward: towards the camera; reverse: away
    confidence: int = 92  # 0-100
    vehicle_type: str = "vehicle"
    line: int = 1  # the lane


@dataclass(frozen=True)
class IsapiEvent:
    camera: Camera
    when: datetime
    event_type: str
    state: str = "active"  # active | inactive
    post_count: int = 1  # activePostCount: the n-th push of this alarm
    regions: tuple[str, ...] = ()  # DetectionRegionList regionIDs (zone or line rule ids)
    target: str | None = None  # detectionTarget: human | vehicle
    anpr: Anpr | None = None


def alert_xml(event: IsapiEvent) -> bytes:
    """The EventNotificationAlert document, field order as Hikvision firmware writes it."""
    if event.event_type not in EVENT_TYPES:
        raise ValueError(f"unknown ISAPI eventType {event.event_type!r}")
    root = ET.Element("EventNotificationAlert", {"version": "2.0", "xmlns": XMLNS})
    fields = (
        ("ipAddress", event.camera.ip or "192.168.1.64"),
        ("portNo", "80"),
        ("protocol", "HTTP"),
        ("macAddress", _mac(event.camera.name)),
        ("channelID", str(event.camera.channel)),
        ("dateTime", event.when.astimezone(LOCAL_TZ).isoformat(timespec="seconds")),
        ("activePostCount", str(event.post_count)),
        ("eventType", event.event_type),
        ("eventState", event.state),
        ("eventDescription", EVENT_TYPES[event.event_type][1]),
        ("channelName", event.camera.title),
    )
    for tag, text in fields:
        ET.SubElement(root, tag).text = text
    if event.regions:
        regions = ET.SubElement(root, "DetectionRegionList")
        for region in event.regions:
            entry = ET.SubElement(regions, "DetectionRegionEntry")
            ET.SubElement(entry, "regionID").text = region
            ET.SubElement(entry, "sensitivityLevel").text = "50"
            if event.target:
                ET.SubElement(entry, "detectionTarget").text = event.target
    if event.anpr is not None:
        _anpr(root, event.anpr)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _anpr(root: ET.Element, anpr: Anpr) -> None:
    node = ET.SubElement(root, "ANPR")
    for tag, text in (
        ("country", "VN"),
        ("licensePlate", anpr.plate),
        ("line", str(anpr.line)),
        ("direction", anpr.direction),
        ("confidenceLevel", str(anpr.confidence)),
        ("plateType", "unknown"),
        ("plateColor", "white"),
        ("vehicleType", anpr.vehicle_type),
    ):
        ET.SubElement(node, tag).text = text
    pictures = ET.SubElement(node, "pictureInfoList")
    picture = ET.SubElement(pictures, "pictureInfo")
    ET.SubElement(picture, "fileName").text = "licensePlatePicture.jpg"
    ET.SubElement(picture, "type").text = "licensePlatePicture"
    ET.SubElement(root, "picNum").text = "1"


def _mac(name: str) -> str:
    digest = random.Random(f"mac:{name}").randbytes(3)
    return "44:19:b6:" + ":".join(f"{b:02x}" for b in digest)  # Hikvision's OUI


@lru_cache(maxsize=64)
def jpeg(seed: int, width: int = 320, height: int = 180, text: str = "") -> bytes:
    """A small picture: a plain scene with a light rectangle (the plate) and its text."""
    from PIL import Image, ImageDraw  # only pushes with pictures need Pillow

    rng = random.Random(f"jpeg:{seed}")
    image = Image.new("RGB", (width, height), tuple(rng.randrange(40, 120) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    x, y = rng.randrange(20, width - 140), rng.randrange(20, height - 60)
    draw.rectangle((x, y, x + 120, y + 40), fill=(235, 235, 230), outline=(20, 20, 20))
    if text:
        draw.text((x + 6, y + 6), text, fill=(10, 10, 10))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


def multipart(
    xml: bytes, xml_name: str, pictures: dict[str, bytes], boundary: str
) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data push: the XML part first, then one
    part per picture, as the camera sends them."""
    files = {xml_name: (xml_name, xml, "application/xml")}
    for name, data in pictures.items():
        files[name] = (name, data, "image/jpeg")
    content_type = f"multipart/form-data; boundary={boundary}"
    # httpx builds the body; a boundary given in the header is the one it uses.
    request = httpx.Request("POST", "http://camera/", files=files, headers={
        "Content-Type": content_type
    })  # fmt: skip
    return content_type, request.read()


def push(event: IsapiEvent, picture: bytes | None = None, boundary: str = "") -> Outgoing:
    """The push as a message for the HTTP sender: signed as the camera."""
    xml = alert_xml(event)
    if picture is None:
        return _outgoing(event, "application/xml", xml)
    name = "licensePlatePicture.jpg" if event.anpr else "detectionPicture.jpg"
    if not boundary:
        digest = hashlib.blake2b(f"{event.camera.name}|{event.when}".encode(), digest_size=8)
        boundary = f"----isapi{digest.hexdigest()}"
    content_type, body = multipart(xml, EVENT_TYPES[event.event_type][0], {name: picture}, boundary)
    return _outgoing(event, content_type, body)


def _outgoing(event: IsapiEvent, content_type: str, body: bytes) -> Outgoing:
    return Outgoing(
        stream="cameras",  # one progress row for every camera source
        transport="http",
        topic=ISAPI_PATH,
        payload=body,
        sender=event.camera.name,
        content_type=content_type,
    )


_KIND_BY_LABEL: dict[str, PlateKind] = {
    "car": "car",
    "truck": "car_two_row",
    "motorcycle": "motorbike",
}


class IsapiStream:
    """Pushes of the fleet's Hikvision cameras: ANPR reads at cameras that read plates
    (one in five with the picture, multipart), line crossings on their lines,
    intrusion in their zones, motion; seeded like the other streams."""

    stream = "cameras"

    def __init__(self, cameras: tuple[Camera, ...], seed: int) -> None:
        self._cameras = tuple(c for c in cameras if c.source == "hikvision")
        if not self._cameras:
            raise ValueError("the ISAPI stream needs at least one Hikvision camera")
        self._rng = random.Random(f"isapi:{seed}")
        self._count = 0

    def next(self, t: float) -> Outgoing:
        rng = self._rng
        self._count += 1
        camera = rng.choice(self._cameras)
        when = datetime.fromtimestamp(int(t), LOCAL_TZ)
        labels, weights = zip(*camera.labels.items(), strict=True)
        label = rng.choices(labels, weights)[0]
        if camera.lpr and label in _KIND_BY_LABEL:
            code = PROVINCE_CODES.get(camera.former_province or camera.province)
            plate = random_plate(rng, _KIND_BY_LABEL[label], code if rng.random() < 0.7 else None)
            anpr = Anpr(
                plate=misread(plate, rng),
                direction=rng.choice(("forward", "reverse")),
                confidence=rng.randint(70, 99),
                vehicle_type=VEHICLE_TYPES[label],
            )
            event = IsapiEvent(camera, when, "ANPR", anpr=anpr)
            picture = jpeg(self._count % 16, text=plate.printed) if rng.random() < 0.2 else None
            return push(event, picture, boundary=f"isapi{self._count:08d}")
        kind = rng.choices(("linedetection", "fielddetection", "VMD"), (5, 1, 2))[0]
        regions: tuple[str, ...] = ()
        if kind == "linedetection" and camera.lines:
            regions = (str(rng.randint(1, len(camera.lines))),)
        elif kind == "fielddetection" and camera.zones:
            regions = (str(rng.randint(1, len(camera.zones))),)
        event = IsapiEvent(camera, when, kind, regions=regions, target=TARGETS.get(label))
        return push(event)
