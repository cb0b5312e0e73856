"""Alertmanager, verified against the running service in each container.

The scenario's receivers post to a local sink (prepare.yml: 127.0.0.1:5001, one line per
POST body in /var/tmp/webhook.log); nothing leaves the containers.
"""
import json
import shlex
import time
import uuid

import pytest

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

UNIT = "alertmanager"
CONFIG = "/etc/alertmanager/alertmanager.yml"
WEBHOOK_LOG = "/var/tmp/webhook.log"
SNAPSHOT_FILES = ["/etc/systemd/system/alertmanager.service", "/usr/local/bin/alertmanager", CONFIG]


def am_url(host) -> str:
    # The role listens on the host's primary address by default.
    return f"http://{host_address(host)}:9093"


def api(host, method: str, path: str, payload=None, base: str | None = None):
    data = ""
    if payload is not None:
        data = f"-H 'Content-Type: application/json' --data-binary {shlex.quote(json.dumps(payload))}"
    out = host.check_output(f"curl -sf -X {method} {data} {base or am_url(host)}/api/v2{path}")
    return json.loads(out) if out.strip() else None


def wait_ready(host):
    assert poll(lambda: host.run(f"curl -sf {am_url(host)}/-/ready").rc == 0), "alertmanager not ready"


def webhook_lines(host, needle: str) -> list[str]:
    log = host.file(WEBHOOK_LOG)
    return [line for line in log.content_string.splitlines() if needle in line] if log.exists else []


def test_service_enabled_and_running_as_its_own_system_user(host):
    assert_enabled_system_service(host, UNIT, "alertmanager")


def test_listens_on_the_host_address_only(host):
    assert_listens_on_host_address_only(host, 9093)
    # Cluster disabled by default: no gossip port at all.
    assert "9094" not in host.check_output("ss -Htuln")


def test_amtool_is_installed(host):
    assert host.file("/usr/local/bin/amtool").mode == 0o755
    assert host.run(f"/usr/local/bin/amtool check-config {CONFIG}").rc == 0


def test_config_file_is_private_and_secrets_are_in_clear(host):
    config = host.file(CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "alertmanager", 0o640)
    content = config.content_string
    # The inline-vaulted values of converge.yml are written decrypted, not as "!vault" blocks.
    assert "!vault" not in content and "ANSIBLE_VAULT" not in content
    assert "routing_key: molecule-routing-key-0123456789abcdef" in content
    # Route keys converge.yml leaves out come from the role's defaults.
    assert "repeat_interval: 4h" in content


@pytest.mark.parametrize("labels, marker", [
    ({"team": "molecule"}, '"receiver":"molecule-webhook"'),
    ({"team": "molecule", "channel": "slack"}, '"channel":"#molecule-alerts"'),
    ({"team": "molecule", "channel": "pagerduty"}, '"routing_key":"molecule-routing-key-0123456789abcdef"'),
], ids=["webhook", "slack", "pagerduty"])
def test_posted_alert_reaches_the_receiver(host, labels, marker):
    alertname = f"MoleculeProbe{uuid.uuid4().hex[:12]}"
    api(host, "POST", "/alerts", [{"labels": {"alertname": alertname, **labels},
                                   "annotations": {"summary": "molecule delivery test"}}])
    lines = poll(lambda: webhook_lines(host, alertname), timeout=30)
    assert lines, f"{alertname} did not reach the receiver; log: {host.file(WEBHOOK_LOG).content_string[-2000:]}"
    assert any(marker in line for line in lines), lines


def test_silence_survives_restart(host):
    now = time.time()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    silence = {
        "matchers": [{"name": "alertname", "value": "MoleculeSilenced", "isRegex": False, "isEqual": True}],
        "startsAt": time.strftime(fmt, time.gmtime(now - 60)),
        "endsAt": time.strftime(fmt, time.gmtime(now + 3600)),
        "createdBy": "molecule",
        "comment": "must survive a restart",
    }
    silence_id = api(host, "POST", "/silences", silence)["silenceID"]

    host.check_output(f"systemctl restart {UNIT}")
    wait_ready(host)

    by_id = {s["id"]: s for s in api(host, "GET", "/silences")}
    assert silence_id in by_id
    assert by_id[silence_id]["status"]["state"] == "active"


def test_config_change_reloads_without_restart(host, converge_playbook):
    # An alert already notified must not be notified again because of the reload.
    alertname = f"MoleculeReload{uuid.uuid4().hex[:12]}"
    api(host, "POST", "/alerts", [{"labels": {"alertname": alertname, "team": "molecule"}}])
    assert poll(lambda: webhook_lines(host, alertname)), f"{alertname} not delivered"
    pid = main_pid(host, UNIT)

    try:
        result = run_playbook(converge_playbook, host.backend.host, {"alertmanager_route_group_interval": "2m"})
        assert result.returncode == 0, str(result)
        changed = [task for task, _ in result.changed_tasks]
        assert "Write the Alertmanager configuration (content not shown, it may hold secrets)" in changed, str(result)
        assert "Reload because the configuration changed - alertmanager" in changed, str(result)
        assert "Restart because the binary or unit changed, or no process runs to reload - alertmanager" not in changed, str(result)
        assert main_pid(host, UNIT) == pid
        assert "group_interval: 2m" in api(host, "GET", "/status")["config"]["original"]
        # The notification log survives the reload: nothing is sent twice.
        time.sleep(5)
        assert len(webhook_lines(host, alertname)) == 1
    finally:
        result = run_playbook(converge_playbook, host.backend.host)
        assert result.returncode == 0, str(result)
    assert main_pid(host, UNIT) == pid
    assert "group_interval: 1m" in api(host, "GET", "/status")["config"]["original"]


