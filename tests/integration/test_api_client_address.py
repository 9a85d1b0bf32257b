"""The client address the per-address rate limits count is the TCP peer's unless a
trusted proxy is configured: `ioc api` must not believe a forged X-Forwarded-For (uvicorn
by default trusts it from 127.0.0.1, so any local process could dodge the limit on
failed logins by changing the header each try)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.api_server import api_process

pytestmark = pytest.mark.integration

FAILURES = 3


def _statuses(url: str, tries: int) -> list[int]:
    return [
        httpx.get(
            f"{url}/api/v1/alerts",
            headers={"Authorization": "Bearer wrong-token", "X-Forwarded-For": f"198.51.100.{i}"},
            timeout=10,
        ).status_code
        for i in range(tries)
    ]


def test_a_forged_forwarded_for_does_not_dodge_the_failed_login_limit(tmp_path: Path) -> None:
    env = {"IOC_API_AUTH_FAILURES": f"{FAILURES}/minute", "IOC_API_TRUSTED_PROXIES": ""}
    with api_process(env, tmp_path / "api.log", via_cli=True) as url:
        statuses = _statuses(url, FAILURES + 2)
    assert statuses[:FAILURES] == [401] * FAILURES
    assert statuses[FAILURES:] == [429, 429]


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    env = {"IOC_API_AUTH_FAILURES": f"{FAILURES}/minute", "IOC_API_TRUSTED_PROXIES": "127.0.0.1"}
    with api_process(env, tmp_path / "api.log", via_cli=True) as url:
        statuses = _statuses(url, FAILURES + 2)
    # Each try comes from another client behind the proxy: none reaches the limit.
    assert statuses == [401] * (FAILURES + 2)
