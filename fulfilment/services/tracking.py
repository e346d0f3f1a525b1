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

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    column,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.sql import Select

from fulfilment.db import insert_ignoring_conflicts, utcnow
from fulfilment.errors import ConcurrentUpdate
from fulfilment.extensions import db
from fulfilment.models import InboundEvent, Order, Shipment, TrackingEvent
from fulfilment.services.orders import transition
from fulfilment.states import OrderStatus
from fulfilment.tracking_schema import TrackingPush

log = logging.getLogger(__name__)

SOURCE = "shiprocket"
ACTOR = "system:shiprocket"
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

_EVENTS = InboundEvent.__table__
_SHIPMENTS = Shipment.__table__
_SCANS = TrackingEvent.__table__
# A scan row's fields as the PostgreSQL statement reads them from its JSON parameter.
_SCAN_FIELDS = {
    "dedupe_key": String(),
    "occurred_at": DateTime(timezone=True),
    "status_id": Integer(),
    "status": String(),
    "activity": String(),
    "location": String(),
    "is_exception": Boolean(),
    "keep": Boolean(),
}
_SCAN_COLUMNS = tuple(c for c in _SCAN_FIELDS if c != "keep")


@dataclass(frozen=True)
class PushResult:
    outcome: str  # "recorded", "duplicate", "unknown_awb", "stale"
    delivered: bool = False


@dataclass(frozen=True)
class _Applied:
    event_pk: int | None
    shipment_id: int | None
    order_pk: int | None
    updated: int | None


def _key(text: str) -> str:
    """A dedupe key: sha256 of `a|b|c…` (keys stored by earlier releases are the same)."""
    return hashlib.sha256(text.encode()).hexdigest()


_EXCEPTION_WORDS = re.compile("|".join(EXCEPTION_WORDS))


def is_exception(status_id: int | None, status: str) -> bool:
    return status_id in EXCEPTIONS or _EXCEPTION_WORDS.search(status.upper()) is not None


def record_push(push: TrackingPush) -> PushResult:
    """Stores the push and its scans, moves the shipment (and maybe the order) on. Commits.

    Database errors propagate (the webhook answers 503 and Shiprocket pushes again). A
    Delivered push that loses a race with another change to the order is replayed once.
    """
    try:
        return _record_push(push)
    except ConcurrentUpdate:  # transition() rolled back: nothing of the push was stored
        return _record_push(push)


def _record_push(push: TrackingPush) -> PushResult:
    # Tracking pushes are the busiest inbound traffic (docs/BENCHMARKS.md, "Tracking intake"):
    # SQLAlchemy Core statements built once, one statement on PostgreSQL, and for all but the
    # Delivered push no ORM session at all.
    params, scans = _params(push)
    delivered = push.status_id == DELIVERED or push.status == "DELIVERED"
    if not delivered:
        # Closing the connection rolls back what was not committed (a duplicate, an error).
        with db.engine.connect() as conn:
            row = _apply(conn, params, scans)
            if row.event_pk is not None:
                conn.commit()
        return _result(push, row, delivered=False)
    # Delivered: the order's transition (ORM) shares the push's transaction.
    row = _apply(db.session.connection(), params, scans)
    if row.event_pk is None:
        db.session.rollback()
    else:
        if row.updated is not None:
            _deliver(row.order_pk, push)
        db.session.commit()
    return _result(push, row, delivered=True)


def _apply(
    conn: Connection, params: dict[str, Any], scans: list[dict[str, Any]]
) -> _Applied | Row[Any]:
    if conn.dialect.name == "postgresql":
        # The scans travel as one JSON text (serialised in C), read by json_to_recordset.
        params["p_scans"] = json.dumps(scans, default=datetime.isoformat)
        return conn.execute(_push_statement_pg(), params).one()
    return _apply_step_by_step(conn, params, scans)


def _result(push: TrackingPush, row: _Applied | Row[Any], *, delivered: bool) -> PushResult:
    if row.event_pk is None:
        return PushResult("duplicate")
    if row.shipment_id is None:
        log.warning("tracking push for unknown AWB %s kept for review", push.awb)
        return PushResult("unknown_awb")
    if row.updated is None:
        return PushResult("stale")  # scans kept; state untouched: never backwards
    return PushResult("recorded", delivered=delivered)


