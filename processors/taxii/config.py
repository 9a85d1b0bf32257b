"""deploy/security/taxii.yaml: the TAXII servers whose indicators are pulled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.secret_ref import SecretRef
from config.yaml_loader import load_model

if TYPE_CHECKING:
    from config.settings import Settings

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "deploy" / "security" / "taxii.yaml"


class PullSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    # The collection's URL (…/collections/<id>/), as its server's discovery gives it.
    collection: str = Field(pattern=r"^https?://[^\s]+/$", max_length=2000)
    user: str | None = Field(default=None, max_length=256)
    password: SecretRef | None = None
    every_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    max_objects: int = Field(default=100_000, ge=1, le=1_000_000)
    page_size: int = Field(default=500, ge=1, le=1000)
    timeout_seconds: float = Field(default=30, gt=0, le=300)
    verify_tls: bool = True

    @property
    def file_name(self) -> str:
        return f"taxii-{self.name}.json"


class TaxiiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pull: list[PullSource] = Field(default_factory=list)

    @field_validator("pull")
    @classmethod
    def _unique(cls, sources: list[PullSource]) -> list[PullSource]:
        names = [s.name for s in sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"source names must be unique: {', '.join(twice)}")
        return sources


def config_path(settings: Settings) -> Path:
    return settings.taxii_file  # IOC_TAXII_FILE; the shipped file by default


def load_config(path: Path = DEFAULT_FILE) -> TaxiiConfig:
    """Raises config.yaml_loader.ConfigErrors (file:line: field: message)."""
    return load_model(path, TaxiiConfig, empty={})
