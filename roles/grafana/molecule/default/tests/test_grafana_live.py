"""Grafana role against the running Grafana in each container.

Grafana's package comes from Grafana's download server (or a pre-filled artifact cache). Where
neither is available the converge skips Grafana (grafana_skip_if_unavailable: true), and these
tests are skipped with the reason; they are never run against a stand-in.
"""
from __future__ import annotations

import json
import shlex

import pytest

from conftest import (
    ARTIFACT_CACHE,
    assert_listens_on_host_address_only,
    host_address,
    main_pid,
    poll,
    role_defaults,
    run_playbook,
    security_score,
)

UNIT = "grafana-server"
VERSION = str(role_defaults("grafana")["grafana_version"])
PASSWORD = "Molecule-Grafana-2025"  # converge.yml
SHIPPED_UIDS = {"monitoring-app", "monitoring-batch", "monitoring-probes", "monitoring-prometheus"}
EXTRA_UID = "molecule-extra"
CACHE = ARTIFACT_CACHE / "grafana" / VERSION


@pytest.fixture(scope="module")
def grafana(host) -> str:
    """Base URL of the host's Grafana; skips the module where Grafana could not be installed."""
    if not host.package("grafana").is_installed:
        arch = host.check_output("dpkg --print-architecture")
        cached = sorted(CACHE.glob(f"grafana_{VERSION}_*_{arch}.deb"))
        if cached:
            pytest.fail(f"{cached[0]} is cached but grafana is not installed on {host.backend.host}")
        pytest.skip(f"Grafana {VERSION} is not installed on {host.backend.host}: its {arch} .deb is not in the "
                    f"artifact cache ({CACHE}) and could not be downloaded from dl.grafana.com, so the converge "
                    "skipped Grafana (grafana_skip_if_unavailable). These tests run where Grafana can be "
                    "downloaded, or with the .deb put into that cache (plus its .sha256 file for a release "
                    "whose digest the role does not pin).")
    addr = host_address(host)
    return f"http://{addr}:3000"


def api(host, url: str, path: str, user: str = "admin", password: str | None = PASSWORD,
        method: str = "GET") -> tuple[int, object]:
    auth = f"-u {shlex.quote(user + ':' + password)}" if password is not None else ""
    out = host.check_output(f"curl -s -X {method} {auth} -w '\\n%{{http_code}}' {shlex.quote(url + path)}")
    body, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(body) if body else None
    except json.JSONDecodeError:
        return int(code), body


def search_uids(host, grafana) -> set[str]:
    code, found = api(host, grafana, "/api/search?type=dash-db")
    assert code == 200, found
    return {d["uid"] for d in found}


def test_service_active_and_enabled(host, grafana):
    svc = host.service(UNIT)
    assert svc.is_running and svc.is_enabled
    assert host.package("grafana").version.startswith(VERSION)


def test_runs_as_grafana(host, grafana):
    procs = host.process.filter(user="grafana")
    assert procs, "no process of user grafana"
    assert not host.process.filter(user="root", comm="grafana")


def test_listens_on_the_host_address_only(host, grafana):
    assert_listens_on_host_address_only(host, 3000)


def test_health(host, grafana):
    code, health = api(host, grafana, "/api/health", password=None)
    assert code == 200 and health["database"] == "ok"
    assert health["version"].startswith(VERSION)


def test_config_files_are_private(host, grafana):
    for path in ("/etc/grafana/grafana.ini", "/etc/grafana/admin_password",
                 "/etc/grafana/provisioning/datasources/monitoring.yml"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "grafana", 0o640), path
    ini = host.file("/etc/grafana/grafana.ini").content_string
    assert PASSWORD not in ini
    for line in ("reporting_enabled = false", "check_for_updates = false", "mode = console",
                 "disable_brute_force_login_protection = true", "default_theme = light"):
        assert line in ini


def test_anonymous_access_is_refused(host, grafana):
    code, _ = api(host, grafana, "/api/search", password=None)
    assert code == 401


def test_admin_logs_in_with_the_configured_password_only(host, grafana):
    assert api(host, grafana, "/api/user")[0] == 200
    assert api(host, grafana, "/api/user", password="admin")[0] == 401


