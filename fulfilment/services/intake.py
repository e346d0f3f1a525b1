"""Order intake from checkout's OrderPlaced events (contract §2).

Idempotent under concurrency by database uniqueness, not check-then-act: the event id and the
order id are both inserted with ON CONFLICT DO NOTHING in one transaction. A concurrent twin
waits on the first insert's row lock (PostgreSQL) or the write lock (SQLite), then finds the
row and answers "duplicate" (same content) or "conflict" (different content).

Intake is the hot path (docs/BENCHMARKS.md, "Order intake"), so it is written in SQLAlchemy
Core on a connection of its own, without the ORM session: statements are built once with bind
parameters (each request then finds the compiled form in SQLAlchemy's cache by a memoised key,
instead of coercing and hashing ~35 literal values anew), and there is no unit of work. On
PostgreSQL a new order is stored by one statement; SQLite runs the same steps one by one.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Insert, String, bindparam, cast, exists, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import Select

from fulfilment.db import insert_ignoring_conflicts, utcnow
from fulfilment.extensions import db
from fulfilment.models import InboundEvent, Order, OrderItem, OrderStatusHistory
from fulfilment.schemas import OrderPlacedEvent
from fulfilment.states import OrderStatus

log = logging.getLogger(__name__)

CHECKOUT = "checkout"
CHECKOUT_ACTOR = "system:checkout"

_EVENTS = InboundEvent.__table__
_ORDERS = Order.__table__
_ITEMS = OrderItem.__table__
_HISTORY = OrderStatusHistory.__table__

# Parameter names of each row; the statements below bind exactly these.
_EVENT_COLUMNS = ("source", "event_id", "event_type", "subject", "received_at", "content_hash")
_ORDER_COLUMNS = (
    "order_id", "status", "version", "placed_at", "received_at", "updated_at",
    "customer_name", "customer_email", "customer_phone",
    "ship_line1", "ship_line2", "ship_city", "ship_state", "ship_pincode", "ship_country",
    "currency", "subtotal", "shipping_fee", "discount", "total",
    "payment_status", "payment_method", "payment_reference",
    "weight_kg", "length_cm", "breadth_cm", "height_cm",
    "content_hash", "source_event_id",
)  # fmt: skip
_ITEM_COLUMNS = ("position", "sku", "name", "quantity", "unit_price", "hsn", "tax_rate")
_HISTORY_COLUMNS = ("at", "from_status", "to_status", "actor", "details")

_SELECT_RESENT_EVENT = select(_EVENTS.c.subject, _EVENTS.c.content_hash).where(
    _EVENTS.c.source == bindparam("source"), _EVENTS.c.event_id == bindparam("event_id")
)
_SELECT_ORDER_HASH = select(_ORDERS.c.content_hash).where(
    _ORDERS.c.order_id == bindparam("order_id")
)


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
    now = utcnow()
    event_row = {
        "source": CHECKOUT,
        "event_id": event.event_id,
        "event_type": "OrderPlaced",
        "subject": order.order_id,
        "received_at": now,
        "content_hash": content_hash,
    }
    order_row = _order_row(event, content_hash, now)
    history_row = {
        "at": now,
        "from_status": None,
        "to_status": OrderStatus.PLACED.value,
        "actor": CHECKOUT_ACTOR,
        "details": {"event_id": event.event_id, "placed_at": order.placed_at.isoformat()},
    }
    item_rows = [
        {
            "position": position,
            "sku": item.sku,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            "hsn": item.hsn,
            "tax_rate": item.tax_rate,
        }
        for position, item in enumerate(order.items)
    ]
    # Closing the connection rolls back whatever was not committed (conflicts, errors).
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            event_pk, order_pk = _store_in_one_statement(
                conn, event_row, order_row, item_rows, history_row
            )
        else:
            event_pk, order_pk = _store_step_by_step(
                conn, event_row, order_row, item_rows, history_row
            )
        if event_pk is None:
            return _resent_event(conn, event, content_hash)
        if order_pk is None:
            return _resent_order(conn, event, content_hash)
        conn.commit()
    log.info("order %s accepted", order.order_id, extra={"order_id": order.order_id})
    return IntakeResult("accepted", order.order_id)


def _store_step_by_step(
    conn: Connection,
    event_row: dict[str, Any],
    order_row: dict[str, Any],
    item_rows: list[dict[str, Any]],
    history_row: dict[str, Any],
) -> tuple[int | None, int | None]:
    """Inserts the event, then (if new) the order, then (if new) its items and history row.

    Returns the new event's and order's primary keys; None where the row already existed.
    """
    insert_event, insert_order = _conflict_ignoring_inserts(conn.dialect.name)
    event_pk = conn.execute(insert_event, event_row).scalar()
    if event_pk is None:
        return None, None
    order_pk = conn.execute(insert_order, order_row).scalar()
    if order_pk is None:
        return event_pk, None
    conn.execute(_ITEMS.insert(), [{"order_pk": order_pk, **item} for item in item_rows])
    conn.execute(_HISTORY.insert(), {"order_pk": order_pk, **history_row})
    return event_pk, order_pk


@functools.cache
def _conflict_ignoring_inserts(dialect: str) -> tuple[Insert, Insert]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id for the event and the order, per dialect."""
    return (
        insert_ignoring_conflicts(_EVENTS, dialect, ["source", "event_id"]).returning(_EVENTS.c.id),
        insert_ignoring_conflicts(_ORDERS, dialect, ["order_id"]).returning(_ORDERS.c.id),
    )


