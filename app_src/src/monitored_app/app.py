"""Flask application factory: routes, JSON error handlers, instrumentation."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.wrappers import Response as WerkzeugResponse

from monitored_app.benchmark import BenchmarkInputError, BenchmarkRunner, parse_num_jobs
from monitored_app.instrumentation import RequestInstrumentation
from monitored_app.logs import configure_logging
from monitored_app.settings import Settings

LOGGER_NAME = "monitored_app"
EXTENSION_KEY = "monitored_app"
# Bodies are tiny JSON documents; anything bigger is refused before parsing (413).
MAX_CONTENT_LENGTH = 64 * 1024


@dataclass(frozen=True)
class AppState:
    """Per-app objects the views need, kept in ``app.extensions``."""

    settings: Settings
    instrumentation: RequestInstrumentation
    runner: BenchmarkRunner


def _state() -> AppState:
    state: AppState = current_app.extensions[EXTENSION_KEY]
    return state


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; settings come from the environment unless given."""
    settings = Settings.from_env() if settings is None else settings
    configure_logging(settings.log_level)
    logger = logging.getLogger(LOGGER_NAME)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    instrumentation = RequestInstrumentation(settings.metrics_enabled, logger)
    instrumentation.init_app(app)
    app.extensions[EXTENSION_KEY] = AppState(
        settings=settings,
        instrumentation=instrumentation,
        runner=BenchmarkRunner(settings.benchmark_threads, settings.benchmark_cost_rate),
    )

    app.add_url_rule("/health", view_func=health, methods=["GET"])
    app.add_url_rule("/ready", view_func=ready, methods=["GET"])
    app.add_url_rule("/benchmark/run", view_func=benchmark_run, methods=["POST"])
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_internal_error)
    return app


def health() -> Response:
    """Liveness: the process answers; deliberately checks nothing else."""
    return jsonify(status="ok")


def ready() -> tuple[Response, int]:
    """Readiness: dependencies the app needs to serve correctly are usable."""
    checks = {"multiproc_dir": _check_multiproc_dir(_state().settings.multiproc_dir)}
    ok = all(value in ("ok", "not configured") for value in checks.values())
    body = jsonify(status="ready" if ok else "unavailable", checks=checks)
    return body, 200 if ok else 503


def _check_multiproc_dir(path: str | None) -> str:
    # Workers write their metric files here; if they cannot, /metrics would lie.
    if path is None:
        return "not configured"
    if not os.path.isdir(path):
        return f"missing: {path}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"not writable: {path}"
    return "ok"


def benchmark_run() -> Response:
    payload = request.get_json(force=True, silent=True)
    state = _state()
    try:
        num_jobs = parse_num_jobs(payload, state.settings.benchmark_max_jobs)
    except BenchmarkInputError as exc:
        raise BadRequest(description=str(exc)) from exc
    return jsonify(state.runner.run(num_jobs).as_dict())


def _error_body(status: int, name: str, message: str) -> dict[str, Any]:
    return {"error": name.lower().replace(" ", "_"), "message": message, "status": status}


def handle_http_error(exc: HTTPException) -> WerkzeugResponse:
    """JSON for every HTTP error (400, 404, 405, 413, ...), keeping headers like Allow."""
    response = exc.get_response()
    status = exc.code or 500
    response.set_data(json.dumps(_error_body(status, exc.name, exc.description or exc.name)))
    response.content_type = "application/json"
    return response


def handle_internal_error(exc: InternalServerError) -> tuple[Response, int]:
    """JSON 500; counts the original exception when one escaped a view."""
    original = exc.original_exception
    if original is not None:
        _state().instrumentation.record_exception(original)
    # Never echo exception details to clients; they are in the log line instead.
    return jsonify(_error_body(500, "internal_server_error", "internal server error")), 500
