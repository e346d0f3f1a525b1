"""Kill -9 of the worker (parent and work horse) during each step of the shipment job, then a
new worker: exactly one Shiprocket order and one AWB, asserted on the sandbox's own records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from fulfilment.embedded_redis import EmbeddedRedis
from fulfilment.services.shipments import request_shipment, sweep_stalled_shipments
from tests.conftest import TEST_REDIS_URL
from tests.shipping_helpers import load, place_processing

ROOT = Path(__file__).resolve().parent.parent
LEASE_S = 2

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url():
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    embedded = EmbeddedRedis().start()
    yield embedded.url
    embedded.stop()


def _worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "rq", "worker", "shipments", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _kill_worker_and_horse(proc: subprocess.Popen) -> None:
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [proc.pid, *map(int, children)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone: nothing left to kill
    proc.wait(10)


STEPS = [
    "/orders/create/adhoc",
    "/courier/serviceability/",
    "/courier/assign/awb",
    "/courier/generate/pickup",
    "/courier/generate/label",
]


@pytest.mark.parametrize(
    ("step", "mode"),
    [(s, "--fork") for s in STEPS]  # RQ's forking worker: kill the parent and its work horse
    + [(s, "--no-fork") for s in STEPS[::2]],  # our default in-process worker
)
def test_kill_9_during_each_step_then_a_new_worker_makes_one_order_and_one_awb(
    make_app, database_url, redis_url, sandbox, tmp_path, step, mode
):
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FULFILMENT_INSTANCE_PATH": str(tmp_path / "instance"),
        "SHIPROCKET_SANDBOX_URL": sandbox.url,
        "SHIPMENT_LEASE_SECONDS": str(LEASE_S),
        "SHIPMENT_SWEEP_SECONDS": "1",
        "LOG_LEVEL": "warning",
    }
    app = make_app(
        {k: env[k] for k in ("SHIPROCKET_SANDBOX_URL", "SHIPMENT_LEASE_SECONDS")}
        | {"SHIPMENT_SWEEP_SECONDS": "1"},
        REDIS_CONNECTION_FACTORY=lambda: Redis.from_url(redis_url),
    )
    order_id = place_processing(app, "ORD-KILL")
    # Shiprocket does the work, then the answer hangs: the kill lands after the side effect.
    sandbox.fault(step, "timeout", times=1, delay_s=60)
    with app.app_context():
        request_shipment(order_id, actor="ops@example.in")

    first = _worker(env, tmp_path / "worker1.log", *([mode] if mode == "--fork" else []))
    deadline = time.monotonic() + 30
    while not sandbox.calls(step.rstrip("/")):
        assert time.monotonic() < deadline, "the job never reached the step"
        time.sleep(0.1)
    time.sleep(0.3)
    _kill_worker_and_horse(first)

    time.sleep(LEASE_S + 1.2)  # the dead job's lease runs out
    with app.app_context():
        assert sweep_stalled_shipments(), "the sweep found nothing to resume"
    second = _worker(
        env, tmp_path / "worker2.log", "--burst", *([mode] if mode == "--fork" else [])
    )
    assert second.wait(120) == 0
    worker_log = (tmp_path / "worker2.log").read_text()

    order = load(app, order_id)
    remote = sandbox.orders_for(order_id)
    assert len(remote) == 1, remote
    assert sandbox.state()["creates"].get(order_id, 0) >= 1
    assert order["status"] == "shipped", (order["shipment"], worker_log[-3000:])
    assert order["shipment"]["awb"] == remote[0]["awb"]
    assert sandbox.state()["awbs_assigned"][str(remote[0]["shipment_id"])] == 1
