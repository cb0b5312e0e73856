"""Filters of the prometheus role: probe targets, scrape jobs, what the contract makes expected."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


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
    Each key of endpoints (vars/main.yml _prometheus_contract_sources) is its job's name."""
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


# --- remote write (README "HA and long-term storage") --------------------------------------
_REMOTE_WRITE_KEYS = frozenset({"url", "name", "basic_auth", "bearer_token", "ca_file", "tls_config",
                                "queue_config", "write_relabel_configs", "headers", "remote_timeout",
                                "metadata_config", "send_exemplars", "send_native_histograms", "protobuf_message"})
_QUEUE_DURATIONS = ("batch_send_deadline", "min_backoff", "max_backoff")
_QUEUE_NUMBERS = ("capacity", "max_shards", "min_shards", "max_samples_per_send", "sample_age_limit")


def remote_write_errors(entries: object) -> list[str]:
    """Problems with prometheus_remote_write that the URL and duration grammars do not cover
    (those are checked by url_errors / duration_errors with remote_write_urls and
    remote_write_durations): the shape of each entry, one auth method, known keys."""
    if not isinstance(entries, list):
        return ["prometheus_remote_write must be a list of {url: ..., ...} entries."]
    errors: list[str] = []
    names: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"prometheus_remote_write[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where} must be a mapping with at least url.")
            continue
        unknown = sorted(set(entry) - _REMOTE_WRITE_KEYS)
        if unknown:
            errors.append(f"{where} has unknown keys {unknown} (known: {', '.join(sorted(_REMOTE_WRITE_KEYS))}).")
        if entry.get("basic_auth") and entry.get("bearer_token"):
            errors.append(f"{where} sets both basic_auth and bearer_token: choose one.")
        auth = entry.get("basic_auth")
        if auth is not None and not (isinstance(auth, dict) and auth.get("username") and "password" in auth):
            errors.append(f"{where}.basic_auth must be {{username: ..., password: ...}} (the password from the vault).")
        for key in ("queue_config",):
            if key in entry and not isinstance(entry[key], dict):
                errors.append(f"{where}.{key} must be a mapping.")
        queue: dict[str, Any] = entry["queue_config"] if isinstance(entry.get("queue_config"), dict) else {}
        for key in _QUEUE_NUMBERS:
            if key in queue and (isinstance(queue[key], bool) or not isinstance(queue[key], int) or queue[key] < 0):
                errors.append(f"{where}.queue_config.{key} must be a whole number >= 0, "
                              f"got {json.dumps(queue[key], default=str)}.")
        relabel = entry.get("write_relabel_configs")
        if relabel is not None and not (isinstance(relabel, list) and all(isinstance(r, dict) for r in relabel)):
            errors.append(f"{where}.write_relabel_configs must be a list of relabel_config mappings.")
        name = entry.get("name")
        if name is not None:
            if name in names:
                errors.append(f"{where}.name {name!r} is also prometheus_remote_write[{names[name]}].name.")
            names[str(name)] = index
    return errors


def remote_write_urls(entries: object) -> dict[str, Any]:
    """{"prometheus_remote_write[i].url": url} for the shared url_errors filter."""
    return {f"prometheus_remote_write[{index}].url": entry.get("url")
            for index, entry in enumerate(entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)}


def remote_write_durations(entries: object) -> dict[str, Any]:
    """{"prometheus_remote_write[i].queue_config.<key>": duration} for duration_errors."""
    out: dict[str, Any] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        queue = entry.get("queue_config") if isinstance(entry, dict) else None
        if not isinstance(queue, dict):
            queue = {}
        for key in _QUEUE_DURATIONS:
            if key in queue:
                out[f"prometheus_remote_write[{index}].queue_config.{key}"] = queue[key]
        if isinstance(entry, dict) and "remote_timeout" in entry:
            out[f"prometheus_remote_write[{index}].remote_timeout"] = entry["remote_timeout"]
    return out


