"""Replay dead letters through today's decoders, after a route or format fix.

Each letter becomes the RawMessage it was (transport, topic, Kafka position, the time it
arrived, its bytes) and goes through `ingest.decode.decode` with the routes file as the
worker reads it now. What decodes is written by the worker's own BatchWriter with the
worker's detector runner, so the events get the same identities (a second replay, or
the original message re-delivered, adds nothing) and the same detection; the letter is
then resolved by this replay. What still fails keeps its row, with the new reason.

A failing letter is never written as a dead letter again: decode() builds one, but its
id could differ from the stored row's (the id hashes the payload for MQTT), so the
existing row is updated instead and a message stays one row.

A chunk that fails to write for its data is replayed again letter by letter, as the
committers isolate a batch (`ingest.committer.isolates`): a value the database refuses,
or any exception that is no database error (a bug meeting one message's data, such as
orjson refusing an integer past 64 bits). The letter that still fails keeps its row with
the reason the worker would have given it ("could not be written: …"); the others are
stored. The database being away is not isolated: the replay stops (the API answers 503).

Letters are locked, decoded, written and marked in one transaction per chunk, so a
crash leaves no letter marked without its events, and the replay record counts exactly
its items. One write per transaction: the writer's staging tables empty at commit, and
two writes in one transaction would stage the first one's rows again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import yaml

from config.settings import Settings
from events.text import clean_text
from ingest.committer import describe, idle_again, isolates, unwritable
from ingest.decode import Decoded, decode, reject
from ingest.message import RawMessage
from ingest.routes import RoutesConfig, TopicRouter, kafka_router, load_routes, mqtt_router
from store import dead_letters as store
from store.writer import MAX_DEAD_LETTER_PAYLOAD, Batch, BatchProcessor, BatchWriter

log = logging.getLogger(__name__)

# Bounds of one replay transaction: letters and bytes loaded at once (a letter keeps up
# to 1 MiB, so 1000 of them in one go could take a gigabyte).
CHUNK_LETTERS = 100
CHUNK_BYTES = 16 * 1024 * 1024

HTTP = "http"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Item:
    dead_letter_id: str
    outcome: str  # stored | still_failing
    reason: str | None = None


@dataclass
class Report:
    replay_id: int
    selected: int
    items: list[Item] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(1 for i in self.items if i.outcome == "stored")

    @property
    def still_failing(self) -> int:
        return len(self.items) - self.stored


class ReplayConfigError(Exception):
    """The routes, rule or channel files as they are now do not load: nothing was
    replayed or recorded. The deployment's to fix (`ioc rules check` says where)."""


def _load(
    settings: Settings, processor: BatchProcessor | None
) -> tuple[RoutesConfig, BatchProcessor | None]:
    """The routes file and the detector runner, read now, before anything is recorded."""
    try:
        config = load_routes(settings.routes_file)
        if processor is None:
            from processors.catalog import build_runner

            processor = build_runner(settings)
    except (ValueError, OSError, yaml.YAMLError) as error:
        raise ReplayConfigError(clean_text(str(error))) from error
    return config, processor


def routers(config: RoutesConfig) -> dict[str, TopicRouter]:
    """The router per transport, as the worker builds them."""
    return {"mqtt": mqtt_router(config), "kafka": kafka_router(config)}


def replay(
    settings: Settings,
    ids: Sequence[str],
    *,
    actor: str,
    selection: dict[str, Any],
    progress: Progress | None = None,
    processor: BatchProcessor | None = None,
) -> Report:
    """Replay the letters `ids` (the caller checked they exist and may be replayed) with
    the routes file read now; record the replay as `actor`'s. `processor` defaults to
    the detector runner the worker builds. Raises ReplayConfigError when the files do
    not load."""
    config, processor = _load(settings, processor)
    engine = _Engine(config)
    with psycopg.connect(settings.dsn(), autocommit=True, application_name="ioc-replay") as conn:
        sizes = store.stored_sizes(conn, ids)
        unique = [i for i in dict.fromkeys(ids) if i in sizes]  # gone meanwhile: not selected
        with conn.transaction():
            report = Report(store.start_replay(conn, actor, selection, len(unique)), len(unique))
        writer = BatchWriter(conn, processor)
        done = 0
        for chunk in chunks(unique, sizes):
            report.items += engine.replay_chunk(conn, writer, report.replay_id, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, len(unique))
    log.info(
        "replay %d by %s: %d selected, %d stored, %d still failing",
        report.replay_id, actor, report.selected, report.stored, report.still_failing,
    )  # fmt: skip
    return report


def chunks(ids: Sequence[str], sizes: dict[str, int]) -> Iterator[list[str]]:
    """`ids` in order, in runs of at most CHUNK_LETTERS letters and CHUNK_BYTES bytes (a
    single larger letter is a run of its own). Ids gone meanwhile are dropped."""
    run: list[str] = []
    total = 0
    for letter_id in ids:
        if letter_id not in sizes:
            continue
        size = sizes[letter_id]
        if run and (len(run) >= CHUNK_LETTERS or total + size > CHUNK_BYTES):
            yield run
            run, total = [], 0
        run.append(letter_id)
        total += size
    if run:
        yield run


def as_message(row: dict[str, Any]) -> RawMessage:
    return RawMessage(
        transport=row["transport"],
        topic=row["topic"],
        payload=bytes(row["payload"]),
        partition=row["kafka_partition"],
        offset=row["kafka_offset"],
        # Formats date readings without a timestamp (and syslog lines without a year) by
        # arrival: the letter's own arrival, not the replay's.
        received_at=row["received_at"],
    )


