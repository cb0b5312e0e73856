"""Filters of the prometheus role: scrape targets from the inventory, blackbox probe targets."""
from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

_HOSTNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def host_targets(hosts, hostvars, port_var: str, default_port: int) -> list[str]:
    """["web1", ...] -> ["<ansible_host or name>:<hostvars[h][port_var] or default_port>", ...]."""
    targets = []
    for name in hosts or []:
        host_vars = hostvars[name]
        address = str(host_vars.get("ansible_host", name))
        if _is_ipv6(address):
            address = f"[{address}]"
        targets.append(f"{address}:{host_vars.get(port_var, default_port)}")
    return targets


def _probe_target_error(target: dict, modules: list[str]) -> str | None:
    """Why one probe target is unusable, or None."""
    if not isinstance(target, dict):
        return "must be a mapping {url, module, labels}"
    unknown_keys = sorted(set(target) - {"url", "module", "labels"})
    if unknown_keys:
        return f"unknown keys {unknown_keys} (allowed: url, module, labels)"
    url, module, labels = target.get("url"), target.get("module"), target.get("labels", {})
    if not isinstance(url, str) or not url.strip():
        return "url is missing or empty"
    if not isinstance(module, str) or module not in modules:
        return f"unknown module {module!r} (known: {', '.join(modules)}; see prometheus_blackbox_modules)"
    if not isinstance(labels, dict):
        return "labels must be a mapping of label name to value"
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key) or key.startswith("__"):
            return f"label name {key!r} is not a valid Prometheus label name (or starts with __)"
        if isinstance(value, (dict, list)) or value is None:
            return f"label {key!r} must have a scalar value"
    if module.startswith("http"):
        schemes = ("https",) if module.startswith("https") else ("http", "https")
        try:
            parts = urlsplit(url)
            valid = parts.scheme in schemes and bool(parts.hostname)
        except ValueError:  # e.g. an unbalanced [IPv6 bracket
            valid = False
        if not valid:
            want = " or ".join(f"{s}://" for s in schemes)
            return f"module {module} needs a URL starting with {want} and naming a host, got {url!r}"
        return None
    if module.startswith("tcp"):
        match = _HOST_PORT.match(url)
        if not match or not 1 <= int(match.group(2)) <= 65535:
            return f"module {module} needs host:port (port 1-65535, no scheme), got {url!r}"
        return None
    if module.startswith("icmp"):
        if not (_HOSTNAME.match(url) or _is_ipv6(url)):
            return f"module {module} needs a bare host name or IP address (no scheme, no port), got {url!r}"
        return None
    if any(ch.isspace() for ch in url):
        return f"target {url!r} contains white space"
    return None


def probe_target_errors(targets, modules) -> list[str]:
    """One message per unusable entry of prometheus_probe_targets, naming the entry."""
    if not isinstance(targets, list):
        return ["prometheus_probe_targets must be a list of {url, module, labels}"]
    errors, seen = [], {}
    for index, target in enumerate(targets):
        error = _probe_target_error(target, list(modules))
        where = f"prometheus_probe_targets[{index}]"
        if error is None:
            key = (target["url"], target["module"])
            if key in seen:
                error = f"duplicate of prometheus_probe_targets[{seen[key]}]"
            seen.setdefault(key, index)
        if error:
            errors.append(f"{where} {_describe(target)}: {error}")
    return errors


def _describe(target) -> str:
    if isinstance(target, dict):
        return f"(url {target.get('url')!r}, module {target.get('module')!r})"
    return f"({target!r})"


def probe_file_sd(targets) -> list[dict]:
    """prometheus_probe_targets -> file_sd target groups; the module travels as __param_module."""
    groups = []
    for target in targets or []:
        labels = {"__param_module": target["module"]}
        labels.update({key: str(value) for key, value in (target.get("labels") or {}).items()})
        groups.append({"targets": [target["url"]], "labels": labels})
    return groups


def scrape_job_errors(extra_jobs, reserved) -> list[str]:
    """Problems with prometheus_scrape_configs_extra: missing, duplicate or reserved job names."""
    if not isinstance(extra_jobs, list):
        raise AnsibleFilterError("prometheus_scrape_configs_extra must be a list of scrape_config mappings")
    errors, seen = [], {}
    for index, job in enumerate(extra_jobs):
        where = f"prometheus_scrape_configs_extra[{index}]"
        name = job.get("job_name") if isinstance(job, dict) else None
        if not isinstance(name, str) or not name:
            errors.append(f"{where}: needs a job_name")
        elif name in reserved:
            errors.append(f"{where}: job_name {name!r} is a duplicate of the role's own job {name!r}")
        elif name in seen:
            errors.append(f"{where}: duplicate job_name {name!r} (also prometheus_scrape_configs_extra[{seen[name]}])")
        else:
            seen[name] = index
    return errors


def global_duration_errors(global_config, duration_re: str) -> list[str]:
    """One message per interval/timeout of prometheus_global that is not a Prometheus duration."""
    pattern = re.compile(duration_re)
    return [f"prometheus_global.{key} must be a Prometheus duration like 15s or 1m, got {json.dumps(value, default=str)}."
            for key, value in (global_config or {}).items()
            if re.search(r"(interval|timeout)$", str(key)) and not (str(value) and pattern.match(str(value)))]


class FilterModule:
    def filters(self):
        return {
            "prometheus_global_duration_errors": global_duration_errors,
            "prometheus_host_targets": host_targets,
            "prometheus_probe_target_errors": probe_target_errors,
            "prometheus_probe_file_sd": probe_file_sd,
            "prometheus_scrape_job_errors": scrape_job_errors,
        }
