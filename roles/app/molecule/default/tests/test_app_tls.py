"""The app's secure shape: gunicorn serves TLS and /metrics asks for basic auth
(app_web_config), proven with real requests; then the plain shape is restored."""
from __future__ import annotations

from conftest import host_address, run_playbook

CERT, KEY = "/etc/monitored-app-test.crt", "/etc/monitored-app-test.key"
PASSWORD = "app-scrape-password-0123"
USERS_FILE = "/opt/monitored-app/metrics-users"


def _code(host, url: str, *options: str) -> tuple[int, str]:
    out = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' {' '.join(options)} {url}")
    return out.rc, out.stdout


def test_tls_and_basic_auth_on_metrics(one_host, converge_playbook):
    host, address = one_host, host_address(one_host)
    # A certificate for the host's address, readable by the app's group only.
    host.check_output(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=app "
        f"-addext subjectAltName=IP:{address} -days 1 -keyout {KEY} -out {CERT} 2>/dev/null"
        f" && chgrp monitored-app {KEY} && chmod 0640 {KEY}")
    secure = {"app_web_config": {"tls_server_config": {"cert_file": CERT, "key_file": KEY},
                                 "basic_auth_users": {"prometheus": PASSWORD}},
              "app_web_ca_file": CERT}
    base = f"https://{address}:8000"
    try:
        result = run_playbook(converge_playbook, host.backend.host, secure)
        assert result.returncode == 0, str(result)
        assert _code(host, f"{base}/health", "--cacert", CERT) == (0, "200")
        assert _code(host, f"{base}/metrics", "--cacert", CERT) == (0, "401")
        assert _code(host, f"{base}/metrics", "--cacert", CERT, "-u", "prometheus:wrong") == (0, "401")
        assert _code(host, f"{base}/metrics", "--cacert", CERT, "-u", f"prometheus:{PASSWORD}") == (0, "200")
        scraped = host.check_output(f"curl -sf --cacert {CERT} -u prometheus:{PASSWORD} {base}/metrics")
        assert "app_requests_total" in scraped
        # Not trusted without the CA (curl 60); no plain HTTP on the TLS port.
        assert _code(host, f"{base}/health")[0] == 60
        assert _code(host, f"http://{address}:8000/health")[1] != "200"
        # Stored hashed, private to the app's group; the password is nowhere on the host.
        users = host.file(USERS_FILE)
        assert (users.user, users.group, users.mode) == ("root", "monitored-app", 0o640)
        assert users.content_string.startswith("prometheus:pbkdf2_sha256$")
        assert host.run(f"grep -rlF {PASSWORD} /etc /opt/monitored-app /run 2>/dev/null").stdout == ""
        assert PASSWORD not in host.check_output("ps -eo args")
    finally:
        restore = run_playbook(converge_playbook, host.backend.host)
        assert restore.returncode == 0, str(restore)
        host.run(f"rm -f {CERT} {KEY}")
    assert _code(host, f"http://{address}:8000/metrics") == (0, "200")
    assert not host.file(USERS_FILE).exists
