"""The snapshot store: images that camera pushes carried, kept as files, never in the
database. The database keeps a reference (`isapi:<sha256>.<ext>` on the camera event and
plate read); GET /api/v1/snapshots/{name} serves the file to those allowed to see it.

Content-addressed: a file's name is the SHA-256 of its bytes and the image type, so a
camera that re-sends a push (or two events sharing a picture) writes one file, a name
cannot be chosen by a sender (no path in it), and a file's content is checked by its
name. Files are 0640 in a 0750 directory (pictures of people and plates: personal data,
readable by the service's group, not by other users). Written to a temporary file and
renamed, so a reader never sees half a picture. The plate-retention job deletes files
older than the retention period (processors/jobs/plate_retention.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from pathlib import Path

DIR_MODE = 0o750
FILE_MODE = 0o640
PREFIX = "isapi:"
# Magic numbers of the image types cameras send; the extension comes from the bytes,
# never from a name or Content-Type the sender chose.
# JPEG and PNG only: what cameras send, and what GET /api/v1/snapshots serves
# (api/snapshot_links.py).
_MAGIC = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
NAME = re.compile(r"[0-9a-f]{64}\.(?:jpg|png)")


class SnapshotTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"image of {size} bytes > {limit}")
        self.size = size
        self.limit = limit


class NotAnImage(Exception):
    """The bytes are none of the image types kept (JPEG, PNG)."""


def image_type(data: bytes) -> str | None:
    for magic, extension in _MAGIC:
        if data.startswith(magic):
            return extension
    return None


def name_of(data: bytes) -> str:
    """The file name the image gets: `<sha256>.<ext>`. Raises NotAnImage."""
    extension = image_type(data)
    if extension is None:
        raise NotAnImage("not a JPEG or PNG image")
    return f"{hashlib.sha256(data).hexdigest()}.{extension}"


def save(directory: Path, data: bytes, max_bytes: int) -> str:
    """Store the image (once); its reference `isapi:<sha256>.<ext>`.
    Raises SnapshotTooLarge or NotAnImage; OSError if the disk refuses."""
    if len(data) > max_bytes:
        raise SnapshotTooLarge(len(data), max_bytes)
    name = name_of(data)
    _directory(directory)
    target = directory / name
    if target.exists():
        # Retention deletes pictures by their file's date: a newer event refers to it now.
        os.utime(target)
    else:
        _write(target, data)
    return PREFIX + name


def path_of(directory: Path, reference_or_name: str) -> Path | None:
    """The file of a reference or bare name, or None when it is not a snapshot name (so
    a request cannot reach another file)."""
    name = reference_or_name.removeprefix(PREFIX)
    return directory / name if NAME.fullmatch(name) else None


def _directory(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(DIR_MODE)  # mkdir's mode is masked by the umask


def _write(target: Path, data: bytes) -> None:
    # Unique per thread: two requests may carry the same picture at once.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
