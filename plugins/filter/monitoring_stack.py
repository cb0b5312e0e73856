"""Filters shared by every role of the repository (command lines, URLs, web configs, and the
endpoint contract). ansible.cfg (filter_plugins) and the Molecule base config
(ANSIBLE_FILTER_PLUGINS) point at this directory; roles never reach into each other's plugins."""
from __future__ import annotations

import base64
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


def hash_pbkdf2_users(users: object, seed: str, iterations: int = 200_000) -> dict[str, str]:
    """Return {user: "pbkdf2_sha256$<iterations>$<salt>$<hash>"}, the format the app's
    /metrics basic auth reads (app_src/src/monitored_app/auth.py; tests/test_app_auth_format.py
    keeps the two equal). The salt is derived from seed and user, as in hash_basic_auth_users,
    so re-runs report no change."""
    if not isinstance(users, dict):
        raise AnsibleFilterError("basic_auth_users must be a mapping of user name to password")
    hashed: dict[str, str] = {}
    for user, password in users.items():
        if not password:
            raise AnsibleFilterError(f"basic_auth_users: user {user!r} has an empty password")
        salt = hashlib.sha256(f"{seed}\0{user}".encode()).digest()[:16]
        digest = hashlib.pbkdf2_hmac("sha256", str(password).encode(), salt, iterations)
        b64 = [base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (salt, digest)]
        hashed[str(user)] = f"pbkdf2_sha256${iterations}${b64[0]}${b64[1]}"
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


_WILDCARD_HOSTS = ("", "0.0.0.0", "[::]", "::")


