#!/usr/bin/env python3
"""Overhead of monitored-app's request instrumentation under real gunicorn.

Starts two gunicorn servers on 127.0.0.1 with the project's gunicorn_conf and the
same settings except APP_METRICS_ENABLED (true: instrumented, multiprocess mode;
false: no request instrumentation), drives a cheap route with a load generator
(wrk if installed, else a Python keep-alive load generator) for several rounds, one
server at a time in alternating order, and records requests/s and the servers' CPU
time per request (from /proc). It then times /metrics scrapes on the instrumented
server after the traffic, and finally measures the CPU cost per request of both app
variants in-process (no server, no network), which is far less sensitive to
background load on a shared machine than requests/s.

Loopback only; every load run is bounded by --duration. Needs monitored-app
installed in the interpreter given by --python (default: this one).

    python bench/app_overhead.py                  # 5 rounds x 10 s per server
    python bench/app_overhead.py --log-level INFO    # with per-request JSON logs
    python bench/app_overhead.py --duration 5 --rounds 1 --loadgen python
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"  # never anything but loopback


def cpu_sets(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(load generator CPUs, server CPUs): CPU 0 for the load generator, the rest for
    the server, so the two do not compete and requests/s measures the server's cost
    per request. None: no pinning (one CPU, or --no-pin)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def pinned(cpus: set[int] | None, cmd: list[str]) -> list[str]:
    """``cmd`` run on ``cpus`` (taskset, util-linux; not preexec_fn, which is unsafe
    when the caller has threads)."""
    if cpus is None:
        return cmd
    return ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus))), *cmd]


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    multiproc_dir: Path
    log_path: Path
    rps: list[float] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """On-CPU time of the master and its live workers, all threads (Linux
        /proc/<pid>/task/<tid>/schedstat: nanoseconds, unlike the 10 ms ticks of stat)."""
        total = 0
        for pid in {self.proc.pid} | child_pids(self.proc.pid):
            for schedstat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                try:
                    total += int(schedstat.read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    continue  # a thread that just ended
        return total / 1e9

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def child_pids(parent: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.add(int(stat.parent.name))
    return children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def start_server(
    name: str, args: argparse.Namespace, workdir: Path, metrics: bool
) -> Server:
    port = free_port()
    multiproc = workdir / f"{name}-multiproc"
    multiproc.mkdir()
    log_path = workdir / f"{name}.log"
    env = {
        **os.environ,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "APP_METRICS_ENABLED": "true" if metrics else "false",
        "APP_LOG_LEVEL": args.log_level,
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pinned(
                args.server_cpus,
                [
                    args.python,
                    "-m",
                    "gunicorn",
                    "-c",
                    "python:monitored_app.gunicorn_conf",
                ],
            ),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, port, proc, multiproc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name}: gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            if http_get(port, args.path) == 200:
                time.sleep(1.0)  # let every worker finish booting
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    sys.exit(f"{name}: gunicorn did not come up:\n{log_path.read_text()[-3000:]}")


# --- load generators --------------------------------------------------------------

LoadFn = Callable[[int, argparse.Namespace, float], tuple[float, int]]


def run_wrk(port: int, args: argparse.Namespace, duration: float) -> tuple[float, int]:
    """Requests/s and request count of one wrk run."""
    cmd = [
        "wrk",
        f"-t{args.loadgen_threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        f"http://{HOST}:{port}{args.path}",
    ]
    out = subprocess.run(
        pinned(args.loadgen_cpus, cmd),
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    )
    if "Non-2xx" in out.stdout or "Socket errors" in out.stdout:
        sys.exit(f"wrk saw errors:\n{out.stdout}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    count = re.search(r"(\d+) requests in", out.stdout)
    if rate is None or count is None:
        sys.exit(f"cannot parse wrk output:\n{out.stdout}")
    return float(rate.group(1)), int(count.group(1))


def _python_client(
    port: int,
    path: str,
    connections: int,
    stop_at: float,
    out: object,
    cpus: set[int] | None,
) -> None:
    """One process, ``connections`` keep-alive connections used round-robin."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    conns = [
        http.client.HTTPConnection(HOST, port, timeout=5) for _ in range(connections)
    ]
    done = 0
    i = 0
    while time.monotonic() < stop_at:
        conn = conns[i % connections]
        i += 1
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                done += 1
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            conn.close()
    out.put(done)  # type: ignore[attr-defined]


