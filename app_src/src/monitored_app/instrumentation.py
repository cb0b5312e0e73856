"""Per-request metrics and request logs.

One WSGI wrapper around ``Flask.wsgi_app`` does everything: it marks the request in
progress, times it, and reads the status and the matched URL rule when Flask calls
``start_response`` (the request object is then still in the environ).
No Flask hooks: a ``before_request`` hook alone cost about as much as one metric
update (hook dispatch plus context-local lookups), measured with callgrind (see
bench/README.md). The ``finally`` makes the in-progress decrement unconditional.
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


@dataclass(frozen=True)
class RouteChildren:
    """Labels for one (method, route) plus, when metrics are on, the bound histogram.

    Resolved once per (method, route) and reused, so the hot path does no
    ``labels()`` lookups (each takes a lock and builds label tuples).
    """

    method: str
    route: str
    latency: Histogram | None


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
        self._in_progress: dict[str, Gauge] = {}

    def init_app(self, app: Flask) -> None:
        app.wsgi_app = self.wrap(app.wsgi_app)  # type: ignore[method-assign,assignment]

    def _route_children(self, method: str, route: str) -> RouteChildren:
        """Children for a method *label* and a route template (both bounded sets)."""
        key = (method, route)
        children = self._children.get(key)
        if children is None:
            enabled = self.metrics_enabled
            children = RouteChildren(
                method=method,
                route=route,
                latency=metrics.REQUEST_LATENCY.labels(method, route) if enabled else None,
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

    def _in_progress_gauge(self, method: str) -> Gauge | None:
        """The in-progress child of a method label (at most 8); None when metrics are off."""
        gauge = self._in_progress.get(method)
        if gauge is None and self.metrics_enabled:
            gauge = metrics.REQUESTS_IN_PROGRESS.labels(method)
            self._in_progress[method] = gauge
        return gauge

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """WSGI wrapper that times, counts and logs every request through ``app``."""

        def instrumented(
            environ: WSGIEnvironment, start_response: StartResponse
        ) -> Iterable[bytes]:
            start = perf_counter()
            # Caches are keyed by the label, never the raw method: clients choose the latter.
            method = method_label(environ.get("REQUEST_METHOD", "GET"))
            # The route is not known before Flask routes the request, hence method only.
            in_progress = self._in_progress_gauge(method)
            if in_progress is not None:
                in_progress.inc()
            status = 500  # if Flask itself raised, the server will answer 500
            route = metrics.UNMATCHED_ROUTE

            def capture_status(status_line: str, *args: Any) -> Any:
                # Flask calls this inside the request context; afterwards it clears
                # environ["werkzeug.request"], so the matched rule is read here.
                nonlocal status, route
                status = int(status_line[:3])
                rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
                if rule is not None:
                    route = rule.rule
                return start_response(status_line, *args)

            try:
                return app(environ, capture_status)
            finally:
                if in_progress is not None:
                    in_progress.dec()
                self._finish(method, route, status, perf_counter() - start)

        return instrumented

    def _finish(self, method: str, route: str, status: int, duration: float) -> None:
        children = self._route_children(method, route)
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
