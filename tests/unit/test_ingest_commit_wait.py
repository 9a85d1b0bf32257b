"""How an HTTP ingest request waits for its group's commit (api.routers.ingest.commit_items):
answered with the results once committed, 503 ingest_timeout if the commit takes too long."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest

from api.errors import ApiProblem
from api.routers import ingest


class _Committer:
    """Hands out futures the test completes (or never does)."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []

    def submit(self, items: list[Any], copy: bytes | None = None) -> Future[Any]:
        future: Future[Any] = Future()
        self.futures.append(future)
        return future


def _service(committer: _Committer) -> Any:
    return SimpleNamespace(committer=committer)


def test_results_arrive_after_the_commit() -> None:
    committer = _Committer()

    async def post() -> Any:
        waiting = asyncio.ensure_future(ingest.commit_items(_service(committer), []))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing is answered before the commit
        committer.futures[0].set_result(["stored"])
        return await waiting

    assert asyncio.run(post()) == ["stored"]


def test_a_commit_past_the_timeout_is_503_and_not_awaited_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "COMMIT_TIMEOUT_SECONDS", 0.05)
    committer = _Committer()
    with pytest.raises(ApiProblem) as raised:
        asyncio.run(ingest.commit_items(_service(committer), []))
    assert (raised.value.status, raised.value.code) == (503, "ingest_timeout")
    assert raised.value.headers == {"Retry-After": "5"}
    # Cancelled, so a group committer that has not started it drops it
    # (set_running_or_notify_cancel): nothing is written behind the 503's back.
    assert committer.futures[0].cancelled()
