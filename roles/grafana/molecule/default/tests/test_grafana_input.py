"""Grafana role: input validation and the "package unavailable" paths.

These need no Grafana: they run everywhere, also where Grafana cannot be downloaded. Bad input
must fail before anything changes on the host; an unavailable package must fail clearly, or be
skipped with one warning when grafana_skip_if_unavailable is set. Unavailability is made
deterministic with an empty artifact cache and a download URL on the closed loopback port 9.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from conftest import REPO, role_defaults, run_playbook, unit_snapshot

UNIT = "grafana-server"
WATCHED = ["/etc/grafana/grafana.ini", "/etc/grafana/admin_password",
           "/etc/systemd/system/grafana-server.service.d/hardening.conf", "/usr/share/grafana/bin/grafana"]
UNREACHABLE = "http://127.0.0.1:9/grafana.deb"


def _one_platform() -> list[str]:
    """These checks fail on the controller or before any change: one platform is enough, and
    every case costs a playbook run (~10 s). Without a Molecule inventory: every host."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory or not os.path.isfile(inventory):
        return [None]
    with open(inventory, encoding="utf-8") as fh:
        groups = yaml.safe_load(fh) or {}
    hosts = sorted({h for group in groups.values() if isinstance(group, dict) for h in (group.get("hosts") or {})})
    return [f"ansible://{hosts[-1]}"] if hosts else [None]


testinfra_hosts = _one_platform()


def snapshot(host) -> dict[str, str]:
    return unit_snapshot(host, UNIT, WATCHED)


def output(result) -> str:
    """What the tasks themselves said: failure messages with the failed commands' output, and
    the messages of debug/warning tasks (not task names or loop labels)."""
    return result.failure_text + "\n" + result.messages


@pytest.mark.parametrize("password, expected", [
    ("", "must not be empty"),
    ("admin", "weak"),
    ("Sh0rt-pw!", "at least 12 characters"),
    ("onlylowercaseletters", "single character class"),
    ("123456789012345678", "single character class"),
])
def test_weak_admin_password_fails_before_any_change(host, converge_playbook, password, expected):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, {"grafana_admin_password": password})
    assert result.returncode != 0
    assert "grafana_admin_password" in output(result) and expected in output(result), output(result)[-3000:]
    if len(password) >= 6:
        assert password not in result.stdout + result.stderr, "the rejected password was printed"
    assert snapshot(host) == before


def test_missing_admin_password_fails(host, tmp_path):
    playbook = tmp_path / "no_password.yml"
    playbook.write_text(json.dumps([{"name": "No password", "hosts": "all", "become": True,
                                     "roles": [{"role": "grafana"}]}]))
    before = snapshot(host)
    result = run_playbook(playbook, host.backend.host)
    assert result.returncode != 0
    assert "grafana_admin_password" in output(result)
    assert snapshot(host) == before


@pytest.mark.parametrize("bad_vars, variable", [
    ({"grafana_http_port": 70000}, "grafana_http_port"),
    ({"grafana_http_port": "http"}, "grafana_http_port"),
    ({"grafana_protocol": "ftp"}, "grafana_protocol"),
    ({"grafana_protocol": "https"}, "grafana_cert_file"),
    ({"grafana_install_method": "yum"}, "grafana_install_method"),
    ({"grafana_version": "latest"}, "grafana_version"),
    ({"grafana_checksum": "md5:abc"}, "grafana_checksum"),
    ({"grafana_dashboards_disabled": ["no-such-dashboard"]}, "no-such-dashboard"),
    ({"grafana_dashboards_extra": ["/nonexistent/dashboard.json"]}, "/nonexistent/dashboard.json"),
    ({"grafana_skip_if_unavailable": "perhaps"}, "grafana_skip_if_unavailable"),
])
def test_bad_input_fails_before_any_change(host, converge_playbook, bad_vars, variable):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, bad_vars)
    assert result.returncode != 0
    assert variable in output(result), output(result)[-3000:]
    assert snapshot(host) == before


def test_duplicate_dashboard_uid_fails(host, converge_playbook, tmp_path):
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps({"uid": "monitoring-app", "title": "Clash", "panels": []}))
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, {"grafana_dashboards_extra": [str(clash)]})
    assert result.returncode != 0
    assert "unique across all dashboards" in output(result)
    assert snapshot(host) == before


def unavailable_vars(tmp_path, skip: bool, offline: bool = False) -> dict:
    # Online (the scenarios are offline otherwise), the download is tried on a closed loopback port.
    return {"grafana_cache_dir": str(tmp_path / "empty-cache"), "grafana_deb_url": UNREACHABLE,
            "grafana_skip_if_unavailable": skip, "grafana_offline": offline}


def test_offline_missing_package_fails_naming_the_file_and_tries_no_download(host, converge_playbook, tmp_path):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, unavailable_vars(tmp_path, skip=False, offline=True))
    assert result.returncode != 0, str(result)
    text = " ".join(result.failure_text.split())
    version = role_defaults("grafana")["grafana_version"]
    # Names the directory and the file to put there; the download was never tried.
    assert "offline" in text and f"{tmp_path / 'empty-cache'}/grafana/{version}/" in text, text
    assert f"put grafana_{version}_" in text and "_linux_amd64.deb" in text, text
    assert "Check that the Grafana package can be downloaded (skipped when cached)" not in result.tasks_run
    assert snapshot(host) == before


