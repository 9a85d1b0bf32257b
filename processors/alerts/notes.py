"""The texts of the notes the system writes into alert history, in both languages.

Stored Vietnamese-first in alert_history.note with the English in note_en (migration 10),
so the console shows each operator their language and rows written before keep reading
as they were. The texts are data: notes.yaml beside this module.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, RootModel, model_validator

from config.yaml_loader import load_model
from events.alerts import Signal

NOTES_FILE = Path(__file__).with_name("notes.yaml")


class NoteText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str
    en: str
    en_one: str | None = None

    @model_validator(mode="after")
    def _same_placeholders(self) -> NoteText:
        if _fields(self.vi) != _fields(self.en):
            raise ValueError(
                f"vi uses {sorted(_fields(self.vi))}, en uses {sorted(_fields(self.en))}"
            )
        return self


class NoteTexts(RootModel[dict[str, NoteText]]):
    pass


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@cache
def texts() -> dict[str, NoteText]:
    return load_model(NOTES_FILE, NoteTexts).root


def system_note(key: str, **params: object) -> tuple[str, str]:
    """(vi, en) of the note `key` with its placeholders filled."""
    text = texts()[key]
    en = text.en_one if text.en_one is not None and params.get("count") == 1 else text.en
    return text.vi.format(**params), en.format(**params)


def signal_note(signal: Signal) -> tuple[str, str | None]:
    """A signal's summary as a history note: Vietnamese first, English beside it."""
    vi, en = signal.summary_vi, signal.summary_en
    if not vi:  # one language only (or none): stored as it is, like an operator's note
        return en, None
    return vi, en or None
