"""Open datasets at /public/v1/... (placeholder while the datasets are written)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from config.settings import Settings

router = APIRouter()


def configure(app: FastAPI, settings: Settings) -> None:
    del app, settings
