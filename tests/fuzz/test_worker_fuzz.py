"""Fuzzed payloads of every routed format through a real `ioc ingest` worker on MQTT and
Kafka: the worker never dies or logs a traceback, every payload ends as exactly one of
rows or a dead letter with a specific reason, every valid one is stored once.

`make test` runs a bounded number (FUZZ_PAYLOADS, default 3,000); `make fuzz` the full
≥ 100,000. FUZZ_SEED picks the payloads; the same seed gives the same payloads.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import get_settings
from tests.fuzz.harness import judge, make_routes, predict, send_all, wait_accounted
from tests.fuzz.payloads import generate
from tests.integration.harness import TestRoutes, WorkerProcess, create_topics, forget_mqtt_session

pytestmark = pytest.mark.integration

PAYLOADS = int(os.environ.get("FUZZ_PAYLOADS", "3000"))
SEED = int(os.environ.get("FUZZ_SEED", "20261203"))


def test_fuzzed_payloads_through_the_worker(tmp_path: Path) -> None:
    settings = get_settings()
    routes = make_routes(tmp_path)
    create_topics(settings, routes.kafka_topics.values())
    items = list(generate(PAYLOADS, SEED))
    worker_routes = TestRoutes(
        routes.path, routes.share_group, f"fuzz-{routes.tag}",
        routes.kafka_topics["syslog"], routes.kafka_topics["suricata"],
    )  # fmt: skip
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_routes, f"fuzz-{routes.tag}", ("mqtt", "kafka"), log).start()
    started = time.monotonic()
    try:
        sent = send_all(settings, routes, items)
        expected = predict(routes, sent)
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            timeout = max(300, PAYLOADS / 50)
            seen = wait_accounted(conn, routes, expected, worker.alive, timeout)
        alive = worker.alive()
    finally:
        code = worker.stop()
        password = load_secrets(settings).mqtt_ingest_password
        forget_mqtt_session(settings, MQTT_INGEST_USER, password, f"ioc-ingest-{worker.worker_id}")
    elapsed = time.monotonic() - started
    report = judge(routes, expected, seen)
    text = log.read_text(errors="replace")
    print(f"\nfuzz seed {SEED}: {elapsed:.0f} s through the worker\n{report.summary()}")
    assert alive, f"the worker died:\n{text[-4000:]}"
    assert code == 0, f"the worker exited with {code}:\n{text[-4000:]}"
    assert "Traceback" not in text, text[text.index("Traceback") - 200 :][:4000]
    assert not report.problems, "\n".join(report.problems)
    assert report.payloads == PAYLOADS
