"""monitored-app: a small Flask service instrumented with Prometheus metrics."""

from __future__ import annotations

__version__ = "1.0.0"
