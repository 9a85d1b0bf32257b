"""JSON parameters for jsonb columns, serialised with orjson; values it cannot encode
(datetimes inside alert values, Decimals) become their str()."""

from __future__ import annotations

import orjson
from psycopg.types.json import Jsonb


def jsonb(value: object) -> Jsonb:
    return Jsonb(value, dumps=lambda v: orjson.dumps(v, default=str).decode())