def _store_in_one_statement(
    conn: Connection,
    event_row: dict[str, Any],
    order_row: dict[str, Any],
    item_rows: list[dict[str, Any]],
    history_row: dict[str, Any],
) -> tuple[int | None, int | None]:
    """`_store_step_by_step` as one PostgreSQL statement: one round trip instead of four.

    Data-modifying CTEs: the order is inserted only if the event was, the items and the
    history row only if the order was; ON CONFLICT waits for a concurrent twin exactly as the
    separate statements do. The items travel as one array per column, unnested in SQL.
    """
    params = {f"event_{k}": v for k, v in event_row.items()}
    params.update({f"order_{k}": v for k, v in order_row.items()})
    params.update({f"history_{k}": v for k, v in history_row.items()})
    for column in _ITEM_COLUMNS:
        params[f"items_{column}"] = [item[column] for item in item_rows]
    row = conn.execute(_store_order_pg(), params).one()
    return row.event_pk, row.order_pk


def _sql_type(table: Any, column: str) -> Any:
    """The column's type for a bind cast, but VARCHAR without its length: an explicit cast to
    VARCHAR(n) would truncate silently where the INSERT itself refuses a value too long."""
    column_type = table.c[column].type
    return String() if isinstance(column_type, String) else column_type


def _bound(table: Any, prefix: str, columns: tuple[str, ...]) -> list[Any]:
    """`prefix_column` parameters for INSERT … SELECT, cast to the column types: PostgreSQL
    would take an untyped NULL in a SELECT list for text."""
    return [
        cast(bindparam(f"{prefix}_{c}", type_=table.c[c].type), _sql_type(table, c))
        for c in columns
    ]


@functools.cache
def _store_order_pg() -> Select[Any]:
    """WITH new_event AS (INSERT … ON CONFLICT DO NOTHING RETURNING id),
    new_order AS (INSERT … SELECT … WHERE EXISTS (new_event) ON CONFLICT DO NOTHING RETURNING
    id), new_items AS (INSERT … SELECT new_order.id, unnest(…)), new_history AS (INSERT …)
    SELECT (SELECT id FROM new_event) AS event_pk, (SELECT id FROM new_order) AS order_pk."""
    new_event = (
        pg_insert(_EVENTS)
        .values({c: bindparam(f"event_{c}", type_=_EVENTS.c[c].type) for c in _EVENT_COLUMNS})
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(_EVENTS.c.id)
        .cte("new_event")
    )
    new_order = (
        pg_insert(_ORDERS)
        .from_select(
            _ORDER_COLUMNS,
            select(*_bound(_ORDERS, "order", _ORDER_COLUMNS)).where(exists(select(new_event.c.id))),
        )
        .on_conflict_do_nothing(index_elements=["order_id"])
        .returning(_ORDERS.c.id)
        .cte("new_order")
    )
    item_arrays = (
        func.unnest(
            *[bindparam(f"items_{c}", type_=ARRAY(_sql_type(_ITEMS, c))) for c in _ITEM_COLUMNS]
        )
        .table_valued(*_ITEM_COLUMNS)
        .render_derived(name="item")
    )
    new_items = (
        _ITEMS.insert()
        .from_select(
            ("order_pk", *_ITEM_COLUMNS),
            select(new_order.c.id, *item_arrays.c).select_from(new_order.join(item_arrays, true())),
        )
        .cte("new_items")
    )
    new_history = (
        _HISTORY.insert()
        .from_select(
            ("order_pk", *_HISTORY_COLUMNS),
            select(new_order.c.id, *_bound(_HISTORY, "history", _HISTORY_COLUMNS)),
        )
        .cte("new_history")
    )
    return select(
        select(new_event.c.id).scalar_subquery().label("event_pk"),
        select(new_order.c.id).scalar_subquery().label("order_pk"),
    ).add_cte(new_items, new_history)


def _resent_event(conn: Connection, event: OrderPlacedEvent, content_hash: str) -> IntakeResult:
    prior = conn.execute(
        _SELECT_RESENT_EVENT, {"source": CHECKOUT, "event_id": event.event_id}
    ).one()
    conn.rollback()
    if prior.subject == event.order.order_id and prior.content_hash == content_hash:
        return IntakeResult("duplicate", event.order.order_id)
    return IntakeResult(
        "conflict",
        event.order.order_id,
        f"event {event.event_id} was already received with different content",
    )


def _resent_order(conn: Connection, event: OrderPlacedEvent, content_hash: str) -> IntakeResult:
    stored_hash = conn.execute(_SELECT_ORDER_HASH, {"order_id": event.order.order_id}).scalar_one()
    if stored_hash == content_hash:
        # Same order under a new event id: keep the event record, change nothing else.
        conn.commit()
        return IntakeResult("duplicate", event.order.order_id)
    conn.rollback()
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


def _order_row(event: OrderPlacedEvent, content_hash: str, now: datetime) -> dict[str, Any]:
    order = event.order
    customer = order.customer
    address = order.shipping_address
    payment = order.payment
    package = order.package
    return {
        "order_id": order.order_id,
        "status": OrderStatus.PLACED.value,
        "version": 1,
        "placed_at": order.placed_at,
        "received_at": now,
        "updated_at": now,
        "customer_name": customer.name,
        "customer_email": customer.email,
        "customer_phone": customer.phone,
        "ship_line1": address.line1,
        "ship_line2": address.line2,
        "ship_city": address.city,
        "ship_state": address.state,
        "ship_pincode": address.pincode,
        "ship_country": address.country,
        "currency": order.currency,
        "subtotal": order.subtotal,
        "shipping_fee": order.shipping_fee,
        "discount": order.discount,
        "total": order.total,
        "payment_status": payment.status,
        "payment_method": payment.method,
        "payment_reference": payment.reference,
        "weight_kg": package.weight_kg,
        "length_cm": package.length_cm,
        "breadth_cm": package.breadth_cm,
        "height_cm": package.height_cm,
        "content_hash": content_hash,
        "source_event_id": event.event_id,
    }
