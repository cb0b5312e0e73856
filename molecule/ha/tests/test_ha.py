"""HA and long-term storage, end to end (README "HA and long-term storage").

Runs after `playbooks/site.yml` converged monitor1 and monitor2 (Prometheus + Alertmanager
each), store (VictoriaMetrics) and app with molecule/ha/group_vars (scrape interval 5 s), in the
secure shape: every request below is HTTPS verified against the scenario's CA, with basic auth.
Every check is a real query against the services the scenario runs.
"""
from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path

import pytest
import testinfra

from conftest import (
    REPO,
    assert_enabled_system_service,
    assert_listens_on_host_address_only,
    curl_command,
    host_address,
    poll,
    run_playbook,
    security_score,
    unit_snapshot,
    wait_for,
)

PREFIX = os.environ.get("MOLECULE_INSTANCE_PREFIX", "")
MON1, MON2, STORE, APP = f"{PREFIX}monitor1", f"{PREFIX}monitor2", f"{PREFIX}store", f"{PREFIX}app"
testinfra_hosts = [MON1]
INTERVAL = 5  # prometheus_global.scrape_interval of molecule/ha/group_vars
WEBHOOK_LOG = "/var/tmp/webhook.log"
# The secure shape of molecule/ha/group_vars: the CA the pki role installed on every host, and
# the tests' user "ha" with the password the converge generated on the controller.
CA_FILE = "/etc/monitoring-stack/tls/ca.crt"
SECRETS = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "secrets"
COMPONENT_BY_PORT = {9090: "prometheus", 9093: "alertmanager", 8428: "victoriametrics", 8000: "app", 9100: "node_exporter"}


def curl(host, port: int, path: str, options: str = "-sf", auth: bool = True) -> str:
    """A curl command line, run on `host`, for `path` of the service on its own address:
    HTTPS verified against the scenario's CA, as user "ha" unless auth is False."""
    password = (SECRETS / f"{COMPONENT_BY_PORT[port]}.ha").read_text().strip() if auth else None
    return curl_command(f"https://{host_address(host)}:{port}{path}", CA_FILE, "ha" if auth else None, password,
                        options=options)


def other(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def get(host, port: int, path: str, method: str = "GET", body: object = None, **params) -> object:
    """JSON from a service on `host`, asked from that host itself (its own address)."""
    query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
    data = f" -X {method} -H 'Content-Type: application/json' -d '{json.dumps(body)}'" if body is not None else ""
    out = host.check_output(curl(host, port, path + query, options=f"-sf{data}"))
    return json.loads(out) if out.strip().startswith(("{", "[")) else out


def vm_export(store, expr: str, start: float, end: float) -> list[dict]:
    """Raw samples of the store (/api/v1/export: one JSON line per series)."""
    params = urllib.parse.urlencode({"match[]": expr, "start": f"{start:.3f}", "end": f"{end:.3f}"})
    out = store.check_output(curl(store, 8428, f"/api/v1/export?{params}"))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def vm_query(store, expr: str) -> list:
    return get(store, 8428, "/api/v1/query", query=expr)["data"]["result"]


def app_timestamps(store, start: float, end: float) -> list[float]:
    series = vm_export(store, 'up{job="app"}', start, end)
    assert len(series) <= 1, series  # one series per target (one app target here)
    return sorted(t / 1000 for s in series for t in s["timestamps"])


def largest_gap(stamps: list[float]) -> float:
    return max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=float("inf"))


def remote_counters(monitor) -> dict[str, float]:
    """The remote-write counters of a replica's own /metrics, summed over its queues."""
    text = monitor.check_output(curl(monitor, 9090, "/metrics"))
    sums: dict[str, float] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.startswith("prometheus_remote_storage_samples_") and name.endswith("_total"):
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


@pytest.fixture(scope="module")
def hosts():
    return {name: other(name) for name in (MON1, MON2, STORE, APP)}


