"""Sustained OrderPlaced intake through gunicorn on PostgreSQL, against a same-run ceiling.

    .venv/bin/python bench/intake_bench.py [--database-url postgresql://postgres@127.0.0.1:5432/bench_intake]
                                           [--seconds 15] [--workers 4] [--worker-class sync]

What it does, in one run (about a minute with the defaults):

1. drops and re-creates a dedicated PostgreSQL database and runs the app's migrations on it
   (`flask --app wsgi db upgrade`);
2. starts two gunicorn servers with the same settings (workers, worker class): the real app
   (`wsgi:app`) and `bench/ceiling_app.py`, a bare Flask endpoint that only inserts one row;
3. Phase A, throughput: closed loops (each client connection sends its next request as soon as
   the previous answer arrives) against the ceiling and against `POST /webhooks/checkout`,
   `--seconds` each, in `--rounds` alternating slices so that load which comes and goes on a
   shared machine weighs on both alike (the first slice of each has an uncounted `--warmup`).
   Every intake request is a new OrderPlaced event (unique event_id and order_id, built from
   tests/samples/order_placed.json) signed with Standard Webhooks, signed when it is sent; the
   ceiling gets the same bodies and headers. Reports requests/s, latency percentiles and
   non-2xx counts, and the ratio intake/ceiling;
4. Phase B, latency at a fixed rate: an open loop sending `--rate` requests/s (default 50) to the
   real intake for `--seconds`. Sends are scheduled at fixed times and latency is measured from
   the scheduled time, so a slow answer that delays later sends is charged to them too (no
   coordinated omission);
5. checks that the database holds exactly one order (and one inbound event, one history row) per
   202 the app returned, and one ceiling row per ceiling 202;
6. prints a summary, writes bench/results/intake.json, stops the servers and drops the database.

The load generator runs in separate processes (multiprocessing), one connection each, with a
lean socket HTTP/1.1 client (`--client http.client` for the stdlib one, which costs about twice
the client CPU). gunicorn's sync workers close the connection after each answer; the client
then reconnects. The clients share the 2 cores with the servers and PostgreSQL, for both targets
alike. CPU time used by gunicorn, PostgreSQL (our database's backends and its helpers), the
clients and everything else on the machine is measured from /proc over each measured window,
so the split, and any outside load that depressed the numbers, is visible.

Exit status: 0 when the run completed with no non-2xx answer and the row counts match, 1
otherwise, 3 with --fail-under-target when the run was clean but missed the target.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from benchlib import (
    BENCH,
    CLK_TCK,
    NCPU,
    ROOT,
    Server,
    add_result_options,
    app_env,
    conninfo,
    drop_database_or_warn,
    exit_status,
    free_port,
    machine_info,
    machine_ticks,
    percentile,
    postgres_ours,
    postgres_url,
    print_log_tails,
    proc_pids,
    proc_stat,
    proc_title,
    recreate_database,
    run_migrations,
    stop_on_signals,
    write_json,
)
from psycopg import sql
from standardwebhooks.webhooks import Webhook

SAMPLE = ROOT / "tests" / "samples" / "order_placed.json"
DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_intake"
DEFAULT_OUTPUT = BENCH / "results" / "intake.json"
INTAKE_PATH = "/webhooks/checkout"
CEILING_PATH = "/ingest"

ITEMS_PER_ORDER = len(json.loads(SAMPLE.read_text())["order"]["items"])
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0


# ---------------------------------------------------------------------------------------------
# Request bodies: a unique, signed OrderPlaced event per request.


def body_template() -> str:
    """The sample event as compact JSON with placeholders for the ids."""
    doc = json.loads(SAMPLE.read_text())
    doc["event_id"] = "@@EVENT_ID@@"
    doc["order"]["order_id"] = "@@ORDER_ID@@"
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class EventFactory:
    """Builds unique signed events; about 15 µs each, negligible next to a request."""

    def __init__(self, secret: str, run_tag: str, stream: str):
        self.webhook = Webhook(secret)
        self.template = body_template()
        self.prefix = f"{run_tag}{stream}"
        self.n = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        self.n += 1
        order_id = f"B{self.prefix}-{self.n}"  # ≤ 40 chars, starts alphanumeric
        event_id = f"evt_bench_{self.prefix}_{self.n}"
        text = self.template.replace("@@EVENT_ID@@", event_id).replace("@@ORDER_ID@@", order_id)
        now = datetime.now(UTC)
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(event_id, now, text),
            "Content-Type": "application/json",
        }
        return text.encode(), headers


# ---------------------------------------------------------------------------------------------
# Load generator processes.


@dataclass
class WorkerSpec:
    mode: str  # "closed" | "open"
    port: int
    path: str
    secret: str
    run_tag: str
    stream: str  # unique per worker and phase, keeps ids unique
    index: int
    nworkers: int
    duration: float
    warmup: float = 0.0
    rate: float = 0.0
    client: str = "raw"


@dataclass
class WorkerResult:
    index: int
    # Per request: completion time (s since phase start), latency (s), HTTP status (0: error).
    done_at: array = field(default_factory=lambda: array("d"))
    latency: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("H"))
    exceptions: Counter = field(default_factory=Counter)
    cpu_seconds: float = 0.0  # this process, over the measured window (after the warm-up)


class RawHttpClient:
    """A minimal HTTP/1.1 client on one socket: costs the load generator far less CPU than
    http.client (whose header parsing goes through the email package), which matters when it
    shares 2 cores with the servers. Keeps the connection open unless the server closes it
    (gunicorn's sync workers answer "Connection: close"; then it reconnects)."""

    def __init__(self, port: int, timeout: float = 30):
        self.addr = ("127.0.0.1", port)
        self.host = f"127.0.0.1:{port}".encode()
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = [
            b"POST ",
            path.encode(),
            b" HTTP/1.1\r\nHost: ",
            self.host,
            b"\r\nContent-Length: ",
            str(len(body)).encode(),
            b"\r\n",
        ]
        for name, value in headers.items():
            head += [name.encode(), b": ", value.encode(), b"\r\n"]
        head.append(b"\r\n")
        self.sock.sendall(b"".join(head) + body)
        return self._read_response()

    def _read_response(self) -> int:
        sock = self.sock
        assert sock is not None
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the response headers")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ConnectionError("chunked responses are not supported by this client")
        if length is None:  # body runs to the end of the connection
            close = True
            while sock.recv(65536):
                pass
        else:
            remaining = length - len(rest)
            while remaining > 0:
                chunk = sock.recv(remaining)
                if not chunk:
                    raise ConnectionError("connection closed inside the response body")
                remaining -= len(chunk)
        if close:
            self.close()
        return status


class StdlibHttpClient:
    """http.client, for comparison (`--client http.client`)."""

    def __init__(self, port: int, timeout: float = 30):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        self.conn.request("POST", path, body=body, headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status  # a "Connection: close" answer closes conn; the next request reopens


CLIENTS = {"raw": RawHttpClient, "http.client": StdlibHttpClient}


def load_worker(
    spec: WorkerSpec, ready: Any, go: Any, start_at: Any, progress: Any, out: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, with SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    factory = EventFactory(spec.secret, spec.run_tag, spec.stream)
    conn = CLIENTS[spec.client](spec.port)
    result = WorkerResult(spec.index)
    ready.release()
    go.wait()
    wall_start = start_at.value
    # perf_counter is monotonic and precise; map the shared wall-clock start onto it.
    t0 = time.perf_counter() + (wall_start - time.time())
    while time.perf_counter() < t0:
        time.sleep(0.0005)
    end = t0 + spec.warmup + spec.duration
    measured_from = t0 + spec.warmup
    cpu_mark = time.process_time() if spec.warmup == 0 else None
    interval = 1.0 / spec.rate if spec.mode == "open" else 0.0
    slot = spec.index  # open loop: this worker owns slots index, index+n, index+2n, ...
    count = 0
    while True:
        if spec.mode == "open":
            scheduled = t0 + slot * interval
            if scheduled >= end:
                break
            slot += spec.nworkers
            body, headers = factory.next()  # build before sleeping: not charged to latency
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = scheduled
        else:
            body, headers = factory.next()
            started = time.perf_counter()
            if started >= end:
                break
        try:
            status = conn.post(spec.path, body, headers)
        except (OSError, ValueError, IndexError, http.client.HTTPException) as exc:
            conn.close()
            status = 0
            result.exceptions[type(exc).__name__] += 1
        done = time.perf_counter()
        result.done_at.append(done - t0)
        result.latency.append(done - started)
        result.status.append(status)
        count += 1
        progress[spec.index] = count
        if cpu_mark is None and done >= measured_from:
            cpu_mark = time.process_time()
    if cpu_mark is not None:
        result.cpu_seconds = time.process_time() - cpu_mark
    conn.close()
    out.put(result)


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc (no psutil needed).


def _proc_stats() -> list[tuple[int, str, str, int, int]]:
    """(pid, comm, title, pgrp, utime+stime ticks) for every process we can read; the title
    is read for PostgreSQL processes only (it names the database a backend serves)."""
    rows = []
    for entry in proc_pids():
        try:
            comm, fields = proc_stat(entry)
            title = proc_title(entry) if comm.startswith("postgres") else ""
        except OSError:
            continue
        rows.append((int(entry), comm, title, int(fields[2]), int(fields[11]) + int(fields[12])))
    return rows


@dataclass
class CpuSnapshot:
    per_pid: dict[int, tuple[str, str, int, int]]  # pid: (comm, title, pgrp, ticks)
    busy: int
    total: int


def cpu_snapshot() -> CpuSnapshot:
    busy, total = machine_ticks()
    return CpuSnapshot({row[0]: row[1:] for row in _proc_stats()}, busy, total)


def cpu_split(
    before: CpuSnapshot, after: CpuSnapshot, server_pgrps: dict[str, int], dbname: str
) -> dict:
    """CPU seconds used between two snapshots by each gunicorn server and by PostgreSQL
    (the backends of our database and PostgreSQL's shared helper processes)."""
    used: Counter = Counter()
    for pid, (comm, title, pgrp, ticks) in after.per_pid.items():
        prev = before.per_pid.get(pid)
        delta = ticks - (prev[3] if prev and prev[0] == comm else 0)  # else: a new process
        if delta <= 0:
            continue
        for name, group in server_pgrps.items():
            if pgrp == group:
                used[f"gunicorn_{name}"] += delta
        if title and postgres_ours(title, dbname):
            used["postgresql"] += delta
    out = {k: v / CLK_TCK for k, v in used.items()}
    out["machine_busy"] = (after.busy - before.busy) / CLK_TCK  # all CPUs together
    return out


def client_cpu(before: CpuSnapshot, after: CpuSnapshot, pids: set[int]) -> float:
    ticks = 0
    for pid in pids:
        if pid in after.per_pid:
            ticks += after.per_pid[pid][3] - before.per_pid.get(pid, ("", "", 0, 0))[3]
    return ticks / CLK_TCK


# ---------------------------------------------------------------------------------------------
# Running a phase.


def run_slice(
    label: str,
    *,
    mode: str,
    port: int,
    path: str,
    secret: str,
    run_tag: str,
    stream: str,
    nworkers: int,
    duration: float,
    warmup: float,
    rate: float,
    client: str,
    server_pgrps: dict[str, int],
    dbname: str,
    procs: list[mp.Process],
) -> SliceData:
    ctx = mp.get_context("fork")
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    progress = ctx.Array("q", nworkers, lock=False)
    out = ctx.Queue()
    phase_procs = []
    for i in range(nworkers):
        spec = WorkerSpec(
            mode=mode,
            port=port,
            path=path,
            secret=secret,
            run_tag=run_tag,
            stream=f"{stream}{i}",
            index=i,
            nworkers=nworkers,
            duration=duration,
            warmup=warmup,
            rate=rate,
            client=client,
        )
        p = ctx.Process(
            target=load_worker, args=(spec, ready, go, start_at, progress, out), daemon=True
        )
        p.start()
        phase_procs.append(p)
        procs.append(p)
    for _ in range(nworkers):
        if not ready.acquire(timeout=30):
            raise RuntimeError(f"{label}: load generator processes did not start")

    if mode == "open":
        how = f"open loop at {rate:g} req/s over {nworkers} connections"
    else:
        how = f"closed loop, {nworkers} connections"
    warm = f", {warmup:g}s warm-up not counted" if warmup else ""
    print(f"\n== {label}: {how}, {duration:g}s{warm}", flush=True)
    start_at.value = time.time() + 0.2
    go.set()
    time.sleep(max(0.0, start_at.value - time.time()))

    # One progress line per second; CPU is sampled over the measured window only.
    phase_t0 = time.perf_counter()
    total_time = warmup + duration
    ticks = sorted({*(float(t) for t in range(1, int(total_time) + 1)), warmup, total_time} - {0.0})
    cpu_before = cpu_snapshot() if warmup == 0 else None
    cpu_t0 = time.perf_counter()
    last_total, last_t = 0, phase_t0
    for tick in ticks:
        time.sleep(max(0.0, phase_t0 + tick - time.perf_counter()))
        if cpu_before is None and tick >= warmup:
            cpu_before = cpu_snapshot()
            cpu_t0 = time.perf_counter()
        now_total = sum(progress)
        now_t = time.perf_counter()
        if now_t - last_t < 0.5 and tick != total_time:
            continue
        rps = (now_total - last_total) / (now_t - last_t)
        tag = " (warm-up)" if tick <= warmup else ""
        print(f"  {label:>8} t={tick:5.1f}s  {rps:7.1f} req/s  total {now_total}{tag}", flush=True)
        last_total, last_t = now_total, now_t
    cpu_after = cpu_snapshot()
    cpu_window = time.perf_counter() - cpu_t0

    results: list[WorkerResult] = []
    deadline = time.time() + 60
    while len(results) < nworkers:
        try:
            results.append(out.get(timeout=1))
        except Exception:  # queue.Empty
            if time.time() > deadline or not any(p.is_alive() for p in phase_procs):
                raise RuntimeError(f"{label}: load generator processes did not report") from None
    for p in phase_procs:
        p.join(timeout=5)

    data = SliceData(seconds=duration)
    for r in results:
        data.statuses_all.update(r.status)
        data.exceptions.update(r.exceptions)
        for done_at, lat, st in zip(r.done_at, r.latency, r.status, strict=True):
            # Closed loop: what completed inside the window. Open loop: every scheduled send,
            # including any that finish after the window (dropping those would hide slow ones).
            if mode == "open" or warmup <= done_at <= warmup + duration:
                data.latencies.append(lat)
                data.statuses[st] += 1
    cpu = cpu_split(cpu_before, cpu_after, server_pgrps, dbname)
    # Client processes measure themselves (they may exit before the last snapshot); the
    # parent's own share (progress lines) is read from /proc.
    cpu["clients"] = sum(r.cpu_seconds for r in results)
    cpu["clients"] += client_cpu(cpu_before, cpu_after, {os.getpid()})
    cpu["window_s"] = cpu_window
    data.cpu = cpu
    n = len(data.latencies)
    print(f"  {label:>8} slice: {n / duration:.1f} req/s over {duration:g}s", flush=True)
    return data


@dataclass
class SliceData:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # measured window
    statuses_all: Counter = field(default_factory=Counter)  # including warm-up
    exceptions: Counter = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)


def summarize(
    label: str, slices: list[SliceData], *, mode: str, connections: int, warmup: float, rate: float
) -> dict[str, Any]:
    """Merges the slices of one target into the figures the report shows."""
    latencies = sorted(x for sl in slices for x in sl.latencies)
    statuses: Counter = sum((sl.statuses for sl in slices), Counter())
    statuses_all: Counter = sum((sl.statuses_all for sl in slices), Counter())
    exceptions: Counter = sum((sl.exceptions for sl in slices), Counter())
    seconds = sum(sl.seconds for sl in slices)
    cpu: Counter = Counter()
    for sl in slices:
        cpu.update(sl.cpu)
    cpu_total = dict(cpu)
    window = cpu_total.pop("window_s")
    cpu_total.pop("machine_busy_pct", None)
    ours = sum(v for k, v in cpu_total.items() if k != "machine_busy")
    cpu_out = {k: round(v, 2) for k, v in cpu_total.items()}
    # Whatever else ran on the machine meanwhile (other users' jobs, the OS).
    cpu_out["other"] = round(cpu_total["machine_busy"] - ours, 2)
    cpu_out["window_s"] = round(window, 2)
    cpu_out["machine_busy_pct"] = round(100 * cpu_total["machine_busy"] / window / NCPU, 1)
    measured = len(latencies)
    non_2xx = sum(n for st, n in statuses.items() if not 200 <= st < 300)
    summary = {
        "mode": mode,
        "connections": connections,
        "seconds": seconds,
        "slices": len(slices),
        "slice_requests_per_s": [round(len(sl.latencies) / sl.seconds, 1) for sl in slices],
        "warmup_seconds": warmup,
        "target_rate": rate if mode == "open" else None,
        "requests": measured,
        "requests_per_s": round(measured / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 2),
            "p95": round(percentile(latencies, 95) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "max": round(latencies[-1] * 1000, 2) if latencies else None,
            "mean": round(sum(latencies) / measured * 1000, 2) if measured else None,
        },
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": non_2xx,
        "status_counts_incl_warmup": {str(k): v for k, v in sorted(statuses_all.items())},
        "non_2xx_incl_warmup": sum(n for st, n in statuses_all.items() if not 200 <= st < 300),
        "accepted_202_incl_warmup": statuses_all.get(202, 0),
        "exceptions": dict(exceptions),
        "cpu_seconds": cpu_out,
    }
    lat = summary["latency_ms"]
    print(
        f"  {label}: {summary['requests_per_s']} req/s, p50 {lat['p50']} ms, "
        f"p99 {lat['p99']} ms, non-2xx {non_2xx}",
        flush=True,
    )
    return summary


def cpu_ms_per_request(ph: dict[str, Any]) -> float:
    """CPU per request of everything on the request path (gunicorn, PostgreSQL, clients) in a
    summarize() phase: what the throughput ratio would be on an otherwise idle, CPU-bound
    machine."""
    c = ph["cpu_seconds"]
    used = sum(v for k, v in c.items() if k.startswith("gunicorn_"))
    used += c.get("postgresql", 0.0) + c["clients"]
    return 1000 * used / max(1, ph["requests"])


# ---------------------------------------------------------------------------------------------
# Servers.


def start_servers(
    env: dict[str, str], args: argparse.Namespace, tmpdir: Path, servers: list[Server]
) -> tuple[Server, Server]:
    """The app and the ceiling on the same gunicorn settings, so that the ratio compares only
    what the app does per request; appended to `servers` as soon as each starts, so that the
    caller stops them even if the other fails to come up."""
    app_srv = Server("app", "wsgi:app", ROOT, free_port(), env, args, tmpdir)
    servers.append(app_srv)
    ceil_srv = Server("ceiling", "ceiling_app:app", BENCH, free_port(), env, args, tmpdir)
    servers.append(ceil_srv)
    app_srv.wait_ready("/healthz")
    ceil_srv.wait_ready(CEILING_PATH)
    print(
        f"servers up: app :{app_srv.port}, ceiling :{ceil_srv.port} "
        f"({args.workers} {args.worker_class} workers each)",
        flush=True,
    )
    return app_srv, ceil_srv


def stop_all(procs: list[mp.Process], servers: list[Server]) -> None:
    """Load generators first, so that they do not count the servers' shutdown as errors."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
    for srv in servers:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# The database after a run.


def count_rows(url: Any) -> dict[str, int]:
    with psycopg.connect(conninfo(url, url.database)) as conn:
        tables = (
            "orders",
            "inbound_events",
            "order_status_history",
            "order_items",
            "bench_ceiling",
        )
        query = sql.SQL("SELECT count(*) FROM {}")
        return {t: conn.execute(query.format(sql.Identifier(t))).fetchone()[0] for t in tables}


def print_summary(report: dict[str, Any]) -> None:
    a_c, a_i, b = report["ceiling"], report["intake"], report["intake_at_rate"]
    res = report["result"]
    print("\n" + "=" * 78)
    print(
        f"Order intake benchmark  ({report['machine']['nproc']} cores, "
        f"gunicorn {report['config']['workers']}×{report['config']['worker_class']}, "
        f"PostgreSQL {report['machine']['postgresql']})"
    )
    print("-" * 78)
    print(
        f"{'phase':<34}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'non-2xx':>9}"
    )
    for name, ph in (
        ("A ceiling (bare insert), closed", a_c),
        ("A intake, closed", a_i),
        (f"B intake, open {b['target_rate']:g} req/s", b),
    ):
        lat = ph["latency_ms"]
        print(
            f"{name:<34}{ph['requests_per_s']:>9}{lat['p50']:>9}{lat['p95']:>9}{lat['p99']:>9}"
            f"{lat['max']:>9}{ph['non_2xx']:>9}"
        )
    print("-" * 78)
    print(
        f"intake / ceiling throughput: {res['ratio']:.2f}   (target ≥ {TARGET_RATIO})  "
        f"{'met' if res['ratio_met'] else 'NOT met'}"
    )
    cm = res["cpu_ms_per_request"]
    print(
        f"CPU per request (gunicorn+PostgreSQL+client): ceiling {cm['ceiling']} ms, intake "
        f"{cm['intake']} ms; ratio {res['cpu_ratio']:.2f} (the throughput ratio on an idle "
        "machine)"
    )
    print(
        f"p99 at {b['target_rate']:g} req/s: {b['latency_ms']['p99']} ms   "
        f"(target < {TARGET_P99_MS:g} ms)  {'met' if res['p99_met'] else 'NOT met'}"
    )
    v = report["verification"]
    print(
        f"rows: orders {v['rows']['orders']} vs 202s {v['intake_202s']}, ceiling rows "
        f"{v['rows']['bench_ceiling']} vs 202s {v['ceiling_202s']}: "
        f"{'ok' if v['ok'] else 'MISMATCH'}"
    )
    print(
        "CPU seconds in each measured window (other: every other process on the machine, "
        "and\nkernel time charged to none), and CPU ms per request:"
    )
    print(
        f"  {'phase':<12}{'gunicorn':>9}{'postgres':>9}{'clients':>9}{'other':>9}"
        f"{'busy':>6}   {'ms/req gunicorn':>15}{'postgres':>9}"
    )
    for name, ph in (("ceiling", a_c), ("intake", a_i), ("intake@rate", b)):
        c = ph["cpu_seconds"]
        server = c.get("gunicorn_app", 0.0) + c.get("gunicorn_ceiling", 0.0)
        pg = c.get("postgresql", 0.0)
        n = max(1, ph["requests"])
        print(
            f"  {name:<12}{server:>9.2f}{pg:>9.2f}{c['clients']:>9.2f}{c['other']:>9.2f}"
            f"{c['machine_busy_pct']:>5.0f}%   {1000 * server / n:>15.2f}"
            f"{1000 * pg / n:>9.2f}"
        )
    other = max(ph["cpu_seconds"]["other"] / ph["cpu_seconds"]["window_s"] for ph in (a_c, a_i, b))
    if other > 0.15:
        print(
            f"  note: other processes used up to {other:.2f} cores during a phase; "
            "the numbers are depressed by that load"
        )
    print(f"target {'MET' if res['target_met'] else 'NOT MET'}; results in {report['output']}")
    print("=" * 78)


def add_load_options(parser: argparse.ArgumentParser, *, rate: float, target: str) -> None:
    """The load options this benchmark and bench/tracking_bench.py share."""
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per phase")
    parser.add_argument(
        "--warmup",
        type=float,
        default=2,
        help="uncounted seconds before each closed loop (default 2)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help=f"phase A alternates ceiling/{target} slices this many times, "
        "--seconds in total per target (default 3)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="closed-loop client connections (default 2 × workers)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=rate,
        help=f"phase B requests/s (default {rate:g}{'; 0: skip' if not rate else ''})",
    )
    parser.add_argument(
        "--rate-connections", type=int, default=8, help="phase B client connections (default 8)"
    )
    parser.add_argument(
        "--client",
        default="raw",
        choices=sorted(CLIENTS),
        help="load generator HTTP client (default raw: a lean socket client)",
    )


def closed_loops(
    args: argparse.Namespace,
    connections: int,
    targets: list[tuple[str, Server, str, str]],
    common: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Phase A: closed loops against each (name, server, path, stream tag) target, in
    `--rounds` alternating slices, so load that comes and goes on a shared machine weighs on
    all alike; only each target's first slice has a warm-up. Returns each target's summary."""
    slice_s = args.seconds / args.rounds
    slices: dict[str, list[SliceData]] = {name: [] for name, *_ in targets}
    for r in range(args.rounds):
        for name, srv, path, stream in targets:
            slices[name].append(
                run_slice(
                    f"A {name} {r + 1}/{args.rounds}",
                    mode="closed",
                    port=srv.port,
                    path=path,
                    stream=f"{stream}{r}",
                    nworkers=connections,
                    duration=slice_s,
                    warmup=args.warmup if r == 0 else 0.0,
                    rate=0,
                    **common,
                )
            )
    print("\n== Phase A totals", flush=True)
    return {
        name: summarize(
            name, runs, mode="closed", connections=connections, warmup=args.warmup, rate=0
        )
        for name, runs in slices.items()
    }


def open_loop(
    name: str, srv: Server, path: str, args: argparse.Namespace, common: dict[str, Any]
) -> dict[str, Any]:
    """Phase B: `--rate` requests/s for `--seconds`, latency from each scheduled send time."""
    rate_slice = run_slice(
        f"B {name} at {args.rate:g} req/s",
        mode="open",
        port=srv.port,
        path=path,
        stream="r",
        nworkers=args.rate_connections,
        duration=args.seconds,
        warmup=0,
        rate=args.rate,
        **common,
    )
    return summarize(
        f"{name} at rate",
        [rate_slice],
        mode="open",
        connections=args.rate_connections,
        warmup=0,
        rate=args.rate,
    )


def load_config(
    args: argparse.Namespace, connections: int, app_srv: Server, ceil_srv: Server
) -> dict[str, Any]:
    """The report's record of the load settings and both servers' command lines."""
    return {
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads if args.worker_class == "gthread" else 1,
        "closed_loop_connections": connections,
        "open_loop_connections": args.rate_connections,
        "client": args.client,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "warmup_seconds": args.warmup,
        "gunicorn_app": " ".join(app_srv.cmd[1:]),
        "gunicorn_ceiling": " ".join(ceil_srv.cmd[1:]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DB_URL,
        help=f"PostgreSQL URL; its database is dropped and re-created (default {DEFAULT_DB_URL})",
    )
    add_load_options(parser, rate=50, target="intake")
    add_result_options(parser, DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    connections = args.connections or 2 * args.workers

    url = postgres_url(parser, args.database_url)
    app_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop_on_signals()  # stop cleanly (servers, clients, database) on Ctrl-C or kill

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    run_tag = secrets.token_hex(3)
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    servers: list[Server] = []
    procs: list[mp.Process] = []
    db_created = False
    started = time.time()
    try:
        print(
            f"database {url.render_as_string(hide_password=True)}: drop + create, migrate",
            flush=True,
        )
        recreate_database(url)
        db_created = True
        env = app_env(app_url, tmpdir / "instance", CHECKOUT_WEBHOOK_SECRET=secret)
        run_migrations(env, ROOT)

        app_srv, ceil_srv = start_servers(env, args, tmpdir, servers)
        pgrps = {"app": app_srv.proc.pid, "ceiling": ceil_srv.proc.pid}

        common = dict(
            secret=secret,
            run_tag=run_tag,
            server_pgrps=pgrps,
            procs=procs,
            client=args.client,
            dbname=url.database,
        )
        totals = closed_loops(
            args,
            connections,
            [("ceiling", ceil_srv, CEILING_PATH, "c"), ("intake", app_srv, INTAKE_PATH, "i")],
            common,
        )
        ceiling, intake = totals["ceiling"], totals["intake"]
        at_rate = open_loop("intake", app_srv, INTAKE_PATH, args, common)

        rows = count_rows(url)
        intake_202 = intake["accepted_202_incl_warmup"] + at_rate["accepted_202_incl_warmup"]
        ceiling_202 = ceiling["accepted_202_incl_warmup"]
        verification = {
            "rows": rows,
            "intake_202s": intake_202,
            "ceiling_202s": ceiling_202,
            "ok": rows["orders"] == intake_202
            and rows["inbound_events"] == intake_202
            and rows["order_status_history"] == intake_202
            and rows["order_items"] == ITEMS_PER_ORDER * intake_202
            and rows["bench_ceiling"] == ceiling_202,
        }
        ratio = intake["requests_per_s"] / ceiling["requests_per_s"]
        errors = (
            ceiling["non_2xx_incl_warmup"]
            + intake["non_2xx_incl_warmup"]
            + at_rate["non_2xx_incl_warmup"]
        )
        result = {
            "ceiling_rps": ceiling["requests_per_s"],
            "intake_rps": intake["requests_per_s"],
            "ratio": round(ratio, 3),
            "ratio_met": ratio >= TARGET_RATIO,
            "p99_ms_at_rate": at_rate["latency_ms"]["p99"],
            "p99_met": at_rate["latency_ms"]["p99"] < TARGET_P99_MS,
            "non_2xx": errors,
        }

        result["cpu_ms_per_request"] = {
            "ceiling": round(cpu_ms_per_request(ceiling), 2),
            "intake": round(cpu_ms_per_request(intake), 2),
        }
        result["cpu_ratio"] = round(cpu_ms_per_request(ceiling) / cpu_ms_per_request(intake), 3)
        result["target_met"] = (
            result["ratio_met"] and result["p99_met"] and errors == 0 and verification["ok"]
        )
        report = {
            "benchmark": "order intake (issue 2)",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": {"min_ratio": TARGET_RATIO, "max_p99_ms": TARGET_P99_MS, "rate": args.rate},
            "result": result,
            "machine": machine_info(url),
            "config": load_config(args, connections, app_srv, ceil_srv),
            "ceiling": ceiling,
            "intake": intake,
            "intake_at_rate": at_rate,
            "verification": verification,
            "output": str(args.output),
            "run_seconds": round(time.time() - started, 1),
        }
        print_log_tails(servers, 10, "server log")
        write_json(args.output, report)
        print_summary(report)
        return exit_status(
            not errors and verification["ok"], result["target_met"], args.fail_under_target
        )
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        stop_all(procs, servers)
        if db_created and not args.keep_db:
            drop_database_or_warn(url)
        shutil.rmtree(tmpdir, ignore_errors=True)
        print(f"run took {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
