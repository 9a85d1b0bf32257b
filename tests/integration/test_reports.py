"""Leadership reports on the real database (issue 15, acceptance 4): a day of known
telemetry, alerts and dead letters is seeded, `ioc reports build` builds that day's
report, and every figure the report was drawn from (the archived `figures`) is checked
against a direct query written here independently of store/reports.py, and against the
numbers the seed makes true. The PDF's pages are rendered to PNG with pdftoppm (kept in
the run dir to be looked at) and its text is checked for Vietnamese and for what must
not be there (a plate). Then the API serves the archive to the roles that may read it,
and the alert service's job builds the next missing day and mails it (aiosmtpd)."""

from __future__ import annotations

import email
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings, get_settings
from config.timezone import LOCAL_TZ
from processors.alerts.channels import ChannelsConfig
from processors.jobs.reports import ReportsJob
from processors.reports.config import ReportsConfig
from store.jsonb import jsonb
from store.users import create_user, delete_user
from tests.integration.harness import IOC_BIN, free_port

pytestmark = pytest.mark.integration

DAY = date(2024, 6, 12)  # a day no other test writes to
START = datetime(2024, 6, 12, tzinfo=LOCAL_TZ)
END = START + timedelta(days=1)
PLATE = "68A-123.45"


def at(hour: float) -> datetime:
    return START + timedelta(hours=hour)


class Seed:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.aq1, self.aq2 = f"rp-{tag}-aq1", f"rp-{tag}-aq2"
        self.wl, self.sal = f"rp-{tag}-wl", f"rp-{tag}-sal"
        self.cam = f"rp-{tag}-cam"
        self.warnings = False  # whether public_warnings exists and was seeded

    @property
    def devices(self) -> list[str]:
        return [self.aq1, self.aq2, self.wl, self.sal, self.cam]


def _device(db: psycopg.Connection, dev: str, kind: str, name: str, interval: int) -> None:
    db.execute(
        "INSERT INTO devices (id, type, province, district, name, lat, lon,"
        " expected_interval_s, created_at) VALUES (%s, %s, 'An Giang', 'Thoại Sơn', %s,"
        " 10.3, 105.4, %s, %s)",
        (dev, kind, name, interval, START - timedelta(days=30)),
    )


def _readings(db: psycopg.Connection, dev: str, metric: str, rows: list[tuple[datetime, float]]):
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO measurements (time, device_id, metric, value) VALUES (%s, %s, %s, %s)",
            [(t, dev, metric, v) for t, v in rows],
        )


def _alert(
    db: psycopg.Connection,
    rule: str,
    domain: str,
    labels: dict[str, str],
    *,
    severity: int,
    start: datetime,
    end: datetime | None = None,
    ack: datetime | None = None,
    title: str = "t",
    values: dict[str, Any] | None = None,
) -> None:
    status = "resolved" if end else ("acknowledged" if ack else "firing")
    db.execute(
        "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
        " labels, title_vi, title_en, alert_values, started_at, updated_at,"
        " acknowledged_at, acknowledged_by, resolved_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            uuid.uuid4().hex,
            rule,
            domain,
            status,
            severity,
            severity,
            jsonb(labels),
            title,
            title,
            jsonb(values or {}),
            start,
            end or start,
            ack,
            "op" if ack else None,
            end,
        ),
    )


