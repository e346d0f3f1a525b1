"""The orders dashboard (issue 4) on a big database: every list view, filter, search kind, the
detail page and the live-update feed, timed through gunicorn, with the SQL behind each.

    .venv/bin/python bench/seed_orders.py --orders 1000000   # PostgreSQL bench_dashboard
    .venv/bin/python bench/dashboard_bench.py [--repeat 30] [--keep]
    .venv/bin/python bench/dashboard_bench.py --seed-orders 100000 \\
        --database-url sqlite:////tmp/bench_dashboard.sqlite3

What it does:

1. uses the database bench/seed_orders.py filled (or seeds it first with --seed-orders N),
   runs `flask db upgrade` on it (a kept database gets any new migration, e.g. an index),
   creates an admin user with the app's CLI (`flask --app wsgi users create ... --role admin`),
   and picks search values and an order that exist;
2. the queries: builds the app in this process (same settings) and requests every endpoint
   once through Flask's test client, logged in, capturing each SQL statement the request runs
   (SQLAlchemy's before_cursor_execute event). Each SELECT is then run again on its own:
   PostgreSQL `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` (the plan's scans, rows and execution
   time) and plain executions (median of 5); SQLite `EXPLAIN QUERY PLAN` and plain executions.
   Flask-Admin's pager COUNT(*) is one of these statements and is reported on its own;
3. the endpoints: starts the real app under gunicorn (`--workers 1` sync by default,
   `--no-control-socket`, APP_ENV=development, LOG_LEVEL=warning), logs in with
   requests.Session (CSRF token from GET /login), sends each request `--warmup` times
   uncounted, waits for the machine to be quiet (`--wait-idle`), then sends every endpoint in
   turn, `--repeat` rounds, one request at a time. The app sends no Server-Timing header, so
   the SERVER time of each request is gunicorn's own request time (access log `%(D)s`,
   microseconds from reading the request to the end of sending the answer); the client's wall
   time on loopback is recorded too (it adds the TCP connect and requests' parsing, ~1-2 ms);
4. prints the table (median and p95 of the server time, the statements with their plan's key
   node, target met or not), writes bench/results/dashboard.json (one entry per database
   backend, the other backend's entry is kept), stops gunicorn and drops the database unless
   --keep.

Targets (issue 4): every endpoint's median < 150 ms with 1,000,000 orders on PostgreSQL, and
< 1 s with 100,000 orders on SQLite. CPU used by other processes on the machine (other
sessions' tests and benchmarks) is measured from /proc for each round and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import psycopg
import requests
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed_orders  # noqa: E402 - bench/ is not a package
from benchlib import (  # noqa: E402
    CLK_TCK,
    NCPU,
    ROOT,
    VENV_BIN,
    GroupProcess,
    app_url,
    conninfo,
    drop_database,
    extract_commit,
    free_port,
    git,
    machine_ticks,
    percentile,
    proc_pids,
    proc_stat,
    proc_title,
    sqlite_path,
    stop_on_signals,
    write_json,
)

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_dashboard"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "dashboard.json"
TARGET_MS = {"postgresql": 150.0, "sqlite": 1000.0}
ADMIN_EMAIL = "bench@example.in"
ADMIN_PASSWORD = "bench-dashboard-password-1"
LIST = "/admin/orders/"
CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
ACCESS_FORMAT = '%(D)s %(s)s "%(r)s"'


@dataclass
class Endpoint:
    name: str
    path: str
    expect_sql: str = ""  # a fragment the list query must contain (the filter was applied)
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    in_process_status: int = 0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Database helpers.


def db_exists(url: URL) -> bool:
    if url.get_backend_name() == "sqlite":
        return sqlite_path(url).exists()
    with psycopg.connect(conninfo(url, "postgres")) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        return row.fetchone() is not None


def query_db(url: URL, statement: str, params: tuple = ()) -> list[tuple]:
    """Plain reads for the set-up (sample values); %s placeholders on both backends."""
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return conn.execute(statement.replace("%s", "?"), params).fetchall()
        finally:
            conn.close()
    with psycopg.connect(conninfo(url, url.database)) as conn:
        return conn.execute(statement, params).fetchall()


def pick_samples(url: URL) -> dict[str, Any]:
    """Values that exist: an order (with items, history and a shipment) for the detail page,
    an e-mail, a phone and an AWB for the searches, the busiest courier, a month of data."""
    (n,) = query_db(url, "SELECT max(id) FROM orders")[0]
    if not n:
        raise SystemExit("the database holds no orders: run bench/seed_orders.py first")
    mid = n // 2
    detail = query_db(
        url,
        "SELECT o.order_id FROM orders o JOIN shipments s ON s.order_pk = o.id "
        "WHERE o.id >= %s AND o.status = 'delivered' ORDER BY o.id LIMIT 1",
        (mid,),
    )[0][0]
    by_id, email = query_db(
        url, "SELECT order_id, customer_email FROM orders WHERE id = %s", (n * 3 // 4,)
    )[0]
    (phone,) = query_db(url, "SELECT customer_phone FROM orders WHERE id = %s", (n // 3,))[0]
    (awb,) = query_db(
        url,
        "SELECT awb FROM shipments WHERE id >= %s AND awb IS NOT NULL ORDER BY id LIMIT 1",
        (n * 2 // 3,),
    )[0]
    courier = query_db(
        url,
        "SELECT courier_name, count(*) FROM shipments WHERE courier_name IS NOT NULL "
        "GROUP BY courier_name ORDER BY 2 DESC LIMIT 1",
    )[0]
    # A whole calendar month about six months back (inside the year of data).
    back = datetime.now(UTC).date() - timedelta(days=180)
    first = back.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return {
        "orders": n,
        "detail_order_id": detail,
        "search_order_id": by_id,
        "search_email": email,
        "search_phone": f"+91 {phone[:5]} {phone[5:]}",
        "search_awb": awb,
        "carrier": courier[0],
        "carrier_shipments": courier[1],
        "month": (first, last),
    }


def endpoints(s: dict[str, Any]) -> list[Endpoint]:
    first, last = s["month"]
    month = quote_plus(f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
    q = quote_plus
    return [
        Endpoint("list, first page", LIST, "ORDER BY orders.placed_at DESC"),
        Endpoint("status = placed", f"{LIST}?flt0_0=placed", "orders.status ="),
        Endpoint("status = processing", f"{LIST}?flt0_0=processing", "orders.status ="),
        Endpoint("status = shipped", f"{LIST}?flt0_0=shipped", "orders.status ="),
        Endpoint("status = delivered", f"{LIST}?flt0_0=delivered", "orders.status ="),
        Endpoint("shipment failed", f"{LIST}?flt0_1=failed", "shipments.state ="),
        Endpoint("SLA at risk", f"{LIST}?flt0_2=at_risk", "orders.status IN"),
        Endpoint("SLA breached", f"{LIST}?flt0_2=breached", "orders.status IN"),
        Endpoint("payment = COD", f"{LIST}?flt0_3=cod", "orders.payment_method ="),
        Endpoint(f"carrier = {s['carrier']}", f"{LIST}?flt0_4={q(s['carrier'])}", "courier_name ="),
        Endpoint(
            f"placed {first:%Y-%m-%d} to {last:%Y-%m-%d}",
            f"{LIST}?flt0_5={month}",
            "orders.placed_at BETWEEN",
        ),
        Endpoint("search: order id", f"{LIST}?search={q(s['search_order_id'])}", "order_id ="),
        Endpoint("search: e-mail", f"{LIST}?search={q(s['search_email'])}", "customer_email ="),
        Endpoint("search: phone", f"{LIST}?search={q(s['search_phone'])}", "customer_phone ="),
        Endpoint("search: AWB", f"{LIST}?search={q(s['search_awb'])}", "shipments.awb ="),
        Endpoint("detail page", f"/admin/orders/details/?order_id={q(s['detail_order_id'])}"),
        Endpoint("changes.json", "/admin/orders/changes.json?since=@SINCE@"),
    ]


def with_since(path: str) -> str:
    """changes.json polls with the cursor of a few seconds ago (what the page sends)."""
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    return path.replace("@SINCE@", quote_plus(since))


# ---------------------------------------------------------------------------------------------
# Step 2: the SQL behind each endpoint, in this process.


def role_of(sql_text: str) -> str:
    s = " ".join(sql_text.split())
    if s.startswith("SELECT count("):
        return "pager COUNT(*)"
    if "FROM users" in s:
        return "current user"
    if "FROM feature_flags" in s:
        return "feature flag"
    if "FROM saved_views" in s:
        return "saved views"
    if "DISTINCT shipments.courier_name" in s:
        return "carrier options"
    if "FROM order_items" in s:
        return "items"
    if "FROM order_status_history" in s:
        return "history"
    if "FROM order_notes" in s:
        return "notes"
    if "FROM shipment_attempts" in s:
        return "shipment attempts"
    if "(orders.updated_at, orders.id) >" in s:
        return "changes"
    if "FROM orders" in s and "LIMIT" in s and "order_id = " not in s.split("WHERE")[0]:
        return "page rows"
    if "FROM orders" in s:
        return "order"
    return "other"


def scans(node: dict[str, Any], out: list[str]) -> None:
    """The plan's scan nodes, depth first, as 'Index Scan Backward on ix (rows)'."""
    kind = node.get("Node Type", "")
    if "Scan" in kind and kind not in ("Subquery Scan", "CTE Scan", "Function Scan"):
        name = node.get("Index Name") or node.get("Relation Name") or ""
        direction = " Backward" if node.get("Scan Direction") == "Backward" else ""
        rows = int(node.get("Actual Rows", 0) * node.get("Actual Loops", 1))
        loops = node.get("Actual Loops", 1)
        extra = f" ×{loops}" if loops > 1 else ""
        out.append(f"{kind}{direction} on {name} ({rows:,} rows{extra})")
    for child in node.get("Plans", []):
        scans(child, out)


