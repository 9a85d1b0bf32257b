"""The console's overview: every device with its current state, and the open alerts
counted by domain and severity (what the map and the count tiles draw)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import CurrentUser, visible_domains
from api.deps import Conn
from api.errors import responses
from api.schemas import DeviceState, DomainCounts, OverviewOut, SeverityCounts
from events.alerts import Domain, Severity
from store.overview import device_count, device_states, open_alert_counts

router = APIRouter(prefix="/api/v1/overview", tags=["overview"])

# A provincial deployment has hundreds of devices; past this the map shows the first
# ones (by province, id) and devices_total says how many exist.
MAX_DEVICES = 5000


def _counts(rows: list[tuple[str, int, int]], domains: list[Domain]) -> list[DomainCounts]:
    by_domain = {domain: DomainCounts(domain=domain) for domain in domains}
    for domain, severity, count in rows:
        tile = by_domain[Domain(domain)]
        label = Severity(severity).label
        setattr(tile, label, getattr(tile, label) + count)
        tile.total += count
    return list(by_domain.values())


def _total(tiles: list[DomainCounts]) -> SeverityCounts:
    total = SeverityCounts()
    for tile in tiles:
        for field in SeverityCounts.model_fields:
            setattr(total, field, getattr(total, field) + getattr(tile, field))
    return total


@router.get("", response_model=OverviewOut, responses=responses(401, 429))
def overview(conn: Conn, user: CurrentUser) -> OverviewOut:
    """Devices (at most 5000) with their state, and open alerts by domain and severity."""
    domains = sorted(visible_domains(user.role))
    tiles = _counts(open_alert_counts(conn, domains), domains)
    return OverviewOut(
        generated_at=datetime.now(UTC),
        devices=[DeviceState.model_validate(row) for row in device_states(conn, MAX_DEVICES)],
        devices_total=device_count(conn),
        alerts_by_domain=tiles,
        alerts_total=_total(tiles),
    )
