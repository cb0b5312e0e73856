"""Filters shared by every role of the repository (command lines, URLs, web configs, the
endpoint contract, and the grammars of URLs, label names and durations). ansible.cfg
(filter_plugins) and the Molecule base config (ANSIBLE_FILTER_PLUGINS) point at this directory;
roles never reach into each other's plugins."""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:
    import bcrypt

    HAS_BCRYPT = True
except ImportError:  # pragma: no cover - reported when the filter is used
    HAS_BCRYPT = False

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

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


def _users_with_salts(users: object, seed: str) -> list[tuple[str, str, bytes]]:
    """[(user, password, 16-byte salt)] with the salt derived from seed and user name.

    A random salt would change the file (and report "changed") on every run; a derived salt
    keeps re-runs idempotent while still differing per host, service and user.
    """
    if not isinstance(users, dict):
        raise AnsibleFilterError("basic_auth_users must be a mapping of user name to password")
    out: list[tuple[str, str, bytes]] = []
    for user, password in users.items():
        if not password:
            raise AnsibleFilterError(f"basic_auth_users: user {user!r} has an empty password")
        out.append((str(user), str(password), hashlib.sha256(f"{seed}\0{user}".encode()).digest()[:16]))
    return out


def hash_basic_auth_users(users: object, seed: str, rounds: int = 10) -> dict[str, str]:
    """Return {user: bcrypt hash} (exporter-toolkit's basic_auth_users), salts derived."""
    if not HAS_BCRYPT:
        raise AnsibleFilterError("hash_basic_auth_users needs the 'bcrypt' package on the controller")
    return {user: bcrypt.hashpw(password.encode(), f"$2b${rounds:02d}${_bcrypt_b64(salt)}".encode()).decode()
            for user, password, salt in _users_with_salts(users, seed)}


def hash_pbkdf2_users(users: object, seed: str, iterations: int = 200_000) -> dict[str, str]:
    """Return {user: "pbkdf2_sha256$<iterations>$<salt>$<hash>"}, the format the app's
    /metrics basic auth reads (app_src/src/monitored_app/auth.py; tests/test_app_auth_format.py
    keeps the two equal), salts derived as for hash_basic_auth_users."""
    hashed: dict[str, str] = {}
    for user, password, salt in _users_with_salts(users, seed):
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        b64 = [base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (salt, digest)]
        hashed[user] = f"pbkdf2_sha256${iterations}${b64[0]}${b64[1]}"
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


