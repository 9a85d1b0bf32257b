"""The communes case counts are reported for (communes.yaml): names, areas, centres."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.yaml_loader import load_model

COMMUNES_FILE = Path(__file__).with_name("communes.yaml")


class Commune(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    district: str = Field(min_length=1)
    province: str = Field(min_length=1)
    lat: float = Field(ge=8, le=24)  # Vietnam
    lon: float = Field(ge=102, le=110)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    communes: dict[str, Commune] = Field(min_length=1)


@dataclass(frozen=True)
class Communes:
    by_id: dict[str, Commune]

    def get(self, commune_id: str) -> Commune | None:
        return self.by_id.get(commune_id)


@lru_cache(maxsize=4)
def load_communes(path: Path = COMMUNES_FILE) -> Communes:
    return Communes(dict(load_model(path, _File).communes))
