"""Tables. Money is Numeric (Decimal in Python), times are UTC.

Append-only tables (status history, notes, audit log) are protected by database triggers
created in the migrations: UPDATE and DELETE on them fail on SQLite and PostgreSQL alike.
Shipment and tracking tables arrive with the shipments issue; they hang off `orders.id`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fulfilment.db import UTCDateTime, utcnow
from fulfilment.extensions import db
from fulfilment.states import OrderStatus

# BIGINT on PostgreSQL (a million orders a month is plausible); INTEGER on SQLite, where only
# INTEGER PRIMARY KEY is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(12, 2)
JSONDoc = JSON()

ORDER_STATUSES = tuple(s.value for s in OrderStatus)
ROLES = ("viewer", "ops", "admin")
PAYMENT_METHODS = ("prepaid", "cod")
PAYMENT_STATUSES = ("paid", "pending")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status_valid"),
        CheckConstraint(_in("payment_method", PAYMENT_METHODS), name="payment_method_valid"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        # Dashboard: newest first, optionally by status / payment method; changes feed.
        Index("ix_orders_placed_at_id", "placed_at", "id"),
        Index("ix_orders_status_placed_at", "status", "placed_at"),
        Index("ix_orders_payment_method_placed_at", "payment_method", "placed_at"),
        Index("ix_orders_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PLACED.value)
    version: Mapped[int] = mapped_column(Integer, default=1)

    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254), index=True)
    customer_phone: Mapped[str] = mapped_column(String(10), index=True)

    ship_line1: Mapped[str] = mapped_column(String(200))
    ship_line2: Mapped[str | None] = mapped_column(String(200))
    ship_city: Mapped[str] = mapped_column(String(100))
    ship_state: Mapped[str] = mapped_column(String(100))
    ship_pincode: Mapped[str] = mapped_column(String(6))
    ship_country: Mapped[str] = mapped_column(String(2), default="IN")

    currency: Mapped[str] = mapped_column(String(3), default="INR")
    subtotal: Mapped[Decimal] = mapped_column(Money)
    shipping_fee: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)

    payment_status: Mapped[str] = mapped_column(String(16))
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_reference: Mapped[str | None] = mapped_column(String(100))

    # Package as sent by checkout; None means "use the configured default" at shipment time.
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(8, 3))
    length_cm: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    breadth_cm: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    height_cm: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))

    # sha256 of the normalised order as received: tells a duplicate from a conflicting resend.
    content_hash: Mapped[str] = mapped_column(String(64))
    source_event_id: Mapped[str] = mapped_column(String(128))

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.position", cascade="all, delete-orphan"
    )
    history: Mapped[list[OrderStatusHistory]] = relationship(
        order_by="OrderStatusHistory.id", viewonly=True
    )
    notes: Mapped[list[OrderNote]] = relationship(order_by="OrderNote.id", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Order {self.order_id} {self.status}>"


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("order_pk", "position", name="uq_order_items_order_position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    hsn: Mapped[str | None] = mapped_column(String(16))
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    order: Mapped[Order] = relationship(back_populates="items")


class OrderStatusHistory(db.Model):
    """One row per status change (and one for the order's arrival). Append-only."""

    __tablename__ = "order_status_history"
    __table_args__ = (Index("ix_order_status_history_order_pk_id", "order_pk", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(254))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class OrderNote(db.Model):
    """Internal notes by ops. Append-only: a correction is a new note."""

    __tablename__ = "order_notes"
    __table_args__ = (Index("ix_order_notes_order_pk_id", "order_pk", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    author: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)


class InboundEvent(db.Model):
    """Every accepted inbound webhook event, unique per (source, event id): the dedupe record."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_inbound_events_source_event_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64), index=True)  # order id or AWB
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))


class OutboxEvent(db.Model):
    """An event to send, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint(
            _in("state", ("pending", "dispatched", "sent", "failed")), name="state_valid"
        ),
        Index("ix_outbox_events_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Stable id, sent as `webhook-id` on every attempt (contract §5).
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_valid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, minimum: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(minimum)


class ApiToken(db.Model):
    """Bearer tokens. Only a sha256 of the token is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class FeatureFlag(db.Model):
    __tablename__ = "feature_flags"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    # "env" while the value is the environment's seed; "admin" once an admin has toggled it.
    source: Mapped[str] = mapped_column(String(16), default="env")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(254), default="system:config")


class AuditLog(db.Model):
    """Changes that are not order status changes (flags, users, tokens, addresses). Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


SHIPMENT_STATES = (
    "requested",  # queued; nothing sent to Shiprocket yet (or a retry after a failure)
    "in_progress",  # a job is working through the steps; ids are stored as each is known
    "failed",  # the last attempt failed for good; ops fix and retry
    "completed",  # AWB, pickup and label done; the order is shipped
    "cancelled",  # cancelled in Shiprocket (or confirmed cancelled by hand)
)


class Shipment(db.Model):
    """The order's Shiprocket shipment: one row per order, resumable step by step.

    Every Shiprocket id is stored as soon as it is known, so a re-run (after a crash, a retry or
    a sweep) resumes where the last run stopped instead of creating anything twice.
    """

    __tablename__ = "shipments"
    __table_args__ = (
        CheckConstraint(_in("state", SHIPMENT_STATES), name="state_valid"),
        Index("ix_shipments_state_updated_at", "state", "updated_at"),
        Index("ix_shipments_courier_name", "courier_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    # Our stable channel order id at Shiprocket; suffixed (-r2, -r3…) only when Shiprocket's
    # copy was cancelled and a new one must be created.
    channel_order_id: Mapped[str] = mapped_column(String(50), unique=True)
    sr_order_id: Mapped[int | None] = mapped_column(BigInteger)
    sr_shipment_id: Mapped[int | None] = mapped_column(BigInteger)
    requested_courier_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(254), default="system")
    courier_id: Mapped[int | None] = mapped_column(Integer)
    courier_name: Mapped[str | None] = mapped_column(String(100))
    courier_rate: Mapped[Decimal | None] = mapped_column(Money)
    courier_options: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDoc)
    choice_reason: Mapped[str | None] = mapped_column(String(200))
    awb: Mapped[str | None] = mapped_column(String(40), unique=True)
    tracking_url: Mapped[str | None] = mapped_column(String(300))
    pickup_scheduled_at: Mapped[str | None] = mapped_column(String(40))
    pickup_token: Mapped[str | None] = mapped_column(String(200))
    label_url: Mapped[str | None] = mapped_column(String(500))
    address_sync_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # Latest tracking state from Shiprocket's pushes (never moved backwards in time).
    tracking_status: Mapped[str | None] = mapped_column(String(60))
    tracking_status_id: Mapped[int | None] = mapped_column(Integer)
    tracking_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tracking_exception: Mapped[str | None] = mapped_column(String(200), index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The database guard: one job works on a shipment at a time, until its lease expires.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(backref=db.backref("shipment", uselist=False))
    attempt_log: Mapped[list[ShipmentAttempt]] = relationship(
        order_by="ShipmentAttempt.id", viewonly=True
    )


class ShipmentAttempt(db.Model):
    """One try at generating the shipment: who asked, how it ended and why."""

    __tablename__ = "shipment_attempts"
    __table_args__ = (
        CheckConstraint(
            _in("outcome", ("queued", "running", "succeeded", "failed", "retrying")),
            name="outcome_valid",
        ),
        Index("ix_shipment_attempts_shipment_id_id", "shipment_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    requested_by: Mapped[str] = mapped_column(String(254))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(100))
    courier_rule: Mapped[str | None] = mapped_column(String(16))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)

    shipment: Mapped[Shipment] = relationship()


class Batch(db.Model):
    """Shipments for many orders at once; progress lives in the database (survives reloads)."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    courier_rule: Mapped[str | None] = mapped_column(String(16))
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))

    items: Mapped[list[BatchItem]] = relationship(order_by="BatchItem.id", viewonly=True)


class BatchItem(db.Model):
    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "order_pk", name="uq_batch_items_batch_order"),
        CheckConstraint(_in("state", ("pending", "succeeded", "failed")), name="state_valid"),
        Index("ix_batch_items_order_pk", "order_pk"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()


class SavedView(db.Model):
    """A named set of dashboard filters shared by the team ("Failed shipments", …)."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    query: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrackingEvent(db.Model):
    """One courier scan (or push status) of an AWB. Kept for unknown AWBs too, for review."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_tracking_events_dedupe_key"),
        # Partial indexes: a row is in one of the two, not both (pushes are the busiest writes).
        # A shipment's scans in time order (the order page, the API):
        Index(
            "ix_tracking_events_shipment_id_occurred_at",
            "shipment_id",
            "occurred_at",
            postgresql_where=text("shipment_id IS NOT NULL"),
            sqlite_where=text("shipment_id IS NOT NULL"),
        ),
        # Scans of AWBs no shipment has (yet): the review page, and adoption by the shipment
        # whose AWB it turns out to be.
        Index(
            "ix_tracking_events_unmatched_awb",
            "awb",
            "occurred_at",
            postgresql_where=text("shipment_id IS NULL"),
            sqlite_where=text("shipment_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    awb: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(80))
    activity: Mapped[str | None] = mapped_column(String(300))
    location: Mapped[str | None] = mapped_column(String(200))
    is_exception: Mapped[bool] = mapped_column(Boolean, default=False)


class Subscriber(db.Model):
    """A downstream endpoint for outbound events (from OUTBOUND_WEBHOOK_URLS or the admin)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    # None: sign with OUTBOUND_WEBHOOK_SECRET. During a rotation both signatures are sent.
    secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)  # empty: all
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16), default="admin")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Delivery(db.Model):
    """One outbound event for one subscriber; its `webhook-id` is the event's, on every try."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_event_id", "subscriber_id", name="uq_deliveries_event_sub"),
        CheckConstraint(_in("state", ("pending", "sending", "sent", "failed")), name="state_valid"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[OutboxEvent] = relationship()
    subscriber: Mapped[Subscriber] = relationship()
    attempt_log: Mapped[list[DeliveryAttempt]] = relationship(
        order_by="DeliveryAttempt.id", viewonly=True
    )


class DeliveryAttempt(db.Model):
    """Every try: time, status code, latency, the start of the answer or the error."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    response_excerpt: Mapped[str | None] = mapped_column(String(500))


NDR_ACTIONS = ("reattempt", "rto")


class NdrAction(db.Model):
    """Ops' answer to one non-delivery report, accepted by Shiprocket: one per NDR push.

    `ndr_at` is the shipment's `tracking_at` of the NDR answered; a later NDR (a new failed
    attempt) has a later time and needs an answer of its own.
    """

    __tablename__ = "ndr_actions"
    __table_args__ = (
        CheckConstraint(_in("action", NDR_ACTIONS), name="action_valid"),
        UniqueConstraint("shipment_id", "ndr_at", name="uq_ndr_actions_shipment_ndr_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    awb: Mapped[str] = mapped_column(String(40))
    ndr_at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What was sent: comments, phone, address1, address2, deferred_date.
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


APPEND_ONLY_TABLES = ("order_status_history", "order_notes", "audit_log")
