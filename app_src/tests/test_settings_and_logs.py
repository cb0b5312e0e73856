"""Settings from environment variables, and the JSON log format."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable

import pytest
from flask import Flask

from monitored_app.logs import JsonFormatter
from monitored_app.settings import Settings, SettingsError


def test_defaults_from_empty_env() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        benchmark_cost_rate=1.0,
        benchmark_max_jobs=10_000,
        benchmark_threads=4,
        metrics_enabled=True,
        log_level="INFO",
        multiproc_dir=None,
    )


def test_values_from_env() -> None:
    settings = Settings.from_env(
        {
            "APP_BENCHMARK_COST_RATE": "0.25",
            "APP_BENCHMARK_MAX_JOBS": "500",
            "APP_BENCHMARK_THREADS": "8",
            "APP_METRICS_ENABLED": "false",
            "APP_LOG_LEVEL": "debug",
            "PROMETHEUS_MULTIPROC_DIR": "/run/app/metrics",
        }
    )
    assert settings.benchmark_cost_rate == 0.25
    assert settings.benchmark_max_jobs == 500
    assert settings.benchmark_threads == 8
    assert settings.metrics_enabled is False
    assert settings.log_level == "DEBUG"
    assert settings.multiproc_dir == "/run/app/metrics"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_BENCHMARK_MAX_JOBS", "42")
    assert Settings.from_env().benchmark_max_jobs == 42


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " True "])
def test_truthy_values(raw: str) -> None:
    assert Settings.from_env({"APP_METRICS_ENABLED": raw}).metrics_enabled is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", "False"])
def test_falsy_values(raw: str) -> None:
    assert Settings.from_env({"APP_METRICS_ENABLED": raw}).metrics_enabled is False


def test_empty_values_mean_default() -> None:
    settings = Settings.from_env({"APP_BENCHMARK_MAX_JOBS": "", "PROMETHEUS_MULTIPROC_DIR": " "})
    assert settings.benchmark_max_jobs == 10_000
    assert settings.multiproc_dir is None


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("APP_METRICS_ENABLED", "maybe"),
        ("APP_BENCHMARK_MAX_JOBS", "ten"),
        ("APP_BENCHMARK_MAX_JOBS", "0"),
        ("APP_BENCHMARK_THREADS", "-2"),
        ("APP_BENCHMARK_COST_RATE", "cheap"),
        ("APP_BENCHMARK_COST_RATE", "-1"),
        ("APP_BENCHMARK_COST_RATE", "nan"),
        ("APP_BENCHMARK_COST_RATE", "inf"),
        ("APP_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_fail_fast(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("monitored_app", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.__dict__.update(extra)
    return record


def test_json_formatter_basic_fields() -> None:
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "INFO"
    assert payload["logger"] == "monitored_app"
    assert payload["msg"] == "hello x"
    assert payload["ts"].endswith("Z")


def test_json_formatter_request_fields_and_exception() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = _record(method="GET", route="/health", status=200, duration=0.0012)
        record.exc_info = sys.exc_info()
    payload = json.loads(JsonFormatter().format(record))
    assert payload["method"] == "GET"
    assert payload["route"] == "/health"
    assert payload["status"] == 200
    assert payload["duration"] == 0.0012
    assert "ValueError: bad" in payload["exc"]


def test_request_log_line(make_app: Callable[..., Flask]) -> None:
    app = make_app(log_level="INFO")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("monitored_app")
    logger.addHandler(handler)
    try:
        app.test_client().get("/items/7")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_lines = [line for line in lines if line["msg"] == "request"]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert line["method"] == "GET"
    assert line["route"] == "/items/<int:item_id>"
    assert line["status"] == 200
    assert line["duration"] >= 0
