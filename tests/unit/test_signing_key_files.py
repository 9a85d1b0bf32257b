"""The CAP signing key pair on disk: made once, and never read half-made."""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from processors.alerts.public import signing

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_made_once_then_read_back(tmp_path: Path) -> None:
    key, cert = signing.key_paths(tmp_path, None, None)
    first = signing.load_or_create(key, cert, common_name="ioc.test")
    again = signing.load_or_create(key, cert, common_name="ioc.test")
    assert first == again
    assert key.stat().st_mode & 0o777 == 0o600


def test_a_reader_waits_while_another_process_is_between_the_two_files(tmp_path: Path) -> None:
    # Another process holds the lock and has written the key but not yet the certificate.
    key, cert = signing.key_paths(tmp_path, None, None)
    key.parent.mkdir(parents=True)
    pair = signing.generate("ioc.test", now=T0)
    key.write_bytes(pair.key_pem)
    lock = os.open(key.with_name(key.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_load(key, cert)), daemon=True)
    reader.start()
    reader.join(0.3)
    assert outcome == []  # waiting, not "cert.pem is missing"
    cert.write_bytes(pair.cert_pem)
    os.close(lock)
    reader.join(10)
    assert outcome == [pair]


def _load(key: Path, cert: Path) -> object:
    try:
        return signing.load_or_create(key, cert, common_name="ioc.test")
    except FileNotFoundError as error:
        return error
