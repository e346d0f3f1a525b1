"""`flask --app wsgi rq worker [QUEUES]... [--burst] [--with-scheduler]`."""

from __future__ import annotations

import logging
import threading
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from fulfilment.queues import ALL_QUEUES, DEFAULT, enqueue, get_queue, redis_connection
from workers.runner import AppJob, bind_app

log = logging.getLogger(__name__)


PERIODIC = (
    # (every N seconds, job, unique job id)
    ("OUTBOX_RELAY_SECONDS", "workers.jobs.relay_outbox", "relay-outbox"),
    ("SHIPMENT_SWEEP_SECONDS", "workers.jobs.sweep_shipments", "sweep-shipments"),
)


def _start_periodic(app: Flask) -> threading.Thread:
    """Queue the periodic jobs (outbox relay, shipment sweep) from every worker started
    --with-scheduler; unique job ids keep one of each in the queue across all workers."""
    last: dict[str, float] = {}

    def loop() -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            for setting, path, job_id in PERIODIC:
                if now - last.get(job_id, 0.0) < app.config[setting]:
                    continue
                last[job_id] = now
                with app.app_context():
                    try:
                        enqueue(
                            path,
                            queue=DEFAULT,
                            job_id=job_id,
                            unique=True,
                            result_ttl=0,
                            failure_ttl=3600,
                        )
                    except DuplicateJobError:
                        log.debug("%s already queued", job_id)
                    except RedisError as exc:
                        log.warning("could not queue %s: %s", job_id, type(exc).__name__)

    thread = threading.Thread(target=loop, name="periodic-jobs", daemon=True)
    thread.start()
    return thread


rq_cli = AppGroup("rq", help="Run RQ workers on the project's queues.")


@rq_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--with-scheduler", is_flag=True, help="Also run scheduled jobs and retries.")
@click.option(
    "--fork",
    is_flag=True,
    help="Run each job in a forked work horse (RQ's default) instead of in this process.",
)
@click.option("--simple", is_flag=True, hidden=True, help="Kept for old scripts: the default.")
def worker(
    queues: tuple[str, ...], burst: bool, with_scheduler: bool, fork: bool, simple: bool
) -> None:
    """Work on QUEUES (default: all of the project's queues, by priority), each job in its own
    app context."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    names = queues or ALL_QUEUES
    try:
        qs = [get_queue(name) for name in names]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    bind_app(app)
    if with_scheduler:
        _start_periodic(app)
    # In-process by default: our jobs are short and wait on Shiprocket or a receiver, and a fork
    # per job (new DB connection, cold caches, new HTTP client) cost more CPU than the job itself
    # (bench/shipments_bench.py). Crash safety does not depend on it: a killed worker's shipment
    # lease expires and the sweep resumes it; deliveries are due again after their send lease.
    cls = Worker if fork and not simple else SimpleWorker
    w = cls(
        qs,
        connection=redis_connection(),
        job_class=AppJob,
        serializer=JSONSerializer,
    )
    w.work(
        burst=burst, with_scheduler=with_scheduler, logging_level=app.config["LOG_LEVEL"].upper()
    )
