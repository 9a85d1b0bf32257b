"""Bulk provisioning from a file: `ioc devices import FILE.csv|FILE.yaml`.

All or nothing: every row is checked first (errors as `file:line: field: message`, every
one of them), ids already registered or repeated are errors too, and then all devices
are created in one transaction. Their secrets go to a new file of mode 0600 (never
overwritten, never stored in clear elsewhere), written before the transaction commits:
if the file cannot be written, no device exists without its secrets being known.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from config.settings import Settings
from config.yaml_loader import ConfigError, ConfigErrors, display_path, field_name, load_model
from ingest.provisioning import (
    MAX_BULK,
    DeviceBatch,
    DeviceCredentials,
    DeviceInput,
    create_device,
    sync_broker,
)
from store.connect import connect
from store.devices import existing_ids

CSV_COLUMNS = (
    "id", "type", "province", "lat", "lon", "district", "name", "expected_interval_s", "metadata",
)  # fmt: skip


def read_devices(path: Path) -> list[tuple[int, DeviceInput]]:
    """(line, device) of each row, or ConfigErrors naming every bad one."""
    if path.suffix.lower() == ".csv":
        rows = _csv_devices(path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        rows = _yaml_devices(path)
    else:
        raise ConfigErrors([ConfigError(display_path(path), 0, "", "give a .csv or .yaml file")])
    _check_ids(path, rows)
    return rows


def _csv_devices(path: Path) -> list[tuple[int, DeviceInput]]:
    name = display_path(path)
    out, errors = [], []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        unknown = sorted(set(reader.fieldnames or ()) - set(CSV_COLUMNS))
        if unknown or "id" not in (reader.fieldnames or ()):
            raise ConfigErrors(
                [ConfigError(name, 1, "header", f"columns are {', '.join(CSV_COLUMNS)}")]
            )
        for row in reader:
            line = reader.line_num
            try:
                out.append((line, DeviceInput(**_csv_fields(row))))
            except ValidationError as error:
                errors += [
                    ConfigError(name, line, field_name(tuple(e["loc"])), _text(e))
                    for e in error.errors()
                ]
            except ValueError as error:
                errors.append(ConfigError(name, line, "metadata", str(error)))
            if len(out) > MAX_BULK:
                errors.append(ConfigError(name, line, "", f"at most {MAX_BULK} devices a file"))
                break
    if errors:
        raise ConfigErrors(errors)
    if not out:
        raise ConfigErrors([ConfigError(name, 0, "", "no devices in the file")])
    return out


def _csv_fields(row: dict[str, Any]) -> dict[str, Any]:
    # An empty cell is an absent field (the default applies), not an empty string.
    fields = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    if "metadata" in fields:
        try:
            fields["metadata"] = json.loads(fields["metadata"])
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error.msg}") from error
    return fields


def _text(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _yaml_devices(path: Path) -> list[tuple[int, DeviceInput]]:
    batch = load_model(path, DeviceBatch)
    lines = _item_lines(path)
    return [(lines.get(i, 0), device) for i, device in enumerate(batch.devices)]


def _item_lines(path: Path) -> dict[int, int]:
    import yaml

    node = yaml.compose(path.read_text(encoding="utf-8"))
    if not isinstance(node, yaml.MappingNode):
        return {}
    for key, value in node.value:
        if key.value == "devices" and isinstance(value, yaml.SequenceNode):
            return {i: item.start_mark.line + 1 for i, item in enumerate(value.value)}
    return {}


def _check_ids(path: Path, rows: list[tuple[int, DeviceInput]]) -> None:
    first: dict[str, int] = {}
    errors = []
    for line, device in rows:
        if device.id in first:
            message = f"device id {device.id} repeats line {first[device.id]}"
            errors.append(ConfigError(display_path(path), line, "id", message))
        first.setdefault(device.id, line)
    if errors:
        raise ConfigErrors(errors)


def import_devices(
    settings: Settings, path: Path, out: Path, actor: str
) -> list[DeviceCredentials]:
    """Create every device of `path`, their secrets written to `out` (0600, new)."""
    rows = read_devices(path)
    secrets_file = os.fdopen(
        os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8"
    )
    try:
        with secrets_file, connect(settings) as conn, conn.transaction():
            taken = existing_ids(conn, [d.id for _, d in rows])
            if taken:
                raise ConfigErrors(
                    ConfigError(display_path(path), line, "id", f"{d.id} is already registered")
                    for line, d in rows
                    if d.id in taken
                )
            issued = [create_device(conn, d.spec(), actor) for _, d in rows]
            _write_secrets(secrets_file, [c for c in issued if c is not None])
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    sync_broker(settings)
    return [c for c in issued if c is not None]


def _write_secrets(f: TextIO, issued: list[DeviceCredentials]) -> None:
    json.dump([credentials_json(c) for c in issued], f, ensure_ascii=False, indent=1)
    f.write("\n")
    f.flush()
    os.fsync(f.fileno())


def credentials_json(creds: DeviceCredentials) -> dict[str, Any]:
    """What a device needs to send: its logins, topic and HTTP token."""
    fields = asdict(creds)
    return {
        "device_id": fields["device_id"],
        "mqtt_username": fields["username"],
        "mqtt_password": fields["password"],
        "topic": fields["topic"],
        "http_token": fields["http_token"],
    }
