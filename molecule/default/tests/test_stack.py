"""The whole stack, end to end, from the monitoring host's point of view.

Runs after `playbooks/site.yml` converged monitor (prometheus, alertmanager, pushgateway,
blackbox, grafana), app1 and app2 (app + pusher) with inventories/lab's group_vars.
"""
from __future__ import annotations

import json
import math
import os
import urllib.parse

import pytest
import testinfra

from conftest import REPO, component_playbook, host_address, main_pid, run_playbook, wait_for
from lab_endpoints import curl

PREFIX = os.environ.get("MOLECULE_INSTANCE_PREFIX", "")
MONITOR, APP1, APP2 = f"{PREFIX}monitor", f"{PREFIX}app1", f"{PREFIX}app2"
testinfra_hosts = [MONITOR]

SERVICES = ["prometheus", "alertmanager", "pushgateway", "blackbox_exporter"]


def other(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def prom(host, path: str, **params) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return json.loads(host.check_output(curl("prometheus", host_address(host), path + query)))


def query(host, expr: str) -> list:
    return prom(host, "/api/v1/query", query=expr)["data"]["result"]


def main_pids(host) -> dict[str, str]:
    return {s: main_pid(host, s) for s in SERVICES}


def stack_main_pids(host) -> list:
    """The main PIDs of the monitor's services and of the app on both app hosts."""
    return [main_pids(host), main_pid(other(APP1), "monitored-app"), main_pid(other(APP2), "monitored-app")]


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
    new = {"url": f"https://{APP1}:8000/ready", "module": "https_internal", "labels": {"added": "by-test"}}
    try:
        # The operator's command for a target change (playbooks/site.yml's header).
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
        restore = run_playbook(component_playbook("prometheus"), MONITOR, tags="prometheus_targets")
    assert restore.returncode == 0 and restore.changed == 1, str(restore)


PROBES = "/etc/prometheus/file_sd/probes.yml"


def test_rerun_of_the_converged_stack_changes_nothing(host):
    """Molecule's idempotence step, run here (molecule.yml's test_sequence has none): `site.yml`
    again on every host, for real, changes nothing and restarts nothing. With the harness's
    strategy, as the other test runs: the converge (Ansible's default strategy) proves the roles
    need nothing else, and whether a module changes something is the module's own verdict under
    either strategy. (Under `linear` this re-run cost 118 s of the scenario, under Mitogen 68 s.)"""
    pids = stack_main_pids(host)
    result = run_playbook(REPO / "playbooks/site.yml", "all")
    assert result.returncode == 0, result.failure_text or str(result)
    assert result.changed_by_host == {MONITOR: 0, APP1: 0, APP2: 0}, str(result)
    assert stack_main_pids(host) == pids


def test_dry_run_of_the_converged_stack_changes_nothing(host):
    """`site.yml --check --diff` on the converged stack: exit 0, nothing to change anywhere.
    With the harness's strategy, as the other test runs: check mode is the modules' own, the
    same under either strategy, and the converge (molecule.yml) proves the roles under
    Ansible's default one. (The dry run under `linear` cost 130 s of the scenario.)"""
    pids = stack_main_pids(host)
    result = run_playbook(REPO / "playbooks/site.yml", "all", check=True)
    assert result.returncode == 0, str(result)
    assert result.changed_by_host == {MONITOR: 0, APP1: 0, APP2: 0}, str(result)
    assert stack_main_pids(host) == pids


RULES = "/etc/prometheus/rules/monitoring-stack.rules.yml"
AM_CONFIG = "/etc/alertmanager/alertmanager.yml"
APP_UNIT = "/etc/systemd/system/monitored-app.service"
APP_RESTART_MARKER = "/run/monitoring-stack/restart-pending/monitored-app"
# Reloads leave the PID as it is: each component's own last-reload time shows them.
RELOAD_METRICS = {"prometheus": "prometheus_config_last_reload_success_timestamp_seconds",
                  "alertmanager": "alertmanager_config_last_reload_success_timestamp_seconds",
                  "blackbox": "blackbox_exporter_config_last_reload_success_timestamp_seconds"}
RECEIVER_SECRET = "Dry-Run-Token-0f3a"
HIDDEN_WRITE = "Write the Alertmanager configuration (content not shown, it may hold secrets)"


def shown_diffs(result) -> list[tuple[str, str, dict, str]]:
    """(host, file, diff, task) of every diff the run showed: Ansible shows the diffs of changed
    results only; a looped task carries one per item. The file is the before header (a
    template's after header is its source), or the after header of a file not there yet."""
    return [(host, d.get("before_header") or d.get("after_header"), d, task["task"]["name"])
            for play in result.data["plays"] for task in play["tasks"] for host, res in task["hosts"].items()
            for item in res.get("results", [res]) if item.get("changed")
            for d in ([item["diff"]] if isinstance(item.get("diff"), dict) else item.get("diff") or [])]


def stack_state(hosts: dict, files: list[str]) -> dict:
    """What a dry run must leave as it is: main PIDs, the components' last reloads, and the
    checksums of the files the dry run would change."""
    monitor = hosts[MONITOR]
    ip = host_address(monitor)
    state: dict = {"pids": main_pids(monitor),
                   "app_pids": {name: main_pid(hosts[name], "monitored-app") for name in (APP1, APP2)},
                   "reloads": {metric: monitor.check_output(curl(component, ip, "/metrics") + f" | grep '^{metric} '")
                               for component, metric in RELOAD_METRICS.items()}}
    for name, h in hosts.items():
        state[name] = {f: h.file(f).sha256sum for f in files if h.file(f).exists}
    return state


def probe_target_vars(host) -> dict:
    targets = host.ansible.get_variables().get("prometheus_probe_targets") or []
    return {"prometheus_probe_targets": targets + [
        {"url": f"https://{APP2}:8000/ready", "module": "https_internal", "labels": {"added": "by-dry-run"}}]}


def receiver_vars(host) -> dict:
    # The lab's receiver with a token in its URL (a secret: masked) and send_resolved off.
    return {"alertmanager_receivers": [{"name": "lab-webhook", "webhook_configs": [
        {"url": f"http://127.0.0.1:5001/?token={RECEIVER_SECRET}", "send_resolved": False}]}]}


# One variable changed -> the component's playbook and the --tags that reach it (keeps each
# run short) -> the files whose diffs are shown, per host -> what each file's new content shows.
DRY_RUN_CASES = {
    "probe target": (probe_target_vars, "prometheus", "prometheus_targets", {MONITOR: [PROBES]},
                     {PROBES: [f"https://{APP2}:8000/ready", "by-dry-run"]}),
    "rule threshold": (lambda host: {"prometheus_alert_app_down_for": "45s"}, "prometheus", "prometheus_configure",
                       {MONITOR: [RULES]}, {RULES: ['for: "45s"']}),
    "receiver": (receiver_vars, "alertmanager", "alertmanager_configure", {MONITOR: [AM_CONFIG]},
                 {AM_CONFIG: ["send_resolved: false", "url: <secret>"]}),
    # The unit, and the marker by which a real run would remember the restart it owes.
    "app setting": (lambda host: {"app_workers": 3}, "app", "app_configure",
                    {APP1: [APP_UNIT, APP_RESTART_MARKER], APP2: [APP_UNIT, APP_RESTART_MARKER]},
                    {APP_UNIT: ['"GUNICORN_WORKERS=3"'], APP_RESTART_MARKER: ["restart pending"]}),
}


@pytest.mark.parametrize("case", DRY_RUN_CASES)
def test_dry_run_shows_the_diff_of_exactly_the_changed_files_and_changes_nothing(host, case):
    make_vars, component, tags, expected, shown = DRY_RUN_CASES[case]
    hosts = {MONITOR: host, APP1: other(APP1), APP2: other(APP2)}
    files = sorted({f for fs in expected.values() for f in fs})
    before = stack_state(hosts, files)
    # Limited to the component's hosts: the run must still leave every host of the stack as it was.
    result = run_playbook(component_playbook(component), component, make_vars(host), tags=tags, check=True)
    assert result.returncode == 0, str(result)
    diffs = shown_diffs(result)
    assert sorted((h, f) for h, f, _, _ in diffs) == sorted((h, f) for h, fs in expected.items() for f in fs), diffs
    for _, path, diff, _ in diffs:
        assert diff["before"] != diff["after"] and all(text in diff["after"] for text in shown[path]), diff
    # Nothing else would change: every change shows its diff, but the write whose output is
    # hidden (alertmanager.yml: a step of its own shows the masked diff).
    assert set(result.changed_tasks) - {(t, h) for h, _, _, t in diffs} <= {(HIDDEN_WRITE, MONITOR)}, str(result)
    assert stack_state(hosts, files) == before
    # No secret in what a dry run prints: the receiver's token, the lab's Grafana password.
    assert RECEIVER_SECRET not in result.stdout + result.stderr
    password_file = os.path.join(os.environ.get("MONITORING_STACK_CACHE", ""), "lab-grafana-admin-password")
    if os.path.exists(password_file):
        assert open(password_file).read().strip() not in result.stdout


# --- Grafana dashboards: every panel query returns data from this live Prometheus ----------
import sys  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from dashboards import panel_queries  # noqa: E402

# Whole dashboards whose data this stack does not have, and where they are checked instead.
NO_DATA_DASHBOARDS = {"datastores.json": "the full stack runs no Redis or PostgreSQL; every panel of this dashboard "
                                         "is checked against live exporters in molecule/exporters"}


@pytest.fixture(scope="module")
def benchmark_traffic(host):
    """Some dashboards show the benchmark workload: run it once on each app host."""
    for name in (APP1, APP2):
        other(name).check_output(
            curl("app", "$(hostname -I | cut -d' ' -f1)", "/benchmark/run",
                 "-sf -H 'Content-Type: application/json' -d '{\"num_jobs\": 50}'"))


@pytest.mark.parametrize("panel", panel_queries(), ids=lambda q: f"{q.uid}:{q.panel}:{q.ref_id}")
def test_dashboard_query_returns_data(host, benchmark_traffic, panel):
    if panel.file in NO_DATA_DASHBOARDS:
        pytest.skip(f"{panel.dashboard} / {panel.panel}: {NO_DATA_DASHBOARDS[panel.file]}")
    # A real number, not only a series: NaN (0/0 of an idle rate) would pass "has data".
    wait_for(lambda: finite(query(host, panel.promql)), 90, 5,
             f"a finite value for {panel.dashboard} / {panel.panel}: {panel.promql}")
