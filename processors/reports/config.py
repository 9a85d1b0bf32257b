"""deploy/reports/reports.yaml: who gets the reports, which periods, the heading."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.settings import REPO_ROOT
from config.yaml_loader import load_model
from processors.alerts.channels import expand_env
from processors.reports.period import PeriodKind

DEFAULT_FILE = REPO_ROOT / "deploy" / "reports" / "reports.yaml"


class ReportsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    parent_vi: str = "ỦY BAN NHÂN DÂN TỈNH"
    organisation_vi: str = "TRUNG TÂM GIÁM SÁT, ĐIỀU HÀNH THÔNG MINH"
    place_vi: str = ""
    recipient_vi: str = "Lãnh đạo Ủy ban nhân dân tỉnh"
    periods: tuple[PeriodKind, ...] = ("day", "week", "month")
    build_after_minutes: int = Field(default=30, ge=0, le=24 * 60)
    catch_up: int = Field(default=3, ge=1, le=31)
    email_channel: str | None = None
    recipients: tuple[str, ...] = ()
    subject_prefix: str = "[IOC]"

    @field_validator("recipients", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        return expand_env(value, os.environ) if isinstance(value, list) else value


def load_reports_config(path: Path = DEFAULT_FILE) -> ReportsConfig:
    """The file Settings.reports_file names (IOC_REPORTS_FILE)."""
    return load_model(path, ReportsConfig, empty={})
