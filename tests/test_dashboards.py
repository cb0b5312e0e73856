"""Checks of the Grafana dashboards shipped by roles/grafana (no Grafana, no Docker needed).

Every dashboard is valid JSON with a unique uid and title, every panel, target and template
variable uses the provisioned Prometheus datasource (uid "prometheus"), and every panel query is
valid PromQL for the real Prometheus parser: all queries are written as recording rules into a
temporary rule file and checked with `promtool check rules`.

promtool is taken from $PROMTOOL, else from PATH, else extracted from the controller's artifact
cache (~/.cache/monitoring-stack/prometheus/<version>/); without any of these the promtool test
is skipped, with the reason in the pytest summary.
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboards  # noqa: E402  (tests/ is not a package)

# The dashboards the role ships, by file name and fixed uid (other roles and docs link them).
SHIPPED = {
    "app.json": "monitoring-app",
    "batch.json": "monitoring-batch",
    "datastores.json": "monitoring-datastores",
    "hosts.json": "monitoring-hosts",
    "probes.json": "monitoring-probes",
    "prometheus.json": "monitoring-prometheus",
}

DASHBOARDS = dashboards.load_dashboards()
QUERIES = dashboards.panel_queries()




def test_shipped_dashboards_present():
    assert {name: DASHBOARDS[name].get("uid") for name in SHIPPED if name in DASHBOARDS} == SHIPPED


def test_every_file_is_valid_json():
    # load_dashboards() already parsed them all; this names any file that is not a dashboard.
    for name, dash in DASHBOARDS.items():
        assert isinstance(dash, dict) and isinstance(dash.get("panels"), list), f"{name}: not a dashboard"


def test_invalid_json_is_reported_with_the_file_name(tmp_path):
    (tmp_path / "broken.json").write_text('{"uid": "x",')
    with pytest.raises(ValueError, match="broken.json"):
        dashboards.load_dashboards(tmp_path)


@pytest.mark.parametrize("key", ["uid", "title"])
def test_uid_and_title_are_set_and_unique(key):
    values = {name: dash.get(key) for name, dash in DASHBOARDS.items()}
    assert all(isinstance(v, str) and v for v in values.values()), values
    duplicates = [v for v, n in Counter(values.values()).items() if n > 1]
    assert duplicates == [], f"duplicate dashboard {key}s: {duplicates}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_uses_the_datasource_variable_defaulting_to_the_provisioned_prometheus(name):
    """One dashboard serves Prometheus and the long-term store (issue 16): every panel, target
    and query variable reads the "datasource" variable, a Prometheus-type datasource picker
    whose default is the provisioned Prometheus (uid "prometheus")."""
    refs = list(dashboards.datasource_refs(DASHBOARDS[name]))
    assert refs
    wrong = [(where, ds) for where, ds in refs
             if not (isinstance(ds, dict) and ds.get("uid") == "${datasource}" and ds.get("type") == "prometheus")]
    assert wrong == [], f"{name}: datasource must be {{'type': 'prometheus', 'uid': '${{datasource}}'}}"
    (picker,) = [v for v in DASHBOARDS[name]["templating"]["list"] if v.get("name") == "datasource"]
    assert (picker["type"], picker["query"], picker["current"]["value"]) == ("datasource", "prometheus",
                                                                            dashboards.DATASOURCE_UID)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_provisioning_friendly(name):
    dash = DASHBOARDS[name]
    assert dash.get("id") is None, f"{name}: drop the numeric id, provisioning matches on uid"
    assert dash.get("editable") is False, f"{name}: provisioned with allowUiUpdates: false"
    panel_ids = [p.get("id") for p in dashboards.iter_panels(dash)]
    assert len(panel_ids) == len(set(panel_ids)), f"{name}: duplicate panel ids"
    for panel in dashboards.iter_panels(dash):
        if panel.get("type") != "row":
            assert panel.get("title") and panel.get("targets"), f"{name}: panel {panel.get('id')} needs a title and a query"


def test_every_panel_has_queries():
    per_dashboard = Counter(q.file for q in QUERIES)
    assert set(per_dashboard) == set(DASHBOARDS)


def test_no_grafana_variable_left_after_replacement():
    for query in QUERIES:
        assert "$" not in query.promql and "[[" not in query.promql, query.name


def test_variable_replacement():
    expr = 'sum(rate(x{a=~"$instance", b=~"${route}", c=~"[[job]]"}[$__rate_interval])) + y[${__range}] + z[$__interval]'
    assert dashboards.replace_variables(expr) == 'sum(rate(x{a=~".*", b=~".*", c=~".*"}[5m])) + y[5m] + z[5m]'


def test_promtool_parses_every_panel_query(promtool, tmp_path):
    rule_file = tmp_path / "dashboards.rules.yml"
    rule_file.write_text(yaml.safe_dump(dashboards.recording_rules(QUERIES), sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", rule_file.name], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        # Name the failing panels: promtool reports rule indexes.
        listing = "\n".join(f"  {i}: {q.name}: {q.promql}" for i, q in enumerate(QUERIES))
        pytest.fail(f"promtool check rules failed:\n{result.stdout}{result.stderr}\nqueries:\n{listing}")
    assert f"SUCCESS: {len(QUERIES)} rules found" in result.stdout


def test_promtool_rejects_a_broken_query(promtool, tmp_path):
    """The check above is meaningful: the same path reports a PromQL syntax error."""
    broken = [dashboards.PanelQuery("x.json", "x", "x", "broken", "A", "sum(rate(up[5m])", "sum(rate(up[5m])")]
    rule_file = tmp_path / "broken.rules.yml"
    rule_file.write_text(yaml.safe_dump(dashboards.recording_rules(broken)))
    result = subprocess.run([promtool, "check", "rules", rule_file.name], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
