"""Types for what the API accepts (see events/bounds.py for why)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from events.bounds import Instant, Text, storable_text

# Device ids in paths: the registry's ids are at most 128 characters.
DeviceIdPath = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(storable_text)]

__all__ = ["DeviceIdPath", "Instant", "Text"]
