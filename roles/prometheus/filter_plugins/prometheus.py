"""Filters of the prometheus role: probe targets, scrape jobs, what the contract makes expected."""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any
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


def _probe_target_error(target: object, modules: list[str]) -> str | None:
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
        return (f"unknown module {module!r} (known: {', '.join(modules)}: the modules the blackbox "
                "exporter publishes, blackbox_modules + blackbox_extra_modules)")
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


def probe_target_errors(targets: object, modules: Iterable[str]) -> list[str]:
    """One message per unusable entry of prometheus_probe_targets, naming the entry."""
    if not isinstance(targets, list):
        return ["prometheus_probe_targets must be a list of {url, module, labels}"]
    errors: list[str] = []
    seen: dict[tuple[Any, Any], int] = {}
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


def _describe(target: object) -> str:
    if isinstance(target, dict):
        return f"(url {target.get('url')!r}, module {target.get('module')!r})"
    return f"({target!r})"


def probe_file_sd(targets: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """prometheus_probe_targets -> file_sd target groups; the module travels as __param_module."""
    groups: list[dict[str, Any]] = []
    for target in targets or []:
        labels = {"__param_module": target["module"]}
        labels.update({key: str(value) for key, value in (target.get("labels") or {}).items()})
        groups.append({"targets": [target["url"]], "labels": labels})
    return groups


def scrape_job_errors(extra_jobs: object, reserved: Container[str]) -> list[str]:
    """Problems with prometheus_scrape_configs_extra: missing, duplicate or reserved job names."""
    if not isinstance(extra_jobs, list):
        raise AnsibleFilterError("prometheus_scrape_configs_extra must be a list of scrape_config mappings")
    errors: list[str] = []
    seen: dict[str, int] = {}
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


def global_duration_errors(global_config: Mapping[str, Any] | None, duration_re: str) -> list[str]:
    """One message per interval/timeout of prometheus_global that is not a Prometheus duration."""
    durations = {f"prometheus_global.{key}": value for key, value in (global_config or {}).items()
                 if re.search(r"(interval|timeout)$", str(key))}
    return duration_errors(durations, duration_re)


def duration_errors(values: Mapping[str, Any] | None, duration_re: str) -> list[str]:
    """{variable name: value} -> one message per value that is not a Prometheus duration
    (model.ParseDuration: units y w d h m s ms, largest first, each at most once)."""
    pattern = re.compile(duration_re)
    return [f"{name} must be a Prometheus duration like 30s, 5m or 1h, got {json.dumps(value, default=str)}."
            for name, value in (values or {}).items()
            if isinstance(value, bool) or not (str(value) and pattern.match(str(value)))]


def number_errors(values: Mapping[str, Any] | None) -> list[str]:
    """{variable name: value} -> one message per value that is not a number >= 0."""
    errors: list[str] = []
    for name, value in (values or {}).items():
        try:
            ok = not isinstance(value, bool) and float(value) >= 0 and str(value).strip() != ""
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append(f"{name} must be a number >= 0, got {json.dumps(value, default=str)}.")
    return errors


def contract_errors(groups_per_component: Mapping[str, int]) -> list[str]:
    """{component: number of distinct client settings among its hosts} -> one message per
    component whose hosts differ (one scrape job cannot talk to them alike)."""
    return [f'The hosts of group "{name}" publish different schemes, path prefixes, CAs or credentials '
            f"({count} variants): one scrape job needs them alike."
            for name, count in groups_per_component.items() if count > 1]


def client_passwords(endpoints: Mapping[str, list[Mapping[str, Any]]], own: Mapping[str, Any]) -> dict[str, str]:
    """{job: password} Prometheus presents: its own endpoint (self-scrape) and each component's."""
    firsts = {"prometheus": own, **{job: eps[0] for job, eps in endpoints.items() if eps}}
    return {job: str(ep["basic_auth"]["password"]) for job, ep in firsts.items()
            if (ep.get("basic_auth") or {}).get("username")}


def expected_targets(endpoints: Mapping[str, list[Mapping[str, Any]]], own: Mapping[str, Any],
                     probes: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    """Every target the contract makes, as {job, instance}: what the stack check expects up."""
    targets = [{"job": "prometheus", "instance": str(own["address"])}]
    for job in ("app", "pushgateway", "alertmanager", "blackbox"):
        targets += [{"job": job, "instance": str(ep["address"])} for ep in endpoints.get(job) or []]
    targets += [{"job": "blackbox-probes", "instance": str(probe["url"])} for probe in probes or []]
    return targets


def target_problems(targets: Mapping[str, Any] | None, expected: Iterable[Mapping[str, str]]) -> list[str]:
    """/api/v1/targets (JSON) vs the expected {job, instance}: one line per target that is
    missing or not up, with Prometheus' lastError."""
    active = {(t.get("labels", {}).get("job"), t.get("labels", {}).get("instance")): t
              for t in ((targets or {}).get("data") or {}).get("activeTargets") or []}
    problems: list[str] = []
    for want in expected:
        target = active.get((want["job"], want["instance"]))
        if target is None:
            problems.append(f"job {want['job']} target {want['instance']}: not among Prometheus' targets")
        elif target.get("health") != "up":
            problems.append(f"job {want['job']} target {want['instance']} is {target.get('health')}: "
                            f"{target.get('lastError') or 'not scraped yet'}")
    return problems


def alertmanager_problems(state: Mapping[str, Any] | None, endpoints: Iterable[Mapping[str, Any]]) -> list[str]:
    """/api/v1/alertmanagers (JSON) vs the published Alertmanager endpoints."""
    urls = [str(a.get("url", "")) for a in ((state or {}).get("data") or {}).get("activeAlertmanagers") or []]
    return [f"Alertmanager {ep['address']} is not discovered by Prometheus"
            for ep in endpoints if not any(f"://{ep['address']}/" in url for url in urls)]


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "prometheus_alertmanager_problems": alertmanager_problems,
            "prometheus_contract_errors": contract_errors,
            "prometheus_target_problems": target_problems,
            "prometheus_client_passwords": client_passwords,
            "prometheus_expected_targets": expected_targets,
            "prometheus_duration_errors": duration_errors,
            "prometheus_global_duration_errors": global_duration_errors,
            "prometheus_number_errors": number_errors,
            "prometheus_probe_target_errors": probe_target_errors,
            "prometheus_probe_file_sd": probe_file_sd,
            "prometheus_scrape_job_errors": scrape_job_errors,
        }
