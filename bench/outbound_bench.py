"""Outbound event delivery rate to a local receiver, by real RQ workers, against a same-run ceiling.

    .venv/bin/python bench/outbound_bench.py [--events 1000] [--workers 2] [--fork]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench_outbound]
        [--redis-url redis://127.0.0.1:6379/10]

What it does, in one run (about a minute with the defaults):

1. drops and re-creates a dedicated PostgreSQL database, runs the app's migrations on it
   (`flask --app wsgi db upgrade`) and empties the Redis database of --redis-url (FLUSHDB;
   database 0 is refused);
2. starts the receiver: gunicorn serving bench/receiver_app.py (a bare WSGI callable that reads
   the body and answers 200 "ok"), `--receiver-workers` gthread workers × `--receiver-threads`
   threads (keep-alive), registered as the only subscriber (OUTBOUND_WEBHOOK_URLS);
3. the ceiling, first half: `--workers` plain processes (multiprocessing, no DB, no RQ), each a
   closed loop that builds an OrderShipped payload like the outbox rows', serialises it as the
   app does, signs it with Standard Webhooks (a `Webhook` per request, as the app does) and
   POSTs it with a `requests.Session`, reading the answer: the bare cost of "sign and POST one
   event" on this machine with this receiver;
4. starts `--workers` worker processes, `python -m flask --app wsgi rq worker --with-scheduler
   events default` (the command ops run: jobs run in the worker process; `--fork` adds
   `--fork`: RQ's forked work horse per job), waits until they are registered, then
   inserts `--events` pending OrderShipped outbox rows in one transaction (unique `msg_…`
   event ids, a payload built from tests/samples/order_shipped.json, no order row) and polls
   the database every 0.5 s until every delivery is `sent` (progress once a second). The
   relay the workers queue every OUTBOX_RELAY_SECONDS (1 s) fans the rows out and queues one
   `deliver_event` job per delivery;
5. the ceiling, second half (so outside load that comes and goes weighs on both alike);
6. CPU from /proc over the delivery phase: the workers and their work horses (reaped horses
   included), the receiver, PostgreSQL (approximate when horses come and go: the postmaster's
   reaped backends of any database count), redis-server, this process and everything else;
7. RQ's own record of each deliver job (enqueued/started/ended, kept 60 s), and checks: one
   delivery per event, all `sent` with one attempt, one logged attempt per delivery, all 200;
8. `--profile N` (default 200): with the workers stopped, N more deliveries run in this
   process through fulfilment.services.outbound.deliver (warm, no fork, no RQ), timed by stage
   (claim, load + serialise, sign, POST, record) with SQL statements counted;
9. prints a summary, writes bench/results/outbound.json (outbound-fork.json with --fork),
   stops the workers (SIGTERM) and the receiver, drops the database and empties the Redis
   database, also on Ctrl-C or an error.

Rate: events / (last `sent_at` − commit of the outbox rows), end to end, and the steady rate
between the 10th and the 90th percentile of `sent_at`. The ratio compares the steady rate with
the ceiling. Target (issue 5): delivery rate ≥ 0.5 × ceiling.

Exit status: 0 when every delivery was sent and the checks passed, 1 otherwise, 3 with
--fail-under-target when the run was clean but missed the target.
"""

from __future__ import annotations

import argparse
import base64
import copy
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import requests
from redis import Redis
from standardwebhooks.webhooks import Webhook

# The repo root first: the app's packages are imported from there; then bench/ for the helpers.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from benchlib import (  # noqa: E402
    CLK_TCK,
    NCPU,
    ROOT,
    VENV_BIN,
    Child,
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
    prepare_code,
    print_log_tails,
    proc_pids,
    proc_stat,
    proc_title,
    recreate_database,
    redis_client,
    stop_on_signals,
    wait_idle,
    write_json,
)

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_outbound"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
RESULTS = ROOT / "bench" / "results"
SAMPLE = ROOT / "tests" / "samples" / "order_shipped.json"
HOOK_PATH = "/hook"
TARGET_RATIO = 0.5


# ---------------------------------------------------------------------------------------------
# Payloads: OrderShipped events like the outbox rows `transition()` writes.


