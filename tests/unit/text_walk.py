"""Shared by the format tests: every string in a decoded event, keys included, so a test
can check that none carries a control character or a NUL."""

from __future__ import annotations

from typing import Any


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    return []
