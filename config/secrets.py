"""Secrets generated at first start, never written into the repository.

They live in run_dir/secrets.json (mode 0600). Settings (IOC_PG_PASSWORD,
IOC_MQTT_INGEST_PASSWORD, …) win over the file, so a production deployment injects them
instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

# MQTT service accounts; devices get their own accounts through `ioc devices add`.
MQTT_INGEST_USER = "ioc-ingest"
MQTT_FRIGATE_USER = "frigate"
MQTT_ADMIN_USER = "ioc-admin"
# Publishes device commands and reads their acknowledgements (control/).
MQTT_COMMANDS_USER = "ioc-commands"

SECRET_FILE_MODE = 0o600


@dataclass(frozen=True)
class Secrets:
    pg_password: str
    mqtt_ingest_password: str
    mqtt_frigate_password: str
    mqtt_admin_password: str
    mqtt_commands_password: str
    webhook_secret: str  # HMAC key of webhook notifications (X-IOC-Signature)


SECRET_NAMES = tuple(f.name for f in fields(Secrets))


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


def load_secrets(settings: Settings, create: bool = True) -> Secrets:
    path = settings.secrets_file
    data = _read(path)
    missing = [name for name in SECRET_NAMES if name not in data]
    if missing and not create:
        raise FileNotFoundError(f"{path} lacks {missing}; start the stack first (make up)")
    if missing:
        data = _create_missing(path)
    for name in SECRET_NAMES:
        injected = getattr(settings, name)
        if injected:
            data[name] = injected
    return Secrets(**{name: data[name] for name in SECRET_NAMES})


def _read(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def _create_missing(path: Path) -> dict[str, str]:
    """Add the secrets the file lacks. Under an exclusive lock, so that processes starting
    together all end up with the secrets of one file rather than each with its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        data = _read(path)  # another process may have written them while we waited
        missing = [name for name in SECRET_NAMES if name not in data]
        if missing:
            data |= {name: _new_secret() for name in missing}
            write_private(path, json.dumps(data, indent=2).encode())
    return data


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, SECRET_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_private(path: Path, content: bytes) -> None:
    """Replace `path` with `content`, readable by its owner only, atomically.

    The temporary file is created with O_EXCL and mode 0600 from the start (so the umask
    cannot widen it and no other process's file is reused), written and fsynced before
    os.replace puts it in place: readers see the old file or the whole new one, never a
    partial or world-readable one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            # os.open's mode passes through the umask, which can only narrow it; fchmod
            # makes the mode exactly 0600 whatever the umask.
            os.fchmod(out.fileno(), SECRET_FILE_MODE)
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def as_dict(value: Secrets) -> dict[str, str]:
    return asdict(value)
