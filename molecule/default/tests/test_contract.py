"""The endpoint contract, the stack check, per-host batch groups and interrupted runs, on the
converged full stack. Each test restores the converged state in `finally`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.parse

import pytest

from conftest import REPO, component_playbook, host_address, run_playbook
from lab_endpoints import curl
from test_stack import APP1, APP2, MONITOR, other, prom, query, wait_for

testinfra_hosts = [MONITOR]
SITE = REPO / "playbooks/site.yml"


def targets(host) -> dict[tuple[str, str], dict]:
    return {(t["labels"]["job"], t["labels"]["instance"]): t
            for t in prom(host, "/api/v1/targets")["data"]["activeTargets"]}


def test_changing_the_pushgateway_port_alone_keeps_scraping_and_pushing(host):
    ip = host_address(host)
    moved = f"{ip}:9191"
    try:
        result = run_playbook(SITE, "all", {"pushgateway_web_listen_address": moved},
                              tags="pushgateway,app,prometheus")
        # Green includes the stack check: Prometheus scrapes the gateway at its new port.
        assert result.returncode == 0, result.failure_text or str(result)
        assert targets(host)[("pushgateway", moved)]["health"] == "up"
        # Both pushers were re-run by the play (their unit changed) and pushed to the new port.
        metrics = host.check_output(curl("pushgateway", moved, "/metrics"))
        for app in (APP1, APP2):
            assert f'batch_last_success_timestamp_seconds{{instance="{app}",job="batch_job"}}' in metrics, metrics
    finally:
        restore = run_playbook(SITE, "all", tags="pushgateway,app,prometheus")
    assert restore.returncode == 0, restore.failure_text or str(restore)
    assert ("pushgateway", f"{ip}:9091") in targets(host)


def test_stack_check_fails_naming_a_target_moved_behind_the_contracts_back(host):
    """A consumer broken on purpose: the app endpoint is overridden with a port nothing
    listens on. The play must fail at the stack check, naming the target and its error."""
    wrong = f"{host_address(other(APP1))}:8999"
    try:
        result = run_playbook(SITE, MONITOR, {"app_endpoint": {"address": wrong}, "prometheus_stack_check_timeout": 12},
                              tags="prometheus_targets")
        assert result.returncode != 0, str(result)
        assert [f["task"] for f in result.failures] == ["Fail unless the whole stack is up"], str(result)
        message = result.failure_text
        assert f"job app target {wrong} is down" in message, message
        assert "connection refused" in message, message
    finally:
        restore = run_playbook(component_playbook("prometheus"), MONITOR, tags="prometheus_targets")
    assert restore.returncode == 0, restore.failure_text or str(restore)


def test_stale_batch_alert_fires_for_the_one_stopped_host_only(host):
    app1 = other(APP1)

    def stale_alerts():
        return [a["labels"]["instance"] for a in prom(host, "/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "BatchJobStale" and a["state"] == "firing"]

    assert stale_alerts() == []
    app1.check_output("systemctl stop monitored-app-pusher.timer")
    try:
        firing = wait_for(stale_alerts, 150, 5, "BatchJobStale firing")
        assert firing == [APP1], firing
        # app2 keeps its own group and its fresh timestamp.
        ages = query(host, f'time() - batch_last_success_timestamp_seconds{{instance="{APP2}"}}')
        assert len(ages) == 1 and float(ages[0]["value"][1]) < 75, ages
    finally:
        app1.check_output("systemctl start monitored-app-pusher.timer")
    wait_for(lambda: stale_alerts() == [] or None, 90, 5, "BatchJobStale resolved")


# --- a run killed between a config write and its reload --------------------------------------
def _live_alertmanager(host) -> str:
    status = json.loads(host.check_output(curl("alertmanager", host_address(host), "/api/v2/status")))
    return status["config"]["original"]


def _live_prometheus(host) -> str:
    return prom(host, "/api/v1/status/config")["data"]["yaml"]


def _live_blackbox(host) -> str:
    return host.check_output(curl("blackbox", host_address(host), "/config"))


INTERRUPTED = {
    # component tag: (the write task to be killed after, the change, what the live config then shows, reader)
    "alertmanager": ("Write the Alertmanager configuration (content not shown, it may hold secrets)",
                     {"alertmanager_route_group_wait": "3s"}, "group_wait: 3s", _live_alertmanager),
    "prometheus": ("Write prometheus.yml (checked by promtool, with its rule and target files)",
                   {"prometheus_external_labels": {"environment": "lab", "interrupted": "yes"}},
                   "interrupted: \"yes\"", _live_prometheus),
    "blackbox": ("Write the probe modules, checked with --config.check first",
                 {"blackbox_extra_modules": {"interrupted_tcp": {"prober": "tcp"}}}, "interrupted_tcp", _live_blackbox),
}


def _run_killed_after(task: str, tag: str, extra_vars: dict) -> None:
    """Run the component's own playbook (the killed run and the next runs need nothing of
    site.yml's other plays) and SIGKILL it as soon as `task` reports changed."""
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-l", MONITOR,
           str(component_playbook(tag)), "-e", json.dumps(extra_vars)]
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_FORCE_COLOR": "0",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    in_task, seen = False, []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("TASK ["):
            in_task = line.startswith("TASK [") and f": {task}]" in line
        elif in_task and line.startswith("changed:"):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
    proc.wait()
    pytest.fail(f"the run ended (rc {proc.returncode}) before {task!r} reported a change:\n{''.join(seen[-40:])}")


@pytest.mark.parametrize("tag", sorted(INTERRUPTED))
def test_a_reload_left_undone_by_a_killed_run_is_done_by_the_next_run(host, tag):
    task, change, expected, live = INTERRUPTED[tag]
    assert expected not in live(host)
    try:
        _run_killed_after(task, tag, change)
        # Killed after the write, before the reload: the file is new, the running config is not.
        assert expected not in live(host), "the killed run got to its reload: the test proves nothing"
        rerun = run_playbook(component_playbook(tag), MONITOR, change)
        assert rerun.returncode == 0, rerun.failure_text or str(rerun)
        assert wait_for(lambda: expected in live(host), 20, 1, f"{expected!r} live")
    finally:
        restore = run_playbook(component_playbook(tag), MONITOR)
    assert restore.returncode == 0, restore.failure_text or str(restore)
    assert expected not in live(host)


def test_blackbox_exporter_scrapes_itself_as_job_blackbox(host):
    blackbox = f"{host_address(host)}:9115"
    assert targets(host)[("blackbox", blackbox)]["health"] == "up"
    assert query(host, f'blackbox_exporter_config_last_reload_successful{{instance="{blackbox}"}}')[0]["value"][1] == "1"


def test_prometheus_reaches_every_published_endpoint(host):
    expected = {("prometheus", f"{host_address(host)}:9090"), ("pushgateway", f"{host_address(host)}:9091"),
                ("alertmanager", f"{host_address(host)}:9093"), ("blackbox", f"{host_address(host)}:9115"),
                ("app", f"{host_address(other(APP1))}:8000"), ("app", f"{host_address(other(APP2))}:8000")}
    found = targets(host)
    assert expected <= set(found), sorted(found)
    assert all(found[key]["health"] == "up" for key in expected), {k: found[k]["health"] for k in expected}
    ams = [a["url"] for a in prom(host, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]]
    # Over TLS: the scheme comes from the Alertmanager's endpoint (the lab's secure shape).
    assert ams == [f"https://{host_address(host)}:9093/api/v2/alerts"], ams
    # The encoded probe URL goes to the exporter the contract names.
    probe = next(t for (job, _), t in found.items() if job == "blackbox-probes")
    assert urllib.parse.urlsplit(probe["scrapeUrl"]).netloc == f"{host_address(host)}:9115"
