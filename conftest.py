"""Fixtures shared by the Molecule (testinfra) suites of every role and scenario."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
# The controller's artifact cache, where binary_service_cache_dir looks by default.
ARTIFACT_CACHE = Path(os.environ.get("MONITORING_STACK_CACHE") or Path.home() / ".cache" / "monitoring-stack")


def role_defaults(role: str) -> dict:
    """A role's defaults/main.yml as data (templated values stay unrendered strings)."""
    import yaml

    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


def curl_command(url: str, ca_file: str, user: str | None = None, password: str | None = None,
                 options: str = "-sf") -> str:
    """A curl command line (run on a scenario host) for `url`, verified against `ca_file` and,
    with a user, presenting basic-auth credentials. The URL is in double quotes, so its host may
    be a shell expression such as $(hostname -I | cut -d' ' -f1)."""
    creds = f"-u {shlex.quote(f'{user}:{password}')} " if user else ""
    return f'curl {options} --cacert {ca_file} {creds}"{url}"'


class PlaybookRun:
    """One ansible-playbook run, read from Ansible's json callback: the exit code, the change
    count from the recap, and each failed task's own result (its msg, stdout, stderr): never the
    whole output, where loop labels and task names would match any search."""

    def __init__(self, proc: subprocess.CompletedProcess[str]):
        self.returncode = proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        try:
            self.data = json.loads(proc.stdout[proc.stdout.index("{"):]) if "{" in proc.stdout else {}
        except ValueError:
            self.data = {}
        stats = self.data.get("stats", {})
        self.changed = sum(s.get("changed", 0) for s in stats.values())
        self.changed_by_host = {h: s.get("changed", 0) for h, s in stats.items()}
        self.failures: list[dict] = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                # The json callback names tasks "role : task"; keep the task's own name.
                task["task"]["name"] = task["task"]["name"].split(" : ", 1)[-1]
                for host, res in task.get("hosts", {}).items():
                    # A looped task fails through its items; the items carry the messages.
                    for item in [r for r in res.get("results", []) if isinstance(r, dict) and r.get("failed")] or [res]:
                        # A failure a rescue block handled says nothing (msg empty, output hidden).
                        if item.get("failed") and (item.get("msg") or item.get("stderr") or item.get("stdout")):
                            self.failures.append({"task": task["task"]["name"], "host": host, "msg": str(item.get("msg", "")),
                                                  "stdout": str(item.get("stdout", "")), "stderr": str(item.get("stderr", ""))})
        # Names of the tasks that ran (not skipped) on some host.
        self.tasks_run = [task["task"]["name"] for play in self.data.get("plays", []) for task in play.get("tasks", [])
                          if any(not r.get("skipped") for r in task.get("hosts", {}).values())]
        self.changed_tasks = [
            (task["task"]["name"], host) for play in self.data.get("plays", []) for task in play.get("tasks", [])
            for host, res in task.get("hosts", {}).items() if res.get("changed")]

    @property
    def messages(self) -> str:
        """Every result's own msg (debug output, warnings, failures), one per line."""
        return "\n".join(str(item["msg"]) for play in self.data.get("plays", []) for task in play.get("tasks", [])
                         for res in task.get("hosts", {}).values()
                         for item in ([r for r in res.get("results", []) if isinstance(r, dict)] or [res])
                         if item.get("msg"))

    @property
    def failure_text(self) -> str:
        """The failed tasks' own messages (msg, then the failed command's stderr and stdout)."""
        return "\n".join("\n".join(filter(None, [f["msg"], f["stderr"], f["stdout"]])) for f in self.failures)

    def __str__(self) -> str:  # for assertion messages
        return (f"rc={self.returncode} changed={self.changed} changed tasks={self.changed_tasks}\n"
                f"failures={json.dumps(self.failures, indent=1)[-4000:]}\nstderr={self.stderr[-2000:]}")


def component_playbook(component: str) -> Path:
    """playbooks/<component>.yml: one component's own playbook, as site.yml imports it."""
    return REPO / "playbooks" / f"{component}.yml"


