"""`make run`: everything on one machine with nothing but Python.

Migrates the database, creates a demo admin login (password printed once), seeds demo orders
into an empty database, starts the embedded Redis stand-in (unless REDIS_URL is set), then runs
the web server (gunicorn) and an RQ worker until Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent


def _prepare(env: dict[str, str]) -> None:
    from flask_migrate import upgrade

    from fulfilment import create_app
    from fulfilment.admin.orders import seed_saved_views
    from fulfilment.demo import seed_demo_orders
    from fulfilment.extensions import db
    from fulfilment.models import Order, User
    from fulfilment.services.flags import seed_flags
    from fulfilment.services.users import create_user

    app = create_app(environ=env)
    with app.app_context():
        print("• migrating the database …", flush=True)
        upgrade(directory=str(ROOT / "migrations"))
        seed_flags()
        seed_saved_views()
        if db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0:
            password = secrets.token_urlsafe(12)
            create_user("admin@example.in", "admin", password, actor="system:make-run")
            print(f"• demo login created (shown once): admin@example.in / {password}", flush=True)
        orders = db.session.execute(select(func.count()).select_from(Order)).scalar_one()
        if orders == 0 and env.get("DEMO_ORDERS", "8") != "0":
            ids = seed_demo_orders(int(env.get("DEMO_ORDERS", "8")))
            print(f"• {len(ids)} demo orders seeded", flush=True)
        for engine in db.engines.values():
            engine.dispose()


def main() -> int:
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    port = env.get("PORT", "5000")
    embedded = None
    if not env.get("REDIS_URL"):
        from fulfilment.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis().start()
        env["REDIS_URL"] = embedded.url
        print(f"• embedded Redis stand-in on {embedded.url}", flush=True)

    sandbox = None
    if not env.get("SHIPROCKET_EMAIL"):
        from fulfilment.shiprocket.sandbox import SandboxServer

        sandbox = SandboxServer(latency_ms=int(env.get("SANDBOX_LATENCY_MS", "150"))).start()
        env["SHIPROCKET_SANDBOX_URL"] = sandbox.url
        print(f"• Shiprocket sandbox on {sandbox.url} (no SHIPROCKET_EMAIL set)", flush=True)

    _prepare(env)
    procs = {
        "worker": subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "rq", "worker", "--with-scheduler"],
            cwd=ROOT,
            env=env,
        ),
        "web": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "2",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--no-control-socket",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
        ),
    }
    print(
        f"\n  Fulfilment is running: http://127.0.0.1:{port}/admin/  (Ctrl-C to stop)\n", flush=True
    )

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping", file=sys.stderr)
                stopping, status = True, 1
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if embedded is not None:
        embedded.stop()
    if sandbox is not None:
        sandbox.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