def seed(db: psycopg.Connection, s: Seed) -> None:
    _device(db, s.aq1, "air_quality", "Trạm không khí Rạch Giá", 60)
    _device(db, s.aq2, "air_quality", "Trạm không khí Long Xuyên", 60)
    _device(db, s.wl, "water_level", "Trạm thủy văn Tân Châu", 300)
    _device(db, s.sal, "salinity", "Trạm đo mặn Xẻo Rô", 300)
    _device(db, s.cam, "camera", "Camera cổng UBND tỉnh", 60)
    minutes = [START + timedelta(minutes=m) for m in range(1440)]
    _readings(db, s.aq1, "pm25", [(t, 20.0) for t in minutes])  # complete
    _readings(db, s.aq2, "pm25", [(t, 80.0) for t in minutes[:720]])  # half a day
    level = [
        (START + timedelta(minutes=5 * i), 2.0 + (1.42 if i == 168 else 0.0)) for i in range(288)
    ]  # 3.42 m at 14:00
    _readings(db, s.wl, "waterLevel", level)
    _readings(
        db,
        s.sal,
        "salinity",
        [(START + timedelta(minutes=5 * i), 4.0 + i / 100) for i in range(110)],
    )  # peak 5.09 ‰
    db.execute(
        "INSERT INTO aqi_daily (device_id, day, aqi, category) VALUES"
        " (%s, %s, 42, 'good'), (%s, %s, 165, 'bad')",
        (s.aq1, DAY, s.aq2, DAY),
    )
    _alert(
        db,
        "env.water_level",
        "environment",
        {"device_id": s.wl, "metric": "waterLevel"},
        severity=3,
        start=at(10),
        end=at(18.5),
    )
    _alert(
        db,
        "env.salinity",
        "environment",
        {"device_id": s.sal, "metric": "salinity"},
        severity=2,
        start=at(-4),
    )  # from the evening before, still on
    _alert(
        db,
        "env.qcvn",
        "environment",
        {"device_id": s.aq2, "metric": "pm25", "period": "24h"},
        severity=2,
        start=at(9),
        end=at(20),
    )
    _alert(
        db,
        "security.ssh_bruteforce",
        "security",
        {"source_ip": "203.0.113.7", "host_name": "kg-dvc-web01"},
        severity=3,
        start=at(1),
        ack=at(1) + timedelta(minutes=5),
    )
    _alert(
        db,
        "security.portscan",
        "security",
        # No host: its agency is known only by its label (the address scanned was theirs).
        {"source_ip": "203.0.113.7", "agency": "cong-an-tinh"},
        severity=2,
        start=at(2),
        ack=at(2) + timedelta(minutes=20),
    )
    _alert(
        db, "security.portscan", "security", {"source_ip": "10.10.20.5"}, severity=4, start=at(3)
    )
    _alert(
        db, "health.offline", "health", {"device_id": s.cam}, severity=2, start=at(2), end=at(4.5)
    )
    for hour in (21, 22, 23):
        _alert(
            db,
            "camera.intrusion",
            "camera",
            {"camera": s.cam, "zone": f"z{hour}"},
            severity=3,
            start=at(hour),
            end=at(hour + 0.2),
        )
    for n in range(2):
        _alert(
            db,
            "camera.plate_watch",
            "plates",
            {"camera": s.cam, "event_id": f"e{n}"},
            severity=3,
            start=at(12 + n),
            title=f"Biển số {PLATE}",
            values={"plate": PLATE},
        )
    _alert(
        db,
        "pest.light_trap",
        "pests",
        {"device_id": "trap", "species": "brown_planthopper", "district": "Thoại Sơn"},
        severity=3,
        start=at(6),
    )
    for n in range(3):
        db.execute(
            "INSERT INTO dead_letters (id, received_at, transport, topic, format, reason,"
            " payload, payload_size, payload_sha256) VALUES"
            " (%s, %s, 'mqtt', 't', 'ioc_telemetry', 'bad json: at byte 3', 'x', 1, 'h')",
            (f"rp-{s.tag}-{n}", at(5 + n)),
        )


def seed_warnings(db: psycopg.Connection, tag: str) -> bool:
    """Public CAP warnings (helper A's table, when it exists): two flood messages and a
    pest one sent that day, and a Test message, which is not a warning and not counted."""
    if db.execute("SELECT to_regclass('public_warnings')").fetchone()[0] is None:
        return False
    db.execute("DELETE FROM public_warnings WHERE sent < '2025-01-01'")
    for n, (kind, msg_type, status, hour) in enumerate(
        [
            ("flood", "Alert", "Actual", 11),
            ("flood", "Update", "Actual", 13),
            ("pest", "Alert", "Actual", 7),
            ("flood", "Alert", "Test", 8),
        ]
    ):
        db.execute(
            "INSERT INTO public_warnings (identifier, incident, msg_type, status, kind,"
            " severity, province, district, headline_vi, headline_en, sent, expires, cap_xml)"
            " VALUES (%s, %s, %s, %s, %s, 'Severe', 'An Giang', 'Tân Châu',"
            " 'Mực nước sông Tiền tại Tân Châu vượt báo động II', 'Flood', %s, %s, '<alert/>')",
            (f"rp-{tag}-{n}", f"rp-{tag}-{kind}", msg_type, status, kind, at(hour), at(hour + 6)),
        )
    return True


