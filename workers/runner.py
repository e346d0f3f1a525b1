"""The worker: each job runs in a fresh app context with its own DB session.

The app is created once in the worker process. A forking worker's work horse inherits the
parent's SQLAlchemy pool; the horse disposes it (without closing the parent's sockets) before
running the job, as SQLAlchemy advises for os.fork().
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from rq.job import Job

from fulfilment.extensions import db
from fulfilment.logs import current_job_id

log = logging.getLogger(__name__)

_app: Flask | None = None
_pid = os.getpid()


def bind_app(app: Flask) -> None:
    """Called once by the worker command (or a test) before jobs run."""
    global _app, _pid
    _app = app
    _pid = os.getpid()


class AppJob(Job):
    """An RQ job that runs inside `app.app_context()` and cleans its session up after."""

    def perform(self) -> Any:
        if _app is None:
            raise RuntimeError("workers.runner.bind_app(app) was not called in this worker")
        with _app.app_context():
            if os.getpid() != _pid:
                for engine in db.engines.values():
                    engine.dispose(close=False)
            token = current_job_id.set(self.id)
            try:
                return super().perform()
            finally:
                current_job_id.reset(token)
                db.session.remove()
