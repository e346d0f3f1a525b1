"""RQ wiring: jobs enqueued by dotted path run in a real worker, each in its own app context."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from fulfilment.embedded_redis import EmbeddedRedis
from fulfilment.extensions import db
from fulfilment.models import OrderNote
from fulfilment.queues import ALL_QUEUES, DEFAULT, enqueue, get_queue, redis_connection
from tests.conftest import TEST_REDIS_URL
from tests.helpers import post_signed, sample
from workers.runner import AppJob, bind_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def order_id(app, client) -> str:
    assert post_signed(client, app, sample()).status_code == 202
    return "ORD-100045"


def test_queues_are_named_by_purpose():
    assert ALL_QUEUES == ("shipments", "events", "bulk", "default")


def test_job_runs_in_a_simple_worker_with_its_own_app_context(app, order_id):
    with app.app_context():
        job = enqueue("tests.jobs_for_tests.note_from_worker", order_id, job_id="note-1")
        worker = SimpleWorker(
            [get_queue(DEFAULT)],
            connection=redis_connection(),
            job_class=AppJob,
            serializer=JSONSerializer,
        )
    bind_app(app)

    assert worker.work(burst=True) is True

    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "placed"
    with app.app_context():
        note = db.session.execute(select(OrderNote)).scalar_one()
        assert (note.author, note.body) == ("system:worker", "seen by worker while placed")


def test_failing_job_is_recorded_as_failed_not_swallowed(app):
    with app.app_context():
        job = enqueue("tests.jobs_for_tests.note_from_worker", "ORD-MISSING", job_id="note-2")
        worker = SimpleWorker(
            [get_queue(DEFAULT)],
            connection=redis_connection(),
            job_class=AppJob,
            serializer=JSONSerializer,
        )
    bind_app(app)

    worker.work(burst=True)

    job.refresh()
    assert job.get_status() == "failed"
    assert "OrderNotFound" in (job.latest_result().exc_string or "")


def test_unknown_queue_is_refused(app):
    with app.app_context(), pytest.raises(ValueError, match="unknown queue"):
        get_queue("emails")


@pytest.fixture
def redis_url():
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    embedded = EmbeddedRedis().start()
    yield embedded.url
    embedded.stop()


@pytest.mark.parametrize("mode", [[], ["--fork"]], ids=["in-process", "forked"])
def test_procfile_worker_command_drains_the_queue(
    make_app, database_url, redis_url, tmp_path, mode
):
    from redis import Redis

    app = make_app(REDIS_CONNECTION_FACTORY=lambda: Redis.from_url(redis_url))
    assert post_signed(app.test_client(), app, sample()).status_code == 202
    with app.app_context():
        job = enqueue("tests.jobs_for_tests.note_from_worker", "ORD-100045", job_id="note-3")
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FULFILMENT_INSTANCE_PATH": str(tmp_path / "instance"),
        "LOG_LEVEL": "warning",
    }

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "rq", "worker", "--burst", *mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    job.refresh()
    assert job.get_status() == "finished"
    with app.app_context():
        assert db.session.execute(select(OrderNote.author)).scalar_one() == "system:worker"