def direct(db: psycopg.Connection, sql: str, *params: object) -> Any:
    row = db.execute(sql, params).fetchone()
    return None if row is None else (row[0] if len(row) == 1 else row)


@pytest.fixture
def seeded(db: psycopg.Connection) -> Iterator[Seed]:
    s = Seed(uuid.uuid4().hex[:6])
    # The test owns 2024: reports and alerts of other runs there go first.
    db.execute("DELETE FROM reports WHERE period_start < '2025-01-01'")
    db.execute("DELETE FROM alerts WHERE started_at < '2025-01-01'")
    db.execute("DELETE FROM aqi_daily WHERE day < '2025-01-01'")
    seed(db, s)
    s.warnings = seed_warnings(db, s.tag)
    yield s
    db.execute("DELETE FROM devices WHERE id = ANY(%s)", (s.devices,))


def rows(figures: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return figures["queries"][name]


def check_figures(db: psycopg.Connection, s: Seed, figures: dict[str, Any]) -> None:
    # Environment: AQI days per category, episodes, their peaks and hours in the day.
    aqi = {(r["device_id"], r["category"]): r["days"] for r in rows(figures, "aqi_days")}
    assert aqi == {(s.aq1, "good"): 1, (s.aq2, "bad"): 1}
    assert aqi[(s.aq2, "bad")] == direct(
        db,
        "SELECT count(*) FROM aqi_daily WHERE device_id = %s AND category = 'bad' AND day = %s",
        s.aq2,
        DAY,
    )
    daily = [(r["device_id"], r["aqi"]) for r in rows(figures, "aqi_daily_values")]
    assert daily == [(s.aq2, 165), (s.aq1, 42)]  # worst first
    water = {r["device_id"]: r for r in rows(figures, "water_episodes")}
    assert water[s.wl]["peak"] == pytest.approx(3.42)
    assert water[s.wl]["peak"] == pytest.approx(
        direct(
            db,
            "SELECT max(value) FROM measurements WHERE device_id = %s AND time >= %s"
            " AND time <= %s",
            s.wl,
            at(10),
            at(18.5),
        )
    )
    assert water[s.wl]["hours"] == pytest.approx(8.5)
    assert water[s.sal]["hours"] == pytest.approx(24.0)  # clipped to the day, still on
    assert water[s.sal]["peak"] == pytest.approx(5.09)
    assert rows(figures, "qcvn_exceedances") == [
        {"pollutant": "pm25", "period": "24h", "episodes": 1, "stations": 1}
    ]
    # Alerts by domain, as counted straight from the table.
    by_domain = {
        (r["domain"], r["severity"]): r["alerts"] for r in rows(figures, "alerts_by_domain")
    }
    for (domain, severity), n in by_domain.items():
        assert n == direct(
            db,
            "SELECT count(*) FROM alerts WHERE domain = %s AND peak_severity = %s"
            " AND started_at >= %s AND started_at < %s",
            domain,
            severity,
            START,
            END,
        )
    assert sum(n for (d, _), n in by_domain.items() if d == "security") == 3
    # Security: per host and severity, sources, acknowledgement times.
    hosts = {
        (r["agency"], r["host"], r["severity"]): r["alerts"]
        for r in rows(figures, "security_by_host")
    }
    assert hosts == {("", "kg-dvc-web01", 3): 1, ("cong-an-tinh", "", 2): 1, ("", "", 4): 1}
    sources = {r["source_ip"]: r["alerts"] for r in rows(figures, "security_sources")}
    assert sources == {"203.0.113.7": 2, "10.10.20.5": 1}
    ack = {r["severity"]: r for r in rows(figures, "security_ack")}
    assert ack[3]["median_s"] == pytest.approx(300.0)
    assert ack[2]["median_s"] == pytest.approx(1200.0)
    assert ack[4]["acknowledged"] == 0 and ack[4]["median_s"] is None
    # Cameras: counts only.
    offline = rows(figures, "camera_offline")
    assert [(r["camera"], r["rule"], r["hours"]) for r in offline] == [
        (s.cam, "health.offline", 2.5)
    ]
    kinds = {r["rule"]: r["alerts"] for r in rows(figures, "camera_alerts")}
    assert kinds == {"camera.intrusion": 3, "camera.plate_watch": 2}
    assert PLATE not in str(figures)
    # Platform: completeness, volume, dead letters.
    received = {r["device_id"]: r["received"] for r in rows(figures, "completeness")}
    assert received[s.aq1] == 1440 and received[s.aq2] == 720 and received[s.wl] == 288
    assert received[s.aq2] == direct(
        db,
        "SELECT count(DISTINCT time) FROM measurements WHERE device_id = %s"
        " AND time >= %s AND time < %s",
        s.aq2,
        START,
        END,
    )
    volume = rows(figures, "ingest_volume")
    assert len(volume) == 24
    assert sum(r["readings"] for r in volume) == direct(
        db, "SELECT count(*) FROM measurements WHERE time >= %s AND time < %s", START, END
    )
    totals = {r["kind"]: r["records"] for r in rows(figures, "ingest_totals")}
    assert totals["dead_letters"] == 3
    assert rows(figures, "dead_letters") == [
        {"transport": "mqtt", "format": "ioc_telemetry", "reason": "bad json", "letters": 3}
    ]
    if s.warnings:
        sent = {
            (r["kind"], r["msg_type"]): r["messages"]
            for r in rows(figures, "public_warnings_by_kind")
        }
        assert sent == {("flood", "Alert"): 1, ("flood", "Update"): 1, ("pest", "Alert"): 1}
        assert len(rows(figures, "public_warnings_list")) == direct(
            db,
            "SELECT count(*) FROM public_warnings WHERE status = 'Actual'"
            " AND sent >= %s AND sent < %s",
            START,
            END,
        )
    else:
        assert rows(figures, "public_warnings_by_kind") is None
    assert rows(figures, "pest_epidemic_alerts") == [
        {"kind": "pest", "district": "Thoại Sơn", "alerts": 1, "severity": 3}
    ]


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_daily_report_from_a_seeded_database(
    db: psycopg.Connection, seeded: Seed, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            IOC_BIN,
            "reports",
            "build",
            "--period",
            "day",
            "--date",
            DAY.isoformat(),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report_id, period_end, figures, stored_pdf = db.execute(
        "SELECT id, period_end, figures, pdf FROM reports WHERE period = 'day'"
        " AND period_start = %s",
        (DAY,),
    ).fetchone()
    assert period_end == DAY + timedelta(days=1)
    check_figures(db, seeded, figures)

    pdf = out / "bao-cao-day-2024-06-12.pdf"
    assert pdf.read_bytes() == bytes(stored_pdf)
    pages = settings.run_dir / "report-pages"
    pages.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(pages / "day")], check=True)
    (pages / "day.pdf").write_bytes(pdf.read_bytes())  # kept to be looked at
    rendered = sorted(pages.glob("day-*.png"))
    assert len(rendered) >= 3, rendered
    words = pdf_text(pdf)
    for phrase in (
        "Môi trường",
        "Xâm nhập vùng cấm",
        "Trạm thủy văn Tân Châu",
        "VN_AQI ngày cao nhất là 165",
        "Báo động II",
        "Văn phòng Ủy ban nhân dân tỉnh",  # by the alert's host
        "Công an tỉnh",  # by the alert's agency label
        "203.0.113.7",
        "aqi_days",
        "water_episodes",
    ):
        assert phrase in words, phrase
    assert "10.10.20.5" not in words  # internal addresses are only counted
    assert ("Lũ, ngập" if seeded.warnings else "Chưa có dữ liệu") in words
    assert PLATE not in words and PLATE not in (out / "bao-cao-day-2024-06-12.html").read_text()

    # Built again: the same row, replaced.
    again = subprocess.run(
        [IOC_BIN, "reports", "build", "--period", "day", "--date", DAY.isoformat()],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert direct(db, "SELECT count(*) FROM reports WHERE period_start = %s", DAY) == 1
    assert direct(db, "SELECT id FROM reports WHERE period_start = %s", DAY) == report_id

    # The week holding the day: same queries, days as the ingest step.
    week = subprocess.run(
        [
            IOC_BIN,
            "reports",
            "build",
            "--period",
            "week",
            "--date",
            DAY.isoformat(),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert week.returncode == 0, week.stderr
    weekly = direct(
        db,
        "SELECT figures FROM reports WHERE period = 'week' AND period_start = %s",
        date(2024, 6, 10),
    )
    assert len(rows(weekly, "ingest_volume")) == 1  # every reading on the one day
    hours = {r["device_id"]: r["hours"] for r in rows(weekly, "water_episodes")}
    # The flood ended on the day; the salinity episode is still on at the week's end.
    assert hours == {seeded.wl: pytest.approx(8.5), seeded.sal: pytest.approx(4 + 24 * 5)}
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "80",
            "-png",
            str(out / "bao-cao-week-2024-06-10.pdf"),
            str(pages / "week"),
        ],
        check=True,
    )


@pytest.fixture
def users(db: psycopg.Connection) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ("admin", "operator", "csirt", "viewer", "integrator"):
        _, token = create_user(db, f"t-rp-{tag}-{role}", role)
        made[role] = token
    yield made
    for role in made:
        delete_user(db, f"t-rp-{tag}-{role}")


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def test_job_builds_the_missing_day_mails_it_and_the_api_serves_the_archive(
    db: psycopg.Connection, seeded: Seed, settings: Settings, users: dict[str, str]
) -> None:
    # Other tests' alert services built today's reports with the shipped config and no
    # mail server to take them: this job would (re)send those too.
    db.execute("DELETE FROM reports")
    mailbox, port = Mailbox(), free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        channels = ChannelsConfig.model_validate(
            {
                "channels": [
                    {
                        "name": "mail",
                        "type": "email",
                        "settings": {
                            "host": "127.0.0.1",
                            "port": port,
                            "sender": "ioc@localhost",
                            "to": ["duty@localhost"],
                        },
                    }
                ]
            }
        )
        config = ReportsConfig(
            periods=("day",), catch_up=1, email_channel="mail", recipients=("lanhdao@localhost",)
        )
        job = ReportsJob(settings, channels, config)
        now = datetime(2024, 6, 13, 1, 0, tzinfo=LOCAL_TZ)  # 30 min wait is over
        with db.transaction():
            built = job(db, now)
        assert built is not None
        with db.transaction():
            assert job(db, now) is None  # once per period
    finally:
        smtp.stop()
    assert len(mailbox.mails) == 1
    mail = mailbox.mails[0]
    assert mail["To"] == "lanhdao@localhost"
    assert mail["X-IOC-Report"] == f"{built} day-2024-06-12"
    attachment = next(p for p in mail.walk() if p.get_content_type() == "application/pdf")
    assert attachment.get_payload(decode=True).startswith(b"%PDF")
    delivered, error = direct(
        db, "SELECT delivered_at, delivery_error FROM reports WHERE id = %s", built
    )
    assert delivered is not None and error is None
    check_figures(db, seeded, direct(db, "SELECT figures FROM reports WHERE id = %s", built))

    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:

        def get(path: str, role: str) -> Any:
            return client.get(
                path, headers={"Authorization": f"Bearer {users[role]}", "Accept-Language": "vi"}
            )

        for role in ("admin", "operator", "csirt", "viewer"):
            listed = get("/api/v1/reports?period=day", role)
            assert listed.status_code == 200, listed.text
            assert listed.json()[0]["id"] == built
        assert get("/api/v1/reports", "integrator").status_code == 403
        assert client.get("/api/v1/reports").status_code == 401
        pdf = get(f"/api/v1/reports/{built}.pdf", "viewer")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content == attachment.get_payload(decode=True)
        page = get(f"/api/v1/reports/{built}.html", "viewer")
        assert page.status_code == 200 and "Môi trường" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        missing = get("/api/v1/reports/999999999.pdf", "admin")
        assert missing.status_code == 404
        assert "Không tìm thấy báo cáo" in missing.json()["detail"]
        assert get("/api/v1/reports/abc.pdf", "admin").status_code == 422
        assert get("/api/v1/reports?limit=0", "admin").status_code == 422
