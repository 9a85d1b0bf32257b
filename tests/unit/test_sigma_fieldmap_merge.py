"""fieldmap.yaml and the family files of fieldmap.d/ are one field map."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.security.sigma.fieldmap import FieldMap, FieldMapError, merge

BASE = """
fields:
  Image: [process.executable]
logsources:
  category:
    firewall:
      event.dataset: system.firewall
"""


def _write(folder: Path, extra: dict[str, str]) -> Path:
    (folder / "fieldmap.yaml").write_text(BASE, encoding="utf-8")
    (folder / "fieldmap.d").mkdir()
    for name, text in extra.items():
        (folder / "fieldmap.d" / name).write_text(text, encoding="utf-8")
    return folder / "fieldmap.yaml"


def test_family_files_append_paths_and_alternatives(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "20-web.yaml": "fields:\n  cs-method: [http.request.method]\n",
            "10-fw.yaml": (
                "fields:\n  Image: [winlog.event_data.Image]\n"
                "logsources:\n  category:\n    firewall:\n      event.dataset: fortinet.firewall\n"
            ),
        },
    )
    fieldmap = FieldMap.load(path)
    assert fieldmap.paths("Image") == ("process.executable", "winlog.event_data.Image")
    assert fieldmap.paths("cs-method") == ("http.request.method",)
    admits = fieldmap.logsource_filter((None, None, "firewall"))
    assert admits is not None
    fortinet = fieldmap.view({"event": {"dataset": "fortinet.firewall"}})
    other = fieldmap.view({"event": {"dataset": "nginx.access"}})
    assert admits(fortinet) and not admits(other)


def test_a_column_read_two_ways_is_refused() -> None:
    base = merge({}, {"columns": {"source.ip": "source_ip"}}, "a")
    with pytest.raises(FieldMapError, match=r"columns\.source\.ip"):
        merge(base, {"columns": {"source.ip": "src"}}, "b.yaml")


def test_a_malformed_family_file_names_itself(tmp_path: Path) -> None:
    path = _write(tmp_path, {"bad.yaml": "fields: [Image]\n"})
    with pytest.raises(FieldMapError, match=r"bad\.yaml"):
        FieldMap.load(path)


def test_the_shipped_map_loads_with_its_family_files() -> None:
    assert FieldMap.load().paths("Image")[0] == "process.executable"