@pytest.mark.parametrize("bad_vars, expected", [
    # A receiver referenced deep in the route tree that is not defined, in the dict ...
    ({"alertmanager_route": {"receiver": "default", "routes": [
        {"receiver": "molecule-webhook", "matchers": ['team="a"'],
         "routes": [{"matchers": ['x="y"'], "routes": [{"receiver": "deep-ghost", "matchers": ['team="b"']}]}]}]}},
     ["deep-ghost", "alertmanager_route.routes[0].routes[0].routes[0]"]),
    # ... and in the child routes given on their own.
    ({"alertmanager_routes": [{"receiver": "molecule-webhook", "matchers": ['team="a"'],
                               "routes": [{"receiver": "ghost-receiver", "matchers": ['team="b"']}]}]},
     ["ghost-receiver", "alertmanager_routes[0].routes[0]"]),
    ({"alertmanager_route_receiver": "nobody-home"}, ["nobody-home", "alertmanager_route_receiver"]),
    ({"alertmanager_route": {"group_wait": "1s"}, "alertmanager_receivers": [{"name": "team-mail"}]},
     ["'default'", "alertmanager_route.receiver"]),
    ({"alertmanager_receivers": [{"name": "default"}, {"name": "twice"}, {"name": "twice"}]},
     ["twice", "alertmanager_receivers[2]", "unique"]),
    ({"alertmanager_receivers": [{"name": "default"}, {"webhook_configs": []}]}, ["alertmanager_receivers[1]"]),
    ({"alertmanager_routes": [{"receiver": "default", "mute_time_intervals": ["lunch-break"]}]},
     ["lunch-break", "alertmanager_routes[0].mute_time_intervals"]),
    ({"alertmanager_web_listen_address": "127.0.0.1"}, ["alertmanager_web_listen_address"]),
    ({"alertmanager_cluster_peers": ["10.0.0.1"]}, ["alertmanager_cluster_peers[0]"]),
    ({"alertmanager_route_group_wait": "soon"}, ["alertmanager_route_group_wait"]),
    ({"alertmanager_route": {"receiver": "default", "repeat_interval": "daily"}}, ["alertmanager_route.repeat_interval"]),
    ({"alertmanager_web_external_url": "alertmanager.example.org"}, ["alertmanager_web_external_url"]),
    ({"alertmanager_receivers": "default"}, ["alertmanager_receivers"]),
    # Alertmanager's config.URL: http or https with a host (the shared URL grammar), checked
    # before amtool; the message names the entry and does not show the URL.
    ({"alertmanager_route": {"receiver": "default"},
      "alertmanager_receivers": [{"name": "default", "webhook_configs": [{"url": "ftp://127.0.0.1/nowhere"}]}]},
     ["alertmanager_receivers[0].webhook_configs[0].url", "scheme 'ftp' is not supported", "value not shown"]),
    ({"alertmanager_data_retention": "1y"}, ["alertmanager_data_retention", "Go duration"]),
], ids=["nested-unknown-receiver-in-route", "nested-unknown-receiver-in-routes", "unknown-root-receiver",
        "default-receiver-not-defined", "duplicate-receiver", "unnamed-receiver", "unknown-time-interval",
        "listen-address", "cluster-peer", "duration", "duration-in-route", "external-url", "receivers-type",
        "receiver-url-scheme", "retention-go-duration"])
def test_bad_input_fails_before_any_change(one_host, converge_playbook, bad_vars, expected):
    # Fails before the install started.
    message = run_failing_without_change(one_host, converge_playbook, UNIT, SNAPSHOT_FILES, bad_vars,
                                         not_reached="Install alertmanager and amtool")
    for text in expected:
        assert text in message, message


def test_config_rejected_by_amtool_is_not_installed(host, converge_playbook):
    # A setting the role's checks do not know (an unknown key in a receiver) passes them; amtool
    # must keep the file from replacing the live one.
    output = run_failing_without_change(host, converge_playbook, UNIT, SNAPSHOT_FILES, {
        "alertmanager_route": {"receiver": "default"},
        "alertmanager_receivers": [{"name": "default", "webhook_configs": [{"url": "http://127.0.0.1/", "sendresolved": True}]}],
    })
    assert "amtool check-config rejected" in output
    assert "field sendresolved not found" in output
    assert host.service(UNIT).is_running


def test_unit_is_hardened(host):
    assert security_score(host, UNIT) <= 2.0
