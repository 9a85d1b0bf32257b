"""Leadership reports without a database: periods, the section functions (query rows in,
sections out), the page (escaping, every figure naming its query) and the e-mail
delivery through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import ipaddress
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from config.agencies import Agency, Inventory, InventoryFile
from config.settings import Settings
from config.timezone import LOCAL_TZ
from processors.alerts.channels import ChannelsConfig
from processors.alerts.notify.base import DeliveryError
from processors.jobs.reports import due_periods
from processors.reports import cameras, delivery, environment, platform, security, text, warnings
from processors.reports.build import compose, sections
from processors.reports.config import ReportsConfig
from processors.reports.model import Chart, Heading, KeyFigures, Table
from processors.reports.period import last_closed, period_of
from processors.reports.security import ConfigUnusable, Network, load_home_net
from store.reports import QUERIES
from tests.integration.harness import free_port

AGENCIES = Inventory(
    InventoryFile(
        agencies=(
            Agency(id="vp-ubnd", name_vi="Văn phòng UBND tỉnh", name_en="PPC", hosts=("kg-dvc-*",)),
        )
    )
)
HOME_NET = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.0.0/16"))
START = datetime(2026, 7, 1, tzinfo=LOCAL_TZ)


def test_periods_are_local_days_iso_weeks_and_calendar_months() -> None:
    assert period_of("day", date(2026, 7, 1)).end == date(2026, 7, 2)
    week = period_of("week", date(2026, 7, 1))  # a Wednesday
    assert (week.first, week.end) == (date(2026, 6, 29), date(2026, 7, 6))
    month = period_of("month", date(2026, 12, 15))
    assert (month.first, month.end, month.days) == (date(2026, 12, 1), date(2027, 1, 1), 31)
    assert month.title_vi == "tháng 12/2026"
    window = period_of("day", date(2026, 7, 1)).window()
    assert window.start == datetime(2026, 6, 30, 17, 0, tzinfo=UTC)  # local midnight
    # 23:30 UTC on 1 July is 06:30 on 2 July in Vietnam: 1 July has closed.
    assert last_closed("day", datetime(2026, 7, 1, 23, 30, tzinfo=UTC)).first == date(2026, 7, 1)
    assert last_closed("month", datetime(2026, 7, 1, 0, 0, tzinfo=UTC)).first == date(2026, 6, 1)


def test_due_periods_wait_for_late_data_and_reach_back() -> None:
    config = ReportsConfig(periods=("day", "week"), build_after_minutes=30, catch_up=2)
    early = datetime(2026, 7, 2, 0, 10, tzinfo=LOCAL_TZ)  # 10 minutes after midnight
    assert [p.slug for p in due_periods(config, early)] == [
        "day-2026-06-30",
        "day-2026-06-29",
        "week-2026-06-22",
        "week-2026-06-15",
    ]
    later = early + timedelta(minutes=25)
    assert due_periods(config, later)[0].slug == "day-2026-07-01"


def test_vietnamese_numbers_and_durations() -> None:
    assert text.integer(1234567) == "1.234.567"
    assert text.number(1234.5) == "1.234,5"
    assert text.hours(8.5) == "8 giờ 30 phút"
    assert text.hours(0.25) == "15 phút"
    assert text.hours(24) == "24 giờ"
    assert text.seconds(None) == "—"


def test_environment_section_counts_days_and_names_levels() -> None:
    section = environment.section(
        {
            "aqi_days": [
                {"device_id": "a", "station": "Rạch Giá", "category": "good", "days": 5},
                {"device_id": "a", "station": "Rạch Giá", "category": "bad", "days": 2},
            ],
            "water_episodes": [
                {
                    "rule": "env.water_level",
                    "device_id": "w",
                    "station": "Tân Châu",
                    "district": None,
                    "peak_severity": 4,
                    "started_at": START,
                    "resolved_at": None,
                    "hours": 3.25,
                    "peak": 4.51,
                },
            ],
        },
        7,
    )
    tables = [b for b in section.blocks if isinstance(b, Table)]
    aqi = next(t for t in tables if t.query == "aqi_days")
    assert aqi.columns == ["Trạm", "Tốt", "Xấu"] and aqi.rows == [["Rạch Giá", 5, 2]]
    water = next(t for t in tables if t.query == "water_episodes")
    assert water.rows[0][3] == "Báo động III" and water.rows[0][4] == "4,51 m"
    assert water.rows[0][6] == "đang diễn ra" and water.rows[0][7] == "3 giờ 15 phút"
    chart = next(b for b in section.blocks if isinstance(b, Chart) and b.query == "aqi_days")
    assert [s.label for s in chart.series] == ["Tốt", "Xấu"]
    week = environment.aqi_blocks(
        [{"device_id": "a", "station": "Rạch Giá", "category": "good", "days": 5}], 7
    )
    [weekly] = [b for b in week if isinstance(b, Table)]
    assert weekly.columns == ["Trạm", "Tốt", "Không đủ số liệu"] and weekly.rows == [
        ["Rạch Giá", 5, 2]
    ]
    assert "Không ghi nhận đợt vượt giới hạn QCVN" in " ".join(
        b for b in section.blocks if isinstance(b, str)
    )


def test_a_day_report_shows_each_stations_daily_aqi() -> None:
    rows = [
        {"station": "Long Xuyên", "aqi": 165, "category": "bad", "dominant": "pm25"},
        {"station": "Rạch Giá", "aqi": 42, "category": "good", "dominant": None},
    ]
    summary, chart, table = environment.aqi_day_blocks(rows)
    assert summary == "VN_AQI ngày cao nhất là 165 tại Long Xuyên (mức Xấu); 1/2 trạm ở mức Tốt."
    assert isinstance(chart, Chart) and isinstance(table, Table)
    assert [(s.label, list(s.values)) for s in chart.series] == [
        ("Tốt", [0.0, 42.0]),
        ("Xấu", [165.0, 0.0]),
    ]
    assert table.rows == [["Long Xuyên", 165, "Xấu", "PM2,5"], ["Rạch Giá", 42, "Tốt", "—"]]


def test_warnings_section_says_when_there_is_no_table() -> None:
    section = warnings.section({"public_warnings_by_kind": None, "pest_epidemic_alerts": []})
    assert warnings.NO_TABLE in section.blocks
    sent = warnings.section(
        {
            "public_warnings_by_kind": [
                {"kind": "flood", "msg_type": "Alert", "messages": 2, "incidents": 2},
                {"kind": "flood", "msg_type": "Cancel", "messages": 1, "incidents": 1},
            ],
            "public_warnings_list": [],
        }
    )
    chart = next(b for b in sent.blocks if isinstance(b, Chart))
    assert chart.categories == ["Lũ, ngập"]
    assert [(s.label, list(s.values)) for s in chart.series] == [
        ("Phát mới", [2.0]),
        ("Hủy bỏ", [1.0]),
    ]


def test_an_alerts_agency_label_comes_before_its_host() -> None:
    # An alert whose agency came from its log source or address names no listed host:
    # its label still counts it for its agency, not as "unknown".
    assert security.agency_name("vp-ubnd", "", AGENCIES) == "Văn phòng UBND tỉnh"
    assert security.agency_name("vp-ubnd", "db7", AGENCIES) == "Văn phòng UBND tỉnh"
    # No label (fired before labels existed) or `unknown`: by the host, as before.
    assert security.agency_name("", "kg-dvc-web01", AGENCIES) == "Văn phòng UBND tỉnh"
    assert security.agency_name("unknown", "kg-dvc-web01", AGENCIES) == "Văn phòng UBND tỉnh"
    assert security.agency_name("unknown", "db7", AGENCIES) == security.UNKNOWN
    assert security.agency_name("unknown", "", AGENCIES) == security.NO_HOST
    # An agency since removed from the inventory keeps its id rather than vanishing.
    assert security.agency_name("so-cu", "db7", AGENCIES) == "so-cu"
    rows = [
        {"agency": "vp-ubnd", "host": "", "severity": 3, "alerts": 2},
        {"agency": "unknown", "host": "kg-dvc-web01", "severity": 3, "alerts": 1},
        {"agency": "unknown", "host": "db7", "severity": 2, "alerts": 5},
    ]
    table = next(b for b in security.agency_blocks(rows, AGENCIES) if isinstance(b, Table))
    assert table.rows == [["Văn phòng UBND tỉnh", 0, 3, 3], [security.UNKNOWN, 5, 0, 5]]


def test_security_section_groups_agencies_and_never_names_internal_addresses() -> None:
    assert security.agency_of("kg-dvc-web01", AGENCIES) == "Văn phòng UBND tỉnh"
    assert security.agency_of("db7", AGENCIES) == security.UNKNOWN
    assert security.agency_of("", AGENCIES) == security.NO_HOST
    section = security.section(
        {
            "security_by_host": [{"host": "kg-dvc-web01", "severity": 3, "alerts": 4}],
            "security_sources": [
                {"source_ip": "203.0.113.7", "alerts": 3, "severity": 3},
                {"source_ip": "10.10.20.5", "alerts": 2, "severity": 4},
                {"source_ip": "192.168.1.9", "alerts": 1, "severity": 2},
            ],
            "security_ack": [
                {"severity": 3, "alerts": 4, "acknowledged": 3, "median_s": 600.0, "p90_s": 5400}
            ],
        },
        AGENCIES,
        HOME_NET,
    )
    sources = next(
        b for b in section.blocks if isinstance(b, Table) and b.query == "security_sources"
    )
    flat = str(sources.rows)
    assert "203.0.113.7" in flat and "10.10.20.5" not in flat and "192.168.1.9" not in flat
    assert sources.rows[-1] == ["Địa chỉ trong mạng nội bộ (2 địa chỉ)", 3, "Nghiêm trọng"]
    ack = next(b for b in section.blocks if isinstance(b, Table) and b.query == "security_ack")
    assert ack.rows == [["Cao", 4, 3, "75,0 %", "10 phút", "1 giờ 30 phút"]]


def _named_sources(home_net: tuple[Network, ...]) -> list[list[Any]]:
    addresses = ["203.0.113.7", "10.1.1.1", "100.64.3.4", "198.51.100.20", "127.0.0.1"]
    rows = [{"source_ip": ip, "alerts": 1, "severity": 2} for ip in addresses]
    [table] = security.source_blocks(rows, home_net)
    assert isinstance(table, Table)
    return table.rows


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_internal_sources_are_the_site_s_home_net_not_fixed_private_ranges(
    tmp_path: Path,
) -> None:
    """A site whose HOME_NET is a carrier-grade NAT range and an agency's public range:
    addresses in them are internal, 10/8 is not (the site never said so)."""
    site = _write(tmp_path / "site.yaml", "networks:\n  home_net: [100.64.0.0/10]\n")
    agencies = _write(
        tmp_path / "agencies.yaml",
        "agencies:\n"
        "  - {id: so-tttt, name_vi: Sở TT&TT, name_en: DIC, networks: [198.51.100.0/24]}\n",
    )
    home_net = load_home_net(site, agencies)
    assert [str(n) for n in home_net] == ["100.64.0.0/10", "198.51.100.0/24"]
    rows = _named_sources(home_net)
    assert [r[0] for r in rows[:-1]] == ["203.0.113.7", "10.1.1.1"]
    # 100.64.3.4, 198.51.100.20 and loopback, which no site's sources are named for.
    assert rows[-1] == ["Địa chỉ trong mạng nội bộ (3 địa chỉ)", 3, "Trung bình"]


def test_home_net_defaults_to_the_shipped_site_as_the_detections_do() -> None:
    defaults = Settings()
    home_net = {str(n) for n in load_home_net(defaults.security_site, defaults.agencies_file)}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= home_net
    assert "100.64.0.0/10" not in home_net  # the shipped site does not claim it
    assert [r[0] for r in _named_sources(tuple(map(ipaddress.ip_network, home_net)))[:-1]] == [
        "203.0.113.7",
        "100.64.3.4",
        "198.51.100.20",
    ]


def test_without_any_home_net_no_source_address_is_named(tmp_path: Path) -> None:
    """No site file and no agency networks: the detections refuse rules that need
    HOME_NET, and the report names no address rather than every one."""
    empty = _write(tmp_path / "agencies.yaml", "agencies: []\n")
    home_net = load_home_net(tmp_path / "missing-site.yaml", empty)
    assert home_net == ()
    rows = [{"source_ip": "10.1.1.1", "alerts": 4, "severity": 3}]
    assert security.source_blocks(rows, home_net) == [security.NO_HOME_NET]
    section = security.section({"security_sources": rows}, AGENCIES, home_net)
    assert "10.1.1.1" not in str(section.blocks)


def test_agencies_come_from_the_soc_inventory() -> None:
    """One list of servers: the report names the agency the inventory gives the host,
    as the ingest path does for the host's events."""
    shipped = Inventory.load(Settings().agencies_file)
    assert security.agency_of("kg-dvc-web01", shipped) == "Văn phòng Ủy ban nhân dân tỉnh"
    assert security.agency_of("hg-mail01", shipped) == "Văn phòng Tỉnh ủy"
    assert security.agency_of("db7", shipped) == security.UNKNOWN


