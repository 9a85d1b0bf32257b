"""Pests and epidemics on the real stack (issue 15, acceptance 2), through a real uvicorn
API process and the real database with the shipped rule packs:

- a light trap's nightly counts, posted as ordinary HTTP telemetry, raise pest.light_trap
  (domain pests) with the contract's labels and values, escalate on the 3-night mean and
  resolve;
- weekly case reports (CSV and JSON over POST /api/v1/epidemics/cases, CSV by `ioc
  epidemics import`) raise epidemic.cases above the seasonal baseline loaded as history
  or by `ioc epidemics baselines`; bad rows are dead letters with their reasons (207), an
  unreadable body one dead letter (422); who may post and who sees the alerts.

The two shipped scenarios run through the brokers in tests/integration/test_scenarios.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from config.settings import Settings
from config.timezone import LOCAL_TZ
from ingest.provisioning import register_device
from processors.epidemics.communes import load_communes
from simulators.fleet import load_fleet
from store.devices import DeviceSpec
from store.users import create_user, delete_user
from tests.integration.api_server import api_process
from tests.integration.harness import IOC_BIN

pytestmark = pytest.mark.integration

TRAP = "ag-thoaison-lt01"  # Thoại Sơn: brown planthopper night 800/2500, mean 500/1500
COMMUNE, COMMUNE_NAME = "ag-longxuyen-myxuyen", "phường Mỹ Xuyên"
OTHER = "kg-rachgia-vinhthanhvan"
CASES = "/api/v1/epidemics/cases"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api") / "api.log"
    with api_process({"IOC_API_TOKEN_REQUESTS": "100000/minute"}, log) as url:
        yield url
    print(log.read_text(errors="replace")[-3000:])


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def tokens(conn: psycopg.Connection) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ("integrator", "viewer", "operator", "csirt"):
        _, token = create_user(conn, f"t-epi-{tag}-{role}", role)
        made[role] = token
    yield made
    for role in made:
        delete_user(conn, f"t-epi-{tag}-{role}")


def _headers(token: str, content_type: str = "text/csv") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": content_type,
            "Accept-Language": "en"}  # fmt: skip


def _alert(conn: psycopg.Connection, rule: str, **labels: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM alerts WHERE rule = %s AND labels @> %s::jsonb"
            " ORDER BY started_at DESC LIMIT 1",
            (rule, json.dumps(labels)),
        )
        return cur.fetchone()


def _week(weeks_ago: int) -> tuple[int, int, str]:
    iso = (datetime.now(LOCAL_TZ).date() - timedelta(weeks=weeks_ago)).isocalendar()
    return iso.year, iso.week, f"{iso.year}-W{iso.week:02d}"


# ---- light traps ------------------------------------------------------------------------


@pytest.fixture
def trap(settings: Settings, conn: psycopg.Connection) -> str:
    conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (TRAP,))
    conn.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{TRAP}|%",))
    conn.execute("DELETE FROM measurements WHERE device_id = %s", (TRAP,))
    device = next(d for d in load_fleet().devices if d.id == TRAP)
    creds = register_device(settings, DeviceSpec(**device.spec_fields(86400)))
    assert creds.http_token
    return creds.http_token


def test_light_trap_nights_raise_and_resolve_a_pest_warning(
    api: str, trap: str, conn: psycopg.Connection
) -> None:
    dawn = datetime.combine(date.today() - timedelta(days=7), datetime.min.time(), LOCAL_TZ)
    dawn = dawn.replace(hour=6)
    # Nights: 300, 900 (watch: night 800), 1400, 1700 (mean 1333 < 1500: still watch),
    # 2700 (warning: night 2500), 200, 100 (mean 1000: watch), then 80 (mean 127: over).
    counts = [300, 900, 1400, 1700, 2700, 200, 100, 80]
    levels = []
    with httpx.Client(base_url=api, timeout=30) as http:
        for night, count in enumerate(counts):
            when = dawn + timedelta(days=night - 1)
            body = {"ts": when.isoformat(), "insect_count_brown_planthopper": count,
                    "insect_count_rice_leaffolder": 20}  # fmt: skip
            answer = http.post(
                "/api/v1/ingest/telemetry", json=body, headers={"Authorization": f"Bearer {trap}"}
            )
            assert answer.status_code == 200, answer.text
            alert = _alert(conn, "pest.light_trap", device_id=TRAP, species="brown_planthopper")
            levels.append(None if alert is None or alert["status"] == "resolved" else
                          alert["alert_values"]["level"])  # fmt: skip
    assert levels == [None, "watch", "watch", "watch", "warning", "warning", "watch", None]
    alert = _alert(conn, "pest.light_trap", device_id=TRAP, species="brown_planthopper")
    assert alert is not None and alert["domain"] == "pests"
    assert alert["labels"] == {
        "device_id": TRAP, "species": "brown_planthopper", "province": "An Giang",
        "district": "Thoại Sơn",
    }  # fmt: skip
    # One alert per trap and species for the whole episode: watch, warning, watch, over.
    with conn.cursor() as cur:
        cur.execute(
            "SELECT action FROM alert_history WHERE alert_id = %s AND actor = 'system' ORDER BY id",
            (alert["id"],),
        )
        assert [r[0] for r in cur.fetchall()] == ["fired", "escalated", "deescalated", "resolved"]
    values = alert["alert_values"]
    assert values["count"] == 80 and values["species_vi"] == "rầy nâu"
    assert _alert(conn, "pest.light_trap", device_id=TRAP, species="rice_leaffolder") is None


# ---- epidemics --------------------------------------------------------------------------


@pytest.fixture
def commune(conn: psycopg.Connection) -> None:
    for place in (COMMUNE, OTHER):
        conn.execute("DELETE FROM epidemic_cases WHERE commune = %s", (place,))
        conn.execute("DELETE FROM epidemic_baselines WHERE commune = %s", (place,))
    conn.execute(
        "DELETE FROM alerts WHERE rule = 'epidemic.cases' AND labels->>'commune' = ANY(%s)",
        ([COMMUNE_NAME, "phường Vĩnh Thanh Vân"],),
    )


def _ioc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IOC_BIN, *args], capture_output=True, text=True, timeout=120)


def _history_csv(path: Path, year: int) -> Path:
    """Five past years of dengue in Mỹ Xuyên: 1, 2, 1, 3, 2 cases every week."""
    lines = ["commune,disease,week,cases"]
    for past, cases in zip(range(year - 5, year), [1, 2, 1, 3, 2], strict=True):
        weeks = date(past, 12, 28).isocalendar().week
        lines += [f"{COMMUNE},dengue,{past}-W{w:02d},{cases}" for w in range(1, weeks + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_case_reports_raise_epidemic_warnings_with_bad_rows_dead_lettered(
    api: str, tokens: dict[str, str], conn: psycopg.Connection, commune: None, tmp_path: Path
) -> None:
    year, _, last_week = _week(1)
    _, _, this_week = _week(0)
    loaded = _ioc("epidemics", "import", "--history", str(_history_csv(tmp_path / "h.csv", year)))
    assert loaded.returncode == 0, loaded.stderr
    assert "0 alert signals" in loaded.stdout
    body = (
        "commune,disease,week,cases\n"
        f"{COMMUNE},dengue,{last_week},9\n"
        f"{COMMUNE},dengue,{last_week[:4]}-W99,1\n"
        "nowhere,dengue,2026-W01,1\n"
        f"{COMMUNE},hfmd,{last_week},two\n"
    )
    with httpx.Client(base_url=api, timeout=30) as http:
        answer = http.post(CASES, content=body, headers=_headers(tokens["integrator"]))
        assert answer.status_code == 207, answer.text
        got = answer.json()
        assert (got["received"], got["stored"]) == (4, 1)
        reasons = {r["index"]: r["reason"] for r in got["rejected"]}
        assert "has no ISO week 99" in reasons[1] and "unknown commune" in reasons[2]
        assert "not a whole number" in reasons[3]
        for rejected in got["rejected"]:
            row = conn.execute(
                "SELECT reason, format, transport FROM dead_letters WHERE id = %s",
                (rejected["dead_letter_id"],),
            ).fetchone()
            assert row is not None and rejected["reason"] in row[0]
            assert row[1:] == ("epidemic_cases", "http")
        # The department's system (an integrator) reads the rows it had refused.
        letter = got["rejected"][0]["dead_letter_id"]
        shown = http.get(f"/api/v1/dead-letters/{letter}", headers=_headers(tokens["integrator"]))
        assert shown.status_code == 200, shown.text
        assert shown.json()["reason"].startswith("row 2: ")
        alert = _alert(conn, "epidemic.cases", commune=COMMUNE_NAME, disease="dengue")
        assert alert is not None and alert["domain"] == "epidemics"
        assert alert["status"] == "firing" and alert["severity"] == 3  # high
        assert alert["labels"] == {"commune": COMMUNE_NAME, "district": "Long Xuyên",
                                   "province": "An Giang", "disease": "dengue"}  # fmt: skip
        v = alert["alert_values"]
        # Baseline: weeks ±1 of five years at 1, 2, 1, 3, 2: mean 1.8, sd 0.77.
        assert (v["cases"], v["week"], v["level"]) == (9, last_week, "warning")
        assert v["baseline"] == pytest.approx(1.8 + 2 * 0.7746, abs=0.01)
        assert v["baseline_source"] == "history" and v["measure"] == "baseline"
        assert (v["lat"], v["lon"]) == (10.375, 105.427)
        assert v["disease_vi"] == "sốt xuất huyết Dengue" and v["action_vi"]
        assert alert["title_vi"].startswith("sốt xuất huyết Dengue vượt mức cảnh báo tại phường")

        # Viewers and operators see it; the CSIRT does not; only integrators/admins post.
        for role, seen in (("viewer", True), ("operator", True), ("csirt", False)):
            detail = http.get(f"/api/v1/alerts/{alert['id']}", headers=_headers(tokens[role]))
            assert detail.status_code == (200 if seen else 404), (role, detail.text)
        refused = http.post(CASES, content=body, headers=_headers(tokens["viewer"]))
        assert refused.status_code == 403

        # A week back to normal, as JSON, resolves the alert.
        rows = [{"commune": COMMUNE, "disease": "dengue", "week": this_week, "cases": 1}]
        answer = http.post(
            CASES,
            content=json.dumps(rows),
            headers=_headers(tokens["integrator"], "application/json"),
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["alerts"][0]["state"] == "resolved"
        after = _alert(conn, "epidemic.cases", commune=COMMUNE_NAME, disease="dengue")
        assert after is not None and after["status"] == "resolved"

        # An older week sent late does not reopen it.
        late = f"commune,disease,week,cases\n{COMMUNE},dengue,{last_week},20\n"
        answer = http.post(CASES, content=late, headers=_headers(tokens["integrator"]))
        assert answer.status_code == 200 and answer.json()["alerts"] == []

        # Unreadable bodies: one dead letter and a 422; other media types 415.
        broken = http.post(CASES, content=b"a;b;c\n1;2;3\n", headers=_headers(tokens["integrator"]))
        assert broken.status_code == 422, broken.text
        problem = broken.json()
        assert problem["code"] == "epidemics_body_unusable" and "header lacks" in problem["detail"]
        assert conn.execute(
            "SELECT count(*) FROM dead_letters WHERE topic = 'http/epidemics/cases'"
            " AND reason LIKE 'the CSV header lacks%%'"
        ).fetchone() == (1,)
        xml = http.post(
            CASES, content=b"<x/>", headers=_headers(tokens["integrator"], "application/xml")
        )
        assert xml.status_code == 415 and xml.json()["code"] == "epidemics_media_type"


def test_loaded_baselines_win_and_the_cli_import_judges_the_newest_week(
    tokens: dict[str, str], conn: psycopg.Connection, commune: None, tmp_path: Path
) -> None:
    _, week_number, last_week = _week(1)
    baselines = tmp_path / "baselines.csv"
    baselines.write_text(
        f"commune,disease,week,mean,sd,years\n{OTHER},dengue,{week_number},6.0,1.5,5\n",
        encoding="utf-8",
    )
    loaded = _ioc("epidemics", "baselines", str(baselines))
    assert loaded.returncode == 0 and "1 baselines loaded" in loaded.stdout, loaded.stderr
    report = tmp_path / "report.csv"
    # 8 cases: above 6.0 + 1·1.5 (watch) but not 6.0 + 2·1.5 = 9 (warning), and under the
    # fixed warning line of 10 (the fixed watch line of 5 holds too; watch either way).
    report.write_text(f"commune,disease,week,cases\n{OTHER},dengue,{last_week},8\n")
    done = _ioc("epidemics", "import", str(report))
    assert done.returncode == 0, done.stderr
    alert = _alert(conn, "epidemic.cases", commune="phường Vĩnh Thanh Vân", disease="dengue")
    assert alert is not None and alert["alert_values"]["level"] == "watch"
    assert alert["alert_values"]["baseline_source"] == "loaded"
    assert alert["alert_values"]["baseline"] == pytest.approx(7.5)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"commune,disease,week,cases\n{OTHER},dengue,{last_week},-1\n")
    refused = _ioc("epidemics", "import", str(bad))
    assert refused.returncode == 2 and "row 1: cases" in refused.stderr
    assert "dead letter" in refused.stderr


def test_the_simulated_health_department_posts_its_weeks(
    api: str, tokens: dict[str, str], conn: psycopg.Connection, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(tokens["integrator"], encoding="utf-8")
    token.chmod(0o600)
    env = {**os.environ, "IOC_PUBLIC_API_URL": api}
    done = subprocess.run(
        [IOC_BIN, "epidemics", "simulate", "--weeks", "2", "--history-years", "0",
         "--token-file", str(token)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    communes = len(load_communes().by_id)
    assert done.stdout.count(f"{communes * 2} stored") == 2, done.stdout
    (_, _, last_week) = _week(1)
    year, week = int(last_week[:4]), int(last_week[-2:])
    stored = conn.execute(
        "SELECT count(*) FROM epidemic_cases WHERE iso_year = %s AND iso_week = %s"
        " AND source LIKE 'api:%%'",
        (year, week),
    ).fetchone()
    assert stored == (communes * 2,)