def cut_reason(row: dict[str, Any]) -> str | None:
    """Why a letter cannot be replayed at all, or None."""
    kept = len(row["payload"])
    if row["payload_size"] > kept:
        return (
            f"cannot be replayed: only the first {kept} of its {row['payload_size']} bytes"
            f" were kept (dead letters keep {MAX_DEAD_LETTER_PAYLOAD} bytes)"
        )
    return None


class _Engine:
    def __init__(self, config: RoutesConfig) -> None:
        self.routes = routers(config)
        self.http = config.http
        self.max_bytes = config.limits.max_message_bytes

    def decode(self, row: dict[str, Any]) -> Decoded:
        message = as_message(row)
        if message.transport == HTTP:
            return self._decode_http(message, row["format"])
        router = self.routes.get(message.transport)
        if router is None:
            return reject(message, None, f"no replay path for transport {message.transport!r}")
        return decode(message, router, self.max_bytes)

    def _decode_http(self, message: RawMessage, letter_format: str | None) -> Decoded:
        """As the HTTP path decodes: split by the route's (or the telemetry format's) own
        rules, which also refuse a record naming another device than the token's, then
        decode each item. A letter is one item, or a whole body that could not be split;
        its events are stored only if every item of it decodes (a message is atomic)."""
        from ingest.http import items as http

        parts = message.topic.split("/")
        format_name = letter_format
        if parts[:2] == ["http", "isapi"] and len(parts) == 3:
            # A camera's push: the letter is its XML (a multipart body's XML part, the
            # picture not kept), decoded for the camera that had authenticated.
            from ingest.http import isapi

            return decode(message, isapi.router(), self.max_bytes)
        try:
            if len(parts) == 4 and parts[:2] == ["ioc", "v1"] and parts[3] == "telemetry":
                if letter_format == http.SENML:
                    split = http.senml_items(message.payload, parts[2])
                elif letter_format == http.NATIVE:
                    split = http.native_items(message.payload, parts[2])
                else:
                    return reject(message, letter_format, "no telemetry format to replay with")
                router = http.telemetry_router(letter_format)
            elif parts[0] == "http" and len(parts) in (2, 3):
                route = self.http.route(parts[1])
                if route is None:
                    return reject(message, None, f"no HTTP route {parts[1]!r} is configured")
                format_name = route.format
                by_lines = route.items == "lines"
                split = (http.line_items if by_lines else http.json_array_items)(message.payload)
                router = http.routes_router(self.http)
            else:
                return reject(message, letter_format, "not a topic of the HTTP ingest path")
        except http.BodyUnusable as error:
            return reject(message, format_name, error.reason)
        assert format_name is not None
        decoded = http.decode_items(
            split, message.topic, format_name, router, self.max_bytes, message.received_at
        )
        for item in decoded:
            if item.dead_letter is not None:
                return reject(message, format_name, item.dead_letter.reason)
        events = [event for item in decoded for event in item.events]
        if not events:
            return reject(message, format_name, f"{format_name}: message holds no events")
        return Decoded(message, format_name, events)

    def replay_chunk(
        self, conn: psycopg.Connection, writer: BatchWriter, replay_id: int, ids: list[str]
    ) -> list[Item]:
        try:
            with conn.transaction():
                return self._replay(conn, writer, replay_id, store.lock_for_replay(conn, ids))
        except Exception as error:
            # One message the database refuses, or that meets a bug on its way in, must
            # not keep the others out: as the committers do, go one by one and let only
            # the culprit fail. The database away, or a connection the failure left
            # unusable, ends the replay.
            if not isolates(error) or not idle_again(conn):
                raise
            log.warning("replay %d: chunk %s; one by one", replay_id, describe(error))
            items = []
            for letter_id in ids:
                with conn.transaction():
                    rows = store.lock_for_replay(conn, [letter_id])
                    items += self._replay(conn, writer, replay_id, rows, isolate=True)
            return items

    def _replay(
        self,
        conn: psycopg.Connection,
        writer: BatchWriter,
        replay_id: int,
        rows: list[dict[str, Any]],
        *,
        isolate: bool = False,
    ) -> list[Item]:
        cut: list[tuple[str, str, str | None]] = []
        failing: list[tuple[str, str, str | None]] = []
        decoded: list[tuple[str, Decoded]] = []
        for row in rows:
            reason = cut_reason(row)
            if reason is not None:
                cut.append((row["id"], reason, row["format"]))
                continue
            result = self.decode(row)
            if result.dead_letter is not None:
                failing.append((row["id"], result.dead_letter.reason, result.format))
            else:
                decoded.append((row["id"], result))
        stored = [letter_id for letter_id, _ in decoded]
        if decoded:
            batch = Batch()
            for _, result in decoded:
                batch.add(result.events)
            if isolate:
                try:
                    writer.write(batch)  # a savepoint inside this letter's transaction
                except Exception as error:
                    if not isolates(error):
                        raise
                    # The reason the committers give (a bug's traceback logged there).
                    letter = unwritable(decoded[0][1], error).dead_letter
                    assert letter is not None
                    failing.append((stored[0], letter.reason, decoded[0][1].format))
                    stored = []
            else:
                writer.write(batch)
        store.mark_stored(conn, replay_id, stored)
        store.mark_failing(conn, replay_id, failing)
        store.mark_failing(conn, replay_id, cut, new_reason=False)
        items = {i: Item(i, "stored") for i in stored}
        items.update({i: Item(i, "still_failing", r) for i, r, _ in failing + cut})
        return [items[row["id"]] for row in rows]
