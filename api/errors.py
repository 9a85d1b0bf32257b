"""Error answers in the operators' language first, English beside it.

`detail` stays a plain string ("tiếng Việt — English") so every HTTP client can show it
as it is; the console prints it with textContent.
"""

from __future__ import annotations

from fastapi import HTTPException


def problem(status: int, vi: str, en: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=f"{vi} — {en}", headers=headers)


def not_found(what_vi: str, what_en: str) -> HTTPException:
    return problem(404, f"Không tìm thấy {what_vi}", f"{what_en} not found")
