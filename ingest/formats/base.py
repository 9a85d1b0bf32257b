"""The contract every wire format implements.

A decoder is a pure function RawMessage -> list of canonical events. It raises
DecodeError with a reason a person can act on ("field 'ts' missing", not "KeyError")
when the message cannot be used; the pipeline turns that into a dead letter.
Decoders never see the database or the network, so they are unit-tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from events.models import Event
from ingest.message import RawMessage


class DecodeError(ValueError):
    """The message cannot become canonical events; str(error) is the stored reason."""


Decoder = Callable[[RawMessage], Sequence[Event]]

_REGISTRY: dict[str, Decoder] = {}


def register(name: str) -> Callable[[Decoder], Decoder]:
    def wrap(decoder: Decoder) -> Decoder:
        _REGISTRY[name] = decoder
        return decoder

    return wrap


def get_decoder(name: str) -> Decoder:
    # Import the format modules lazily so that registering is a side effect of the
    # package import and a new format is one new module (formats/__init__ imports all).
    import ingest.formats  # noqa: F401

    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown format {name!r}; known formats: {known}") from None


def known_formats() -> list[str]:
    import ingest.formats  # noqa: F401

    return sorted(_REGISTRY)