def run_playbook(playbook: str | Path, limit: str, extra_vars: dict | None = None,
                 tags: str | None = None, check: bool = False) -> PlaybookRun:
    """Run a playbook against the scenario's inventory, as Molecule's converge does, with the
    verifier's strategy (ANSIBLE_STRATEGY: the harness's Mitogen)."""
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-l", limit, str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if tags:
        cmd += ["--tags", tags]
    if check:
        cmd += ["--check", "--diff"]
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    return PlaybookRun(subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env))


@pytest.fixture(scope="module")
def one_host():
    """One host of the scenario (the last by name; the role scenarios have one), for checks
    that do not depend on the platform, such as input validation, which runs on the controller
    before any host changes. Tests that take `host` run on every platform instead."""
    import testinfra

    hosts = testinfra.get_hosts(["ansible://all"], ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])
    return sorted(hosts, key=lambda h: h.backend.host)[-1]


@pytest.fixture(scope="module")
def converge_playbook() -> Path:
    return Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"


def poll(check, timeout: float = 30, interval: float = 1.0):
    """Call check() until it returns something truthy or `timeout` seconds passed; return its
    last value (callers assert on it with their own message)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_for(check, timeout: float, interval: float = 3.0, what: str = "condition"):
    """poll(), failing the test with `what` and the last value when check() never returned
    something truthy; returns that value."""
    last = poll(check, timeout, interval)
    if not last:
        pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
    return last


def main_pid(host, unit: str) -> str:
    """The unit's main PID as systemd reports it ("0" when not running)."""
    return host.check_output(f"systemctl show -p MainPID --value {unit}")


def unit_snapshot(host, unit: str, paths: list[str]) -> dict[str, str]:
    """What a bad run must not change: the unit's main PID and the files' checksums."""
    snap = {"pid": main_pid(host, unit)}
    for path in paths:
        snap[path] = host.file(path).sha256sum if host.file(path).exists else "<absent>"
    return snap


def host_address(host) -> str:
    """The container's primary address: where the roles listen by default."""
    return host.check_output("hostname -I").split()[0]


def assert_listens_on_host_address_only(host, port: int) -> None:
    """Listening on the host's own address, not on every interface nor on loopback."""
    assert host.socket(f"tcp://{host_address(host)}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening


def run_failing_without_change(host, playbook: str | Path, unit: str, files: list[str],
                               extra_vars: dict, not_reached: str | None = None, hidden: str | None = None) -> str:
    """Run `playbook` with bad `extra_vars`: the run must fail, change nothing (recap), and the
    unit's main PID and the `files` must be as before; the task named `not_reached`, if given,
    must not have run; `hidden` (a secret inside the bad input), if given, must appear nowhere in
    the run's output. Returns the failed tasks' own messages (PlaybookRun.failure_text) for the
    caller's checks."""
    before = unit_snapshot(host, unit, files)
    result = run_playbook(playbook, host.backend.host, extra_vars)
    assert result.returncode != 0, str(result)
    assert result.failures, str(result)
    assert result.changed == 0, str(result)
    assert not_reached is None or not_reached not in result.tasks_run, str(result)
    assert hidden is None or hidden not in result.stdout + result.stderr, "the secret of the bad input is shown"
    assert unit_snapshot(host, unit, files) == before
    return result.failure_text


def assert_enabled_system_service(host, unit: str, user: str) -> None:
    """The unit is running and enabled, its main process runs as `user`, a system account
    without a login shell."""
    service = host.service(unit)
    assert service.is_running and service.is_enabled
    account = host.user(user)
    assert account.shell == "/usr/sbin/nologin" and account.uid < 1000
    pid = main_pid(host, unit)
    # By PID, not by process name: comm is cut to 15 characters ("blackbox_export").
    assert host.check_output(f"ps -o user:32= -p {pid}").strip() == user


def security_score(host, unit: str) -> float:
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


