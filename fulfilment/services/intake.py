"""Order intake from checkout's OrderPlaced events (contract §2).

Idempotent under concurrency by database uniqueness, not check-then-act: the event id and the
order id are both inserted with ON CONFLICT DO NOTHING in one transaction. A concurrent twin
waits on the first insert's row lock (PostgreSQL) or the write lock (SQLite), then finds the
row and answers "duplicate" (same content) or "conflict" (different content).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from fulfilment.db import insert_ignoring_conflicts, utcnow
from fulfilment.extensions import db
from fulfilment.models import InboundEvent, Order, OrderItem, OrderStatusHistory
from fulfilment.schemas import OrderPlacedEvent
from fulfilment.states import OrderStatus

log = logging.getLogger(__name__)

CHECKOUT = "checkout"
CHECKOUT_ACTOR = "system:checkout"


@dataclass(frozen=True)
class IntakeResult:
    outcome: Literal["accepted", "duplicate", "conflict"]
    order_id: str
    detail: str | None = None


def record_order_placed(event: OrderPlacedEvent) -> IntakeResult:
    """Stores a new order as `placed` with its first history row, or recognises a resend.

    Commits before returning "accepted" or "duplicate"; rolls back on "conflict" (nothing
    changes). Database errors propagate (the webhook answers 503 and checkout retries).
    """
    order = event.order
    content_hash = order.content_hash()
    session = db.session
    dialect = session.get_bind().dialect.name
    try:
        inserted_event = session.execute(
            insert_ignoring_conflicts(InboundEvent.__table__, dialect, ["source", "event_id"])
            .values(
                source=CHECKOUT,
                event_id=event.event_id,
                event_type="OrderPlaced",
                subject=order.order_id,
                received_at=utcnow(),
                content_hash=content_hash,
            )
            .returning(InboundEvent.id)
        ).scalar_one_or_none()
        if inserted_event is None:
            return _resent_event(event, content_hash)

        order_pk = _insert_order(event, content_hash, dialect)
        if order_pk is None:
            return _resent_order(event, content_hash)

        session.commit()
    except BaseException:
        session.rollback()
        raise
    log.info("order %s accepted", order.order_id, extra={"order_id": order.order_id})
    return IntakeResult("accepted", order.order_id)


def _resent_event(event: OrderPlacedEvent, content_hash: str) -> IntakeResult:
    prior = db.session.execute(
        select(InboundEvent.subject, InboundEvent.content_hash).where(
            InboundEvent.source == CHECKOUT, InboundEvent.event_id == event.event_id
        )
    ).one()
    db.session.rollback()
    if prior.subject == event.order.order_id and prior.content_hash == content_hash:
        return IntakeResult("duplicate", event.order.order_id)
    return IntakeResult(
        "conflict",
        event.order.order_id,
        f"event {event.event_id} was already received with different content",
    )


def _resent_order(event: OrderPlacedEvent, content_hash: str) -> IntakeResult:
    stored_hash = db.session.execute(
        select(Order.content_hash).where(Order.order_id == event.order.order_id)
    ).scalar_one()
    if stored_hash == content_hash:
        # Same order under a new event id: keep the event record, change nothing else.
        db.session.commit()
        return IntakeResult("duplicate", event.order.order_id)
    db.session.rollback()
    log.warning(
        "order %s resent with different content (event %s)",
        event.order.order_id,
        event.event_id,
        extra={"order_id": event.order.order_id},
    )
    return IntakeResult(
        "conflict",
        event.order.order_id,
        f"order {event.order.order_id} was already received with different content",
    )


def _insert_order(event: OrderPlacedEvent, content_hash: str, dialect: str) -> int | None:
    order = event.order
    now = utcnow()
    address = order.shipping_address
    package = order.package
    order_pk = db.session.execute(
        insert_ignoring_conflicts(Order.__table__, dialect, ["order_id"])
        .values(
            order_id=order.order_id,
            status=OrderStatus.PLACED.value,
            version=1,
            placed_at=order.placed_at,
            received_at=now,
            updated_at=now,
            customer_name=order.customer.name,
            customer_email=order.customer.email,
            customer_phone=order.customer.phone,
            ship_line1=address.line1,
            ship_line2=address.line2,
            ship_city=address.city,
            ship_state=address.state,
            ship_pincode=address.pincode,
            ship_country=address.country,
            currency=order.currency,
            subtotal=order.subtotal,
            shipping_fee=order.shipping_fee,
            discount=order.discount,
            total=order.total,
            payment_status=order.payment.status,
            payment_method=order.payment.method,
            payment_reference=order.payment.reference,
            weight_kg=package.weight_kg,
            length_cm=package.length_cm,
            breadth_cm=package.breadth_cm,
            height_cm=package.height_cm,
            content_hash=content_hash,
            source_event_id=event.event_id,
        )
        .returning(Order.id)
    ).scalar_one_or_none()
    if order_pk is None:
        return None
    db.session.execute(
        OrderItem.__table__.insert(),
        [
            {
                "order_pk": order_pk,
                "position": position,
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "hsn": item.hsn,
                "tax_rate": item.tax_rate,
            }
            for position, item in enumerate(order.items)
        ],
    )
    db.session.add(
        OrderStatusHistory(
            order_pk=order_pk,
            at=now,
            from_status=None,
            to_status=OrderStatus.PLACED.value,
            actor=CHECKOUT_ACTOR,
            details={"event_id": event.event_id, "placed_at": order.placed_at.isoformat()},
        )
    )
    return order_pk
