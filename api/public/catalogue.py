"""The data catalogue page, /public/: each open dataset with its formats, update
frequency and licence, Vietnamese first with English below. Built from
api/public/open_data.yaml with every value HTML-escaped; no script, and a
Content-Security-Policy that allows only its own inline style (by hash)."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from string import Template

from fastapi import APIRouter, Request
from limits import parse
from starlette.responses import HTMLResponse

from api.public.config import Dataset, OpenDataConfig
from api.public.delivery import client_address
from api.public.opendata import DATASET_PATHS, OpenData

router = APIRouter()

STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{background:#0b4f7c;color:#fff;padding:22px 32px}
header h1{margin:0;font-size:26px}header p{margin:6px 0 0}header .en{color:#cfe0ec}
main{padding:20px 32px;max-width:1180px}
.en{color:#5a6675;font-size:.92em}
table{border-collapse:collapse;width:100%;background:#fff;margin:12px 0 20px}
th,td{border:1px solid #d5dbe1;padding:8px 10px;text-align:left;vertical-align:top}
th{background:#e8eef3;font-size:14px}td{font-size:14px}
code{background:#eef1f4;padding:1px 4px;border-radius:3px;font-size:13px}
.box{background:#fff;border-left:4px solid #0b4f7c;padding:12px 16px;margin:14px 0}
td.formats{white-space:nowrap}a{color:#0b5fa0}h2{font-size:19px;margin:22px 0 6px}
ul{margin:6px 0 6px 20px;padding:0}li{margin:3px 0}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none';"
        " form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=300",
}

PAGE = Template("""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dữ liệu mở — Open data · $publisher</title>
<style>$style</style></head>
<body>
<header><h1>Dữ liệu mở <span lang="en">· Open data</span></h1>
<p>$publisher</p><p class="en" lang="en">$publisher_en</p></header>
<main>
<p>Dữ liệu quan trắc môi trường và cảnh báo công cộng cho người dân và doanh nghiệp,
miễn phí, không cần đăng ký hay mã truy cập, ở định dạng JSON và CSV.</p>
<p class="en" lang="en">Environmental monitoring data and public warnings for citizens and
businesses: free, no registration or token, in JSON and CSV.</p>
<div class="box"><strong>Giấy phép / Licence:</strong>
<a href="$licence_url" rel="license">$licence_name</a> — <span lang="en">$licence_name_en</span><br>
$attribution<br><span class="en" lang="en">$attribution_en</span></div>
<h2>Các bộ dữ liệu <span class="en" lang="en">· Datasets</span></h2>
<table><thead><tr>
<th>Bộ dữ liệu<br><span class="en" lang="en">Dataset</span></th>
<th>Nội dung<br><span class="en" lang="en">Content</span></th>
<th>Định dạng<br><span class="en" lang="en">Formats</span></th>
<th>Tần suất cập nhật<br><span class="en" lang="en">Update frequency</span></th>
</tr></thead><tbody>
$rows
</tbody></table>
<h2>Cách dùng <span class="en" lang="en">· How to use</span></h2>
<ul>
<li>Tham số / <span lang="en">parameters</span>: <code>station</code>, <code>province</code>,
<code>from</code>, <code>to</code> (RFC 3339, vd. <code>2026-12-01T00:00:00+07:00</code>;
theo ngày: <code>2026-12-01</code>), <code>limit</code>, <code>format=csv</code>
(hoặc đuôi <code>.csv</code>).</li>
<li>Mỗi lần tối đa $max_rows dòng; dữ liệu giờ tối đa $hourly_days ngày, dữ liệu ngày tối đa
$daily_days ngày. <span class="en" lang="en">At most $max_rows rows per answer; hourly data
up to $hourly_days days, daily data up to $daily_days days per request.</span></li>
<li>Mỗi địa chỉ tối đa $rate_vi; vượt quá nhận mã 429 kèm Retry-After.
<span class="en" lang="en">At most $rate_en per address; beyond that, 429 with
Retry-After.</span></li>
<li>Giấy phép và ghi công có trong mọi câu trả lời (trường <code>licence</code>,
<code>attribution</code> của JSON; tiêu đề <code>Link: rel="license"</code> cho cả CSV).
<span class="en" lang="en">Licence and attribution come with every answer (JSON fields;
the <code>Link: rel="license"</code> header, CSV too).</span></li>
<li>Tài liệu API / <span lang="en">API reference</span>: <a href="docs">/public/docs</a>,
OpenAPI: <a href="openapi.json">/public/openapi.json</a>; danh mục máy đọc được /
<span lang="en">machine-readable catalogue</span>: <a href="v1/datasets">/public/v1/datasets</a>;
cảnh báo CAP / <span lang="en">CAP warnings feed</span>:
<a href="cap.atom">/public/cap.atom</a>.</li>
</ul>
</main></body></html>
""")

ROW = Template("""<tr>
<td><strong>$title</strong><br><span class="en" lang="en">$title_en</span></td>
<td>$description<br><span class="en" lang="en">$description_en</span></td>
<td class="formats"><a href="$json">JSON</a> · <a href="$csv">CSV</a></td>
<td>$frequency<br><span class="en" lang="en">$frequency_en</span></td></tr>""")


def _row(dataset: Dataset) -> str:
    path = DATASET_PATHS[dataset.id]
    return ROW.substitute(
        title=escape(dataset.title_vi), title_en=escape(dataset.title_en),
        description=escape(dataset.description_vi),
        description_en=escape(dataset.description_en),
        json=escape(path), csv=escape(path + ".csv"),
        frequency=escape(dataset.frequency_vi), frequency_en=escape(dataset.frequency_en),
    )  # fmt: skip


_PERIOD_VI = {"second": "giây", "minute": "phút", "hour": "giờ", "day": "ngày"}


def _rate(requests: str) -> dict[str, str]:
    """'120/minute' as words: '120 yêu cầu mỗi phút', '120 requests per minute'."""
    item = parse(requests)
    period = item.GRANULARITY.name
    every_vi = _PERIOD_VI.get(period, period)
    if item.multiples != 1:
        every_vi, period = f"{item.multiples} {every_vi}", f"{item.multiples} {period}s"
    return {
        "rate_vi": escape(f"{item.amount} yêu cầu mỗi {every_vi}"),
        "rate_en": escape(f"{item.amount} requests per {period}"),
    }


def render_page(config: OpenDataConfig) -> str:
    limits = config.limits
    return PAGE.substitute(
        style=STYLE,
        publisher=escape(config.publisher.name_vi),
        publisher_en=escape(config.publisher.name_en),
        licence_url=escape(str(config.licence.url)),
        licence_name=escape(config.licence.name),
        licence_name_en=escape(config.licence.name_en),
        attribution=escape(config.attribution_vi),
        attribution_en=escape(config.attribution_en),
        rows="\n".join(_row(d) for d in config.datasets),
        max_rows=limits.max_rows, hourly_days=limits.hourly_max_days,
        daily_days=limits.daily_max_days, **_rate(limits.requests),
    )  # fmt: skip


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def catalogue(request: Request) -> HTMLResponse:
    state: OpenData = request.app.state.open_data
    state.limits.check_public(client_address(request))
    return HTMLResponse(render_page(state.config), headers=HEADERS)
