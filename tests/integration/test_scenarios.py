"""Every shipped scenario passes `ioc simulate --scenario S --verify` on the real stack
(issue 13, acceptance 4): the simulator registers the participants, replays the timeline
through mosquitto and Tansu at a high speed-up, an `ioc ingest` worker stores it and runs
the detectors, an `ioc alerts run` service runs the timers (offline devices), and the
command waits for the expected alerts and exits 0 only when they came on time and none
that must not appear did. A scenario whose expectations are wrong fails, naming them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from config.settings import Settings
from simulators.scenario import load_scenario, shipped_scenarios
from tests.integration.alerting import AlertServiceProcess
from tests.integration.harness import IOC_BIN, WorkerProcess, create_topics, make_routes

if TYPE_CHECKING:
    from tests.integration.harness import TestRoutes

pytestmark = pytest.mark.integration

# Each replay's sending takes about this long in wall time; the camera scenario's
# silence is judged by the alert service's clock and takes its own minute regardless.
SEND_WALL_S = 8.0


@pytest.fixture(scope="module")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One worker (MQTT and Kafka) and one alert service for all scenarios; the
    environment a simulator run needs to find their routes."""
    work = tmp_path_factory.mktemp("scenarios")
    routes = _with_stats_route(make_routes(work))
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    channels = work / "channels.yaml"
    channels.write_text("channels: []\n")  # the test watches alerts, not notifications
    env = {
        "IOC_ROUTES_FILE": str(routes.path),
        "IOC_CHANNELS_FILE": str(channels),
        "IOC_OFFLINE_CHECK_SECONDS": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        worker = WorkerProcess(routes, "scenarios", ("mqtt", "kafka"), work / "worker.log")
        worker.start()
        service = AlertServiceProcess(env, work / "alerts.log").start()
        try:
            yield env
        finally:
            service.stop()
            worker.stop()
            for log in ("worker.log", "alerts.log"):
                text = (work / log).read_text(errors="replace")
                print(f"--- {log} (tail)\n{text[-3000:]}")


def _with_stats_route(routes: TestRoutes) -> TestRoutes:
    config = yaml.safe_load(routes.path.read_text())
    config["mqtt"]["routes"].append({"filter": "frigate/stats", "format": "frigate_stats"})
    routes.path.write_text(yaml.safe_dump(config))
    return routes


def _simulate(
    env: dict[str, str], scenario: Path, speed: float
) -> subprocess.CompletedProcess[str]:
    args = [IOC_BIN, "simulate", "--scenario", str(scenario), "--speed", f"{speed:g}"]
    args += ["--verify"]  # a new seed each run, printed: as an integrator runs it
    return subprocess.run(
        args, env=dict(os.environ, **env), capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_verifies(stack: dict[str, str], path: Path) -> None:
    scenario = load_scenario(path)
    speed = max(1.0, scenario.duration / SEND_WALL_S)
    done = _simulate(stack, path, speed)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert f"verified: {len(scenario.expect)} expected alert(s)" in done.stdout


def test_wrong_expectations_fail_naming_what_was_missing_and_unexpected(
    stack: dict[str, str], tmp_path: Path
) -> None:
    wrong = {
        "title": "brute force with wrong expectations",
        "domain": "security",
        "duration": "2m",
        # A fresh attacker each run (random seed), so a re-run on the same stack is not
        # inside the first one's quiet period; from a range no shipped scenario uses.
        "actors": {"attacker": ["192.0.2.0/24"]},
        "logs": [
            {
                "kind": "ssh_failures",
                "at": "5s",
                "source": "attacker",
                "server": "kg-vpn-gw01",
                "count": 12,
                "every": "1s",
            },
        ],
        "expect": [{"rule": "sec.bruteforce", "labels": {"source_ip": "198.18.0.250"}}],
        "absent": [{"rule": "sec.bruteforce", "labels": {"source_ip": "{attacker}"}}],
        "verify_timeout": 60,
    }
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(wrong))
    done = _simulate(stack, path, speed=30)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "MISSING  sec.bruteforce{source_ip=198.18.0.250}: no such alert" in done.stderr
    assert re.search(
        r"UNEXPECTED  sec\.bruteforce\{source_ip=192\.0\.2\.\d+\}: fired high", done.stderr
    )
