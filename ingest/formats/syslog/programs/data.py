"""programs.yaml, validated and read once at import (errors name the file and line)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from config.yaml_loader import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetfilterWords(_Strict):
    denied_words: frozenset[str]
    allowed_words: frozenset[str]


class ProgramsData(_Strict):
    auth_programs: frozenset[str]
    netfilter: NetfilterWords


PROGRAMS = load_model(Path(__file__).with_name("programs.yaml"), ProgramsData)