def test_store_runs_hardened_on_its_address(hosts):
    store = hosts[STORE]
    assert_enabled_system_service(store, "victoriametrics", "victoriametrics")
    assert_listens_on_host_address_only(store, 8428)
    assert security_score(store, "victoriametrics") <= 2.0
    args = store.check_output("systemctl show -p ExecStart --value victoriametrics")
    assert f"-dedup.minScrapeInterval={INTERVAL}s" in args and "-retentionPeriod=2d" in args


def test_both_replicas_write_without_failures(hosts):
    before = {m: remote_counters(hosts[m]) for m in (MON1, MON2)}
    time.sleep(3 * INTERVAL)
    for m in (MON1, MON2):
        after = remote_counters(hosts[m])
        assert after["prometheus_remote_storage_samples_total"] > before[m]["prometheus_remote_storage_samples_total"], m
        assert after.get("prometheus_remote_storage_samples_failed_total", 0) == 0, (m, after)


def test_store_holds_one_series_per_target_one_sample_per_interval(hosts):
    store = hosts[STORE]
    series = wait_for(lambda: vm_query(store, 'up{job="app"}'), 60, what="up{job=app} in the store")
    assert len(series) == 1, series
    labels = series[0]["metric"]
    # Both replicas write it: the shared cluster label, no replica label (dropped on the way).
    assert labels.get("cluster") == "ha" and "replica" not in labels, labels
    # Both replicas' samples count once: about 12 per minute at a 5 s interval, not 24. Never
    # more than that; at least 10 once the window holds a full minute of steady scraping (a fast
    # idempotence run can start the tests less than a minute after the converge's last restart).
    counts: list[float] = []

    def steady() -> bool:
        counts.append(float(vm_query(store, 'count_over_time(up{job="app"}[60s])')[0]["value"][1]))
        assert counts[-1] <= 60 / INTERVAL + 1, counts
        return counts[-1] >= 60 / INTERVAL - 2

    assert poll(steady, 90, interval=INTERVAL), f"never a full minute of samples in 90 s: counts {counts}"


def test_failover_keeps_the_store_fed(hosts):
    mon1, store = hosts[MON1], hosts[STORE]
    mon1.check_output("systemctl stop prometheus")
    stopped = time.time()
    try:
        # Fresh samples keep arriving from monitor2 alone.
        wait_for(lambda: (lambda s: s and s[-1] > stopped + 3 * INTERVAL)(app_timestamps(store, stopped - 60, time.time())),
                 90, what="samples newer than the stop from the remaining replica")
        stamps = app_timestamps(store, stopped - 60, time.time())
        assert largest_gap(stamps) <= 2 * INTERVAL, stamps
    finally:
        mon1.check_output("systemctl start prometheus")
    wait_for(lambda: mon1.run(curl(mon1, 9090, "/-/ready")).rc == 0, 60, what="monitor1 ready")


def test_store_outage_is_replayed_from_the_wal(hosts):
    store = hosts[STORE]
    before_outage = app_timestamps(store, time.time() - 600, time.time())
    store.check_output("systemctl stop victoriametrics")
    stopped = time.time()
    time.sleep(60)
    store.check_output("systemctl start victoriametrics")
    started = time.time()
    wait_for(lambda: store.run(curl(store, 8428, "/health")).rc == 0, 60, what="store healthy")

    # The samples of the outage arrive after the WAL replay: no gap over the outage.
    def replayed():
        stamps = app_timestamps(store, stopped - 30, started + 15)
        return stamps if stamps and stamps[-1] >= started + 5 and largest_gap(stamps) <= 2 * INTERVAL else None
    stamps = poll(replayed, timeout=90, interval=5)
    assert stamps, app_timestamps(store, stopped - 30, started + 15)
    # The data directory survived the restart: the samples before the outage are still there.
    assert app_timestamps(store, before_outage[0], before_outage[-1])[:3] == before_outage[:3]


