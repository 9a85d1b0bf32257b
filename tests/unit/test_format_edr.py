"""Microsoft Defender for Endpoint alerts (Graph alerts_v2 shape) -> ECS SecurityEvents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from events.ids import stable_id
from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in as _strings

TOPIC = "seclog.edr"
ODATA = "#microsoft.graph.security."
SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"

DEVICE = {
    "@odata.type": ODATA + "deviceEvidence",
    "createdDateTime": "2026-11-24T01:02:03.1234567Z",
    "verdict": "unknown",
    "remediationStatus": "none",
    "roles": [],
    "deviceDnsName": "kt-pc07.sotttt.local",
    "osPlatform": "Windows11",
    "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
    "loggedOnUsers": [{"accountName": "tran.thi.b", "domainName": "SOTTTT"}],
}
FILE = {
    "@odata.type": ODATA + "fileEvidence",
    "createdDateTime": "2026-11-24T01:02:03.1234567Z",
    "verdict": "malicious",
    "remediationStatus": "remediated",
    "remediationStatusDetails": None,
    "roles": [],
    "detectionStatus": "detected",
    "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
    "fileDetails": {
        "sha1": SHA1.upper(),
        "sha256": SHA256,
        "fileName": "eicar.com",
        "filePath": "C:\\Users\\tran.thi.b\\Downloads",
        "fileSize": 68,
        "filePublisher": None,
        "signer": None,
        "issuer": None,
    },
}
PROCESS = {
    "@odata.type": ODATA + "processEvidence",
    "verdict": "suspicious",
    "remediationStatus": "none",
    "processId": 7812,
    "parentProcessId": 4100,
    "processCommandLine": '"WINWORD.EXE" /n "C:\\Users\\tran.thi.b\\Downloads\\hd.docm"',
    "imageFile": {
        "fileName": "WINWORD.EXE",
        "filePath": "C:\\Program Files\\Microsoft Office\\root\\Office16",
        "sha256": "aa" * 32,
    },
    "userAccount": {
        "accountName": "tran.thi.b",
        "domainName": "SOTTTT",
        "userSid": "S-1-5-21-1-2-3-1105",
        "azureAdUserId": None,
        "userPrincipalName": "tran.thi.b@sotttt.gov.vn",
    },
    "detectionStatus": "detected",
}
ALERT: dict[str, Any] = {
    "@odata.type": "#microsoft.graph.security.alert",
    "id": "da638671234567890123_-1234567890",
    "providerAlertId": "da638671234567890123_-1234567890",
    "incidentId": "2972",
    "status": "new",
    "severity": "medium",
    "classification": None,
    "determination": None,
    "serviceSource": "microsoftDefenderForEndpoint",
    "detectionSource": "antivirus",
    "productName": "Microsoft Defender for Endpoint",
    "detectorId": "e0da400f-affd-43ef-b1d5-afc2eb6f2756",
    "tenantId": "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c",
    "title": "'EICAR_Test_File' malware was detected",
    "description": "Malware and unwanted software are undesirable applications that perform"
    " annoying, disruptive, or harmful actions on affected machines.",
    "recommendedActions": "",
    "category": "Malware",
    "assignedTo": None,
    "alertWebUrl": "https://security.microsoft.com/alerts/da638671234567890123_-1234567890",
    "actorDisplayName": None,
    "threatDisplayName": "Virus:DOS/EICAR_Test_File",
    "threatFamilyName": "EICAR_Test_File",
    "mitreTechniques": ["T1204.002"],
    "createdDateTime": "2026-11-24T01:02:03.1234567Z",
    "lastUpdateDateTime": "2026-11-24T01:05:00.0000000Z",
    "resolvedDateTime": None,
    "firstActivityDateTime": "2026-11-24T01:01:58.52Z",
    "lastActivityDateTime": "2026-11-24T01:01:59.11Z",
    "comments": [],
    "evidence": [DEVICE, FILE, PROCESS],
    "systemTags": [],
}


def alert(*evidence: dict[str, Any], **fields: Any) -> dict[str, Any]:
    record = copy.deepcopy(ALERT)
    record.update(fields)
    if evidence:
        record["evidence"] = list(evidence)
    return record


def decode(record: Any, offset: int | None = 88) -> SecurityEvent:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    msg = RawMessage("kafka", TOPIC, raw, partition=0, offset=offset)
    (event,) = get_decoder("edr")(msg)
    assert isinstance(event, SecurityEvent)
    return event


def test_quarantined_eicar() -> None:
    event = decode(ALERT)
    assert event.time == datetime(2026, 11, 24, 1, 2, 3, 123456, tzinfo=UTC)
    assert (event.dataset, event.category, event.action, event.outcome) == (
        "m365_defender.alert",
        ("malware",),
        "quarantined",
        "success",
    )
    assert (event.severity, event.rule_name, event.rule_id) == (
        6,
        "Virus:DOS/EICAR_Test_File",
        "e0da400f-affd-43ef-b1d5-afc2eb6f2756",
    )
    assert (event.host_name, event.user_name, event.process_name) == (
        "kt-pc07.sotttt.local",
        "tran.thi.b",
        "WINWORD.EXE",
    )
    assert (event.observer_vendor, event.observer_product) == (
        "Microsoft",
        "Microsoft Defender for Endpoint",
    )
    assert event.technique_ids == ("T1204.002",)
    assert event.message == "'EICAR_Test_File' malware was detected"
    ecs = event.ecs
    assert ecs["file"] == {
        "name": "eicar.com",
        "path": "C:\\Users\\tran.thi.b\\Downloads\\eicar.com",
        "size": 68,
        "hash": {"sha256": SHA256, "sha1": SHA1},
    }
    assert ecs["threat"]["indicator"] == {
        "type": "file",
        "file": {"name": "eicar.com", "hash": {"sha256": SHA256, "sha1": SHA1}},
    }
    assert ecs["threat"]["software"] == {"name": "EICAR_Test_File"}
    assert ecs["threat"]["technique"] == {"id": ["T1204.002"]}
    assert ecs["event"]["kind"] == "alert"
    assert ecs["event"]["type"] == ["info", "denied"]
    assert ecs["event"]["id"] == ALERT["id"]
    assert ecs["event"]["start"] == "2026-11-24T01:01:58.520000+00:00"
    assert ecs["host"]["os"] == {"platform": "Windows11"}
    assert ecs["user"] == {"name": "tran.thi.b", "domain": "SOTTTT", "id": "S-1-5-21-1-2-3-1105"}
    assert ecs["process"]["executable"] == (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    )
    assert ecs["m365_defender"]["alert"]["incidentId"] == "2972"


@pytest.mark.parametrize(
    ("remediation", "detection", "action", "outcome", "stopped"),
    [
        ("remediated", "detected", "quarantined", "success", "denied"),
        ("prevented", "prevented", "blocked", "success", "denied"),
        ("none", "blocked", "blocked", "success", "denied"),
        ("none", "prevented", "blocked", "success", "denied"),
        ("none", "detected", "detected", "unknown", "allowed"),
        ("notRemediated", "detected", "detected", "failure", "allowed"),
        (None, None, "detected", "unknown", "allowed"),
    ],
)
def test_action_from_evidence(
    remediation: str | None, detection: str | None, action: str, outcome: str, stopped: str
) -> None:
    file = FILE | {"remediationStatus": remediation, "detectionStatus": detection}
    event = decode(alert(DEVICE, file))
    assert (event.action, event.outcome) == (action, outcome)
    assert event.ecs["event"]["type"] == ["info", stopped]


def test_malicious_file_wins_over_an_earlier_benign_one() -> None:
    benign = copy.deepcopy(FILE)
    benign.update(verdict="noThreatsFound", remediationStatus="none")
    benign["fileDetails"]["fileName"] = "readme.txt"
    event = decode(alert(benign, FILE))
    assert event.ecs["file"]["name"] == "eicar.com"
    assert event.action == "quarantined"


def test_fileless_alert_uses_the_process_image() -> None:
    process = PROCESS | {"detectionStatus": "blocked"}
    event = decode(alert(DEVICE, process, severity="high", threatFamilyName=None))
    assert (event.action, event.severity) == ("blocked", 8)
    assert event.ecs["file"]["name"] == "WINWORD.EXE"
    assert event.ecs["file"]["hash"] == {"sha256": "aa" * 32}


def test_behavioural_alert_is_intrusion_detection() -> None:
    record = alert(
        DEVICE,
        category="CredentialAccess",
        detectionSource="microsoftDefenderForEndpoint",
        threatDisplayName=None,
        threatFamilyName=None,
        title="Suspicious access to LSASS service",
        mitreTechniques=["T1003.001", "T1003.001", "TA0006"],
        severity="high",
    )
    event = decode(record)
    assert event.category == ("intrusion_detection",)
    assert event.rule_name == "Suspicious access to LSASS service"
    assert event.technique_ids == ("T1003.001",)
    assert "file" not in event.ecs
    assert event.user_name == "tran.thi.b"  # from the device's logged-on users


def test_linux_endpoint_user_evidence_and_ip() -> None:
    file = copy.deepcopy(FILE)
    file["fileDetails"].update(fileName="xmrig", filePath="/tmp/.x/")
    user = {
        "@odata.type": ODATA + "userEvidence",
        "userAccount": {"accountName": "www-data", "domainName": None, "userSid": None},
    }
    ip = {"@odata.type": ODATA + "ipEvidence", "ipAddress": "203.0.113.66"}
    device = DEVICE | {"deviceDnsName": "web01", "osPlatform": "Linux"}
    event = decode(alert(device, file, user, ip, productName=None, category="UnwantedSoftware"))
    assert event.ecs["file"]["path"] == "/tmp/.x/xmrig"
    assert (event.user_name, event.host_name, event.source_ip) == (
        "www-data",
        "web01",
        "203.0.113.66",
    )
    assert event.observer_product == "Microsoft Defender for Endpoint"  # from serviceSource
    assert event.category == ("malware",)


@pytest.mark.parametrize(
    ("severity", "number"),
    [("informational", 1), ("low", 3), ("Medium", 6), ("high", 8), ("unknown", None), (5, None)],
)
def test_severity(severity: Any, number: int | None) -> None:
    assert decode(alert(severity=severity)).severity == number


def test_odd_evidence_and_times_do_not_cost_the_alert() -> None:
    record = alert(
        "not an object",  # type: ignore[arg-type]
        {"@odata.type": ODATA + "fileEvidence", "fileDetails": "nope"},
        {  # the chosen evidence, with statuses that are not strings (unhashable)
            "@odata.type": ODATA + "fileEvidence",
            "verdict": "malicious",
            "remediationStatus": ["remediated"],
            "detectionStatus": {"blocked": True},
        },
        {"@odata.type": ODATA + "deviceEvidence", "loggedOnUsers": ["x"]},
        firstActivityDateTime="soon",
        lastActivityDateTime=None,
        mitreTechniques="T1059",
        threatDisplayName=7,
    )
    event = decode(record)
    assert (event.action, event.host_name, event.user_name) == ("detected", None, None)
    assert "start" not in event.ecs["event"] and "end" not in event.ecs["event"]
    assert event.technique_ids == ()
    assert event.rule_name == "EICAR_Test_File"


def test_event_id_rule() -> None:
    assert decode(ALERT).event_id == stable_id("kafka", TOPIC, 0, 88)
    raw = orjson.dumps(ALERT)
    assert decode(raw, offset=None).event_id == stable_id("kafka", TOPIC, raw)


def test_hostile_values_are_clean_everywhere_but_raw() -> None:
    file = copy.deepcopy(FILE)
    file["fileDetails"]["fileName"] = "inv\x00oice\u202etxt.exe\x1b[2J"
    record = alert(
        DEVICE | {"deviceDnsName": "pc\r\n07"},
        file,
        title="<script>alert(1)</script>\x07",
        threatDisplayName="'; DROP TABLE events;--\x9b",
    )
    raw = orjson.dumps(record)
    event = decode(raw)
    assert event.raw == raw
    for text in _strings(event.model_dump(exclude={"raw"})):
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text), text
    assert event.ecs["file"]["name"] == "inv␀oice\u202etxt.exe␛[2J"
    assert event.host_name == "pc␍␊07"
    assert event.message == "<script>alert(1)</script>␇"
    assert event.rule_name == "'; DROP TABLE events;--\ufffd"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"\xff\xfe{", "invalid JSON"),
        (b'"alert"', "a Defender alert must be a JSON object"),
        ({"value": [ALERT]}, "a Graph list page"),
        ({k: v for k, v in ALERT.items() if k != "id"}, "field 'id' missing or not a string"),
        (alert(id=42), "field 'id' missing or not a string"),
        (alert(createdDateTime=None), "field 'createdDateTime' missing or not a string"),
        (alert(createdDateTime="24/11/2026"), "field 'createdDateTime': '24/11/2026' is not"),
        (alert(createdDateTime="2026-11-24T01:02:03"), "timestamp has no UTC offset"),
        (alert(createdDateTime="1970-01-01T00:00:00Z"), "before 2000"),
    ],
)
def test_rejections_name_the_problem(record: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(record)
    assert reason in str(caught.value)
