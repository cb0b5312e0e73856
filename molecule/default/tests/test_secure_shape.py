"""The lab's secure shape (inventories/lab: monitoring_tls, *_web_config): every endpoint of the
stack serves TLS with a certificate of the lab's CA and asks for credentials; every consumer
verifies and authenticates. Real requests from inside the containers."""
from __future__ import annotations

import pytest

from conftest import REPO, host_address, main_pid, run_playbook, wait_for
from lab_endpoints import SECRETS, curl
from test_stack import APP1, APP2, MONITOR, other, prom

testinfra_hosts = [MONITOR]

# (component, container, path): every HTTP endpoint of the full stack. The app asks for
# credentials on /metrics only (/health and /ready stay open for load balancers).
ENDPOINTS = [("prometheus", MONITOR, "/api/v1/status/config"), ("alertmanager", MONITOR, "/api/v2/status"),
             ("pushgateway", MONITOR, "/metrics"), ("blackbox", MONITOR, "/metrics"),
             ("node_exporter", MONITOR, "/metrics"), ("node_exporter", APP1, "/metrics"), ("node_exporter", APP2, "/metrics"),
             ("app", APP1, "/metrics"), ("app", APP2, "/metrics")]
IDS = [f"{component}@{name.removeprefix(MONITOR[:-len('monitor')])}" for component, name, _ in ENDPOINTS]


def status(client, command: str) -> str:
    return client.check_output(command + " -s -o /dev/null -w '%{http_code}'")


@pytest.mark.parametrize("component, name, path", ENDPOINTS, ids=IDS)
def test_endpoint_answers_200_with_credentials_and_401_without(host, component, name, path):
    address = host_address(other(name))
    # From the monitoring host, as Prometheus reaches them; the CA is the lab's.
    assert status(host, curl(component, address, path, "")) == "200"
    assert status(host, curl(component, address, path, "", auth=False)) == "401"


@pytest.mark.parametrize("component, name, path", ENDPOINTS, ids=IDS)
def test_a_client_trusting_another_ca_is_refused(host, component, name, path):
    # Debian's public CA bundle does not hold the lab's CA: curl must fail verifying the
    # certificate (exit 60), before any credential is sent.
    result = host.run(curl(component, host_address(other(name)), path, "-s -o /dev/null",
                           ca_file="/etc/ssl/certs/ca-certificates.crt"))
    assert result.rc == 60, (result.rc, result.stderr)


def test_every_target_is_scraped_over_tls(host):
    targets = prom(host, "/api/v1/targets")["data"]["activeTargets"]
    jobs = {t["labels"]["job"] for t in targets}
    assert {"prometheus", "app", "pushgateway", "alertmanager", "blackbox", "blackbox-probes", "node"} <= jobs, jobs
    not_tls = [(t["labels"]["job"], t["scrapeUrl"]) for t in targets if not t["scrapeUrl"].startswith("https://")]
    assert not_tls == []
    down = [(t["labels"]["job"], t["labels"]["instance"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert down == []
    ams = prom(host, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert [a["url"].split("://")[0] for a in ams] == ["https"], ams


def test_the_stacks_own_certificates_are_probed_for_expiry(host):
    from test_stack import query
    # The TLS handshake probes of the lab (module tls_internal) read the certificates the pki
    # role issued: valid for pki_cert_valid_days (365) from now, far from the alert thresholds.
    result = query(host, 'probe_ssl_earliest_cert_expiry{job="blackbox-probes", module="tls_internal"} - time()')
    days = sorted(float(r["value"][1]) / 86400 for r in result)
    assert len(days) == 2 and all(360 < d <= 366 for d in days), days
    rules = prom(host, "/api/v1/rules")["data"]["groups"]
    alerts = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
    assert {"TLSCertificateExpiringSoon", "TLSCertificateExpiryImminent"} <= alerts


def _served_certificate(client, address: str, port: int) -> str:
    """The PEM certificate the server at address:port presents (read with the client's Python)."""
    return client.check_output(f"python3 -c \"import ssl; print(ssl.get_server_certificate(('{address}', {port})))\"")


def test_a_renewed_certificate_changes_the_files_and_reloads_only_the_app(host):
    """The pki role re-issues app1's certificate (its controller copy is gone, as after a
    revocation): the next run installs it; node_exporter serves it at once (it reads the files per
    connection), the app after a graceful reload (gunicorn loads them in its workers)."""
    app = other(APP1)
    address = host_address(app)
    controller_cert = SECRETS.parent / "lab-pki" / "hosts" / f"{APP1}.crt"
    before = {port: _served_certificate(host, address, port) for port in (8000, 9100)}
    pids = {unit: main_pid(app, unit) for unit in ("monitored-app", "node_exporter")}
    controller_cert.unlink()
    result = run_playbook(REPO / "playbooks/site.yml", "all", tags="pki,app")
    assert result.returncode == 0, result.failure_text or str(result)
    changed_on_app = sorted(task for task, where in result.changed_tasks if where == APP1)
    assert "Copy the CA and host certificates" in changed_on_app, changed_on_app
    assert "Reload because the configuration changed - monitored-app" in changed_on_app, changed_on_app
    assert not [t for t in changed_on_app if t.startswith("Restart")], changed_on_app
    assert {where for _, where in result.changed_tasks} <= {APP1, "localhost"}, result.changed_tasks
    # Same processes (no restart), new certificate on both ports: the one the CA just signed.
    assert {unit: main_pid(app, unit) for unit in pids} == pids
    new = controller_cert.read_text().strip()
    for port in (8000, 9100):
        served = wait_for(lambda p=port: (c := _served_certificate(host, address, p)) != before[p] and c, 30, 2,
                          f"the renewed certificate on {APP1}:{port}")
        assert served.strip() == new