def test_unavailable_package_fails_clearly(host, converge_playbook, tmp_path):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, unavailable_vars(tmp_path, skip=False))
    assert result.returncode != 0
    text = " ".join(output(result).split())
    version = role_defaults("grafana")["grafana_version"]
    assert f"Grafana {version} is not in the artifact cache and could not be downloaded:" in text
    assert UNREACHABLE in text and "grafana_skip_if_unavailable" in text
    assert snapshot(host) == before


def test_unavailable_package_is_skipped_with_one_warning(host, converge_playbook, tmp_path):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, unavailable_vars(tmp_path, skip=True))
    assert result.returncode == 0, output(result)[-3000:]
    text = " ".join(output(result).split())
    assert text.count("skipping Grafana on " + host.backend.host) == 1
    assert "is not in the artifact cache and could not be downloaded:" in text
    assert snapshot(host) == before


def test_unreachable_apt_repository_is_skipped(host, converge_playbook):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, {
        "grafana_install_method": "apt", "grafana_apt_key_url": "http://127.0.0.1:9/gpg.key",
        "grafana_skip_if_unavailable": True, "grafana_offline": False})
    assert result.returncode == 0, output(result)[-3000:]
    text = " ".join(output(result).split())
    assert "cannot be installed from the APT repository" in text
    assert "skipping Grafana on " + host.backend.host in text
    assert snapshot(host) == before


REMOTE_CA = "/tmp/monitoring-test-ca.pem"
RENDERED = "/tmp/monitoring-test-datasources.yml"


def test_datasources_trust_the_ca_their_endpoints_publish(host, tmp_path):
    """HTTPS endpoints with a ca_file (a path on the Grafana host): each datasource trusts that
    CA, with the PEM Grafana wants in secureJsonData. Rendered by the role's own validate tasks
    (which read the CA) and template, into /tmp: no Grafana package needed."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=monitoring-test-ca", "-days", "1", "-keyout", str(tmp_path / "ca.key"),
                    "-out", str(tmp_path / "ca.pem")], check=True, capture_output=True)
    pem = (tmp_path / "ca.pem").read_text()
    playbook = tmp_path / "render_datasources.yml"
    playbook.write_text(json.dumps([{
        "name": "Render the datasources of HTTPS endpoints with a CA", "hosts": host.backend.host,
        "become": True, "gather_subset": ["network"],
        "vars": {"grafana_admin_password": "Molecule-Grafana-2025",
                 "grafana_prometheus_host": "tls-prometheus", "grafana_alertmanager_host": "tls-alertmanager"},
        "tasks": [
            {"name": "Add the HTTPS Prometheus", "ansible.builtin.add_host": {
                "name": "tls-prometheus", "prometheus_endpoint": {
                    "address": "prometheus.test:9090", "scheme": "https", "ca_file": REMOTE_CA,
                    "basic_auth": {"username": "grafana", "password": "Datasource-Pw-1"}}}, "no_log": True},
            {"name": "Add the HTTPS Alertmanager", "ansible.builtin.add_host": {
                "name": "tls-alertmanager", "alertmanager_endpoint": {
                    "address": "alertmanager.test:9093", "scheme": "https", "ca_file": REMOTE_CA}}},
            {"name": "Put the CA on the Grafana host", "ansible.builtin.copy": {
                "src": str(tmp_path / "ca.pem"), "dest": REMOTE_CA, "mode": "0644"}},
            {"name": "Validate (reads the CA)", "ansible.builtin.include_role": {
                "name": "grafana", "tasks_from": "validate", "public": True}},
            {"name": "Render the datasources", "ansible.builtin.template": {
                "src": str(REPO / "roles/grafana/templates/datasources.yml.j2"), "dest": RENDERED, "mode": "0600"},
             "no_log": True},
        ]}]))
    try:
        result = run_playbook(playbook, host.backend.host)
        assert result.returncode == 0, str(result)
        datasources = {d["name"]: d for d in yaml.safe_load(host.file(RENDERED).content_string)["datasources"]}
    finally:
        host.run(f"rm -f {RENDERED} {REMOTE_CA}")
    prometheus, alertmanager = datasources["Prometheus"], datasources["Alertmanager"]
    assert prometheus["url"] == "https://prometheus.test:9090" and alertmanager["url"] == "https://alertmanager.test:9093"
    for ds in (prometheus, alertmanager):
        assert ds["jsonData"]["tlsAuthWithCACert"] is True, ds
        assert ds["secureJsonData"]["tlsCACert"] == pem, ds
    assert prometheus["secureJsonData"]["basicAuthPassword"] == "Datasource-Pw-1"
    assert "basicAuth" not in alertmanager
    # The password of the Prometheus datasource is not in the output; the (public) CA may be.
    assert "Datasource-Pw-1" not in result.stdout + result.stderr


def test_missing_datasource_ca_fails_before_any_change(host, converge_playbook):
    before = snapshot(host)
    result = run_playbook(converge_playbook, host.backend.host, {"prometheus_endpoint": {
        "address": "127.0.0.1:9090", "scheme": "https", "ca_file": "/nonexistent/monitoring-ca.pem"}})
    assert result.returncode != 0, str(result)
    text = " ".join(result.failure_text.split())
    assert "prometheus_endpoint.ca_file of molecule-prometheus (prometheus_web_ca_file" in text, text
    assert "/nonexistent/monitoring-ca.pem cannot be read" in text, text
    assert result.changed == 0, str(result)
    assert snapshot(host) == before
