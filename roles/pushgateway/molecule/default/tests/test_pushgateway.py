"""Pushgateway, verified against the running service in each container."""
import hashlib
import shutil
import uuid

import pytest

from conftest import (
    ARTIFACT_CACHE,
    assert_enabled_system_service,
    assert_listens_on_host_address_only,
    host_address,
    main_pid,
    poll,
    role_defaults,
    run_failing_without_change,
    run_playbook,
    security_score,
)

UNIT = "pushgateway"


def gateway_url(host) -> str:
    # The role listens on the host's primary address by default.
    return "http://" + host_address(host) + ":9091"


def test_service_enabled_and_running_as_its_own_system_user(host):
    assert_enabled_system_service(host, UNIT, "pushgateway")


def test_listens_on_the_host_address_only(host):
    assert_listens_on_host_address_only(host, 9091)


def test_admin_api_is_off(host):
    # Without --web.enable-admin-api the route does not exist; a push to the API still works.
    code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' -X PUT {gateway_url(host)}/api/v1/admin/wipe")
    assert code == "404", code


def test_pushed_metric_survives_restart(host):
    """A group pushed once (a unique job, nothing re-pushes it) is back after a restart: it came
    from the persistence file, not from a later push."""
    url = gateway_url(host)
    job = f"molecule_{uuid.uuid4().hex[:12]}"
    sample = f'molecule_probe_value{{instance="{host.backend.host}",job="{job}"}} 42'
    code = host.check_output(
        f"printf 'molecule_probe_value 42\\n' | curl -s -o /dev/null -w '%{{http_code}}' --data-binary @- "
        f"{url}/metrics/job/{job}/instance/{host.backend.host}")
    assert code == "200", code  # Pushgateway answers a POST push with 200
    assert sample in host.check_output(f"curl -sf {url}/metrics")

    pid = main_pid(host, UNIT)
    host.check_output(f"systemctl restart {UNIT}")
    assert poll(lambda: host.run(f"curl -sf {url}/-/ready").rc == 0), "not ready after the restart"
    assert main_pid(host, UNIT) != pid
    assert sample in host.check_output(f"curl -sf {url}/metrics")
    host.check_output(f"curl -sf -X DELETE {url}/metrics/job/{job}/instance/{host.backend.host}")


def test_unit_is_hardened(host):
    assert security_score(host, UNIT) <= 2.0


@pytest.mark.parametrize("bad_vars, variable", [
    ({"pushgateway_web_listen_address": "127.0.0.1"}, "pushgateway_web_listen_address"),
    ({"pushgateway_web_listen_address": "127.0.0.1:abc"}, "pushgateway_web_listen_address"),
    ({"pushgateway_web_listen_address": "127.0.0.1:70000"}, "pushgateway_web_listen_address"),
    ({"pushgateway_persistence_interval": "soon"}, "pushgateway_persistence_interval"),
    ({"pushgateway_enable_admin_api": "perhaps"}, "pushgateway_enable_admin_api"),
])
def test_bad_input_fails_before_any_change(one_host, converge_playbook, bad_vars, variable):
    files = ["/etc/systemd/system/pushgateway.service", "/usr/local/bin/pushgateway"]
    assert variable in run_failing_without_change(one_host, converge_playbook, UNIT, files, bad_vars)


@pytest.mark.parametrize("archive_content", [None, b"not the release archive"], ids=["missing", "corrupt"])
def test_an_archive_missing_from_the_cache_or_corrupt_fails_before_any_change(one_host, converge_playbook, tmp_path,
                                                                             archive_content):
    """Offline, with a cache whose checksum file is the real one but whose archive is missing or
    is not the file the checksum file lists: the run stops on the controller (binary_service's
    fetch step), naming the file, and the host is as it was."""
    version = role_defaults("pushgateway")["pushgateway_version"]
    real = ARTIFACT_CACHE / "pushgateway" / version
    archive = next(real.glob("pushgateway-*.tar.gz")).name
    cache = tmp_path / "pushgateway" / version
    cache.mkdir(parents=True)
    shutil.copy(real / "sha256sums.txt", cache)
    if archive_content is not None:
        (cache / archive).write_bytes(archive_content)
    files = ["/etc/systemd/system/pushgateway.service", "/usr/local/bin/pushgateway"]
    message = run_failing_without_change(one_host, converge_playbook, UNIT, files, {"binary_service_cache_dir": str(tmp_path)},
                                         not_reached="Create the system user (no login shell, no home)")
    if archive_content is None:
        assert f"the artifact cache lacks {cache / archive}" in message, message
    else:
        assert f"{cache / archive} has sha256 {hashlib.sha256(archive_content).hexdigest()}, expected " in message, message


def test_a_restart_that_did_not_end_healthy_is_redone_by_the_next_run(host, converge_playbook):
    """The run that changes the unit fails after the restart (its health check cannot pass):
    the next run sees no change, yet must restart again and see the service healthy."""
    changed = {"pushgateway_persistence_interval": "7m"}
    failing = run_playbook(converge_playbook, host.backend.host,
                           {**changed, "binary_service_health_url": "http://127.0.0.1:9/", "binary_service_health_retries": 2})
    assert failing.returncode != 0
    assert host.file(f"/run/monitoring-stack/restart-pending/{UNIT}").exists
    before = main_pid(host, UNIT)
    again = run_playbook(converge_playbook, host.backend.host, changed)
    assert again.returncode == 0, str(again)
    assert main_pid(host, UNIT) != before
    assert not host.file(f"/run/monitoring-stack/restart-pending/{UNIT}").exists
    assert "--persistence.interval=7m" in host.check_output(f"cat /proc/{main_pid(host, UNIT)}/cmdline | tr '\\0' ' '")
    # Back to the scenario's settings (a restart, then nothing pending).
    assert run_playbook(converge_playbook, host.backend.host).returncode == 0
    assert not host.file(f"/run/monitoring-stack/restart-pending/{UNIT}").exists
