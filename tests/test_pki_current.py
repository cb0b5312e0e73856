"""plugins/filter/tls.py, pki_internal_current: a re-run skips roles/pki's community.crypto steps
only where the controller's CA and host certificate are exactly what those steps make. Every
difference the modules would act on answers False (the modules then run and decide). The files
here are made the way community.crypto makes them (key identifiers included); the Molecule pki
scenario checks the same comparison against the modules' own files (its re-run changes
nothing, and its near-expiry case is re-issued)."""
from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from filter_plugins import load_filter_plugin

tls = load_filter_plugin("tls")

PASSPHRASE = "a-passphrase-of-some-length"
NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
SANS = ["DNS:mon1.internal", "IP:10.0.0.5"]


def _usage(**on: bool) -> x509.KeyUsage:
    fields = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{f: on.get(f, False) for f in fields})


def _write(path: Path, data: bytes, mode: int) -> None:
    path.write_bytes(data)
    os.chmod(path, mode)


def _ca(d: Path, key: ec.EllipticCurvePrivateKey | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = key or ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitoring-stack internal CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (d / "hosts").mkdir(mode=0o700, exist_ok=True)
    _write(d / "ca.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(PASSPHRASE.encode())), 0o600)
    _write(d / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _host(d: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, sans: list[str] = SANS,
          days: int = 365, eku: list[x509.ObjectIdentifier] | None = None) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address(s[3:])) if s.startswith("IP:") else x509.DNSName(s[4:])
             for s in sans]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mon1")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(d / "hosts" / "mon1.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), 0o600)
    _write(d / "hosts" / "mon1.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _args(d: Path, **host: object) -> tuple[dict[str, object], dict[str, object]]:
    ca = {"dir": str(d), "key": str(d / "ca.key"), "cert": str(d / "ca.crt"), "passphrase": PASSPHRASE,
          "common_name": "monitoring-stack internal CA"}
    return ca, {"key": str(d / "hosts/mon1.key"), "cert": str(d / "hosts/mon1.crt"), "common_name": "mon1",
                "subject_alt_names": SANS, "renew_days": 30, **host}


@pytest.fixture
def issued(tmp_path: Path) -> Path:
    ca, ca_key = _ca(tmp_path)
    _host(tmp_path, ca, ca_key)
    return tmp_path


def test_files_as_the_steps_make_them_are_current(issued):
    assert tls.pki_internal_current(*_args(issued), now=NOW) == {"ca": True, "host": True}


@pytest.mark.parametrize("change", [
    {"subject_alt_names": SANS + ["DNS:added.internal"]},  # a name added to pki_extra_names
    {"subject_alt_names": SANS[::-1]},  # the order the request lists them in
    {"common_name": "mon2"},
    {"renew_days": 400},  # within the renewal window
])
def test_what_the_host_asks_for_differs(issued, change):
    assert tls.pki_internal_current(*_args(issued, **change), now=NOW) == {"ca": True, "host": False}


def test_a_missing_or_loosened_host_file(issued):
    os.chmod(issued / "hosts/mon1.key", 0o640)
    assert tls.pki_internal_current(*_args(issued), now=NOW)["host"] is False
    os.chmod(issued / "hosts/mon1.key", 0o600)
    (issued / "hosts/mon1.crt").unlink()
    assert tls.pki_internal_current(*_args(issued), now=NOW) == {"ca": True, "host": False}


def test_a_certificate_of_other_extensions_or_another_ca(issued):
    ca, ca_key = _ca(issued)  # a new CA key and certificate: the host's signature no longer verifies
    assert tls.pki_internal_current(*_args(issued), now=NOW) == {"ca": True, "host": False}
    _host(issued, ca, ca_key, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert tls.pki_internal_current(*_args(issued), now=NOW) == {"ca": True, "host": False}
    _host(issued, ca, ca_key)
    assert tls.pki_internal_current(*_args(issued), now=NOW) == {"ca": True, "host": True}


def test_the_ca_checks_gate_the_host(issued):
    ca, host = _args(issued)
    assert tls.pki_internal_current({**ca, "passphrase": "another passphrase"}, host, now=NOW) == \
        {"ca": False, "host": False}
    assert tls.pki_internal_current({**ca, "common_name": "renamed CA"}, host, now=NOW)["ca"] is False
    os.chmod(issued / "hosts", 0o755)
    assert tls.pki_internal_current(ca, host, now=NOW)["ca"] is False
