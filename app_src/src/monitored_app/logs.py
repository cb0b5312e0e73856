"""Structured logging: one JSON object per line on stdout."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# Request fields passed via ``extra=``; a fixed tuple keeps formatting cheap and predictable.
EXTRA_FIELDS = ("method", "route", "status", "duration", "path", "exception_type")

_HANDLER_MARK = "_monitored_app_json_handler"


class JsonFormatter(logging.Formatter):
    """Render a record as a single-line JSON object (ts, level, logger, msg, extras)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__
        for name in EXTRA_FIELDS:
            if name in fields:
                payload[name] = fields[name]
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        # default=str: never let an odd extra value break logging.
        return json.dumps(payload, default=str, separators=(",", ":"))


def _iso_utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def configure_logging(level: str) -> None:
    """Install the JSON handler on the root logger (idempotent across create_app calls)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
