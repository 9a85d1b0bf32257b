"""SecretRef: a notifier secret named by its source, never shown, read in one place."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.secret_ref import SecretMissing, SecretRef
from config.settings import Settings
from config.yaml_loader import ConfigErrors
from processors.alerts.channels import ChannelsConfig, load_channels
from processors.alerts.notify import build_notifier
from processors.alerts.notify.email.notifier import EmailConfig

VALUE = "hunter2-do-not-print"


def test_repr_str_dump_and_logs_do_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    ref = SecretRef.model_validate(VALUE)
    config = ChannelsConfig.model_validate(
        {
            "channels": [
                {
                    "name": "mail",
                    "type": "email",
                    "settings": {
                        "host": "127.0.0.1",
                        "sender": "ioc@localhost",
                        "to": ["duty@localhost"],
                        "username": "ioc",
                        "password": {"value": VALUE},
                    },
                }
            ]
        }
    )
    shown = [
        repr(ref),
        str(ref),
        f"{ref}",
        repr(config),
        str(config),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
    ]
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("config %s / %r", config, ref)
    shown.append(caplog.text)
    for text in shown:
        assert VALUE not in text, text
    assert ref.resolve(Settings()) == VALUE


def test_repr_names_the_source() -> None:
    assert repr(SecretRef(env="SMTP_PASSWORD")) == "SecretRef(env='SMTP_PASSWORD')"
    assert repr(SecretRef(setting="webhook_secret")) == "SecretRef(setting='webhook_secret')"


def test_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    app = Settings(run_dir=tmp_path)  # no secrets file, no IOC_WEBHOOK_SECRET given
    with pytest.raises(SecretMissing) as caught:
        SecretRef(env="H1_NOT_THERE").resolve(app, environ={})
    assert str(caught.value).startswith("secret missing: environment variable H1_NOT_THERE")
    with pytest.raises(SecretMissing, match="service secret webhook_secret"):
        SecretRef(setting="webhook_secret").resolve(Settings(run_dir=tmp_path, webhook_secret=""))


def test_a_channel_without_its_secret_cannot_start(tmp_path: Path) -> None:
    config = ChannelsConfig.model_validate(
        {
            "channels": [
                {
                    "name": "mail",
                    "type": "email",
                    "settings": {
                        "host": "127.0.0.1",
                        "sender": "ioc@localhost",
                        "to": ["duty@localhost"],
                        "username": "ioc",
                        "password": {"env": "H1_SMTP_PASSWORD_UNSET"},
                    },
                }
            ]
        }
    )
    with pytest.raises(SecretMissing, match="environment variable H1_SMTP_PASSWORD_UNSET"):
        build_notifier(config.channels[0], Settings(run_dir=tmp_path))


def test_setting_reads_settings_then_the_secrets_file(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text(
        json.dumps(
            {
                "pg_password": "p",
                "mqtt_ingest_password": "i",
                "mqtt_frigate_password": "f",
                "mqtt_admin_password": "a",
                "mqtt_commands_password": "c",
                "webhook_secret": "from-file",
            }
        )
    )
    ref = SecretRef(setting="webhook_secret")
    assert ref.resolve(Settings(run_dir=tmp_path)) == "from-file"
    assert ref.resolve(Settings(run_dir=tmp_path, webhook_secret="given")) == "given"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"env": "IOC_WEBHOOK_SECRET"}, "{setting: webhook_secret}"),
        ({"setting": "nope"}, "unknown service secret 'nope'"),
        ({}, "exactly one source"),
        ({"env": "A", "value": "b"}, "exactly one source"),
        ({"file": "x"}, "Extra inputs"),
    ],
)
def test_bad_references_are_refused(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{")):
        SecretRef.model_validate(data)


def test_bad_reference_in_channels_file_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    settings:\n"
        "      url: http://127.0.0.1:9/alerts\n"
        "      secret: {env: IOC_WEBHOOK_SECRET}\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load_channels(path)
    assert str(caught.value).startswith(f"{path}:6: channels[0].settings.secret: IOC_WEBHOOK")


def test_email_password_is_a_ref() -> None:
    config = EmailConfig.model_validate(
        {"host": "h", "sender": "a@b", "to": ["c@d"], "username": "u", "password": "x"}
    )
    assert isinstance(config.password, SecretRef)
