"""The real services a scenario runs against, for the scenario tests and the camera
acceptance tests: one `ioc ingest` worker (MQTT and Kafka) with routes of its own, one
`ioc alerts run` service (offline devices, line counts), the API (ISAPI pushes); and
`ioc simulate --scenario` run as an integrator runs it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from config.settings import Settings
from tests.integration.alerting import AlertServiceProcess
from tests.integration.api_server import api_process
from tests.integration.harness import IOC_BIN, TestRoutes, WorkerProcess, create_topics, make_routes


@contextmanager
def scenario_stack(settings: Settings, work: Path) -> Iterator[dict[str, str]]:
    """Start the services; yield the environment a simulator run needs to find them."""
    routes, onvif_topic = _with_camera_routes(make_routes(work))
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic, onvif_topic])
    channels = work / "channels.yaml"
    channels.write_text("channels: []\n")  # the tests watch alerts, not notifications
    env = {
        "IOC_ROUTES_FILE": str(routes.path),
        "IOC_CHANNELS_FILE": str(channels),
        "IOC_OFFLINE_CHECK_SECONDS": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        worker = WorkerProcess(routes, work.name, ("mqtt", "kafka"), work / "worker.log")
        worker.start()
        service = AlertServiceProcess(env, work / "alerts.log").start()
        try:
            # Hikvision cameras push ISAPI to the API: the simulator finds it here.
            with api_process(env, work / "api.log") as url:
                yield {**env, "IOC_PUBLIC_API_URL": url}
        finally:
            service.stop()
            worker.stop()
            for log in ("worker.log", "alerts.log", "api.log"):
                text = (work / log).read_text(errors="replace")
                print(f"--- {log} (tail)\n{text[-3000:]}")


def _with_camera_routes(routes: TestRoutes) -> tuple[TestRoutes, str]:
    """Frigate's stats and review items; ONVIF JSON on a Kafka topic of this test's own
    (the simulator sends to the topic the routes file routes to the onvif format)."""
    config = yaml.safe_load(routes.path.read_text())
    config["mqtt"]["routes"].append({"filter": "frigate/stats", "format": "frigate_stats"})
    config["mqtt"]["routes"].append({"filter": "frigate/reviews", "format": "frigate_reviews"})
    onvif_topic = f"camera.onvif.{routes.kafka_group}"
    config["kafka"]["routes"].append({"topic": onvif_topic, "format": "onvif"})
    routes.path.write_text(yaml.safe_dump(config))
    return routes, onvif_topic


def simulate(
    env: dict[str, str], scenario: Path, speed: float, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`ioc simulate --scenario S --speed X --verify`: a new seed each run, printed."""
    args = [IOC_BIN, "simulate", "--scenario", str(scenario), "--speed", f"{speed:g}"]
    args += ["--verify", *extra]
    return subprocess.run(
        args, env=dict(os.environ, **env), capture_output=True, text=True, timeout=900
    )
