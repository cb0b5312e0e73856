"""The ``pusher`` batch job against a tiny real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import LOOPBACK, free_port
from monitored_app import pusher


@dataclass
class Recorded:
    method: str
    path: str
    body: str
    authorization: str | None = None


@dataclass
class FakeGateway:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours *_proxy variables; these tests must only ever talk to loopback.
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("PUSHGATEWAY_URL", "PUSHER_JOB", "PUSHER_INSTANCE", "PUSHGATEWAY_USERNAME",
                 "PUSHGATEWAY_PASSWORD_FILE", "PUSHGATEWAY_CA_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            auth = self.headers.get("Authorization")
            fake.requests.append(Recorded(self.command, self.path, body, auth))
            self.send_response(fake.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = _record  # noqa: N815 - http.server's naming
        do_POST = _record  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    fake.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _gauges(body: str) -> dict[str, float]:
    return {
        family.name: family.samples[0].value
        for family in text_string_to_metric_families(body)
        if family.type == "gauge"
    }


def test_pushes_both_gauges_grouped_by_job_and_instance(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pusher.main(["--gateway", gateway.url, "--job", "nightly", "--instance", "app7"]) == 0

    assert len(gateway.requests) == 1
    recorded = gateway.requests[0]
    assert recorded.method in ("PUT", "POST")
    # One group per host: another host's push does not overwrite this one.
    assert recorded.path == "/metrics/job/nightly/instance/app7"
    assert recorded.authorization is None
    gauges = _gauges(recorded.body)
    assert set(gauges) == {"batch_random_value", "batch_last_success_timestamp_seconds"}
    assert 0.0 <= gauges["batch_random_value"] < 1.0
    assert gauges["batch_last_success_timestamp_seconds"] > 1_600_000_000
    assert "pushed" in capsys.readouterr().out


def test_gateway_and_job_from_env(gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", gateway.url)
    monkeypatch.setenv("PUSHER_JOB", "from_env")
    monkeypatch.setenv("PUSHER_INSTANCE", "env-host")
    assert pusher.main([]) == 0
    assert gateway.requests[0].path == "/metrics/job/from_env/instance/env-host"


def test_default_job_name_and_instance_is_the_host_name(gateway: FakeGateway) -> None:
    assert pusher.main(["--gateway", gateway.url]) == 0
    assert gateway.requests[0].path == f"/metrics/job/batch_job/instance/{socket.gethostname()}"


def test_basic_auth_from_a_password_file(gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    secret = tmp_path / "pushgateway.password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("PUSHGATEWAY_USERNAME", "pusher")
    monkeypatch.setenv("PUSHGATEWAY_PASSWORD_FILE", str(secret))
    assert pusher.main(["--gateway", gateway.url]) == 0
    # base64("pusher:s3cret"): the trailing newline of the file is not part of the password.
    assert gateway.requests[0].authorization == "Basic cHVzaGVyOnMzY3JldA=="


def test_empty_instance_is_refused(gateway: FakeGateway) -> None:
    with pytest.raises(SystemExit) as exc:
        pusher.main(["--gateway", gateway.url, "--instance", " "])
    assert exc.value.code == 2
    assert gateway.requests == []


def test_cli_overrides_env(gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHGATEWAY_URL", f"http://{LOOPBACK}:1")
    monkeypatch.setenv("PUSHER_JOB", "from_env")
    assert pusher.main(["--gateway", gateway.url, "--job", "from_cli"]) == 0
    assert gateway.requests[0].path.startswith("/metrics/job/from_cli/instance/")


def test_failed_batch_pushes_nothing(
    gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> float:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pusher, "compute_value", broken)
    assert pusher.main(["--gateway", gateway.url]) == 1
    assert gateway.requests == []
    assert "disk full" in capsys.readouterr().err


def test_http_error_from_gateway_exits_1(
    gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.status = 500
    assert pusher.main(["--gateway", gateway.url]) == 1
    err = capsys.readouterr().err
    assert gateway.url in err
    assert "500" in err


def test_nothing_listening_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    assert pusher.main(["--gateway", url, "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert url in err
    assert "refused" in err.lower()


def _pusher_script() -> Path:
    script = Path(sys.executable).parent / "pusher"
    if not script.exists():
        pytest.skip("pusher console script not installed next to this interpreter")
    return script


def test_console_script_failure_when_nothing_listens() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(
        [str(_pusher_script()), "--gateway", url],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"pusher: cannot push to Pushgateway at {url}")


def test_console_script_success(gateway: FakeGateway) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PUSHGATEWAY_URL=gateway.url, PUSHER_JOB="script", PUSHER_INSTANCE="app1")
    result = subprocess.run(
        [str(_pusher_script())], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert gateway.requests[0].path == "/metrics/job/script/instance/app1"


def test_empty_job_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        pusher.main(["--job", " "])
    assert excinfo.value.code == 2
