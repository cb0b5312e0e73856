"""Fault suite: what production throws at the stack, on the full-stack containers.

Every case uses only the lab's own containers. Counts of cases are reported by the test
runner's summary (each parametrized case is one test).
"""
from __future__ import annotations

import re
import time
import uuid

import pytest

from conftest import component_playbook, host_address, main_pid, run_playbook
from lab_endpoints import curl
from test_stack import APP1, MONITOR, other, prom, query, wait_for

testinfra_hosts = [MONITOR]

# unit -> (component, health path) on the monitoring host.
HEALTH = {
    "prometheus": ("prometheus", "/-/ready"),
    "alertmanager": ("alertmanager", "/-/ready"),
    "pushgateway": ("pushgateway", "/-/ready"),
    "blackbox_exporter": ("blackbox", "/-/healthy"),
}
APP_HERE = "$(hostname -I | cut -d' ' -f1)"  # the app host's own address, in its shell


def healthy(host, component: str, path: str) -> bool:
    return host.run(curl(component, host_address(host), path, "-sf -o /dev/null")).rc == 0


def app_curl(path: str, options: str = "-sf") -> str:
    return curl("app", APP_HERE, path, options)


@pytest.mark.parametrize("unit", sorted(HEALTH))
def test_kill_9_comes_back_within_10s(host, unit):
    component, path = HEALTH[unit]
    old = main_pid(host, unit)
    host.check_output(f"kill -9 {old}")
    start = time.time()
    while time.time() - start < 10:
        if main_pid(host, unit) not in ("0", old) and healthy(host, component, path):
            return
        time.sleep(0.5)
    pytest.fail(f"{unit} not serving {path} within 10 s after kill -9")


def test_app_kill_9_comes_back_within_10s(host):
    app = other(APP1)
    old = main_pid(app, "monitored-app")
    app.check_output(f"kill -9 {old}")
    start = time.time()
    while time.time() - start < 10:
        if main_pid(app, "monitored-app") not in ("0", old) and \
                app.run(app_curl("/health", "-sf -o /dev/null")).rc == 0:
            return
        time.sleep(0.5)
    pytest.fail("the app is not serving /health within 10 s after kill -9 of gunicorn's master")


def _requests_total(app) -> float:
    metrics = app.check_output(app_curl("/metrics"))
    return sum(float(v) for v in re.findall(r'^app_requests_total\{[^}]*\} ([0-9.e+]+)$', metrics, re.M))


def test_killed_gunicorn_worker_is_replaced_and_counters_do_not_go_back(host):
    app = other(APP1)
    app.check_output(f"for i in $(seq 50); do {app_curl('/health', '-s -o /dev/null')}; done")
    before = _requests_total(app)
    master = main_pid(app, "monitored-app")
    workers = app.check_output(f"pgrep -P {master}").split()
    app.check_output(f"kill -9 {workers[0]}")
    wait_for(lambda: len(app.check_output(f"pgrep -P {master}").split()) == len(workers)
             and workers[0] not in app.check_output(f"pgrep -P {master}").split(), 15, 1, "a replacement worker")
    assert _requests_total(app) >= before
    assert main_pid(app, "monitored-app") == master


def test_pushgateway_restart_keeps_pushed_groups(host):
    # A group of its own that nothing re-pushes (the app's pusher re-pushes batch_job every
    # 30 s, which would pass without persistence), with a value only this test wrote.
    job, value = f"persistence_check_{uuid.uuid4().hex[:8]}", f"{time.time():.0f}"
    group = f"/metrics/job/{job}"
    pushed = host.check_output(f"echo 'persistence_check_value {value}' | "
                               + curl("pushgateway", host_address(host), group, "-s -o /dev/null -w '%{http_code}' --data-binary @-"))
    assert pushed == "200"
    old_pid = main_pid(host, "pushgateway")
    try:
        host.check_output("systemctl restart pushgateway")
        wait_for(lambda: healthy(host, "pushgateway", "/-/ready"), 20, 1, "pushgateway ready")
        assert main_pid(host, "pushgateway") not in ("0", old_pid)
        metrics = host.check_output(curl("pushgateway", host_address(host), "/metrics"))
        found = re.search(rf'^persistence_check_value{{[^}}]*job="{job}"[^}}]*}} (\S+)$', metrics, re.M)
        # The Pushgateway prints floats (1.796e+09): compare numbers, not text.
        assert found and float(found.group(1)) == float(value), metrics[-2000:]
    finally:
        host.run(curl("pushgateway", host_address(host), group, "-s -X DELETE"))


