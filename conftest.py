"""Fixtures shared by the Molecule (testinfra) suites of every role and scenario."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def role_defaults(role: str) -> dict:
    """A role's defaults/main.yml as data (templated values stay unrendered strings)."""
    import yaml

    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


def run_playbook(playbook: str | Path, limit: str, extra_vars: dict | None = None,
                 tags: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a playbook against the scenario's inventory, as Molecule's converge does."""
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-l", limit, str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if tags:
        cmd += ["--tags", tags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=os.environ.copy())


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
                               extra_vars: dict) -> str:
    """Run `playbook` with bad `extra_vars`: the run must fail, and the unit's main PID and
    the `files` must be as before. Returns the run's output for the caller's message checks."""
    before = unit_snapshot(host, unit, files)
    result = run_playbook(playbook, host.backend.host, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert unit_snapshot(host, unit, files) == before
    return output


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


def changed_count(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))