def test_alertmanagers_form_one_cluster_and_share_silences(hosts):
    mon1, mon2 = hosts[MON1], hosts[MON2]
    for m in (mon1, mon2):
        # Gossip on the cluster port of the host's own address; in cluster mode the unit may
        # also enumerate interfaces (AF_NETLINK) and must still score <= 2.0.
        assert_listens_on_host_address_only(m, 9094)
        assert security_score(m, "alertmanager") <= 2.0
        wait_for(lambda m=m: (lambda c: c["status"] == "ready" and len(c.get("peers") or []) == 2)(
            get(m, 9093, "/api/v2/status")["cluster"]), 60, what=f"cluster of 2 seen by {m.backend.host}")
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    silence = get(mon1, 9093, "/api/v2/silences", "POST", {
        "matchers": [{"name": "alertname", "value": "HaGossip", "isRegex": False, "isEqual": True}],
        "startsAt": time.strftime(fmt, time.gmtime(time.time() - 60)),
        "endsAt": time.strftime(fmt, time.gmtime(time.time() + 600)),
        "createdBy": "molecule", "comment": "created on monitor1"})["silenceID"]
    wait_for(lambda: silence in [s["id"] for s in get(mon2, 9093, "/api/v2/silences")], 30,
             what="the silence on monitor2")


def test_gossip_is_mutual_tls_with_the_stacks_certificates(hosts):
    """The members gossip over TLS (the role's default where pki ran): the gossip port presents
    the host certificate, verified by address against the stack's CA, and refuses a client
    without a certificate of its own (TLS 1.3 alert "certificate required", curl exit 56)."""
    mon1, mon2 = hosts[MON1], hosts[MON2]
    assert "--cluster.tls-config=/etc/alertmanager/cluster-tls.yml" in mon1.check_output(
        "systemctl show -p ExecStart --value alertmanager")
    gossip = f"{host_address(mon1)}:9094"
    verified = mon2.run(f"openssl s_client -connect {gossip} -CAfile {CA_FILE} -verify_return_error "
                        f"-verify_ip {host_address(mon1)} </dev/null")
    assert "Verify return code: 0 (ok)" in verified.stdout, verified.stdout + verified.stderr
    anonymous = mon2.run(f"curl -sS -m 10 --cacert {CA_FILE} https://{gossip}/")
    assert anonymous.rc == 56 and "certificate required" in anonymous.stderr, (anonymous.rc, anonymous.stderr)


def test_every_endpoint_refuses_a_request_without_credentials(hosts):
    """401 without credentials, 200 with them, on every endpoint of the scenario (TLS verified
    against the stack's CA both times): the store's query API included."""
    checks = [(MON1, 9090, "/api/v1/query?query=up"), (MON2, 9093, "/api/v2/status"),
              (STORE, 8428, "/api/v1/query?query=up"), (APP, 8000, "/metrics"), (APP, 9100, "/metrics")]
    for name, port, path in checks:
        h = hosts[name]
        codes = [h.check_output(curl(h, port, path, options="-s -o /dev/null -w '%{http_code}'", auth=auth))
                 for auth in (False, True)]
        assert codes == ["401", "200"], (name, port, codes)


