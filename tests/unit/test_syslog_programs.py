"""The syslog program registry: which decoder reads which line."""

from __future__ import annotations

import pkgutil

from ingest.formats.syslog import programs
from ingest.formats.syslog.programs import DECODERS, program_facts
from ingest.formats.syslog.programs.facts import AuthFacts
from ingest.formats.syslog.programs.netfilter import FirewallFacts

PAM_FAILURE = (
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser="
    " rhost=203.0.113.7  user=root"
)
UFW = "[UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7 DST=10.0.0.5 PROTO=TCP SPT=1 DPT=22"


def test_every_program_module_is_registered() -> None:
    helpers = {"data", "facts"}
    modules = {m.name for m in pkgutil.iter_modules(programs.__path__)} - helpers
    assert modules == {decoder.name for decoder in DECODERS}


def test_decoders_are_chosen_by_program_name() -> None:
    failed = "Failed password for root from 203.0.113.7 port 22 ssh2"
    assert isinstance(program_facts("sshd", failed), AuthFacts)
    assert program_facts("sudo", failed) is None  # sudo's decoder does not read sshd lines
    assert program_facts("nginx", failed) is None
    assert isinstance(program_facts("kernel", UFW), FirewallFacts)
    assert program_facts("sshd", UFW) is None  # netfilter lines come from the kernel only


def test_prematch_decoders_read_any_program() -> None:
    for program in ("sshd", "login", "vsftpd", None):
        facts = program_facts(program, PAM_FAILURE)
        assert isinstance(facts, AuthFacts) and facts.action == "pam_authentication"


def test_repeated_messages_are_unfolded() -> None:
    folded = "message repeated 3 times: [ Failed password for root from 10.0.0.9 port 22 ssh2]"
    facts = program_facts("sshd", folded)
    assert isinstance(facts, AuthFacts) and facts.user == "root" and facts.source == "10.0.0.9"
