"""Blackbox exporter, verified against the running service in each container.

Every probe target is local to the container under test (see prepare.yml): a small server on
127.0.0.1:8080 (HTTP) and 127.0.0.1:8443 (HTTPS, self-signed certificate the system trusts),
a closed port 127.0.0.1:9 and ICMP to 127.0.0.1.
"""
import time
from datetime import UTC, datetime

import pytest
import yaml

from conftest import (
    assert_enabled_system_service,
    assert_listens_on_host_address_only,
    host_address,
    main_pid,
    run_failing_without_change,
    run_playbook,
    security_score,
)

UNIT = "blackbox_exporter"
CONFIG = "/etc/blackbox_exporter/blackbox.yml"
WEB_CONFIG = "/etc/blackbox_exporter/web.yml"
FILES = ["/etc/systemd/system/blackbox_exporter.service", "/usr/local/bin/blackbox_exporter", CONFIG]
HTTP = "http://127.0.0.1:8080"
HTTPS = "https://127.0.0.1:8443"
CERT = "/opt/molecule-testserver/cert.pem"
CAP_NET_RAW = 1 << 13
# converge.yml adds this module; runs that set blackbox_extra_modules keep it.
ICMP_RAW = {"icmp_raw": {"prober": "icmp", "timeout": "5s",
                         "icmp": {"preferred_ip_protocol": "ip4", "dont_fragment": True}}}


def listen(host) -> str:
    # The role listens on the host's primary address by default.
    return host_address(host) + ":9115"


def probe(host, module: str, target: str, address: str = "", curl_args: str = "") -> dict[str, float]:
    """Run one probe through the exporter; the metrics without labels, by name."""
    out = host.check_output(
        f"curl -sf {curl_args} 'http://{address or listen(host)}/probe?module={module}&target={target}'")
    metrics = {}
    for line in out.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    return metrics


def http_code(host, url: str, curl_args: str = "") -> str:
    return host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {curl_args} '{url}'")


def test_service_enabled_and_running_as_its_own_system_user(host):
    assert_enabled_system_service(host, UNIT, "blackbox_exporter")


def test_listens_on_the_host_address_only(host):
    assert_listens_on_host_address_only(host, 9115)


def test_config_file_holds_the_merged_modules(host):
    config = host.file(CONFIG)
    assert config.user == "root"
    assert config.group == "blackbox_exporter"
    assert config.mode == 0o640
    modules = yaml.safe_load(config.content_string)["modules"]
    assert set(modules) == {"http_2xx", "http_post_2xx", "https_2xx", "tcp_connect", "icmp", "icmp_raw"}
    assert modules["https_2xx"]["http"]["fail_if_not_ssl"] is True


def test_http_probe_of_a_local_server_succeeds(host):
    assert probe(host, "http_2xx", f"{HTTP}/")["probe_success"] == 1


def test_http_post_module_posts(host):
    # /post-only answers 405 to GET and 200 to POST.
    assert probe(host, "http_post_2xx", f"{HTTP}/post-only")["probe_success"] == 1
    assert probe(host, "http_2xx", f"{HTTP}/post-only")["probe_success"] == 0


def test_https_module_requires_tls_and_exposes_the_certificate_expiry(host):
    metrics = probe(host, "https_2xx", f"{HTTPS}/")
    assert metrics["probe_success"] == 1
    not_after = host.check_output(f"openssl x509 -noout -enddate -in {CERT}").split("=", 1)[1]
    expiry = datetime.strptime(not_after, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    assert metrics["probe_ssl_earliest_cert_expiry"] == expiry.timestamp()
    # Plain HTTP is a failure for https_2xx (fail_if_not_ssl).
    assert probe(host, "https_2xx", f"{HTTP}/")["probe_success"] == 0


def test_tcp_probe_of_a_closed_port_fails(host):
    assert probe(host, "tcp_connect", "127.0.0.1:9")["probe_success"] == 0
    assert probe(host, "tcp_connect", "127.0.0.1:8080")["probe_success"] == 1


def test_unknown_module_is_rejected(host):
    assert http_code(host, f"http://{listen(host)}/probe?module=nope&target=127.0.0.1") == "400"


def test_icmp_works_without_root_through_the_ambient_capability(host):
    status = host.file(f"/proc/{main_pid(host, UNIT)}/status").content_string
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines() if line.startswith("Cap")}
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    # Only CAP_NET_RAW, and only because icmp modules are configured.
    assert caps["CapAmb"] == caps["CapEff"] == caps["CapBnd"] == CAP_NET_RAW
    assert probe(host, "icmp", "127.0.0.1")["probe_success"] == 1
    # dont_fragment needs a raw socket: this one cannot fall back to an unprivileged ping socket.
    assert probe(host, "icmp_raw", "127.0.0.1")["probe_success"] == 1