def test_every_replica_sends_to_every_alertmanager(hosts):
    for m in (MON1, MON2):
        ams = get(hosts[m], 9090, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        assert sorted(a["url"].split("//")[1].split(":")[0] for a in ams) == sorted(
            host_address(hosts[x]) for x in (MON1, MON2)), ams


def _app_down_notifications(monitors, status: str) -> list[dict]:
    found = []
    for m in monitors:
        if not m.file(WEBHOOK_LOG).exists:
            continue
        for line in m.file(WEBHOOK_LOG).content_string.splitlines():
            body = json.loads(line)
            alerts = [a for a in body["alerts"] if a["labels"].get("alertname") == "AppDown" and a["status"] == status]
            if alerts and body["status"] == status:
                found.append({"host": m.backend.host, "alerts": alerts})
    return found


def test_alert_through_the_cluster_is_delivered_exactly_once(hosts):
    mon1, mon2, app = hosts[MON1], hosts[MON2], hosts[APP]
    monitors = [mon1, mon2]
    assert not _app_down_notifications(monitors, "firing")
    mon2.check_output("systemctl stop alertmanager")
    try:
        app.check_output("systemctl stop monitored-app")
        try:
            wait_for(lambda: _app_down_notifications(monitors, "firing"), 120, 3, "AppDown at the webhook receiver")
            time.sleep(4 * INTERVAL)  # a second copy (the other replica's) would arrive by now
        finally:
            app.check_output("systemctl start monitored-app")
        wait_for(lambda: _app_down_notifications(monitors, "resolved"), 120, 3, "the resolved AppDown")
        time.sleep(2 * INTERVAL)
        firing, resolved = _app_down_notifications(monitors, "firing"), _app_down_notifications(monitors, "resolved")
        # Two replicas sent the alert; the cluster delivered it once, without the replica label.
        assert len(firing) == 1 and len(firing[0]["alerts"]) == 1, firing
        assert len(resolved) == 1 and len(resolved[0]["alerts"]) == 1, resolved
        labels = firing[0]["alerts"][0]["labels"]
        assert "replica" not in labels and labels.get("cluster") == "ha", labels
    finally:
        mon2.check_output("systemctl start alertmanager")


PLAYBOOKS = REPO / "playbooks"


@pytest.mark.parametrize(("playbook", "unit", "files", "bad_vars", "expected"), [
    ("prometheus.yml", "prometheus", ["/etc/prometheus/prometheus.yml"],
     {"prometheus_remote_write": [{"url": "store.example.com:8428/api/v1/write"}]},
     ["prometheus_remote_write[0].url", "must start with http:// or https://"]),
    ("prometheus.yml", "prometheus", ["/etc/prometheus/prometheus.yml"],
     {"prometheus_replica": "same"}, ["prometheus_replica must differ", MON1, MON2]),
    ("alertmanager.yml", "alertmanager", ["/etc/alertmanager/alertmanager.yml"],
     {"alertmanager_cluster_peers": ["192.0.2.1:9094"]}, ["alertmanager_cluster_peers: 192.0.2.1:9094"]),
    ("alertmanager.yml", "alertmanager", ["/etc/alertmanager/alertmanager.yml", "/etc/alertmanager/cluster-tls.yml"],
     {"alertmanager_cluster_tls_config": {"tls_server_config": {"cert_file": "/etc/monitoring-stack/tls/host.crt"}}},
     ["alertmanager_cluster_tls_config.tls_server_config needs both cert_file and key_file",
      "alertmanager_cluster_tls_config needs tls_server_config and tls_client_config"]),
], ids=["remote-write-url-without-scheme", "duplicate-replica", "peer-not-in-group", "gossip-tls-without-key-or-client"])
def test_bad_input_fails_before_any_change(hosts, playbook, unit, files, bad_vars, expected):
    # The whole inventory (as users run it): each monitor reads the others' published endpoints.
    paths = [*files, f"/etc/systemd/system/{unit}.service"]
    before = {m: unit_snapshot(hosts[m], unit, paths) for m in (MON1, MON2)}
    result = run_playbook(PLAYBOOKS / playbook, "all", bad_vars)
    assert result.returncode != 0 and result.failures, str(result)
    assert result.changed == 0, str(result)
    assert {m: unit_snapshot(hosts[m], unit, paths) for m in (MON1, MON2)} == before
    for text in expected:
        assert text in result.failure_text, result.failure_text
    # Only the bad variable is reported: the contract is complete.
    assert "is not published" not in result.failure_text, result.failure_text
