"""TLS filters (roles/pki and the roles whose endpoints serve TLS): subject alternative names and
the checks of user-supplied certificate files, done on the controller before any host changes."""
from __future__ import annotations

import datetime
import ipaddress
import os
import stat
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


# What roles/pki/tasks/issue.yml asks community.crypto for, as cryptography values. The CA:
# CN only, CA:TRUE pathlen:0 and keyCertSign + cRLSign (both critical), secp384r1, its key
# encrypted (PKCS#8). A host: CN = inventory name, its SANs in order, serverAuth + clientAuth,
# digitalSignature (critical), secp256r1, signed by the CA.
_CA_KEY_USAGE = ("key_cert_sign", "crl_sign")
_HOST_KEY_USAGE = ("digital_signature",)
_KEY_USAGE_FIELDS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                     "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _key_usage(*wanted: str) -> Any:
    values = {field: field in wanted for field in _KEY_USAGE_FIELDS}
    return x509.KeyUsage(**values)


def _general_name(entry: str) -> Any:
    kind, _, value = str(entry).partition(":")
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "DNS":
        return x509.DNSName(value)
    raise ValueError(entry)


def _mode_is(path: str, mode: int) -> bool:
    try:
        return stat.S_IMODE(os.stat(path).st_mode) == mode
    except OSError:
        return False


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _same_key(a: Any, b: Any) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(a.public_bytes(der, spki) == b.public_bytes(der, spki))


def _extensions_are(cert: Any, wanted: Sequence[Any]) -> bool:
    """cert's extensions, key identifiers aside, are exactly wanted (value and criticality), and
    its subject key identifier is the one of its own key (what x509_certificate compares)."""
    identifiers = (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)
    have = {ext.oid: ext for ext in cert.extensions if not isinstance(ext.value, identifiers)}
    if have != {ext.oid: ext for ext in wanted}:
        return False
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return False
    return bool(ski.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest)


def _ec_key(path: str, curve: type, passphrase: str | None) -> Any:
    """The EC key at path (mode 0600, on the curve asked for, encrypted exactly when a passphrase
    is given), else None."""
    if not _mode_is(path, 0o600):
        return None
    data = _read(path)
    encrypted = data.lstrip().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if encrypted != bool(passphrase):
        return None
    key = serialization.load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    return key if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, curve) else None


def _cert(path: str) -> Any:
    return x509.load_pem_x509_certificate(_read(path)) if _mode_is(path, 0o644) else None


def _ca_current(ca: Mapping[str, Any]) -> Any:
    """The CA certificate when the controller's CA is what issue.yml would leave unchanged, else None."""
    if not _mode_is(os.path.join(str(ca["dir"]), "hosts"), 0o700):
        return None
    key = _ec_key(str(ca["key"]), ec.SECP384R1, str(ca["passphrase"]))
    cert = _cert(str(ca["cert"]))
    if key is None or cert is None or not _same_key(cert.public_key(), key.public_key()):
        return None
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, str(ca["common_name"]))])
    wanted = [x509.Extension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, True,
                             x509.BasicConstraints(ca=True, path_length=0)),
              x509.Extension(x509.oid.ExtensionOID.KEY_USAGE, True, _key_usage(*_CA_KEY_USAGE))]
    if cert.subject != subject or cert.issuer != subject or not _extensions_are(cert, wanted) \
            or not _signed_by(cert, cert):
        return None
    return cert


def _host_current(host: Mapping[str, Any], ca_cert: Any, now: datetime.datetime) -> bool:
    key = _ec_key(str(host["key"]), ec.SECP256R1, None)
    cert = _cert(str(host["cert"]))
    if key is None or cert is None or not _same_key(cert.public_key(), key.public_key()):
        return False
    names = [_general_name(entry) for entry in host["subject_alt_names"]]
    wanted = [x509.Extension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, False, x509.SubjectAlternativeName(names)),
              x509.Extension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE, False,
                             x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])),
              x509.Extension(x509.oid.ExtensionOID.KEY_USAGE, True, _key_usage(*_HOST_KEY_USAGE))]
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, str(host["common_name"]))])
    renewal = now + datetime.timedelta(days=int(host["renew_days"]))
    if cert.subject != subject or not _extensions_are(cert, wanted) or not _signed_by(cert, ca_cert):
        return False
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return False
    if aki != x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski):
        return False
    return bool(cert.not_valid_before_utc <= renewal <= cert.not_valid_after_utc)


def pki_internal_current(ca: Mapping[str, Any], host: Mapping[str, Any],
                         now: datetime.datetime | None = None) -> dict[str, bool]:
    """Whether the internal CA and one host's certificate on the controller are already what
    roles/pki/tasks/issue.yml would leave unchanged: {"ca": bool, "host": bool}. A re-run then
    skips its seven community.crypto module runs (about 6 s in the lab; docs/performance.md).

    ca: {dir, key, cert, passphrase, common_name}; host: {key, cert, common_name,
    subject_alt_names ("DNS:name" / "IP:address", in order), renew_days}. Stricter than the
    modules, never looser: everything the modules compare (keys: file mode, curve, encryption,
    the passphrase opening it; certificates: file mode, the key, subject, every extension with
    its criticality, key identifiers, the CA's signature) plus the renewal window. Anything
    else, including a file that cannot be read, answers False, and the modules decide."""
    state = {"ca": False, "host": False}
    if not HAS_CRYPTOGRAPHY:
        return state
    try:
        ca_cert = _ca_current(ca)
        if ca_cert is None:
            return state
        state["ca"] = True
        state["host"] = _host_current(host, ca_cert, now or datetime.datetime.now(datetime.UTC))
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return state


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"tls_san": tls_san, "tls_file_errors": tls_file_errors, "pki_key_groups": pki_key_groups,
                "pki_internal_current": pki_internal_current}