class Payloads:
    def __init__(self, run_tag: str):
        self.sample = json.loads(SAMPLE.read_text())
        self.run_tag = run_tag

    def make(self, stream: str, n: int) -> tuple[str, dict[str, Any]]:
        """(event id, payload) number n of a stream; unique per run, stream and n."""
        doc = copy.deepcopy(self.sample)
        data = doc["data"]
        data["order_id"] = f"B{self.run_tag}{stream}-{n}"
        awb = f"{9_000_000_000_000 + n:014d}"
        data["shipment"]["awb"] = awb
        data["shipment"]["tracking_url"] = f"https://shiprocket.co/tracking/{awb}"
        return f"msg_{self.run_tag}{stream}{n:08d}", doc


def insert_outbox(dsn: str, payloads: Payloads, stream: str, count: int) -> datetime:
    """`count` pending OrderShipped rows in one transaction (COPY); returns the commit time."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy(
            "COPY outbox_events (event_id, event_type, order_pk, payload, created_at, state,"
            " attempts, next_attempt_at) FROM STDIN"
        ) as copy_in:
            for n in range(count):
                event_id, doc = payloads.make(stream, n)
                copy_in.write_row(
                    (event_id, "OrderShipped", None, json.dumps(doc), now, "pending", 0, now)
                )
        conn.commit()
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# The ceiling: sign + POST from plain processes.


def _ceiling_proc(
    url: str, secret: str, run_tag: str, stream: str, warmup: float, duration: float, out: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    payloads = Payloads(run_tag)
    session = requests.Session()
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    t0 = time.perf_counter()
    measured_from, end = t0 + warmup, t0 + warmup + duration
    cpu0: float | None = None
    n = 0
    while True:
        now_pc = time.perf_counter()
        if now_pc >= end:
            break
        if cpu0 is None and now_pc >= measured_from:
            cpu0 = time.process_time()
        msg_id, doc = payloads.make(stream, n)  # what the outbox row holds (not charged below)
        started = time.perf_counter()
        # What deliver() does per try, minus the database: serialise, sign, POST, read.
        body = json.dumps(doc, separators=(",", ":"), default=str)
        at = datetime.now(UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body),
            "Content-Type": "application/json",
            "User-Agent": "fulfilment-webhooks/1",
        }
        try:
            resp = session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=(3.05, 10.0),
                allow_redirects=False,
            )
            _ = resp.text[:500]
            status = resp.status_code
        except requests.RequestException as exc:
            status = 0
            errors[type(exc).__name__] += 1
        done = time.perf_counter()
        n += 1
        if started >= measured_from and done <= end:
            latencies.append(done - started)
            statuses[status] += 1
    cpu = time.process_time() - cpu0 if cpu0 is not None else 0.0
    out.put(
        {
            "latencies": latencies,
            "statuses": dict(statuses),
            "errors": dict(errors),
            "cpu": cpu,
            "sent": n,
        }
    )


def run_ceiling(
    label: str,
    url: str,
    secret: str,
    run_tag: str,
    stream: str,
    procs: int,
    seconds: float,
    warmup: float,
    receiver_pgrp: int,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    print(
        f"\n== ceiling {label}: {procs} processes sign + POST, {seconds:g}s (+{warmup:g}s warm-up)",
        flush=True,
    )
    ps = [
        ctx.Process(
            target=_ceiling_proc,
            args=(url, secret, run_tag, f"{stream}{i}", warmup, seconds, out),
            daemon=True,
        )
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    time.sleep(warmup)
    before = proc_snapshot()
    time.sleep(seconds)
    after = proc_snapshot()
    results = [out.get(timeout=60) for _ in ps]
    for p in ps:
        p.join(timeout=5)
    lat = sorted(x for r in results for x in r["latencies"])
    statuses: Counter = Counter()
    errors: Counter = Counter()
    for r in results:
        statuses.update({int(k): v for k, v in r["statuses"].items()})
        errors.update(r["errors"])
    cpu = cpu_groups(before, after, {"receiver": receiver_pgrp}, "")
    cpu["clients"] = round(sum(r["cpu"] for r in results), 2)
    cpu["other"] = round(
        cpu["machine_busy"]
        - cpu["clients"]
        - cpu.get("receiver", 0.0)
        - cpu.get("bench", 0.0)
        - cpu.get("postgresql", 0.0)
        - cpu.get("redis", 0.0),
        2,
    )
    n = len(lat)
    res = {
        "seconds": seconds,
        "processes": procs,
        "requests": n,
        "requests_per_s": round(n / seconds, 1),
        "latency_ms": ms_stats(lat),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "exceptions": dict(errors),
        "cpu_seconds": cpu,
        "client_cpu_ms_per_request": round(1000 * cpu["clients"] / max(1, n), 3),
        "receiver_cpu_ms_per_request": round(1000 * cpu.get("receiver", 0.0) / max(1, n), 3),
    }
    print(
        f"  ceiling {label}: {res['requests_per_s']} req/s, p50 {res['latency_ms']['p50']} ms,"
        f" client CPU {res['client_cpu_ms_per_request']} ms/req, other load "
        f"{cpu['other'] / seconds:.2f} cores",
        flush=True,
    )
    return res


def ms_stats(sorted_s: list[float]) -> dict[str, float | None]:
    if not sorted_s:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    return {
        "p50": round(percentile(sorted_s, 50) * 1000, 2),
        "p95": round(percentile(sorted_s, 95) * 1000, 2),
        "p99": round(percentile(sorted_s, 99) * 1000, 2),
        "max": round(sorted_s[-1] * 1000, 2),
    }


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc, by process group (the workers, their horses, the receiver).


@dataclass
class P:
    comm: str
    pgrp: int
    ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime (children it has reaped)
    title: str


def proc_snapshot() -> tuple[dict[int, P], int, float]:
    procs = {}
    for entry in proc_pids():
        try:
            comm, fields = proc_stat(entry)
            title = proc_title(entry) if comm.startswith("postgres") else ""
        except OSError:
            continue
        # fields[0] is field 3: pgrp is field 5, utime..cstime fields 14..17.
        ticks = int(fields[11]) + int(fields[12])
        procs[int(entry)] = P(comm, int(fields[2]), ticks, int(fields[13]) + int(fields[14]), title)
    return procs, machine_ticks()[0], time.time()


def _group_ticks(snap: dict[int, P], pgrps: dict[str, int], dbname: str) -> Counter:
    used: Counter = Counter()
    by_pgrp = {v: k for k, v in pgrps.items()}
    me = os.getpid()
    for pid, p in snap.items():
        name = by_pgrp.get(p.pgrp)
        if name is not None:
            used[name] += p.ticks + p.child_ticks
        elif pid == me:
            used["bench"] += p.ticks
        elif p.comm == "redis-server":
            used["redis"] += p.ticks
        elif dbname and p.title and postgres_ours(p.title, dbname):
            used["postgresql"] += p.ticks
            if not p.title.startswith("postgres:"):  # the postmaster: reaped backends
                used["postgresql"] += p.child_ticks
    return used


def cpu_groups(before: Any, after: Any, pgrps: dict[str, int], dbname: str) -> dict[str, float]:
    b, a = _group_ticks(before[0], pgrps, dbname), _group_ticks(after[0], pgrps, dbname)
    out = {k: round((a[k] - b.get(k, 0)) / CLK_TCK, 2) for k in a}
    out["machine_busy"] = round((after[1] - before[1]) / CLK_TCK, 2)
    out["window_s"] = round(after[2] - before[2], 2)
    return out


# ---------------------------------------------------------------------------------------------
# Workers and the delivery phase.


def wait_workers(redis: Redis, workers: list[Child], timeout: float = 60) -> None:
    from rq import Worker

    deadline = time.time() + timeout
    while time.time() < deadline:
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"{w.name} exited:\n{w.tail()}")
        if Worker.count(connection=redis) >= len(workers):
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers not registered after {timeout}s:\n{workers[0].tail()}")


def horses_alive(worker_pids: list[int]) -> int:
    snap = proc_snapshot()[0]
    return sum(1 for pid, p in snap.items() if p.pgrp in worker_pids and pid not in worker_pids)


def deliver_phase(
    dsn: str, redis: Redis, payloads: Payloads, events: int, timeout: float
) -> dict[str, Any]:
    t_commit = insert_outbox(dsn, payloads, "w", events)
    print(
        f"  {events} pending outbox rows committed; waiting for every delivery to be sent",
        flush=True,
    )
    last_sent, last_t = 0, time.perf_counter()
    start_pc = last_t
    sent = total = pending_outbox = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            time.sleep(0.5)
            sent, total = conn.execute(
                "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FROM deliveries"
            ).fetchone()
            now = time.perf_counter()
            if now - last_t >= 0.99 or sent >= events:
                pending_outbox = conn.execute(
                    "SELECT count(*) FROM outbox_events WHERE state = 'pending'"
                ).fetchone()[0]
                queued = redis.llen("rq:queue:events")
                rate = (sent - last_sent) / (now - last_t)
                print(
                    f"  t={now - start_pc:5.1f}s  sent {sent:5d}/{events}  {rate:6.1f}/s  "
                    f"(outbox pending {pending_outbox}, deliveries {total}, queued {queued})",
                    flush=True,
                )
                last_sent, last_t = sent, now
            if sent >= events:
                break
            if now - start_pc > timeout:
                print(f"  gave up after {timeout:g}s", flush=True)
                break
        times = [
            r[0]
            for r in conn.execute(
                "SELECT sent_at FROM deliveries WHERE state = 'sent' ORDER BY sent_at"
            ).fetchall()
        ]
    out: dict[str, Any] = {"events": events, "sent": len(times), "complete": len(times) == events}
    if times:
        e2e = (times[-1] - t_commit).total_seconds()
        first = (times[0] - t_commit).total_seconds()
        i10, i90 = int(0.1 * (len(times) - 1)), int(0.9 * (len(times) - 1))
        steady_s = (times[i90] - times[i10]).total_seconds()
        per_s: Counter = Counter(int((t - t_commit).total_seconds()) for t in times)
        out.update(
            {
                "wall_s": round(e2e, 2),
                "first_sent_after_s": round(first, 2),
                "deliveries_per_s": round(len(times) / e2e, 1) if e2e > 0 else None,
                "steady_deliveries_per_s": round((i90 - i10) / steady_s, 1)
                if steady_s > 0
                else None,
                "sent_per_second": [per_s.get(s, 0) for s in range(int(e2e) + 1)],
            }
        )
    return out


def rq_job_stats(redis: Redis) -> dict[str, Any]:
    """Timings of the deliver jobs from RQ's job hashes (kept result_ttl = 60 s)."""

    def ts(raw: bytes | None) -> float | None:
        if not raw:
            return None
        text = raw.decode().rstrip("Z")
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    keys = list(redis.scan_iter(match="rq:job:deliver-*", count=1000))
    pipe = redis.pipeline()
    for k in keys:
        pipe.hmget(k, "enqueued_at", "started_at", "ended_at")
    run, wait = [], []
    for enq, st, end in pipe.execute():
        e, s, d = ts(enq), ts(st), ts(end)
        if s is not None and d is not None:
            run.append(d - s)
        if e is not None and s is not None:
            wait.append(s - e)
    run.sort()
    wait.sort()
    return {
        "jobs": len(keys),
        "run_ms": ms_stats(run),
        "run_mean_ms": round(1000 * sum(run) / len(run), 2) if run else None,
        "queue_wait_ms": ms_stats(wait),
    }


