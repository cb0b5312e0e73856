"""The endpoint contract's filters (plugins/filter/monitoring_stack.py), without any host."""
from __future__ import annotations

import pytest
from filter_plugins import load_filter_plugin

ms = load_filter_plugin()


def test_endpoint_of_a_host_address():
    ep = ms.endpoint("10.0.0.5:9091", "mon1")
    assert ep == {"host": "10.0.0.5", "port": 9091, "scheme": "http", "address": "10.0.0.5:9091",
                  "path_prefix": "", "url": "http://10.0.0.5:9091", "local_url": "http://10.0.0.5:9091",
                  "ca_file": "", "basic_auth": {}}


@pytest.mark.parametrize("listen", [":9093", "0.0.0.0:9093", "[::]:9093"])
def test_wildcard_listen_is_reached_at_the_inventory_address(listen):
    ep = ms.endpoint(listen, "mon1.internal", tls=True, path_prefix="/am/", ca_file="/etc/ssl/ca.pem",
                     credentials={"username": "prom", "password": "pw"})
    assert (ep["address"], ep["url"], ep["local_url"]) == (
        "mon1.internal:9093", "https://mon1.internal:9093/am", "https://127.0.0.1:9093/am")
    assert ep["basic_auth"] == {"username": "prom", "password": "pw"}
    assert ep["ca_file"] == "/etc/ssl/ca.pem"


def test_ipv6_fallback_host_is_bracketed():
    assert ms.endpoint(":9090", "fd00::5")["address"] == "[fd00::5]:9090"


def test_no_username_means_no_credentials():
    assert ms.endpoint("10.0.0.5:9115", "x", credentials={"username": "", "password": ""})["basic_auth"] == {}


def test_endpoints_of_reports_unpublished_hosts_and_completes_declared_ones():
    hostvars = {"a": {"pushgateway_endpoint": {"address": "10.0.0.1:9091"}}, "b": {}}
    eps = ms.endpoints_of(["a", "b"], hostvars, "pushgateway_endpoint")
    assert ms.published(eps) == [{"scheme": "http", "path_prefix": "", "ca_file": "", "basic_auth": {},
                                  "address": "10.0.0.1:9091", "url": "http://10.0.0.1:9091",
                                  "local_url": "http://10.0.0.1:9091", "inventory_host": "a"}]
    errors = ms.unpublished_errors({"pushgateway": eps})
    assert len(errors) == 1 and errors[0].startswith("pushgateway_endpoint is not published for b:")


def test_endpoints_of_not_required_skips_unpublished_hosts():
    """node_exporter without an inventory group: every host that publishes one, no error."""
    hostvars = {"a": {"node_exporter_endpoint": {"address": "10.0.0.1:9100"}}, "b": {}}
    eps = ms.endpoints_of(["a", "b"], hostvars, "node_exporter_endpoint", required=False)
    assert [ep["inventory_host"] for ep in eps] == ["a"]
    assert ms.unpublished_errors({"node": eps}) == []


def test_scrape_job_takes_scheme_ca_and_auth_from_the_contract():
    eps = [ms.endpoint("10.0.0.1:9093", "a", tls=True, path_prefix="/am", ca_file="/ca.pem",
                       credentials={"username": "prom", "password": "pw-1x7"}),
           ms.endpoint("10.0.0.2:9093", "b", tls=True, path_prefix="/am", ca_file="/ca.pem",
                       credentials={"username": "prom", "password": "pw-1x7"})]
    job = ms.scrape_job(eps, "alertmanager", "/etc/prometheus/secrets/alertmanager.password")
    assert job == {"job_name": "alertmanager", "metrics_path": "/am/metrics", "scheme": "https",
                   "tls_config": {"ca_file": "/ca.pem"},
                   "basic_auth": {"username": "prom", "password_file": "/etc/prometheus/secrets/alertmanager.password"},
                   "static_configs": [{"targets": ["10.0.0.1:9093", "10.0.0.2:9093"]}]}
    assert "pw-1x7" not in repr(job)
    assert len(ms.client_groups(eps)) == 1
    assert len(ms.client_groups(eps + [ms.endpoint("10.0.0.3:9093", "c")])) == 2
