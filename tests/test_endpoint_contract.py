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


def test_a_published_endpoint_is_plain_data():
    """Values from YAML carry ansible-core's tags (file and line); a cacheable fact keeps them,
    and every read of the host's variables decodes them again. endpoint() publishes without."""
    from ansible._internal._datatag._tags import Origin

    tagged = Origin(path="/inventory/group_vars/all.yml", line_num=3).tag("/etc/ssl/ca.pem")
    ep = ms.endpoint("10.0.0.5:9091", "mon1", ca_file=tagged, extra={"modules": [Origin(path="/x.yml").tag("http_2xx")]})
    assert type(ep["ca_file"]) is str and type(ep["modules"]) is list and type(ep["modules"][0]) is str
    assert ep["ca_file"] == "/etc/ssl/ca.pem" and ep["modules"] == ["http_2xx"]
    assert type(ms.plain_data(Origin(path="/x.yml").tag(5))) is int


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


def test_endpoints_of_reads_an_earlier_runs_endpoint_from_the_fact_cache():
    """inject_facts_as_vars off: a cached (earlier run's) endpoint is only under ansible_facts;
    a declared or this run's endpoint (top level) comes first."""
    hostvars = {"a": {"ansible_facts": {"pushgateway_endpoint": {"address": "10.0.0.1:9091"}}},
                "b": {"pushgateway_endpoint": {"address": "10.0.0.2:9091"},
                      "ansible_facts": {"pushgateway_endpoint": {"address": "10.0.0.9:9091"}}},
                "c": {"ansible_facts": {}}}
    eps = ms.endpoints_of(["a", "b", "c"], hostvars, "pushgateway_endpoint")
    assert [(ep["inventory_host"], ep.get("address")) for ep in eps] == [
        ("a", "10.0.0.1:9091"), ("b", "10.0.0.2:9091"), ("c", None)]
    assert eps[2]["unpublished"] == "pushgateway_endpoint"


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


# --- each consumer with credentials of its own (issue 14) ------------------------------------
USERS = {"lab": "Lab-Passw0rd-123456", "prometheus": "Prom-Passw0rd-123456", "pusher": "Push-Passw0rd-123456"}


def _gateway(users=None):
    return ms.endpoint("10.0.0.5:9091", "mon1", tls=True, ca_file="/etc/ca.crt",
                       credentials={"username": "lab", "password": USERS["lab"]},
                       clients=USERS if users is None else users, clients_var="pushgateway_web_config.basic_auth_users")


def test_each_consumer_presents_its_own_user():
    ep = _gateway()
    assert ep["basic_auth"]["username"] == "lab"  # the serving role's own health check
    (as_prometheus,) = ms.as_client([ep], "prometheus")
    (as_pusher,) = ms.as_client([ep], "pusher")
    assert as_prometheus["basic_auth"] == {"username": "prometheus", "password": USERS["prometheus"]}
    assert as_pusher["basic_auth"] == {"username": "pusher", "password": USERS["pusher"]}
    assert ms.endpoint_client(as_prometheus, "/etc/prometheus/secrets/pushgateway.password")["basic_auth"] == {
        "username": "prometheus", "password_file": "/etc/prometheus/secrets/pushgateway.password"}


def test_a_consumer_without_a_user_gets_no_other_consumers_credentials_and_an_error():
    ep = {**_gateway({"lab": USERS["lab"], "prometheus": USERS["prometheus"]}), "inventory_host": "mon1"}
    assert ms.as_client([ep], "pusher")[0]["basic_auth"] == {}
    (error,) = ms.client_credential_errors({"pushgateway": [ep]}, "pusher", "The app's pusher")
    assert error.startswith("pushgateway_web_config.basic_auth_users (on mon1) has no user 'pusher': ")
    assert "lab, prometheus" in error and USERS["lab"] not in error and USERS["prometheus"] not in error
    assert ms.client_credential_errors({"pushgateway": [ep]}, "prometheus", "Prometheus") == []


def test_endpoints_without_auth_or_declared_in_the_inventory_need_no_user():
    declared = ms.endpoints_of(["ext"], {"ext": {"alertmanager_endpoint": {"address": "am:9093", "basic_auth": {
        "username": "ops", "password": "x"}}}}, "alertmanager_endpoint")
    assert ms.client_credential_errors({"alertmanager": declared}, "prometheus", "Prometheus") == []
    assert ms.as_client(declared, "prometheus")[0]["basic_auth"] == {"username": "ops", "password": "x"}
    assert ms.client_credential_errors({"pushgateway": [ms.endpoint("10.0.0.5:9091", "mon1")]}, "pusher", "x") == []


@pytest.mark.parametrize("scheme, errors", [("http", 0), ("https", 0), ("ftp", 1), ("HTTP", 1), (None, 1)])
def test_a_declared_endpoint_speaks_http_or_https(scheme, errors):
    eps = ms.endpoints_of(["ext"], {"ext": {"alertmanager_endpoint": {"address": "am:9093"}}}, "alertmanager_endpoint")
    eps[0]["scheme"] = scheme
    found = ms.scheme_errors({"alertmanager": eps})
    assert len(found) == errors
    assert all(e.startswith("alertmanager_endpoint of ext: scheme ") for e in found)


