"""Secrets generated at first start, never written into the repository.

They live in run_dir/secrets.json (mode 0600). Environment variables win over the
file, so a production deployment injects them instead.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

# MQTT service accounts; devices get their own accounts through `ioc devices add`.
MQTT_INGEST_USER = "ioc-ingest"
MQTT_FRIGATE_USER = "frigate"
MQTT_ADMIN_USER = "ioc-admin"


@dataclass(frozen=True)
class Secrets:
    pg_password: str
    mqtt_ingest_password: str
    mqtt_frigate_password: str
    mqtt_admin_password: str
    webhook_secret: str  # HMAC key of webhook notifications (X-IOC-Signature)


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


def load_secrets(settings: Settings, create: bool = True) -> Secrets:
    path = settings.secrets_file
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text())
    missing = [name for name in Secrets.__dataclass_fields__ if name not in data]
    if missing:
        if not create:
            raise FileNotFoundError(f"{path} lacks {missing}; start the stack first (make up)")
        for name in missing:
            data[name] = _new_secret()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    for name in Secrets.__dataclass_fields__:
        env = os.environ.get(f"IOC_{name.upper()}")
        if env:
            data[name] = env
    return Secrets(**{name: data[name] for name in Secrets.__dataclass_fields__})


def as_dict(value: Secrets) -> dict[str, str]:
    return asdict(value)
