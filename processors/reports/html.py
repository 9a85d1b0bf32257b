"""The report as one self-contained HTML page (charts inline as SVG data URIs), laid
out for A4 print: WeasyPrint makes the PDF from this same page. string.Template, not
Jinja (a dev-only dependency here); every value goes through html.escape."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from string import Template

from config.timezone import LOCAL_TZ
from processors.reports.model import Block, Chart, Heading, KeyFigures, Section, Table
from store.reports import QUERIES

ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")

STYLE = """
@page { size: A4; margin: 1.6cm 1.8cm 1.8cm 1.8cm;
  @bottom-center { content: "Trang " counter(page) " / " counter(pages);
                   font: 8pt "DejaVu Sans"; color: #555; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; line-height: 1.4;
       color: #1b1f24; max-width: 18cm; margin: auto; }
.heading { display: flex; justify-content: space-between; text-align: center;
           font-size: 9pt; }
.heading > div { width: 50%; }
.heading .rule { width: 35%; margin: 2pt auto 0; border-top: 0.6pt solid #1b1f24; }
.heading .date { font-style: italic; margin-top: 8pt; white-space: nowrap; }
h1 { font-size: 14pt; text-align: center; margin: 18pt 0 2pt; }
.subtitle { text-align: center; margin: 0 0 4pt; }
.to { text-align: center; margin-bottom: 12pt; }
h2 { font-size: 11.5pt; border-bottom: 1pt solid #1f6fb2; color: #0f3d66;
     margin: 16pt 0 6pt; padding-bottom: 2pt; break-after: avoid; }
h3 { font-size: 10pt; margin: 10pt 0 4pt; break-after: avoid; }
p { margin: 4pt 0; text-align: justify; }
figure { margin: 6pt 0 10pt; break-inside: avoid; }
figure img { width: 100%; }
figcaption, .caption { font-weight: bold; font-size: 8.8pt; margin: 4pt 0 2pt; }
.source { font-size: 7.5pt; color: #555; margin: 1pt 0 0; }
.note { font-size: 7.5pt; color: #555; font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: 8.3pt; margin: 2pt 0;
        table-layout: auto; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th { background: #e8eef5; font-weight: bold; text-align: left; }
th, td { border: 0.5pt solid #aab4bf; padding: 2pt 4pt; vertical-align: top;
         overflow-wrap: anywhere; }
td.n, th.n { text-align: right; white-space: nowrap; }
td.k, th.k { white-space: nowrap; }
.block { break-inside: avoid; margin-bottom: 8pt; }
.tiles { display: flex; gap: 6pt; margin: 6pt 0 8pt; }
.tile { flex: 1; border: 0.6pt solid #aab4bf; border-radius: 3pt; padding: 4pt 6pt; }
.tile b { display: block; font-size: 14pt; color: #0f3d66; }
.tile span { font-size: 7.8pt; color: #333; }
.empty { font-style: italic; color: #444; }
.appendix td:first-child { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>$title</title>
<style>$style</style></head><body>
<div class="heading">
  <div>$parent<br><b>$organisation</b><div class="rule"></div></div>
  <div><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><br><b>Độc lập - Tự do - Hạnh phúc</b>
  <div class="rule"></div><div class="date">$dated</div></div>
</div>
<h1>BÁO CÁO</h1>
<p class="subtitle"><b>Tình hình giám sát, điều hành $period</b></p>
<p class="to">Kính gửi: $recipient</p>
$summary
$sections
<h2>Phụ lục. Nguồn số liệu</h2>
<p>Mỗi hình và bảng trong báo cáo ghi tên truy vấn tạo ra nó. Các truy vấn nằm trong
<code>store/reports.py</code>; số liệu gốc của từng truy vấn được lưu kèm báo cáo
(cột <code>figures</code> của bảng <code>reports</code>).</p>
<table class="appendix"><thead><tr><th>Truy vấn</th><th>Nội dung</th>
<th class="n">Số dòng</th></tr></thead><tbody>$appendix</tbody></table>
<p class="note">Báo cáo được hệ thống IOC lập tự động lúc $built (giờ Việt Nam).
Thời gian trong báo cáo là giờ Việt Nam (UTC+7).</p>
</body></html>
""")


@dataclass(frozen=True)
class Letterhead:
    parent: str
    organisation: str
    place: str
    recipient: str


@dataclass
class _Counter:
    figures: int = 0
    tables: int = 0


def _source(query: str) -> str:
    return f'<p class="source">Nguồn: truy vấn <code>{escape(query)}</code> (store/reports.py)</p>'


def _class(table: Table, index: int) -> str:
    if index in table.numeric:
        return ' class="n"'
    return ' class="k"' if index in table.nowrap else ""


def _table(table: Table, number: int) -> str:
    head = "".join(f"<th{_class(table, i)}>{escape(c)}</th>" for i, c in enumerate(table.columns))
    body = "".join(
        "<tr>"
        + "".join(f"<td{_class(table, i)}>{escape(_cell(v))}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<div class="block"><p class="caption">Bảng {number}. {escape(table.title)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{note}{_source(table.query)}</div>"
    )


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return str(value)


def _chart(chart: Chart, number: int, svg: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return (
        f"<figure><figcaption>Hình {number}. {escape(chart.title)}</figcaption>"
        f'<img alt="{escape(chart.title)}" src="data:image/svg+xml;base64,{data}">'
        f"{_source(chart.query)}</figure>"
    )


def _block(block: Block, counter: _Counter, draw: Callable[[Chart], str]) -> str:
    if isinstance(block, Heading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, KeyFigures):
        tiles = "".join(
            f'<div class="tile"><b>{escape(i.value)}</b><span>{escape(i.label)}</span></div>'
            for i in block.items
        )
        names = ", ".join(dict.fromkeys(i.query for i in block.items))
        return f'<div class="tiles">{tiles}</div>{_source(names)}'

    if isinstance(block, Table):
        counter.tables += 1
        return _table(block, counter.tables)
    if isinstance(block, Chart):
        if not block.series or not block.categories:
            return ""
        counter.figures += 1
        return _chart(block, counter.figures, draw(block))
    return f"<p>{escape(block)}</p>"


def render(
    *,
    heading: Letterhead,
    period_title: str,
    summary: Section,
    sections: Sequence[Section],
    row_counts: dict[str, int | None],
    built: datetime,
    draw: Callable[[Chart], str],
) -> str:
    counter = _Counter()
    local = built.astimezone(LOCAL_TZ)
    opening = "".join(_block(b, counter, draw) for b in summary.blocks)  # numbered first
    body = []
    for index, section in enumerate(sections):
        parts = [_block(b, counter, draw) for b in section.blocks]
        if section.empty and not section.blocks:
            parts = [f'<p class="empty">{escape(section.empty)}</p>']
        body.append(f"<h2>{ROMAN[index]}. {escape(section.title)}</h2>{''.join(parts)}")
    appendix = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(q.about_vi)}</td>"
        f'<td class="n">{"chưa có bảng" if row_counts.get(name) is None else row_counts[name]}'
        "</td></tr>"
        for name, q in QUERIES.items()
    )
    place = f"{heading.place}, " if heading.place else ""
    return PAGE.substitute(
        title=escape(f"Báo cáo {period_title}"),
        style=STYLE,
        parent=escape(heading.parent),
        organisation=escape(heading.organisation),
        dated=escape(f"{place}ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"),
        period=escape(period_title),
        recipient=escape(heading.recipient),
        summary=opening,
        sections="".join(body),
        appendix=appendix,
        built=escape(local.strftime("%H:%M ngày %d/%m/%Y")),
    )
