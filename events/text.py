"""Make untrusted text safe to store and display, without hiding what it said.

Log lines and device payloads are attacker-controlled. Three things break downstream:

* NUL (U+0000): PostgreSQL `text` and `jsonb` cannot store it, so one such string would
  fail a whole COPY batch.
* Other control characters: ESC sequences rewrite an analyst's terminal, CR/LF forge
  extra log lines, BEL/BS hide text. C1 controls (U+0080-U+009F, e.g. CSI U+009B) act
  as escapes on some terminals too.
* Lone surrogates (only possible in a str built outside a strict decoder) cannot be
  encoded as UTF-8 at all.

Choice: C0 controls (except TAB) and DEL become their Unicode *Control Pictures*
(U+2400 + code, e.g. NUL -> "␀", ESC -> "␛", LF -> "␊", DEL -> "␡"). That keeps one
character per character and says exactly which control was there (faithful), while the
result is printable and storable (safe). An escaped form such as "\\x1b" would be as
faithful but is ambiguous with text that really contains a backslash and grows the
string. C1 controls and lone surrogates have no control picture and become U+FFFD, as
do invalid UTF-8 bytes (decoded with errors="replace"). The original bytes stay
available where it matters (SecurityEvent.raw), so nothing is lost for forensics.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

_TAB = 0x09
_CONTROL_PICTURES = 0x2400
_REPLACEMENT = "\ufffd"

# str.translate table: C0 (minus TAB) -> control pictures, DEL -> ␡, C1 -> U+FFFD.
_TABLE: dict[int, str] = {c: chr(_CONTROL_PICTURES + c) for c in range(0x20) if c != _TAB}
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: _REPLACEMENT for c in range(0x80, 0xA0)})

# A plain character class: matched one character at a time, no backtracking.
_SURROGATE = re.compile("[\ud800-\udfff]")

ELLIPSIS = "…"
# Nested JSON deeper than this is cut off: legitimate documents are shallow and the
# recursion in clean_json must stay well below Python's own recursion limit.
MAX_JSON_DEPTH = 32


def clean_text(value: str | bytes, limit: int | None = None) -> str:
    """Storable, terminal-safe text; at most `limit` characters ("…" marks a cut)."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    # isprintable() is False for every character we rewrite (controls, surrogates), so
    # the common all-printable case costs one C-level scan and no copy.
    if not text.isprintable():
        text = text.translate(_TABLE)
        if not text.isascii():
            text = _SURROGATE.sub(_REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def clean_optional(value: str | bytes | None, limit: int | None = None) -> str | None:
    return None if value is None else clean_text(value, limit)


def clean_json(value: Any, *, max_string: int = 4096, max_items: int = 256, depth: int = 0) -> Any:
    """A copy of a parsed JSON value that is safe for a jsonb column.

    Strings (keys too) go through clean_text and are cut to `max_string`; lists and
    objects keep their first `max_items` entries; nesting below MAX_JSON_DEPTH is
    replaced by "…". Numbers, booleans and null pass unchanged.
    """
    if isinstance(value, str):
        return clean_text(value, max_string)
    if isinstance(value, dict):
        if depth >= MAX_JSON_DEPTH:
            return ELLIPSIS
        return {
            clean_text(str(key), max_string): clean_json(
                item, max_string=max_string, max_items=max_items, depth=depth + 1
            )
            for key, item in islice(value.items(), max_items)
        }
    if isinstance(value, list | tuple):
        if depth >= MAX_JSON_DEPTH:
            return ELLIPSIS
        return [
            clean_json(item, max_string=max_string, max_items=max_items, depth=depth + 1)
            for item in value[:max_items]
        ]
    return value


def show(value: Any, limit: int = 60) -> str:
    """A short, escaped rendering of an untrusted value for an error message.

    repr() escapes controls; containers are not rendered at all, since repr() of a
    deeply nested JSON value can exceed the recursion limit and is useless in a reason.
    """
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return "[…]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "…"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def validation_reason(error: ValidationError, limit: int = 5) -> str:
    """pydantic's errors as one line, in the shape ingest.decode uses for dead letters."""
    parts = []
    for item in error.errors(include_input=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"field '{where}': {item['msg']}")
    return "; ".join(parts)
