#!/usr/bin/env python3
"""Deployment speed of playbooks/site.yml, measured on the lab's own containers.

Three measurements, each printed as a table row (and written as JSON with --json):

* **lab**: the full-stack scenario's containers (molecule/default: monitor, app1, app2) are
  created fresh; site.yml runs with the lab inventory (a fresh converge), then again at once
  (the re-run, nothing to change).
* **one host**: one Debian 13 container with pushgateway, blackbox, alertmanager and
  prometheus; a fresh converge and the immediate re-run of site.yml.
* **scale**: on that host, the prometheus play (playbooks/prometheus.yml) with 10 / 500 / 5,000
  fake app hosts (127.x loopback addresses, never connected to: they are only scrape targets)
  and 40 / 2,000 / 20,000 probe targets on the monitor's own loopback. Each size runs twice
  (apply, then re-run); the generated file sizes are read and `promtool check config` must pass.

Wall times come from this script's clock around ansible-playbook; task and change counts
from Ansible's json callback. Everything stays on this machine: the runs are offline
(monitoring_offline: true) and every address is a container or loopback.

    .venv/bin/python bench/deploy.py                    # all three, ~15 min
    .venv/bin/python bench/deploy.py --only onehost,scale --json /tmp/after.json
    .venv/bin/python bench/deploy.py --repo /tmp/old-checkout   # the same on another revision
    pip install --target /tmp/mitogen mitogen==0.3.54
    .venv/bin/python bench/deploy.py --only lab,onehost --mitogen /tmp/mitogen   # Mitogen, opt-in
    ANSIBLE_PIPELINING=false .venv/bin/python bench/deploy.py --only onehost   # one lever off

Prerequisites: scripts/harness/prepare.sh (Docker engine, images, artifact cache, .venv).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PREFIX = "bench-"
ONE_HOST = f"{PREFIX}single"
SCALES = [(10, 40), (500, 2000), (5000, 20000)]
# Molecule's working directory for the lab's containers (molecule/default with PREFIX).
LAB_EPHEMERAL = Path(tempfile.gettempdir()) / "monitoring-stack-bench" / "molecule-default"
# The systemd-in-Docker recipe of .config/molecule/config.yml.
SYSTEMD_RUN = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns", "host",
               "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
               "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp"]


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({result.returncode}):\n"
                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def playbook(repo: Path, inventory: list[str], play: str, env: dict[str, str],
             extra: list[str] | None = None) -> dict[str, Any]:
    """Run one playbook with the json callback; wall time, task count, ok/changed totals."""
    env = {**env, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_ROLES_PATH": str(repo / "roles"),
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    cmd = [str(repo / ".venv/bin/ansible-playbook") if (repo / ".venv/bin/ansible-playbook").exists()
           else "ansible-playbook"]
    for inv in inventory:
        cmd += ["-i", inv]
    cmd += [str(repo / play)] + (extra or [])
    t0 = time.monotonic()
    result = run(cmd, env=env, cwd=repo, check=False)
    wall = time.monotonic() - t0
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.exit(f"bench: {play} printed no JSON:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    if not data["stats"]:
        sys.exit(f"bench: {play} ran on no host (inventory {inventory}):\n{result.stderr[-3000:]}")
    if result.returncode != 0:
        failed = [(t["task"]["name"], h, r.get("msg")) for p in data["plays"] for t in p["tasks"]
                  for h, r in t["hosts"].items() if r.get("failed")]
        sys.exit(f"bench: {play} failed: {failed[:5]}")
    tasks = sum(1 for p in data["plays"] for t in p["tasks"]
                if any(not r.get("skipped") for r in t["hosts"].values()))
    stats = data["stats"]
    # Where the time goes: each task's wall time (the json callback's start/end), slowest first.
    durations = sorted(((task_seconds(t), t["task"]["name"]) for p in data["plays"] for t in p["tasks"]), reverse=True)
    return {"wall_s": round(wall, 1), "tasks_run": tasks,
            "slowest_tasks": [[round(s, 2), name] for s, name in durations[:SLOWEST]],
            "remote_tasks": sum(1 for p in data["plays"] for t in p["tasks"] if runs_on_host(t)),
            "ok": sum(s["ok"] for s in stats.values()), "changed": sum(s["changed"] for s in stats.values()),
            "changed_by_host": {h: s["changed"] for h, s in stats.items() if s["changed"]}}


SLOWEST = 25


def task_seconds(task: Mapping[str, Any]) -> float:
    d = task["task"].get("duration") or {}
    if not d.get("start") or not d.get("end"):
        return 0.0
    start, end = (datetime.datetime.fromisoformat(str(d[k]).replace("Z", "+00:00")) for k in ("start", "end"))
    return (end - start).total_seconds()


def runs_on_host(task: Mapping[str, Any]) -> bool:
    """A task that ran a module on a managed host: not skipped, not an action that runs in the
    controller's process, not delegated (to the controller's artifact cache)."""
    local = {"set_fact", "assert", "fail", "debug", "meta", "include_role", "include_tasks", "add_host",
             "group_by", "include_vars", "validate_argument_spec", "artifact_cache"}
    return any(not r.get("skipped") and "_ansible_delegated_vars" not in r
               and r.get("action", "").split(".")[-1] not in local
               for r in task["hosts"].values())


def molecule_env(repo: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update({"MOLECULE_INSTANCE_PREFIX": PREFIX, "PATH": f"{repo / '.venv/bin'}:{env['PATH']}",
                # Where bench_lab reads the scenario's inventory and ansible.cfg.
                "MOLECULE_EPHEMERAL_DIRECTORY": str(LAB_EPHEMERAL)})
    for name in ["PROMETHEUS", "ALERTMANAGER", "PUSHGATEWAY", "BLACKBOX", "GRAFANA", "APP"]:
        env[f"LAB_{name}_PORT"] = ""  # Docker picks free loopback ports
    return env


def bench_lab(repo: Path) -> dict[str, Any]:
    env = molecule_env(repo)
    run(["molecule", "destroy", "-s", "default"], env=env, cwd=repo)
    try:
        run(["molecule", "create", "-s", "default"], env=env, cwd=repo)
        run(["molecule", "prepare", "-s", "default"], env=env, cwd=repo)
        # Molecule's ansible.cfg, with the repository's filters and lookups (as ansible.cfg's).
        env.update({"ANSIBLE_CONFIG": str(LAB_EPHEMERAL / "ansible.cfg"),
                    "ANSIBLE_FILTER_PLUGINS": str(repo / "plugins/filter"),
                    "ANSIBLE_LOOKUP_PLUGINS": str(repo / "plugins/lookup")})
        if MITOGEN:
            # The lab's inventory names the connection by its FQCN, which Mitogen does not
            # redirect to its own transport; the harness's strategy maps it.
            env.update({"PYTHONPATH": str(MITOGEN), "ANSIBLE_STRATEGY": "mitogen_linear_docker",
                        "ANSIBLE_STRATEGY_PLUGINS": str(repo / "molecule/shared/strategy")})
        inv = [str(LAB_EPHEMERAL / "inventory")]
        fresh = playbook(repo, inv, "playbooks/site.yml", env)
        rerun = playbook(repo, inv, "playbooks/site.yml", env)
    finally:
        run(["molecule", "destroy", "-s", "default"], env=env, cwd=repo, check=False)
    return {"fresh": fresh, "rerun": rerun}


MITOGEN: Path | None = None


def mitogen_env(env: dict[str, str]) -> dict[str, str]:
    """Mitogen as the strategy (opt-in): its strategy plugins and its own docker transport."""
    if not MITOGEN:
        return env
    return {**env, "PYTHONPATH": str(MITOGEN), "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": str(MITOGEN / "ansible_mitogen/plugins/strategy")}


def write_one_host_inventory(tmp: Path, apps: int = 0, probes: int = 0) -> Path:
    """The one-host inventory; with apps/probes, the scale run's fake hosts and targets."""
    inv: dict[str, Any] = {
        "all": {
            # Mitogen redirects the short name "docker" (community.docker.docker) to its own.
            "vars": {"ansible_connection": "docker" if MITOGEN else "community.docker.docker",
                     "monitoring_offline": True, "ansible_python_interpreter": "/usr/bin/python3"},
            # node_exporter as a group: without it the stack puts node_exporter on every host of
            # the inventory, the scale run's fake app hosts included (playbooks/node_exporter.yml).
            "children": {g: {"hosts": {ONE_HOST: None}}
                         for g in ["prometheus", "alertmanager", "pushgateway", "blackbox", "node_exporter"]},
        }
    }
    if apps:
        # 127.1.0.0/16 and up: loopback addresses nothing listens on. Ansible never connects
        # to them: they are not in group "app" (no play runs on them); they declare their
        # endpoint, as apps this repository does not deploy would (docs/architecture.md).
        inv["all"]["children"]["scale_app"] = {"hosts": {
            f"app{i:05d}": {"app_endpoint": {"address": f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}:8000"}}
            for i in range(apps)}}
    vars_ = {
        "prometheus_app_group": "scale_app",
        # The scale runs scrape every 10 minutes: the monitor shares the controller's two CPUs
        # here, and scraping and probing 25,000 targets a minute took CPU from the very play
        # being measured (the 5,000-host re-run was slower than the apply before it).
        "prometheus_global": {"scrape_interval": "10m" if apps or probes else "1m", "evaluation_interval": "1m",
                              "scrape_timeout": "10s"},
        "alertmanager_receivers": [{"name": "bench-webhook", "webhook_configs": [{"url": "http://127.0.0.1:5001/"}]}],
        "alertmanager_route": {"receiver": "bench-webhook"},
        "prometheus_probe_targets": (
            [{"url": f"http://127.0.0.1:9090/-/healthy?probe={i}", "module": "http_2xx", "labels": {"service": "bench"}}
             for i in range(probes // 2)]
            + [{"url": f"127.0.0.1:{10000 + i}", "module": "tcp_connect"} for i in range(probes - probes // 2)]
            if probes else
            [{"url": "http://127.0.0.1:9090/-/healthy", "module": "http_2xx"},
             {"url": "127.0.0.1:9093", "module": "tcp_connect"}]),
    }
    path = tmp / f"inventory-{apps}-{probes}"
    path.mkdir(exist_ok=True)
    (path / "hosts.yml").write_text(json.dumps(inv))
    (path / "group_vars").mkdir(exist_ok=True)
    (path / "group_vars" / "all.yml").write_text(json.dumps(vars_))
    return path


def docker_exec(*cmd: str) -> str:
    return run(["docker", "exec", ONE_HOST, *cmd]).stdout


def listed_targets(apps: int, probes: int, timeout: float = 120) -> dict[str, int]:
    """Active targets per job in Prometheus' API, once the app and probe counts are all there
    (file_sd changes are picked up within seconds), or what was listed at the timeout."""
    address = docker_exec("hostname", "-I").split()[0]
    deadline = time.monotonic() + timeout
    while True:
        body = json.loads(docker_exec("curl", "-sf", f"http://{address}:9090/api/v1/targets?state=active"))
        jobs: dict[str, int] = {}
        for target in body["data"]["activeTargets"]:
            jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
        if (jobs.get("app", 0) == apps and jobs.get("blackbox-probes", 0) == probes) or time.monotonic() > deadline:
            return {"app": jobs.get("app", 0), "blackbox-probes": jobs.get("blackbox-probes", 0)}
        time.sleep(2)


def bench_one_host(repo: Path, tmp: Path, with_scale: bool) -> dict[str, Any]:
    env = mitogen_env(os.environ.copy())
    env.pop("ANSIBLE_CONFIG", None)
    run(["docker", "rm", "-f", ONE_HOST], check=False)
    run(["docker", "run", "-d", "--name", ONE_HOST, "--hostname", ONE_HOST, *SYSTEMD_RUN,
         "monitoring-stack/debian:13", "/lib/systemd/systemd"])
    out: dict[str, Any] = {}
    try:
        inv = str(write_one_host_inventory(tmp))
        cache = os.environ.get("MONITORING_STACK_CACHE") or str(Path.home() / ".cache/monitoring-stack")
        # Test preparation (Debian's alertmanager data files), not measured.
        prep = tmp / "prepare.yml"
        prep.write_text(json.dumps([{
            "hosts": "alertmanager", "become": True, "gather_facts": False, "vars": {"cache": cache},
            "tasks": [{"ansible.builtin.import_tasks": str(repo / "molecule/shared/debian_alertmanager_data.yml")}]}]))
        playbook(repo, [inv], str(prep), env)
        out["fresh"] = playbook(repo, [inv], "playbooks/site.yml", env)
        out["rerun"] = playbook(repo, [inv], "playbooks/site.yml", env)
        if with_scale:
            out["scale"] = []
            for apps, probes in SCALES:
                inv_n = str(write_one_host_inventory(tmp, apps, probes))
                apply = playbook(repo, [inv_n], "playbooks/prometheus.yml", env)
                # The faster of two re-runs: the monitor's Prometheus and blackbox exporter are
                # busy with up to 25,000 targets meanwhile, and that noise is not the play's cost.
                reruns = [playbook(repo, [inv_n], "playbooks/prometheus.yml", env) for _ in range(2)]
                again = {**min(reruns, key=lambda r: r["wall_s"]), "walls_s": [r["wall_s"] for r in reruns]}
                sizes = {f: int(docker_exec("stat", "-c", "%s", f"/etc/prometheus/{f}"))
                         for f in ["prometheus.yml", "file_sd/app.yml", "file_sd/probes.yml"]}
                check = run(["docker", "exec", ONE_HOST, "promtool", "check", "config",
                             "/etc/prometheus/prometheus.yml"], check=False)
                out["scale"].append({"apps": apps, "probes": probes, "apply": apply, "rerun": again,
                                     "bytes": sizes, "promtool_check_config": check.returncode == 0,
                                     "targets_listed": listed_targets(apps, probes)})
    finally:
        run(["docker", "rm", "-f", ONE_HOST], check=False)
    return out


def table(results: dict[str, Any]) -> str:
    rows = ["| run | wall s | tasks run | ok | changed |", "|---|---:|---:|---:|---:|"]

    def row(name: str, r: Mapping[str, Any]) -> None:
        rows.append(f"| {name} | {r['wall_s']} | {r['tasks_run']} | {r['ok']} | {r['changed']} |")
    for key, label in [("lab", "lab (3 hosts)"), ("onehost", "one host, 4 components")]:
        if key in results:
            row(f"{label}: fresh converge", results[key]["fresh"])
            row(f"{label}: re-run", results[key]["rerun"])
            share = results[key]["rerun"]["wall_s"] / results[key]["fresh"]["wall_s"]
            rows.append(f"| {label}: re-run / fresh | {share:.0%} | | | |")
    scale = results.get("onehost", {}).get("scale")
    if scale:
        rows += ["", "| app hosts | probe targets | apply s | re-run s (best of 2) | re-run vs smallest "
                 "| prometheus.yml | app.yml | probes.yml | promtool check config "
                 "| targets in /api/v1/targets (app, probes) |",
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        base = scale[0]["rerun"]["wall_s"]
        for s in scale:
            b = s["bytes"]
            walls = " / ".join(str(w) for w in s["rerun"].get("walls_s", []))
            rows.append(f"| {s['apps']} | {s['probes']} | {s['apply']['wall_s']} | {s['rerun']['wall_s']} ({walls}) | "
                        f"{s['rerun']['wall_s'] / base:.2f}x | {b['prometheus.yml']:,} B | "
                        f"{b['file_sd/app.yml']:,} B | "
                        f"{b['file_sd/probes.yml']:,} B | {'passes' if s['promtool_check_config'] else 'FAILS'} | "
                        f"{s['targets_listed']['app']:,}, {s['targets_listed']['blackbox-probes']:,} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="checkout to measure (default: this one)")
    parser.add_argument("--only", default="lab,onehost,scale", help="comma list of lab, onehost, scale")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--mitogen", type=Path, help="run the lab and one-host plays with Mitogen from this directory "
                        "(pip install --target DIR mitogen)")
    args = parser.parse_args()
    global MITOGEN
    MITOGEN = args.mitogen
    repo = args.repo.resolve()
    only = set(args.only.split(","))
    revision = run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "revision": revision,
        "options": {"mitogen": bool(args.mitogen), "pipelining": os.environ.get("ANSIBLE_PIPELINING", "ansible.cfg")}}
    with tempfile.TemporaryDirectory(prefix="bench-deploy.") as tmp:
        if "lab" in only:
            results["lab"] = bench_lab(repo)
        if "onehost" in only or "scale" in only:
            results["onehost"] = bench_one_host(repo, Path(tmp), "scale" in only)
    print(f"{results['date']}, {results['machine']}, revision {results['revision']}, options {results['options']}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
