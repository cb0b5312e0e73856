"""Bad-input suite: each case is one wrong variable given to a real playbook: the playbook of
the component it belongs to (playbooks/<component>.yml, which an operator runs on its own too),
or playbooks/site.yml for the cases that cross components and a few plain ones (SITE_CASES).

Every case must fail the play with a message naming the variable (or entry), change nothing
on any host (recap: changed=0; unit files, configs and main PIDs identical), and leave every
running service untouched.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO, component_playbook, run_playbook, unit_snapshot
from test_stack import APP1, MONITOR, other

testinfra_hosts = [MONITOR]

UNITS = ["prometheus", "alertmanager", "pushgateway", "blackbox_exporter", "node_exporter"]
FILES = [
    "/etc/prometheus/prometheus.yml",
    "/etc/prometheus/file_sd/probes.yml",
    "/etc/alertmanager/alertmanager.yml",
    "/etc/blackbox_exporter/blackbox.yml",
    "/etc/systemd/system/prometheus.service",
    "/etc/systemd/system/pushgateway.service",
    "/etc/systemd/system/node_exporter.service",
]

# The lab's TLS files (roles/pki) and a password that passes the strength check.
TLS = {"cert_file": "{{ pki_tls.cert_file }}", "key_file": "{{ pki_tls.key_file }}"}
STRONG = "Bad-Input-Case-Passw0rd-7x"

# (case id, tags, extra vars, text (or tuple of texts) the failure message must contain)
CASES = [
    ("probe-url-without-scheme", "prometheus",
     {"prometheus_probe_targets": [{"url": "app1:8000/health", "module": "http_2xx"}]}, "app1:8000/health"),
    ("unknown-probe-module", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:8000/", "module": "http_9xx"}]}, "http_9xx"),
    ("unknown-blackbox-prober", "blackbox",
     {"blackbox_extra_modules": {"weird": {"prober": "carrier_pigeon"}}}, "weird"),
    ("garbage-retention", "prometheus", {"prometheus_storage_retention_time": "forever"}, "prometheus_storage_retention_time"),
    ("negative-retention", "prometheus", {"prometheus_storage_retention_time": "-5d"}, "prometheus_storage_retention_time"),
    ("port-out-of-range", "pushgateway", {"pushgateway_web_listen_address": "0.0.0.0:70000"}, "pushgateway_web_listen_address"),
    ("listen-address-without-port", "alertmanager", {"alertmanager_web_listen_address": "127.0.0.1"},
     "alertmanager_web_listen_address"),
    ("duplicate-scrape-job", "prometheus",
     {"prometheus_scrape_configs_extra": [{"job_name": "app", "static_configs": [{"targets": ["127.0.0.1:1"]}]}]},
     "prometheus_scrape_configs_extra[0]"),
    ("invalid-promql", "prometheus",
     {"prometheus_alert_rules_custom": [{"name": "custom", "rules": [{"alert": "Broken", "expr": "rate(up[5m]"}]}]},
     "parse error"),
    ("rule-without-expr", "prometheus",
     {"prometheus_alert_rules_custom": [{"name": "custom", "rules": [{"alert": "NoExpr", "for": "1m"}]}]}, "NoExpr"),
    ("undefined-receiver", "alertmanager", {"alertmanager_route_receiver": "ghost"}, "ghost"),
    ("weak-grafana-password", "grafana", {"grafana_admin_password": "admin"}, "grafana_admin_password"),
    ("missing-grafana-password", "grafana", {"grafana_admin_password": ""}, "grafana_admin_password"),
    ("app-workers-zero", "app", {"app_workers": 0}, "app_workers"),
    ("pusher-interval-not-a-timespan", "app", {"app_pusher_interval": "every minute"}, "app_pusher_interval"),
    # Named after the variable the user set, not the value derived from it (app_listen_address,
    # the rendered rule file).
    ("app-port-out-of-range", "app", {"app_port": 70000}, "app_port"),
    ("alert-for-not-a-duration", "prometheus", {"prometheus_alert_app_down_for": "soon"}, "prometheus_alert_app_down_for"),
    ("alert-threshold-not-a-number", "prometheus", {"prometheus_alert_error_ratio_threshold": "lots"},
     "prometheus_alert_error_ratio_threshold"),
    ("scrape-interval-not-a-duration", "prometheus", {"prometheus_global": {"scrape_interval": "often"}},
     "prometheus_global.scrape_interval"),
    ("probe-label-name", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:8000/", "module": "http_2xx", "labels": {"bad-name": "x"}}]},
     "'bad-name' is not a valid Prometheus label name"),
    ("retention-size", "prometheus", {"prometheus_storage_retention_size": "lots"}, "prometheus_storage_retention_size"),
    ("unknown-disabled-rule-file", "prometheus", {"prometheus_alert_rules_disabled": ["nosuch"]},
     "prometheus_alert_rules_disabled"),
    ("persistence-interval", "pushgateway", {"pushgateway_persistence_interval": "soon"}, "pushgateway_persistence_interval"),
    ("blackbox-listen-port", "blackbox", {"blackbox_web_listen_address": ":99999"}, "blackbox_web_listen_address"),
    ("alertmanager-external-url", "alertmanager", {"alertmanager_web_external_url": "alertmanager.internal"},
     "alertmanager_web_external_url"),
    ("duplicate-receiver", "alertmanager", {"alertmanager_receivers": [{"name": "lab-webhook"}, {"name": "lab-webhook"}]},
     "alertmanager_receivers[1]"),
    ("app-threads-zero", "app", {"app_threads": 0}, "app_threads"),
    ("pusher-gateway-unknown-host", "app", {"app_pusher_gateway_host": "no-such-gateway"}, "app_pusher_gateway_host"),
    ("app-version-mismatch", "app", {"app_version": "9.9.9"}, "app_version"),
    ("grafana-port", "grafana", {"grafana_http_port": 70000}, "grafana_http_port"),
    # The components' grammars (plugins/filter/monitoring_stack.py, tests/test_grammar.py): each
    # message names the variable (or entry) and says what the component would refuse.
    ("probe-url-port-out-of-range", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:99999/health", "module": "http_2xx"}]},
     ("prometheus_probe_targets[0]", "invalid port '99999'")),
    ("probe-url-space-in-host", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app 1:8000/health", "module": "http_2xx"}]},
     ("prometheus_probe_targets[0]", "white space")),
    ("probe-url-bad-escape", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:8000/%zz", "module": "http_2xx"}]},
     ("prometheus_probe_targets[0]", "percent-escape")),
    ("tcp-probe-without-port", "prometheus",
     {"prometheus_probe_targets": [{"url": "app1", "module": "tcp_connect"}]}, ("prometheus_probe_targets[0]", "no :port")),
    ("probe-label-reserved", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:8000/", "module": "http_2xx", "labels": {"__param_module": "x"}}]},
     ("prometheus_probe_targets[0]", "'__param_module' starts with __")),
    ("probe-label-value-not-a-string", "prometheus",
     {"prometheus_probe_targets": [{"url": "http://app1:8000/", "module": "http_2xx", "labels": {"critical": True}}]},
     ("prometheus_probe_targets[0]", "label 'critical' must have a string value")),
    ("external-label-name", "prometheus", {"prometheus_external_labels": {"data-center": "x"}},
     ("prometheus_external_labels", "'data-center' is not a valid Prometheus label name")),
    ("prometheus-external-url-port", "prometheus", {"prometheus_web_external_url": "http://prometheus.internal:99999/"},
     ("prometheus_web_external_url", "invalid port '99999'")),
    # The route prefix derived from an external URL is published before validation: it must not
    # fail first with Python's "Port out of range" (url_path, not urlsplit).
    ("alertmanager-external-url-port", "alertmanager", {"alertmanager_web_external_url": "https://alertmanager.internal:0/am/"},
     ("alertmanager_web_external_url", "invalid port '0'")),
    ("alertmanager-group-wait-with-space", "alertmanager", {"alertmanager_route_group_wait": "1 m"},
     ("alertmanager_route_group_wait", "Prometheus duration")),
    ("alertmanager-repeat-interval-zero", "alertmanager", {"alertmanager_route_repeat_interval": "0s"},
     ("alertmanager_route_repeat_interval", "greater than zero")),
    ("alertmanager-child-route-interval", "alertmanager",
     {"alertmanager_routes": [{"receiver": "lab-webhook", "matchers": ['severity="critical"'], "group_interval": "5 minutes"}]},
     ("alertmanager_routes[0].group_interval", "Prometheus duration")),
    # A flag: Go's time.ParseDuration, which has no y (a Prometheus duration has).
    ("alertmanager-retention-in-years", "alertmanager", {"alertmanager_data_retention": "1y"},
     ("alertmanager_data_retention", "Go duration")),
    ("webhook-url-without-scheme", "alertmanager",
     {"alertmanager_receivers": [{"name": "lab-webhook", "webhook_configs": [{"url": "127.0.0.1:5001/"}]}]},
     ("alertmanager_receivers[0].webhook_configs[0].url", "no scheme", "value not shown")),
    ("slack-api-url-bad-host", "alertmanager",
     {"alertmanager_receivers": [{"name": "lab-webhook", "slack_configs": [{"api_url": "https://hooks|slack/T0/token", "channel": "#x"}]}]},
     ("alertmanager_receivers[0].slack_configs[0].api_url", "invalid character '|'")),
    ("pushgateway-interval-in-days", "pushgateway", {"pushgateway_persistence_interval": "1d"},
     ("pushgateway_persistence_interval", "Go duration")),
    ("unknown-node-collector", "node_exporter", {"node_exporter_collectors": ["cpu", "no_such_collector"]},
     "node_exporter_collectors"),
    # The secure shape (issue 14): weak passwords, TLS without a key, a consumer without
    # credentials of its own, a scheme no client speaks. Passwords are never shown.
    ("weak-basic-auth-password", "blackbox",
     {"blackbox_web_config": {"tls_server_config": TLS, "basic_auth_users": {"lab": STRONG, "prometheus": "admin"}}},
     ("blackbox_web_config.basic_auth_users.prometheus", "too short", "value not shown")),
    ("guessable-basic-auth-password", "pushgateway",
     {"pushgateway_web_config": {"tls_server_config": TLS,
                                 "basic_auth_users": {"lab": STRONG, "prometheus": "123456789012", "pusher": STRONG}}},
     ("pushgateway_web_config.basic_auth_users.prometheus", "too easy to guess")),
    ("tls-without-key", "node_exporter",
     {"node_exporter_web_config": {"tls_server_config": {"cert_file": "/etc/monitoring-stack/tls/host.crt"},
                                   "basic_auth_users": {"lab": STRONG, "prometheus": STRONG}}},
     "node_exporter_web_config.tls_server_config needs both cert_file and key_file"),
    ("auth-without-the-pushers-user", "app",
     {"pushgateway_web_config": {"tls_server_config": TLS, "basic_auth_users": {"lab": STRONG, "prometheus": STRONG}}},
     ("pushgateway_web_config.basic_auth_users", "has no user 'pusher'", "The app's pusher")),
    ("auth-without-prometheus-user", "prometheus",
     {"blackbox_web_config": {"tls_server_config": TLS, "basic_auth_users": {"lab": STRONG}}},
     ("blackbox_web_config.basic_auth_users", "has no user 'prometheus'", "Prometheus authenticates to blackbox")),
    ("endpoint-scheme-not-http", "prometheus",
     {"alertmanager_endpoint": {"address": "127.0.0.1:9093", "scheme": "ftp"}},
     ("alertmanager_endpoint of", "scheme \"ftp\" is not supported")),
]


# The cases run through site.yml: those where one component's variables are checked by another
# (the pusher against the Pushgateway's users, Prometheus against the exporters' users and
# schemes), and two plain ones, from the first and the last component play of site.yml. Every
# other case runs its component's own playbook: the same endpoints play and the same role
# validation, without site.yml's other plays (a third of the tasks; issue 11's test time).
SITE_CASES = {"pusher-gateway-unknown-host", "auth-without-the-pushers-user", "auth-without-prometheus-user",
              "endpoint-scheme-not-http", "unknown-node-collector", "invalid-promql"}
assert SITE_CASES <= {c[0] for c in CASES}, SITE_CASES - {c[0] for c in CASES}


def run_case(case: str, tag: str, extra_vars: dict):
    """site.yml with the case's tag (only the component's play gets past validation), or the
    component's own playbook."""
    if case in SITE_CASES:
        return run_playbook(REPO / "playbooks/site.yml", limit_for(tag), extra_vars, tags=tag)
    return run_playbook(component_playbook(tag), limit_for(tag), extra_vars)


