"""Gunicorn configuration: ``gunicorn -c python:monitored_app.gunicorn_conf``.

Every knob is read from the environment so the systemd unit owns the deployment
values; the defaults suit a small host. The hooks keep prometheus_client's
multiprocess files consistent across worker restarts.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from monitored_app.logs import JsonFormatter

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be >= {minimum}, got {value}")
    return value


def _multiproc_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None


wsgi_app = "monitored_app.wsgi:application"
# Loopback by default; the systemd unit sets the real address(es), comma-separated.
bind = [
    address.strip()
    for address in (os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000").split(",")
    if address.strip()
]
# Gunicorn's own rule of thumb (2 x cores + 1) for the number of processes.
workers = _env_int("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1) + 1)
# threads > 1 selects the gthread worker: keep-alive and no head-of-line blocking
# behind a slow client or a /benchmark/run call.
threads = _env_int("GUNICORN_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Metrics must be created in each worker after the fork: never preload the app.
preload_app = False
# The app writes its own JSON request log; gunicorn's access log would duplicate it.
accesslog = None
errorlog = "-"
# TLS: both files or neither. Gunicorn loads them when a worker starts, so a rotated
# certificate takes effect with a reload (HUP: new workers), not a restart.
certfile = os.environ.get("GUNICORN_CERTFILE", "").strip() or None
keyfile = os.environ.get("GUNICORN_KEYFILE", "").strip() or None
if (certfile is None) != (keyfile is None):
    raise SystemExit("GUNICORN_CERTFILE and GUNICORN_KEYFILE must be set together")
# The control socket defaults to one shared path in $HOME; several instances on a
# host (or a read-only home of a service user) would collide. Nothing uses it here.
control_socket_disable = True


class JsonLogger(Logger):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn's own log lines (boot, worker exits) as JSON on stdout, like the app."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                    handler.setStream(sys.stdout)


logger_class = JsonLogger


def on_starting(server: Arbiter) -> None:
    """Master start: forget metric files of a previous run (their pids are gone)."""
    path = _multiproc_dir()
    if path is None:
        return
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    # Only prometheus_client's *.db files: a mis-set variable pointing at a shared
    # directory must not delete anything else.
    removed = 0
    for entry in directory.glob("*.db"):
        if entry.is_file():
            entry.unlink()
            removed += 1
    server.log.info("cleared %d metric files in %s", removed, directory)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker died: drop its live gauges; its counters stay, so sums never go back."""
    path = _multiproc_dir()
    if path is not None:
        multiprocess.mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]