def plan_text(node: dict[str, Any], depth: int = 0) -> list[str]:
    """A compact text rendering of an EXPLAIN (FORMAT JSON) plan node."""
    kind = node.get("Node Type", "")
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    target = node.get("Index Name") or node.get("Relation Name")
    line = "  " * depth + kind + (f" on {target}" if target else "")
    for key in ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Join Filter", "Sort Key"):
        if key in node:
            line += f" [{key}: {node[key]}]"
    line += (
        f" (actual {node.get('Actual Total Time', 0):.1f} ms, rows={node.get('Actual Rows', 0)}"
        f" loops={node.get('Actual Loops', 1)})"
    )
    if node.get("Rows Removed by Filter"):
        line += f" removed by filter={node['Rows Removed by Filter']}"
    lines = [line]
    for child in node.get("Plans", []):
        lines += plan_text(child, depth + 1)
    return lines


def analyse_statement(conn: Any, backend: str, statement: str, params: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        conn.exec_driver_sql(statement, params).fetchall()
        timings.append((time.perf_counter() - t0) * 1000)
    info["exec_ms_median_of_5"] = round(statistics.median(timings), 2)
    if backend == "postgresql":
        row = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
        ).fetchone()
        doc = row[0] if isinstance(row[0], list) else json.loads(row[0])
        plan = doc[0]
        found: list[str] = []
        scans(plan["Plan"], found)
        info["explain_execution_ms"] = round(plan["Execution Time"], 2)
        info["planning_ms"] = round(plan["Planning Time"], 2)
        info["scans"] = found
        info["plan"] = plan_text(plan["Plan"])
        top = plan["Plan"]
        info["shared_buffers_hit_read"] = [
            top.get("Shared Hit Blocks", 0),
            top.get("Shared Read Blocks", 0),
        ]
    else:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        info["scans"] = [r[-1] for r in rows if r[-1].startswith(("SCAN", "SEARCH", "USE"))]
        info["plan"] = [r[-1] for r in rows]
    return info


