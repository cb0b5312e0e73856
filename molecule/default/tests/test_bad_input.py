"""Bad-input suite: each case is one wrong variable given to the real playbooks/site.yml.

Every case must fail the play with a message naming the variable (or entry), change nothing
on any host (recap: changed=0; unit files, configs and main PIDs identical), and leave every
running service untouched.
"""
from __future__ import annotations

import pytest

from conftest import REPO, run_playbook, unit_snapshot
from test_stack import APP1, MONITOR, other

testinfra_hosts = [MONITOR]

UNITS = ["prometheus", "alertmanager", "pushgateway", "blackbox_exporter"]
FILES = [
    "/etc/prometheus/prometheus.yml",
    "/etc/prometheus/file_sd/probes.yml",
    "/etc/alertmanager/alertmanager.yml",
    "/etc/blackbox_exporter/blackbox.yml",
    "/etc/systemd/system/prometheus.service",
    "/etc/systemd/system/pushgateway.service",
]

# (case id, tags, extra vars, text the failure message must contain)
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
]


@pytest.mark.parametrize("tags, extra_vars, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_before_any_change(host, tags, extra_vars, expected):
    app = other(APP1)
    before = unit_snapshot(host, "prometheus", FILES), {u: unit_snapshot(host, u, []) for u in UNITS}, \
        unit_snapshot(app, "monitored-app", ["/etc/systemd/system/monitored-app.service"])
    result = run_playbook(REPO / "playbooks/site.yml", "all", extra_vars, tags=tags)
    assert result.returncode != 0, str(result)
    # In the failed task's own message, not anywhere in the output (loop labels, host names).
    assert expected in result.failure_text, str(result)
    assert result.changed == 0, str(result)
    after = unit_snapshot(host, "prometheus", FILES), {u: unit_snapshot(host, u, []) for u in UNITS}, \
        unit_snapshot(app, "monitored-app", ["/etc/systemd/system/monitored-app.service"])
    assert after == before
