"""WSGI entry point for gunicorn: ``monitored_app.wsgi:application``."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from monitored_app.app import create_app
from monitored_app.auth import BasicAuthMiddleware, load_users
from monitored_app.metrics import make_metrics_app
from monitored_app.settings import Settings


def build_application(settings: Settings | None = None) -> Flask:
    """The Flask app with ``/metrics`` mounted in front of it.

    ``/metrics`` is dispatched before Flask sees the request, so scrapes are not
    counted as app requests and never pay for the request hooks. With a users file it
    answers 401 to any request without valid basic auth credentials; ``/health`` and
    ``/ready`` stay open for load balancers and probes.
    """
    settings = Settings.from_env() if settings is None else settings
    app = create_app(settings)
    metrics = make_metrics_app(settings.multiproc_dir)
    if settings.metrics_auth_file is not None:
        # Read at start: a bad file stops the worker from booting, with the file named.
        metrics = BasicAuthMiddleware(metrics, load_users(settings.metrics_auth_file))
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/metrics": metrics}
    )
    return app


application = build_application()
