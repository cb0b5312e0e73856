"""Test helpers: registry samples, loopback HTTP, a real gunicorn server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

LOOPBACK = "127.0.0.1"


def sample(name: str, **labels: str) -> float:
    """Current value of one sample in the default registry (0.0 when absent)."""
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def get(
    url: str,
    timeout: float = 5.0,
    verify: str | bool = True,
    auth: tuple[str, str] | None = None,
) -> requests.Response:
    """GET on a fresh connection, ignoring proxy settings (loopback only)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=timeout, verify=verify, auth=auth)


def metric_sum(metrics_text: str, sample_name: str) -> float:
    """Sum of every sample called ``sample_name`` in an exposition text."""
    return sum(
        s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name == sample_name
    )


def file_metric_sum(db_file: Path, sample_name: str) -> float:
    """Sum of ``sample_name`` stored in one worker's multiprocess file."""
    if db_file.stat().st_size == 0:  # created by a booting worker, not sized yet
        return 0.0
    families = MultiProcessCollector.merge([str(db_file)], accumulate=False)
    return float(sum(s.value for f in families for s in f.samples if s.name == sample_name))


def child_pids(parent: int) -> set[int]:
    """Pids whose parent is ``parent`` (gunicorn workers of a master)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process exited meanwhile
            continue
        # Field 4 is the ppid; the command name (field 2) may contain spaces.
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


@dataclass
class GunicornServer:
    proc: subprocess.Popen[bytes]
    base_url: str
    multiproc_dir: Path | None
    log_path: Path

    def workers(self) -> set[int]:
        return child_pids(self.proc.pid)

    def scrape(self) -> str:
        response = get(f"{self.base_url}/metrics")
        response.raise_for_status()
        return response.text

    def wait_for_workers(
        self, count: int, exclude: frozenset[int] = frozenset(), timeout: float = 15.0
    ) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.workers()
            if len(pids) == count and not pids & exclude:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"expected {count} workers, have {self.workers()}\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def start_gunicorn(
    workdir: Path,
    workers: int = 4,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    ca_file: str | None = None,
) -> GunicornServer:
    """Start ``gunicorn -c python:monitored_app.gunicorn_conf`` on a free loopback port
    (HTTPS, verified against ``ca_file``, when given)."""
    port = free_port()
    log_path = workdir / f"gunicorn-{port}.log"
    server_env = {
        **os.environ,
        "GUNICORN_BIND": f"{LOOPBACK}:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": "2",
        "APP_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    multiproc = server_env.get("PROMETHEUS_MULTIPROC_DIR")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:monitored_app.gunicorn_conf"],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for a clean kill
        )
    scheme = "https" if ca_file else "http"
    server = GunicornServer(
        proc, f"{scheme}://{LOOPBACK}:{port}", Path(multiproc) if multiproc else None, log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{server.log()}")
        try:
            # /metrics is not instrumented, so polling it does not change the counters
            # (401: it asks for credentials, which also means the server is up).
            url = f"{server.base_url}/metrics"
            if get(url, timeout=5, verify=ca_file or True).status_code in (200, 401):
                server.wait_for_workers(workers)
                return server
        except requests.RequestException:  # not listening yet, or a slow first boot
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"gunicorn did not come up:\n{server.log()}")
