"""Order operations and the one `transition()` every status change goes through."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fulfilment.db import utcnow
from fulfilment.errors import ConcurrentUpdate, InvalidInput, InvalidTransition, OrderNotFound
from fulfilment.events import new_event_id, order_event_body
from fulfilment.extensions import db
from fulfilment.models import Order, OrderNote, OrderStatusHistory, OutboxEvent
from fulfilment.search import search_condition
from fulfilment.services.flags import require_enabled
from fulfilment.states import EVENT_ON_ENTER, OrderStatus, can_transition

log = logging.getLogger(__name__)

NOTE_MAX_CHARS = 5000


def get_order(order_id: str, *, full: bool = False) -> Order:
    """The order with checkout id `order_id`, or OrderNotFound."""
    query = select(Order).where(Order.order_id == order_id)
    if full:
        query = query.options(
            selectinload(Order.items), selectinload(Order.history), selectinload(Order.notes)
        )
    order = db.session.execute(query).scalar_one_or_none()
    if order is None:
        raise OrderNotFound(order_id)
    return order


def transition(
    order: Order,
    new_status: OrderStatus | str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    expected_version: int | None = None,
    commit: bool = True,
) -> Order:
    """Moves `order` to `new_status`: the only way a status changes.

    Checks the move against the state machine, writes the history row (actor, details) and,
    where the new status announces an event, an outbox row, all in one transaction. The UPDATE
    is conditional on the version the caller read (`version_id_col`), so of two concurrent
    changes one wins and the other gets ConcurrentUpdate; nothing is overwritten silently.
    Commits unless `commit=False` (then the caller commits and owns the rollback).
    """
    new = OrderStatus(new_status)
    current = OrderStatus(order.status)
    if expected_version is not None and expected_version != order.version:
        raise ConcurrentUpdate(order.order_id)
    if not can_transition(current, new):
        raise InvalidTransition(order.order_id, current.value, new.value)

    now = utcnow()
    details = dict(details or {})
    try:
        with db.session.no_autoflush:  # nothing reaches the database before the flush below
            order.status = new.value
            db.session.add(
                OrderStatusHistory(
                    order_pk=order.id,
                    at=now,
                    from_status=current.value,
                    to_status=new.value,
                    actor=actor,
                    details=details,
                )
            )
            event_type = EVENT_ON_ENTER.get(new)
            if event_type is not None:
                db.session.add(
                    OutboxEvent(
                        event_id=new_event_id(),
                        event_type=event_type,
                        order_pk=order.id,
                        payload=order_event_body(event_type, order, at=now, details=details),
                        next_attempt_at=now,
                    )
                )
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise ConcurrentUpdate(order.order_id) from None
    if commit:
        db.session.commit()
    log.info(
        "order %s: %s -> %s by %s",
        order.order_id,
        current.value,
        new.value,
        actor,
        extra={"order_id": order.order_id},
    )
    return order


def process_order(order_id: str, *, actor: str, expected_version: int | None = None) -> Order:
    """placed → processing ("Mark as Processing"). Needs the fulfilment flag. Commits."""
    require_enabled()
    order = get_order(order_id)
    return transition(order, OrderStatus.PROCESSING, actor=actor, expected_version=expected_version)


def add_note(order_id: str, body: str, *, author: str) -> OrderNote:
    """Appends an internal note (stored as typed, shown escaped). Commits."""
    text = (body or "").strip()
    if not text:
        raise InvalidInput("note is empty", {"body": ["must not be blank"]})
    if len(text) > NOTE_MAX_CHARS:
        raise InvalidInput(
            "note is too long", {"body": [f"must be at most {NOTE_MAX_CHARS} characters"]}
        )
    order = get_order(order_id)
    note = OrderNote(order_pk=order.id, author=author, body=text)
    db.session.add(note)
    db.session.commit()
    return note


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    next_cursor: str | None


def _encode_cursor(order: Order) -> str:
    raw = f"{order.placed_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        placed, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(placed), int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput(
            "bad cursor", {"cursor": ["use next_cursor from a previous page"]}
        ) from None


def list_orders(
    *,
    status: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> OrderPage:
    """Newest first (placed_at, id), keyset-paginated: page N costs what page 1 costs."""
    query = (
        select(Order)
        .options(selectinload(Order.shipment))
        .order_by(Order.placed_at.desc(), Order.id.desc())
    )
    if status:
        query = query.where(Order.status == status)
    if q:
        query = query.where(search_condition(q))
    if updated_since is not None:
        query = query.where(Order.updated_at >= updated_since)
    if cursor:
        placed, pk = _decode_cursor(cursor)
        query = query.where(
            or_(Order.placed_at < placed, and_(Order.placed_at == placed, Order.id < pk))
        )
    rows = list(db.session.execute(query.limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return OrderPage(rows, _encode_cursor(rows[-1]) if more and rows else None)
