"""schemathesis against the running API (a real uvicorn process on the test stack) with
an admin token: generated and mutated requests for every operation, within a time
budget, must find no server error and no answer that breaks the OpenAPI document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from store.users import create_user, delete_user
from tests.integration.api_server import REPO, api_process

pytestmark = pytest.mark.integration

# A few minutes at most: the time budget bounds the run, examples per operation bound
# each operation. A fixed seed makes a failure reproducible (`st replay`).
MAX_SECONDS = 150
MAX_EXAMPLES = 25
SEED = 20261203
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
)


@pytest.fixture
def admin(settings: Settings) -> Iterator[str]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        user, token = create_user(conn, f"t-schemathesis-{uuid.uuid4().hex[:8]}", "admin")
        yield token
        conn.execute("DELETE FROM silences WHERE created_by = %s", (user.name,))
        delete_user(conn, user.name)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    admin: str, tmp_path: Path
) -> None:
    # Limits high enough that the run itself is not throttled (they have their own test).
    env = {"IOC_API_TOKEN_REQUESTS": "1000000/minute", "IOC_API_AUTH_FAILURES": "1000000/minute"}
    with api_process(env, tmp_path / "api.log") as url:
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
            "--header", f"Authorization: Bearer {admin}",
            "--checks", ",".join(CHECKS),
            # The live stream never ends by design: it is tested in test_api.py.
            "--exclude-path", "/api/v1/alerts/stream",
            "--max-examples", str(MAX_EXAMPLES),
            "--max-time", str(MAX_SECONDS),
            "--seed", str(SEED),
            # One worker: hypothesis' lambda descriptions are not thread-safe on 3.11.
            "--workers", "1",
            "--request-timeout", "30",
            "--report", "json",
            "--report-json-path", str(tmp_path / "report.json"),
            "--output-truncate", "true",
        ]  # fmt: skip
        # Requests whose URL the HTTP server itself refuses are not generated (the hooks
        # module says why; test_api_bounds.py tests that refusal).
        hooks = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks"}
        run = subprocess.run(
            command, cwd=REPO, env=hooks, capture_output=True, text=True,
            timeout=MAX_SECONDS + 240,
        )  # fmt: skip
    output = run.stdout + run.stderr
    print(output[-6000:])
    # A failure's cause is in the server's log: shown with it (CI keeps only the output).
    server_log = (tmp_path / "api.log").read_text(errors="replace")
    shown = output[-6000:] + "\n--- api.log, its errors\n" + _errors(server_log)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failures"] == [], shown
    assert report["errors"] == [], shown
    assert run.returncode == 0, shown
    # It really ran: every operation but the stream, and more than a handful of cases.
    assert report["operations"]["tested"] == report["operations"]["selected"] >= 17
    assert report["test_cases"]["generated"] >= 500, report["test_cases"]
    assert "Traceback" not in server_log, _errors(server_log)


def _errors(server_log: str) -> str:
    """The log from its first error or traceback on (the requests before it are noise)."""
    starts = [i for i in (server_log.find("Traceback"), server_log.find(" ERROR ")) if i >= 0]
    return server_log[min(starts) : min(starts) + 6000] if starts else "(none)"
