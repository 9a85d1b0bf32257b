"""Weekly case counts from the health department: POST /api/v1/epidemics/cases.

The body is a report in CSV (text/csv) or JSON (application/json), one row per commune,
disease and ISO week (processors/epidemics/cases.py). The rows are stored, bad rows kept
as dead letters with their reason, and the epidemic.* alerts raised in one transaction;
the answer comes after the commit: 200 when every row was stored, 207 when some were
rejected (each with its reason and dead letter id), 422 when the body cannot be read as a
report at all (kept as one dead letter). Roles: integrator (the health department's
system) and admin.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from api.auth import require_roles
from api.deps import POOL_WAIT_SECONDS, pool_of
from api.errors import problem, responses
from config.settings import Settings, get_settings
from processors.alerts.channels import channels_path, load_channels
from processors.alerts.manager import AlertManager
from processors.epidemics.service import EpidemicsConfig, ReportResult, receive_report
from store import rule_generation
from store.users import Role, User

router = APIRouter(prefix="/api/v1/epidemics", tags=["epidemics"])
Poster = Annotated[User, Depends(require_roles(Role.INTEGRATOR, Role.ADMIN))]
KINDS = {"text/csv": "csv", "application/json": "json"}


class CaseRowAnswer(BaseModel):
    index: int
    reason: str
    dead_letter_id: str


class CasesAnswer(BaseModel):
    """Rows received, stored (new or replacing the week's earlier count), rejected (each
    kept as a dead letter), and the alerts the report raised or changed."""

    received: int
    stored: int
    rejected: list[CaseRowAnswer]
    alerts: list[dict[str, Any]]


@lru_cache(maxsize=2)
def _config(paths: tuple[str, ...], generation: int) -> EpidemicsConfig:
    """The rules and communes as of `generation`: `ioc rules reload` (which bumps it)
    reaches the next report, as it reaches the ingest workers."""
    return EpidemicsConfig.load(list(paths) or None)


_last_good: list[EpidemicsConfig] = []


def _current_config(paths: tuple[str, ...], generation: int) -> EpidemicsConfig:
    """A pack edited into a broken state keeps the rules this process ran before (as a
    worker does); a process that never loaded them answers 503."""
    try:
        config = _config(paths, generation)
    except (ValueError, LookupError) as error:  # RuleErrors/ConfigErrors are ValueErrors
        if not _last_good:
            raise problem(503, "epidemics_rules_unavailable") from error
        return _last_good[-1]
    _last_good[:] = [config]
    return config


def _manager(request: Request) -> AlertManager:
    """The app's alert routing (the channels file, or what a test gave create_app)."""
    routing = getattr(request.app.state, "routing", None)
    if routing is None:  # pragma: no cover - create_app always sets it
        routing = load_channels(channels_path(get_settings()))
    return AlertManager(routing)


def _kind(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in KINDS:
        raise problem(415, "epidemics_media_type")
    return KINDS[media]


def _answer(result: ReportResult) -> JSONResponse:
    body = CasesAnswer(
        received=result.received,
        stored=result.stored,
        rejected=[CaseRowAnswer(**vars(r)) for r in result.rejected],
        alerts=[
            {"rule": s.rule, "state": s.state.value, "labels": dict(s.labels),
             "level": s.values.get("level"), "week": s.values.get("week")}
            for s in result.signals
        ],
    )  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=207 if result.rejected else 200)


@router.post(
    "/cases",
    summary="Post a weekly case report (CSV or JSON)",
    responses={
        200: {"model": CasesAnswer, "description": "every row stored"},
        207: {"model": CasesAnswer, "description": "some rows rejected (see rejected)"},
        **responses(401, 403, 413, 415, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                # Any item is taken: each row is judged on its own, and one that is not a
                # row of commune, disease, week, cases is a dead letter with its reason
                # (the 207's `rejected`), so the rest of the report still counts.
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {},
                        "description": "rows: {commune, disease, week, cases}",
                    }
                },
            },
        }
    },
)
async def post_cases(request: Request, user: Poster) -> JSONResponse:
    kind = _kind(request)
    body = await request.body()
    if not body.strip():
        raise problem(422, "ingest_body_empty")
    settings: Settings = get_settings()
    paths = tuple(str(p) for p in settings.rules_paths())
    manager = _manager(request)

    def work() -> ReportResult:
        pool = pool_of(request)
        with pool.connection(timeout=POOL_WAIT_SECONDS) as conn, conn.transaction():
            config = _current_config(paths, rule_generation.current(conn))
            return receive_report(
                conn, body, kind, config=config, manager=manager,
                source=f"api:{user.name}", transport="http",
            )  # fmt: skip

    try:
        result = await run_in_threadpool(work)
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise problem(503, "database_unavailable") from error
    if result.unreadable is not None:
        raise problem(
            422,
            "epidemics_body_unusable",
            reason=result.unreadable,
            dead_letter_id=result.dead_letter_id,
        )
    return _answer(result)
