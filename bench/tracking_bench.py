"""Shiprocket tracking-push intake through gunicorn on PostgreSQL, against a same-run ceiling.

    .venv/bin/python bench/tracking_bench.py [--seconds 15] [--workers 4] [--known 200]
        [--known-share 0.5] [--database-url postgresql://postgres@127.0.0.1:5432/bench_tracking]

The machinery is bench/intake_bench.py's, imported (servers, load generator processes, CPU
accounting from /proc, percentiles); only the requests differ. In one run (about a minute):

1. drops and re-creates a dedicated PostgreSQL database and migrates it;
2. seeds `--known` shipped orders in-process (intake service, `processing`, a completed
   shipment row with an AWB, `shipped`), whose AWBs some pushes are for;
3. starts two gunicorn servers with the same settings: the app (`wsgi:app`) and
   bench/ceiling_app.py (one committed INSERT of the body per request);
4. closed loops against the ceiling's `POST /ingest` and the app's `POST /webhooks/tracking`,
   `--seconds` each in `--rounds` alternating slices (the first slice of each has an uncounted
   `--warmup`). Every push is new: Shiprocket's sample push
   (spec/shiprocket/samples/webhook_tracking.payload.json, 17 scans) with a unique
   `current_timestamp`, sent with the `x-api-key`. A share of `--known-share` of them is for a
   seeded shipped AWB (each AWB's pushes in time order: one new push row, its scans already
   known after the first push, the shipment's tracking state updated); the rest are for unknown
   AWBs, unique per push, each storing 18 tracking events (17 scans + the push) plus its
   inbound event: the realistic per-push write cost. The ceiling gets the same bodies and
   headers;
5. `--rate R` (default 0: skipped) adds an open loop at R pushes/s for `--seconds`, with latency
   from each request's scheduled send time;
6. checks one inbound event per 200 and 18 tracking events per unknown-AWB push, prints a
   summary with the CPU split, writes bench/results/tracking.json, stops the servers and drops
   the database.

Target (issue 5): tracking intake ≥ 0.5 × the ceiling.

Exit status: 0 when the run completed with no non-2xx answer and the row counts match, 1
otherwise, 3 with --fail-under-target when the run was clean but missed the target.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

# The repo root first: the app's packages are imported from there; then bench/ for the helpers.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
import intake_bench  # noqa: E402
from benchlib import (  # noqa: E402
    BENCH,
    ROOT,
    Server,
    add_result_options,
    app_env,
    conninfo,
    drop_database_or_warn,
    exit_status,
    machine_info,
    postgres_url,
    prepare_code,
    print_log_tails,
    recreate_database,
    run_migrations,
    stop_on_signals,
    wait_idle,
    write_json,
)
from intake_bench import (  # noqa: E402
    CEILING_PATH,
    add_load_options,
    closed_loops,
    cpu_ms_per_request,
    load_config,
    open_loop,
    start_servers,
    stop_all,
)

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_tracking"
DEFAULT_OUTPUT = BENCH / "results" / "tracking.json"
SAMPLE = Path(
    os.environ.get(
        "TRACKING_SAMPLE",
        ROOT.parent
        / "shared"
        / "spec"
        / "shiprocket"
        / "samples"
        / "webhook_tracking.payload.json",
    )
)
TRACKING_PATH = "/webhooks/tracking"
PUSH_TIME = "%d %m %Y %H:%M:%S"
TARGET_RATIO = 0.5

# Shared by the forked load generator processes (created before any fork).
_PUSHES = mp.get_context("fork").Value("q", 0)  # every push: its time offset in seconds
_KNOWN_PUSHES = mp.get_context("fork").Value("q", 0)  # pushes for seeded AWBs: which AWB
_SETTINGS: dict[str, Any] = {"known_awbs": [], "known_share_pct": 0, "base": None}


def _template() -> str:
    doc = json.loads(SAMPLE.read_text())
    doc["awb"] = "@@AWB@@"
    doc["current_timestamp"] = "@@TS@@"
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class TrackingPushFactory:
    """Stands in for intake_bench.EventFactory in the load generator processes: the same
    interface (secret, run tag, stream; next() -> body, headers), a tracking push per call.
    `secret` is the x-api-key."""

    def __init__(self, secret: str, run_tag: str, stream: str):
        self.headers = {"x-api-key": secret, "Content-Type": "application/json"}
        self.template = _template()
        self.prefix = f"{run_tag}{stream}"
        self.n = 0
        self.known = _SETTINGS["known_awbs"]
        self.share = _SETTINGS["known_share_pct"]
        self.base: datetime = _SETTINGS["base"]

    def next(self) -> tuple[bytes, dict[str, str]]:
        self.n += 1
        with _PUSHES.get_lock():
            _PUSHES.value += 1
            k = _PUSHES.value
        if self.known and k % 100 < self.share:
            with _KNOWN_PUSHES.get_lock():
                _KNOWN_PUSHES.value += 1
                awb = self.known[_KNOWN_PUSHES.value % len(self.known)]
        else:
            awb = f"U{self.prefix}-{self.n}"  # unknown, unique per push; ≤ 40 chars
        at = (self.base + timedelta(seconds=k)).strftime(PUSH_TIME)
        text = self.template.replace("@@AWB@@", awb).replace("@@TS@@", at)
        return text.encode(), self.headers


def seed_shipped(env: dict[str, str], count: int, run_tag: str) -> list[str]:
    """`count` shipped orders with a completed shipment each; returns their AWBs."""
    import random

    from fulfilment import create_app
    from fulfilment.demo import make_order
    from fulfilment.extensions import db
    from fulfilment.models import Shipment
    from fulfilment.services.flags import seed_flags
    from fulfilment.services.intake import record_order_placed
    from fulfilment.services.orders import get_order, process_order, transition
    from fulfilment.states import OrderStatus

    app = create_app(environ=env)
    rng = random.Random(5)
    awbs = []
    with app.app_context():
        seed_flags()
        for i in range(count):
            result = record_order_placed(make_order(rng, 800001 + i, minutes_ago=600))
            process_order(result.order_id, actor="bench@example.in")
            order = get_order(result.order_id)
            awb = f"K{run_tag}{i:07d}"
            shipment = {
                "awb": awb,
                "courier_name": "Delhivery Surface",
                "tracking_url": f"https://shiprocket.co/tracking/{awb}",
            }
            db.session.add(
                Shipment(
                    order_pk=order.id,
                    state="completed",
                    channel_order_id=order.order_id,
                    courier_id=10,
                    awb=awb,
                    courier_name=shipment["courier_name"],
                    tracking_url=shipment["tracking_url"],
                )
            )
            transition(order, OrderStatus.SHIPPED, actor="bench", details={"shipment": shipment})
            awbs.append(awb)
        db.session.remove()
        db.engine.dispose()
    return awbs


def profile_pushes(env: dict[str, str], token: str, run_tag: str, n: int) -> dict[str, Any]:
    """n pushes in-process through Flask's test client (no gunicorn), timed by stage with
    the SQL statements counted; then a CPU-time cProfile over n/2 more."""
    import cProfile
    import io
    import pstats

    from profile_intake import StageTimer
    from sqlalchemy import Connection, event
    from sqlalchemy.orm import Session

    import fulfilment.services.tracking as tracking_service
    import webhooks.tracking as tracking_hook
    from fulfilment import create_app
    from fulfilment.extensions import db

    app = create_app(environ=env)
    client = app.test_client()
    factory = TrackingPushFactory(token, run_tag, "p")
    stmts = [0]

    def on_exec(*_: Any) -> None:
        stmts[0] += 1

    def post(k: int) -> None:
        for _ in range(k):
            body, headers = factory.next()
            resp = client.post(TRACKING_PATH, data=body, headers=headers)
            if resp.status_code != 200:
                raise RuntimeError(f"push answered {resp.status_code}: {resp.get_data()[:200]}")

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", on_exec)
    # The unknown-AWB warnings still get formatted and written (as gunicorn's log file gets
    # them), but to /dev/null rather than over the progress output.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    streams = [
        (h, h.setStream(devnull))
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
    ]
    post(30)  # warm-up
    timer = StageTimer()
    timer.patch("whole request", client, "post")
    timer.patch("schema (marshmallow load, 17 scans)", tracking_hook._schema, "load")
    timer.patch("record_push", tracking_hook, "record_push")
    timer.patch("  of which: _params (scan rows, 19 sha256 keys)", tracking_service, "_params")
    timer.patch("  of which: Connection.execute (all SQL)", Connection, "execute")
    timer.patch("  of which: session.commit", Session, "commit")
    timer.patch("  of which: log.warning (unknown AWB)", tracking_service.log, "warning")
    stmts[0] = 0
    try:
        post(n)
    finally:
        timer.restore()
    per = {
        name: {
            "wall_ms": round(1000 * timer.wall[name] / n, 3),
            "cpu_ms": round(1000 * timer.cpu[name] / n, 3),
        }
        for name in timer.order
    }
    sql_per_push = round(stmts[0] / n, 2)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    post(max(1, n // 2))
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    lines = [line.rstrip() for line in buf.getvalue().splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), -1)
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", on_exec)
        db.engine.dispose()
    for handler, stream in streams:
        handler.setStream(stream)
    devnull.close()
    return {
        "pushes": n,
        "sql_statements_per_push": sql_per_push,
        "stages": per,
        "top_tottime": lines[header + 1 :],
    }


def count_rows(url: Any) -> dict[str, int]:
    with psycopg.connect(conninfo(url, url.database)) as conn:

        def one(query: str) -> int:
            return conn.execute(query).fetchone()[0]

        return {
            "inbound_events": one(
                "SELECT count(*) FROM inbound_events WHERE source = 'shiprocket'"
            ),
            "inbound_unknown": one(
                "SELECT count(*) FROM inbound_events WHERE source = 'shiprocket'"
                " AND subject LIKE 'U%'"
            ),
            "tracking_events": one("SELECT count(*) FROM tracking_events"),
            "tracking_events_unknown": one(
                "SELECT count(*) FROM tracking_events WHERE shipment_id IS NULL"
            ),
            "tracking_events_known": one(
                "SELECT count(*) FROM tracking_events WHERE shipment_id IS NOT NULL"
            ),
            "shipments_tracked": one(
                "SELECT count(*) FROM shipments WHERE tracking_at IS NOT NULL"
            ),
            "bench_ceiling": one("SELECT count(*) FROM bench_ceiling"),
        }


def print_summary(report: dict[str, Any]) -> None:
    c, t, res = report["ceiling"], report["tracking"], report["result"]
    print("\n" + "=" * 78)
    cfg = report["config"]
    print(
        f"Tracking intake benchmark  ({report['machine']['nproc']} cores, gunicorn "
        f"{cfg['workers']}×{cfg['worker_class']}, PostgreSQL {report['machine']['postgresql']})"
    )
    print("-" * 78)
    print(f"{'phase':<34}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    rows = [("A ceiling (bare insert), closed", c), ("A tracking push, closed", t)]
    if report.get("tracking_at_rate"):
        b = report["tracking_at_rate"]
        rows.append((f"B tracking, open {b['target_rate']:g} req/s", b))
    for name, ph in rows:
        lat = ph["latency_ms"]
        print(
            f"{name:<34}{ph['requests_per_s']:>9}{lat['p50']:>9}{lat['p95']:>9}{lat['p99']:>9}"
            f"{ph['non_2xx']:>9}"
        )
    print(f"  slices: ceiling {c['slice_requests_per_s']}, tracking {t['slice_requests_per_s']}")
    print("-" * 78)
    print(
        f"tracking / ceiling throughput: {res['ratio']:.2f}   (target ≥ {TARGET_RATIO})  "
        f"{'met' if res['ratio_met'] else 'NOT met'}"
    )
    cm = res["cpu_ms_per_request"]
    print(
        f"CPU per request (gunicorn+PostgreSQL+client): ceiling {cm['ceiling']} ms, tracking "
        f"{cm['tracking']} ms; ratio {res['cpu_ratio']:.2f} (the throughput ratio on an idle "
        "machine)"
    )
    print(f"  {'phase':<12}{'gunicorn':>9}{'postgres':>9}{'clients':>9}{'other':>9}{'busy':>6}")
    for name, ph in (("ceiling", c), ("tracking", t)):
        cs = ph["cpu_seconds"]
        server = cs.get("gunicorn_app", 0.0) + cs.get("gunicorn_ceiling", 0.0)
        n = max(1, ph["requests"])
        print(
            f"  {name:<12}{1000 * server / n:>9.2f}{1000 * cs.get('postgresql', 0.0) / n:>9.2f}"
            f"{1000 * cs['clients'] / n:>9.2f}{cs['other'] / cs['window_s']:>8.2f}c"
            f"{cs['machine_busy_pct']:>5.0f}%   (ms per request; other in cores)"
        )
    prof = report.get("profile")
    if prof:
        print(
            f"in-process push (test client, no gunicorn), {prof['sql_statements_per_push']} SQL "
            "statements per push; ms per push:"
        )
        for name, st in prof["stages"].items():
            print(f"    {name:<50}{st['wall_ms']:>8} wall{st['cpu_ms']:>8} cpu")
    v = report["verification"]
    print(
        f"rows: inbound events {v['rows']['inbound_events']} vs 200s {v['tracking_200s']}, "
        f"unknown-AWB tracking events {v['rows']['tracking_events_unknown']} vs 18 × "
        f"{v['rows']['inbound_unknown']}, ceiling rows {v['rows']['bench_ceiling']} vs 202s "
        f"{v['ceiling_202s']}: {'ok' if v['ok'] else 'MISMATCH'}"
    )
    print(f"target {'MET' if res['target_met'] else 'NOT MET'}; results in {report['output']}")
    print("=" * 78)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DB_URL,
        help=f"dropped and re-created (default {DEFAULT_DB_URL})",
    )
    add_load_options(parser, rate=0, target="tracking")
    parser.add_argument("--known", type=int, default=200, help="seeded shipped AWBs")
    parser.add_argument(
        "--known-share",
        type=float,
        default=0.5,
        help="share of pushes for seeded shipped AWBs (default 0.5; the rest: unknown AWBs)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=400,
        help="pushes run in-process (Flask test client) for the stage profile (0: skip)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="before measuring, wait (at most 120 s) for the machine to be idle over this many "
        "seconds (default 0: do not wait)",
    )
    add_result_options(parser, DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    connections = args.connections or 2 * args.workers
    if not 0 <= args.known_share <= 1:
        parser.error("--known-share must be between 0 and 1")

    url = postgres_url(parser, args.database_url)
    app_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop_on_signals()

    token = secrets.token_urlsafe(24)
    run_tag = secrets.token_hex(3)
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
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
        env = app_env(app_url, tmpdir / "instance", SHIPROCKET_WEBHOOK_TOKEN=token)
        run_migrations(env, ROOT)
        known: list[str] = []
        if args.known and args.known_share > 0:
            t_seed = time.time()
            known = seed_shipped(env, args.known, run_tag)
            print(f"seeded {len(known)} shipped orders in {time.time() - t_seed:.1f}s", flush=True)
        _SETTINGS.update(
            known_awbs=known,
            known_share_pct=round(100 * args.known_share),
            base=datetime.now(UTC) - timedelta(days=2),
        )
        # run_slice's load generator processes build their requests with this factory.
        intake_bench.EventFactory = TrackingPushFactory  # type: ignore[misc]

        app_srv, ceil_srv = start_servers(env, args, tmpdir, servers)
        if args.wait_idle:
            cores = wait_idle(args.wait_idle, 120)
            print(f"  machine load before measuring: {cores:.2f} cores", flush=True)
        common = dict(
            secret=token,
            run_tag=run_tag,
            server_pgrps={"app": app_srv.proc.pid, "ceiling": ceil_srv.proc.pid},
            procs=procs,
            client=args.client,
            dbname=url.database,
        )
        totals = closed_loops(
            args,
            connections,
            [
                ("ceiling", ceil_srv, CEILING_PATH, "c"),
                ("tracking", app_srv, TRACKING_PATH, "t"),
            ],
            common,
        )
        ceiling, tracking = totals["ceiling"], totals["tracking"]
        at_rate = open_loop("tracking", app_srv, TRACKING_PATH, args, common) if args.rate else None

        rows = count_rows(url)  # before the in-process profile adds its own pushes
        profile = None
        if args.profile:
            print(f"\n== in-process profile: {args.profile} pushes (test client)", flush=True)
            profile = profile_pushes(env, token, run_tag, args.profile)
        phases = [tracking] + ([at_rate] if at_rate else [])
        ok_200 = sum(ph["status_counts_incl_warmup"].get("200", 0) for ph in phases)
        ceiling_202 = ceiling["accepted_202_incl_warmup"]
        scans = len(json.loads(SAMPLE.read_text())["scans"])
        verification = {
            "rows": rows,
            "tracking_200s": ok_200,
            "ceiling_202s": ceiling_202,
            "ok": rows["inbound_events"] == ok_200
            and rows["tracking_events_unknown"] == (scans + 1) * rows["inbound_unknown"]
            and rows["bench_ceiling"] == ceiling_202,
        }
        ratio = tracking["requests_per_s"] / ceiling["requests_per_s"]
        errors = sum(ph["non_2xx_incl_warmup"] for ph in [ceiling, *phases])
        result = {
            "ceiling_rps": ceiling["requests_per_s"],
            "tracking_rps": tracking["requests_per_s"],
            "ratio": round(ratio, 3),
            "ratio_met": ratio >= TARGET_RATIO,
            "non_2xx": errors,
            "cpu_ms_per_request": {
                "ceiling": round(cpu_ms_per_request(ceiling), 2),
                "tracking": round(cpu_ms_per_request(tracking), 2),
            },
            "cpu_ratio": round(cpu_ms_per_request(ceiling) / cpu_ms_per_request(tracking), 3),
        }
        result["target_met"] = result["ratio_met"] and errors == 0 and verification["ok"]
        report = {
            "benchmark": "tracking push intake (issue 5)",
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": {"min_ratio": TARGET_RATIO},
            "result": result,
            "machine": machine_info(url),
            "code": prepare_code(None, tmpdir)[1],
            "config": {
                **load_config(args, connections, app_srv, ceil_srv),
                "known_awbs": len(known),
                "known_share": args.known_share,
                "body_bytes": len(TrackingPushFactory(token, run_tag, "x").next()[0]),
            },
            "ceiling": ceiling,
            "tracking": tracking,
            "tracking_at_rate": at_rate,
            "verification": verification,
            "profile": profile,
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