def endpoint(listen_address: str, fallback_host: str, tls: bool = False, path_prefix: str = "",
             ca_file: str = "", credentials: Mapping[str, Any] | None = None,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The endpoint a serving role publishes (docs/architecture.md, "The endpoint contract").

    host is what other hosts connect to: the listen host, or fallback_host (the inventory's
    address of the serving host) when the service listens on a wildcard address. local_url is
    what the serving host itself uses (health checks). credentials: {username, password} a
    client presents, or empty.
    """
    host, _, port = str(listen_address).rpartition(":")
    scheme = "https" if tls else "http"
    prefix = str(path_prefix or "").rstrip("/")
    remote = host if host not in _WILDCARD_HOSTS else str(fallback_host)
    if ":" in remote and not remote.startswith("["):
        remote = f"[{remote}]"
    local = host if host not in _WILDCARD_HOSTS else "127.0.0.1"
    creds = dict(credentials or {})
    out: dict[str, Any] = {
        "host": remote.strip("[]"),
        "port": int(port) if port.isdigit() else port,
        "scheme": scheme,
        "address": f"{remote}:{port}",
        "path_prefix": prefix,
        "url": f"{scheme}://{remote}:{port}{prefix}",
        "local_url": f"{scheme}://{local}:{port}{prefix}",
        "ca_file": str(ca_file or ""),
        "basic_auth": ({"username": str(creds["username"]), "password": str(creds.get("password", ""))}
                       if creds.get("username") else {}),
    }
    out.update(extra or {})
    return out


def endpoint_client(ep: Mapping[str, Any], password_file: str = "") -> dict[str, Any]:
    """The client half of an endpoint as Prometheus config keys (scheme, path, TLS, basic auth).

    With password_file the password stays out of prometheus.yml (the caller writes that file).
    Certificates are verified: against ca_file, else the system trust store.
    """
    cfg: dict[str, Any] = {"scheme": ep["scheme"]}
    if ep.get("scheme") == "https" and ep.get("ca_file"):
        cfg["tls_config"] = {"ca_file": ep["ca_file"]}
    auth = ep.get("basic_auth") or {}
    if auth.get("username"):
        cfg["basic_auth"] = ({"username": auth["username"], "password_file": password_file} if password_file
                             else {"username": auth["username"], "password": auth["password"]})
    return cfg


def endpoints_of(hosts: list[str] | None, hostvars: Mapping[str, Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """The published endpoints (hostvars[h][name]) of hosts, each with its inventory_host.

    An endpoint is published by its serving role (tasks/endpoint.yml, run for every host by
    playbooks/endpoints.yml) or declared in the inventory for a service these roles do not
    manage. A host without one yields {"inventory_host": h, "unpublished": name}: the consumer's
    validation reports it (unpublished_errors), published() drops it.
    """
    found: list[dict[str, Any]] = []
    for host in hosts or []:
        ep = hostvars[host].get(name)
        if isinstance(ep, Mapping) and ep.get("address"):
            found.append({**_complete(ep), "inventory_host": host})
        else:
            found.append({"inventory_host": host, "unpublished": name})
    return found


def published(endpoints: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The endpoints of endpoints_of that were published."""
    return [dict(ep) for ep in endpoints or [] if "unpublished" not in ep]


def unpublished_errors(endpoints: Mapping[str, list[Mapping[str, Any]]] | None) -> list[str]:
    """{component: endpoints_of(...)} -> one message per variable with hosts that lack it."""
    missing: dict[str, list[str]] = {}
    for eps in (endpoints or {}).values():
        for ep in eps:
            if "unpublished" in ep:
                missing.setdefault(str(ep["unpublished"]), []).append(str(ep["inventory_host"]))
    return [f"{name} is not published for {', '.join(hosts)}: run playbooks/site.yml (or "
            f"playbooks/endpoints.yml) for those hosts too, or declare {name} "
            "({address: \"host:port\", ...}) in their inventory for a service these roles do not "
            "manage (docs/architecture.md)." for name, hosts in missing.items()]


def _complete(ep: Mapping[str, Any]) -> dict[str, Any]:
    """An inventory-declared endpoint may give only its address: the rest gets the defaults."""
    out = {"scheme": "http", "path_prefix": "", "ca_file": "", "basic_auth": {}}
    out.update({k: v for k, v in ep.items() if v is not None})
    out.setdefault("url", f"{out['scheme']}://{out['address']}{out['path_prefix']}")
    out.setdefault("local_url", out["url"])
    return out


def scrape_job(endpoints: list[Mapping[str, Any]], job_name: str, password_file: str = "",
               metrics_path: str = "/metrics", extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Prometheus scrape job for the endpoints of one component (all talked to alike, see
    client_groups): targets are their addresses, scheme/TLS/auth come from the contract."""
    first = endpoints[0]
    job: dict[str, Any] = {"job_name": job_name, "metrics_path": str(first.get("path_prefix", "")) + metrics_path}
    job.update(extra or {})
    job.update(endpoint_client(first, password_file if (first.get("basic_auth") or {}).get("username") else ""))
    job["static_configs"] = [{"targets": [ep["address"] for ep in endpoints]}]
    return job


def client_groups(endpoints: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Endpoints grouped by how a client talks to them (scheme, path, CA, credentials), in order:
    one scrape job section per group, so hosts of one component may differ in TLS or auth."""
    groups: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        key = json.dumps([ep.get("scheme"), ep.get("path_prefix"), ep.get("ca_file"), ep.get("basic_auth")],
                         sort_keys=True)
        groups.setdefault(key, {"endpoint": dict(ep), "addresses": []})["addresses"].append(ep["address"])
    return list(groups.values())


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "client_groups": client_groups,
            "scrape_job": scrape_job,
            "endpoint": endpoint,
            "endpoint_client": endpoint_client,
            "endpoints_of": endpoints_of,
            "published": published,
            "unpublished_errors": unpublished_errors,
            "flags_to_args": flags_to_args,
            "hash_basic_auth_users": hash_basic_auth_users,
            "hash_pbkdf2_users": hash_pbkdf2_users,
            "input_errors": input_errors,
            "listen_address_errors": listen_address_errors,
        }
