"""A decoder bug on one message of a batch, through the real worker: `ioc ingest` (with a
bug planted in ioc_telemetry) on mosquitto and the database. The message becomes a dead
letter naming the bug, the rest of its batch is stored, and the worker goes on."""

from __future__ import annotations

import json
import stat
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import REPO_ROOT
from tests.integration import harness
from tests.integration.harness import count, make_routes, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration

MARKER = b'"plant_bug"'
BATCH = 200


def main() -> None:
    """`ioc` with ioc_telemetry replaced by itself plus a bug that a marker triggers;
    the script written by `planted_ioc` runs this in the worker process."""
    import ingest.formats  # noqa: F401  (registers the real formats first)
    from cli.main import app
    from events.models import Event
    from ingest.formats.base import get_decoder, register
    from ingest.message import RawMessage

    real = get_decoder("ioc_telemetry")

    @register("ioc_telemetry")
    def planted(message: RawMessage) -> Sequence[Event]:
        if MARKER in message.payload:
            return [[][0]]  # IndexError, as a decoder slip on an odd payload would raise
        return real(message)

    app()


@pytest.fixture
def planted_ioc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Started as the `ioc` executable by the workers fixture. The guard matters: the
    # worker spawns its MQTT receiver, which re-runs this script as __mp_main__.
    script = tmp_path / "ioc-planted"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "if __name__ == '__main__':\n"
        "    from tests.integration.test_decoder_crash import main\n"
        "    main()\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(harness, "IOC_BIN", str(script))


def readings(n: int, offset: int) -> list[bytes]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return [
        json.dumps({"ts": (base + timedelta(seconds=offset + i)).isoformat(), "pm25": i}).encode()
        for i in range(n)
    ]


def test_a_decoder_bug_dead_letters_one_message_and_the_worker_goes_on(
    settings, db, tmp_path, devices, workers, planted_ioc
) -> None:
    # A batch closes only when full, so the bad message shares it with 199 good ones.
    routes = make_routes(tmp_path, max_messages=BATCH, max_wait=60)
    (device,) = devices(1)
    worker = workers(routes, f"crash-{uuid.uuid4().hex[:6]}", "mqtt")

    lines = readings(BATCH, 0)
    lines[77] = lines[77][:-1] + b", " + MARKER + b": 1}"
    mosquitto_pub(settings, device.username, device.password, device.topic, lines)
    assert wait_for(lambda: count(db, "dead_letters") == 1, timeout=60), "no dead letter"
    assert count(db, "measurements") == BATCH - 1
    reason, fmt, payload = db.execute(
        "SELECT reason, format, payload FROM dead_letters"
    ).fetchone()  # fmt: skip
    assert reason == "decoder error in ioc_telemetry: IndexError: list index out of range"
    assert fmt == "ioc_telemetry"
    assert bytes(payload) == lines[77]

    # Acknowledged with its batch: the worker is alive and the next batch is stored.
    mosquitto_pub(settings, device.username, device.password, device.topic, readings(BATCH, 1000))
    assert wait_for(lambda: count(db, "measurements") == 2 * BATCH - 1, timeout=60)
    assert worker.alive()
    assert worker.stop() == 0
    assert count(db, "dead_letters") == 1
    log = (tmp_path / "w.log").read_text(errors="replace")
    assert log.count("decoder bug in format ioc_telemetry: IndexError") == 1
    assert "Traceback" in log
