"""The simulator's device credentials, kept between runs.

Provisioning returns a password only once (the registry stores a hash), so the simulator
keeps what it got in run_dir/simulator/credentials.json, readable by its owner only, and
passes the stored password back when it re-registers: re-running never rotates devices'
passwords under a running ingest or another simulator.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from ingest.provisioning import DeviceCredentials


class CredentialStore:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "simulator" / "credentials.json"

    def load(self) -> dict[str, DeviceCredentials]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return {device_id: DeviceCredentials(**raw) for device_id, raw in data.items()}

    def save(self, credentials: dict[str, DeviceCredentials]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        # Created 0600 from the start: a chmod after writing would leave a window.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({k: asdict(v) for k, v in sorted(credentials.items())}, out, indent=2)
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a leftover tmp file
        tmp.replace(self.path)
