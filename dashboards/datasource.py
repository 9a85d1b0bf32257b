"""The one data source every panel reads: the contract's PostgreSQL/TimescaleDB source.

The SDK ships builders for Prometheus, Loki and other sources but none for Grafana's
PostgreSQL source, so `SqlQuery` is the query type its documented extension point
("Defining a custom query type": subclass `cogvariants.Dataquery`, give it a builder)
asks for. It emits the target shape Grafana's PostgreSQL source stores for a code-mode
query.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_UID = "ioc-timescaledb"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_NAME = "IOC TimescaleDB"

Format = Literal["time_series", "table"]


def ref() -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class SqlDataquery(cogvariants.Dataquery):
    """A raw-SQL target of the PostgreSQL data source."""

    def __init__(self, raw_sql: str, fmt: Format, ref_id: str = "A") -> None:
        self.raw_sql = raw_sql
        self.format = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data["rawSql"], data.get("format", "table"), data.get("refId", "A"))


class SqlQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, fmt: Format = "table") -> None:
        self._internal = SqlDataquery(raw_sql, fmt)

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def build(self) -> SqlDataquery:
        return self._internal
