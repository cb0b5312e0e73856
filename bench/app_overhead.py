#!/usr/bin/env python3
"""Overhead of monitored-app's request instrumentation under real gunicorn.

Starts gunicorn servers on 127.0.0.1 with the project's gunicorn_conf and the same
settings, one per variant:

* instrumented: APP_METRICS_ENABLED=true (ours, multiprocess mode, as deployed);
* plain: APP_METRICS_ENABLED=false (no request metrics): the baseline;
* peer: the plain app wrapped with prometheus_flask_exporter's
  GunicornPrometheusMetrics (multiprocess mode, group_by="url_rule"), the exporter
  most operators would reach for (``pip install -r requirements-bench.txt``;
  ``--no-peer`` leaves it out).

It drives a cheap route with a load generator (wrk if installed, else a Python
keep-alive load generator) for several rounds and records requests/s and the servers'
CPU time per request (from /proc). It then times /metrics scrapes on the instrumented
server after the traffic, measures the CPU cost per request of every app variant
in-process (no server, no network), and with --callgrind counts the gunicorn worker's
instructions per request under valgrind: the reproducible figure.

Loopback only; every load run is bounded by --duration. Needs monitored-app
installed in the interpreter given by --python (default: this one).

    python bench/app_overhead.py                  # 12 rounds x 4 s, all servers at once
    python bench/app_overhead.py --callgrind      # plus instructions per request
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
from typing import Any

HOST = "127.0.0.1"  # never anything but loopback
BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = ["-m", "gunicorn", "-c", "python:monitored_app.gunicorn_conf"]


@dataclass(frozen=True)
class Variant:
    """One server configuration. All run the same gunicorn_conf; ``app`` (a gunicorn
    app URI) replaces its ``wsgi_app`` on the command line when set."""

    name: str
    metrics: bool  # APP_METRICS_ENABLED
    app: str | None = None
    # Counter whose total is the number of app requests the variant counted (None:
    # counts nothing): checks that each variant measures what it claims to.
    request_counter: str | None = None


INSTRUMENTED = Variant("instrumented", True, request_counter="app_requests_total")
PLAIN = Variant("plain", False)
PEER = Variant(
    "peer",
    False,
    app="app_overhead:peer_application()",
    request_counter="flask_http_request_total",
)


def wrap_with_peer(app: Any) -> Any:
    """The peer variant: ``app`` (monitored-app built with metrics off) instrumented by
    prometheus_flask_exporter's GunicornPrometheusMetrics the way its docs show for
    gunicorn: multiprocess mode, default metrics grouped by the URL rule (bounded
    labels, like ours). Its metrics go to PROMETHEUS_MULTIPROC_DIR like ours; the
    app's own /metrics (mounted in front of Flask by build_application) renders that
    directory, so no second HTTP server on the master is needed here."""
    from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

    state = app.extensions["monitored_app"]
    if state.settings.metrics_enabled:
        raise RuntimeError("the peer variant needs APP_METRICS_ENABLED=false")
    GunicornPrometheusMetrics(app, group_by="url_rule")
    return app


def peer_application() -> Any:
    """gunicorn app factory (``app_overhead:peer_application()``, run in each worker
    after the fork like the plain app): the plain app plus the peer's instrumentation."""
    from monitored_app.wsgi import application

    return wrap_with_peer(application)


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
    variant: Variant
    rps: list[float] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)
    sent: int = 1  # requests answered (the readiness probe that saw it up, then loads)
    runs: int = 0  # load runs, each may leave up to --connections requests unanswered

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


def gunicorn_cmd(args: argparse.Namespace, variant: Variant) -> list[str]:
    """gunicorn with the project's config; the peer's app URI overrides its wsgi_app."""
    cmd = [args.python, *GUNICORN]
    if variant.app is not None:
        cmd += ["--pythonpath", str(BENCH_DIR), variant.app]
    return cmd


def server_env(
    args: argparse.Namespace, variant: Variant, port: int, multiproc: Path, workers: int
) -> dict[str, str]:
    return {
        **os.environ,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(args.threads),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "APP_METRICS_ENABLED": "true" if variant.metrics else "false",
        "APP_LOG_LEVEL": args.log_level,
    }


def start_server(variant: Variant, args: argparse.Namespace, workdir: Path) -> Server:
    name = variant.name
    port = free_port()
    multiproc = workdir / f"{name}-multiproc"
    multiproc.mkdir()
    log_path = workdir / f"{name}.log"
    env = server_env(args, variant, port, multiproc, args.workers)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pinned(args.server_cpus, gunicorn_cmd(args, variant)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, port, proc, multiproc, log_path, variant)
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


# --- what each variant counted ---------------------------------------------------------

