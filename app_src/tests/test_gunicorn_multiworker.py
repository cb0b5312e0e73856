"""Real gunicorn, 4 workers, multiprocess metrics: the scraped totals must be exact."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import GunicornServer, file_metric_sum, get, metric_sum, start_gunicorn

WORKERS = 4
N = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    workdir = tmp_path_factory.mktemp("gunicorn")
    multiproc = workdir / "multiproc"
    multiproc.mkdir()
    # A stale file from a "previous run": on_starting must wipe it.
    (multiproc / "counter_999999.db").write_bytes(b"\0" * 16)
    server = start_gunicorn(
        workdir, workers=WORKERS, env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    )
    try:
        yield server
    finally:
        server.stop()


def _send(server: GunicornServer, count: int) -> None:
    # A fresh connection per request, from several threads, so that the kernel
    # hands the connections to different workers.
    def one(_: int) -> int:
        return get(f"{server.base_url}/health").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(count)))
    assert statuses == [200] * count


def _requests_by_pid(multiproc: Path) -> dict[int, float]:
    return {
        int(path.stem.split("_")[-1]): file_metric_sum(path, "app_requests_total")
        for path in multiproc.glob("counter_*.db")
    }


def test_counter_is_exact_across_workers(server: GunicornServer) -> None:
    assert server.multiproc_dir is not None
    assert not (server.multiproc_dir / "counter_999999.db").exists()

    _send(server, N)
    text = server.scrape()

    assert metric_sum(text, "app_requests_total") == N
    assert metric_sum(text, "app_request_latency_seconds_count") == N
    # livesum: nothing is in flight once all responses arrived (/metrics is not counted).
    assert metric_sum(text, "app_requests_in_progress") == 0
    # The test only proves the merge if more than one worker served requests.
    served = {pid: n for pid, n in _requests_by_pid(server.multiproc_dir).items() if n > 0}
    assert len(served) >= 2, served
    assert sum(served.values()) == N


def test_killed_worker_does_not_make_counter_go_backwards(server: GunicornServer) -> None:
    assert server.multiproc_dir is not None
    _send(server, 40)  # own traffic, so the test also holds when run alone
    before = metric_sum(server.scrape(), "app_requests_total")
    assert before >= 40

    live = server.workers()
    by_pid = _requests_by_pid(server.multiproc_dir)
    victim = max(live, key=lambda pid: by_pid.get(pid, 0.0))
    assert by_pid.get(victim, 0.0) > 0
    os.kill(victim, signal.SIGKILL)

    replaced = server.wait_for_workers(WORKERS, exclude=frozenset({victim}))
    assert victim not in replaced
    # child_exit ran mark_process_dead: the dead worker's live gauges are gone...
    assert not (server.multiproc_dir / f"gauge_livesum_{victim}.db").exists()
    # ...but its counter file stays, so the total is unchanged.
    assert (server.multiproc_dir / f"counter_{victim}.db").exists()
    after_kill = metric_sum(server.scrape(), "app_requests_total")
    assert after_kill == before

    _send(server, 50)
    assert metric_sum(server.scrape(), "app_requests_total") == before + 50