def remote_write_targets(entries: list[Mapping[str, Any]] | None,
                         stores: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """prometheus_remote_write plus one entry per store of the contract (victoriametrics_endpoint,
    write_path), each as {"key": secret file stem, "entry": user entry, "secret": {...}}: one
    list for the config and for the secret files (remote_write_config, remote_write_secrets)."""
    out: list[dict[str, Any]] = []
    for ep in stores or []:
        entry: dict[str, Any] = {"url": f"{ep['url']}{ep.get('write_path', '/api/v1/write')}",
                                 "name": f"victoriametrics-{ep.get('inventory_host', ep['address'])}"}
        if ep.get("scheme") == "https" and ep.get("ca_file"):
            entry["ca_file"] = ep["ca_file"]
        if (ep.get("basic_auth") or {}).get("username"):
            entry["basic_auth"] = dict(ep["basic_auth"])
        out.append(entry)
    return [{"key": f"remote-write-{index}", "entry": entry} for index, entry in enumerate(out + list(entries or []))]


def remote_write_config(targets: list[Mapping[str, Any]], secrets_dir: str, drop_labels: list[str],
                        queue_defaults: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """remote_write_targets -> prometheus.yml's remote_write: passwords and tokens as files
    (prometheus.yml, which a dry run diffs, holds no secret), the queue defaults under each
    entry's own queue_config, drop_labels (the replica label) dropped before any own relabeling."""
    config: list[dict[str, Any]] = []
    for target in targets:
        entry, key = dict(target["entry"]), target["key"]
        out: dict[str, Any] = {"url": entry.pop("url")}
        if "name" in entry:
            out["name"] = entry.pop("name")
        auth = entry.pop("basic_auth", None)
        if auth:
            out["basic_auth"] = {"username": auth["username"], "password_file": f"{secrets_dir}/{key}.password"}
        if entry.pop("bearer_token", None):
            out["authorization"] = {"type": "Bearer", "credentials_file": f"{secrets_dir}/{key}.password"}
        ca_file = entry.pop("ca_file", None)
        tls = dict(entry.pop("tls_config", None) or {})
        if ca_file:
            tls["ca_file"] = ca_file
        if tls:
            out["tls_config"] = tls
        out["queue_config"] = {**(queue_defaults or {}), **(entry.pop("queue_config", None) or {})}
        relabel = [{"action": "labeldrop", "regex": label} for label in drop_labels]
        relabel += list(entry.pop("write_relabel_configs", None) or [])
        if relabel:
            out["write_relabel_configs"] = relabel
        out.update(entry)
        config.append(out)
    return config


def remote_write_secrets(targets: list[Mapping[str, Any]]) -> dict[str, str]:
    """{secret file stem: password or bearer token} of remote_write_targets."""
    secrets: dict[str, str] = {}
    for target in targets:
        entry = target["entry"]
        if (entry.get("basic_auth") or {}).get("username"):
            secrets[target["key"]] = str(entry["basic_auth"].get("password", ""))
        elif entry.get("bearer_token"):
            secrets[target["key"]] = str(entry["bearer_token"])
    return secrets


def replicas(hosts: list[str] | None, hostvars: Mapping[str, Mapping[str, Any]], own_host: str,
             own_value: object) -> dict[str, str]:
    """{host of group prometheus: its replica label value}: the inventory's (or -e) value of
    prometheus_replica, else the role's default, the host's name; this host's own value as the
    role resolved it."""
    out = {str(host): str(hostvars[host].get("prometheus_replica", host)) for host in hosts or []}
    out[str(own_host)] = str(own_value)
    return out


def replica_errors(replicas: Mapping[str, Any], variable: str) -> list[str]:
    """{inventory host of group prometheus: its replica label value} -> one message per value
    that two or more replicas share (their series would collide in the store)."""
    seen: dict[str, list[str]] = {}
    for host, value in replicas.items():
        seen.setdefault(str(value), []).append(str(host))
    return [f"{variable} must differ between the replicas of group prometheus: {', '.join(hosts)} all have "
            f"{json.dumps(value)}." for value, hosts in seen.items() if len(hosts) > 1] + \
           [f"{variable} must not be empty (host {host})." for host, value in replicas.items() if not str(value)]


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
            "prometheus_scrape_job_errors": scrape_job_errors,
            "prometheus_remote_write_config": remote_write_config,
            "prometheus_remote_write_durations": remote_write_durations,
            "prometheus_remote_write_errors": remote_write_errors,
            "prometheus_remote_write_secrets": remote_write_secrets,
            "prometheus_remote_write_targets": remote_write_targets,
            "prometheus_remote_write_urls": remote_write_urls,
            "prometheus_replica_errors": replica_errors,
            "prometheus_replicas": replicas,
        }
