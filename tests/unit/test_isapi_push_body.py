"""ISAPI push bodies -> XML and image parts, with the status of each refusal
(ingest/http/isapi.py), and the content-addressed snapshot store (ingest/snapshots.py)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from ingest import snapshots
from ingest.http.isapi import Refused, split, status_of

DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"
XML = (DATA / "isapi_anpr.xml").read_bytes()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MAX_XML = 262144
MAX_IMAGE = 4096


def multipart(parts: list[tuple[str, str, bytes]], boundary: str = "boundary") -> bytes:
    out = b""
    for name, content_type, data in parts:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name.split(".")[0]}";'
                f' filename="{name}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def anpr_push() -> bytes:
    return multipart(
        [
            ("anpr.xml", "application/xml", XML),
            ("licensePlatePicture.jpg", "image/jpeg", JPEG[:300] + b"\xff\xd9"),
            ("detectionPicture.jpg", "image/jpeg", JPEG),
        ]
    )


def refusal(content_type: str | None, body: bytes) -> Refused:
    with pytest.raises(Refused) as caught:
        split(content_type, body, MAX_XML, MAX_IMAGE)
    return caught.value


@pytest.mark.parametrize("content_type", ["application/xml", 'text/xml; charset="UTF-8"'])
def test_plain_xml(content_type: str) -> None:
    push = split(content_type, XML, MAX_XML, MAX_IMAGE)
    assert (push.xml, push.images) == (XML, [])


@pytest.mark.parametrize("subtype", ["form-data", "mixed"])
def test_multipart_anpr_takes_the_scene_not_the_plate_crop(subtype: str) -> None:
    push = split(f"multipart/{subtype}; boundary=boundary", anpr_push(), MAX_XML, MAX_IMAGE)
    assert push.xml == XML
    assert [p.name for p in push.images] == ["licensePlatePicture.jpg", "detectionPicture.jpg"]
    image = push.snapshot_image()
    assert image is not None and bytes(image.data) == JPEG


def test_multipart_xml_part_without_content_type_and_quoted_boundary() -> None:
    body = (
        b'--b-1\r\nContent-Disposition: form-data; name="MoveDetection.xml"\r\n\r\n'
        + XML + b"\r\n--b-1--\r\n"
    )  # fmt: skip
    push = split('multipart/form-data; boundary="b-1"', body, MAX_XML, MAX_IMAGE)
    assert push.xml == XML and push.snapshot_image() is None


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("application/json", b'{"eventType": "VMD"}', 415, "Content-Type 'application/json'"),
        (None, XML, 415, "Content-Type 'none'"),
        ("multipart/form-data", anpr_push(), 400, "without a boundary"),
        ("multipart/form-data; boundary=boundary", anpr_push()[:700], 400, "truncated"),
        ("multipart/form-data; boundary=other", anpr_push(), 400, "malformed multipart"),
        ("application/xml", b"  \n", 422, "empty body"),
        ("application/xml", b"<x>" + b"a" * MAX_XML, 413, "XML body too large"),
        (
            "multipart/mixed; boundary=boundary",
            multipart([("detectionPicture.jpg", "image/jpeg", JPEG)]),
            422,
            "no XML part",
        ),
        (
            "multipart/form-data; boundary=boundary",
            multipart([("a.xml", "text/xml", XML), ("big.jpg", "image/jpeg", JPEG * 5)]),
            413,
            "image part 'big.jpg' too large",
        ),
        (
            "multipart/form-data; boundary=boundary",
            multipart([("a.xml", "text/xml", XML)] + [("p.jpg", "image/jpeg", JPEG)] * 9),
            413,
            "more than 8 parts",
        ),
    ],
)
def test_refusals(content_type: str | None, body: bytes, status: int, reason: str) -> None:
    refused = refusal(content_type, body)
    assert refused.status == status
    assert reason in refused.reason


def test_too_large_image_keeps_the_xml_as_the_letter() -> None:
    body = multipart([("a.xml", "text/xml", XML), ("big.jpg", "image/jpeg", JPEG * 5)])
    assert refusal("multipart/form-data; boundary=boundary", body).payload == XML


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("isapi: malformed XML: not well-formed (invalid token): line 1", 400),
        ("message too large: 300000 bytes > 262144", 413),
        ("isapi: eventType 'faceSnap' is not one the service reads", 422),
    ],
)
def test_status_of_decoder_reasons(reason: str, status: int) -> None:
    assert status_of(reason) == status


def test_snapshot_store_content_addressed_private_files(tmp_path: Path) -> None:
    directory = tmp_path / "snapshots"
    reference = snapshots.save(directory, JPEG, MAX_IMAGE)
    digest = hashlib.sha256(JPEG).hexdigest()
    assert reference == f"isapi:{digest}.jpg"
    path = snapshots.path_of(directory, reference)
    assert path is not None and path.read_bytes() == JPEG
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    # The same picture again is the same file, dated now (retention goes by the file's
    # date); nothing else is left behind.
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert snapshots.save(directory, JPEG, MAX_IMAGE) == reference
    assert path.stat().st_mtime > 1_700_000_000
    assert snapshots.save(directory, PNG, MAX_IMAGE).endswith(".png")
    assert len(list(directory.iterdir())) == 2


def test_snapshot_store_refuses(tmp_path: Path) -> None:
    with pytest.raises(snapshots.SnapshotTooLarge):
        snapshots.save(tmp_path, JPEG, 100)
    with pytest.raises(snapshots.NotAnImage):
        snapshots.save(tmp_path, b"GIF89a....", MAX_IMAGE)
    assert list(tmp_path.iterdir()) == []
    assert snapshots.path_of(tmp_path, "../etc/passwd") is None
    assert snapshots.path_of(tmp_path, "isapi:" + "a" * 64 + ".jpg") == tmp_path / (
        "a" * 64 + ".jpg"
    )
