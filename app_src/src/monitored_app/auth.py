"""HTTP basic auth for ``/metrics``: the users file and a WSGI middleware.

The users file holds one ``user:pbkdf2_sha256$<iterations>$<salt>$<hash>`` line per user
(salt and hash in unpadded URL-safe base64), written by the Ansible role with the password
hashed on the controller, so no plain password is stored on the host. PBKDF2 comes from the
standard library: the app needs no extra wheel for it.

Checking PBKDF2 costs milliseconds, on purpose; a scrape every few seconds must not pay it
each time, so a verified ``Authorization`` header is remembered (by its SHA-256) for the life
of the worker, as the Prometheus exporter-toolkit does with bcrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 200_000
# Distinct credentials remembered per worker; more are checked again (never rejected).
_CACHE_LIMIT = 64


class AuthFileError(ValueError):
    """The users file cannot be used; the message names the file and line."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The stored form of ``password`` (the role's filter writes the same format)."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    scheme, iterations, salt, digest = stored.split("$")
    if scheme != SCHEME:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
    return hmac.compare_digest(actual, _unb64(digest))


def load_users(path: str | Path) -> dict[str, str]:
    """``{user: stored hash}`` from the users file; AuthFileError names what is wrong."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise AuthFileError(f"APP_METRICS_AUTH_FILE {path}: {exc.strerror}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, stored = line.strip().partition(":")
        parts = stored.split("$")
        valid = sep and user and len(parts) == 4 and parts[0] == SCHEME and parts[1].isdigit()
        try:
            valid = valid and bool(_unb64(parts[2])) and bool(_unb64(parts[3]))
        except (binascii.Error, ValueError, IndexError):
            valid = False
        if not valid:
            raise AuthFileError(
                f"APP_METRICS_AUTH_FILE {path} line {number}: "
                f"expected user:{SCHEME}$<iterations>$<salt>$<hash>"
            )
        users[user] = stored
    if not users:
        raise AuthFileError(f"APP_METRICS_AUTH_FILE {path} holds no user")
    return users


class BasicAuthMiddleware:
    """Answer 401 unless the request carries the basic auth credentials of a known user."""

    def __init__(self, app: WSGIApplication, users: dict[str, str], realm: str = "metrics") -> None:
        self._app = app
        self._users = users
        self._challenge = f'Basic realm="{realm}", charset="UTF-8"'
        self._verified: set[bytes] = set()

    def _allowed(self, header: str) -> bool:
        key = hashlib.sha256(header.encode("latin-1", "replace")).digest()
        if key in self._verified:
            return True
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        stored = self._users.get(user)
        if not sep or stored is None or not verify_password(password, stored):
            return False
        if len(self._verified) < _CACHE_LIMIT:
            self._verified.add(key)
        return True

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._allowed(environ.get("HTTP_AUTHORIZATION", "")):
            return self._app(environ, start_response)
        body = b"Unauthorized\n"
        start_response("401 Unauthorized", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("WWW-Authenticate", self._challenge),
        ])
        return [body]
