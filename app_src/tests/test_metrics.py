"""Request metrics: names, label values, route templates and bounded cardinality."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from helpers import metric_sum, sample
from monitored_app.metrics import BootSafeMultiProcessCollector


def _series_with_label(sample_name: str, label: str, fragment: str) -> list[dict[str, str]]:
    return [
        s.labels
        for family in REGISTRY.collect()
        for s in family.samples
        if s.name == sample_name and fragment in s.labels.get(label, "")
    ]


def test_counter_and_histogram_use_route_template(client: FlaskClient) -> None:
    labels = {"method": "GET", "route": "/items/<int:item_id>"}
    before_count = sample("app_requests_total", status="200", **labels)
    before_hist = sample("app_request_latency_seconds_count", **labels)

    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").status_code == 200

    assert sample("app_requests_total", status="200", **labels) == before_count + 3
    assert sample("app_request_latency_seconds_count", **labels) == before_hist + 3
    # The raw paths never become label values.
    assert _series_with_label("app_requests_total", "route", "/items/1") == []


def test_latency_histogram_buckets(client: FlaskClient) -> None:
    client.get("/health")
    labels = {"method": "GET", "route": "/health"}
    for bound in ("0.005", "0.1", "1.0", "10.0", "+Inf"):
        assert (
            REGISTRY.get_sample_value("app_request_latency_seconds_bucket", {**labels, "le": bound})
            is not None
        )
    assert sample("app_request_latency_seconds_sum", **labels) > 0


def test_404s_share_one_unmatched_series(client: FlaskClient) -> None:
    labels = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before = sample("app_requests_total", **labels)

    for n in range(25):
        assert client.get(f"/random/path/{n}").status_code == 404

    assert sample("app_requests_total", **labels) == before + 25
    assert _series_with_label("app_requests_total", "route", "/random/path") == []
    assert _series_with_label("app_request_latency_seconds_count", "route", "/random") == []


def test_405_uses_unmatched_route(client: FlaskClient) -> None:
    labels = {"method": "DELETE", "route": "<unmatched>", "status": "405"}
    before = sample("app_requests_total", **labels)
    client.delete("/health")
    assert sample("app_requests_total", **labels) == before + 1


def test_unknown_methods_are_bucketed(client: FlaskClient) -> None:
    labels = {"method": "other", "route": "<unmatched>", "status": "405"}
    before = sample("app_requests_total", **labels)
    client.open("/health", method="BREW")
    assert sample("app_requests_total", **labels) == before + 1
    assert _series_with_label("app_requests_total", "method", "BREW") == []


def test_arbitrary_methods_do_not_grow_the_label_caches(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    instrumentation = app.extensions["monitored_app"].instrumentation
    client.open("/health", method="BREW")
    sizes = (len(instrumentation._children), len(instrumentation._in_progress))
    for n in range(30):
        client.open("/health", method=f"X{n}")
    assert (len(instrumentation._children), len(instrumentation._in_progress)) == sizes


def test_status_label_on_errors(client: FlaskClient) -> None:
    labels = {"method": "POST", "route": "/benchmark/run", "status": "400"}
    before = sample("app_requests_total", **labels)
    client.post("/benchmark/run", json={"num_jobs": 0})
    assert sample("app_requests_total", **labels) == before + 1


def test_unhandled_exception_is_counted(client: FlaskClient) -> None:
    exc_labels = {"route": "/boom", "exception_type": "BoomError"}
    req_labels = {"method": "GET", "route": "/boom", "status": "500"}
    before_exc = sample("app_exceptions_total", **exc_labels)
    before_req = sample("app_requests_total", **req_labels)

    client.get("/boom")

    assert sample("app_exceptions_total", **exc_labels) == before_exc + 1
    assert sample("app_requests_total", **req_labels) == before_req + 1


def test_in_progress_gauge_returns_to_zero(client: FlaskClient) -> None:
    client.get("/health")
    client.get("/boom")  # the error path must decrement too
    assert sample("app_requests_in_progress", method="GET") == 0


def test_in_progress_gauge_counts_the_running_request(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    seen: list[float] = []

    def probe() -> str:
        seen.append(sample("app_requests_in_progress", method="GET"))
        return "ok"

    app.add_url_rule("/probe", view_func=probe)
    app.test_client().get("/probe")
    assert seen == [1.0]
    assert sample("app_requests_in_progress", method="GET") == 0


def test_metrics_disabled_records_no_request_series(make_app: Callable[..., Flask]) -> None:
    app = make_app(metrics_enabled=False)

    def quiet() -> str:
        return "ok"

    app.add_url_rule("/only-when-disabled", view_func=quiet)
    client = app.test_client()
    assert client.get("/only-when-disabled").status_code == 200
    assert client.get("/health").status_code == 200

    for name in ("app_requests_total", "app_request_latency_seconds_count"):
        assert _series_with_label(name, "route", "/only-when-disabled") == []


def test_metric_names_follow_conventions(client: FlaskClient) -> None:
    client.get("/health")
    text = client.get("/metrics").get_data(as_text=True)
    for line in (
        "# TYPE app_requests_total counter",
        "# TYPE app_request_latency_seconds histogram",
        "# TYPE app_requests_in_progress gauge",
        "# TYPE app_exceptions_total counter",
        "# TYPE app_benchmark_runs_total counter",
        "# TYPE app_benchmark_jobs_total counter",
        "# TYPE app_benchmark_throughput_jobs_per_second gauge",
        "# TYPE app_benchmark_mean_latency_seconds gauge",
        "# TYPE app_benchmark_job_duration_seconds histogram",
    ):
        assert line in text
    assert metric_sum(text, "app_requests_total") >= 1


def test_multiprocess_collector_skips_files_of_booting_workers(tmp_path: Path) -> None:
    writer = MmapedDict(str(tmp_path / "counter_1.db"))
    key = mmap_key("app_requests_total", "app_requests_total", ["route"], ["/x"], "help")
    writer.write_value(key, 7.0, 0.0)
    writer.close()
    (tmp_path / "counter_2.db").touch()  # what a worker leaves mid-creation

    registry = CollectorRegistry()
    BootSafeMultiProcessCollector(registry, path=str(tmp_path))

    assert registry.get_sample_value("app_requests_total", {"route": "/x"}) == 7.0
