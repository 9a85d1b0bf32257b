"""Who the token belongs to: the console uses it to show the role and its buttons."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentUser, acting_domains, visible_domains
from api.errors import responses
from api.schemas import Me

router = APIRouter(prefix="/api/v1", tags=["me"])


@router.get("/me", response_model=Me, responses=responses(401, 429))
def me(user: CurrentUser) -> Me:
    return Me(
        name=user.name,
        role=user.role.value,
        visible_domains=sorted(visible_domains(user.role)),
        acting_domains=sorted(acting_domains(user.role)),
    )
