"""A dead letter whose topic is longer than PostgreSQL can index is still written, on the
real database: before, the b-tree refused it (ProgramLimitExceeded, an OperationalError
to psycopg) and the committers retried it as a lost connection forever."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from config.settings import Settings
from ingest.committer import build_batch
from ingest.decode import reject
from ingest.message import RawMessage
from store.writer import BatchWriter

pytestmark = pytest.mark.integration


def test_a_dead_letter_with_a_huge_random_topic_is_written(settings: Settings) -> None:
    topic = "frigate/" + secrets.token_hex(4000)  # random: no compression saves it
    letter = reject(RawMessage("mqtt", topic, b"{}"), None, "no format for the topic")
    assert letter.dead_letter is not None
    cut = letter.dead_letter.topic
    with psycopg.connect(settings.dsn()) as conn:
        written = BatchWriter(conn).write(build_batch([letter]))
        assert written.dead_letters == 1
        stored = conn.execute(
            "SELECT topic, reason FROM dead_letters WHERE topic = %s", (cut,)
        ).fetchall()
        conn.execute("DELETE FROM dead_letters WHERE topic = %s", (cut,))
        conn.commit()
    assert len(stored) == 1
    assert stored[0][0].startswith(topic[:100]) and "topic of 8008 characters" in stored[0][1]
