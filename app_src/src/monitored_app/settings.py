"""Typed runtime settings, read from environment variables only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


def _get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be a boolean (true/false), got {raw!r}")


def _get_int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _get_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0.0 or value == float("inf"):  # also rejects NaN
        raise SettingsError(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Application configuration; build it with :meth:`from_env`."""

    benchmark_cost_rate: float = 1.0
    benchmark_max_jobs: int = 10_000
    benchmark_threads: int = 4
    metrics_enabled: bool = True
    log_level: str = "INFO"
    # Set by the systemd unit; switches prometheus_client into multiprocess mode.
    multiproc_dir: str | None = None
    # Users file for basic auth on /metrics (monitored_app.auth); None = no auth.
    metrics_auth_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``); raise SettingsError."""
        env = os.environ if env is None else env
        log_level = env.get("APP_LOG_LEVEL", "").strip().upper() or cls.log_level
        if log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"APP_LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, got {log_level!r}"
            )
        return cls(
            benchmark_cost_rate=_get_float(env, "APP_BENCHMARK_COST_RATE", cls.benchmark_cost_rate),
            benchmark_max_jobs=_get_int(
                env, "APP_BENCHMARK_MAX_JOBS", cls.benchmark_max_jobs, minimum=1
            ),
            benchmark_threads=_get_int(
                env, "APP_BENCHMARK_THREADS", cls.benchmark_threads, minimum=1
            ),
            metrics_enabled=_get_bool(env, "APP_METRICS_ENABLED", cls.metrics_enabled),
            log_level=log_level,
            multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None,
            metrics_auth_file=env.get("APP_METRICS_AUTH_FILE", "").strip() or None,
        )