def verify(dsn: str, events: int) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'sent'),"
            " count(*) FILTER (WHERE attempts = 1), count(DISTINCT outbox_event_id)"
            " FROM deliveries"
        ).fetchone()
        attempts = dict(
            conn.execute(
                "SELECT coalesce(status_code, 0), count(*) FROM delivery_attempts GROUP BY 1"
            ).fetchall()
        )
        outbox = dict(conn.execute("SELECT state, count(*) FROM outbox_events GROUP BY 1"))
        subscribers = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
    deliveries, sent, one_try, distinct = row
    ok = (
        deliveries == sent == one_try == distinct == events
        and attempts == {200: events}
        and subscribers == 1
    )
    return {
        "deliveries": deliveries,
        "sent": sent,
        "with_one_attempt": one_try,
        "attempts_by_status": {str(k): v for k, v in attempts.items()},
        "outbox_by_state": outbox,
        "subscribers": subscribers,
        "ok": ok,
    }


# ---------------------------------------------------------------------------------------------
# In-process profile of deliver(): warm, no fork, no RQ.


def profile_deliver(env: dict[str, str], dsn: str, payloads: Payloads, n: int) -> dict[str, Any]:
    from sqlalchemy import event

    from fulfilment import create_app
    from fulfilment.extensions import db
    from fulfilment.services import outbound

    app = create_app(environ=env)
    wall: Counter = Counter()
    cpu: Counter = Counter()
    stmts: Counter = Counter()
    current = ["other"]
    trace: list[str] = []  # the statements of the latest delivery

    def wrap(name: str, fn: Any) -> Any:
        def inner(*a: Any, **kw: Any) -> Any:
            prev = current[0]
            current[0] = name
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                wall[name] += time.perf_counter() - w0
                cpu[name] += time.process_time() - c0
                current[0] = prev

        return inner

    originals = {
        "_claim": outbound._claim,
        "signed_headers": outbound.signed_headers,
        "_record": outbound._record,
        "post": outbound._session.post,
    }
    with app.app_context():
        engine = db.engine

        def on_exec(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            stmts[current[0]] += 1
            trace.append(f"{current[0]}: {' '.join(statement.split())[:90]}")

        def on_commit(conn: Any) -> None:
            stmts[current[0] + " commits"] += 1
            trace.append(f"{current[0]}: COMMIT")

        event.listen(engine, "before_cursor_execute", on_exec)
        event.listen(engine, "commit", on_commit)
        insert_outbox(dsn, payloads, "p", n)
        outbound.fan_out(limit=n)
        due = outbound.due_deliveries(limit=n)
        db.session.remove()
        warm, due = due[:20], due[20:]
        for delivery_id, _ in warm:  # warm caches and the connection, not counted
            outbound.deliver(delivery_id)
            db.session.remove()
        stmts.clear()
        outbound._claim = wrap("claim", outbound._claim)
        outbound.signed_headers = wrap("sign", outbound.signed_headers)
        outbound._record = wrap("record", outbound._record)
        outbound._session.post = wrap("post", outbound._session.post)
        outcomes: Counter = Counter()
        # Stage timings over the first half, cProfile (which slows everything) over the rest.
        due, profiled = due[: len(due) // 2], due[len(due) // 2 :]
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            for delivery_id, _ in due:
                trace.clear()
                outcomes[outbound.deliver(delivery_id)] += 1
                db.session.remove()
            one_delivery = list(trace)
            total_wall, total_cpu = time.perf_counter() - w0, time.process_time() - c0
            t_wall, t_cpu, t_stmts = Counter(wall), Counter(cpu), Counter(stmts)  # the timed half
            prof = cProfile.Profile(time.process_time)
            prof.enable()
            for delivery_id, _ in profiled:
                outcomes[outbound.deliver(delivery_id)] += 1
                db.session.remove()
            prof.disable()
        finally:
            outbound._claim = originals["_claim"]
            outbound.signed_headers = originals["signed_headers"]
            outbound._record = originals["_record"]
            outbound._session.post = originals["post"]
            event.remove(engine, "before_cursor_execute", on_exec)
            event.remove(engine, "commit", on_commit)
        db.engine.dispose()
    k = max(1, len(due))
    stages = {}
    for name in ("claim", "sign", "post", "record"):
        stages[name] = {
            "wall_ms": round(1000 * t_wall[name] / k, 3),
            "cpu_ms": round(1000 * t_cpu[name] / k, 3),
            "sql_statements": round(t_stmts[name] / k, 2),
            "commits": round(t_stmts[name + " commits"] / k, 2),
        }
    stages["rest (load delivery, subscriber, event; serialise; commits)"] = {
        "wall_ms": round(1000 * (total_wall - sum(t_wall.values())) / k, 3),
        "cpu_ms": round(1000 * (total_cpu - sum(t_cpu.values())) / k, 3),
        "sql_statements": round(t_stmts["other"] / k, 2),
        "commits": round(t_stmts["other commits"] / k, 2),
    }
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    lines = [line.rstrip() for line in buf.getvalue().splitlines() if line.strip()]
    header = next((line for line in lines if line.lstrip().startswith("ncalls")), None)
    return {
        "deliveries": len(due),
        "outcomes": dict(outcomes),
        "wall_ms_per_delivery": round(1000 * total_wall / k, 3),
        "cpu_ms_per_delivery": round(1000 * total_cpu / k, 3),
        "sql_statements_per_delivery": round(
            sum(v for key, v in t_stmts.items() if not key.endswith("commits")) / k, 2
        ),
        "commits_per_delivery": round(
            sum(v for key, v in t_stmts.items() if key.endswith("commits")) / k, 2
        ),
        "statements_of_one_delivery": one_delivery,
        "stages": stages,
        "top_tottime": lines[lines.index(header) + 1 :] if header else lines,
    }


# ---------------------------------------------------------------------------------------------


def print_summary(r: dict[str, Any]) -> None:
    res, d, c = r["result"], r["delivery"], r["ceiling"]
    print("\n" + "=" * 78)
    cfg = r["config"]
    print(
        f"Outbound delivery benchmark  ({r['machine']['nproc']} cores, {cfg['workers']} "
        f"{'forking' if cfg['fork'] else 'in-process'} RQ workers, receiver gunicorn "
        f"{cfg['receiver']})"
    )
    print("-" * 78)
    print(
        f"ceiling (sign + POST, {c['processes']} processes): "
        f"{' / '.join(str(s['requests_per_s']) for s in c['slices'])} req/s "
        f"-> {c['requests_per_s']} req/s"
    )
    print(
        f"delivery: {d['sent']}/{d['events']} sent in {d.get('wall_s')} s after the commit "
        f"(first after {d.get('first_sent_after_s')} s): {d.get('deliveries_per_s')}/s end to "
        f"end, {d.get('steady_deliveries_per_s')}/s steady (10th-90th percentile)"
    )
    print(
        f"delivery / ceiling: {res['ratio']}  (target >= {TARGET_RATIO})  "
        f"{'met' if res['ratio_met'] else 'NOT met'}"
    )
    cp = r["cpu"]
    print(
        f"CPU per delivery (ms): workers+horses {cp['workers_ms']}, PostgreSQL "
        f"{cp['postgresql_ms']} (approx.), redis {cp['redis_ms']}, receiver "
        f"{cp['receiver_ms']}; ceiling client {c['client_cpu_ms_per_request']}, receiver "
        f"{c['receiver_cpu_ms_per_request']}"
    )
    print(
        f"other load: {cp['other_cores']} cores during delivery, ceiling slices "
        f"{', '.join(str(s['other_cores']) for s in c['slices'])} cores"
    )
    j = r["rq_jobs"]
    if j["jobs"]:
        print(
            f"RQ deliver jobs: {j['jobs']}, run p50 {j['run_ms']['p50']} ms (mean "
            f"{j['run_mean_ms']}), worker-seconds per delivery "
            f"{res['worker_ms_per_delivery']} ms"
        )
    prof = r.get("profile")
    if prof:
        print(
            f"in-process deliver() (warm, no fork): {prof['wall_ms_per_delivery']} ms wall, "
            f"{prof['cpu_ms_per_delivery']} ms CPU, {prof['sql_statements_per_delivery']} SQL "
            f"statements and {prof['commits_per_delivery']} commits per delivery"
        )
        for name, s in prof["stages"].items():
            print(
                f"    {name:<60}{s['wall_ms']:>7} ms{s['cpu_ms']:>7} cpu{s['sql_statements']:>5}"
                f" sql{s['commits']:>5} commits"
            )
    v = r["verification"]
    print(
        f"checks: deliveries {v['deliveries']}, sent {v['sent']}, one attempt "
        f"{v['with_one_attempt']}, attempts {v['attempts_by_status']}: "
        f"{'ok' if v['ok'] else 'MISMATCH'}"
    )
    print(f"results in {r['output']}")
    print("=" * 78)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DB_URL,
        help=f"dropped and re-created (default {DEFAULT_DB_URL})",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"emptied before and after (default {DEFAULT_REDIS_URL})",
    )
    parser.add_argument("--events", type=int, default=1000, help="outbox rows to deliver")
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument(
        "--fork",
        action="store_true",
        help="run the workers with --fork (a forked work horse per job; default: in-process)",
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=10,
        help="ceiling seconds, half before and half after the delivery phase",
    )
    parser.add_argument(
        "--ceiling-procs", type=int, default=0, help="ceiling client processes (default: --workers)"
    )
    parser.add_argument("--receiver-workers", type=int, default=1)
    parser.add_argument("--receiver-threads", type=int, default=4)
    parser.add_argument(
        "--profile",
        type=int,
        default=200,
        help="deliveries run in-process for the stage profile (0: skip)",
    )
    parser.add_argument("--timeout", type=float, default=120, help="give the delivery phase up")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="wait (at most 120 s) for the machine to be idle over this many "
        "seconds before measuring (default 0: do not wait)",
    )
    add_result_options(parser, None)
    args = parser.parse_args(argv)
    output = args.output or RESULTS / ("outbound-fork.json" if args.fork else "outbound.json")
    ceiling_procs = args.ceiling_procs or args.workers

    url = postgres_url(parser, args.database_url)
    redis = redis_client(parser, args.redis_url)
    app_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dsn = conninfo(url, url.database)
    stop_on_signals()

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    run_tag = secrets.token_hex(3)
    payloads = Payloads(run_tag)
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-outbound-"))
    receiver: Server | None = None
    workers: list[Child] = []
    db_created = redis_used = False
    started = time.time()
    try:
        print(
            f"database {url.render_as_string(hide_password=True)}: drop + create, migrate; "
            f"redis {args.redis_url}: flushdb",
            flush=True,
        )
        recreate_database(url)
        db_created = True
        redis.flushdb()
        redis_used = True
        port = free_port()
        hook_url = f"http://127.0.0.1:{port}{HOOK_PATH}"
        env = app_env(
            app_url,
            tmpdir / "instance",
            REDIS_URL=args.redis_url,
            OUTBOUND_WEBHOOK_URLS=hook_url,
            OUTBOUND_WEBHOOK_SECRET=secret,
            OUTBOX_RELAY_SECONDS="1",
        )
        mig = Child(
            "migrate",
            [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            env,
            tmpdir,
            ROOT,
        )
        if mig.proc.wait() != 0:
            raise RuntimeError(f"migration failed:\n{mig.tail()}")
        mig.stop()

        recv_args = SimpleNamespace(
            workers=args.receiver_workers, worker_class="gthread", threads=args.receiver_threads
        )
        receiver = Server(
            "receiver", "receiver_app:app", ROOT / "bench", port, env, recv_args, tmpdir
        )
        receiver.wait_ready(HOOK_PATH)
        recv_desc = f"{args.receiver_workers} gthread × {args.receiver_threads} threads"
        print(f"receiver up at {hook_url} ({recv_desc})", flush=True)
        if args.wait_idle:
            cores = wait_idle(args.wait_idle, 120)
            print(f"  machine load before measuring: {cores:.2f} cores", flush=True)

        half = args.ceiling_seconds / 2
        ceil_kw = dict(
            url=hook_url,
            secret=secret,
            run_tag=run_tag,
            procs=ceiling_procs,
            seconds=half,
            receiver_pgrp=receiver.proc.pid,
        )
        ceil_slices = [run_ceiling("1/2", stream="c0", warmup=1.0, **ceil_kw)]

        cmd = [
            str(VENV_BIN / "python"),
            "-m",
            "flask",
            "--app",
            "wsgi",
            "rq",
            "worker",
            "--with-scheduler",
            "events",
            "default",
        ]
        if args.fork:
            cmd.append("--fork")
        for i in range(args.workers):
            workers.append(Child(f"worker{i + 1}", cmd, env, tmpdir, ROOT))
        wait_workers(redis, workers)
        time.sleep(1.5)  # let the first relay run (it also registers the subscriber)
        worker_pids = [w.pid for w in workers]
        pgrps = {f"w{i}": pid for i, pid in enumerate(worker_pids)}
        pgrps["receiver"] = receiver.proc.pid
        print(
            f"\n== delivery: {args.workers} workers ({' '.join(cmd[3:])}), {args.events} events",
            flush=True,
        )
        before = proc_snapshot()
        delivery = deliver_phase(dsn, redis, payloads, args.events, args.timeout)
        deadline = time.time() + 10
        while horses_alive(worker_pids) and time.time() < deadline:
            time.sleep(0.05)
        after = proc_snapshot()
        cpu = cpu_groups(before, after, pgrps, url.database)
        cpu["workers"] = round(
            sum(cpu.pop(k, 0.0) for k in list(cpu) if k.startswith("w") and k[1:].isdigit()), 2
        )
        ours = sum(cpu.get(k, 0.0) for k in ("workers", "receiver", "postgresql", "redis", "bench"))
        cpu["other"] = round(cpu["machine_busy"] - ours, 2)
        jobs = rq_job_stats(redis)
        verification = verify(dsn, args.events)
        for w in workers:
            w.stop()
        ceil_slices.append(run_ceiling("2/2", stream="c1", warmup=1.0, **ceil_kw))

        profile = None
        if args.profile:
            print(f"\n== in-process deliver() profile: {args.profile} deliveries", flush=True)
            profile = profile_deliver(env, dsn, payloads, args.profile)

        n_ceil = sum(s["requests"] for s in ceil_slices)
        secs = sum(s["seconds"] for s in ceil_slices)
        ceiling = {
            "processes": ceiling_procs,
            "requests": n_ceil,
            "seconds": secs,
            "requests_per_s": round(n_ceil / secs, 1),
            "client_cpu_ms_per_request": round(
                1000 * sum(s["cpu_seconds"]["clients"] for s in ceil_slices) / max(1, n_ceil), 3
            ),
            "receiver_cpu_ms_per_request": round(
                1000
                * sum(s["cpu_seconds"].get("receiver", 0.0) for s in ceil_slices)
                / max(1, n_ceil),
                3,
            ),
            "non_2xx": sum(s["non_2xx"] for s in ceil_slices),
            "slices": [
                {**s, "other_cores": round(s["cpu_seconds"]["other"] / s["seconds"], 2)}
                for s in ceil_slices
            ],
        }
        n = max(1, delivery["sent"])
        rate = delivery.get("steady_deliveries_per_s") or 0.0
        ratio = rate / ceiling["requests_per_s"] if ceiling["requests_per_s"] else 0.0
        window = cpu["window_s"]
        cpu_out = {
            **cpu,
            "workers_ms": round(1000 * cpu["workers"] / n, 2),
            "postgresql_ms": round(1000 * cpu.get("postgresql", 0.0) / n, 2),
            "redis_ms": round(1000 * cpu.get("redis", 0.0) / n, 2),
            "receiver_ms": round(1000 * cpu.get("receiver", 0.0) / n, 2),
            "other_cores": round(cpu["other"] / window, 2) if window else None,
            "machine_busy_pct": round(100 * cpu["machine_busy"] / window / NCPU, 1)
            if window
            else None,
        }
        result = {
            "ceiling_rps": ceiling["requests_per_s"],
            "deliveries_per_s_steady": rate,
            "deliveries_per_s_end_to_end": delivery.get("deliveries_per_s"),
            "ratio": round(ratio, 3),
            "ratio_end_to_end": round(
                (delivery.get("deliveries_per_s") or 0.0) / ceiling["requests_per_s"], 3
            )
            if ceiling["requests_per_s"]
            else None,
            "ratio_met": ratio >= TARGET_RATIO,
            "worker_ms_per_delivery": round(
                1000 * args.workers * delivery.get("wall_s", 0.0) / n, 1
            ),
            "cpu_ratio": round(ceiling["client_cpu_ms_per_request"] / cpu_out["workers_ms"], 3)
            if cpu_out["workers_ms"]
            else None,
        }
        result["target_met"] = bool(
            result["ratio_met"] and verification["ok"] and ceiling["non_2xx"] == 0
        )
        report = {
            "benchmark": "outbound event delivery (issue 5)",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": {"min_ratio": TARGET_RATIO},
            "result": result,
            "machine": machine_info(url),
            "code": prepare_code(None, tmpdir)[1],
            "config": {
                "events": args.events,
                "workers": args.workers,
                "fork": args.fork,
                "worker_command": " ".join(cmd[1:]),
                "receiver": recv_desc,
                "receiver_command": " ".join(receiver.cmd[1:]),
                "ceiling_processes": ceiling_procs,
                "ceiling_seconds": args.ceiling_seconds,
            },
            "ceiling": ceiling,
            "delivery": delivery,
            "cpu": cpu_out,
            "rq_jobs": jobs,
            "verification": verification,
            "profile": profile,
            "output": str(output),
            "run_seconds": round(time.time() - started, 1),
        }
        print_log_tails(workers, 8)
        write_json(output, report, default=str)
        print_summary(report)
        return exit_status(
            verification["ok"] and delivery["complete"],
            result["target_met"],
            args.fail_under_target,
        )
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        for w in workers:
            w.stop()
        if receiver is not None:
            receiver.stop()
        if redis_used:
            try:
                redis.flushdb()
            except Exception as exc:  # report it, keep cleaning up
                print(f"could not empty the Redis database: {exc}", file=sys.stderr)
        if db_created and not args.keep_db:
            drop_database_or_warn(url)
        shutil.rmtree(tmpdir, ignore_errors=True)
        print(f"run took {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
