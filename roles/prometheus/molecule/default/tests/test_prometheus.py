"""Prometheus, verified against the running service in each container.

The converge playbook adds stand-in hosts (all on 127.0.0.1) to the groups app, pushgateway,
alertmanager and blackbox, so every inventory-generated job exists; their targets are down.
"""
import json
import shlex

import pytest
import yaml

from conftest import (
    assert_enabled_system_service,
    assert_listens_on_host_address_only,
    host_address,
    main_pid,
    poll,
    run_failing_without_change,
    run_playbook,
    security_score,
)

UNIT = "prometheus"
CONFIG = "/etc/prometheus/prometheus.yml"
RULES_DIR = "/etc/prometheus/rules"
RULES_FILE = f"{RULES_DIR}/monitoring-stack.rules.yml"
PROBES = "/etc/prometheus/file_sd/probes.yml"
# What a run that must fail early must leave alone.
SNAPSHOT_FILES = ["/etc/systemd/system/prometheus.service", "/usr/local/bin/prometheus", CONFIG,
                  PROBES, "/etc/prometheus/file_sd/app.yml", RULES_FILE]


def converge_vars(converge_playbook) -> dict:
    return yaml.safe_load(converge_playbook.read_text())[0]["vars"]


def base_url(host) -> str:
    # The role listens on the host's primary address by default.
    return "http://" + host_address(host) + ":9090"


def api(host, path: str, **params: str):
    """GET an API path from inside the container; params are URL-encoded (PromQL)."""
    args = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params.items())
    body = json.loads(host.check_output(f"curl -sfG {args} '{base_url(host)}{path}'"))
    assert body["status"] == "success", body
    return body["data"]


def active_targets(host) -> list[dict]:
    return api(host, "/api/v1/targets?state=active")["activeTargets"]


def reload_timestamp(host) -> str:
    return host.check_output(
        f"curl -sf {base_url(host)}/metrics | grep '^prometheus_config_last_reload_success_timestamp_seconds '")


def test_service_enabled_and_running_as_its_own_system_user(host):
    assert_enabled_system_service(host, UNIT, "prometheus")


def test_listens_on_the_host_address_only(host):
    assert_listens_on_host_address_only(host, 9090)


def test_config_files_are_root_owned_and_group_readable(host):
    for path in [CONFIG, PROBES, RULES_FILE]:
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "prometheus", 0o640), path


def test_scrapes_itself(host):
    def up():
        result = api(host, "/api/v1/query", query='up{job="prometheus"}')["result"]
        return result and result[0]["value"][1] == "1"
    assert poll(up), "up{job=\"prometheus\"} did not become 1"


def test_flags_and_global_config(host):
    runtime = api(host, "/api/v1/status/runtimeinfo")
    assert runtime["reloadConfigSuccess"] is True
    assert runtime["storageRetention"] == "2d or 512MiB"
    config = yaml.safe_load(api(host, "/api/v1/status/config")["yaml"])
    # The user's labels plus this replica's (prometheus_replica_label, default: the inventory name).
    assert config["global"]["external_labels"] == {"environment": "molecule", "replica": host.backend.host}
    assert config["global"]["scrape_interval"] == "5s"
    # Lifecycle and admin APIs are off by default: Prometheus refuses them with these codes.
    for path, refused, reason in [("/-/reload", "403", "Lifecycle API is not enabled"),
                                  ("/api/v1/admin/tsdb/snapshot", "500", "admin APIs disabled")]:
        answer = host.check_output(f"curl -s -w '\\n%{{http_code}}' -X POST {base_url(host)}{path}")
        body, _, code = answer.rpartition("\n")
        assert (code, reason in body) == (refused, True), (path, answer)


