"""Webhook signing and the webhook's view of HTTP answers (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from config.secret_ref import SecretMissing
from config.settings import Settings
from processors.alerts.notify.base import Notification
from processors.alerts.notify.webhook import sign, verify_signature
from processors.alerts.notify.webhook.notifier import (
    WebhookConfig,
    classify,
    render_body,
)

SECRET = "s3cret-khoá"
BODY = b'{"notifications":[{"notification_id":"n1"}]}'


def test_known_hmac_sha256_vector() -> None:
    # RFC-style reference value (HMAC_SHA256("key", "The quick brown fox …")).
    header = sign("key", b"The quick brown fox jumps over the lazy dog")
    assert header == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_signature_round_trip_with_str_or_bytes_secret() -> None:
    header = sign(SECRET, BODY)
    assert verify_signature(SECRET, BODY, header)
    assert verify_signature(SECRET.encode(), BODY, header)
    assert sign(SECRET.encode(), BODY) == header


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (SECRET, BODY + b" ", sign(SECRET, BODY)),  # one byte more
        (SECRET, BODY.replace(b"n1", b"n2"), sign(SECRET, BODY)),  # tampered
        ("other", BODY, sign(SECRET, BODY)),  # wrong secret
        (SECRET, BODY, sign(SECRET, BODY).removeprefix("sha256=")),  # no scheme
        (SECRET, BODY, "sha1=" + sign(SECRET, BODY).removeprefix("sha256=")),
        (SECRET, BODY, None),
        (SECRET, BODY, ""),
    ],
)
def test_verify_refuses(secret: str, body: bytes, header: str | None) -> None:
    assert not verify_signature(secret, body, header)


def test_body_is_the_group_with_its_time() -> None:
    payload = {"notification_id": "n1", "kind": "fired", "alert": {"title_vi": "Bụi mịn PM2.5"}}
    notification = Notification("hook", 'rule="aqi"', [payload], ["n1"])
    sent_at = datetime(2025, 3, 7, 1, 2, 3, tzinfo=UTC)
    body = render_body(notification, sent_at)
    assert orjson.loads(body) == {
        "channel": "hook",
        "group_key": 'rule="aqi"',
        "sent_at": "2025-03-07T01:02:03+00:00",
        "notifications": [payload],
    }
    assert "Bụi mịn".encode() in body  # UTF-8, not \u escapes


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (202, None),
        (204, None),
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (301, False),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
    ],
)
def test_classify_status(status: int, expected: bool | None) -> None:
    assert classify(status) is expected


def test_secret_sources(tmp_path: Path) -> None:
    app = Settings(run_dir=tmp_path)  # no secrets file there
    inline = WebhookConfig(url="http://127.0.0.1:9/", secret="a")
    assert inline.secret.resolve(app) == "a"
    from_env = WebhookConfig(url="http://127.0.0.1:9/", secret={"env": "HOOK"})
    assert from_env.secret.resolve(app, environ={"HOOK": "b"}) == "b"
    with pytest.raises(SecretMissing, match="environment variable HOOK is not set"):
        from_env.secret.resolve(app, environ={"HOOK": ""})
    default = WebhookConfig(url="http://127.0.0.1:9/")
    with pytest.raises(SecretMissing, match="service secret webhook_secret"):
        default.secret.resolve(app, environ={})
    assert default.secret.resolve(Settings(run_dir=tmp_path, webhook_secret="c")) == "c"
