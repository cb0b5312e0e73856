"""TLS certificates from the internal CA, proven with real TLS handshakes: a server on the
container presents its certificate, a client on another machine (the controller running these
tests) verifies it by the container's address against the CA the role made (and fails against
another CA)."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import host_address, poll, run_failing_without_change, run_playbook

CA_DIR = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki"
TLS_DIR = "/etc/monitoring-stack/tls"
PORT = 9443
CA_PASSPHRASE = "molecule-ca-passphrase"  # converge.yml's pki_ca_passphrase


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


def test_the_certificate_holds_the_names_clients_use_and_no_other(host):
    """The contract host (here the inventory name), the primary address; nothing else. (The
    names were once resolved in the controller's context, which added "localhost".)"""
    text = host.check_output(f"openssl x509 -noout -ext subjectAltName -in {TLS_DIR}/host.crt")
    names = sorted(part.strip() for part in text.splitlines()[-1].split(","))
    assert names == sorted([f"DNS:{host.backend.host}", f"IP Address:{host_address(host)}"]), text


def test_the_ca_key_never_leaves_the_controller(host):
    assert "PRIVATE KEY" not in host.check_output(f"cat {TLS_DIR}/ca.crt {TLS_DIR}/host.crt")
    assert host.run(f"grep -rl 'ENCRYPTED PRIVATE KEY' {TLS_DIR}").rc == 1
    # On the controller the CA key is encrypted with pki_ca_passphrase.
    assert "ENCRYPTED PRIVATE KEY" in (CA_DIR / "ca.key").read_text()


def curl_from_the_controller(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args],
                          capture_output=True, text=True, timeout=30)


def test_a_client_on_another_machine_verifies_the_certificate_by_address(host, tmp_path):
    """A TLS server with the host's key and certificate, reached by the host's primary address
    from the controller: verified against the CA the role made (curl exit 0, HTTP 200); a client
    trusting another CA refuses it (curl exit 60: certificate problem), and so does a client that
    asks for a name the certificate does not hold."""
    address = host_address(host)
    unit = f"tls-probe-{uuid.uuid4().hex[:8]}"
    host.check_output(
        f"systemd-run --unit {unit} --property=Group=monitoring-tls --property=User=nobody "
        f"openssl s_server -quiet -www -accept {PORT} -cert {TLS_DIR}/host.crt -key {TLS_DIR}/host.key")
    try:
        assert poll(lambda: host.run(f"ss -Htln 'sport = :{PORT}'").stdout.strip()), "s_server did not listen"
        # The CA certificate the hosts trust is the one the role installed from the controller's CA.
        assert host.file(f"{TLS_DIR}/ca.crt").content_string == (CA_DIR / "ca.crt").read_text()
        ok = curl_from_the_controller("--cacert", str(CA_DIR / "ca.crt"), f"https://{address}:{PORT}/")
        assert (ok.returncode, ok.stdout) == (0, "200"), ok.stderr
        # A client that trusts another CA only.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=other-ca", "-days", "1", "-keyout", str(tmp_path / "other-ca.key"),
                        "-out", str(tmp_path / "other-ca.crt")], check=True, capture_output=True)
        bad = curl_from_the_controller("--cacert", str(tmp_path / "other-ca.crt"), f"https://{address}:{PORT}/")
        assert bad.returncode == 60, (bad.returncode, bad.stderr)
        # By a name the certificate does not hold: refused too (exit 60).
        wrong = curl_from_the_controller("--cacert", str(CA_DIR / "ca.crt"), "--resolve", f"wrong.invalid:{PORT}:{address}",
                                         f"https://wrong.invalid:{PORT}/")
        assert wrong.returncode == 60, (wrong.returncode, wrong.stderr)
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


@pytest.fixture(scope="module")
def another_host_files(tmp_path_factory) -> tuple[str, str]:
    """A certificate and key the scenario's CA issued for another host (a name this scenario
    never resolves), made with openssl on the controller; its serial file stays in the temporary
    directory, not in the role's CA directory."""
    d = tmp_path_factory.mktemp("another-host")
    (d / "san.ext").write_text("subjectAltName=DNS:another-host.invalid\nextendedKeyUsage=serverAuth,clientAuth\n")
    for cmd in (
        f"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=another-host.invalid "
        f"-keyout {d}/host.key -out {d}/host.csr",
        f"openssl x509 -req -in {d}/host.csr -CA {CA_DIR}/ca.crt -CAkey {CA_DIR}/ca.key -passin pass:{CA_PASSPHRASE} "
        f"-CAserial {d}/ca.srl -CAcreateserial -days 2 -extfile {d}/san.ext -out {d}/host.crt",
    ):
        subprocess.run(cmd.split(), check=True, capture_output=True)
    return str(d / "host.crt"), str(d / "host.key")


@pytest.mark.parametrize("case, expected", [
    ("ca-missing", "pki_ca_cert_src: /nonexistent/ca.crt does not exist"),
    ("key-of-another-host", "pki_key_src"),
    ("certificate-of-another-host", "pki_cert_src"),
    ("certificate-without-key", "pki_key_src is empty"),
    ("weak-passphrase", "pki_ca_passphrase"),
])
def test_bad_input_fails_naming_the_variable_before_any_change(one_host, another_host_files, converge_playbook, case,
                                                             expected):
    peer_cert, peer_key = another_host_files
    extra = {
        "ca-missing": _files(one_host, pki_ca_cert_src="/nonexistent/ca.crt"),
        "key-of-another-host": _files(one_host, pki_key_src=peer_key),
        "certificate-of-another-host": _files(one_host, pki_cert_src=peer_cert, pki_key_src=peer_key),
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
