"""RQ wiring: one Redis connection per app, queues named by purpose, enqueue by dotted path.

With no REDIS_URL in a local run, an embedded fakeredis server stands in (shared by every
connection of this process; `make run` serves one over TCP so web and worker share it).
The domain enqueues jobs by dotted path ("workers.jobs.create_shipment") and never imports
`workers/`.
"""

from __future__ import annotations

import logging
from typing import Any

import fakeredis
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

# Queues by purpose; the worker listens on all of them, in this order of priority.
SHIPMENTS = "shipments"  # one order's shipment, asked for by a person: first
EVENTS = "events"  # outbound webhook deliveries
BULK = "bulk"  # shipments of batches
DEFAULT = "default"  # relay, sweep, batch fan-out
ALL_QUEUES = (SHIPMENTS, EVENTS, BULK, DEFAULT)

log = logging.getLogger(__name__)

_EXT = "fulfilment.redis"
_PROBED = "fulfilment.redis.probed"


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
    app = app or current_app
    connection = app.extensions[_EXT]
    if not app.extensions.get(_PROBED):
        _probe_server_version(connection)
        app.extensions[_PROBED] = True
    return connection


def _probe_server_version(connection: Redis) -> None:
    """rq asks the server's version with INFO, which the fakeredis stand-in does not know.

    Its TCP server then drops the connection mid-pipeline. Ask once here; if INFO is unknown,
    give rq the answer it would have cached and drop the broken socket.
    """
    try:
        connection.info("server")
    except ResponseError:
        setattr(connection, "__rq_redis_server_version", (7, 0, 0))
        connection.connection_pool.disconnect()
    except (RedisError, OSError) as exc:
        # Redis down: enqueueing fails later with its own error and /readyz reports it.
        log.warning("redis unreachable while probing its version: %s", type(exc).__name__)


def get_queue(name: str, app: Flask | None = None) -> Queue:
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)


def enqueue(func_path: str, *args: int | str, queue: str = DEFAULT, **options: Any) -> Job:
    """Enqueues `func_path(*args)`; call only after the rows the job needs are committed."""
    return get_queue(queue).enqueue(func_path, *args, **options)
