"""Idempotent intake under real concurrency: a running gunicorn, 50 deliveries at once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers import counts, sample, signed_headers
from tests.server import gunicorn


@pytest.fixture
def server(app, database_url, tmp_path):
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "FULFILMENT_INSTANCE_PATH": str(tmp_path / "instance"),  # same secrets as `app`
        "LOG_LEVEL": "warning",
    }
    with gunicorn(env, log=tmp_path / "gunicorn.log") as base:
        yield base


def _fire(base: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> list[int]:
    barrier = threading.Barrier(len(deliveries), timeout=30)

    def send(delivery: tuple[bytes, dict[str, str]]) -> int:
        body, headers = delivery
        barrier.wait()
        return requests.post(
            f"{base}/webhooks/checkout", data=body, headers=headers, timeout=60
        ).status_code

    with ThreadPoolExecutor(len(deliveries)) as pool:
        return list(pool.map(send, deliveries))


def test_fifty_identical_deliveries_at_once_make_one_order(app, server):
    body = json.dumps(sample()).encode()
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body)

    statuses = _fire(server, [(body, headers)] * 50)

    assert sorted(set(statuses)) == [200, 202], statuses
    assert statuses.count(202) == 1
    assert counts(app) == {
        "orders": 1,
        "order_items": 2,
        "order_status_history": 1,
        "inbound_events": 1,
        "outbox_events": 0,
    }


def test_same_order_under_two_event_ids_at_once_makes_one_order(app, server):
    deliveries = []
    for event_id in ("evt_A", "evt_B"):
        payload = sample()
        payload["event_id"] = event_id
        body = json.dumps(payload).encode()
        deliveries += [(body, signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body))] * 25

    statuses = _fire(server, deliveries)

    assert statuses.count(202) == 1 and statuses.count(200) == 49, statuses
    stored = counts(app)
    assert stored["orders"] == 1 and stored["order_status_history"] == 1
    assert stored["inbound_events"] == 2