def _deliver(order_pk: int, push: TrackingPush) -> None:
    """A Delivered push for a shipped order: the order becomes delivered (not committed)."""
    order = db.session.get(Order, order_pk)
    if order is None or order.status != OrderStatus.SHIPPED:
        return  # delivered already, or cancelled meanwhile: the shipment's state says the rest
    sh = order.shipment
    transition(
        order,
        OrderStatus.DELIVERED,
        actor=ACTOR,
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


def _params(push: TrackingPush) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The statement's parameters (the push, its shipment's new tracking state) and the scan
    rows: the scans, then the push's own row (`keep`: stored even when stale). Parameters are
    prefixed: one named like a column of the table an UPDATE or INSERT writes would be taken
    as a value for that column."""
    awb, at = push.awb, push.at
    when = at.isoformat()
    flagged = is_exception(push.status_id, push.status)
    rows = [
        {
            "dedupe_key": _key(f"{awb}|{scan.at.isoformat()}|{scan.code}|{scan.activity}"),
            "occurred_at": scan.at,
            "status_id": scan.status_id,
            "status": (scan.label or scan.code or "scan")[:80],
            "activity": scan.activity,
            "location": scan.location,
            "is_exception": is_exception(scan.status_id, scan.label or ""),
            "keep": False,
        }
        for scan in push.scans
    ]
    rows.append(
        {
            "dedupe_key": _key(f"{awb}|{when}|push|{push.status}"),
            "occurred_at": at,
            "status_id": push.status_id,
            "status": push.status[:80],
            "activity": None,
            "location": None,
            "is_exception": flagged,
            "keep": True,
        }
    )
    params = {
        "p_source": SOURCE,
        "p_event_type": "tracking",
        "p_push_key": _key(f"{awb}|{push.status_id}|{when}"),
        "p_awb": awb,
        "p_now": utcnow(),
        "p_at": at,
        "p_status": push.status[:60],
        "p_status_id": push.status_id,
        "p_exception": (
            (EXCEPTIONS.get(push.status_id or -1) or push.status.title())[:200] if flagged else None
        ),
    }
    return params, rows


@functools.cache
def _push_statement_pg() -> Select[Any]:
    """All of `_apply_step_by_step` in one PostgreSQL statement (one round trip):

    WITH new_event AS (INSERT inbound event ON CONFLICT DO NOTHING RETURNING id),
         shipment AS (SELECT id, order_pk, tracking_at FROM shipments WHERE awb = :awb),
         new_scans AS (INSERT INTO tracking_events SELECT … FROM unnest(:scan_…)
                       WHERE the event is new AND (keep OR not older than tracking_at)
                       ON CONFLICT (dedupe_key) DO NOTHING),
         updated AS (UPDATE shipments SET tracking… WHERE id = shipment.id AND the event is new
                     AND (tracking_at IS NULL OR tracking_at <= :at) RETURNING id)
    SELECT event_pk, shipment_id, order_pk, updated.

    The UPDATE's condition is re-checked on the row it locks, so of two concurrent pushes for
    one AWB the older can never overwrite the newer.
    """
    new_event = _insert_event("postgresql").cte("new_event")
    is_new = exists(select(new_event.c.id))
    shipment = _SHIPMENT_BY_AWB.cte("shipment")
    scans = (
        func.json_to_recordset(cast(bindparam("p_scans", type_=Text()), JSON()))
        .table_valued(*[column(name, t) for name, t in _SCAN_FIELDS.items()])
        .render_derived(name="scan", with_types=True)
    )
    newer_known = exists(select(shipment.c.id).where(shipment.c.tracking_at > scans.c.occurred_at))
    new_scans = (
        pg_insert(_SCANS)
        .from_select(
            ("shipment_id", "awb", "received_at", *_SCAN_COLUMNS),
            select(
                select(shipment.c.id).scalar_subquery(),
                bindparam("p_awb", type_=String()),
                bindparam("p_now", type_=_SCANS.c.received_at.type),
                *[scans.c[name] for name in _SCAN_COLUMNS],
            ).where(is_new, or_(scans.c.keep, ~newer_known)),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .cte("new_scans")
    )
    updated = (
        _SHIPMENTS.update()
        .where(
            _SHIPMENTS.c.id == select(shipment.c.id).scalar_subquery(),
            is_new,
            _NOT_OLDER,
        )
        .values(_tracking_values())
        .returning(_SHIPMENTS.c.id)
        .cte("updated")
    )
    return select(
        select(new_event.c.id).scalar_subquery().label("event_pk"),
        select(shipment.c.id).scalar_subquery().label("shipment_id"),
        select(shipment.c.order_pk).scalar_subquery().label("order_pk"),
        select(updated.c.id).scalar_subquery().label("updated"),
    ).add_cte(new_scans)


def _insert_event(dialect: str) -> Any:
    """INSERT the push's inbound event (the dedupe record) … ON CONFLICT DO NOTHING RETURNING id."""
    return (
        insert_ignoring_conflicts(_EVENTS, dialect, ["source", "event_id"])
        .values(
            source=bindparam("p_source"),
            event_id=bindparam("p_push_key"),
            event_type=bindparam("p_event_type"),
            subject=bindparam("p_awb"),
            received_at=bindparam("p_now", type_=_EVENTS.c.received_at.type),
            content_hash=bindparam("p_push_key"),
        )
        .returning(_EVENTS.c.id)
    )


_SHIPMENT_BY_AWB = select(_SHIPMENTS.c.id, _SHIPMENTS.c.order_pk, _SHIPMENTS.c.tracking_at).where(
    _SHIPMENTS.c.awb == bindparam("p_awb")
)
# The push is not older than the shipment's latest known state: it may move it on.
_NOT_OLDER = or_(_SHIPMENTS.c.tracking_at.is_(None), _SHIPMENTS.c.tracking_at <= bindparam("p_at"))


