"""Shared pieces of the camera API tests: one user per role, the API in process with the
test's own settings, problem checks and page walks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings, get_settings
from store.users import create_user, delete_user

ROLES = ("admin", "operator", "csirt", "viewer", "integrator")
PROBLEM = "application/problem+json"


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def users(conn: psycopg.Connection) -> Iterator[dict[str, dict[str, str]]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ROLES:
        user, token = create_user(conn, f"t-cam-{tag}-{role}", role)
        made[role] = {"name": user.name, "token": token}
    yield made
    for user in made.values():
        delete_user(conn, user["name"])


def as_(users: dict[str, dict[str, str]], role: str, lang: str = "en") -> dict[str, str]:
    return {"Authorization": f"Bearer {users[role]['token']}", "Accept-Language": lang}


def client_for(settings: Settings) -> TestClient:
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"] == f"urn:ioc:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def pages(client: TestClient, headers: dict[str, str], url: str) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following Link rel=next."""
    found = []
    next_url: str | None = url
    while next_url is not None:
        answer = client.get(next_url, headers=headers)
        assert answer.status_code == 200, answer.text
        found.append(answer.json())
        link = answer.headers.get("link")
        next_url = link[1 : link.index(">")] if link else None
        assert len(found) < 1000, "the pages never end"
    return found
