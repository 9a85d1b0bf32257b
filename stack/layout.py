"""Directories under run_dir and who owns them.

Sessions run as root, but PostgreSQL refuses root and mosquitto drops to its own user, so
each service's state belongs to that service's user, and run_dir must be traversable.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings


def absolute(settings: Settings) -> Settings:
    """settings with an absolute run_dir: its paths go into config files and the argv of
    processes that change directory (mosquitto -d runs in /)."""
    if settings.run_dir.is_absolute():
        return settings
    return settings.model_copy(update={"run_dir": settings.run_dir.resolve()})


def as_root() -> bool:
    return os.geteuid() == 0


def service_user(name: str) -> str | None:
    """The account a service runs as: its own when we are root, else ourselves (None)."""
    if not as_root():
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as error:
        raise RuntimeError(
            f"system user {name!r} is missing; run deploy/local/bootstrap.sh"
        ) from error
    return name


def chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, grp.getgrgid(entry.pw_gid).gr_gid)


def ensure_dir(path: Path, user: str | None = None, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    chown(path, user)
    return path


def prepare_run_dir(run_dir: Path) -> None:
    """run_dir/{logs,pids}; run_dir itself traversable (not listable) by service users."""
    ensure_dir(run_dir, mode=0o711)
    ensure_dir(run_dir / "logs")
    ensure_dir(run_dir / "pids")
    if as_root():
        _check_ancestors_traversable(run_dir)


def _check_ancestors_traversable(path: Path) -> None:
    # A repo cloned under /root (mode 0700) would hide run_dir from the postgres and
    # mosquitto users; say so plainly instead of failing later with "permission denied".
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"{parent} is not traversable by other users, so the postgres and mosquitto "
                f"users cannot reach {path}; set IOC_RUN_DIR elsewhere or chmod o+x {parent}"
            )


def log_file_for(path: Path, user: str | None) -> Path:
    """A log file the service itself opens (not one we hand it as stdout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    chown(path, user)
    return path


def run_as(user: str | None) -> dict[str, object]:
    """subprocess keyword arguments that run a child as user (only possible as root)."""
    if user is None or not as_root():
        return {}
    return {"user": user, "group": user, "extra_groups": []}
