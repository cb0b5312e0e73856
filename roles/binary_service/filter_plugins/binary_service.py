"""Filters shared by the Prometheus-family roles (command lines, URLs, web configs)."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

try:
    import bcrypt

    HAS_BCRYPT = True
except ImportError:  # pragma: no cover - reported when the filter is used
    HAS_BCRYPT = False

from ansible.errors import AnsibleFilterError

_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _bcrypt_b64(data: bytes) -> str:
    """bcrypt's own base64 (no padding): 16 bytes -> 22 characters."""
    out: list[str] = []
    bits = nbits = 0
    for byte in data:
        bits, nbits = (bits << 8) | byte, nbits + 8
        while nbits >= 6:
            nbits -= 6
            out.append(_B64[(bits >> nbits) & 0x3F])
    if nbits:
        out.append(_B64[(bits << (6 - nbits)) & 0x3F])
    return "".join(out)


def hash_basic_auth_users(users: object, seed: str, rounds: int = 10) -> dict[str, str]:
    """Return {user: bcrypt hash} with a salt derived from seed and user name.

    A random salt would change the file (and report "changed") on every run; a derived salt
    keeps re-runs idempotent while still differing per host, service and user.
    """
    if not HAS_BCRYPT:
        raise AnsibleFilterError("hash_basic_auth_users needs the 'bcrypt' package on the controller")
    if not isinstance(users, dict):
        raise AnsibleFilterError("basic_auth_users must be a mapping of user name to password")
    hashed: dict[str, str] = {}
    for user, password in users.items():
        if not password:
            raise AnsibleFilterError(f"basic_auth_users: user {user!r} has an empty password")
        digest = hashlib.sha256(f"{seed}\0{user}".encode()).digest()[:16]
        salt = f"$2b${rounds:02d}${_bcrypt_b64(digest)}".encode()
        hashed[user] = bcrypt.hashpw(str(password).encode(), salt).decode()
    return hashed


def flags_to_args(flags: object) -> list[str]:
    """{"log.level": "debug", "web.enable-lifecycle": True} -> ["--log.level=debug", "--web.enable-lifecycle"]."""
    if not isinstance(flags, dict):
        raise AnsibleFilterError("extra flags must be a mapping of flag name (no dashes) to value")
    args: list[str] = []
    for name, value in flags.items():
        if value is True:
            args.append(f"--{name}")
        elif value is False or value is None:
            args.append(f"--no-{name}")
        else:
            args.append(f"--{name}={value}")
    return args


def listen_url(listen_address: str, tls: bool = False) -> str:
    """URL a host uses to reach its own service: "0.0.0.0:9090" -> "http://127.0.0.1:9090"."""
    host, _, port = str(listen_address).rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"{'https' if tls else 'http'}://{host}:{port}"


_LISTEN_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):([0-9]{1,5})$")


def listen_address_errors(addresses: Mapping[str, Any] | None) -> list[str]:
    """{variable name: "host:port"} -> one message per value that is not host:port with a port
    in 1-65535 (host may be empty or [IPv6]), naming the variable."""
    errors: list[str] = []
    for name, value in (addresses or {}).items():
        match = _LISTEN_ADDRESS.match(value) if isinstance(value, str) else None
        if not match or not 1 <= int(match.group(2)) <= 65535:
            errors.append(f'{name} must be "host:port" (port 1-65535, host may be empty or [IPv6]), '
                          f"got {json.dumps(value, default=str)}.")
    return errors


def input_errors(checks: list[Mapping[str, Any]] | None) -> list[str]:
    """[{ok: bool, msg: str}, ...] -> the messages of the checks that are not ok."""
    return [str(check["msg"]) for check in checks or [] if not check["ok"]]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "flags_to_args": flags_to_args,
            "hash_basic_auth_users": hash_basic_auth_users,
            "input_errors": input_errors,
            "listen_address_errors": listen_address_errors,
            "listen_url": listen_url,
        }
