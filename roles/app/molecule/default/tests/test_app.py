"""The app and its batch job, verified against the running services."""
import re
import time

import pytest

from conftest import host_address, run_failing_without_change, security_score

APP = "monitored-app"
PUSHER = "monitored-app-pusher"


def base_url(host) -> str:
    return "http://" + host_address(host)


def scrape(host) -> str:
    return host.check_output(f"curl -sf {base_url(host)}:8000/metrics")


def requests_total(metrics: str, route: str) -> float:
    pattern = re.compile(r'^app_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
    return sum(float(v) for labels, v in pattern.findall(metrics) if f'route="{route}"' in labels)


def test_app_service_active_and_enabled(host):
    svc = host.service(APP)
    assert svc.is_running and svc.is_enabled


def test_runs_as_its_own_user_with_several_workers(host):
    procs = host.process.filter(user="monitored-app", comm="gunicorn")
    assert len(procs) == 5  # master + 4 workers


def test_health(host):
    assert host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {base_url(host)}:8000/health") == "200"


def test_counter_equals_requests_across_workers(host):
    before = requests_total(scrape(host), "/health")
    n = 200
    # One connection per request (curl exits), so gunicorn spreads them over its workers.
    host.check_output(f"for i in $(seq {n}); do curl -s -o /dev/null {base_url(host)}:8000/health; done")
    after = requests_total(scrape(host), "/health")
    assert after - before == n


def test_latency_histogram_buckets_present(host):
    metrics = scrape(host)
    assert re.search(r'^app_request_latency_seconds_bucket\{.*le="0\.005".*\} ', metrics, re.M)
    assert re.search(r'^app_request_latency_seconds_bucket\{.*le="\+Inf".*\} ', metrics, re.M)


def test_404_does_not_create_series_per_url(host):
    for path in ("/nope-1", "/nope-2", "/nope-3"):
        host.run(f"curl -s -o /dev/null {base_url(host)}:8000{path}")
    metrics = scrape(host)
    assert "nope-" not in metrics


def test_timer_fires_and_gateway_has_the_batch_metrics(host):
    assert host.service(f"{PUSHER}.timer").is_enabled
    deadline = time.time() + 40
    while time.time() < deadline:
        metrics = host.check_output(f"curl -sf {base_url(host)}:9091/metrics")
        if re.search(r'^batch_random_value\{.*job="batch_job".*\} ', metrics, re.M) and \
                "batch_last_success_timestamp_seconds{" in metrics:
            break
        time.sleep(2)
    else:
        pytest.fail("batch_random_value never reached the Pushgateway:\n" + metrics)
    runs = host.check_output(f"systemctl show -p NRestarts,Result --value {PUSHER}.service")
    assert "success" in runs


@pytest.mark.parametrize("unit", [APP, PUSHER])
def test_units_are_hardened(host, unit):
    assert security_score(host, unit) <= 2.0


@pytest.mark.parametrize("bad_vars, variable", [
    ({"app_workers": 0}, "app_workers"),
    ({"app_pusher_interval": "soon"}, "app_pusher_interval"),
    ({"app_listen_address": "127.0.0.1"}, "app_listen_address"),
])
def test_bad_input_fails_before_any_change(one_host, converge_playbook, bad_vars, variable):
    files = [f"/etc/systemd/system/{APP}.service", f"/etc/systemd/system/{PUSHER}.timer"]
    assert variable in run_failing_without_change(one_host, converge_playbook, APP, files, bad_vars)


def test_host_needed_no_package_mirror(host):
    """prepare.yml removed every apt source and list before the converge: the app was installed
    without apt, and without Debian's python3-venv (the venv has pip from the wheel archive)."""
    assert host.run("apt-get -o Debug::NoLocking=1 --print-uris -qq install hello 2>&1").rc != 0
    assert host.check_output("find /var/lib/apt/lists -name '*_Packages*' | wc -l") == "0"
    assert not host.package("python3-venv").is_installed
    assert host.file("/opt/monitored-app/venv/bin/pip").exists
    installed_from = host.file("/opt/monitored-app/venv/.installed-from").content_string.strip()
    assert host.check_output("ls /opt/monitored-app/wheels") == f"{installed_from}.tar"


NO_ROUTE_PROBE = """
import errno, socket
try:
    socket.create_connection(("192.0.2.1", 80), timeout=5)  # TEST-NET-1: never a real host
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, e))
"""


def test_host_had_no_route_out(host):
    """prepare.yml refused every connection leaving the container's own network before the
    converge: an address outside it fails at once (not a timeout), while the app, which the
    converge installed and started, answers on the host's own address."""
    assert host.check_output(f"python3 -c '{NO_ROUTE_PROBE}'") == "ENETUNREACH"
    assert host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {base_url(host)}:8000/health") == "200"
