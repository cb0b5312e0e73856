"""``pusher``: a batch job that reports its result to the Prometheus Pushgateway.

Exit codes: 0 pushed, 1 the batch work or the push failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from urllib.error import HTTPError, URLError

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


def push_result(gateway: str, job: str, value: float, finished_at: float, timeout: float) -> None:
    """Push with a fresh registry; the grouping key is the job only."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(BatchResultCollector(value, finished_at))
    push_to_gateway(gateway, job=job, registry=registry, timeout=timeout)


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
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="HTTP timeout in seconds (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.job.strip():
        parser.error("--job must not be empty")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        value = compute_value()
    except Exception as exc:  # the batch failed: push nothing, keep the last success
        print(f"pusher: batch job failed, nothing pushed: {exc}", file=sys.stderr)
        return 1
    finished_at = time.time()
    try:
        push_result(args.gateway, args.job, value, finished_at, args.timeout)
    # URLError, HTTPError and timeouts are OSErrors; a malformed URL is a ValueError.
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, URLError) and not isinstance(exc, HTTPError) else exc
        print(f"pusher: cannot push to Pushgateway at {args.gateway}: {reason}", file=sys.stderr)
        return 1
    print(f"pusher: pushed batch_random_value={value:.6f} job={args.job} to {args.gateway}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
