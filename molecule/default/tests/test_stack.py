"""The whole stack, end to end, from the monitoring host's point of view.

Runs after `playbooks/site.yml` converged monitor (prometheus, alertmanager, pushgateway,
blackbox, grafana), app1 and app2 (app + pusher) with inventories/lab's group_vars.
"""
from __future__ import annotations

import json
import math
import os
import time
import urllib.parse

import pytest
import testinfra

from conftest import REPO, host_address, main_pid, run_playbook

PREFIX = os.environ.get("MOLECULE_INSTANCE_PREFIX", "")
MONITOR, APP1, APP2 = f"{PREFIX}monitor", f"{PREFIX}app1", f"{PREFIX}app2"
testinfra_hosts = [MONITOR]

SERVICES = ["prometheus", "alertmanager", "pushgateway", "blackbox_exporter"]


def other(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def prom(host, path: str, **params) -> dict:
    ip = host_address(host)
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return json.loads(host.check_output(f"curl -sf 'http://{ip}:9090{path}{query}'"))


def query(host, expr: str) -> list:
    return prom(host, "/api/v1/query", query=expr)["data"]["result"]


def wait_for(check, timeout: float, interval: float = 3.0, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def main_pids(host) -> dict[str, str]:
    return {s: main_pid(host, s) for s in SERVICES}


def test_every_target_is_up(host):
    def all_up():
        targets = prom(host, "/api/v1/targets")["data"]["activeTargets"]
        jobs = {t["labels"]["job"] for t in targets}
        down = [(t["labels"]["job"], t["labels"]["instance"], t.get("lastError")) for t in targets if t["health"] != "up"]
        return targets if not down and {"app", "pushgateway", "blackbox-probes", "prometheus", "alertmanager"} <= jobs else None
    targets = wait_for(all_up, 90, what="every target up")
    app_instances = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "app"}
    assert len(app_instances) == 2


def values(result: list) -> list[float]:
    """The sample values of an instant-vector result, NaN and infinities included."""
    return [float(series["value"][1]) for series in result]


def finite(result: list) -> list:
    """The series of an instant-vector result whose value is a real number (not NaN, not ±Inf)."""
    return [series for series in result if math.isfinite(float(series["value"][1]))]


# The seed queries, each with what this scenario made happen: the blackbox probes request
# /health on both app hosts every scrape, and the pusher pushes on its timer.
SEED_QUERIES = {
    # The pusher pushed a value in [0, 1).
    "batch_random_value": lambda r: r and all(0 <= v < 1 for v in values(r)),
    # The seeds' rate(app_request_count[1m]) is rate(app_requests_total[1m]) here: the probes'
    # requests to /health on both app hosts.
    'sum by (instance) (rate(app_requests_total{route="/health"}[1m]))':
        lambda r: len(r) == 2 and all(v > 0 for v in values(r)),
    # Those requests took some time: a real, positive latency quantile.
    "histogram_quantile(0.95, sum(rate(app_request_latency_seconds_bucket[5m])) by (le))":
        lambda r: finite(r) and all(v > 0 for v in values(finite(r))),
    # The probes of both app hosts' /health succeeded.
    'probe_success{job="blackbox-probes", service="app"}': lambda r: len(r) == 2 and values(r) == [1.0, 1.0],
    'probe_duration_seconds{job="blackbox-probes", service="app"}': lambda r: len(r) == 2 and all(v > 0 for v in values(r)),
}


@pytest.mark.parametrize("expr", list(SEED_QUERIES))
def test_seed_queries_return_what_the_scenario_caused(host, expr):
    wait_for(lambda: (lambda r: r if SEED_QUERIES[expr](r) else None)(query(host, expr)), 90, what=f"the expected data for {expr}")


def test_batch_job_pushes_through_the_gateway_with_honor_labels(host):
    series = wait_for(lambda: query(host, "batch_last_success_timestamp_seconds"), 60, what="batch timestamp")
    assert all(s["metric"]["job"] == "batch_job" for s in series)


def test_stopped_service_fires_alert_and_resolves_through_alertmanager(host):
    app2 = other(APP2)
    log = "/var/tmp/webhook.log"

    def notifications(status: str):
        if not host.file(log).exists:
            return []
        found = []
        for line in host.file(log).content_string.splitlines():
            body = json.loads(line)
            for alert in body["alerts"]:
                if alert["labels"].get("alertname") == "ProbeFailing" and APP2 in alert["labels"].get("instance", "") \
                        and alert["status"] == status:
                    found.append(alert)
        return found

    app2.check_output("systemctl stop monitored-app")
    try:
        wait_for(lambda: notifications("firing"), 150, 5, "ProbeFailing for app2 at the webhook receiver")
    finally:
        app2.check_output("systemctl start monitored-app")
    wait_for(lambda: notifications("resolved"), 150, 5, "the resolved ProbeFailing notification")


def test_adding_a_probe_target_needs_no_restart(host):
    before = main_pids(host)
    targets = host.ansible.get_variables().get("prometheus_probe_targets") or []
    new = {"url": f"http://{APP1}:8000/ready", "module": "http_2xx", "labels": {"added": "by-test"}}
    try:
        result = run_playbook(REPO / "playbooks/site.yml", "all", {"prometheus_probe_targets": targets + [new]},
                              tags="prometheus_targets")
        assert result.returncode == 0, str(result)
        assert result.changed_tasks == [("Write the file_sd target files (app hosts, blackbox probes)", MONITOR)], \
            str(result)

        def appeared():
            return [t for t in prom(host, "/api/v1/targets")["data"]["activeTargets"]
                    if t["labels"].get("added") == "by-test"]
        wait_for(appeared, 60, what="the new probe target in /api/v1/targets")
        assert main_pids(host) == before
    finally:
        # Back to the inventory's targets: later tests start from the converged stack.
        restore = run_playbook(REPO / "playbooks/site.yml", "all", tags="prometheus_targets")
    assert restore.returncode == 0 and restore.changed == 1, str(restore)


PROBES = "/etc/prometheus/file_sd/probes.yml"


def test_dry_run_of_the_converged_stack_changes_nothing(host):
    """`site.yml --check --diff` on the converged stack: exit 0, nothing to change anywhere."""
    hosts = [host, other(APP1), other(APP2)]
    pids = [main_pids(host), main_pid(hosts[1], "monitored-app"), main_pid(hosts[2], "monitored-app")]
    result = run_playbook(REPO / "playbooks/site.yml", "all", check=True)
    assert result.returncode == 0, str(result)
    assert result.changed_by_host == {MONITOR: 0, APP1: 0, APP2: 0}, str(result)
    assert [main_pids(host), main_pid(hosts[1], "monitored-app"), main_pid(hosts[2], "monitored-app")] == pids


def test_dry_run_shows_the_diff_of_a_changed_probe_target_and_changes_nothing(host):
    targets = host.ansible.get_variables().get("prometheus_probe_targets") or []
    new = {"url": f"http://{APP2}:8000/ready", "module": "http_2xx", "labels": {"added": "by-dry-run"}}
    before = host.file(PROBES).sha256sum, main_pids(host)
    result = run_playbook(REPO / "playbooks/site.yml", "all", {"prometheus_probe_targets": targets + [new]}, check=True)
    assert result.returncode == 0, str(result)
    assert result.changed_tasks == [("Write the file_sd target files (app hosts, blackbox probes)", MONITOR)], str(result)
    diffs = [d for play in result.data["plays"] for task in play["tasks"] for res in task["hosts"].values()
             for item in res.get("results", [res]) for d in ([item.get("diff")] if isinstance(item.get("diff"), dict)
                                                             else item.get("diff") or []) if item.get("changed")]
    assert [d.get("after_header") for d in diffs] == [PROBES], diffs
    assert f"http://{APP2}:8000/ready" in diffs[0]["after"] and "by-dry-run" in diffs[0]["after"]
    assert (host.file(PROBES).sha256sum, main_pids(host)) == before
    # No secret of the lab in what a dry run prints.
    password_file = os.path.join(os.environ.get("MONITORING_STACK_CACHE", ""), "lab-grafana-admin-password")
    if os.path.exists(password_file):
        assert open(password_file).read().strip() not in result.stdout


# --- Grafana dashboards: every panel query returns data from this live Prometheus ----------
import sys  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from dashboards import panel_queries  # noqa: E402

# Panels that cannot have data in the lab, and why (the lab probes no TLS endpoint: the only
# HTTPS sites are on the internet, which tests never contact).
NO_DATA_IN_LAB = {"probe_ssl_earliest_cert_expiry": "the lab has no HTTPS probe target (no internet in tests)"}


@pytest.fixture(scope="module")
def benchmark_traffic(host):
    """Some dashboards show the benchmark workload: run it once on each app host."""
    for name in (APP1, APP2):
        other(name).check_output(
            "curl -sf -H 'Content-Type: application/json' -d '{\"num_jobs\": 50}' "
            "http://$(hostname -I | cut -d' ' -f1):8000/benchmark/run")


@pytest.mark.parametrize("panel", panel_queries(), ids=lambda q: f"{q.uid}:{q.panel}:{q.ref_id}")
def test_dashboard_query_returns_data(host, benchmark_traffic, panel):
    for metric, reason in NO_DATA_IN_LAB.items():
        if metric in panel.promql:
            pytest.skip(f"{panel.dashboard} / {panel.panel}: {reason}")
    # A real number, not only a series: NaN (0/0 of an idle rate) would pass "has data".
    wait_for(lambda: finite(query(host, panel.promql)), 90, 5,
             f"a finite value for {panel.dashboard} / {panel.panel}: {panel.promql}")
