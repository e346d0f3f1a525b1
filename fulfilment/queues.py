"""RQ wiring: one Redis connection per app, queues named by purpose, enqueue by dotted path.

With no REDIS_URL in a local run, an embedded fakeredis server stands in (shared by every
connection of this process; `make run` serves one over TCP so web and worker share it).
The domain enqueues jobs by dotted path ("workers.jobs.create_shipment") and never imports
`workers/`.
"""

from __future__ import annotations

from typing import Any

import fakeredis
from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

# Queues by purpose; the worker listens on all of them, in this order of priority.
SHIPMENTS = "shipments"
EVENTS = "events"
DEFAULT = "default"
ALL_QUEUES = (SHIPMENTS, EVENTS, DEFAULT)

_EXT = "fulfilment.redis"


def init_queues(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    factory = app.config.get("REDIS_CONNECTION_FACTORY")
    if factory is not None:
        connection = factory()
    elif url:
        connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    else:
        connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    app.extensions[_EXT] = connection


def redis_connection(app: Flask | None = None) -> Redis:
    return (app or current_app).extensions[_EXT]


def get_queue(name: str, app: Flask | None = None) -> Queue:
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)


def enqueue(func_path: str, *args: int | str, queue: str = DEFAULT, **options: Any) -> Job:
    """Enqueues `func_path(*args)`; call only after the rows the job needs are committed."""
    return get_queue(queue).enqueue(func_path, *args, **options)
