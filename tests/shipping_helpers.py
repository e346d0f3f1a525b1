"""Fixtures and helpers for shipment tests: the sandbox over real HTTP, a real RQ worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from fulfilment.queues import ALL_QUEUES, get_queue, redis_connection
from fulfilment.shiprocket.client import RedisTokenStore, ShiprocketClient
from fulfilment.shiprocket.sandbox import SandboxServer
from tests.helpers import post_signed, sample
from workers.runner import AppJob, bind_app


class Sandbox:
    def __init__(self, server: SandboxServer):
        self.server = server
        self.url = server.url

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sandbox/state", timeout=5).json()

    def fault(self, path: str, kind: str, **extra: Any) -> None:
        body = {"path": f"/v1/external{path}", "kind": kind, **extra}
        requests.post(f"{self.url}/_sandbox/faults", json=body, timeout=5).raise_for_status()

    def expire_tokens(self) -> None:
        requests.post(f"{self.url}/_sandbox/expire-tokens", timeout=5).raise_for_status()

    def set_status(self, shipment_id: int, status: str) -> None:
        requests.post(
            f"{self.url}/_sandbox/shipments/{shipment_id}/status",
            json={"status": status},
            timeout=5,
        ).raise_for_status()

    def orders_for(self, channel_prefix: str) -> list[dict[str, Any]]:
        return [
            o for o in self.state()["orders"] if o["channel_order_id"].startswith(channel_prefix)
        ]

    def calls(self, path_part: str) -> list[dict[str, Any]]:
        return [c for c in self.state()["calls"] if path_part in c["path"]]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = SandboxServer().start()
    yield Sandbox(server)
    server.stop()


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)  # recorded, not slept: the tests stay fast


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def ship_app(make_app: Any, sandbox: Sandbox, redis_conn: Any, sleeps: SleepRecorder) -> Any:
    def client() -> ShiprocketClient:
        return ShiprocketClient(
            sandbox.url,
            "sandbox@example.in",
            "sandbox-password",
            token_store=RedisTokenStore(redis_conn),
            read_timeout=1.5,
            sleep=sleeps,
        )

    return make_app(
        SHIPROCKET_SANDBOX_URL=sandbox.url,
        SHIPROCKET_CLIENT_FACTORY=client,
        SHIPROCKET_PICKUP_LOCATION="Sandbox Warehouse",
        SHIPROCKET_PICKUP_POSTCODE="560001",
    )


def place(
    app: Any, order_id: str, *, pincode: str = "560038", cod: bool = False, **order: Any
) -> str:
    payload = sample("order_placed_cod" if cod else "order_placed")
    payload["event_id"] = f"evt_{order_id}"
    payload["order"]["order_id"] = order_id
    payload["order"]["shipping_address"]["pincode"] = pincode
    payload["order"].update(order)
    resp = post_signed(app.test_client(), app, json.dumps(payload))
    assert resp.status_code == 202, resp.get_json()
    return order_id


def place_processing(app: Any, order_id: str, **kwargs: Any) -> str:
    from fulfilment.services.orders import process_order

    place(app, order_id, **kwargs)
    with app.app_context():
        process_order(order_id, actor="ops@example.in")
    return order_id


def run_worker(app: Any) -> None:
    """A real RQ worker draining the queues in this process (SimpleWorker, burst)."""
    bind_app(app)
    with app.app_context():
        worker = SimpleWorker(
            [get_queue(name) for name in ALL_QUEUES],
            connection=redis_connection(),
            job_class=AppJob,
            serializer=JSONSerializer,
        )
    worker.work(burst=True)


def ship(
    app: Any, order_id: str, *, courier_id: int | None = None, actor: str = "ops@example.in"
) -> Any:
    from fulfilment.services.shipments import request_shipment

    with app.app_context():
        req = request_shipment(order_id, actor=actor, courier_id=courier_id)
    run_worker(app)
    return req


def load(app: Any, order_id: str) -> dict[str, Any]:
    from fulfilment.api_schemas import OrderOut
    from fulfilment.services.orders import get_order

    with app.app_context():
        return OrderOut().dump(get_order(order_id, full=True))
