"""Schemathesis hooks for test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The API runs on uvicorn with httptools, whose URL parser keeps lengths in 16 bits: a
request line over 64 KiB is refused by the server itself (400, "Invalid HTTP request
received.", text/plain) before the API sees it, so no OpenAPI document can describe
that answer. Such requests are not generated here; test_api_bounds.py checks the
refusal itself (a 400, never a 500, and the server keeps serving).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import schemathesis

# Well under the server's 64 KiB, leaving room for the path and the method.
MAX_URL_PART_BYTES = 32 * 1024


@schemathesis.hook
def filter_query(ctx: Any, query: dict[str, Any] | None) -> bool:
    return not query or len(urlencode(query, doseq=True)) <= MAX_URL_PART_BYTES


@schemathesis.hook
def filter_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> bool:
    if not path_parameters:
        return True
    return sum(len(quote(str(v), safe="")) for v in path_parameters.values()) <= MAX_URL_PART_BYTES