def capture_queries(env: dict[str, str], eps: list[Endpoint], backend: str, src: Path) -> None:
    sys.path.insert(0, str(src))  # the app of the source tree measured
    from flask import Flask
    from sqlalchemy import event

    from fulfilment import create_app
    from fulfilment.extensions import db

    app: Flask = create_app(environ=env, instance_path=env["FULFILMENT_INSTANCE_PATH"])
    captured: list[tuple[str, Any]] = []

    def on_execute(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool):
        captured.append((statement, params))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            client = app.test_client()
            page = client.get("/login").get_data(as_text=True)
            token = CSRF_RE.search(page)
            if token is None:
                raise RuntimeError("no csrf_token on /login")
            resp = client.post(
                "/login",
                data={
                    "csrf_token": token.group(1),
                    "email": ADMIN_EMAIL,
                    "password": ADMIN_PASSWORD,
                },
            )
            if resp.status_code not in (302, 303):
                raise RuntimeError(f"in-process login failed: HTTP {resp.status_code}")
            for ep in eps:
                client.get(with_since(ep.path))  # warm (first-use caches, carrier options)
                captured.clear()
                resp = client.get(with_since(ep.path))
                ep.in_process_status = resp.status_code
                body = resp.get_data(as_text=True)
                if resp.status_code != 200:
                    ep.notes.append(f"HTTP {resp.status_code} in-process")
                if "Invalid Filter Value" in body or "invalid filter" in body.lower():
                    ep.notes.append("Flask-Admin rejected the filter value")
                statements = [
                    (s, p) for s, p in captured if s.lstrip().upper().startswith("SELECT")
                ]
                if ep.expect_sql and not any(
                    ep.expect_sql in " ".join(s.split()) for s, _ in statements
                ):
                    ep.notes.append(f"filter not applied: no '{ep.expect_sql}' in the SQL")
                print(
                    f"  {ep.name}: HTTP {resp.status_code}, {len(statements)} SELECTs", flush=True
                )
                with db.engine.connect() as conn:
                    for statement, params in statements:
                        one = {
                            "role": role_of(statement),
                            "sql": " ".join(statement.split()),
                            "params": {k: str(v) for k, v in params.items()}
                            if isinstance(params, dict)
                            else [str(v) for v in params],
                        }
                        one.update(analyse_statement(conn, backend, statement, params))
                        ep.queries.append(one)
                    conn.rollback()
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
            db.session.remove()
            db.engine.dispose()