def plain_data(value: Any) -> Any:
    """value as plain dicts, lists, strings and numbers: without the tags ansible-core 2.19 puts
    on values from YAML (each value's file and line). For what a role publishes as a cacheable
    fact: the fact cache stores every tag and decodes them all each time a host's variables are
    read, once per task and host (the endpoints' tags were 90 % of that cost; docs/performance.md)."""
    if isinstance(value, Mapping):
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def endpoint(listen_address: str, fallback_host: str, tls: bool = False, path_prefix: str = "",
             ca_file: str = "", credentials: Mapping[str, Any] | None = None,
             extra: Mapping[str, Any] | None = None, clients: Mapping[str, Any] | None = None,
             clients_var: str = "") -> dict[str, Any]:
    """The endpoint a serving role publishes (docs/architecture.md, "The endpoint contract").

    host is what other hosts connect to: the listen host, or fallback_host (the inventory's
    address of the serving host) when the service listens on a wildcard address. local_url is
    what the serving host itself uses (health checks). credentials: {username, password} a
    generic client presents (the serving role's own health check), or empty. clients: every
    basic auth user {name: password}; a consumer presents the user named after it (as_client),
    and clients_var names the variable they come from, for the consumers' error messages.
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
    if clients:
        out["clients"] = {str(user): str(password) for user, password in clients.items()}
        out["clients_var"] = clients_var
    out.update(extra or {})
    plain: dict[str, Any] = plain_data(out)
    return plain


def as_client(endpoints: Iterable[Mapping[str, Any]] | None, client: str) -> list[dict[str, Any]]:
    """The endpoints as `client` (prometheus, pusher, grafana) talks to them: an endpoint with
    basic auth users presents the user named after the client (its own credentials, never
    another consumer's). One without that user keeps no credentials here: the consumer's
    validation reports it first (client_credential_errors)."""
    out: list[dict[str, Any]] = []
    for ep in endpoints or []:
        users = ep.get("clients") or {}
        if users:
            ep = {**ep, "basic_auth": ({"username": client, "password": str(users[client])} if client in users else {})}
        out.append(dict(ep))
    return out


def consumer_view(sources: Mapping[str, Mapping[str, Any]] | None, hostvars: Mapping[str, Mapping[str, Any]],
                  client: str, consumer: str,
                  own: Mapping[str, list[Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    """The endpoints a consumer reads, read and derived in one call. sources: {component:
    {"hosts": [...], "variable": "<component>_endpoint", "required": bool (default true)}}, each
    read as endpoints_of(hosts, hostvars, variable, required). Returns
    {"errors": unpublished_errors + scheme_errors + client_credential_errors (own included,
    e.g. the consumer's own endpoint that it scrapes),
     "endpoints": {component: its published endpoints as `client` talks to them (as_client)},
     "addresses": {component: their addresses, in order},
     "client_variants": {component: how many distinct ways of talking to them (client_groups)}}.

    Why one call: Ansible wraps a filter's result in a lazy container before the next filter
    or task reads it, and every pass over that is paid per entry and value (5,000 app hosts:
    about a second for reading endpoints_of's result, half a second for each later pass). Here
    the endpoints never leave Python until the view is complete, and later tasks take the
    addresses and counts from the fact instead of walking its endpoints."""
    read: dict[str, Any] = {}
    for component, src in (sources or {}).items():
        read[component] = endpoints_of(list(src.get("hosts") or []), hostvars, str(src["variable"]),
                                       required=boolean(src.get("required", True), strict=False))  # type: ignore[no-untyped-call]
    errors = (unpublished_errors(read) + scheme_errors(read)
              + client_credential_errors({**read, **_plain(own or {})}, client, consumer))  # type: ignore[dict-item]
    endpoints: dict[str, Any] = {component: as_client(published(eps), client) for component, eps in read.items()}
    return {"errors": errors, "endpoints": endpoints,
            "addresses": {component: [str(ep["address"]) for ep in eps] for component, eps in endpoints.items()},
            "client_variants": {component: len(client_groups(eps)) for component, eps in endpoints.items()}}


def client_credential_errors(endpoints: Mapping[str, list[Mapping[str, Any]]] | None, client: str,
                             consumer: str) -> list[str]:
    """{component: endpoints} -> one message per endpoint that asks for basic auth and has no
    user for `client`, naming the variable that lists its users."""
    errors = []
    for component, eps in (endpoints or {}).items():
        for ep in eps or []:
            users = ep.get("clients") or {}
            if users and client not in users:
                where = ep.get("inventory_host") or ep.get("address")
                variable = ep.get("clients_var") or f"{component} basic_auth_users"
                errors.append(f"{variable} (on {where}) has no user '{client}': {consumer} authenticates to "
                              f"{component} with credentials of its own. Add '{client}' with its own password "
                              f"(from the vault); users now: {', '.join(sorted(users))}.")
    return errors


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


def endpoints_of(hosts: list[str] | None, hostvars: Mapping[str, Mapping[str, Any]], name: str,
                 required: bool = True) -> list[dict[str, Any]]:
    """The published endpoints (hostvars[h][name]) of hosts, each with its inventory_host.

    An endpoint is published by its serving role (tasks/endpoint.yml, run for every host by
    playbooks/endpoints.yml) or declared in the inventory for a service these roles do not
    manage. A host without one yields {"inventory_host": h, "unpublished": name}: the consumer's
    validation reports it (unpublished_errors), published() drops it. With required=False such
    a host is left out silently (a component that runs on "all hosts" unless a group says
    otherwise: node_exporter).

    Where it is found: a declared endpoint and one published in this run are top-level host
    variables. One published by an earlier run comes from the fact cache, under ansible_facts:
    ansible.cfg turns inject_facts_as_vars off (Ansible's future default; with it on, every
    host's variables cost a copy and clean-up of its facts, about 0.1 ms per host and read).
    """
    found: list[dict[str, Any]] = []
    for host in hosts or []:
        variables = hostvars[host]
        ep = variables.get(name)
        if ep is None:
            ep = (variables.get("ansible_facts") or {}).get(name)
        if isinstance(ep, Mapping) and ep.get("address"):
            found.append({**_complete(ep), "inventory_host": host})
        elif required:
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


def scheme_errors(endpoints: Mapping[str, list[Mapping[str, Any]]] | None) -> list[str]:
    """{component: endpoints} -> one message per endpoint whose scheme is not http or https
    (an endpoint declared in the inventory for a service these roles do not manage)."""
    return [f"{component}_endpoint of {ep.get('inventory_host') or ep.get('address')}: scheme "
            f"{json.dumps(ep.get('scheme'), default=str)} is not supported; use http or https."
            for component, eps in (endpoints or {}).items() for ep in eps or []
            if "unpublished" not in ep and ep.get("scheme") not in ("http", "https")]


# Passwords nobody should use on an endpoint, compared case-insensitively (a short list: length
# does most of the work).
_COMMON_PASSWORDS = {"password", "passw0rd", "changeme", "change-me", "secret", "admin", "administrator",
                     "letmein", "welcome", "prometheus", "monitoring", "qwertyuiop", "123456789012"}
MIN_PASSWORD_LENGTH = 12


def web_config_errors(configs: Mapping[str, Any] | None) -> list[str]:
    """{variable name: exporter-toolkit web config} -> messages for a TLS config without its
    certificate or key, and for basic auth users with an empty or weak password (never shown)."""
    errors: list[str] = []
    for name, cfg in (configs or {}).items():
        if not cfg:
            continue
        if not isinstance(cfg, Mapping):
            errors.append(f"{name} must be a mapping ({{tls_server_config, basic_auth_users}}).")
            continue
        tls = cfg.get("tls_server_config")
        if tls is not None and not (isinstance(tls, Mapping) and tls.get("cert_file") and tls.get("key_file")):
            errors.append(f"{name}.tls_server_config needs both cert_file and key_file (paths on the host).")
        users = cfg.get("basic_auth_users")
        if users is None:
            continue
        if not isinstance(users, Mapping):
            errors.append(f"{name}.basic_auth_users must be a mapping of user name to password.")
            continue
        for user, password in users.items():
            problem = _password_problem(str(user), "" if password is None else str(password))
            if problem:
                errors.append(f"{name}.basic_auth_users.{user}: {problem} (value not shown).")
    return errors


def _password_problem(user: str, password: str) -> str | None:
    if not password:
        return "the password is empty"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password is too short ({len(password)} characters; at least {MIN_PASSWORD_LENGTH})"
    if password.lower() in _COMMON_PASSWORDS or password.lower() == user.lower() or len(set(password)) < 4:
        return "the password is too easy to guess"
    return None


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
        group = groups.get(key)
        if group is None:
            # Only a group's first endpoint is copied: each copy reads every value of a lazy
            # mapping (5,000 app hosts: a third of a second per run).
            group = groups[key] = {"endpoint": dict(ep), "addresses": []}
        group["addresses"].append(ep["address"])
    return list(groups.values())


# --- The grammars of the components ------------------------------------------------------
# Every string that ends up in a URL, a label or a duration is checked as the component that
# reads it parses it, before anything is rendered. Each *_problem function says why a value
# is not accepted (None: fine); each *_errors filter takes {variable the user set: value} and
# returns one message per bad value, naming that variable. The roles' validate steps use them.

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_HEX = frozenset("0123456789abcdefABCDEF")
# Go net/url (shouldEscape in host mode): what a host may hold besides letters and digits.
_URL_HOST_CHARS = frozenset("-._~!$&'()*+,;=:[]<>\"%")
# Go net/url (validUserinfo).
_USERINFO_CHARS = frozenset("-._:~!$&'()*+,;=%@")


def _escape_problem(text: str, host: bool = False) -> str | None:
    """Go's unescape(): every % starts a two-hex-digit escape; in a host only non-ASCII bytes
    (and %25, the zone separator) may be escaped."""
    for i, char in enumerate(text):
        if char != "%":
            continue
        pair = text[i + 1:i + 3]
        if len(pair) < 2 or not set(pair) <= _HEX:
            return "an invalid percent-escape (% must be followed by two hex digits)"
        if host and int(pair[0], 16) < 8 and pair != "25":
            return "a percent-escaped ASCII character in the host"
    return None


def _domain_name_problem(name: str) -> str | None:
    """A host name as Go's resolver accepts it (net.isDomainName): labels of letters, digits,
    - and _, 1-63 characters, not starting or ending with -, 253 characters at most."""
    try:
        ascii_name = name.encode("idna").decode() if any(ord(c) > 127 for c in name) else name
    except UnicodeError:
        return f"host name {name!r} is not a valid internationalized domain name"
    labels = ascii_name[:-1].split(".") if ascii_name.endswith(".") else ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253:
        return "the host name is empty or longer than 253 characters"
    for label in labels:
        if not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", label):
            return (f"host name {name!r} is neither an IP address nor a DNS name (labels of letters, "
                    "digits, - and _, 1-63 characters, not starting or ending with -)")
    if all(label.isdigit() for label in labels):
        return f"host {name!r} is not a valid IPv4 address"
    return None


def host_problem(host: str) -> str | None:
    """A host a prober or HTTP client dials: an IPv4 address, an IPv6 address (bare or in
    brackets), or a DNS name."""
    if host.startswith("[") and host.endswith("]"):
        return None if _is_ip(host[1:-1], 6) else f"{host} is not a valid IPv6 address"
    if ":" in host:
        return None if _is_ip(host, 6) else f"host {host!r} is not an IPv6 address (or needs brackets)"
    if re.fullmatch(r"[0-9.]+", host):
        return None if _is_ip(host, 4) else f"host {host!r} is not a valid IPv4 address"
    return _domain_name_problem(host)


def _is_ip(text: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0] if version == 6 else text)
    except ValueError:
        return False
    return address.version == version


def _port_problem(port: str) -> str | None:
    if not port:
        return "the port after the colon is empty"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"invalid port {port!r} (1-65535)"
    return None


def url_problem(url: object, schemes: Iterable[str] = ("http", "https")) -> str | None:
    """Why url is not an absolute URL with one of schemes and a host that Go's net/url.Parse
    accepts and an HTTP client can dial, or None. Stricter than url.Parse in three places, each
    a URL that would parse but fail when used: the port must be 1-65535, the host an IP address
    or a DNS name, and white space is refused everywhere (a path or query needs %20). The
    reasons quote no more of the URL than a port or one character: receiver URLs hold secrets."""
    if not isinstance(url, str) or not url:
        return "it is empty or not a string"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "it contains a control character"
    if any(c.isspace() for c in url):
        return "it contains white space"
    rest, _, fragment = url.partition("#")
    scheme, colon, rest = rest.partition(":")
    wanted = " or ".join(f"{s}://" for s in schemes)
    if not colon or not _SCHEME.match(scheme):
        return f"it has no scheme (must start with {wanted})"
    if scheme.lower() not in schemes:
        return f"scheme {scheme!r} is not supported (must start with {wanted})"
    rest = rest.partition("?")[0]
    if not rest.startswith("//"):
        return f"it names no host (must start with {wanted} and a host)"
    authority, slash, path = rest[2:].partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        if not all(c.isalnum() or c in _USERINFO_CHARS for c in userinfo):
            return "its user info has a character that must be percent-escaped"
        problem = _escape_problem(userinfo)
        if problem:
            return f"its user info has {problem}"
    else:
        hostport = authority
    # Go's parseHost: a [IPv6] literal, else the text after the last colon is the port.
    if hostport.startswith("["):
        close = hostport.rfind("]")
        if close < 0:
            return "missing ']' in the host"
        host, colon_port = hostport[:close + 1], hostport[close + 1:]
        if colon_port and not colon_port.startswith(":"):
            return "only a :port may follow the ] of an IPv6 host"
    else:
        last_colon = hostport.rfind(":")
        host, colon_port = (hostport[:last_colon], hostport[last_colon:]) if last_colon >= 0 else (hostport, "")
    if colon_port:
        problem = _port_problem(colon_port[1:])
        if problem:
            return problem
    for char in host:
        if ord(char) < 0x80 and not (char.isalnum() or char in _URL_HOST_CHARS):
            return f"invalid character {char!r} in the host"
    problem = _escape_problem(host, host=True)
    if problem:
        return problem
    if not host:
        return f"it names no host (must start with {wanted} and a host)"
    problem = host_problem(host)
    if problem:
        return problem
    problem = _escape_problem(slash + path) or _escape_problem(fragment)
    return f"its path or fragment has {problem}" if problem else None


def url_path(url: object) -> str:
    """The path of a URL, without judging the rest (url_errors does that): values derived from a
    URL (route prefixes, published in the endpoint before the roles validate) must not fail
    with a parser's error that names no variable (Python's urlsplit raises on a bad port)."""
    text = str(url or "").split("#", 1)[0].split("?", 1)[0]
    _, separator, rest = text.partition("://")
    slash = rest.find("/")
    return rest[slash:] if separator and slash >= 0 else ""


def url_errors(urls: Mapping[str, Any] | None, schemes: Iterable[str] = ("http", "https"),
               secret: bool = False, allow_empty: bool = False) -> list[str]:
    """{variable name: URL} -> one message per URL that url_problem refuses. allow_empty: ""
    means "not set". secret: the message leaves the value out (receiver URLs carry tokens)."""
    schemes = tuple(schemes)
    errors: list[str] = []
    for name, value in (urls or {}).items():
        if allow_empty and value in ("", None):
            continue
        problem = url_problem(value, schemes)
        if problem:
            shown = " (value not shown: it may hold a secret)" if secret else f", got {json.dumps(value, default=str)}"
            errors.append(f"{name} must be an absolute {'/'.join(schemes)} URL with a host: {problem}{shown}.")
    return errors


def host_port_problem(value: object) -> str | None:
    """host:port as Go's net.SplitHostPort splits it and a TCP dial accepts it (IPv6 in brackets)."""
    if not isinstance(value, str) or not value:
        return "it is empty or not a string"
    if any(c.isspace() or ord(c) < 0x20 for c in value) or "/" in value:
        return "it must be host:port only (no scheme, path or white space)"
    if value.startswith("["):
        host, bracket, port = value.partition("]")
        host += bracket
        if not bracket or not port.startswith(":"):
            return "an IPv6 host needs the form [address]:port"
        port = port[1:]
    else:
        host, colon, port = value.rpartition(":")
        if not colon:
            return "it has no :port"
        if ":" in host:
            return "an IPv6 host needs brackets: [address]:port"
    return _port_problem(port) or (host_problem(host) if host else "the host before the colon is empty")


_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def label_name_problem(name: object) -> str | None:
    """Prometheus' label name rule (the portable one: Prometheus 3 also takes quoted UTF-8 names,
    which PromQL, relabelling and older tools need special syntax for); __ is reserved."""
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        return (f"{name!r} is not a valid Prometheus label name (letters, digits and _, "
                "not starting with a digit)")
    if name.startswith("__"):
        return f"{name!r} starts with __, which Prometheus reserves for its own labels"
    return None


def label_errors(label_maps: Mapping[str, Any] | None) -> list[str]:
    """{variable name: {label name: value}} -> one message per bad label name or non-string
    value (YAML reads yes, 1.5 or null as other types: quote them)."""
    errors: list[str] = []
    for variable, labels in (label_maps or {}).items():
        if labels in (None, ""):
            continue
        if not isinstance(labels, Mapping):
            errors.append(f"{variable} must be a mapping of label name to string value, got "
                          f"{json.dumps(labels, default=str)}.")
            continue
        for name, value in labels.items():
            problem = label_name_problem(name)
            if problem:
                errors.append(f"{variable}: {problem}.")
            elif not isinstance(value, str):
                errors.append(f"{variable}: label {name!r} must have a string value (quote it), got "
                              f"{json.dumps(value, default=str)}.")
    return errors


# Prometheus' model.ParseDuration: units largest first, each at most once, integers only.
_PROM_UNITS = {"y": 365 * 86400 * 10**9, "w": 7 * 86400 * 10**9, "d": 86400 * 10**9, "h": 3600 * 10**9,
               "m": 60 * 10**9, "s": 10**9, "ms": 10**6}
_PROM_DURATION = re.compile(r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?"
                            r"(?:([0-9]+)s)?(?:([0-9]+)ms)?$")
# Go's time.ParseDuration (command-line flags of Alertmanager and the Pushgateway). Builds with
# Go 1.27 (Debian's Alertmanager 0.33.1) also take d and w; Go 1.24 builds (the Pushgateway
# here, and upstream releases) refuse them, so the portable grammar without them is checked.
_GO_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}
_GO_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_MAX_NS = (1 << 63) - 1


def duration_nanoseconds(value: object, grammar: str = "prometheus") -> int | None:
    """The duration in nanoseconds as the component parses it, or None if it refuses it.
    grammar "prometheus": model.ParseDuration (config files, --storage.tsdb.retention.time);
    "go": time.ParseDuration (Go command-line flags such as --data.retention)."""
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    if value == "0" or (grammar == "go" and value in ("+0", "-0")):
        return 0
    total = 0
    if grammar == "prometheus":
        match = _PROM_DURATION.match(value)
        if not value or not match:
            return None
        for amount, mult in zip(match.groups(), _PROM_UNITS.values(), strict=True):
            total += int(amount or 0) * mult
    else:
        sign, body = (-1, value[1:]) if value.startswith("-") else (1, value.removeprefix("+"))
        pos = 0
        while pos < len(body):
            part = _GO_PART.match(body, pos)
            if not part or part.group(1) in ("", "."):
                return None
            total += int(float(part.group(1)) * _GO_UNITS[part.group(2)])
            pos = part.end()
        if not body:
            return None
        total *= sign
    return None if abs(total) > _MAX_NS else total


_DURATION_EXAMPLES = {"prometheus": "a Prometheus duration like 30s, 5m, 1h30m or 2d (units y w d h m s ms, "
                                    "largest first, whole numbers)",
                      "go": "a Go duration like 30s, 5m or 120h (units h m s ms us ns; no d or w)"}


def duration_errors(values: Mapping[str, Any] | None, grammar: str = "prometheus", positive: bool = False) -> list[str]:
    """{variable name: value} -> one message per value the component would refuse as a
    duration (duration_nanoseconds); positive: zero and negative durations are refused too
    (e.g. Alertmanager's group_interval and repeat_interval)."""
    errors: list[str] = []
    for name, value in (values or {}).items():
        nanoseconds = duration_nanoseconds(value, grammar)
        if nanoseconds is None:
            errors.append(f"{name} must be {_DURATION_EXAMPLES[grammar]}, got {json.dumps(value, default=str)}.")
        elif positive and nanoseconds <= 0:
            errors.append(f"{name} must be a duration greater than zero, got {json.dumps(value, default=str)}.")
    return errors


def probe_target_problem(url: str, module: str) -> str | None:
    """A blackbox probe target as the module's prober reads it, by the module's name prefix:
    http*: an absolute URL (this role requires the scheme: the exporter would silently prefix
    http://); tcp*/grpc*: host:port; icmp*: a bare host or IP; dns*: the server, host or
    host:port."""
    if module.startswith("http"):
        problem = url_problem(url, ("https",) if module.startswith("https") else ("http", "https"))
        return f"module {module} needs an absolute URL: {problem}, got {url!r}" if problem else None
    if module.startswith(("tcp", "grpc")):
        problem = host_port_problem(url)
        return f"module {module} needs host:port (port 1-65535, no scheme): {problem}, got {url!r}" if problem else None
    if module.startswith("dns") and (url.startswith("[") or url.count(":") == 1):
        problem = host_port_problem(url)
        return f"module {module} needs the DNS server as host or host:port: {problem}, got {url!r}" if problem else None
    if module.startswith(("icmp", "dns")):
        problem = ("it must be a bare host name or IP address (no scheme, port, path or white space)"
                   if not url or url.startswith("[") or any(c.isspace() or c in "/?#@" for c in url)
                   else host_problem(url))
        return f"module {module} needs a bare host name or IP address: {problem}, got {url!r}" if problem else None
    if any(ch.isspace() for ch in url):
        return f"target {url!r} contains white space"
    return None


def probe_targets_read(targets: object, modules: Iterable[str]) -> dict[str, Any]:
    """prometheus_probe_targets, read once per run: {"errors": probe_target_errors, and
    "file_sd_text": the body of the prometheus role's file_sd/probes.yml ("" while there are
    errors)}.

    Why one filter for both: Ansible hands a filter a lazy list, and every pass over it is paid
    per entry (each wrapped, each value checked for templates): about 0.8 s per pass over
    20,000 targets. This copies the list once, then checks and renders it in plain Python."""
    plain: Any = _plain(targets)
    errors = probe_target_errors(plain, modules)
    return {"errors": errors, "file_sd_text": "" if errors else file_sd_text(probe_file_sd(plain))}


def _plain(value: object) -> object:
    """A plain copy of nested mappings and lists (each value read once)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def probe_file_sd(targets: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Probe targets -> file_sd target groups; the module travels as __param_module."""
    groups: list[dict[str, Any]] = []
    for target in targets or []:
        labels = {"__param_module": target["module"]}
        labels.update({key: str(value) for key, value in (target.get("labels") or {}).items()})
        groups.append({"targets": [target["url"]], "labels": labels})
    return groups


def file_sd_text(groups: Iterable[Mapping[str, Any]] | None) -> str:
    """file_sd target groups as the body of a .yml file: one group per line, each a JSON flow
    mapping (valid YAML). A diff then shows one line per added or removed target, and 20,000
    probe targets render in a tenth of a second (to_nice_yaml, pure Python: over a second)."""
    return "\n".join(f"- {json.dumps(group, ensure_ascii=False)}" for group in groups or []) or "[]"


def probe_target_errors(targets: object, modules: Iterable[str]) -> list[str]:
    """One message per unusable entry of prometheus_probe_targets, naming the entry."""
    if not isinstance(targets, list):
        return ["prometheus_probe_targets must be a list of {url, module, labels}"]
    errors: list[str] = []
    seen: dict[tuple[Any, Any], int] = {}
    # Once, not per target: Ansible hands a filter lazy lists, and each pass over one is paid
    # per element (20,000 targets x the module list was two seconds of the prometheus play).
    known = list(modules)
    for index, target in enumerate(targets):
        error = _probe_target_error(target, known)
        if error is None:
            key = (target["url"], target["module"])
            if key in seen:
                error = f"duplicate of prometheus_probe_targets[{seen[key]}]"
            seen.setdefault(key, index)
        if error:
            where = (f"(url {target.get('url')!r}, module {target.get('module')!r})" if isinstance(target, dict)
                     else f"({target!r})")
            errors.append(f"prometheus_probe_targets[{index}] {where}: {error}")
    return errors


def _probe_target_error(target: object, modules: list[str]) -> str | None:
    if not isinstance(target, dict):
        return "must be a mapping {url, module, labels}"
    unknown_keys = sorted(set(target) - {"url", "module", "labels"})
    if unknown_keys:
        return f"unknown keys {unknown_keys} (allowed: url, module, labels)"
    url, module, labels = target.get("url"), target.get("module"), target.get("labels", {})
    if not isinstance(url, str) or not url.strip():
        return "url is missing or empty"
    if not isinstance(module, str) or module not in modules:
        return (f"unknown module {module!r} (known: {', '.join(modules)}: the modules the blackbox "
                "exporter publishes, blackbox_modules + blackbox_extra_modules)")
    label_problems = label_errors({"labels": labels})
    if label_problems:
        return "; ".join(label_problems).rstrip(".")
    return probe_target_problem(url, module)


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "as_client": as_client,
            "client_credential_errors": client_credential_errors,
            "client_groups": client_groups,
            "scheme_errors": scheme_errors,
            "scrape_job": scrape_job,
            "web_config_errors": web_config_errors,
            "endpoint": endpoint, "plain_data": plain_data,
            "endpoint_client": endpoint_client,
            "endpoints_of": endpoints_of,
            "published": published,
            "consumer_view": consumer_view,
            "unpublished_errors": unpublished_errors,
            "flags_to_args": flags_to_args,
            "hash_basic_auth_users": hash_basic_auth_users,
            "hash_pbkdf2_users": hash_pbkdf2_users,
            "input_errors": input_errors,
            "listen_address_errors": listen_address_errors,
            "duration_errors": duration_errors,
            "label_errors": label_errors,
            "probe_targets_read": probe_targets_read,
            "file_sd_text": file_sd_text,
            "url_errors": url_errors,
            "url_path": url_path,
        }
