"""The chaos fixture: a private routes file, stations, a webhook receiver, and the alert
service and workers as the processes production runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials
from tests.integration.alerting import SECRET, AlertServiceProcess, WebhookSink
from tests.integration.chaos.harness import (
    MixedStream,
    Outcome,
    assert_alerts_exactly_once,
    assert_notified,
    assert_rows_exactly_once,
    channels_file,
    kafka_assigned,
    register_stations,
)
from tests.integration.harness import TestRoutes, WorkerProcess, create_topics, wait_for


@dataclass
class Chaos:
    settings: Settings
    routes: TestRoutes
    stations: list[DeviceCredentials]
    probe: DeviceCredentials
    sink: WebhookSink
    channel: str
    env: dict[str, str]
    log: Path
    start_worker: Callable[..., WorkerProcess]
    services: list[AlertServiceProcess] = field(default_factory=list)

    def stream(self, **kwargs: Any) -> MixedStream:
        return MixedStream(self.settings, self.routes, self.stations, **kwargs)

    def worker(self, worker_id: str, *sources: str, assigned: bool = True) -> WorkerProcess:
        """A worker, ready; with Kafka and `assigned`, once it owns partitions (joining a
        group takes the broker seconds, and a stream must not end before it)."""
        worker = self.start_worker(self.routes, worker_id, *sources)
        if assigned and (not sources or "kafka" in sources):
            topic = self.routes.syslog_topic
            assert wait_for(lambda: kafka_assigned(worker, topic), timeout=180, interval=0.2)
        return worker

    def alert_service(self) -> AlertServiceProcess:
        service = AlertServiceProcess(self.env, self.log).start()
        self.services.append(service)
        return service

    def check(self, stream: MixedStream) -> Outcome:
        """Rows, alerts and notifications, each exactly once; the outcome carries what
        the receiver saw for the test's own assertions on repeats."""
        stream.join()
        assert_rows_exactly_once(self.settings, stream)
        assert_alerts_exactly_once(self.settings)
        return assert_notified(self.settings, self.channel, self.sink)


@pytest.fixture
def chaos(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers: Callable[..., WorkerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Chaos]:
    db.execute("DELETE FROM alerts WHERE domain = 'security'")
    db.execute("DELETE FROM detector_state WHERE detector LIKE 'sec.%' OR detector = 'sigma'")
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    sink = WebhookSink()
    channel, path = channels_file(tmp_path, sink.url, SECRET)
    # The workers route new alerts to this channel; they inherit this environment.
    monkeypatch.setenv("IOC_CHANNELS_FILE", str(path))
    [probe] = register_stations(settings, 1, prefix="probe")
    chaos = Chaos(
        settings=settings,
        routes=routes,
        stations=register_stations(settings, 6),
        probe=probe,
        sink=sink,
        channel=channel,
        env={"IOC_CHANNELS_FILE": str(path)},
        log=tmp_path / f"alerts-{uuid.uuid4().hex[:4]}.log",
        start_worker=workers,
    )
    yield chaos
    for service in chaos.services:
        service.stop()
    sink.close()
    if chaos.log.exists():
        print(chaos.log.read_text(errors="replace")[-4000:])
