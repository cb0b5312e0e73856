"""Basic auth on /metrics and TLS under real gunicorn."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from helpers import GunicornServer, get, start_gunicorn
from monitored_app.auth import AuthFileError, hash_password, load_users

USER, PASSWORD = "prometheus", "correct horse battery staple"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics-users"
    # Few iterations: the format is what matters here, not the cost.
    stored = hash_password(PASSWORD, b"0123456789abcdef", 1000)
    path.write_text(f"# written by the role\n{USER}:{stored}\n")
    return path


def test_metrics_asks_for_credentials_and_health_stays_open(
    make_app: Callable[..., Flask], users_file: Path
) -> None:
    client = make_app(metrics_auth_file=str(users_file)).test_client()
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith('Basic realm="metrics"')
    assert client.get("/metrics", headers=_basic(USER, "wrong")).status_code == 401
    assert client.get("/metrics", headers=_basic("nobody", PASSWORD)).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 401
    ok = client.get("/metrics", headers=_basic(USER, PASSWORD))
    assert ok.status_code == 200
    assert b"app_requests_total" in ok.data
    assert client.get("/health").status_code == 200


def test_verified_credentials_are_not_hashed_again(
    make_app: Callable[..., Flask], users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_app(metrics_auth_file=str(users_file)).test_client()
    calls = []
    real = hashlib.pbkdf2_hmac

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    for _ in range(5):
        assert client.get("/metrics", headers=_basic(USER, PASSWORD)).status_code == 200
    assert len(calls) == 1
    # A wrong password is checked each time (never remembered).
    for _ in range(2):
        assert client.get("/metrics", headers=_basic(USER, "wrong")).status_code == 401
    assert len(calls) == 3


@pytest.mark.parametrize("content, message", [
    (None, "No such file or directory"),
    ("", "holds no user"),
    ("prometheus\n", "line 1: expected user:pbkdf2_sha256"),
    ("prometheus:$2b$10$bcrypt-is-not-this-format\n", "line 1"),
    ("# comment\nprometheus:pbkdf2_sha256$many$abc$def\n", "line 2"),
])
def test_a_bad_users_file_is_refused_naming_the_file_and_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "users"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AuthFileError, match="APP_METRICS_AUTH_FILE") as info:
        load_users(path)
    assert message in str(info.value)


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "app.crt", tmp_path / "app.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, Path]]:
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = _certificate(workdir)
    users = workdir / "users"
    users.write_text(f"{USER}:{hash_password(PASSWORD, b'salt-for-the-tls-test', 1000)}\n")
    server = start_gunicorn(
        workdir,
        workers=2,
        env={"GUNICORN_CERTFILE": str(cert), "GUNICORN_KEYFILE": str(key),
             "APP_METRICS_AUTH_FILE": str(users)},
        ca_file=str(cert),
    )
    try:
        yield server, cert
    finally:
        server.stop()


def test_gunicorn_serves_https_verified_against_its_ca(
    tls_server: tuple[GunicornServer, Path],
) -> None:
    server, ca = tls_server
    assert server.base_url.startswith("https://")
    assert get(f"{server.base_url}/health", verify=str(ca)).status_code == 200
    # Plain HTTP to the TLS port gets no HTTP answer.
    with pytest.raises(requests.RequestException):
        get(server.base_url.replace("https://", "http://") + "/health")
    # A client that does not trust the certificate refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{server.base_url}/health")


def test_gunicorn_metrics_need_credentials(tls_server: tuple[GunicornServer, Path]) -> None:
    server, ca = tls_server
    assert get(f"{server.base_url}/metrics", verify=str(ca)).status_code == 401
    scraped = get(f"{server.base_url}/metrics", verify=str(ca), auth=(USER, PASSWORD))
    assert scraped.status_code == 200
    assert "app_requests_total" in scraped.text


def test_certificate_without_key_stops_gunicorn(tmp_path: Path) -> None:
    cert, _ = _certificate(tmp_path)
    together = "GUNICORN_CERTFILE and GUNICORN_KEYFILE must be set together"
    with pytest.raises(AssertionError, match=together):
        start_gunicorn(tmp_path, workers=1, env={"GUNICORN_CERTFILE": str(cert)}, timeout=20)
