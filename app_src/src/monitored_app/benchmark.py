"""Synthetic benchmark: run many tiny jobs on a thread pool and report throughput/cost."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from monitored_app import metrics

_PAYLOAD = bytes(range(256)) * 4  # 1 KiB hashed per CPU round
_MAX_CPU_ROUNDS = 20  # ~20 sha256 rounds of 1 KiB: tens of microseconds
_MAX_SLEEP_SECONDS = 0.001  # keeps every job well under "a few ms"


class BenchmarkInputError(ValueError):
    """The request payload does not describe a valid benchmark run."""


def parse_num_jobs(payload: Any, max_jobs: int) -> int:
    """Validate ``{"num_jobs": N}``: an integer (not a bool) in ``1..max_jobs``."""
    if not isinstance(payload, dict):
        raise BenchmarkInputError('request body must be a JSON object like {"num_jobs": 100}')
    if "num_jobs" not in payload:
        raise BenchmarkInputError("num_jobs is required")
    value = payload["num_jobs"]
    # bool is a subclass of int in Python, but true/false is never a job count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BenchmarkInputError("num_jobs must be an integer")
    if value < 1:
        raise BenchmarkInputError("num_jobs must be >= 1")
    if value > max_jobs:
        # The upper bound protects the server from runs that would tie up a worker.
        raise BenchmarkInputError(f"num_jobs must be <= {max_jobs}")
    return value


@dataclass(frozen=True)
class BenchmarkResult:
    num_jobs: int
    duration_seconds: float
    throughput_jobs_per_second: float
    mean_latency_seconds: float
    total_cost: float
    cost_rate: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def synthetic_job() -> float:
    """A few microseconds of hashing plus a sub-millisecond sleep; returns its latency."""
    start = time.perf_counter()
    digest = _PAYLOAD
    for _ in range(random.randint(1, _MAX_CPU_ROUNDS)):
        digest = hashlib.sha256(digest).digest()
    time.sleep(random.uniform(0.0, _MAX_SLEEP_SECONDS))
    latency = time.perf_counter() - start
    metrics.BENCHMARK_JOB_DURATION.observe(latency)
    return latency


class BenchmarkRunner:
    """Runs benchmark jobs on one shared, lazily created thread pool per process.

    Lazy creation matters under gunicorn: a pool created before the fork would have
    no threads in the worker. Sharing it bounds job concurrency per worker no matter
    how many benchmark requests arrive at once.
    """

    def __init__(self, threads: int, cost_rate: float) -> None:
        self.threads = threads
        self.cost_rate = cost_rate
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="benchmark"
                )
            return self._executor

    def run(self, num_jobs: int) -> BenchmarkResult:
        pool = self._pool()
        start = time.perf_counter()
        latencies = list(pool.map(lambda _: synthetic_job(), range(num_jobs)))
        duration = time.perf_counter() - start
        total_latency = sum(latencies)
        result = BenchmarkResult(
            num_jobs=num_jobs,
            duration_seconds=duration,
            throughput_jobs_per_second=num_jobs / duration if duration > 0 else 0.0,
            mean_latency_seconds=total_latency / num_jobs,
            total_cost=total_latency * self.cost_rate,
            cost_rate=self.cost_rate,
        )
        metrics.BENCHMARK_RUNS.inc()
        metrics.BENCHMARK_JOBS.inc(num_jobs)
        metrics.BENCHMARK_THROUGHPUT.set(result.throughput_jobs_per_second)
        metrics.BENCHMARK_MEAN_LATENCY.set(result.mean_latency_seconds)
        return result

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
