"""Syslog lines (RFC 3164 and RFC 5424) -> SecurityEvents on Elastic Common Schema names.

Laid out like the Wazuh ruleset: framing.py reads the header (either RFC) and knows
nothing of programs; programs/ holds one decoder per program (sshd, PAM, sudo, netfilter)
and the registry that picks one by the header's program name; event.py builds the event.

Untrusted text: the whole line is decoded (invalid UTF-8 -> U+FFFD) and cleaned by
events.text.clean_text *before* it is split, so every string that reaches a column or
the ECS document is a substring of clean text. `raw` keeps the original bytes.
"""

from __future__ import annotations

from pydantic import ValidationError

from events.models import SecurityEvent
from events.text import clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.common import DEFAULT_TIMEZONE, MAX_MESSAGE_CHARS, strip_newline, zone_info
from ingest.formats.syslog.event import syslog_event
from ingest.formats.syslog.framing import NotSyslog, SyslogLine, parse_line, syslog_header_ecs
from ingest.message import RawMessage

__all__ = [
    "MAX_MESSAGE_CHARS",
    "SyslogLine",
    "decode_syslog",
    "parse_line",
    "syslog_header_ecs",
]


# RFC 3164 timestamps carry no zone: DEFAULT_TIMEZONE (the local one) applies unless a
# route overrides it by calling decode_syslog(msg, timezone=...).
@register("syslog")
def decode_syslog(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    line = clean_text(strip_newline(msg.payload))
    try:
        parsed = parse_line(line, msg.received_at, zone_info(timezone))
    except NotSyslog as error:
        raise DecodeError(
            f"not an RFC 3164 or RFC 5424 syslog line: {error}; line starts {show(line, 60)}"
        ) from None
    try:
        return [syslog_event(msg, parsed)]
    except ValidationError as error:
        raise DecodeError(validation_reason(error)) from None
