"""A bug on one message of a batch, through the real worker: `ioc ingest` (with bugs
planted in ioc_telemetry and syslog) on mosquitto, Kafka and the database. The message
becomes a dead letter naming the bug, the rest of its batch is stored, and the worker
goes on: whether the decoder raised, or decoded an event the writer cannot write."""

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
from tests.integration.harness import (
    count,
    create_topics,
    make_routes,
    mosquitto_pub,
    produce,
    sshd_failures,
    wait_for,
)

pytestmark = pytest.mark.integration

MARKER = b'"plant_bug"'
UNWRITABLE = b"plant_unwritable"
BATCH = 200


def main() -> None:
    """`ioc` with ioc_telemetry and syslog replaced by themselves plus a bug that a
    marker triggers; the script written by `planted_ioc` runs this in the worker
    process."""
    import ingest.formats  # noqa: F401  (registers the real formats first)
    from cli.main import app
    from events.models import Event
    from ingest.formats.base import get_decoder, register
    from ingest.message import RawMessage

    real = get_decoder("ioc_telemetry")
    real_syslog = get_decoder("syslog")

    @register("ioc_telemetry")
    def planted(message: RawMessage) -> Sequence[Event]:
        if MARKER in message.payload:
            return [[][0]]  # IndexError, as a decoder slip on an odd payload would raise
        return real(message)

    @register("syslog")
    def planted_syslog(message: RawMessage) -> Sequence[Event]:
        events = real_syslog(message)
        if UNWRITABLE in message.payload:
            # What auditd decoded before 413bee1: an ECS integer past 64 bits, which
            # orjson refuses when the writer renders the ecs column.
            return [e.model_copy(update={"ecs": {**e.ecs, "process": {"pid": 10**25}}})
                    for e in events]  # fmt: skip
        return events

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


def test_an_event_the_writer_cannot_write_is_a_dead_letter_and_kafka_goes_on(
    settings, db, tmp_path, workers, planted_ioc
) -> None:
    """Found by tests/fuzz: the writer's TypeError stopped the committer, and with it
    the Kafka source for every device."""
    routes = make_routes(tmp_path, max_messages=BATCH, max_wait=60)
    create_topics(settings, [routes.syslog_topic], partitions=1)
    worker = workers(routes, f"unwritable-{uuid.uuid4().hex[:6]}", "kafka")

    lines = sshd_failures(routes.syslog_topic, BATCH)
    topic, key, line = lines[77]
    lines[77] = (topic, key, line + b" " + UNWRITABLE)
    produce(settings, lines)
    # Isolated, the batch commits message by message: wait for the last of them.
    assert wait_for(lambda: count(db, "security_events") == BATCH - 1, timeout=60)
    assert count(db, "dead_letters") == 1
    reason, fmt, payload, offset = db.execute(
        "SELECT reason, format, payload, kafka_offset FROM dead_letters"
    ).fetchone()
    assert reason == "could not be written: TypeError: Integer exceeds 64-bit range"
    assert (fmt, bytes(payload), offset) == ("syslog", lines[77][2], 77)

    # Acknowledged with its batch: the source is alive and the next batch is stored.
    produce(settings, sshd_failures(routes.syslog_topic, BATCH, host="db"))
    assert wait_for(lambda: count(db, "security_events") == 2 * BATCH - 1, timeout=60)
    assert worker.alive()
    assert worker.stop() == 0
    assert count(db, "dead_letters") == 1
    log = (tmp_path / "w.log").read_text(errors="replace")
    assert "committer stopped" not in log
    assert log.count("could not write a message of format syslog: TypeError") == 1
    assert "Traceback" in log
