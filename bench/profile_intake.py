"""Where one OrderPlaced intake request spends its time (in-process, no gunicorn, no HTTP).

    .venv/bin/python bench/profile_intake.py [--database-url postgresql://postgres@127.0.0.1:5432/bench_intake_profile]
                                             [--requests 2000]

Builds the real app on a fresh PostgreSQL database (dropped at the end), posts `--requests`
unique signed OrderPlaced events through Flask's test client (after a warm-up), and reports:

- wall time per request, split by the stages of the webhook (signature, JSON, schema, storing
  the order, everything else in Flask), measured by wrapping those calls in this process only —
  no app code is changed;
- the same for the bench's bare-insert ceiling endpoint, for comparison;
- the top functions of a cProfile run of the intake (cumulative time).

It complements bench/intake_bench.py: the benchmark says how fast, this says why.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

# The repo root first: the app's packages are imported from there, as gunicorn does with
# --chdir; then bench/ for the helpers and the ceiling app.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from benchlib import ROOT, drop_database, recreate_database, run_migrations  # noqa: E402
from intake_bench import EventFactory  # noqa: E402

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_intake_profile"


class StageTimer:
    """Wraps callables and adds up the wall and CPU time spent inside them."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.order: list[str] = []

    def wrap(self, name: str, fn: Any) -> Any:
        self.order.append(name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - t
                self.cpu[name] += time.process_time() - c

        return timed

    def patch(self, name: str, owner: Any, attr: str) -> None:
        original = getattr(owner, attr)
        self.undo.append((owner, attr, owner.__dict__.get(attr, _MISSING)))
        setattr(owner, attr, self.wrap(name, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self.undo):
            if original is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
        self.undo.clear()

    undo: list[tuple[Any, str, Any]] = []


_MISSING = object()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB_URL)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40, help="functions listed per profile")
    args = parser.parse_args()
    url = make_url(args.database_url)
    if url.database in (None, "postgres", "template0", "template1"):
        parser.error("--database-url must name a dedicated database (it is dropped)")
    app_url = url.set(drivername="postgresql").render_as_string(hide_password=False)

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    tmpdir = tempfile.mkdtemp(prefix="bench-profile-")
    os.environ.update(
        APP_ENV="development",
        DATABASE_URL=app_url,
        FULFILMENT_INSTANCE_PATH=tmpdir,
        CHECKOUT_WEBHOOK_SECRET=secret,
        LOG_LEVEL="warning",
    )
    recreate_database(url)
    try:
        run_migrations(dict(os.environ), ROOT)
        return profile(args, secret)
    finally:
        drop_database(url)


def profile(args: argparse.Namespace, secret: str) -> int:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.cache_key import MemoizedHasCacheKey
    from standardwebhooks.webhooks import Webhook

    import webhooks.checkout as checkout
    from fulfilment import create_app
    from fulfilment.extensions import db
    from fulfilment.schemas import PlacedOrder

    app = create_app()
    client = app.test_client()
    factory = EventFactory(secret, secrets.token_hex(3), "p")

    def post(n: int) -> None:
        for _ in range(n):
            body, headers = factory.next()
            resp = client.post("/webhooks/checkout", data=body, headers=headers)
            if resp.status_code != 202:
                raise SystemExit(f"unexpected {resp.status_code}: {resp.get_data(as_text=True)}")

    post(200)  # warm-up: pool, caches, statement compilation

    n = args.requests
    timer = StageTimer()
    with app.app_context():
        dialect = db.engine.dialect
    # Top-level stages of the view, then (indented) parts of the "store" stage.
    timer.patch("signature (standardwebhooks verify)", Webhook, "verify")
    timer.patch("schema (marshmallow load)", checkout._schema, "load")
    timer.patch("store (record_order_placed)", checkout, "record_order_placed")
    # The stages of the intake as written now (Core statements on a connection, one statement
    # on PostgreSQL). Those that should stay at zero are kept so that a regression shows: cache
    # keys computed per request, a pre-ping per checkout, ORM session commits.
    timer.patch("  content_hash (json + sha256)", PlacedOrder, "content_hash")
    timer.patch("  executing statements (Connection.execute)", Connection, "execute")
    timer.patch("  COMMIT (Connection.commit)", Connection, "commit")
    timer.patch("  SQLAlchemy cache keys (should be 0)", MemoizedHasCacheKey, "_generate_cache_key")
    timer.patch("  pool pre-ping (off: should be 0)", dialect, "do_ping")
    timer.patch("  ORM session.commit (should be 0)", Session, "commit")
    try:
        t = time.perf_counter()
        cpu = time.process_time()
        post(n)
        wall = time.perf_counter() - t
        cpu = time.process_time() - cpu
    finally:
        timer.restore()

    print(f"intake, {n} requests in-process (Flask test client, PostgreSQL), ms per request:")
    print(f"  {'':<44}{'wall':>8}{'CPU':>8}")
    print(f"  {'whole request':<44}{1000 * wall / n:8.2f}{1000 * cpu / n:8.2f}")
    top_wall = top_cpu = 0.0
    for name in timer.order:
        w, c = timer.wall[name], timer.cpu[name]
        print(f"  {name:<44}{1000 * w / n:8.2f}{1000 * c / n:8.2f}")
        if not name.startswith(" "):
            top_wall, top_cpu = top_wall + w, top_cpu + c
    print(
        f"  {'rest (Flask, werkzeug, headers, JSON answer)':<44}"
        f"{1000 * (wall - top_wall) / n:8.2f}{1000 * (cpu - top_cpu) / n:8.2f}"
    )
    print("  (wall minus CPU is mostly waiting for PostgreSQL: round trips and the commit's fsync)")

    # The ceiling endpoint, in the same process for comparison.
    import ceiling_app  # reads DATABASE_URL, creates its table

    ceiling = ceiling_app.app.test_client()
    for _ in range(200):
        body, headers = factory.next()
        ceiling.post("/ingest", data=body, headers=headers)
    t = time.perf_counter()
    cpu = time.process_time()
    for _ in range(n):
        body, headers = factory.next()
        ceiling.post("/ingest", data=body, headers=headers)
    wall_c = time.perf_counter() - t
    cpu_c = time.process_time() - cpu
    print(f"\nceiling (bare insert), {n} requests in-process, ms per request:")
    print(f"  {'whole request':<44}{1000 * wall_c / n:8.2f}{1000 * cpu_c / n:8.2f}")

    prof = cProfile.Profile(time.process_time)  # CPU time: waits on PostgreSQL excluded
    m = min(n, 1000)
    prof.enable()
    post(m)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    print(
        f"\ncProfile of {m} intake requests, CPU time (cumulative, then own time; "
        "includes profiler overhead):"
    )
    print(out.getvalue())
    ceiling_app.engine.dispose()
    with app.app_context():
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
