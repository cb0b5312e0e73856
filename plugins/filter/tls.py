"""TLS filters (roles/pki and the roles whose endpoints serve TLS): subject alternative names and
the checks of user-supplied certificate files, done on the controller before any host changes."""
from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported when the filter is used
    HAS_CRYPTOGRAPHY = False


def tls_san(name: str) -> str:
    """A host name or address as a subjectAltName entry: "IP:10.0.0.5", "DNS:prom1.internal"."""
    value = str(name).strip("[]")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"DNS:{value}"
    return f"IP:{value}"


def pki_key_groups(key_file: str, pki_tls: Mapping[str, Any] | None) -> list[str]:
    """The group a service needs to read its TLS key: [pki_tls.group] when the key is the pki
    role's host key (root:<group> 0640), else [] (a key of the service's own needs none).
    pki_tls is the host fact roles/pki sets, None where pki did not run."""
    if not key_file or not isinstance(pki_tls, Mapping) or key_file != pki_tls.get("key_file"):
        return []
    return [str(pki_tls["group"])]


def _names_of(cert: Any) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | \
           {str(v) for v in san.get_values_for_type(x509.IPAddress)}


def _signed_by(cert: Any, ca: Any) -> bool:
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            cert.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001 - any verification failure means "not signed by this CA"
        return False
    return bool(cert.issuer == ca.subject)


def tls_file_errors(files: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """files: {variable name: controller path} for the CA certificate, the host certificate and
    its key, in that order (e.g. pki_ca_cert_src, pki_cert_src, pki_key_src). names: what clients
    connect to (the contract's host). One message per problem, naming the variable the user set."""
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("tls_file_errors needs the 'cryptography' package on the controller")
    (ca_var, ca_path), (cert_var, cert_path), (key_var, key_path) = list(files.items())
    errors: list[str] = []
    for var, path in ((ca_var, ca_path), (cert_var, cert_path), (key_var, key_path)):
        if not path:
            errors.append(f"{var} is empty: give the CA certificate, the host certificate and its key together.")
        elif not os.path.isfile(path):
            errors.append(f"{var}: {path} does not exist on the controller.")
    if errors:
        return errors
    loaded: dict[str, Any] = {}
    loaders: dict[str, tuple[str, Callable[[bytes], Any]]] = {
        "ca": (ca_var, x509.load_pem_x509_certificate),
        "cert": (cert_var, x509.load_pem_x509_certificate),
        "key": (key_var, lambda data: serialization.load_pem_private_key(data, password=None)),
    }
    for part, path in (("ca", ca_path), ("cert", cert_path), ("key", key_path)):
        var, load = loaders[part]
        try:
            with open(path, "rb") as handle:
                loaded[part] = load(handle.read())
        except (ValueError, TypeError) as exc:
            what = "private key (unencrypted)" if part == "key" else "certificate"
            errors.append(f"{var}: {path} is not a PEM {what}: {exc}")
    if errors:
        return errors
    ca, cert, key = loaded["ca"], loaded["cert"], loaded["key"]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        errors.append(f"{key_var}: {key_path} is not the key of the certificate {cert_var} ({cert_path}).")
    if not _signed_by(cert, ca):
        errors.append(f"{cert_var}: {cert_path} is not signed by the CA in {ca_var} ({ca_path}).")
    missing = [n for n in names if str(n).strip("[]") not in _names_of(cert)]
    if missing:
        errors.append(f"{cert_var}: {cert_path} is not valid for {', '.join(missing)} (its names: "
                      f"{', '.join(sorted(_names_of(cert))) or 'none'}); clients connect to that address.")
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc <= now:
        errors.append(f"{cert_var}: {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}.")
    return errors


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"tls_san": tls_san, "tls_file_errors": tls_file_errors, "pki_key_groups": pki_key_groups}
