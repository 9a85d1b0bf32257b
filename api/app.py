"""The HTTP API. This first cut serves health only; resources arrive with later issues."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from config.settings import get_settings


def create_app() -> FastAPI:
    app = FastAPI(title="IOC core API", version="0.1.0")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the database answers."""
        try:
            with psycopg.connect(get_settings().dsn(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            return JSONResponse({"status": "unavailable", "database": str(error)}, 503)
        return JSONResponse({"status": "ok"})

    return app
