"""What a syslog line's program says: one decoder per program, chosen like Wazuh's
decoders, by the header's program name (<program_name>) or, for a message any program
may write, by how the message starts (<prematch>). Decoders are tried in DECODERS order;
the first that recognises the message gives its facts.

Add a program: a module here with `decode(message) -> facts | None` and one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest.formats.syslog.programs import clamav, cron, netfilter, pam, sshd, sudo
from ingest.formats.syslog.programs.data import PROGRAMS
from ingest.formats.syslog.programs.facts import AuthFacts
from ingest.formats.syslog.programs.netfilter import FirewallFacts
from ingest.formats.syslog.service import ServiceFacts

Facts = AuthFacts | FirewallFacts | ServiceFacts

# Programs whose lines belong in system.auth (Filebeat's split of auth.log vs syslog).
AUTH_PROGRAMS = PROGRAMS.auth_programs


@dataclass(frozen=True, slots=True)
class ProgramDecoder:
    name: str
    decode: Callable[[str], Facts | None]
    programs: frozenset[str] = frozenset()  # header program names it reads
    prematch: str | None = None  # or: any program, when the message starts so
    unfolds_repeats: bool = True  # read rsyslog's "message repeated N times: [ … ]"

    def matches(self, program: str | None, message: str) -> bool:
        if self.prematch is not None:
            return message.startswith(self.prematch)
        return program in self.programs


DECODERS = (
    ProgramDecoder(
        "netfilter", netfilter.decode, programs=frozenset({"kernel"}), unfolds_repeats=False
    ),
    ProgramDecoder("pam", pam.decode, prematch=pam.PREMATCH),
    # OpenSSH ≥ 9.8 logs as sshd-session.
    ProgramDecoder("sshd", sshd.decode, programs=frozenset({"sshd", "sshd-session"})),
    ProgramDecoder("sudo", sudo.decode, programs=frozenset({"sudo"})),
    ProgramDecoder("cron", cron.decode, programs=cron.PROGRAMS),
    ProgramDecoder("clamav", clamav.decode, programs=clamav.PROGRAMS),
)


def program_facts(program: str | None, message: str) -> Facts | None:
    """The facts of the first decoder that recognises the message, or None."""
    unfolded = unwrap_repeated(message)
    for decoder in DECODERS:
        text = unfolded if decoder.unfolds_repeats else message
        if decoder.matches(program, text):
            facts = decoder.decode(text)
            if facts is not None:
                return facts
    return None


def unwrap_repeated(message: str) -> str:
    # rsyslog folds repeats into "message repeated 3 times: [ Failed password …]"; the
    # inner line is the event (counted once: the count is not a per-attempt record).
    if not message.startswith("message repeated "):
        return message
    _, found, inner = message.partition(" times: [")
    return inner.removesuffix("]").strip() if found else message
