"""WSGI entry point for gunicorn: ``monitored_app.wsgi:application``."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from monitored_app.app import create_app
from monitored_app.metrics import make_metrics_app
from monitored_app.settings import Settings


def build_application(settings: Settings | None = None) -> Flask:
    """The Flask app with ``/metrics`` mounted in front of it.

    ``/metrics`` is dispatched before Flask sees the request, so scrapes are not
    counted as app requests and never pay for the request hooks.
    """
    settings = Settings.from_env() if settings is None else settings
    app = create_app(settings)
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/metrics": make_metrics_app(settings.multiproc_dir)}
    )
    return app


application = build_application()