def test_raw_icmp_fails_without_the_capability(host):
    """Control: the same binary, user and config without CAP_NET_RAW cannot open a raw socket.

    The plain icmp module still works there because Docker sets net.ipv4.ping_group_range to
    "0 2147483647" in containers (unprivileged ping sockets); that is why icmp_raw exists.
    """
    host.check_output(
        "systemd-run --unit=molecule-blackbox-nocap -p User=blackbox_exporter -p Group=blackbox_exporter "
        f"/usr/local/bin/blackbox_exporter --config.file={CONFIG} --web.listen-address=127.0.0.1:19115")
    try:
        for _ in range(30):
            if host.run("curl -sf http://127.0.0.1:19115/-/healthy").rc == 0:
                break
            time.sleep(1)
        assert probe(host, "icmp_raw", "127.0.0.1", address="127.0.0.1:19115")["probe_success"] == 0
    finally:
        host.run("systemctl stop molecule-blackbox-nocap")


def test_unit_is_hardened(host):
    assert security_score(host, UNIT) <= 2.0


@pytest.mark.parametrize("bad_vars, expected", [
    ({"blackbox_extra_modules": {"bad": {"prober": "nope"}}}, '"bad"'),
    ({"blackbox_extra_modules": {"noprober": {"timeout": "5s"}}}, '"noprober"'),
    ({"blackbox_modules": {"flat": "http"}}, '"flat"'),
    ({"blackbox_extra_modules": "icmp"}, "blackbox_extra_modules"),
    ({"blackbox_web_listen_address": "127.0.0.1"}, "blackbox_web_listen_address"),
])
def test_bad_input_fails_before_any_change(one_host, converge_playbook, bad_vars, expected):
    output = run_failing_without_change(one_host, converge_playbook, UNIT, FILES, bad_vars)
    assert expected in output.replace('\\"', '"')


def test_config_rejected_by_config_check_never_goes_live(host, converge_playbook):
    """A module with a known prober but an invalid body passes the role's checks; the binary's
    --config.check (template validate) must keep it from replacing the live config."""
    bad = {**ICMP_RAW, "slow": {"prober": "http", "timeout": "soon"}}
    output = run_failing_without_change(host, converge_playbook, UNIT, FILES, {"blackbox_extra_modules": bad})
    assert "failed to validate" in output, output  # the template's validate step ...
    assert "cannot unmarshal !!str `soon` into time.Duration" in output, output  # ... with the binary's reason
    assert http_code(host, f"http://{listen(host)}/probe?module=slow&target={HTTP}/") == "400"


def wait_for_module(host, module: str, target: str, present: bool) -> None:
    """SIGHUP reloads asynchronously: give the exporter a moment to pick up the file."""
    url = f"http://{listen(host)}/probe?module={module}&target={target}"
    for _ in range(20):
        if (http_code(host, url) == "200") == present:
            return
        time.sleep(0.5)
    pytest.fail(f"module {module} {'missing' if present else 'still there'} after the reload")


def test_config_change_reloads_without_restart(host, converge_playbook):
    pid = main_pid(host, UNIT)
    extra = {**ICMP_RAW, "tcp_molecule": {"prober": "tcp", "timeout": "3s", "tcp": {"preferred_ip_protocol": "ip4"}}}
    result = run_playbook(converge_playbook, host.backend.host, {"blackbox_extra_modules": extra})
    assert result.returncode == 0, str(result)
    wait_for_module(host, "tcp_molecule", "127.0.0.1:8080", present=True)
    assert probe(host, "tcp_molecule", "127.0.0.1:8080")["probe_success"] == 1
    assert main_pid(host, UNIT) == pid

    # Back to the converged modules: reloaded again, still the same process.
    result = run_playbook(converge_playbook, host.backend.host)
    assert result.returncode == 0, str(result)
    wait_for_module(host, "tcp_molecule", "127.0.0.1:8080", present=False)
    assert main_pid(host, UNIT) == pid


def test_basic_auth_web_config(host, converge_playbook):
    url = f"http://{listen(host)}/probe?module=http_2xx&target={HTTP}/"
    web = {"basic_auth_users": {"molecule": "probe-secret"}}
    result = run_playbook(converge_playbook, host.backend.host, {"blackbox_web_config": web})
    try:
        assert result.returncode == 0, str(result)
        web_yml = host.file(WEB_CONFIG)
        assert (web_yml.user, web_yml.group, web_yml.mode) == ("root", "blackbox_exporter", 0o640)
        assert "probe-secret" not in web_yml.content_string
        assert http_code(host, url) == "401"
        assert http_code(host, url, "-u molecule:wrong") == "401"
        assert probe(host, "http_2xx", f"{HTTP}/", curl_args="-u molecule:probe-secret")["probe_success"] == 1
    finally:
        result = run_playbook(converge_playbook, host.backend.host)
    assert result.returncode == 0, str(result)
    assert not host.file(WEB_CONFIG).exists
    assert http_code(host, url) == "200"
