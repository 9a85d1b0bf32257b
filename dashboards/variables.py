"""Template variables shared by the desks (province, station, …): query variables on the
one data source, multi-value with All, so a panel's SQL filters with `IN ($var)`."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model

from dashboards.datasource import ref


def query_variable(
    name: str, label: str, sql: str, *, refresh: model.VariableRefresh | None = None
) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(ref())
        .query(" ".join(sql.split()))
        .refresh(refresh or model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def province() -> dash.QueryVariable:
    return query_variable("province", "Tỉnh", "SELECT DISTINCT province FROM devices ORDER BY 1")


def station(types: tuple[str, ...]) -> dash.QueryVariable:
    listed = ", ".join(f"'{t}'" for t in types)
    return query_variable(
        "station",
        "Trạm",
        "SELECT coalesce(name, id) AS __text, id AS __value FROM devices"
        f" WHERE province IN ($province) AND type IN ({listed}) ORDER BY 1",
    )
