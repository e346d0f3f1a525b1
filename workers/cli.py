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


def _start_sweeper(app: Flask, interval: float) -> threading.Thread:
    """Every `interval` s, queue the shipment sweep once (a unique job id across all workers)."""

    def loop() -> None:
        while True:
            time.sleep(interval)
            with app.app_context():
                try:
                    enqueue(
                        "workers.jobs.sweep_shipments",
                        queue=DEFAULT,
                        job_id="sweep-shipments",
                        unique=True,
                        result_ttl=0,
                        failure_ttl=3600,
                    )
                except DuplicateJobError:
                    log.debug("sweep already queued")
                except RedisError as exc:
                    log.warning("could not queue the sweep: %s", type(exc).__name__)

    thread = threading.Thread(target=loop, name="shipment-sweeper", daemon=True)
    thread.start()
    return thread


rq_cli = AppGroup("rq", help="Run RQ workers on the project's queues.")


@rq_cli.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--with-scheduler", is_flag=True, help="Also run scheduled jobs and retries.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork).")
def worker(queues: tuple[str, ...], burst: bool, with_scheduler: bool, simple: bool) -> None:
    """Work on QUEUES (default: all of the project's queues, by priority)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    names = queues or ALL_QUEUES
    try:
        qs = [get_queue(name) for name in names]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    bind_app(app)
    if with_scheduler:
        _start_sweeper(app, app.config["SHIPMENT_SWEEP_SECONDS"])
    cls = SimpleWorker if simple else Worker
    w = cls(
        qs,
        connection=redis_connection(),
        job_class=AppJob,
        serializer=JSONSerializer,
    )
    w.work(
        burst=burst, with_scheduler=with_scheduler, logging_level=app.config["LOG_LEVEL"].upper()
    )
