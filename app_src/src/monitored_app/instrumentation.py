"""Per-request metrics and request logs via Flask before/after/teardown hooks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

from flask import Flask, Response, g, request

from monitored_app import metrics

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

# Methods outside this set share one label value so clients cannot mint new series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


@dataclass(frozen=True)
class _RouteChildren:
    """Labels for one (method, route) plus, when metrics are on, the bound children.

    Resolved once per (method, route) and reused, so the hot path does no ``labels()``
    lookups (each takes a lock and builds label tuples).
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
    """Times every request, updates the request metrics and writes one log line.

    With ``metrics_enabled=False`` no metric is touched (not even label children are
    created), which is the baseline the overhead benchmark compares against. The
    caches stay small because labels are bounded: URL rule templates, a fixed method
    set and ``<unmatched>``.
    """

    def __init__(self, metrics_enabled: bool, logger: logging.Logger) -> None:
        self.metrics_enabled = metrics_enabled
        self._log = logger
        self._children: dict[tuple[str, str], _RouteChildren] = {}
        self._counters: dict[tuple[str, str, int], Counter] = {}

    def init_app(self, app: Flask) -> None:
        app.before_request(self._before)
        app.after_request(self._after)
        if self.metrics_enabled:
            app.teardown_request(self._teardown)

    def _route_children(self, method: str, route: str) -> _RouteChildren:
        key = (method, route)
        children = self._children.get(key)
        if children is None:
            label = method_label(method)
            enabled = self.metrics_enabled
            children = _RouteChildren(
                method=label,
                route=route,
                latency=metrics.REQUEST_LATENCY.labels(label, route) if enabled else None,
                in_progress=metrics.REQUESTS_IN_PROGRESS.labels(label, route) if enabled else None,
            )
            # A benign race under threads: both writers store equivalent children.
            self._children[key] = children
        return children

    def _request_counter(self, children: _RouteChildren, status: int) -> Counter:
        key = (children.method, children.route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = metrics.REQUESTS.labels(children.method, children.route, str(status))
            self._counters[key] = counter
        return counter

    def _before(self) -> None:
        children = self._route_children(request.method, route_label())
        if children.in_progress is not None:
            children.in_progress.inc()
            # Only a request that incremented the gauge may decrement it in teardown.
            g.monitored_in_progress = children.in_progress
        # One g attribute (a context-local proxy write) rather than several.
        g.monitored = (children, perf_counter())

    def _after(self, response: Response) -> Response:
        state: tuple[_RouteChildren, float] | None = g.get("monitored")
        if state is None:  # before_request did not run (an earlier hook failed)
            return response
        children, start = state
        duration = perf_counter() - start
        status = response.status_code
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
        return response

    def _teardown(self, _exc: BaseException | None) -> None:
        # Teardown runs even when after_request did not, so the gauge never leaks.
        gauge: Gauge | None = g.pop("monitored_in_progress", None)
        if gauge is not None:
            gauge.dec()

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