# Runs in a child interpreter (the one with the app): totals of the request counters in
# a multiproc directory, read from the files after the server stopped.
_COUNTERS = """
import glob, json, os, sys
from prometheus_client.multiprocess import MultiProcessCollector
files = [f for f in glob.glob(os.path.join(sys.argv[1], "*.db")) if os.path.getsize(f)]
totals = {name: 0.0 for name in sys.argv[2:]}
for family in MultiProcessCollector.merge(files, accumulate=True):
    for sample in family.samples:
        if sample.name in totals:
            totals[sample.name] += sample.value
print(json.dumps(totals))
"""
REQUEST_COUNTERS = tuple(
    v.request_counter for v in (INSTRUMENTED, PEER) if v.request_counter is not None
)


def check_counted(
    args: argparse.Namespace, variant: Variant, multiproc: Path, low: int, high: int
) -> None:
    """Exit unless the variant's request counter is in ``low..high`` and no other
    variant's counter has anything: a variant whose instrumentation did not run (or
    ran twice) would make the comparison meaningless."""
    out = subprocess.run(
        [args.python, "-c", _COUNTERS, str(multiproc), *REQUEST_COUNTERS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    totals = json.loads(out.stdout)
    for name, total in totals.items():
        want = (low, high) if name == variant.request_counter else (0, 0)
        if not want[0] <= total <= want[1]:
            sys.exit(
                f"{variant.name}: {name} = {total:g}, expected {want[0]}..{want[1]} "
                f"(files in {multiproc})"
            )


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
    server.sent += count
    server.runs += 1
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
        server.sent += count
        server.runs += 1
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
# is imported). Interleaves short batches of the apps and reports median CPU time per
# request: far less sensitive to background load than requests/s.
_INPROCESS = """
import json, os, statistics, sys, time
result_out, sys.stdout = sys.stdout, open(os.devnull, "w")  # app logs go to devnull
sys.path.insert(0, sys.argv[5])  # bench/, for the peer variant
from werkzeug.test import EnvironBuilder
from monitored_app.settings import Settings
from monitored_app.wsgi import build_application
def build(name):
    app = build_application(Settings.from_env({
        "APP_METRICS_ENABLED": str(name == "instrumented"), "APP_LOG_LEVEL": sys.argv[2],
        "PROMETHEUS_MULTIPROC_DIR": sys.argv[3]}))
    if name == "peer":
        from app_overhead import wrap_with_peer
        app = wrap_with_peer(app)
    return app
apps = {name: build(name) for name in sys.argv[6].split(",")}
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
runs = {name: [] for name in apps}
for _ in range(int(sys.argv[4])):
    for name, app in apps.items():
        runs[name].append(batch(app))
print(json.dumps({name: statistics.median(v) for name, v in runs.items()}), file=result_out)
"""


def inprocess_cost(
    args: argparse.Namespace, workdir: Path, variants: list[Variant]
) -> dict[str, float]:
    """Median CPU us per request through each variant's WSGI app, by variant name."""
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
            str(BENCH_DIR),
            ",".join(v.name for v in variants),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return {name: float(us) for name, us in json.loads(out.stdout).items()}


# --- instructions per request (callgrind) ----------------------------------------------


def worker_instructions(
    args: argparse.Namespace, workdir: Path, variant: Variant, n: int
) -> int:
    """User-space instructions the gunicorn *worker* executed in a run serving ``n``
    requests (one worker, its threads included), counted by valgrind's callgrind:
    the same figure on every run, whatever else the machine does."""
    out = workdir / f"cg-{variant.name}-{n}"
    multiproc = out / "multiproc"
    multiproc.mkdir(parents=True)
    port = free_port()
    env = server_env(args, variant, port, multiproc, workers=1)
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}/callgrind.%p",
        *gunicorn_cmd(args, variant),
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
            if response.status != 200:
                sys.exit(f"{variant.name}: {args.path} answered {response.status}")
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    # The probe that saw the server up plus the n requests, each counted exactly once.
    check_counted(args, variant, multiproc, n + 1, n + 1)
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
    args: argparse.Namespace, workdir: Path, variants: list[Variant]
) -> dict[str, float]:
    """Worker instructions per request by variant name: the difference between a run
    with 2n and one with n requests cancels start-up and shutdown."""
    n = args.callgrind_requests
    result = {}
    for variant in variants:
        low = worker_instructions(args, workdir, variant, n)
        high = worker_instructions(args, workdir, variant, 2 * n)
        result[variant.name] = (high - low) / n
        print(
            f"  callgrind {variant.name:<12} {result[variant.name] / 1000:8.1f}k "
            "instructions/request",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds per load run"
    )
    parser.add_argument("--rounds", type=int, default=12, help="load rounds per server")
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
        "--log-level", default="WARNING", help="APP_LOG_LEVEL for all servers"
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
        help="together: all servers loaded at once, compared by CPU per request (robust on "
        "a shared machine); alternate: one server at a time, compared by requests/s",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="also count the worker's instructions per request with valgrind (~8 min)",
    )
    parser.add_argument("--callgrind-requests", type=int, default=1000)
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the load generator to CPU 0 and the servers to the other CPUs",
    )
    parser.add_argument(
        "--no-peer",
        dest="peer",
        action="store_false",
        help="leave out the prometheus_flask_exporter variant (requirements-bench.txt)",
    )
    args = parser.parse_args()
    args.loadgen_cpus, args.server_cpus = cpu_sets(args.pin)
    variants = [INSTRUMENTED, PLAIN] + ([PEER] if args.peer else [])
    if args.peer:
        probe = subprocess.run(
            [
                args.python,
                "-c",
                "import prometheus_flask_exporter as m; print(m.__version__)",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            sys.exit(
                f"{args.python} lacks prometheus_flask_exporter: pip install -r "
                f"{BENCH_DIR.parent / 'requirements-bench.txt'} (or --no-peer)"
            )
        args.peer_version = probe.stdout.strip()

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    run_load: LoadFn = run_wrk if loadgen == "wrk" else run_python

    workdir = Path(tempfile.mkdtemp(prefix="app-overhead-", dir=args.tmp_root))
    servers: list[Server] = []
    try:
        for variant in variants:
            servers.append(start_server(variant, args, workdir))
        by_name = {server.name: server for server in servers}
        instrumented, plain = by_name["instrumented"], by_name["plain"]

        for server in servers:
            server.sent += run_load(server.port, args, args.warmup)[1]
            server.runs += 1
        for rnd in range(args.rounds):
            if args.mode == "together":
                measure_together(servers, run_load, args)
                for server in servers:
                    report(rnd, server)
                continue
            # Rotate the order each round so no server always runs first or last.
            shift = rnd % len(servers)
            for server in servers[shift:] + servers[:shift]:
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
    for server in servers:
        check_counted(
            args,
            server.variant,
            server.multiproc_dir,
            server.sent,
            server.sent + server.runs * args.connections,
        )
    wsgi = inprocess_cost(args, workdir, variants)
    instructions = (
        instructions_per_request(args, workdir, variants) if args.callgrind else None
    )

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
    if args.peer:
        print(
            f"peer: prometheus_flask_exporter {args.peer_version}, GunicornPrometheusMetrics"
        )
    print(f"{'server':<14}{'median req/s':>14}{'CPU us/req':>12}   runs (req/s)")
    for server in servers:
        runs = ", ".join(f"{v:.0f}" for v in server.rps)
        cpu = statistics.median(server.cpu_us_per_request)
        print(
            f"{server.name:<14}{statistics.median(server.rps):>14.0f}{cpu:>12.0f}   {runs}"
        )
    others = [server for server in servers if server is not plain]
    cpu_p = statistics.median(plain.cpu_us_per_request)
    for server in others:
        cpu = statistics.median(server.cpu_us_per_request)
        print(
            f"server CPU per request: +{cpu - cpu_p:.1f} us {server.name} "
            f"(plain/{server.name} CPU ratio {cpu_p / cpu:.3f})"
        )
    print(
        "in-process WSGI CPU per request (no server, no network): "
        + ", ".join(
            f"{name} {us:.1f} us (+{us - wsgi['plain']:.1f})"
            for name, us in wsgi.items()
            if name != "plain"
        )
        + f" vs plain {wsgi['plain']:.1f} us"
    )
    if instructions is not None:
        ins_p = instructions["plain"]
        print(
            f"worker instructions per request (callgrind, user space, "
            f"{args.callgrind_requests} vs {2 * args.callgrind_requests} requests): "
            f"plain {ins_p / 1000:.1f}k"
        )
        for name, ins in instructions.items():
            if name != "plain":
                print(
                    f"  {name:<12} {ins / 1000:.1f}k: +{(ins - ins_p) / 1000:.1f}k "
                    f"(ratio plain/{name} {ins_p / ins:.3f})"
                )
        if "peer" in instructions:
            ours = instructions["instrumented"] - ins_p
            peer = instructions["peer"] - ins_p
            verdict = "ok" if ours <= 0.5 * peer else "MISSED"
            print(
                f"  overhead ours/peer {ours / peer:.3f} "
                f"(+{ours / 1000:.1f}k vs +{peer / 1000:.1f}k; target <= 0.5: {verdict})"
            )
    # Per-round ratios pair up measurements that saw the same background load; their
    # median is the headline figure, the quartiles show how noisy the machine was.
    for server in others:
        if args.mode == "together":
            # All servers shared the CPUs in the same window: the one needing less CPU
            # per request gets through more requests on a CPU of its own, in proportion.
            what = "requests per CPU-second (throughput on equal CPU)"
            pairs = [
                p / i
                for i, p in zip(
                    server.cpu_us_per_request, plain.cpu_us_per_request, strict=True
                )
            ]
        else:
            what = "requests/s"
            pairs = [i / p for i, p in zip(server.rps, plain.rps, strict=True)]
        paired = statistics.median(pairs)
        q1, _, q3 = (
            statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (paired,) * 3
        )
        ratio = statistics.median(server.rps) / statistics.median(plain.rps)
        verdict = "ok" if paired >= 0.97 else "MISSED"
        print(
            f"ratio {server.name}/plain, {what}: {paired:.3f} median of per-round ratios "
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
