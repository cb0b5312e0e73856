"""Health/readiness endpoints and JSON error handlers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from monitored_app.app import create_app
from monitored_app.settings import Settings


def _ready_client(multiproc_dir: Path) -> FlaskClient:
    # create_app, not build_application: the metrics collector itself refuses a
    # missing directory at startup; readiness covers it vanishing later.
    return create_app(Settings(multiproc_dir=str(multiproc_dir), log_level="WARNING")).test_client()


def test_health_is_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok"}


def test_ready_without_multiproc_dir(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"multiproc_dir": "not configured"},
    }


def test_ready_with_writable_multiproc_dir(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    client = make_app(multiproc_dir=str(tmp_path)).test_client()
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"multiproc_dir": "ok"}


def test_ready_503_when_multiproc_dir_missing(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    response = _ready_client(missing).get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["multiproc_dir"] == f"missing: {missing}"


def test_ready_503_when_multiproc_dir_is_a_file(tmp_path: Path) -> None:
    # (A read-only directory cannot be simulated reliably: tests may run as root.)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    response = _ready_client(not_a_dir).get("/ready")
    assert response.status_code == 503


def test_404_is_json(client: FlaskClient) -> None:
    response = client.get("/does/not/exist")
    assert response.status_code == 404
    assert response.is_json
    body = response.get_json()
    assert body["error"] == "not_found"
    assert body["status"] == 404
    assert body["message"]


def test_405_is_json_and_keeps_allow_header(client: FlaskClient) -> None:
    response = client.post("/health")
    assert response.status_code == 405
    assert response.is_json
    assert response.get_json()["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_500_is_json_without_details(client: FlaskClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.is_json
    assert response.get_json() == {
        "error": "internal_server_error",
        "message": "internal server error",
        "status": 500,
    }
    assert b"kaboom" not in response.data


def test_oversized_body_is_413_json(client: FlaskClient) -> None:
    response = client.post(
        "/benchmark/run", data=b"x" * (65 * 1024), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


def test_metrics_endpoint_is_mounted(client: FlaskClient) -> None:
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert b"app_requests_total" in response.data
