"""Shared fixtures. In-process tests run prometheus_client in single-process mode."""

from __future__ import annotations

import os

# prometheus_client picks its value backend at import time; the in-process tests
# need the default (single-process) one even if the caller's shell has this set.
# The gunicorn tests pass their own directory to the server process explicitly.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.pop("prometheus_multiproc_dir", None)

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from monitored_app.settings import Settings
from monitored_app.wsgi import build_application


class BoomError(RuntimeError):
    """Raised by the test-only /boom route."""


def _add_test_routes(app: Flask) -> None:
    def boom() -> str:
        raise BoomError("kaboom")

    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/items/<int:item_id>", view_func=item)


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Factory: the full WSGI app (``/metrics`` mounted) plus test-only routes."""

    def factory(**overrides: Any) -> Flask:
        settings = Settings(**{"log_level": "WARNING", **overrides})
        app = build_application(settings)
        _add_test_routes(app)
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client