def test_prometheus_restart_keeps_samples(host):
    stamp = time.time() - 30
    before = query(host, f'count_over_time(up{{job="prometheus"}}[20s] @ {stamp:.0f})')
    # The lab scrapes every 5 s: 4 samples in 20 s (3 if a scrape straddles the edge), not "some".
    assert before and float(before[0]["value"][1]) >= 3, before
    host.check_output("systemctl restart prometheus")
    wait_for(lambda: healthy(host, "prometheus", "/-/ready"), 60, 1, "prometheus ready")
    after = wait_for(lambda: query(host, f'count_over_time(up{{job="prometheus"}}[20s] @ {stamp:.0f})'), 30, 2, "old samples")
    assert after[0]["value"][1] == before[0]["value"][1]


def test_alertmanager_restart_keeps_silences(host):
    ip = host_address(host)
    silence = (
        '{"matchers":[{"name":"alertname","value":"FaultSuite","isRegex":false}],'
        '"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"fault-suite","comment":"restart"}'
    )
    created = host.check_output(
        curl("alertmanager", ip, "/api/v2/silences", f"-sf -H 'Content-Type: application/json' -d '{silence}'"))
    silence_id = re.search(r'"silenceID":"([^"]+)"', created).group(1)
    host.check_output("systemctl restart alertmanager")
    wait_for(lambda: healthy(host, "alertmanager", "/-/ready"), 30, 1, "alertmanager ready")
    assert silence_id in host.check_output(curl("alertmanager", ip, "/api/v2/silences"))


# Holds the crash-looping unit between its restarts while the play runs: with the unit's own
# RestartSec=2s it spends most but not all of its time there, and the play's outcome hung on
# where it was (systemd refuses to reload a unit that waits to restart).
SLOW_RESTART_DROPIN = "/run/systemd/system/prometheus.service.d/zz-test-slow-restart.conf"


def test_broken_config_by_hand_is_restored_by_the_play(host):
    host.check_output(f"mkdir -p {SLOW_RESTART_DROPIN.rsplit('/', 1)[0]}"
                      f" && printf '[Service]\\nRestartSec=10min\\n' > {SLOW_RESTART_DROPIN}"
                      " && systemctl daemon-reload")
    try:
        host.check_output("echo 'global: [this is: not valid' >> /etc/prometheus/prometheus.yml")
        host.check_output("systemctl restart prometheus || true")
        wait_for(lambda: host.check_output("systemctl show -p ActiveState -p SubState --value prometheus").split()
                 == ["activating", "auto-restart"], 20, 0.5, "prometheus to crash and wait to restart")
        result = run_playbook(component_playbook("prometheus"), MONITOR)
    finally:
        host.check_output(f"rm -f {SLOW_RESTART_DROPIN} && systemctl daemon-reload")
    assert result.returncode == 0, str(result)
    changed = [task for task, _ in result.changed_tasks]
    assert "Restart because the binary or unit changed, or no process runs to reload - prometheus" in changed, str(result)
    assert host.run("/usr/local/bin/promtool check config /etc/prometheus/prometheus.yml").rc == 0
    assert host.service("prometheus").is_running
    assert healthy(host, "prometheus", "/-/ready")
    assert prom(host, "/api/v1/status/runtimeinfo")["data"]["reloadConfigSuccess"] is True
