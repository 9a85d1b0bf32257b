"""The open data configuration (open_data.yaml): publisher, licence, open stations,
bounds and the datasets offered. A dataset or station not named here is not served."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from config.yaml_loader import load_model
from store.migrations.m0020_open_data import OPEN_WATER_METRICS
from store.open_data import Scope

CONFIG_FILE = Path(__file__).resolve().parent / "open_data.yaml"
DatasetId = Literal["stations", "aqi-hourly", "aqi-daily", "water-hourly", "warnings"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Publisher(_Strict):
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    url: HttpUrl


class Licence(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    url: HttpUrl


class Stations(_Strict):
    types: tuple[str, ...] = Field(min_length=1)
    private: tuple[str, ...] = ()


class Limits(_Strict):
    requests: str
    max_rows: int = Field(ge=1, le=50_000)
    default_rows: int = Field(ge=1)
    hourly_max_days: int = Field(ge=1, le=400)
    hourly_default_hours: int = Field(ge=1)
    daily_max_days: int = Field(ge=1, le=3660)
    daily_default_days: int = Field(ge=1)
    cache_entries: int = Field(ge=0, le=100_000)
    cache_megabytes: int = Field(default=64, ge=1, le=4096)

    @field_validator("requests")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as error:
            raise ValueError(f"not a rate like '120/minute': {error}") from None
        return value

    @model_validator(mode="after")
    def _defaults_within(self) -> Limits:
        if self.default_rows > self.max_rows:
            raise ValueError("default_rows is above max_rows")
        if self.hourly_default_hours > self.hourly_max_days * 24:
            raise ValueError("hourly_default_hours is above hourly_max_days")
        if self.daily_default_days > self.daily_max_days:
            raise ValueError("daily_default_days is above daily_max_days")
        return self


class Dataset(_Strict):
    id: DatasetId
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    description_vi: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    frequency_vi: str = Field(min_length=1)
    frequency_en: str = Field(min_length=1)
    cache_seconds: int = Field(ge=0, le=3600)
    metrics: tuple[str, ...] = ()

    @field_validator("metrics")
    @classmethod
    def _open_metrics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        closed = [m for m in value if m not in OPEN_WATER_METRICS]
        if closed:
            raise ValueError(f"{closed} not in the open water view {list(OPEN_WATER_METRICS)}")
        return value


class OpenDataConfig(_Strict):
    publisher: Publisher
    licence: Licence
    attribution_vi: str = Field(min_length=1)
    attribution_en: str = Field(min_length=1)
    stations: Stations
    limits: Limits
    datasets: tuple[Dataset, ...]

    @field_validator("datasets")
    @classmethod
    def _unique(cls, value: tuple[Dataset, ...]) -> tuple[Dataset, ...]:
        ids = [d.id for d in value]
        if len(ids) != len(set(ids)):
            raise ValueError("a dataset id is listed twice")
        return value

    @property
    def scope(self) -> Scope:
        return Scope(types=self.stations.types, private=self.stations.private)

    def dataset(self, dataset_id: str) -> Dataset | None:
        return next((d for d in self.datasets if d.id == dataset_id), None)


def load_config(path: Path = CONFIG_FILE) -> OpenDataConfig:
    return load_model(path, OpenDataConfig)


@lru_cache(maxsize=4)
def cached_config(path: Path = CONFIG_FILE) -> OpenDataConfig:
    return load_config(path)
