"""Per-request metrics and request logs.

A thin WSGI wrapper around ``Flask.wsgi_app`` times each request, reads the status
from ``start_response`` and the matched URL rule from the request object Flask left
in the environ; a single ``before_request`` hook marks the request in progress
(only there is the route known before the view runs). Compared with
before/after/teardown hooks this saves two hook dispatches and several
context-local lookups per request, and the ``finally`` makes the in-progress
decrement unconditional.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from flask import Flask, request

from monitored_app import metrics

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from prometheus_client import Counter, Gauge, Histogram

# Methods outside this set share one label value so clients cannot mint new series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# environ key under which before_request hands the in-progress children to the wrapper.
_ENVIRON_KEY = "monitored_app.route_children"


@dataclass(frozen=True)
class RouteChildren:
    """Labels for one (method, route) plus, when metrics are on, the bound children.

    Resolved once per (method, route) and reused, so the hot path does no
    ``labels()`` lookups (each takes a lock and builds label tuples).
    """

    method: str
    route: str
    latency: Histogram | None
    in_progress: Gauge | None


def route_label() -> str:
    """The matched URL rule template (e.g. ``/benchmark/run``), never the raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else metrics.UNMATCHED_ROUTE


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


class RequestInstrumentation:
    """Request metrics and one JSON log line per request.

    With ``metrics_enabled=False`` no metric is touched (not even label children
    are created); only the request log remains. That is the baseline the overhead
    benchmark compares against. The caches stay small because labels are bounded:
    URL rule templates, a fixed method set and ``<unmatched>``.
    """

    def __init__(self, metrics_enabled: bool, logger: logging.Logger) -> None:
        self.metrics_enabled = metrics_enabled
        self._log = logger
        self._children: dict[tuple[str, str], RouteChildren] = {}
        self._counters: dict[tuple[str, str, int], Counter] = {}

    def init_app(self, app: Flask) -> None:
        if self.metrics_enabled:
            app.before_request(self._mark_in_progress)
        app.wsgi_app = self.wrap(app.wsgi_app)  # type: ignore[method-assign,assignment]

    def _route_children(self, method: str, route: str) -> RouteChildren:
        key = (method, route)
        children = self._children.get(key)
        if children is None:
            label = method_label(method)
            enabled = self.metrics_enabled
            children = RouteChildren(
                method=label,
                route=route,
                latency=metrics.REQUEST_LATENCY.labels(label, route) if enabled else None,
                in_progress=metrics.REQUESTS_IN_PROGRESS.labels(label, route) if enabled else None,
            )
            # A benign race under threads: both writers store equivalent children.
            self._children[key] = children
        return children

    def _request_counter(self, children: RouteChildren, status: int) -> Counter:
        key = (children.method, children.route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = metrics.REQUESTS.labels(children.method, children.route, str(status))
            self._counters[key] = counter
        return counter

    def _mark_in_progress(self) -> None:
        # One context-local lookup instead of three.
        req = request._get_current_object()  # type: ignore[attr-defined]
        rule = req.url_rule
        children = self._route_children(
            req.method, rule.rule if rule is not None else metrics.UNMATCHED_ROUTE
        )
        if children.in_progress is not None:
            children.in_progress.inc()
            req.environ[_ENVIRON_KEY] = children

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """WSGI wrapper that times, counts and logs every request through ``app``."""

        def instrumented(
            environ: WSGIEnvironment, start_response: StartResponse
        ) -> Iterable[bytes]:
            start = perf_counter()
            status = 500  # if Flask itself raised, the server will answer 500

            def capture_status(status_line: str, *args: Any) -> Any:
                nonlocal status
                status = int(status_line[:3])
                return start_response(status_line, *args)

            try:
                return app(environ, capture_status)
            finally:
                self._finish(environ, status, perf_counter() - start)

        return instrumented

    def _finish(self, environ: WSGIEnvironment, status: int, duration: float) -> None:
        children: RouteChildren | None = environ.pop(_ENVIRON_KEY, None)
        if children is not None and children.in_progress is not None:
            children.in_progress.dec()
        else:  # metrics off, or the before_request hook never ran
            req = environ.get("werkzeug.request")
            rule = getattr(req, "url_rule", None)
            children = self._route_children(
                environ.get("REQUEST_METHOD", "GET"),
                rule.rule if rule is not None else metrics.UNMATCHED_ROUTE,
            )
        if children.latency is not None:
            children.latency.observe(duration)
            self._request_counter(children, status).inc()
        if self._log.isEnabledFor(logging.INFO):
            self._log.info(
                "request",
                extra={
                    "method": children.method,
                    "route": children.route,
                    "status": status,
                    "duration": round(duration, 6),
                },
            )

    def record_exception(self, exc: BaseException) -> None:
        """Count and log an unhandled exception of the current request."""
        route = route_label()
        exception_type = type(exc).__name__
        if self.metrics_enabled:
            metrics.EXCEPTIONS.labels(route, exception_type).inc()
        self._log.error(
            "unhandled exception",
            exc_info=exc,
            extra={
                "method": method_label(request.method),
                "route": route,
                "exception_type": exception_type,
            },
        )
