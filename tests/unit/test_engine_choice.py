"""The engine decision and the start-up check, on every state a server can be in."""

from __future__ import annotations

import pytest

from store.engine import Engine, EngineError, ServerOffer, check, choose

NONE = ServerOffer("15.20", None, False, None)
NOT_PRELOADED = ServerOffer("15.20", "2.28.3", False, None)
PRELOADED = ServerOffer("15.20", "2.28.3", True, None)
CREATED = ServerOffer("15.20", "2.28.3", True, "2.28.3")
CREATED_NOT_PRELOADED = ServerOffer("15.20", "2.28.3", False, "2.28.3")


@pytest.mark.parametrize(
    ("offer", "wanted", "engine"),
    [
        (NONE, "auto", Engine.POSTGRES),
        (PRELOADED, "auto", Engine.TIMESCALE),
        (PRELOADED, "postgresql", Engine.POSTGRES),
        (NOT_PRELOADED, "postgresql", Engine.POSTGRES),
        (PRELOADED, "timescaledb", Engine.TIMESCALE),
    ],
)
def test_choose(offer, wanted, engine):
    assert choose(offer, wanted) is engine


@pytest.mark.parametrize(
    ("offer", "wanted", "says"),
    [
        (NOT_PRELOADED, "auto", "not preloaded"),
        (NOT_PRELOADED, "timescaledb", "not preloaded"),
        (NONE, "timescaledb", "has no TimescaleDB"),
    ],
)
def test_choose_refuses_what_cannot_work(offer, wanted, says):
    with pytest.raises(EngineError, match=says):
        choose(offer, wanted)


@pytest.mark.parametrize(
    ("engine", "offer", "wanted", "made", "says"),
    [
        (Engine.TIMESCALE, NONE, "auto", True, "no TimescaleDB installed"),
        (Engine.TIMESCALE, CREATED_NOT_PRELOADED, "auto", True, "not preloaded"),
        (Engine.TIMESCALE, PRELOADED, "auto", True, "extension is missing"),
        (Engine.POSTGRES, CREATED, "auto", True, "DROP EXTENSION timescaledb"),
        (Engine.POSTGRES, PRELOADED, "timescaledb", True, "does not change engine"),
    ],
)
def test_check_stops_on_every_mismatch(engine, offer, wanted, made, says):
    with pytest.raises(EngineError, match=says):
        check(engine, offer, wanted, schema_made=made)


@pytest.mark.parametrize(
    ("engine", "offer", "made"),
    [
        (Engine.TIMESCALE, CREATED, True),
        (Engine.TIMESCALE, PRELOADED, False),  # first migration: extension not made yet
        (Engine.POSTGRES, NONE, True),
        (Engine.POSTGRES, PRELOADED, True),  # the library arriving changes nothing
        (Engine.POSTGRES, NOT_PRELOADED, True),
    ],
)
def test_check_passes_what_works(engine, offer, made):
    check(engine, offer, "auto", schema_made=made)
