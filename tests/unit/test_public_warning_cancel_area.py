"""A Cancel covers its incident's area, whatever shape the last message gave it."""

from __future__ import annotations

import pytest

from processors.alerts.exports.cap import CAP_NS, CapError
from processors.alerts.public import issuer
from processors.alerts.public.message import Area


def _cap(area: str) -> str:
    return (
        f'<alert xmlns="{CAP_NS}"><info><area><areaDesc>Rạch Giá</areaDesc>{area}'
        "</area></info></alert>"
    )


def test_the_circle_is_kept() -> None:
    area = issuer._area_of(_cap("<circle>10.01,105.08 12.5</circle>"))
    assert area == Area("Rạch Giá", 10.01, 105.08, 12.5)


def test_a_polygon_alone_becomes_the_circle_around_it() -> None:
    ring = "10.0,105.0 10.0,105.2 10.2,105.2 10.2,105.0 10.0,105.0"
    area = issuer._area_of(_cap(f"<polygon>{ring}</polygon>"))
    assert area.lat == pytest.approx(10.08, abs=0.01)  # the closing point counts twice
    assert area.lon == pytest.approx(105.08, abs=0.01)
    # every corner is inside the circle
    assert 14 < area.radius_km < 25


@pytest.mark.parametrize(
    "shape",
    ["<geocode><valueName>x</valueName><value>1</value></geocode>", "<circle>oops</circle>", ""],
)
def test_no_usable_shape_is_a_cap_error_not_a_crash(shape: str) -> None:
    with pytest.raises(CapError):
        issuer._area_of(_cap(shape))


def test_no_area_at_all_is_a_cap_error() -> None:
    with pytest.raises(CapError):
        issuer._area_of(f'<alert xmlns="{CAP_NS}"><info/></alert>')
