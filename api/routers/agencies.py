"""Agencies for the CSIRT: the inventory (networks, hosts, log sources and when each was
last heard from) and a per-agency summary of a window: malware detections, firewall
blocks, open security alerts and incidents, silent log sources.

Security data: roles csirt and admin only, like security alerts and events. The
inventory is configuration (deploy/security/agencies.yaml, config/agencies.py); what
was seen comes from the database (store/agencies.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from api.auth import require_roles
from api.deps import Conn
from api.errors import not_found, problem, responses
from config import agencies as inventory_config
from config.agencies import Agency, Inventory
from config.yaml_loader import ConfigErrors
from store import agencies as store
from store.users import Role, User

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])

CsirtUser = Annotated[User, Depends(require_roles(Role.CSIRT, Role.ADMIN))]
AgencyId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", max_length=63)]
# One month at most: a summary reads the agency's events of the window.
Hours = Annotated[int, Query(ge=1, le=31 * 24, description="The window: the last N hours")]


class LogSourceOut(BaseModel):
    id: str
    kind: str
    description: str
    expected_interval_s: int
    silent_after_s: float
    last_seen: datetime | None
    # never_seen: no event of it yet (no alert either); silent: quiet past silent_after_s.
    status: Literal["ok", "silent", "never_seen"]


class AgencyListItem(BaseModel):
    id: str
    name_vi: str
    name_en: str
    networks: list[str]
    log_sources: int
    silent_log_sources: int


class AgencyOut(BaseModel):
    id: str
    name_vi: str
    name_en: str
    networks: list[str]
    hosts: list[str]
    log_sources: list[LogSourceOut]


class AgencySummary(BaseModel):
    agency: str
    name_vi: str
    name_en: str
    since: datetime
    until: datetime
    security_events: int
    malware_detections: int
    firewall_blocks: int
    open_alerts: int
    open_incidents: int
    silent_log_sources: list[LogSourceOut]


def _inventory() -> Inventory:
    try:
        return inventory_config.current()
    except (ConfigErrors, OSError):
        raise problem(503, "agencies_unavailable") from None


def _agency(inventory: Inventory, agency_id: str) -> Agency:
    agency = inventory.agencies.get(agency_id)
    if agency is None:
        raise not_found("agency_not_found", agency_id=agency_id)
    return agency


def _sources(
    inventory: Inventory, agency: Agency, seen: dict[str, datetime], now: datetime
) -> list[LogSourceOut]:
    factor = inventory.data.silent_alert.after_intervals
    out = []
    for source in agency.log_sources:
        limit = source.expected_interval_s * factor
        last = seen.get(source.id)
        status: Literal["ok", "silent", "never_seen"] = (
            "never_seen"
            if last is None
            else "silent"
            if (now - last).total_seconds() > limit
            else "ok"
        )
        out.append(
            LogSourceOut(
                id=source.id,
                kind=source.kind,
                description=source.description,
                expected_interval_s=source.expected_interval_s,
                silent_after_s=limit,
                last_seen=last,
                status=status,
            )
        )
    return out


@router.get("", response_model=list[AgencyListItem], responses=responses(401, 403, 429, 503))
def list_agencies(conn: Conn, _: CsirtUser) -> list[AgencyListItem]:
    """Every agency of the inventory, in its order, with how many log sources are silent
    (by the last run of the alert service's log-sources job)."""
    inventory = _inventory()
    seen, now = store.last_seen(conn), datetime.now(UTC)
    items = []
    for agency in inventory.data.agencies:
        sources = _sources(inventory, agency, seen, now)
        items.append(
            AgencyListItem(
                id=agency.id,
                name_vi=agency.name_vi,
                name_en=agency.name_en,
                networks=list(agency.networks),
                log_sources=len(sources),
                silent_log_sources=sum(s.status == "silent" for s in sources),
            )
        )
    return items


@router.get(
    "/{agency_id}", response_model=AgencyOut, responses=responses(401, 403, 404, 422, 429, 503)
)
def get_agency(agency_id: AgencyId, conn: Conn, _: CsirtUser) -> AgencyOut:
    inventory = _inventory()
    agency = _agency(inventory, agency_id)
    sources = _sources(inventory, agency, store.last_seen(conn), datetime.now(UTC))
    return AgencyOut(
        id=agency.id,
        name_vi=agency.name_vi,
        name_en=agency.name_en,
        networks=list(agency.networks),
        hosts=list(agency.hosts),
        log_sources=sources,
    )


@router.get(
    "/{agency_id}/summary",
    response_model=AgencySummary,
    responses=responses(401, 403, 404, 422, 429, 503),
)
def agency_summary(
    agency_id: AgencyId, conn: Conn, _: CsirtUser, hours: Hours = 24
) -> AgencySummary:
    """The last `hours`: malware detections (events of category malware), firewall
    blocks (network events of type denied), all of the agency's security events; now:
    open security alerts, open incidents (cases not closed holding one of its alerts),
    silent log sources."""
    inventory = _inventory()
    agency = _agency(inventory, agency_id)
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)
    with conn.transaction():
        counts = store.summary_counts(conn, agency.id, since, until)
        seen = store.last_seen(conn)
    sources = _sources(inventory, agency, seen, until)
    return AgencySummary(
        agency=agency.id,
        name_vi=agency.name_vi,
        name_en=agency.name_en,
        since=since,
        until=until,
        silent_log_sources=[s for s in sources if s.status == "silent"],
        **counts,
    )
