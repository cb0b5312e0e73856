"""Filters of the prometheus role: probe targets, scrape jobs, what the contract makes expected."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


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


def global_durations(global_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The intervals and timeouts of prometheus_global, named for the messages of the shared
    duration_errors filter: {"prometheus_global.scrape_interval": "15s", ...}."""
    return {f"prometheus_global.{key}": value for key, value in (global_config or {}).items()
            if re.search(r"(interval|timeout)$", str(key))}


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
    """Every target the contract makes, as {job, instance}: what the stack check expects up.
    Each key of endpoints (vars/main.yml _prometheus_contract_endpoints) is its job's name."""
    targets = [{"job": "prometheus", "instance": str(own["address"])}]
    for job, eps in endpoints.items():
        targets += [{"job": job, "instance": str(ep["address"])} for ep in eps or []]
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
            "prometheus_global_durations": global_durations,
            "prometheus_number_errors": number_errors,
            "prometheus_probe_file_sd": probe_file_sd,
            "prometheus_scrape_job_errors": scrape_job_errors,
        }
