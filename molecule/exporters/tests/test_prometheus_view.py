"""The exporters as Prometheus (on the Debian 13 host) sees them: jobs node, redis and postgres up
for both hosts, the datastores' values, host series from node_exporter, and every panel of the
Datastores dashboard answering with data."""
from __future__ import annotations

import json
import math
import os
import sys
import urllib.parse

import pytest
import testinfra

from conftest import REPO, host_address, wait_for

PREFIX = os.environ.get("MOLECULE_INSTANCE_PREFIX", "")
PROMETHEUS, OTHER = f"{PREFIX}debian13", f"{PREFIX}debian12"
testinfra_hosts = [PROMETHEUS]

sys.path.insert(0, str(REPO / "tests"))
from dashboards import panel_queries  # noqa: E402


def other(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def query(host, expr: str) -> list:
    url = f"http://{host_address(host)}:9090/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    return json.loads(host.check_output(f"curl -sf '{url}'"))["data"]["result"]


def by_instance(result: list) -> dict[str, float]:
    return {series["metric"]["instance"]: float(series["value"][1]) for series in result}


@pytest.fixture(scope="module")
def addresses(host) -> dict[str, str]:
    """Each host's address: where its exporters listen and what Prometheus scrapes."""
    return {PROMETHEUS: host_address(host), OTHER: host_address(other(OTHER))}


@pytest.mark.parametrize("job, port", [("node", 9100), ("redis", 9121), ("postgres", 9187)])
def test_job_is_up_for_both_hosts(host, addresses, job, port):
    expected = {f"{ip}:{port}": 1.0 for ip in addresses.values()}
    wait_for(lambda: by_instance(query(host, f'up{{job="{job}"}}')) == expected, 60, what=f"job {job} up on both hosts")


@pytest.mark.parametrize("expr, port", [("redis_up", 9121), ("pg_up", 9187)])
def test_both_datastores_are_up_as_prometheus_sees_them(host, addresses, expr, port):
    expected = {f"{ip}:{port}": 1.0 for ip in addresses.values()}
    wait_for(lambda: by_instance(query(host, expr)) == expected, 60, what=f"{expr} 1 on both hosts")


def test_pg_stat_database_rows_of_the_test_database_for_both_hosts(host, addresses):
    database = host.ansible.get_variables()["exporters_test_database"]
    result = wait_for(lambda: query(host, f'pg_stat_database_xact_commit{{job="postgres", datname="{database}"}}'),
                      60, what="pg_stat_database rows of the test database")
    assert {s["metric"]["instance"] for s in result} == {f"{ip}:9187" for ip in addresses.values()}


def test_node_filesystem_and_systemd_unit_series_for_both_hosts(host, addresses):
    """node_exporter on each host: its root filesystem, and systemd's view of the units this
    scenario runs there (the exporters themselves)."""
    expected = {f"{ip}:9100" for ip in addresses.values()}
    size = wait_for(lambda: by_instance(query(host, 'node_filesystem_size_bytes{job="node", mountpoint="/"}')),
                    60, what="node_filesystem_size_bytes of /")
    assert set(size) == expected and all(v > 0 for v in size.values())
    for unit in ("redis_exporter.service", "postgres_exporter.service"):
        expr = f'node_systemd_unit_state{{job="node", name="{unit}", state="active"}}'
        active = wait_for(lambda expr=expr: by_instance(query(host, expr)), 60, what=f"{unit} state")
        assert active == {instance: 1.0 for instance in expected}, unit


@pytest.mark.parametrize("panel", [q for q in panel_queries() if q.file == "datastores.json"],
                         ids=lambda q: f"{q.uid}:{q.panel}:{q.ref_id}")
def test_datastores_dashboard_panel_returns_data(host, panel):
    # A real number, not only a series: NaN (0/0 of an idle rate) would pass "has data".
    wait_for(lambda: [s for s in query(host, panel.promql) if math.isfinite(float(s["value"][1]))], 60,
             what=f"a finite value for {panel.dashboard} / {panel.panel}: {panel.promql}")
