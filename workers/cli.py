"""`flask --app wsgi rq worker [QUEUES]... [--burst] [--with-scheduler]`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer

from fulfilment.queues import ALL_QUEUES, get_queue, redis_connection
from workers.runner import AppJob, bind_app

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