@pytest.mark.parametrize("users, problem", [
    ({"prometheus": ""}, "the password is empty"),
    ({"prometheus": "s3cr"}, "too short (4 characters; at least 12)"),
    ({"prometheus": "ChangeMe"}, "too short"),
    ({"prometheus": "123456789012"}, "too easy to guess"),
    ({"prometheus": "aaaaaaaaaaaaaaaa"}, "too easy to guess"),
    ({"prometheusprom": "PrometheusProm"}, "too easy to guess"),
    ({"prometheus": None}, "the password is empty"),
])
def test_weak_passwords_are_refused_naming_the_user_never_the_value(users, problem):
    (error,) = ms.web_config_errors({"pushgateway_web_config": {"basic_auth_users": users}})
    user = next(iter(users))
    assert error.startswith(f"pushgateway_web_config.basic_auth_users.{user}: ") and problem in error
    assert "(value not shown)" in error
    if users[user]:
        assert str(users[user]) not in error.split(": ", 1)[1]


def test_good_web_configs_pass_and_tls_needs_cert_and_key():
    assert ms.web_config_errors({"a_web_config": {}, "b_web_config": {
        "tls_server_config": {"cert_file": "/c", "key_file": "/k"}, "basic_auth_users": USERS}}) == []
    assert ms.web_config_errors({"a_web_config": {"tls_server_config": {"cert_file": "/c"}}}) == [
        "a_web_config.tls_server_config needs both cert_file and key_file (paths on the host)."]
    assert ms.web_config_errors({"a_web_config": {"basic_auth_users": ["x"]}}) == [
        "a_web_config.basic_auth_users must be a mapping of user name to password."]


def test_pki_key_groups_names_the_pki_group_only_for_the_pki_key():
    tls = load_filter_plugin("tls")
    pki = {"key_file": "/etc/monitoring-stack/tls/host.key", "group": "monitoring-tls"}
    assert tls.pki_key_groups("/etc/monitoring-stack/tls/host.key", pki) == ["monitoring-tls"]
    assert tls.pki_key_groups("/etc/prometheus/own.key", pki) == []
    assert tls.pki_key_groups("", pki) == []
    assert tls.pki_key_groups("/etc/monitoring-stack/tls/host.key", None) == []


def test_consumer_view_reads_checks_and_derives_in_one_call():
    """consumer_view: each component's endpoints read from the hosts' variables, the contract's
    errors (unpublished, scheme, credentials, own endpoint included), the published endpoints as
    the client talks to them, their addresses and how many ways of talking to them there are."""
    hostvars = {
        "a": {"app_endpoint": {"address": "10.0.0.1:8000", "scheme": "https", "clients": {"prometheus": "s3cret"}}},
        "b": {},
        "c": {"app_endpoint": {"address": "10.0.0.4:8000", "scheme": "http"}},
        "p": {"pushgateway_endpoint": {"address": "10.0.0.2:9091", "scheme": "ftp"}},
        "n": {"ansible_facts": {"node_exporter_endpoint": {"address": "10.0.0.5:9100"}}},
    }
    sources = {
        "app": {"hosts": ["a", "b", "c"], "variable": "app_endpoint"},
        "pushgateway": {"hosts": ["p"], "variable": "pushgateway_endpoint"},
        # not required: hosts without one are left out silently (node_exporter on "all hosts")
        "node": {"hosts": ["a", "n"], "variable": "node_exporter_endpoint", "required": False},
    }
    own = {"prometheus": [{"address": "10.0.0.3:9090", "clients": {"grafana": "x"}, "inventory_host": "m"}]}
    view = ms.consumer_view(sources, hostvars, "prometheus", "Prometheus", own)
    assert view["errors"][0].startswith("app_endpoint is not published for b:")
    assert view["errors"][1] == 'pushgateway_endpoint of p: scheme "ftp" is not supported; use http or https.'
    assert view["errors"][2].startswith("prometheus basic_auth_users (on m) has no user 'prometheus'")
    assert len(view["errors"]) == 3
    assert [ep["address"] for ep in view["endpoints"]["app"]] == ["10.0.0.1:8000", "10.0.0.4:8000"]
    assert view["endpoints"]["app"][0]["basic_auth"] == {"username": "prometheus", "password": "s3cret"}
    assert view["endpoints"]["pushgateway"][0]["address"] == "10.0.0.2:9091"
    assert view["addresses"] == {"app": ["10.0.0.1:8000", "10.0.0.4:8000"], "pushgateway": ["10.0.0.2:9091"],
                                 "node": ["10.0.0.5:9100"]}
    # app: https with credentials, and plain http: two ways, which one scrape job cannot do
    assert view["client_variants"] == {"app": 2, "pushgateway": 1, "node": 1}
    assert "prometheus" not in view["endpoints"]
