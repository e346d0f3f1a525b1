"""Outbound event bodies (contract §5): {"type", "timestamp", "data"}."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fulfilment.models import Order
from fulfilment.timefmt import iso_ist


def new_event_id() -> str:
    """Stable per event; sent as `webhook-id` on every delivery attempt."""
    return f"msg_{uuid.uuid4().hex}"


def order_event_body(
    event_type: str, order: Order, *, at: datetime, details: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": order.order_id,
        "status": order.status,
        "customer": {
            "name": order.customer_name,
            "email": order.customer_email,
            "phone": order.customer_phone,
        },
        "items": [
            {"sku": item.sku, "name": item.name, "quantity": item.quantity} for item in order.items
        ],
    }
    if event_type == "OrderShipped":
        data["shipped_at"] = iso_ist(at)
        data["shipment"] = details.get("shipment", {})
    elif event_type == "OrderDelivered":
        data["delivered_at"] = iso_ist(at)
        data["shipment"] = details.get("shipment", {})
    elif event_type == "OrderCancelled":
        data["cancelled_at"] = iso_ist(at)
        data["reason"] = details.get("reason")
    return {"type": event_type, "timestamp": iso_ist(at), "data": data}
