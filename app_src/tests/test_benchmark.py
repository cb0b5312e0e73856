"""POST /benchmark/run: results, metrics and input validation."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from helpers import sample
from monitored_app import benchmark
from monitored_app.benchmark import BenchmarkRunner, synthetic_job

RESULT_FIELDS = {
    "num_jobs",
    "duration_seconds",
    "throughput_jobs_per_second",
    "mean_latency_seconds",
    "total_cost",
    "cost_rate",
}


class FakeClock:
    """Stands in for the ``time`` module in monitored_app.benchmark: time passes only
    when a job sleeps, so every duration is exact, whatever the machine is doing."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self._lock = threading.Lock()  # jobs run on the runner's pool threads

    def perf_counter(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(benchmark, "time", fake)
    yield fake


def _job_durations() -> tuple[float, float]:
    return (
        sample("app_benchmark_job_duration_seconds_count"),
        sample("app_benchmark_job_duration_seconds_sum"),
    )


def test_benchmark_happy_path(make_app: Callable[..., Flask]) -> None:
    client = make_app(benchmark_cost_rate=2.5, benchmark_threads=2).test_client()
    runs = sample("app_benchmark_runs_total")
    jobs = sample("app_benchmark_jobs_total")
    observed, observed_sum = _job_durations()

    response = client.post("/benchmark/run", json={"num_jobs": 40})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == RESULT_FIELDS
    assert all(type(value) in (int, float) for value in body.values()), body
    assert body["num_jobs"] == 40
    assert body["cost_rate"] == 2.5
    assert body["duration_seconds"] > 0
    assert body["mean_latency_seconds"] > 0
    # cost = sum of latencies x rate = mean x n x rate
    assert body["total_cost"] == pytest.approx(body["mean_latency_seconds"] * 40 * 2.5)
    assert body["throughput_jobs_per_second"] == pytest.approx(40 / body["duration_seconds"])

    assert sample("app_benchmark_runs_total") == runs + 1
    assert sample("app_benchmark_jobs_total") == jobs + 40
    # The 40 latencies the mean is made of are the ones the histogram observed.
    count, total = _job_durations()
    assert count == observed + 40
    assert total - observed_sum == pytest.approx(body["mean_latency_seconds"] * 40)
    assert sample("app_benchmark_throughput_jobs_per_second") == pytest.approx(
        body["throughput_jobs_per_second"]
    )
    assert sample("app_benchmark_mean_latency_seconds") == pytest.approx(
        body["mean_latency_seconds"]
    )


def test_benchmark_accepts_body_without_json_content_type(client: FlaskClient) -> None:
    response = client.post("/benchmark/run", data='{"num_jobs": 3}')
    assert response.status_code == 200
    assert response.get_json()["num_jobs"] == 3


def test_benchmark_max_jobs_is_allowed(make_app: Callable[..., Flask]) -> None:
    client = make_app(benchmark_max_jobs=5).test_client()
    assert client.post("/benchmark/run", json={"num_jobs": 5}).status_code == 200


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param({}, "num_jobs is required", id="missing"),
        pytest.param({"num_jobs": -1}, "num_jobs must be >= 1", id="negative"),
        pytest.param({"num_jobs": 0}, "num_jobs must be >= 1", id="zero"),
        pytest.param({"num_jobs": 2.5}, "num_jobs must be an integer", id="float"),
        pytest.param({"num_jobs": 10.0}, "num_jobs must be an integer", id="integral-float"),
        pytest.param({"num_jobs": "10"}, "num_jobs must be an integer", id="string"),
        pytest.param({"num_jobs": None}, "num_jobs must be an integer", id="null"),
        pytest.param({"num_jobs": True}, "num_jobs must be an integer", id="bool"),
        pytest.param({"num_jobs": 10_001}, "num_jobs must be <= 10000", id="above-max"),
        pytest.param({"num_jobs": 10**100}, "num_jobs must be <= 10000", id="huge"),
        pytest.param([100], "JSON object", id="array"),
        pytest.param(100, "JSON object", id="bare-number"),
    ],
)
def test_benchmark_rejects_bad_input(client: FlaskClient, payload: Any, message: str) -> None:
    runs = sample("app_benchmark_runs_total")
    response = client.post("/benchmark/run", json=payload)
    assert response.status_code == 400
    assert response.is_json
    body = response.get_json()
    assert body["error"] == "bad_request"
    assert message in body["message"]
    assert sample("app_benchmark_runs_total") == runs  # nothing ran


