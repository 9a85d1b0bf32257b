"""programs.yaml, read once at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROGRAMS: dict[str, Any] = yaml.safe_load(
    Path(__file__).with_name("programs.yaml").read_text(encoding="utf-8")
)
