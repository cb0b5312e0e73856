"""Prometheus metric definitions and the ``/metrics`` WSGI app.

Metrics are module-level singletons: prometheus_client refuses duplicate names in a
registry, and in multiprocess mode each worker process must create them exactly once
(after the fork, which is why gunicorn must not ``preload_app``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    make_wsgi_app,
    multiprocess,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# Fixed label for requests that matched no URL rule (404, 405): one series, not one per URL.
UNMATCHED_ROUTE = "<unmatched>"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

REQUESTS = Counter(
    "app_requests",  # exposed as app_requests_total
    "HTTP requests handled, by method, route template and status code.",
    ("method", "route", "status"),
)
REQUEST_LATENCY = Histogram(
    "app_request_latency_seconds",
    "HTTP request latency in seconds, by method and route template.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
# livesum: the number in flight is the sum over *live* workers; a dead worker's
# requests are no longer in progress, so its file must drop out of the sum.
# Labelled by method only: it is raised before Flask routes the request (a route label
# would need a before_request hook, which costs as much as a metric update).
REQUESTS_IN_PROGRESS = Gauge(
    "app_requests_in_progress",
    "HTTP requests currently being handled by the Flask app, by method.",
    ("method",),
    multiprocess_mode="livesum",
)
EXCEPTIONS = Counter(
    "app_exceptions",  # exposed as app_exceptions_total
    "Unhandled exceptions raised by request handlers, by route and exception type.",
    ("route", "exception_type"),
)

BENCHMARK_RUNS = Counter("app_benchmark_runs", "Completed benchmark runs.")
BENCHMARK_JOBS = Counter("app_benchmark_jobs", "Synthetic benchmark jobs executed.")
# mostrecent: a benchmark gauge describes the *last run* on any worker, so the
# newest write wins instead of summing across workers; "most recent" rather than
# "livemostrecent" keeps the last result visible after its worker was recycled.
BENCHMARK_THROUGHPUT = Gauge(
    "app_benchmark_throughput_jobs_per_second",
    "Throughput of the most recent benchmark run, in jobs per second.",
    multiprocess_mode="mostrecent",
)
BENCHMARK_MEAN_LATENCY = Gauge(
    "app_benchmark_mean_latency_seconds",
    "Mean job latency of the most recent benchmark run, in seconds.",
    multiprocess_mode="mostrecent",
)
BENCHMARK_JOB_DURATION = Histogram(
    "app_benchmark_job_duration_seconds",
    "Duration of individual synthetic benchmark jobs, in seconds.",
    buckets=JOB_BUCKETS,
)


class BootSafeMultiProcessCollector(multiprocess.MultiProcessCollector):
    """MultiProcessCollector that skips files a booting worker has not sized yet.

    prometheus_client creates each file empty and only then extends it; a scrape in
    that window fails with ``struct.error`` (HTTP 500). Gunicorn replaces workers at
    any time (crash, max_requests), so scrapes must tolerate it. An empty file holds
    no samples, so skipping it loses nothing.
    """

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        self._directory = path
        super().__init__(registry, path=path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        files = [
            name for name in glob.glob(os.path.join(self._directory, "*.db")) if _non_empty(name)
        ]
        return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


def _non_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # a dead worker's live-gauge file, removed meanwhile
        return False


def make_metrics_app(multiproc_dir: str | None) -> WSGIApplication:
    """WSGI app rendering metrics: merged across workers when ``multiproc_dir`` is set."""
    if multiproc_dir is None:
        return make_wsgi_app(REGISTRY)
    # A private registry holding only the merged view of all workers' files; the
    # default registry would add this process's own, per-worker values on top.
    registry = CollectorRegistry()
    BootSafeMultiProcessCollector(registry, path=multiproc_dir)
    return make_wsgi_app(registry)
