"""Test helpers: Standard Webhooks signing, sample payloads, counting rows."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "spec"
SAMPLES = Path(__file__).resolve().parent / "samples"


# Shiprocket's tracking push as its docs show it (17 scans).
TRACKING_SAMPLE = json.loads(
    (SPEC / "shiprocket" / "samples" / "webhook_tracking.payload.json").read_text()
)


def tracking_push(awb: str, **changes: Any) -> dict[str, Any]:
    """The docs' tracking push for `awb`, with top-level fields changed."""
    body = copy.deepcopy(TRACKING_SAMPLE)
    body["awb"] = awb
    body.update(changes)
    return body


def post_tracking(app: Any, body: Any, *, key: str | None = None) -> Any:
    """POSTs a tracking push with the app's x-api-key (or `key`)."""
    token = app.config["SHIPROCKET_WEBHOOK_TOKEN"] if key is None else key
    return app.test_client().post("/webhooks/tracking", json=body, headers={"x-api-key": token})


def sample(name: str = "order_placed") -> dict[str, Any]:
    """A contract sample payload (a copy kept under tests/samples)."""
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text()))


def signed_headers(
    secret: str, body: bytes | str, *, msg_id: str = "msg_test", timestamp: float | None = None
) -> dict[str, str]:
    text = body.decode() if isinstance(body, bytes) else body
    ts = time.time() if timestamp is None else timestamp
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), text)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(ts)),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def post_signed(client: Any, app: Any, payload: Any, **kwargs: Any) -> Any:
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body, **kwargs)
    return client.post("/webhooks/checkout", data=body, headers=headers)


def count(app: Any, model: Any) -> int:
    from fulfilment.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def counts(app: Any) -> dict[str, int]:
    from fulfilment.models import InboundEvent, Order, OrderItem, OrderStatusHistory, OutboxEvent

    return {
        m.__tablename__: count(app, m)
        for m in (Order, OrderItem, OrderStatusHistory, InboundEvent, OutboxEvent)
    }


NOTHING_STORED = {
    "orders": 0,
    "order_items": 0,
    "order_status_history": 0,
    "inbound_events": 0,
    "outbox_events": 0,
}
