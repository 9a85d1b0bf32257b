"""Leadership reports: the archive's list and each report's PDF and HTML.

Who reads them: admin, operator, CSIRT and viewer (read-only accounts such as the
leaders' own). The report is written for the province's leadership, and its security
part holds aggregates only (counts per agency and severity, outside attack sources,
acknowledgement times; internal addresses are never named), with no plate and no
personal data, so any account that may look at the console may read it. Integrators,
who connect equipment, do not: the report is not about their devices.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from api.auth import require_roles
from api.deps import Conn
from api.errors import problem, responses
from store import reports as store
from store.users import Role, User

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Reader = Annotated[User, Depends(require_roles(Role.ADMIN, Role.OPERATOR, Role.CSIRT, Role.VIEWER))]
ReportId = Annotated[int, Path(ge=1, le=2**62)]
# The stored page is self-contained: inline styles, charts as data: images, no script.
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none';"
        " form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=300",
}


class ReportOut(BaseModel):
    id: int
    period: Literal["day", "week", "month"]
    period_start: date
    period_end: date
    built_at: datetime
    delivered_at: datetime | None
    pdf_bytes: int
    pdf_url: str
    html_url: str


@router.get("", response_model=list[ReportOut], responses=responses(401, 403, 422, 429))
def list_reports(
    conn: Conn,
    _: Reader,
    period: Annotated[Literal["day", "week", "month"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Ids below this")] = None,
) -> list[ReportOut]:
    """Newest first; page with `before` = the last id seen."""
    rows = store.list_reports(conn, period=period, limit=limit, before_id=before)
    return [
        ReportOut(
            id=r["id"],
            period=r["period"],
            period_start=r["period_start"],
            period_end=r["period_end"],
            built_at=r["built_at"],
            delivered_at=r["delivered_at"],
            pdf_bytes=r["pdf_bytes"],
            pdf_url=f"{router.prefix}/{r['id']}.pdf",
            html_url=f"{router.prefix}/{r['id']}.html",
        )
        for r in rows
    ]


def _document(conn: Conn, report_id: int, kind: str) -> bytes | str:
    found = store.document(conn, report_id, kind)
    if found is None:
        raise problem(404, "report_not_found", report_id=report_id)
    return found


@router.get(
    "/{report_id}.pdf",
    response_class=Response,
    responses={**responses(401, 403, 404, 422, 429), 200: {"content": {"application/pdf": {}}}},
)
def report_pdf(conn: Conn, _: Reader, report_id: ReportId) -> Response:
    pdf = _document(conn, report_id, "pdf")
    return Response(
        bytes(pdf),  # type: ignore[arg-type]
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="bao-cao-{report_id}.pdf"',
            "Cache-Control": "private, max-age=300",
        },
    )


@router.get(
    "/{report_id}.html",
    response_class=Response,
    responses={**responses(401, 403, 404, 422, 429), 200: {"content": {"text/html": {}}}},
)
def report_html(conn: Conn, _: Reader, report_id: ReportId) -> Response:
    page = _document(conn, report_id, "html")
    return Response(str(page), media_type="text/html; charset=utf-8", headers=HTML_HEADERS)