# ---------------------------------------------------------------------------------------------
# Step 3: gunicorn and the timed requests.


class Server(GroupProcess):
    """gunicorn with an access log: its %(D)s is the server time that is measured."""

    def __init__(self, env: dict[str, str], workers: int, logdir: Path, src: Path):
        self.port = free_port()
        self.access_log = logdir / "access.log"
        cmd = [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--no-control-socket",
            "--log-level",
            "warning",
            "--access-logfile",
            str(self.access_log),
            "--access-logformat",
            ACCESS_FORMAT,
            "--chdir",
            str(src),
            "wsgi:app",
        ]
        super().__init__("gunicorn", cmd, env, logdir / "gunicorn.log", stop_timeout=15)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.tail()}")
            try:
                if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout}s:\n{self.tail()}")

    def access_lines(self, offset: int) -> list[str]:
        with open(self.access_log, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace").splitlines()

    def access_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0


def login(session: requests.Session, server: Server) -> None:
    page = session.get(server.url("/login"), timeout=30)
    token = CSRF_RE.search(page.text)
    if token is None:
        raise RuntimeError("no csrf_token input on /login")
    resp = session.post(
        server.url("/login"),
        data={"csrf_token": token.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    if resp.status_code not in (302, 303):
        raise RuntimeError(f"login failed: HTTP {resp.status_code}")
    check = session.get(server.url(LIST), allow_redirects=False, timeout=120)
    if check.status_code != 200:
        raise RuntimeError(f"not logged in: {LIST} answered HTTP {check.status_code}")


# CPU accounting (as in intake_bench.py), from /proc. Two measures of the other processes'
# load: "upper" = the machine's busy time minus our gunicorn, our database's backends and this
# process (it also holds our queries' PostgreSQL parallel workers, which exit before they can
# be read); "lower" = the CPU of the other processes alive at the end of the window (misses
# processes that exited inside it). The truth lies between.


@dataclass
class CpuSnap:
    busy: int
    ours: dict[int, int]  # pid: ticks, for our processes
    others: dict[int, int]  # pid: ticks, for processes that are not ours


def cpu_snapshot(pgrp: int, dbname: str) -> CpuSnap:
    busy = machine_ticks()[0]
    ours: dict[int, int] = {}
    others: dict[int, int] = {}
    me = os.getpid()
    for entry in proc_pids():
        try:
            comm, fields = proc_stat(entry)
            ticks = int(fields[11]) + int(fields[12])
            mine = int(fields[2]) == pgrp or int(entry) == me
            if not mine and comm.startswith("postgres"):
                title = proc_title(entry)
                mine = (bool(dbname) and f" {dbname} " in title) or "parallel worker" in title
            if mine:
                ours[int(entry)] = ticks
            else:
                others[int(entry)] = ticks
        except (OSError, ValueError):
            continue
    return CpuSnap(busy, ours, others)


def other_cores(before: CpuSnap, after: CpuSnap, seconds: float) -> tuple[float, float]:
    """(lower, upper) estimate of the cores other processes used in the window."""
    ours = sum(t - before.ours.get(pid, 0) for pid, t in after.ours.items())
    upper = (after.busy - before.busy) - ours
    lower = sum(t - before.others.get(pid, 0) for pid, t in after.others.items())
    scale = CLK_TCK * max(seconds, 1e-6)
    return max(0.0, lower / scale), max(0.0, upper / scale)


def wait_for_quiet(pgrp: int, dbname: str, limit_s: float, threshold: float) -> float:
    """Waits (up to limit_s) for 3 s in which other processes use < threshold cores."""
    deadline = time.time() + limit_s
    while True:
        a = cpu_snapshot(pgrp, dbname)
        time.sleep(3)
        load = other_cores(a, cpu_snapshot(pgrp, dbname), 3)[1]
        if load < threshold or time.time() >= deadline:
            state = "quiet" if load < threshold else "still busy; measuring anyway"
            print(f"other processes: {load:.2f} cores over the last 3 s ({state})", flush=True)
            return load
        print(f"  waiting for a quieter machine: other processes use {load:.2f} cores", flush=True)


def measure(
    server: Server, eps: list[Endpoint], args: argparse.Namespace, dbname: str
) -> tuple[list[tuple[float, float]], float]:
    """Times every endpoint; returns each round's other load (lower, upper) and the load
    just before measuring."""
    session = requests.Session()
    login(session, server)
    print(f"warm-up: {args.warmup} uncounted request(s) per endpoint", flush=True)
    for ep in eps:
        for _ in range(args.warmup):
            session.get(server.url(with_since(ep.path)), timeout=120)
    pgrp = server.proc.pid
    idle_load = wait_for_quiet(pgrp, dbname, args.wait_idle, args.idle_threshold)
    offset = server.access_size()
    sent: list[tuple[Endpoint, str]] = []
    loads = []
    for r in range(args.repeat):
        before, t0 = cpu_snapshot(pgrp, dbname), time.perf_counter()
        for ep in eps:
            path = with_since(ep.path)
            start = time.perf_counter()
            resp = session.get(server.url(path), timeout=120, allow_redirects=False)
            ep.client_ms.append((time.perf_counter() - start) * 1000)
            ep.statuses.append(resp.status_code)
            sent.append((ep, path))
        loads.append(other_cores(before, cpu_snapshot(pgrp, dbname), time.perf_counter() - t0))
        slowest = max(eps, key=lambda e: e.client_ms[-1])
        print(
            f"  round {r + 1:>3}/{args.repeat}: {time.perf_counter() - t0:5.2f}s, slowest "
            f"{slowest.name} {slowest.client_ms[-1]:.0f} ms, other processes "
            f"{loads[-1][0]:.2f}-{loads[-1][1]:.2f} cores",
            flush=True,
        )
    time.sleep(0.5)  # gunicorn writes the access line after the answer
    lines = server.access_lines(offset)
    if len(lines) != len(sent):
        raise RuntimeError(f"access log has {len(lines)} lines for {len(sent)} requests")
    for (ep, path), line in zip(sent, lines, strict=True):
        micros, _status, request_line = line.split(" ", 2)
        if path not in request_line:
            raise RuntimeError(f"access log out of order: {request_line} vs {path}")
        ep.server_ms.append(int(micros) / 1000)
    return loads, idle_load


# ---------------------------------------------------------------------------------------------
# Report.


def summarize(ep: Endpoint, target: float) -> dict[str, Any]:
    ok = [s for s in ep.statuses if s == 200]
    med = statistics.median(ep.server_ms)
    count = next((q for q in ep.queries if q["role"] == "pager COUNT(*)"), None)
    slowest = max(ep.queries, key=lambda q: q["exec_ms_median_of_5"], default=None)
    return {
        "endpoint": ep.name,
        "path": ep.path,
        "requests": len(ep.server_ms),
        "non_200": len(ep.statuses) - len(ok),
        "statuses": sorted(set(ep.statuses)),
        "server_ms": {
            "median": round(med, 1),
            "p95": round(percentile(sorted(ep.server_ms), 95), 1),
            "min": round(min(ep.server_ms), 1),
            "max": round(max(ep.server_ms), 1),
        },
        "client_ms": {
            "median": round(statistics.median(ep.client_ms), 1),
            "p95": round(percentile(sorted(ep.client_ms), 95), 1),
        },
        "target_ms": target,
        "target_met": med < target and len(ok) == len(ep.statuses),
        "count_query_ms": count["exec_ms_median_of_5"] if count else None,
        "slowest_query": {
            "role": slowest["role"],
            "ms": slowest["exec_ms_median_of_5"],
            "scans": slowest.get("scans", []),
        }
        if slowest
        else None,
        "sql_ms_total": round(sum(q["exec_ms_median_of_5"] for q in ep.queries), 1),
        "notes": ep.notes,
        "queries": ep.queries,
    }


def print_table(rows: list[dict[str, Any]], backend: str, orders: int, target: float) -> None:
    print("\n" + "=" * 100)
    print(f"Dashboard benchmark: {backend}, {orders:,} orders, target median < {target:g} ms")
    print("-" * 100)
    print(f"{'endpoint':<34}{'median':>8}{'p95':>8}{'count(*)':>10}{'SQL sum':>9}  slowest query")
    for r in rows:
        sq = r["slowest_query"] or {}
        scan = (sq.get("scans") or [""])[0]
        cnt = "" if r["count_query_ms"] is None else f"{r['count_query_ms']:.1f}"
        flag = "" if r["target_met"] else "  << NOT MET"
        print(
            f"{r['endpoint'][:33]:<34}{r['server_ms']['median']:>8.1f}{r['server_ms']['p95']:>8.1f}"
            f"{cnt:>10}{r['sql_ms_total']:>9.1f}  {sq.get('role', '')} {sq.get('ms', 0):.1f} ms: "
            f"{scan}{flag}"
        )
        for note in r["notes"]:
            print(f"{'':<34}note: {note}")
    print("-" * 100)
    met = sum(r["target_met"] for r in rows)
    print(f"target met on {met}/{len(rows)} endpoints (server time, ms)")
    print("=" * 100)


def write_results(path: Path, backend: str, report: dict[str, Any]) -> None:
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            doc = {}
    doc.setdefault("benchmark", "orders dashboard (issue 4)")
    doc.setdefault("runs", {})[backend] = report
    write_json(path, doc, default=str)


def create_admin(env: dict[str, str], src: Path) -> None:
    res = subprocess.run(
        [
            str(VENV_BIN / "flask"),
            "--app",
            "wsgi",
            "users",
            "create",
            ADMIN_EMAIL,
            "--role",
            "admin",
            "--password",
            ADMIN_PASSWORD,
        ],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode != 0 and "exist" not in (res.stdout + res.stderr).lower():
        raise RuntimeError(f"users create failed:\n{res.stdout}\n{res.stderr}")


def source_tree(commit: str, tmpdir: Path) -> tuple[Path, str]:
    """(directory to run the app from, description of the code measured)."""

    if not commit:
        dirty = git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "fulfilment",
            "templates",
            "wsgi.py",
            "migrations",
        )
        state = "with uncommitted changes to the app" if dirty else "clean"
        return ROOT, f"working tree at {git('rev-parse', '--short', 'HEAD')} ({state})"
    sha = git("rev-parse", "--verify", f"{commit}^{{commit}}")
    src = tmpdir / "src"
    extract_commit(sha, src)
    return src, f"commit {sha[:10]} (git archive)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB_URL)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted requests per endpoint")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn sync workers")
    parser.add_argument(
        "--seed-orders",
        type=int,
        default=0,
        help="seed the database first with this many orders (bench/seed_orders.py)",
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120,
        help="wait up to this many seconds for other processes to go quiet (default 120)",
    )
    parser.add_argument(
        "--idle-threshold",
        type=float,
        default=0.5,
        help="'quiet': other processes use fewer cores than this (default 0.5)",
    )
    parser.add_argument(
        "--commit",
        default="",
        help="measure this commit (git archive into a temporary directory) instead of the "
        "working tree, which others may be editing; e.g. --commit HEAD",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    url = make_url(args.database_url)
    backend = url.get_backend_name()
    if backend not in TARGET_MS:
        parser.error("--database-url must be postgresql:// or sqlite://")
    if backend == "postgresql" and url.database in (None, "postgres", "template0", "template1"):
        parser.error("--database-url must name a dedicated database (it is dropped)")
    target = TARGET_MS[backend]

    stop_on_signals()

    started = time.time()
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    server: Server | None = None
    seeded: dict[str, Any] | None = None
    try:
        src, code = source_tree(args.commit, tmpdir)
        print(f"app code: {code}", flush=True)
        if args.seed_orders:
            seeded = seed_orders.seed(
                args.database_url, args.seed_orders, src=src, log=lambda m: print(m, flush=True)
            )
        elif not db_exists(url):
            parser.error("the database does not exist: run bench/seed_orders.py or --seed-orders")
        env = {
            **os.environ,
            "APP_ENV": "development",
            "DATABASE_URL": app_url(url),
            "FULFILMENT_INSTANCE_PATH": str(tmpdir / "instance"),
            "LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
        if not args.seed_orders:
            # Brings a kept database up to the code measured (e.g. a new index migration).
            print("flask db upgrade (the code's migrations)", flush=True)
            seed_orders.migrate(url, tmpdir / "instance", src)
        print("admin user, sample values", flush=True)
        create_admin(env, src)
        samples = pick_samples(url)
        print(
            "  "
            + ", ".join(f"{k}={v}" for k, v in samples.items() if k != "month")
            + f", month {samples['month'][0]}..{samples['month'][1]}",
            flush=True,
        )
        eps = endpoints(samples)

        print("\n== the SQL behind each endpoint (in-process, then EXPLAIN)", flush=True)
        capture_queries(env, eps, backend, src)

        print("\n== timed requests through gunicorn", flush=True)
        server = Server(env, args.workers, tmpdir, src)
        server.wait_ready()
        print(f"gunicorn up on :{server.port} ({args.workers} sync worker(s))", flush=True)
        loads, idle_load = measure(
            server, eps, args, url.database if backend == "postgresql" else ""
        )
        rows = [summarize(ep, target) for ep in eps]
        print_table(rows, backend, samples["orders"], target)
        server_version = (
            query_db(url, "SHOW server_version")[0][0]
            if backend == "postgresql"
            else sqlite3.sqlite_version
        )
        report = {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": url.render_as_string(hide_password=True),
            "backend": backend,
            "app_code": code,
            "server_version": server_version,
            "orders": samples["orders"],
            "samples": {
                k: (v if k != "month" else [str(d) for d in v]) for k, v in samples.items()
            },
            "target_median_ms": target,
            "targets_met": sum(r["target_met"] for r in rows),
            "endpoints_measured": len(rows),
            "timing": "server time: gunicorn access log %(D)s (no Server-Timing header); "
            "client_ms: wall time in requests on loopback",
            "other_load_cores": {
                "note": "per round: lower = other processes alive at the end of the round, "
                "upper = machine busy minus ours (includes our PostgreSQL parallel workers)",
                "lower_mean": round(statistics.mean(lo for lo, _ in loads), 2),
                "lower_max": round(max(lo for lo, _ in loads), 2),
                "upper_mean": round(statistics.mean(up for _, up in loads), 2),
                "upper_max": round(max(up for _, up in loads), 2),
                "before_measuring": round(idle_load, 2),
            },
            "config": {
                "repeat": args.repeat,
                "warmup": args.warmup,
                "workers": args.workers,
                "gunicorn": " ".join(server.cmd[1:]),
            },
            "machine": {
                "nproc": NCPU,
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "seeded": seeded,
            "results": rows,
            "run_seconds": round(time.time() - started, 1),
        }
        write_results(args.output, backend, report)
        ol = report["other_load_cores"]
        print(
            f"other processes: {ol['lower_mean']}-{ol['upper_mean']} cores on average, at most "
            f"{ol['lower_max']}-{ol['upper_max']} in a round; results in {args.output}"
        )
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if not args.keep and (args.seed_orders or db_exists(url)):
            try:
                drop_database(url)
                print("database dropped (--keep to keep it)", flush=True)
            except psycopg.Error as exc:
                print(f"could not drop the bench database: {exc}", file=sys.stderr)
        shutil.rmtree(tmpdir, ignore_errors=True)
        print(f"run took {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