def run_python(
    port: int, args: argparse.Namespace, duration: float
) -> tuple[float, int]:
    """Requests/s and request count of one run of the Python load generator."""
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    per_process = max(1, args.connections // args.loadgen_threads)
    start = time.monotonic()
    stop_at = start + duration
    procs = [
        multiprocessing.Process(
            target=_python_client,
            args=(port, args.path, per_process, stop_at, queue, args.loadgen_cpus),
        )
        for _ in range(args.loadgen_threads)
    ]
    for proc in procs:
        proc.start()
    total = sum(queue.get(timeout=duration + 30) for _ in procs)
    for proc in procs:
        proc.join(timeout=10)
    return total / (time.monotonic() - start), total


def measure(server: Server, run_load: LoadFn, args: argparse.Namespace) -> Server:
    """One load run against ``server``; records req/s and server CPU per request."""
    cpu_before = server.cpu_seconds()
    rps, count = run_load(server.port, args, args.duration)
    cpu = server.cpu_seconds() - cpu_before
    server.rps.append(rps)
    server.cpu_us_per_request.append(cpu / count * 1e6)
    return server


def measure_together(
    servers: list[Server], run_load: LoadFn, args: argparse.Namespace
) -> None:
    """Load all servers at the same time (they share the server CPUs), so whatever else
    the machine does in that window slows them alike; records each one's req/s and
    CPU per request. The CPU per request is what decides the throughput a server
    reaches on a CPU of its own."""
    before = [server.cpu_seconds() for server in servers]
    with ThreadPoolExecutor(len(servers)) as pool:
        runs = list(
            pool.map(lambda server: run_load(server.port, args, args.duration), servers)
        )
    for server, cpu_before, (rps, count) in zip(servers, before, runs, strict=True):
        server.rps.append(rps)
        server.cpu_us_per_request.append(
            (server.cpu_seconds() - cpu_before) / count * 1e6
        )


def report(rnd: int, server: Server) -> None:
    print(
        f"  round {rnd + 1} {server.name:<12} {server.rps[-1]:>8.0f} req/s "
        f"{server.cpu_us_per_request[-1]:>6.0f} us server CPU/request",
        flush=True,
    )


# --- /metrics timing -----------------------------------------------------------------


def time_scrapes(port: int, count: int, gzip: bool) -> tuple[list[float], int]:
    """Wall time of ``count`` scrapes on one keep-alive connection, like Prometheus."""
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    times: list[float] = []
    size = 0
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("GET", "/metrics", headers=headers)
            response = conn.getresponse()
            body = response.read()
            times.append(time.perf_counter() - start)
            if response.status != 200:
                sys.exit(f"/metrics answered {response.status}")
            size = len(body)
            if response.will_close:
                conn.close()
    finally:
        conn.close()
    return times, size


# --- in-process CPU cost --------------------------------------------------------------

# Runs in a child interpreter (multiprocess mode must be chosen before prometheus_client
# is imported). Interleaves short batches of both apps and reports median CPU time per
# request: far less sensitive to background load than requests/s.
_INPROCESS = """
import json, os, statistics, sys, time
result_out, sys.stdout = sys.stdout, open(os.devnull, "w")  # app logs go to devnull
from werkzeug.test import EnvironBuilder
from monitored_app.settings import Settings
from monitored_app.wsgi import build_application
apps = {on: build_application(Settings.from_env({
    "APP_METRICS_ENABLED": str(on), "APP_LOG_LEVEL": sys.argv[2],
    "PROMETHEUS_MULTIPROC_DIR": sys.argv[3]})) for on in (True, False)}
env = EnvironBuilder(path=sys.argv[1]).get_environ()
def start_response(status, headers, exc_info=None):
    pass
def batch(app, n=500):
    t = time.process_time()
    for _ in range(n):
        b"".join(app(dict(env), start_response))
    return (time.process_time() - t) / n * 1e6
for app in apps.values():
    batch(app, 3000)
runs = {on: [] for on in apps}
for _ in range(int(sys.argv[4])):
    for on, app in apps.items():
        runs[on].append(batch(app))
print(json.dumps({str(on): statistics.median(v) for on, v in runs.items()}), file=result_out)
"""


def inprocess_cost(args: argparse.Namespace, workdir: Path) -> tuple[float, float]:
    """Median CPU us per request through the WSGI app: (instrumented, plain)."""
    multiproc = workdir / "inprocess-multiproc"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    out = subprocess.run(
        [
            args.python,
            "-c",
            _INPROCESS,
            args.path,
            args.log_level,
            str(multiproc),
            "100",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout)
    return float(result["True"]), float(result["False"])


# --- instructions per request (callgrind) ----------------------------------------------


def worker_instructions(
    args: argparse.Namespace, workdir: Path, metrics: bool, n: int
) -> int:
    """User-space instructions the gunicorn *worker* executed in a run serving ``n``
    requests (one worker, its threads included), counted by valgrind's callgrind:
    the same figure on every run, whatever else the machine does."""
    name = f"cg-{'instrumented' if metrics else 'plain'}-{n}"
    out = workdir / name
    (out / "multiproc").mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": str(args.threads),
        "PROMETHEUS_MULTIPROC_DIR": str(out / "multiproc"),
        "APP_METRICS_ENABLED": "true" if metrics else "false",
        "APP_LOG_LEVEL": args.log_level,
    }
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}/callgrind.%p",
        args.python,
        "-m",
        "gunicorn",
        "-c",
        "python:monitored_app.gunicorn_conf",
    ]
    with (out / "log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # everything runs ~50x slower under valgrind
        while True:
            try:
                if http_get(port, args.path, timeout=30) == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn under valgrind did not come up: {out / 'log'}")
                time.sleep(0.5)
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        for _ in range(n):
            conn.request("GET", args.path)
            response = conn.getresponse()
            response.read()
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    # One file per process: the master (pid of proc) and the worker.
    totals = {}
    for profile in out.glob("callgrind.*"):
        found = re.search(
            r"^(?:summary|totals): (\d+)", profile.read_text(), re.MULTILINE
        )
        if found:
            totals[profile.name] = int(found.group(1))
    worker = [v for k, v in totals.items() if k != f"callgrind.{proc.pid}"]
    if len(worker) != 1:
        sys.exit(f"expected one worker profile in {out}, found {sorted(totals)}")
    return worker[0]


def instructions_per_request(
    args: argparse.Namespace, workdir: Path
) -> tuple[float, float]:
    """(instrumented, plain) worker instructions per request: the difference between a
    run with 2n and one with n requests cancels start-up and shutdown."""
    n = args.callgrind_requests
    result = []
    for metrics in (True, False):
        low = worker_instructions(args, workdir, metrics, n)
        high = worker_instructions(args, workdir, metrics, 2 * n)
        result.append((high - low) / n)
    return result[0], result[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds per load run"
    )
    parser.add_argument(
        "--rounds", type=int, default=12, help="alternating rounds per server"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of warm-up load"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--threads", type=int, default=2, help="gunicorn threads per worker"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--loadgen-threads", type=int, default=1)
    parser.add_argument("--path", default="/health", help="cheap route to load")
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument(
        "--log-level", default="WARNING", help="APP_LOG_LEVEL for both servers"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter with the app"
    )
    parser.add_argument(
        "--tmp-root",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the multiproc dirs go; tmpfs like production's /run (default /dev/shm)",
    )
    parser.add_argument(
        "--mode",
        choices=("together", "alternate"),
        default="together",
        help="together: both servers loaded at once, compared by CPU per request (robust on "
        "a shared machine); alternate: one server at a time, compared by requests/s",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="also count the worker's instructions per request with valgrind (~3 min)",
    )
    parser.add_argument("--callgrind-requests", type=int, default=1000)
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the load generator to CPU 0 and the servers to the other CPUs",
    )
    args = parser.parse_args()
    args.loadgen_cpus, args.server_cpus = cpu_sets(args.pin)

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    run_load: LoadFn = run_wrk if loadgen == "wrk" else run_python

    workdir = Path(tempfile.mkdtemp(prefix="app-overhead-", dir=args.tmp_root))
    servers: list[Server] = []
    try:
        instrumented = start_server("instrumented", args, workdir, metrics=True)
        servers.append(instrumented)
        plain = start_server("plain", args, workdir, metrics=False)
        servers.append(plain)

        for server in servers:
            run_load(server.port, args, args.warmup)
        for rnd in range(args.rounds):
            if args.mode == "together":
                measure_together(servers, run_load, args)
                for server in servers:
                    report(rnd, server)
                continue
            # Alternate the order each round so neither server always runs "second".
            for server in servers if rnd % 2 == 0 else reversed(servers):
                report(rnd, measure(server, run_load, args))

        scrape_plain, size_plain = time_scrapes(
            instrumented.port, args.scrapes, gzip=False
        )
        scrape_gzip, size_gzip = time_scrapes(
            instrumented.port, args.scrapes, gzip=True
        )
        db_files = len(list(instrumented.multiproc_dir.glob("*.db")))
    finally:
        for server in servers:
            server.stop()
    wsgi_i, wsgi_p = inprocess_cost(args, workdir)
    instructions = instructions_per_request(args, workdir) if args.callgrind else None

    med_i = statistics.median(instrumented.rps)
    med_p = statistics.median(plain.rps)
    ratio = med_i / med_p
    ms = 1000.0

    print()
    pinning = (
        f"load generator on CPU {sorted(args.loadgen_cpus)}, servers on CPUs "
        f"{sorted(args.server_cpus)}"
        if args.server_cpus
        else "not pinned"
    )
    print(
        f"load: {loadgen}, {args.connections} connections, "
        f"{args.rounds} x {args.duration:g} s "
        f"per server, GET {args.path}; gunicorn {args.workers} workers x {args.threads} "
        f"threads; APP_LOG_LEVEL={args.log_level}; {os.cpu_count()} CPUs, {pinning}"
    )
    print(f"{'server':<14}{'median req/s':>14}{'CPU us/req':>12}   runs (req/s)")
    for server in servers:
        runs = ", ".join(f"{v:.0f}" for v in server.rps)
        cpu = statistics.median(server.cpu_us_per_request)
        print(
            f"{server.name:<14}{statistics.median(server.rps):>14.0f}{cpu:>12.0f}   {runs}"
        )
    cpu_i = statistics.median(instrumented.cpu_us_per_request)
    cpu_p = statistics.median(plain.cpu_us_per_request)
    print(
        f"server CPU per request: +{cpu_i - cpu_p:.1f} us instrumented "
        f"(plain/instrumented CPU ratio {cpu_p / cpu_i:.3f})"
    )
    print(
        f"in-process WSGI CPU per request (no server, no network): {wsgi_i:.1f} us "
        f"instrumented vs {wsgi_p:.1f} us plain (+{wsgi_i - wsgi_p:.1f} us)"
    )
    if instructions is not None:
        ins_i, ins_p = instructions
        print(
            f"worker instructions per request (callgrind, user space, "
            f"{args.callgrind_requests} requests): {ins_i / 1000:.1f}k instrumented vs "
            f"{ins_p / 1000:.1f}k plain (+{(ins_i - ins_p) / 1000:.1f}k; ratio {ins_p / ins_i:.3f})"
        )
    # Per-round ratios pair up measurements that saw the same background load; their
    # median is the headline figure, the quartiles show how noisy the machine was.
    if args.mode == "together":
        # Both servers shared the CPUs in the same window: the one needing less CPU per
        # request gets through more requests on a CPU of its own, in proportion.
        what = "requests per CPU-second (throughput on equal CPU)"
        pairs = [
            p / i
            for i, p in zip(
                instrumented.cpu_us_per_request, plain.cpu_us_per_request, strict=True
            )
        ]
    else:
        what = "requests/s"
        pairs = [i / p for i, p in zip(instrumented.rps, plain.rps, strict=True)]
    paired = statistics.median(pairs)
    q1, _, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (paired,) * 3
    verdict = "ok" if paired >= 0.97 else "MISSED"
    print(
        f"ratio instrumented/plain, {what}: {paired:.3f} median of per-round ratios "
        f"(quartiles {q1:.3f}-{q3:.3f}; requests/s ratio of medians {ratio:.3f}) "
        f"(target >= 0.97: {verdict})"
    )
    for label, times, size in (
        ("identity", scrape_plain, size_plain),
        ("gzip", scrape_gzip, size_gzip),
    ):
        median = statistics.median(times) * ms
        p95 = statistics.quantiles(times, n=20)[-1] * ms
        verdict = "ok" if median <= 10.0 else "MISSED"
        print(
            f"/metrics {label:<8} median {median:.2f} ms, p95 {p95:.2f} ms over {len(times)} "
            f"scrapes, {size} bytes, {db_files} .db files (target median <= 10 ms: {verdict})"
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
