"""``pusher``: a batch job that reports its result to the Prometheus Pushgateway.

Exit codes: 0 pushed, 1 the batch work or the push failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DEFAULT_GATEWAY = "http://127.0.0.1:9091"
DEFAULT_JOB = "batch_job"
DEFAULT_TIMEOUT_SECONDS = 10.0


class BatchResultCollector(Collector):
    """Exposes one batch result as two gauges.

    A plain collector rather than ``Gauge`` objects: if PROMETHEUS_MULTIPROC_DIR
    leaks into this process's environment, ``Gauge`` would write mmap files into the
    web app's metrics directory and show up in its /metrics.
    """

    def __init__(self, value: float, finished_at: float) -> None:
        self.value = value
        self.finished_at = finished_at

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "batch_random_value", "Result of the last successful batch run.", value=self.value
        )
        yield GaugeMetricFamily(
            "batch_last_success_timestamp_seconds",
            "Unix time the last successful batch run finished.",
            value=self.finished_at,
        )


def compute_value() -> float:
    """The batch job's work; a random number stands in for a real result."""
    return random.random()


Handler = Callable[
    [str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]
]


def make_handler(username: str = "", password: str = "", ca_file: str = "") -> Handler:
    """A push handler with basic auth and a CA file (certificates are always verified)."""

    def handler(
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        def push() -> None:
            request = Request(url, data=data, method=method)
            for name, value in headers:
                request.add_header(name, value)
            if username:
                token = base64.b64encode(f"{username}:{password}".encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            context = (
                ssl.create_default_context(cafile=ca_file or None)
                if url.startswith("https:")
                else None
            )
            with urlopen(request, timeout=timeout, context=context) as response:
                if response.status >= 400:
                    raise OSError(f"pushgateway answered {response.status} {response.reason}")

        return push

    return handler


def push_result(
    gateway: str,
    job: str,
    instance: str,
    value: float,
    finished_at: float,
    timeout: float,
    handler: Handler | None = None,
) -> None:
    """Push with a fresh registry. The grouping key holds the instance, so each host has its
    own group and its own last-success timestamp (one host's failing job is not hidden by
    another's success)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(BatchResultCollector(value, finished_at))
    push_to_gateway(
        gateway,
        job=job,
        registry=registry,
        grouping_key={"instance": instance},
        timeout=timeout,
        handler=handler or make_handler(),
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pusher", description="Run the batch job and push its result to the Pushgateway."
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("PUSHGATEWAY_URL") or DEFAULT_GATEWAY,
        help="Pushgateway URL (env PUSHGATEWAY_URL, default %(default)s)",
    )
    parser.add_argument(
        "--job",
        default=os.environ.get("PUSHER_JOB") or DEFAULT_JOB,
        help="job label / grouping key (env PUSHER_JOB, default %(default)s)",
    )
    parser.add_argument(
        "--instance",
        default=os.environ.get("PUSHER_INSTANCE") or socket.gethostname(),
        help="instance label in the grouping key (env PUSHER_INSTANCE, default: the host name)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="HTTP timeout in seconds (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.job.strip():
        parser.error("--job must not be empty")
    if not args.instance.strip():
        parser.error("--instance must not be empty")
    return args


def _handler_from_env() -> Handler:
    """Credentials and CA from the environment: PUSHGATEWAY_USERNAME, PUSHGATEWAY_PASSWORD_FILE
    (a file, so the password is in neither the unit nor ps), PUSHGATEWAY_CA_FILE."""
    password_file = os.environ.get("PUSHGATEWAY_PASSWORD_FILE", "")
    password = ""
    if password_file:
        with open(password_file, encoding="utf-8") as fh:
            password = fh.read().strip()
    return make_handler(
        os.environ.get("PUSHGATEWAY_USERNAME", ""),
        password,
        os.environ.get("PUSHGATEWAY_CA_FILE", ""),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        value = compute_value()
    except Exception as exc:  # the batch failed: push nothing, keep the last success
        print(f"pusher: batch job failed, nothing pushed: {exc}", file=sys.stderr)
        return 1
    finished_at = time.time()
    try:
        push_result(
            args.gateway, args.job, args.instance, value, finished_at, args.timeout,
            _handler_from_env(),
        )
    # URLError, HTTPError and timeouts are OSErrors; a malformed URL is a ValueError.
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, URLError) and not isinstance(exc, HTTPError) else exc
        print(f"pusher: cannot push to Pushgateway at {args.gateway}: {reason}", file=sys.stderr)
        return 1
    print(
        f"pusher: pushed batch_random_value={value:.6f} job={args.job}"
        f" instance={args.instance} to {args.gateway}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
