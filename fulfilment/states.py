"""The order state machine (contract §4), in one place."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PLACED = "placed"  # received from checkout, nobody has touched it yet
    PROCESSING = "processing"  # ops are preparing it; shipment attempts happen here
    SHIPPED = "shipped"  # Shiprocket gave an AWB; tracking starts
    DELIVERED = "delivered"  # Shiprocket reported delivery; terminal
    CANCELLED = "cancelled"  # cancelled by ops (and in Shiprocket, if shipped); terminal


ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PROCESSING, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    # shipped → cancelled only once the Shiprocket shipment is cancelled (or ops confirm
    # it was cancelled by hand); the cancellation service enforces that precondition.
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}

# Statuses whose arrival is announced to downstream subscribers (contract §5).
EVENT_ON_ENTER: dict[OrderStatus, str] = {
    OrderStatus.SHIPPED: "OrderShipped",
    OrderStatus.DELIVERED: "OrderDelivered",
    OrderStatus.CANCELLED: "OrderCancelled",
}

TERMINAL = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)


def can_transition(current: OrderStatus | str, new: OrderStatus | str) -> bool:
    return OrderStatus(new) in ALLOWED_TRANSITIONS[OrderStatus(current)]
