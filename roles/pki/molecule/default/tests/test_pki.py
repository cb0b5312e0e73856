"""TLS certificates from the internal CA, proven with real TLS handshakes between the two
containers: a server on one host presents its certificate, the other host's client verifies it
against the CA the role installed (and fails against another CA)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from conftest import host_address, poll, run_failing_without_change, run_playbook

CA_DIR = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki"
TLS_DIR = "/etc/monitoring-stack/tls"
PORT = 9443


def other(host, hosts):
    return next(h for h in hosts if h.backend.host != host.backend.host)


@pytest.fixture(scope="module")
def hosts():
    import testinfra

    return testinfra.get_hosts(["ansible://all"], ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def serial(host) -> str:
    return host.check_output(f"openssl x509 -noout -serial -in {TLS_DIR}/host.crt")


def test_files_modes_and_key_privacy(host):
    for name in ("ca.crt", "host.crt"):
        f = host.file(f"{TLS_DIR}/{name}")
        assert (f.user, f.group, f.mode) == ("root", "root", 0o644)
    key = host.file(f"{TLS_DIR}/host.key")
    assert (key.user, key.group, key.mode) == ("root", "monitoring-tls", 0o640)
    # Someone outside the group cannot read it.
    assert host.run(f"setpriv --reuid=nobody --regid=nogroup --clear-groups cat {TLS_DIR}/host.key").rc != 0


def test_the_ca_key_never_leaves_the_controller(host):
    assert "PRIVATE KEY" not in host.check_output(f"cat {TLS_DIR}/ca.crt {TLS_DIR}/host.crt")
    assert host.run(f"grep -rl 'ENCRYPTED PRIVATE KEY' {TLS_DIR}").rc == 1
    # On the controller the CA key is encrypted with pki_ca_passphrase.
    assert "ENCRYPTED PRIVATE KEY" in (CA_DIR / "ca.key").read_text()


def test_a_client_on_the_other_host_verifies_the_certificate_by_address(host, hosts):
    """A TLS server with the host's key and certificate, reached by the host's primary address
    from the other container: verified against the installed CA (curl exit 0, HTTP 200); a client
    trusting another CA refuses it (curl exit 60: certificate problem)."""
    client = other(host, hosts)
    address = host_address(host)
    unit = f"tls-probe-{uuid.uuid4().hex[:8]}"
    host.check_output(
        f"systemd-run --unit {unit} --property=Group=monitoring-tls --property=User=nobody "
        f"openssl s_server -quiet -www -accept {PORT} -cert {TLS_DIR}/host.crt -key {TLS_DIR}/host.key")
    try:
        assert poll(lambda: host.run(f"ss -Htln 'sport = :{PORT}'").stdout.strip()), "s_server did not listen"
        ok = client.run(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {TLS_DIR}/ca.crt https://{address}:{PORT}/")
        assert (ok.rc, ok.stdout) == (0, "200"), ok.stderr
        # A client that trusts another CA only.
        client.check_output("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca "
                            "-days 1 -keyout /tmp/other-ca.key -out /tmp/other-ca.crt 2>/dev/null")
        bad = client.run(f"curl -s -o /dev/null --cacert /tmp/other-ca.crt https://{address}:{PORT}/")
        assert bad.rc == 60, (bad.rc, bad.stderr)
        # By a name the certificate does not hold: refused too (exit 60).
        wrong = client.run(f"curl -s -o /dev/null --cacert {TLS_DIR}/ca.crt "
                           f"--resolve wrong.invalid:{PORT}:{address} https://wrong.invalid:{PORT}/")
        assert wrong.rc == 60, (wrong.rc, wrong.stderr)
    finally:
        host.run(f"systemctl stop {unit}")


def test_a_certificate_near_expiry_is_reissued_and_a_valid_one_is_kept(host, converge_playbook):
    before = serial(host)
    # 400 days of renewal window against a 365-day certificate: due now.
    renewed = run_playbook(converge_playbook, host.backend.host,
                           {"pki_cert_valid_days": 500, "pki_cert_renew_days": 400})
    assert renewed.returncode == 0, str(renewed)
    after = serial(host)
    assert after != before
    assert host.run(f"openssl verify -CAfile {TLS_DIR}/ca.crt {TLS_DIR}/host.crt").rc == 0
    again = run_playbook(converge_playbook, host.backend.host)
    assert again.returncode == 0 and again.changed == 0, str(again)
    assert serial(host) == after


def _files(host, **override):
    name = host.backend.host
    files = {"pki_source": "files", "pki_ca_cert_src": str(CA_DIR / "ca.crt"),
             "pki_cert_src": str(CA_DIR / "hosts" / f"{name}.crt"), "pki_key_src": str(CA_DIR / "hosts" / f"{name}.key")}
    return {**files, **override}


@pytest.mark.parametrize("case, expected", [
    ("ca-missing", "pki_ca_cert_src: /nonexistent/ca.crt does not exist"),
    ("key-of-another-host", "pki_key_src"),
    ("certificate-of-another-host", "pki_cert_src"),
    ("certificate-without-key", "pki_key_src is empty"),
    ("weak-passphrase", "pki_ca_passphrase"),
])
def test_bad_input_fails_naming_the_variable_before_any_change(one_host, hosts, converge_playbook, case, expected):
    peer = other(one_host, hosts).backend.host
    extra = {
        "ca-missing": _files(one_host, pki_ca_cert_src="/nonexistent/ca.crt"),
        "key-of-another-host": _files(one_host, pki_key_src=str(CA_DIR / "hosts" / f"{peer}.key")),
        "certificate-of-another-host": _files(one_host, pki_cert_src=str(CA_DIR / "hosts" / f"{peer}.crt"),
                                              pki_key_src=str(CA_DIR / "hosts" / f"{peer}.key")),
        "certificate-without-key": _files(one_host, pki_key_src=""),
        "weak-passphrase": {"pki_ca_passphrase": "short"},
    }[case]
    message = run_failing_without_change(one_host, converge_playbook, "systemd-journald", [f"{TLS_DIR}/host.crt", f"{TLS_DIR}/host.key"],
                                         extra, not_reached="Copy the host key")
    assert expected in message, message
    if case == "certificate-of-another-host":
        assert f"is not valid for {one_host.backend.host}" in message, message


def test_user_supplied_files_install_as_given(one_host, converge_playbook):
    """The files source with the scenario CA's own files: nothing to change."""
    result = run_playbook(converge_playbook, one_host.backend.host, _files(one_host))
    assert result.returncode == 0 and result.changed == 0, str(result)