# Every case fails in validation and changes nothing, so the runs cannot disturb each other:
# they run a few at a time, limited to the host whose play fails (limit_for), and each case
# still gets its own test and its own assertions below.
PARALLEL_RUNS = 3


def limit_for(tag: str) -> str:
    """The hosts the case's run is limited to: the monitor, where every component but the app
    runs, plus one app host for the app role (whose pusher reads the Pushgateway's endpoint, which
    the monitor publishes in the same run, with the case's variables). The other hosts' published
    endpoints come from the fact cache, as in an operator's run with -l."""
    return f"{MONITOR},{APP1}" if tag == "app" else MONITOR


def _snapshot(host):
    app = other(APP1)
    return (unit_snapshot(host, "prometheus", FILES), {u: unit_snapshot(host, u, []) for u in UNITS},
            unit_snapshot(app, "monitored-app", ["/etc/systemd/system/monitored-app.service"]))


@pytest.fixture(scope="module")
def bad_runs(host, request):
    """{case id: PlaybookRun} for the cases this pytest run selected, with the snapshots of
    configs, units and PIDs taken before the first and after the last run."""
    selected = {item.callspec.params["case"] for item in request.session.items
                if item.originalname == "test_bad_input_is_rejected_before_any_change"}
    cases = [c for c in CASES if c[0] in selected]
    before = _snapshot(host)
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        runs = pool.map(lambda c: run_case(*c[:3]), cases)
        results = dict(zip([c[0] for c in cases], runs, strict=True))
    return results, before, _snapshot(host)


@pytest.mark.parametrize("case, expected", [(c[0], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_before_any_change(bad_runs, case, expected):
    results, before, after = bad_runs
    result = results[case]
    assert result.returncode != 0, str(result)
    # In the failed task's own message, not anywhere in the output (loop labels, host names).
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text in result.failure_text, str(result)
    assert result.changed == 0, str(result)
    # Configs, unit files and main PIDs after all the bad runs are those before them.
    assert after == before
