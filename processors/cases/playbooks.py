"""Playbooks (playbooks/*.yaml): the tasks a case gets for each kind of alert it holds.
Typed, checked at load, pure. A playbook applies when any alert of the case matches one
of its `alerts` patterns (fnmatch on the alert's rule id) or carries an ATT&CK technique
matching one of its `techniques` (Sigma rules' ids are UUIDs: their kind is in their
tags); its tasks are added once per case however many of its alerts match."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.yaml_loader import ConfigError, ConfigErrors, load_model

PLAYBOOK_DIR = Path(__file__).with_name("playbooks")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Model):
    vi: str = Field(min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)


class Task(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    title: Bilingual


class Playbook(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    alerts: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    name: Bilingual
    # Where its tasks stand in a case's list: lower first (triage 0, the kinds 100).
    order: int = Field(default=100, ge=0, le=999)
    tasks: list[Task] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _matches_something(self) -> Playbook:
        if not self.alerts and not self.techniques:
            raise ValueError("a playbook needs `alerts` or `techniques` patterns")
        return self

    def applies_to(self, rule: str, techniques: Sequence[str] = ()) -> bool:
        return any(fnmatch.fnmatchcase(rule, p) for p in self.alerts) or any(
            fnmatch.fnmatchcase(t, p) for p in self.techniques for t in techniques
        )


def load_playbooks(folder: Path = PLAYBOOK_DIR) -> list[Playbook]:
    """Every playbook of the folder, in file-name order; ConfigErrors name file:line."""
    books: list[Playbook] = []
    errors: list[ConfigError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            books.append(load_model(path, Playbook))
        except ConfigErrors as error:
            errors.extend(error.errors)
    ids = [b.id for b in books]
    for doubled in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(ConfigError(str(folder), 0, "id", f"playbook id {doubled!r} used twice"))
    if errors:
        raise ConfigErrors(errors)
    return books


def tasks_for(
    books: Sequence[Playbook], kinds: Iterable[tuple[str, Sequence[str]]]
) -> list[tuple[Playbook, int, Task]]:
    """(playbook, position, task) for every playbook that applies to any of the alert
    kinds: (rule id, ATT&CK technique ids)."""
    wanted = list(kinds)
    return [
        (book, position, task)
        for book in books
        if any(book.applies_to(rule, techniques) for rule, techniques in wanted)
        for position, task in enumerate(book.tasks)
    ]
