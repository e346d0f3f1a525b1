"""Shiprocket tracking pushes → tracking events, shipment tracking state, Delivered.

- The same push twice is recorded once (inbound event keyed by awb | status id | timestamp);
  every scan is kept once (keyed by awb | time | code | activity).
- A push older than the shipment's latest known state changes nothing but adds its scans:
  orders never move backwards.
- Delivered moves a shipped order to `delivered` (history `system:shiprocket`, OrderDelivered
  outbox row); RTO, lost, undelivered, damaged… are flagged as exceptions for ops.
- Unknown AWBs are kept (tracking events without a shipment) for review.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from fulfilment.db import insert_ignoring_conflicts, utcnow
from fulfilment.extensions import db
from fulfilment.models import InboundEvent, Shipment, TrackingEvent
from fulfilment.services.orders import transition
from fulfilment.states import OrderStatus
from fulfilment.tracking_schema import TrackingPush

log = logging.getLogger(__name__)

DELIVERED = 7
# NOTES §5.1 shipment statuses that need ops' attention.
EXCEPTIONS = {
    9: "RTO initiated",
    10: "RTO delivered",
    12: "Lost",
    13: "Pickup error",
    14: "RTO acknowledged",
    20: "Pickup exception",
    21: "Undelivered",
    22: "Delayed",
    24: "Destroyed",
    25: "Damaged",
    39: "Misrouted",
    40: "RTO NDR",
    41: "RTO out for delivery",
    46: "RTO in transit",
    47: "QC failed",
    75: "RTO lock",
    76: "Untraceable",
    77: "Issue related to the recipient",
}
EXCEPTION_WORDS = ("RTO", "LOST", "UNDELIVERED", "DAMAGED", "DESTROYED", "MISROUTED", "EXCEPTION")


@dataclass(frozen=True)
class PushResult:
    outcome: str  # "recorded", "duplicate", "unknown_awb", "stale"
    delivered: bool = False


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def is_exception(status_id: int | None, status: str) -> bool:
    return status_id in EXCEPTIONS or any(w in status.upper() for w in EXCEPTION_WORDS)


def record_push(push: TrackingPush) -> PushResult:
    """Stores the push and its scans, moves the shipment (and maybe the order) on. Commits."""
    dialect = db.session.get_bind().dialect.name
    push_key = _key(push.awb, push.status_id, push.at.isoformat())
    new = db.session.execute(
        insert_ignoring_conflicts(InboundEvent.__table__, dialect, ["source", "event_id"])
        .values(
            source="shiprocket",
            event_id=push_key,
            event_type="tracking",
            subject=push.awb,
            received_at=utcnow(),
            content_hash=push_key,
        )
        .returning(InboundEvent.id)
    ).scalar_one_or_none()
    if new is None:
        db.session.rollback()
        return PushResult("duplicate")

    sh = db.session.execute(select(Shipment).where(Shipment.awb == push.awb)).scalar_one_or_none()
    # Every push repeats the whole scan history; scans before the latest push we stored came
    # with that push and are stored already, so only newer ones are written.
    since = sh.tracking_at if sh is not None else None
    _store_scans(push, sh.id if sh else None, dialect, since=since)
    if sh is None:
        db.session.commit()
        log.warning("tracking push for unknown AWB %s kept for review", push.awb)
        return PushResult("unknown_awb")
    if sh.tracking_at is not None and push.at < sh.tracking_at:
        db.session.commit()  # scans kept; state untouched: never backwards
        return PushResult("stale")
    sh.tracking_status, sh.tracking_status_id, sh.tracking_at = (
        push.status[:60],
        push.status_id,
        push.at,
    )
    flagged = is_exception(push.status_id, push.status)
    sh.tracking_exception = (
        (EXCEPTIONS.get(push.status_id or -1) or push.status.title()) if flagged else None
    )
    order = sh.order
    delivered = push.status_id == DELIVERED or push.status == "DELIVERED"
    if delivered and order.status == OrderStatus.SHIPPED:
        transition(
            order,
            OrderStatus.DELIVERED,
            actor="system:shiprocket",
            details={
                "awb": push.awb,
                "delivered_at": push.at.isoformat(),
                "courier": push.courier_name or sh.courier_name,
                "shipment": {
                    "awb": sh.awb,
                    "courier_name": sh.courier_name,
                    "tracking_url": sh.tracking_url,
                },
            },
            commit=False,
        )
    db.session.commit()
    return PushResult("recorded", delivered=delivered)


def _store_scans(
    push: TrackingPush, shipment_id: int | None, dialect: str, *, since: datetime | None
) -> None:
    scans = [s for s in push.scans if since is None or s.at >= since]
    rows = [
        {
            "shipment_id": shipment_id,
            "awb": push.awb,
            "dedupe_key": _key(push.awb, s.at.isoformat(), s.code, s.activity),
            "occurred_at": s.at,
            "received_at": utcnow(),
            "status_id": s.status_id,
            "status": (s.label or s.code or "scan")[:80],
            "activity": s.activity,
            "location": s.location,
            "is_exception": is_exception(s.status_id, s.label or ""),
        }
        for s in scans
    ]
    rows.append(
        {
            "shipment_id": shipment_id,
            "awb": push.awb,
            "dedupe_key": _key(push.awb, push.at.isoformat(), "push", push.status),
            "occurred_at": push.at,
            "received_at": utcnow(),
            "status_id": push.status_id,
            "status": push.status[:80],
            "activity": None,
            "location": None,
            "is_exception": is_exception(push.status_id, push.status),
        }
    )
    # executemany of one cached statement (a multi-row VALUES is compiled anew for each row
    # count and measured slower); duplicates are skipped by the unique key.
    stmt = insert_ignoring_conflicts(TrackingEvent.__table__, dialect, ["dedupe_key"])
    db.session.execute(stmt, rows)


def tracking_events(shipment_id: int) -> list[TrackingEvent]:
    return list(
        db.session.execute(
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment_id)
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        ).scalars()
    )