def test_prometheus_datasource_is_provisioned(host, grafana):
    code, ds = api(host, grafana, "/api/datasources/uid/prometheus")
    assert code == 200, ds
    assert (ds["type"], ds["url"], ds["isDefault"]) == ("prometheus", "http://127.0.0.1:9090", True)
    assert api(host, grafana, "/api/datasources/uid/alertmanager")[0] == 404


def test_dashboards_are_provisioned(host, grafana):
    assert SHIPPED_UIDS | {EXTRA_UID} <= search_uids(host, grafana)
    for uid in SHIPPED_UIDS:
        code, dash = api(host, grafana, f"/api/dashboards/uid/{uid}")
        assert code == 200 and dash["meta"]["provisioned"]
        for panel in dash["dashboard"]["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (uid, panel["title"])


def test_unit_is_hardened(host, grafana):
    assert host.file("/etc/systemd/system/grafana-server.service.d/hardening.conf").exists
    assert security_score(host, UNIT) <= 2.0


def test_removed_dashboards_are_deleted_without_restart(host, grafana, converge_playbook):
    stray = "/etc/grafana/dashboards/stray.json"
    host.check_output(f"echo '{{}}' > {stray}")
    pid = main_pid(host, UNIT)
    result = run_playbook(converge_playbook, host.backend.host,
                          {"grafana_dashboards_disabled": ["batch"], "grafana_dashboards_extra": []})
    assert result.returncode == 0, str(result)
    try:
        assert not host.file(stray).exists
        assert not host.file("/etc/grafana/dashboards/batch.json").exists
        assert poll(lambda: not {"monitoring-batch", EXTRA_UID} & search_uids(host, grafana), timeout=60, interval=2), \
            "removed dashboards still in Grafana"
        assert main_pid(host, UNIT) == pid, "a dashboard change must not restart Grafana"
    finally:
        restore = run_playbook(converge_playbook, host.backend.host)
        assert restore.returncode == 0, str(restore)
    assert poll(lambda: {"monitoring-batch", EXTRA_UID} <= search_uids(host, grafana), timeout=60, interval=2)


def test_datasource_change_applies_without_restart(host, grafana, converge_playbook):
    pid = main_pid(host, UNIT)
    result = run_playbook(converge_playbook, host.backend.host, {
        "prometheus_endpoint": {"address": "127.0.0.1:19090", "scrape_interval": "15s"},
        "alertmanager_endpoint": {"address": "127.0.0.1:9093"}, "grafana_alertmanager_host": "molecule-prometheus"})
    assert result.returncode == 0, str(result)
    try:
        assert api(host, grafana, "/api/datasources/uid/prometheus")[1]["url"] == "http://127.0.0.1:19090"
        code, am = api(host, grafana, "/api/datasources/uid/alertmanager")
        assert code == 200 and am["type"] == "alertmanager"
        assert main_pid(host, UNIT) == pid, "a datasource change must not restart Grafana"
    finally:
        restore = run_playbook(converge_playbook, host.backend.host)
        assert restore.returncode == 0, str(restore)
    assert api(host, grafana, "/api/datasources/uid/prometheus")[1]["url"] == "http://127.0.0.1:9090"
    assert api(host, grafana, "/api/datasources/uid/alertmanager")[0] == 404, "pruned with the file entry"


def test_changed_admin_password_is_applied(host, grafana, converge_playbook):
    new = "Changed-Grafana-2025!"
    result = run_playbook(converge_playbook, host.backend.host, {"grafana_admin_password": new})
    assert result.returncode == 0, str(result)
    try:
        assert result.changed > 0
        assert new not in str(result)
        assert api(host, grafana, "/api/user", password=new)[0] == 200
        assert api(host, grafana, "/api/user", password=PASSWORD)[0] == 401
        again = run_playbook(converge_playbook, host.backend.host, {"grafana_admin_password": new})
        assert again.returncode == 0 and again.changed == 0, str(again)
    finally:
        restore = run_playbook(converge_playbook, host.backend.host)
        assert restore.returncode == 0, str(restore)
    assert api(host, grafana, "/api/user")[0] == 200


def test_rerun_changes_nothing_and_keeps_the_process(host, grafana, converge_playbook):
    pid = main_pid(host, UNIT)
    result = run_playbook(converge_playbook, host.backend.host)
    assert result.returncode == 0 and result.changed == 0, str(result)
    assert main_pid(host, UNIT) == pid
