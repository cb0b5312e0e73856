"""gunicorn_conf: settings from env and the multiprocess bookkeeping hooks."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

_GUNICORN_ENV = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "PROMETHEUS_MULTIPROC_DIR",
)


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in _GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import monitored_app.gunicorn_conf as conf

    return importlib.reload(conf)


def _server() -> SimpleNamespace:
    return SimpleNamespace(log=logging.getLogger("test.gunicorn"))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(monkeypatch)
    assert conf.bind == ["127.0.0.1:8000"]
    assert conf.workers >= 3
    assert conf.threads == 4
    assert conf.timeout == 30
    assert conf.graceful_timeout == 30
    assert conf.preload_app is False
    assert conf.wsgi_app == "monitored_app.wsgi:application"


def test_values_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(
        monkeypatch,
        GUNICORN_BIND="0.0.0.0:9000, unix:/run/app.sock",
        GUNICORN_WORKERS="4",
        GUNICORN_THREADS="1",
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="5",
    )
    assert conf.bind == ["0.0.0.0:9000", "unix:/run/app.sock"]
    assert (conf.workers, conf.threads, conf.timeout, conf.graceful_timeout) == (4, 1, 60, 5)


@pytest.mark.parametrize("raw", ["four", "0"])
def test_invalid_worker_count(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        _load(monkeypatch, GUNICORN_WORKERS=raw)


def test_on_starting_wipes_metric_files_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for name in ("counter_1.db", "gauge_livesum_1.db", "histogram_2.db"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("not ours")

    conf.on_starting(_server())

    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_on_starting_creates_missing_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "metrics"
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(target))
    conf.on_starting(_server())
    assert target.is_dir()


@pytest.mark.parametrize(
    "env",
    [{}, {"PROMETHEUS_MULTIPROC_DIR": ""}, {"PROMETHEUS_MULTIPROC_DIR": "  "}],
    ids=["unset", "empty", "blank"],
)
def test_hooks_without_multiproc_dir_are_noops(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
) -> None:
    conf = _load(monkeypatch, **env)
    # Metric files in the working directory: a hook that fell back to "." (what
    # Path("") means) or any other default would delete or add files here.
    monkeypatch.chdir(tmp_path)
    files = ["counter_12345.db", "gauge_livesum_12345.db", "histogram_1.db"]
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    dead: list[object] = []
    monkeypatch.setattr(
        conf.multiprocess, "mark_process_dead", lambda *args, **kwargs: dead.append(args)
    )

    with caplog.at_level(logging.DEBUG):
        conf.on_starting(_server())
        conf.child_exit(_server(), SimpleNamespace(pid=12345))

    assert sorted(p.name for p in tmp_path.iterdir()) == files
    assert dead == []  # no worker is marked dead anywhere
    assert caplog.records == []  # no "cleared N metric files in ..." either


def test_child_exit_marks_process_dead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for name in (
        "gauge_livesum_77.db",
        "gauge_liveall_77.db",
        "counter_77.db",
        "gauge_livesum_78.db",
    ):
        (tmp_path / name).write_bytes(b"x")

    conf.child_exit(_server(), SimpleNamespace(pid=77))

    # Live gauges of the dead pid go; its counters stay so totals never drop.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_77.db", "gauge_livesum_78.db"]


@pytest.fixture(autouse=True)
def _restore_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield None
    monkeypatch.undo()
    import monitored_app.gunicorn_conf as conf

    importlib.reload(conf)
