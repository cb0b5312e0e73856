"""POST /benchmark/run: results, metrics and input validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from helpers import sample
from monitored_app.benchmark import BenchmarkRunner, synthetic_job


def test_benchmark_happy_path(make_app: Callable[..., Flask]) -> None:
    client = make_app(benchmark_cost_rate=2.5, benchmark_threads=2).test_client()
    runs = sample("app_benchmark_runs_total")
    jobs = sample("app_benchmark_jobs_total")
    observed = sample("app_benchmark_job_duration_seconds_count")

    response = client.post("/benchmark/run", json={"num_jobs": 40})

    assert response.status_code == 200
    body = response.get_json()
    assert body["num_jobs"] == 40
    assert body["cost_rate"] == 2.5
    assert body["throughput_jobs_per_second"] > 0
    assert 0 < body["mean_latency_seconds"] < 0.01  # "a few ms max" per job
    # cost = sum of latencies x rate = mean x n x rate
    assert body["total_cost"] == pytest.approx(body["mean_latency_seconds"] * 40 * 2.5)
    assert body["throughput_jobs_per_second"] == pytest.approx(40 / body["duration_seconds"])

    assert sample("app_benchmark_runs_total") == runs + 1
    assert sample("app_benchmark_jobs_total") == jobs + 40
    assert sample("app_benchmark_job_duration_seconds_count") == observed + 40
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


def test_synthetic_job_is_short() -> None:
    latencies = [synthetic_job() for _ in range(20)]
    # ~1 ms by design; the generous bound only absorbs scheduling noise on busy CI.
    assert all(0 < latency < 0.05 for latency in latencies)
    assert sum(latencies) / len(latencies) < 0.005


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