def test_jobs_from_the_inventory(host):
    by_job = {}
    for target in active_targets(host):
        by_job.setdefault(target["labels"]["job"], []).append(target)
    assert sorted(by_job) == ["alertmanager", "app", "blackbox", "blackbox-probes", "custom", "prometheus", "pushgateway"]
    # The addresses the stand-ins' endpoints declare (app via the file_sd file).
    assert [t["scrapeUrl"] for t in by_job["app"]] == ["http://127.0.0.1:8001/metrics"]
    assert [t["scrapeUrl"] for t in by_job["pushgateway"]] == ["http://127.0.0.1:9091/metrics"]
    assert [t["scrapeUrl"] for t in by_job["alertmanager"]] == ["http://127.0.0.1:9093/metrics"]
    assert [t["scrapeUrl"] for t in by_job["blackbox"]] == ["http://127.0.0.1:9115/metrics"]
    config = yaml.safe_load(api(host, "/api/v1/status/config")["yaml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    alertmanagers = api(host, "/api/v1/alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in alertmanagers] == ["http://127.0.0.1:9093/api/v2/alerts"]


def test_probes_go_through_the_blackbox_exporter(host):
    probes = {t["labels"]["instance"]: t for t in active_targets(host) if t["labels"]["job"] == "blackbox-probes"}
    assert sorted(probes) == ["127.0.0.1:9090", "http://127.0.0.1:9090/-/healthy"]
    http = probes["http://127.0.0.1:9090/-/healthy"]
    assert http["labels"]["module"] == "http_2xx"
    assert http["labels"]["service"] == "prometheus"
    assert http["scrapeUrl"] == ("http://127.0.0.1:9115/probe?module=http_2xx"
                                 "&target=http%3A%2F%2F127.0.0.1%3A9090%2F-%2Fhealthy")
    assert probes["127.0.0.1:9090"]["labels"]["module"] == "tcp_connect"


def test_promtool_accepts_the_rendered_files(host):
    host.run_expect([0], f"promtool check config {CONFIG}")
    result = host.run(f"promtool check rules {RULES_FILE}")
    assert result.rc == 0, result.stdout + result.stderr
    # One file holds the whole rule set, and every group in it, the custom one included, is loaded.
    assert host.check_output(f"ls {RULES_DIR}").split() == ["monitoring-stack.rules.yml"]
    groups = {g["name"] for g in api(host, "/api/v1/rules")["groups"]}
    assert groups == {"app", "batch", "blackbox", "prometheus", "alertmanager", "node", "redis", "postgres",
                      "remote_storage", "molecule"}


def test_unit_is_hardened(host):
    assert security_score(host, UNIT) <= 2.0


def test_added_probe_target_is_scraped_without_reload(host, converge_playbook):
    """Also: a module the exporter publishes in its endpoint is accepted, with nothing set on
    the Prometheus side."""
    targets = converge_vars(converge_playbook)["prometheus_probe_targets"]
    added = {"url": "https://127.0.0.1:9443/health", "module": "https_teapot", "labels": {"team": "molecule"}}
    exporter = {"address": "127.0.0.1:9115", "modules": ["http_2xx", "tcp_connect", "https_teapot"]}
    pid, reloaded = main_pid(host, UNIT), reload_timestamp(host)

    result = run_playbook(converge_playbook, host.backend.host,
                          {"prometheus_probe_targets": targets + [added], "blackbox_endpoint": exporter})
    assert result.returncode == 0, str(result)
    assert [t for t, _ in result.changed_tasks] == ["Write the file_sd target files (app hosts, blackbox probes)"], str(result)

    def listed():
        return any(t["labels"]["instance"] == added["url"] for t in active_targets(host))
    assert poll(listed), "the added probe target did not show up in /api/v1/targets"
    assert main_pid(host, UNIT) == pid
    assert reload_timestamp(host) == reloaded

    # The tag touches only the target files: back to the converge state, again without reload.
    result = run_playbook(converge_playbook, host.backend.host, tags="prometheus_targets")
    assert result.returncode == 0, str(result)
    assert [t for t, _ in result.changed_tasks] == ["Write the file_sd target files (app hosts, blackbox probes)"], str(result)
    assert poll(lambda: not listed()), "the removed probe target is still listed"
    assert main_pid(host, UNIT) == pid
    assert reload_timestamp(host) == reloaded


def test_invalid_promql_fails_and_keeps_the_running_config(host, converge_playbook):
    custom = [{"name": "broken", "rules": [{"alert": "Broken", "expr": "rate(up[5m]"}]}]
    config_before = api(host, "/api/v1/status/config")["yaml"]

    output = run_failing_without_change(host, converge_playbook, UNIT, SNAPSHOT_FILES,
                                        {"prometheus_alert_rules_custom": custom})
    assert "could not parse expression" in output, output  # promtool's message, in the failed task's result
    assert api(host, "/api/v1/status/config")["yaml"] == config_before
    assert api(host, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True


def test_rejected_reload_fails_the_play(host, converge_playbook):
    # promtool accepts a query log under /root; the hardened unit (ProtectHome=) cannot open it,
    # so the reload fails (Prometheus keeps running, parts of the new config may be applied).
    global_config = {**converge_vars(converge_playbook)["prometheus_global"], "query_log_file": "/root/query.log"}
    pid = main_pid(host, UNIT)
    try:
        result = run_playbook(converge_playbook, host.backend.host, {"prometheus_global": global_config})
        assert result.returncode != 0, str(result)
        assert f"prometheus did not load its configuration ({CONFIG}" in result.failure_text, str(result)
        assert "/root/query.log: permission denied" in result.failure_text, str(result)  # the log line saying why
        assert main_pid(host, UNIT) == pid
        assert api(host, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is False
    finally:
        # The converge state again: the role reloads because the last reload failed.
        restore = run_playbook(converge_playbook, host.backend.host)
    assert restore.returncode == 0, str(restore)
    assert api(host, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True
    assert main_pid(host, UNIT) == pid


def test_disabled_rule_group_is_removed(host, converge_playbook):
    pid = main_pid(host, UNIT)
    try:
        result = run_playbook(converge_playbook, host.backend.host, {"prometheus_alert_rules_disabled": ["batch"]})
        assert result.returncode == 0, str(result)
        rules = yaml.safe_load(host.file(RULES_FILE).content_string)
        assert "batch" not in {g["name"] for g in rules["groups"]}
        # The role waits for the reload to be applied before it returns.
        groups = {g["name"] for g in api(host, "/api/v1/rules")["groups"]}
        assert groups == {"app", "blackbox", "prometheus", "alertmanager", "node", "redis", "postgres",
                          "remote_storage", "molecule"}
        assert api(host, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True
        assert main_pid(host, UNIT) == pid  # reloaded, not restarted
    finally:
        restore = run_playbook(converge_playbook, host.backend.host)
    assert restore.returncode == 0, str(restore)
    assert "batch" in {g["name"] for g in api(host, "/api/v1/rules")["groups"]}


@pytest.mark.parametrize("bad_vars, expected", [
    ({"prometheus_probe_targets": [{"url": "127.0.0.1:9090/-/healthy", "module": "http_2xx"}]},
     ["prometheus_probe_targets[0]", "http://"]),
    ({"prometheus_probe_targets": [{"url": "http://127.0.0.1:9090/", "module": "http_2xx"},
                                   {"url": "http://127.0.0.1:9090/", "module": "http_3xx"}]},
     ["prometheus_probe_targets[1]", "unknown module 'http_3xx'"]),
    ({"prometheus_probe_targets": [{"url": "127.0.0.1", "module": "tcp_connect"}]},
     ["prometheus_probe_targets[0]", "host:port"]),
    ({"prometheus_scrape_configs_extra": [{"job_name": "custom", "static_configs": []},
                                          {"job_name": "custom", "static_configs": []}]},
     ["prometheus_scrape_configs_extra[1]", "duplicate job_name 'custom'"]),
    ({"prometheus_scrape_configs_extra": [{"job_name": "prometheus", "static_configs": []}]},
     ["prometheus_scrape_configs_extra[0]", "'prometheus'"]),
    ({"prometheus_storage_retention_time": "forever"}, ["prometheus_storage_retention_time"]),
    ({"prometheus_storage_retention_size": "10 gigs"}, ["prometheus_storage_retention_size"]),
    ({"prometheus_web_listen_address": "127.0.0.1"}, ["prometheus_web_listen_address"]),
], ids=["probe-url-without-scheme", "unknown-module", "tcp-without-port", "duplicate-job", "reserved-job",
        "retention-time", "retention-size", "listen-without-port"])
def test_bad_input_fails_before_any_change(one_host, converge_playbook, bad_vars, expected):
    message = run_failing_without_change(one_host, converge_playbook, UNIT, SNAPSHOT_FILES, bad_vars)
    for text in expected:
        assert text in message, message