@pytest.mark.parametrize("raw", [b"", b"not json", b"{num_jobs: 1}", b'{"num_jobs": 1'], ids=repr)
def test_benchmark_rejects_non_json_body(client: FlaskClient, raw: bytes) -> None:
    response = client.post("/benchmark/run", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["message"]


def test_benchmark_max_jobs_from_settings(make_app: Callable[..., Flask]) -> None:
    client = make_app(benchmark_max_jobs=10).test_client()
    response = client.post("/benchmark/run", json={"num_jobs": 11})
    assert response.status_code == 400
    assert "<= 10" in response.get_json()["message"]


def test_synthetic_job_is_short(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Worst case: every random choice at the top of the range it asks for.
    monkeypatch.setattr(
        benchmark, "random", SimpleNamespace(randint=lambda a, b: max(a, b), uniform=max)
    )
    hashed: list[int] = []

    def sha256(data: bytes) -> Any:
        hashed.append(len(data))
        return hashlib.sha256(data)

    monkeypatch.setattr(benchmark, "hashlib", SimpleNamespace(sha256=sha256))
    observed, observed_sum = _job_durations()

    latency = synthetic_job()

    # Even at its longest a job hashes ~20 KiB at most and sleeps under a millisecond.
    assert 1 <= len(hashed) <= 20
    assert sum(hashed) <= 20 * 1024
    assert len(clock.slept) == 1
    assert 0 < clock.slept[0] <= 0.001
    # It reports (and observes) the time it took, sleep included.
    assert latency == pytest.approx(clock.slept[0])
    count, total = _job_durations()
    assert count == observed + 1
    assert total - observed_sum == pytest.approx(latency)


def test_runner_results_follow_from_job_latencies(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = iter([0.001, 0.002, 0.003, 0.004])
    monkeypatch.setattr(
        benchmark,
        "random",
        SimpleNamespace(randint=lambda a, b: a, uniform=lambda a, b: next(sleeps)),
    )
    runs = sample("app_benchmark_runs_total")
    jobs = sample("app_benchmark_jobs_total")
    observed, observed_sum = _job_durations()
    runner = BenchmarkRunner(threads=1, cost_rate=3.0)  # one thread: jobs run in turn
    try:
        result = runner.run(4)
    finally:
        runner.shutdown()

    # Only the jobs' sleeps make time pass: 10 ms in all for 4 jobs.
    assert result.as_dict() == pytest.approx(
        {
            "num_jobs": 4,
            "duration_seconds": 0.010,
            "throughput_jobs_per_second": 400.0,
            "mean_latency_seconds": 0.0025,
            "total_cost": 0.030,
            "cost_rate": 3.0,
        }
    )
    assert clock.slept == [0.001, 0.002, 0.003, 0.004]
    assert sample("app_benchmark_runs_total") == runs + 1
    assert sample("app_benchmark_jobs_total") == jobs + 4
    count, total = _job_durations()
    assert count == observed + 4
    assert total - observed_sum == pytest.approx(0.010)
    assert sample("app_benchmark_throughput_jobs_per_second") == pytest.approx(400.0)
    assert sample("app_benchmark_mean_latency_seconds") == pytest.approx(0.0025)


def test_runner_reuses_one_pool() -> None:
    runner = BenchmarkRunner(threads=2, cost_rate=0.0)
    try:
        first = runner.run(3)
        pool = runner._executor
        runner.run(3)
        assert runner._executor is pool
        assert first.total_cost == 0.0
    finally:
        runner.shutdown()
