"""Read the Grafana dashboards shipped by roles/grafana (roles/grafana/files/dashboards/*.json).

Plain functions, no pytest: the unit suite (tests/test_dashboards.py) uses them to check the
JSON and the PromQL, and a live scenario can use them to run every panel query against a real
Prometheus:

    from dashboards import panel_queries
    for q in panel_queries():
        prometheus.query(q.promql)          # Grafana variables already replaced

Grafana's built-in interval variables ($__rate_interval, $__interval, $__range, ...) become
``5m``; dashboard template variables ($instance, ${route}, [[job]]) become ``.*`` (every
shipped variable is a multi-value "All" variable used in a ``=~`` matcher).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = REPO / "roles" / "grafana" / "files" / "dashboards"
DATASOURCE_UID = "prometheus"

INTERVAL_VALUE = "5m"
VARIABLE_VALUE = ".*"

# $__rate_interval, ${__rate_interval}, $__interval_ms, $__range_s, ... (built-in durations)
_BUILTIN = re.compile(r"\$\{?__(rate_interval|interval|range|auto)(?:_ms|_s)?\}?")
# $name, ${name}, ${name:regex}, [[name]] (dashboard template variables)
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class PanelQuery:
    file: str        # dashboard file name, e.g. "app.json"
    uid: str         # dashboard uid
    dashboard: str   # dashboard title
    panel: str       # panel title
    ref_id: str      # target refId
    expr: str        # the query as written in the dashboard
    promql: str      # the query with Grafana variables replaced: plain PromQL

    @property
    def name(self) -> str:
        return f"{self.file} / {self.panel} / {self.ref_id}"


def dashboard_files(directory: Path | str = DASHBOARD_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.json"))


def load_dashboards(directory: Path | str = DASHBOARD_DIR) -> dict[str, dict]:
    """File name -> parsed dashboard. Raises ValueError naming the file on invalid JSON."""
    loaded = {}
    for path in dashboard_files(directory):
        try:
            loaded[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON: {exc}") from exc
    return loaded


def iter_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def replace_variables(expr: str) -> str:
    """Turn a Grafana query into plain PromQL that promtool / Prometheus accept."""
    expr = _BUILTIN.sub(INTERVAL_VALUE, expr)
    return _VARIABLE.sub(VARIABLE_VALUE, expr)


def panel_queries(directory: Path | str = DASHBOARD_DIR) -> list[PanelQuery]:
    """(dashboard, panel, expr) for every target of every panel that has an expression."""
    queries = []
    for file, dash in load_dashboards(directory).items():
        for panel in iter_panels(dash):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if not expr:
                    continue
                queries.append(PanelQuery(file=file, uid=dash.get("uid", ""), dashboard=dash.get("title", ""),
                                          panel=panel.get("title", ""), ref_id=target.get("refId", ""),
                                          expr=expr, promql=replace_variables(expr)))
    return queries


def datasource_refs(dashboard: dict) -> Iterator[tuple[str, object]]:
    """(where, datasource) for every panel, target and template variable of a dashboard."""
    for panel in iter_panels(dashboard):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "")
        yield f"panel {title!r}", panel.get("datasource")
        for target in panel.get("targets", []):
            yield f"panel {title!r} target {target.get('refId')}", target.get("datasource")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield f"variable {variable.get('name')!r}", variable.get("datasource")


def recording_rules(queries: list[PanelQuery]) -> dict:
    """A Prometheus rule file with one recording rule per query (to check them with promtool)."""
    rules = [{"record": f"dashboard:query:{i}", "expr": q.promql} for i, q in enumerate(queries)]
    return {"groups": [{"name": "dashboard-queries", "rules": rules}]}