def _tracking_values() -> dict[str, Any]:
    return {
        "tracking_status": bindparam("p_status"),
        "tracking_status_id": bindparam("p_status_id", type_=Integer()),
        "tracking_at": bindparam("p_at", type_=_SHIPMENTS.c.tracking_at.type),
        "tracking_exception": bindparam("p_exception", type_=String()),
        "updated_at": bindparam("p_now", type_=_SHIPMENTS.c.updated_at.type),
    }


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The step-by-step statements (SQLite), built once per dialect."""
    return {
        "event": _insert_event(dialect),
        "shipment": _SHIPMENT_BY_AWB,
        # executemany of one cached statement (a multi-row VALUES is compiled anew for each
        # row count); scans stored already are skipped by the unique key.
        "scans": insert_ignoring_conflicts(_SCANS, dialect, ["dedupe_key"]),
        "update": _SHIPMENTS.update()
        .where(
            _SHIPMENTS.c.id == bindparam("p_shipment_id"),
            _NOT_OLDER,
        )
        .values(_tracking_values())
        .returning(_SHIPMENTS.c.id),
    }


def _apply_step_by_step(
    conn: Connection, params: dict[str, Any], scans: list[dict[str, Any]]
) -> _Applied | Row[Any]:
    """`_push_statement_pg` as separate statements, in the same order."""
    stmt = _statements(conn.dialect.name)
    event_pk = conn.execute(stmt["event"], params).scalar()
    if event_pk is None:
        return _Applied(None, None, None, None)
    sh = conn.execute(stmt["shipment"], params).first()
    since = sh.tracking_at if sh is not None else None
    common = {
        "shipment_id": sh.id if sh is not None else None,
        "awb": params["p_awb"],
        "received_at": params["p_now"],
    }
    conn.execute(
        stmt["scans"],
        [
            {**common, **{name: scan[name] for name in _SCAN_COLUMNS}}
            for scan in scans
            if scan["keep"] or since is None or scan["occurred_at"] >= since
        ],
    )
    if sh is None:
        return _Applied(event_pk, None, None, None)
    updated = conn.execute(stmt["update"], {**params, "p_shipment_id": sh.id}).scalar()
    return _Applied(event_pk, sh.id, sh.order_pk, updated)


def tracking_events(shipment_id: int) -> list[TrackingEvent]:
    return list(
        db.session.execute(
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment_id)
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        ).scalars()
    )


def adopt_unmatched_scans(shipment_id: int, awb: str) -> int:
    """Scans kept for `awb` while no shipment had it become the shipment's. Not committed.

    Shiprocket can push as soon as it assigns an AWB, before our job has stored that AWB: the
    push is kept as unmatched, and this links it once the AWB is ours. The shipment's tracking
    state itself moves on with the next push (Shiprocket pushes every status change).
    """
    result = db.session.execute(
        update(TrackingEvent)
        .where(TrackingEvent.awb == awb, TrackingEvent.shipment_id.is_(None))
        .values(shipment_id=shipment_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        log.info(
            "%d earlier tracking events for AWB %s linked to its shipment", result.rowcount, awb
        )
    return result.rowcount


@dataclass(frozen=True)
class UnmatchedAwb:
    """Tracking Shiprocket pushed for an AWB none of our shipments has."""

    awb: str
    events: int
    first_received: datetime
    last_received: datetime
    latest_status: str
    latest_at: datetime
    exception: bool


def unmatched_awbs(limit: int = 200) -> list[UnmatchedAwb]:
    """The review list: AWBs with unmatched tracking events, the most recently pushed first."""
    te = TrackingEvent
    unmatched = te.shipment_id.is_(None)
    groups = db.session.execute(
        select(
            te.awb,
            func.count().label("events"),
            func.min(te.received_at).label("first_received"),
            func.max(te.received_at).label("last_received"),
        )
        .where(unmatched)
        .group_by(te.awb)
        .order_by(func.max(te.received_at).desc(), te.awb)
        .limit(limit)
    ).all()
    if not groups:
        return []
    ranked = (
        select(
            te.awb,
            te.status,
            te.occurred_at,
            te.is_exception,
            func.row_number()
            .over(partition_by=te.awb, order_by=(te.occurred_at.desc(), te.id.desc()))
            .label("n"),
        )
        .where(unmatched, te.awb.in_([g.awb for g in groups]))
        .subquery()
    )
    latest = {row.awb: row for row in db.session.execute(select(ranked).where(ranked.c.n == 1))}
    return [
        UnmatchedAwb(
            awb=g.awb,
            events=g.events,
            first_received=g.first_received,
            last_received=g.last_received,
            latest_status=latest[g.awb].status,
            latest_at=latest[g.awb].occurred_at,
            exception=latest[g.awb].is_exception,
        )
        for g in groups
    ]
