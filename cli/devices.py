"""`ioc devices`: the device registry and device secrets from the command line.

The same operations as the API's /api/v1/devices (ingest.provisioning), for the person
at the server. Secrets are printed (or, for `import`, written to a 0600 file) once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from pydantic import ValidationError

from config.settings import get_settings

if TYPE_CHECKING:
    from ingest.provisioning import Kind

devices_app = typer.Typer(help="Device registry and device credentials.", no_args_is_help=True)

ACTOR = "cli"
KindOption = Annotated[str, typer.Option("--kind", help="mqtt, http or both")]


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _invalid(error: ValidationError) -> typer.Exit:
    lines = [
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: "
        + str(e["msg"]).removeprefix("Value error, ")
        for e in error.errors()
    ]
    return _fail("; ".join(lines))


def _kind(kind: str) -> Kind:
    if kind not in ("mqtt", "http", "both"):
        raise _fail("--kind is mqtt, http or both")
    return cast("Kind", kind)


def _metadata(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(f"--metadata is not JSON: {error.msg}") from error
    if not isinstance(value, dict):
        raise _fail("--metadata must be a JSON object")
    return value


@devices_app.command("add")
def add(
    id: Annotated[str, typer.Option("--id", help="Device id; becomes its MQTT username")],
    type: Annotated[str, typer.Option("--type", help="air_quality, water_level, camera…")],
    province: Annotated[str, typer.Option("--province", help="e.g. 'Kiên Giang'")],
    lat: Annotated[float, typer.Option("--lat")],
    lon: Annotated[float, typer.Option("--lon")],
    district: Annotated[str | None, typer.Option("--district")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    interval: Annotated[
        int, typer.Option("--interval", help="Expected seconds between sends")
    ] = 60,
    metadata: Annotated[str | None, typer.Option("--metadata", help="JSON object")] = None,
) -> None:
    """Register a device (or replace an existing one's fields AND secrets); prints JSON
    with its MQTT username, password, topic and HTTP token; for a camera also the ISAPI
    push URL (isapi_url) and its HTTP Basic login (http_username, http_password)."""
    from ingest.device_import import credentials_json
    from ingest.provisioning import register_device
    from store.devices import DeviceSpec

    spec = DeviceSpec(
        id=id, type=type, province=province, lat=lat, lon=lon, district=district, name=name,
        expected_interval_s=interval, metadata=_metadata(metadata) or {},
    )  # fmt: skip
    try:
        creds = register_device(get_settings(), spec, actor=ACTOR)
    except ValidationError as error:
        raise _invalid(error) from error
    except ValueError as error:
        raise _fail(str(error)) from error
    shown = credentials_json(creds)
    if type == "camera":  # the Hikvision ISAPI push: its URL and HTTP Basic login
        from ingest.http.isapi import camera_login

        shown |= camera_login(get_settings().api_base_url, creds.device_id, creds.http_token)
    _echo(shown)


@devices_app.command("list")
def list_(
    province: Annotated[str | None, typer.Option("--province")] = None,
    type: Annotated[str | None, typer.Option("--type")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="ok, late, offline, unknown, disabled")
    ] = None,
) -> None:
    """Registered devices with their state, as JSON lines."""
    from store.connect import connect
    from store.devices import STATES, DeviceFilter, devices_page

    if state is not None and state not in STATES:
        raise _fail(f"--state is one of {', '.join(STATES)}")
    where = DeviceFilter(province=province, type=type, state=state)
    after = None
    with connect(get_settings()) as conn:
        while rows := devices_page(conn, where, after, 500):
            for row in rows:
                _echo(row)
            after = rows[-1]["id"]


@devices_app.command("show")
def show(device_id: Annotated[str, typer.Argument()]) -> None:
    """One device with its state and the record of its secrets (never the secrets)."""
    from store.connect import connect
    from store.device_credentials import credentials_of
    from store.devices import device_with_state

    with connect(get_settings()) as conn:
        row = device_with_state(conn, device_id)
        if row is None:
            raise _fail(f"no device {device_id}", 1)
        _echo({**row, "credentials": credentials_of(conn, device_id)})


@devices_app.command("update")
def update(
    device_id: Annotated[str, typer.Argument()],
    type: Annotated[str | None, typer.Option("--type")] = None,
    province: Annotated[str | None, typer.Option("--province")] = None,
    lat: Annotated[float | None, typer.Option("--lat")] = None,
    lon: Annotated[float | None, typer.Option("--lon")] = None,
    district: Annotated[str | None, typer.Option("--district")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    interval: Annotated[int | None, typer.Option("--interval")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="JSON object")] = None,
) -> None:
    """Change the fields given."""
    from ingest.provisioning import DeviceChanges
    from store.connect import connect
    from store.devices import device_with_state, update_device

    given = {
        "type": type, "province": province, "lat": lat, "lon": lon, "district": district,
        "name": name, "expected_interval_s": interval, "metadata": _metadata(metadata),
    }  # fmt: skip
    try:
        changes = DeviceChanges(**{k: v for k, v in given.items() if v is not None}).changes()
    except ValidationError as error:
        raise _invalid(error) from error
    if not changes:
        raise _fail("nothing to change: give at least one option")
    with connect(get_settings()) as conn:
        if not update_device(conn, device_id, changes):
            raise _fail(f"no device {device_id}", 1)
        conn.commit()
        _echo(device_with_state(conn, device_id))


def _set_disabled(device_id: str, disabled: bool) -> None:
    from ingest.provisioning import sync_broker
    from store.connect import connect
    from store.devices import set_disabled

    settings = get_settings()
    with connect(settings) as conn:
        if not set_disabled(conn, device_id, disabled):
            raise _fail(f"no device {device_id}", 1)
        conn.commit()
    sync_broker(settings)
    typer.echo(f"{device_id}: {'disabled' if disabled else 'enabled'}")


@devices_app.command("disable")
def disable(device_id: Annotated[str, typer.Argument()]) -> None:
    """Its logins leave the broker (a connected session is closed), its HTTP token stops."""
    _set_disabled(device_id, True)


@devices_app.command("enable")
def enable(device_id: Annotated[str, typer.Argument()]) -> None:
    """Its secrets that were live before `disable` work again."""
    _set_disabled(device_id, False)


@devices_app.command("delete")
def delete(
    device_id: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """The device and its secrets; its readings and alerts stay as history."""
    from ingest.provisioning import sync_broker
    from store.connect import connect
    from store.devices import delete_device

    if not yes:
        typer.confirm(f"delete device {device_id} and its secrets?", abort=True)
    settings = get_settings()
    with connect(settings) as conn:
        if not delete_device(conn, device_id):
            raise _fail(f"no device {device_id}", 1)
        conn.commit()
    sync_broker(settings)
    typer.echo(f"{device_id}: deleted")


@devices_app.command("rotate")
def rotate(
    device_id: Annotated[str, typer.Argument()],
    kind: KindOption = "both",
    grace: Annotated[
        int, typer.Option("--grace", help="Seconds the old secret keeps working (≤ 7 days)")
    ] = 0,
) -> None:
    """New secrets, printed once as JSON; the old ones stop now or after --grace."""
    from ingest.device_import import credentials_json
    from ingest.provisioning import MAX_GRACE, issue, sync_broker
    from store.connect import connect

    if not 0 <= grace <= MAX_GRACE.total_seconds():
        raise _fail(f"--grace is 0 to {int(MAX_GRACE.total_seconds())} seconds")
    settings = get_settings()
    with connect(settings) as conn, conn.transaction():
        _lock(conn, device_id)
        creds = issue(conn, device_id, _kind(kind), timedelta(seconds=grace) or None, ACTOR)
    sync_broker(settings)
    _echo({**credentials_json(creds), "previous_expires_at": creds.previous_expires_at})


@devices_app.command("revoke")
def revoke(device_id: Annotated[str, typer.Argument()], kind: KindOption = "both") -> None:
    """Every live secret of --kind stops now; `rotate` issues new ones."""
    from ingest.provisioning import revoke as revoke_secrets
    from ingest.provisioning import sync_broker
    from store.connect import connect

    settings = get_settings()
    with connect(settings) as conn, conn.transaction():
        _lock(conn, device_id)
        count = revoke_secrets(conn, device_id, _kind(kind))
    sync_broker(settings)
    typer.echo(f"{device_id}: {count} secret(s) revoked")


def _lock(conn: Any, device_id: str) -> None:
    from store.devices import device_exists

    if device_exists(conn, device_id, lock=True):
        return
    raise _fail(f"no device {device_id}", 1)


@devices_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help=".csv (header: id,type,province,lat,lon,…) or .yaml")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="New file (mode 0600) for the secrets; default FILE.secrets.json"
        ),
    ] = None,
) -> None:
    """Register every device of the file, all or nothing; their secrets go to --out."""
    from config.yaml_loader import ConfigErrors
    from ingest.device_import import import_devices

    target = out or file.with_name(file.name + ".secrets.json")
    if target.exists():
        raise _fail(f"{target} exists: secrets are never overwritten; give another --out")
    try:
        issued = import_devices(get_settings(), file, target, ACTOR)
    except ConfigErrors as error:
        typer.echo(str(error), err=True)
        raise _fail(f"nothing imported ({len(error.errors)} problem(s))") from error
    except OSError as error:
        raise _fail(str(error)) from error
    typer.echo(f"{len(issued)} device(s) registered; secrets in {target} (mode 0600)")
