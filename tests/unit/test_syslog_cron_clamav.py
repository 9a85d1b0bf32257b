"""The cron and clamav syslog programs (ingest/formats/syslog/programs/cron.py, clamav.py)."""

from __future__ import annotations

import pytest

from events.models import SecurityEvent
from ingest.formats.base import get_decoder
from ingest.formats.syslog.programs import clamav, cron, program_facts
from ingest.message import RawMessage

decode = get_decoder("syslog")


def event(line: str) -> SecurityEvent:
    [found] = decode(RawMessage("kafka", "seclog.syslog", line.encode(), 0, 1))
    return found


def test_clamav_detection_is_malware_with_file_and_signature() -> None:
    found = event(
        "<30>Dec  3 11:20:04 mail01 clamd[1187]: /srv/up/a b.zip: Win.Trojan.Agent-1 FOUND"
    )
    assert found.category == ("malware",) and found.action == "malware-detected"
    assert found.dataset == "system.syslog" and found.observer_product == "ClamAV"
    assert found.ecs["file"] == {"path": "/srv/up/a b.zip", "name": "a b.zip"}
    assert found.ecs["threat"]["software"]["name"] == "Win.Trojan.Agent-1"
    assert found.ecs["host"] == {"name": "mail01", "os": {"type": "linux"}}


def test_clamav_hash_suffix_is_dropped_and_other_lines_are_plain() -> None:
    facts = clamav.decode("/tmp/e.com: Eicar-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND")
    assert facts is not None and facts.ecs["rule"]["name"] == "Eicar-Signature"
    assert clamav.decode("SelfCheck: Database status OK.") is None
    assert clamav.decode("FOUND") is None and clamav.decode(": x y FOUND") is None
    plain = event("<30>Dec  3 08:20:00 mail01 clamd[1187]: SelfCheck: Database status OK.")
    assert plain.category == () and plain.message == "SelfCheck: Database status OK."


def test_cron_job_is_a_process_start() -> None:
    found = event("<78>Dec  3 08:17:01 db01 CRON[31201]: (root) CMD (   cd / && run-parts x)")
    assert (found.category, found.user_name, found.action) == (("process",), "root", "cron-job")
    assert found.ecs["process"]["command_line"] == "cd / && run-parts x"
    assert found.ecs["process"]["name"] == "CRON"  # the syslog header's program stays


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ("(root) REPLACE (root)", "crontab-replace"),
        ("(alice) BEGIN EDIT (alice)", "crontab-edit"),
        ("(alice) DELETE (alice)", "crontab-delete"),
        ("(alice) LIST (alice)", "crontab-list"),
    ],
)
def test_crontab_edits(message: str, action: str) -> None:
    facts = program_facts("crontab", message)
    assert facts is not None and facts.action == action and facts.user == message[1:6].strip(")")


@pytest.mark.parametrize(
    "message",
    ["", "(", "() CMD (x)", "(a b) CMD (x)", "(root) SOMETHING", "pam_unix(cron:session)"],
)
def test_cron_lines_it_does_not_know_give_no_facts(message: str) -> None:
    assert cron.decode(message) is None