MALFORMED = [
    ("site.yaml", "networks: [\n", "site.yaml:2: YAML syntax error"),
    ("site.yaml", "networks:\n  home_net: [10.0.0.0/33]\n", "site.yaml: networks.home_net"),
    (
        "agencies.yaml",
        "agencies:\n  - id: x\n    name_en: X\n    networks: [10.1.1.1/24]\n",
        "agencies.yaml:2: agencies[0].name_vi: missing required field; ",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), MALFORMED)
def test_a_malformed_site_or_agencies_file_is_one_line_naming_it(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    files = {
        "site.yaml": "networks:\n  home_net: [10.0.0.0/8]\n",
        "agencies.yaml": "agencies: []\n",
    }
    files[name] = content
    for file, text_ in files.items():
        _write(tmp_path / file, text_)
    with pytest.raises(ConfigUnusable) as caught:
        load_home_net(tmp_path / "site.yaml", tmp_path / "agencies.yaml")
    message = str(caught.value)
    assert expected in message and str(tmp_path / name) in message
    assert "\n" not in message


def test_ioc_reports_build_names_the_malformed_file_without_a_traceback(tmp_path: Path) -> None:
    site = _write(tmp_path / "site.yaml", "networks:\n  home_net: 10.0.0.0/8\n")
    env = {**os.environ, "IOC_SECURITY_SITE": str(site)}
    ioc = Path(sys.executable).with_name("ioc")
    done = subprocess.run(
        [str(ioc), "reports", "build", "--period", "day"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {site}: networks.home_net")


def test_cameras_section_counts_plate_hits_without_plates() -> None:
    section = cameras.section(
        {"camera_alerts": [{"rule": "camera.plate_watch", "alerts": 7, "cameras": 2}]}
    )
    table = next(b for b in section.blocks if isinstance(b, Table))
    assert ["Phương tiện trong danh sách theo dõi (lượt phát hiện)", 7, 2] in table.rows
    assert ["Xâm nhập vùng cấm", 0, 0] in table.rows


def test_platform_completeness_counts_from_registration() -> None:
    end = START + timedelta(days=1)
    row = {
        "device_id": "d",
        "name": "d",
        "type": "air_quality",
        "expected_interval_s": 60,
        "created_at": START + timedelta(hours=12),
        "received": 360,
    }
    assert platform.expected(row, START, end) == 720
    [(_, share)] = platform.completeness([row], START, end)
    assert share == 0.5
    over = {**row, "received": 5000}
    assert platform.completeness([over], START, end)[0][1] == 1.0


def _results() -> dict[str, Any]:
    return {
        "aqi_daily_values": [
            {
                "device_id": "a",
                "station": "<script>x</script>",
                "day": date(2026, 7, 1),
                "aqi": 42,
                "category": "good",
                "dominant": "pm25",
            }
        ],
        "aqi_days": [
            {"device_id": "a", "station": "<script>x</script>", "category": "good", "days": 1}
        ],
        "alerts_by_domain": [{"domain": "security", "severity": 3, "alerts": 2}],
        "public_warnings_by_kind": None,
        "public_warnings_list": None,
    }


def test_page_escapes_text_numbers_figures_and_names_every_query() -> None:
    drawn: list[Chart] = []

    def draw(chart: Chart) -> str:
        drawn.append(chart)
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"

    period = period_of("day", date(2026, 7, 1))
    html = compose(
        _results(),
        period,
        ReportsConfig(place_vi="An Giang"),
        AGENCIES,
        HOME_NET,
        datetime(2026, 7, 2, 1, 0, tzinfo=UTC),
        draw,
    )
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert "Hình 1." in html and "Bảng 1. Cảnh báo phát sinh" in html  # the summary first
    assert "An Giang, ngày 02 tháng 07 năm 2026" in html
    for name in QUERIES:  # the appendix lists every query
        assert f"<td>{name}</td>" in html
    assert "chưa có bảng" in html  # public_warnings missing
    assert drawn and all(c.query in QUERIES for c in drawn)
    for section in sections(_results(), period, AGENCIES, HOME_NET):
        assert set(section.queries) <= set(QUERIES)
        assert not any(isinstance(b, KeyFigures) for b in section.blocks)
        assert isinstance(section.blocks[0], Heading | str | Chart | Table)


class _Mailbox:
    def __init__(self, answer: str = "250 OK") -> None:
        self.answer = answer
        self.mails: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return self.answer


def _channels(port: int) -> ChannelsConfig:
    return ChannelsConfig.model_validate(
        {
            "channels": [
                {
                    "name": "duty-email",
                    "type": "email",
                    "settings": {
                        "host": "127.0.0.1",
                        "port": port,
                        "sender": "IOC <ioc@localhost>",
                        "to": ["duty@localhost"],
                    },
                }
            ]
        }
    )


@pytest.fixture
def smtp() -> Any:
    mailbox, port = _Mailbox(), free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    yield mailbox, port
    server.stop()


def test_report_mail_goes_to_the_leaders_with_the_pdf(smtp: Any) -> None:
    mailbox, port = smtp
    config = ReportsConfig(email_channel="duty-email", recipients=("a@localhost", "b@localhost"))
    settings = Settings()
    smtp_config = delivery.mail_config(_channels(port), config)
    assert smtp_config.to == ("a@localhost", "b@localhost")  # not the channel's own list
    period = period_of("week", date(2026, 7, 1))
    delivery.send(
        smtp_config,
        settings,
        config,
        period,
        42,
        b"%PDF-1.7 test",
        datetime(2026, 7, 6, 1, tzinfo=UTC),
    )
    [mail] = mailbox.mails
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject.startswith("[IOC] Báo cáo tình hình giám sát, điều hành tuần 27/2026")
    assert mail["X-IOC-Report"] == "42 week-2026-06-29"
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "Kính gửi Lãnh đạo Ủy ban nhân dân tỉnh" in body.get_payload(decode=True).decode()
    pdf = next(p for p in mail.walk() if p.get_content_type() == "application/pdf")
    assert pdf.get_filename() == "bao-cao-week-2026-06-29.pdf"
    assert pdf.get_payload(decode=True) == b"%PDF-1.7 test"


def test_refused_report_mail_is_a_delivery_error(smtp: Any) -> None:
    mailbox, port = smtp
    mailbox.answer = "550 mailbox unavailable"
    config = ReportsConfig(email_channel="duty-email", recipients=("a@localhost",))
    smtp_config = delivery.mail_config(_channels(port), config)
    with pytest.raises(DeliveryError) as raised:
        delivery.send(
            smtp_config,
            Settings(),
            config,
            period_of("day", date(2026, 7, 1)),
            1,
            b"%PDF",
            datetime(2026, 7, 2, tzinfo=UTC),
        )
    assert not raised.value.retryable


def test_no_channel_or_no_recipient_means_not_mailed() -> None:
    with pytest.raises(delivery.NotConfigured):
        delivery.mail_config(_channels(25), ReportsConfig(email_channel="duty-email"))
    with pytest.raises(delivery.NotConfigured):
        delivery.mail_config(
            _channels(25), ReportsConfig(email_channel="nope", recipients=("a@localhost",))
        )


def test_ingest_volume_draws_every_step_of_the_period() -> None:
    week = period_of("week", date(2026, 7, 1)).window()
    blocks = platform.volume_blocks(
        [{"bucket": datetime(2026, 7, 1), "readings": 10}], [], week.start, week.end, False
    )
    [chart] = blocks
    assert isinstance(chart, Chart)
    assert chart.categories[0] == "29/06" and len(chart.categories) == 7
    assert list(chart.series[0].values) == [0, 0, 10, 0, 0, 0, 0]
