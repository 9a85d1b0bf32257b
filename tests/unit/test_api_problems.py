"""The problem catalog and language choice of the API (api/errors.py, messages.yaml)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from api.errors import ApiProblem, catalog, field_errors, language, render

API_DIR = Path(__file__).resolve().parents[2] / "api"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_problem_has_both_languages_with_the_same_placeholders() -> None:
    for code, texts in catalog()["problems"].items():
        assert set(texts) == {"vi", "en"}, code
        assert _fields(texts["vi"]) == _fields(texts["en"]), code
    for status, titles in catalog()["titles"].items():
        assert titles["vi"] and titles["en"], status


def test_every_code_raised_in_the_api_is_in_the_catalog() -> None:
    used = set()
    for source in API_DIR.rglob("*.py"):
        used |= set(
            re.findall(
                r"(?:problem|not_found|ApiProblem)\(\s*(?:\d+,\s*)?\"(\w+)\"", source.read_text()
            )
        )
    assert used, "no problem codes found: the pattern is stale"
    assert used <= set(catalog()["problems"]), used - set(catalog()["problems"])
    with pytest.raises(KeyError):
        ApiProblem(404, "no_such_problem")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "vi"),
        ("", "vi"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("vi-VN, en;q=0.8", "vi"),
        ("fr, en;q=0.5", "en"),
        ("en;q=0.3, vi;q=0.7", "vi"),
        ("de", "vi"),
        ("en;q=nonsense", "vi"),
    ],
)
def test_language_follows_accept_language(header: str | None, chosen: str) -> None:
    assert language(header) == chosen


def test_field_errors_drop_the_input() -> None:
    raw = [{"loc": ("body", "note"), "msg": "x" * 500, "type": "t", "input": "secret", "ctx": {}}]
    (error,) = field_errors(raw)
    assert error.loc == ["body", "note"]
    assert len(error.msg) == 200
    assert "secret" not in error.model_dump_json()


def test_render_is_a_problem_document() -> None:
    response = render("en", "/api/v1/x", 413, "body_too_large", {"limit": 10})
    assert response.media_type == "application/problem+json"
    assert response.headers["content-language"] == "en"
    assert b'"detail":"the request body is larger than 10 bytes"' in response.body
