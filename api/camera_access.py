"""Who reads what of the camera data, and the time ranges camera queries take.

Plates (the reads and the watch list) are personal data: operators, who act on camera
alerts, and admins only. Camera events and their snapshots also go to the CSIRT, which
investigates physical intrusions at the sites it protects; viewers (wall screens) and
integrators (who connect cameras and see them arrive through the device registry and
dead letters) do not see pictures of people.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends

from api.auth import require_roles
from api.errors import problem
from store.users import Role, User

PlateUser = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.ADMIN))]
CameraUser = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.CSIRT, Role.ADMIN))]

DEFAULT_SPAN = timedelta(hours=24)
# Without a camera an event list walks every camera's events of the range in time order;
# a month bounds that walk (on plain PostgreSQL it is a scan of the range).
MAX_SPAN = timedelta(days=31)


def ordered(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise problem(422, "time_range_invalid")


def bounded_range(
    since: datetime | None, until: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[since, until): until defaults to now, since to a day before until; at most
    MAX_SPAN long."""
    end = until or (now or datetime.now(UTC))
    start = since or end - DEFAULT_SPAN
    ordered(start, end)
    if end - start > MAX_SPAN:
        raise problem(422, "time_range_too_long", days=MAX_SPAN.days)
    return start, end
