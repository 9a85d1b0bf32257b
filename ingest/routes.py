"""Routing configuration: which format decodes which topic, and batching limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from paho.mqtt.client import topic_matches_sub
from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.yaml_loader import load_model
from ingest.formats.base import Decoder, get_decoder


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_format(name: str) -> str:
    try:
        get_decoder(name)
    except KeyError as error:  # its message names the unknown format and the known ones
        raise ValueError(error.args[0]) from None
    return name


class MqttRoute(_Strict):
    filter: str
    format: str

    _format = field_validator("format")(_known_format)


class KafkaRoute(_Strict):
    topic: str
    format: str

    _format = field_validator("format")(_known_format)


class MqttConfig(_Strict):
    share_group: str = "ioc-ingest"
    routes: tuple[MqttRoute, ...] = ()


class KafkaConfig(_Strict):
    group_id: str = "ioc-ingest"
    routes: tuple[KafkaRoute, ...] = ()


# Formats that take the device from an MQTT telemetry topic: over HTTP they are served
# by POST /api/v1/ingest/telemetry, where the device's token names the device.
TELEMETRY_FORMATS = frozenset({"ioc_telemetry", "native_json", "senml"})
HTTP_ROUTE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
RESERVED_HTTP_ROUTES = frozenset({"telemetry"})


class HttpRoute(_Strict):
    """POST /api/v1/ingest/<name>: the body split into items (`lines`: one per non-empty
    line; `json_array`: one per element of a JSON array, or the one object), each item
    decoded by `format` as one message. Who may post: API users of `roles`, and, when
    `devices` is true, any enabled device with its own HTTP token."""

    name: str = Field(pattern=HTTP_ROUTE_NAME)
    format: str
    items: Literal["lines", "json_array"] = "lines"
    roles: tuple[Literal["integrator", "admin"], ...] = ("integrator", "admin")
    devices: bool = False

    _format = field_validator("format")(_known_format)

    @field_validator("format")
    @classmethod
    def _not_telemetry(cls, name: str) -> str:
        if name in TELEMETRY_FORMATS:
            raise ValueError(
                f"format {name!r} takes its device from the topic: devices post it to"
                " /api/v1/ingest/telemetry with their own token"
            )
        return name

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_HTTP_ROUTES:
            raise ValueError(f"route name {name!r} is reserved")
        return name


class HttpConfig(_Strict):
    # Items per request (readings of a telemetry batch, lines, array elements).
    max_items: int = Field(default=1000, gt=0, le=100_000)
    # Items waiting for the writer in one API process; past it requests get a 503 with
    # Retry-After instead of queueing without bound.
    max_queued_items: int = Field(default=20_000, gt=0)
    # Items in one transaction at most (requests that arrived together share it).
    max_batch_items: int = Field(default=2000, gt=0)
    # How long a group waits after its first request for others to share its
    # transaction (ingest/http/group.py).
    linger_seconds: float = Field(default=0.02, ge=0, le=1)
    # A linger of its own for requests of these formats (cameras: one event a request);
    # a group closes at the earliest deadline of its requests, so a request never waits
    # longer than its own.
    linger_by_format: dict[str, float] = {}
    routes: tuple[HttpRoute, ...] = ()

    @field_validator("linger_by_format")
    @classmethod
    def _known_lingers(cls, lingers: dict[str, float]) -> dict[str, float]:
        for name, seconds in lingers.items():
            _known_format(name)
            if not 0 <= seconds <= 1:
                raise ValueError(f"{name}: a linger of {seconds} s is not in [0, 1]")
        return lingers

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: tuple[HttpRoute, ...]) -> tuple[HttpRoute, ...]:
        names = [r.name for r in routes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"route names given twice: {', '.join(twice)}")
        return routes

    def route(self, name: str) -> HttpRoute | None:
        return next((r for r in self.routes if r.name == name), None)


class Limits(_Strict):
    max_message_bytes: int = Field(default=1024 * 1024, gt=0)


class Batching(_Strict):
    max_messages: int = Field(default=2000, gt=0)
    max_wait_seconds: float = Field(default=0.2, gt=0)
    # A window of its own for messages of these formats. A batch closes at the earliest
    # deadline of the messages it holds, so a reading in a batch of camera events still
    # waits no longer than max_wait_seconds.
    max_wait_by_format: dict[str, float] = {}
    # Database connections committing batches side by side, per source (ingest/committer.py).
    writers: int = Field(default=1, ge=1, le=16)

    @field_validator("max_wait_by_format")
    @classmethod
    def _known_windows(cls, windows: dict[str, float]) -> dict[str, float]:
        for name, seconds in windows.items():
            _known_format(name)
            if not 0 < seconds <= 10:
                raise ValueError(f"{name}: a window of {seconds} s is not in (0, 10]")
        return windows

    def wait_for(self, format_name: str | None) -> float:
        if format_name is None:
            return self.max_wait_seconds
        return self.max_wait_by_format.get(format_name, self.max_wait_seconds)


class RoutesConfig(_Strict):
    mqtt: MqttConfig = MqttConfig()
    kafka: KafkaConfig = KafkaConfig()
    http: HttpConfig = HttpConfig()
    limits: Limits = Limits()
    batching: Batching = Batching()


def load_routes(path: Path) -> RoutesConfig:
    """Raises ConfigErrors (a ValueError): file:line: field: message for each problem,
    an unknown format included."""
    return load_model(path, RoutesConfig, empty={})


class TopicRouter:
    """Finds the format for a topic; caches per topic since there are few topics per
    device and matching MQTT filters on every message would be wasted work."""

    def __init__(self, routes: dict[str, str], wildcard: bool) -> None:
        self._routes = routes
        self._wildcard = wildcard
        self._cache: dict[str, tuple[str, Decoder] | None] = {}

    def resolve(self, topic: str) -> tuple[str, Decoder] | None:
        try:
            return self._cache[topic]
        except KeyError:
            pass
        found = None
        for pattern, format_name in self._routes.items():
            if topic_matches_sub(pattern, topic) if self._wildcard else pattern == topic:
                found = (format_name, get_decoder(format_name))
                break
        if len(self._cache) < 100_000:
            self._cache[topic] = found
        return found


def mqtt_router(config: RoutesConfig) -> TopicRouter:
    return TopicRouter({r.filter: r.format for r in config.mqtt.routes}, wildcard=True)


def kafka_router(config: RoutesConfig) -> TopicRouter:
    return TopicRouter({r.topic: r.format for r in config.kafka.routes}, wildcard=False)
