"""A job used only by the tests of the worker wiring (real queue, real worker)."""

from __future__ import annotations

from fulfilment.services.orders import add_note, get_order


def note_from_worker(order_id: str) -> str:
    """Reads the order and writes a note through the services: needs an app context and DB."""
    order = get_order(order_id)
    add_note(order_id, f"seen by worker while {order.status}", author="system:worker")
    return order.status
