"""Shipments through Shiprocket: request, run step by step (resumable), fail visibly, sweep.

No duplicates, ever:
- one `shipments` row per order (unique order_pk) with a stable channel order id, so a repeated
  create finds the same Shiprocket order (Shiprocket echoes an existing channel order id);
- a database lease: one job works on a shipment at a time (conditional UPDATE), renewed at each
  step; a killed worker's lease expires and the sweep resumes the shipment elsewhere;
- every Shiprocket id is committed as soon as it is known, so a re-run skips what is done;
- "AWB is already assigned" recovers the AWB instead of failing;
- a Shiprocket copy found cancelled is re-created under a suffixed channel order id (-r2, -r3…),
  recorded in the audit log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from fulfilment.carriers import choose_carrier, option_to_json
from fulfilment.db import utcnow
from fulfilment.errors import ConcurrentUpdate, DomainError, InvalidInput, InvalidTransition
from fulfilment.extensions import db
from fulfilment.models import BatchItem, Order, Shipment, ShipmentAttempt
from fulfilment.queues import BULK, SHIPMENTS, enqueue
from fulfilment.services.audit import record_audit
from fulfilment.services.flags import require_enabled
from fulfilment.services.orders import get_order, transition
from fulfilment.services.shiprocket_gateway import shiprocket
from fulfilment.services.tracking import adopt_unmatched_scans
from fulfilment.shipping_payload import PackageDefaults, build_adhoc_order, delivery_address
from fulfilment.shiprocket.types import (
    AwbAlreadyAssigned,
    CourierOption,
    PermanentShiprocketError,
    RetryableShiprocketError,
    ShiprocketError,
    tracking_url,
)
from fulfilment.states import OrderStatus

log = logging.getLogger(__name__)

JOB_PATH = "workers.jobs.create_shipment"
ACTIVE = ("requested", "in_progress")
RETRY = Retry(max=3, interval=[15, 60, 300])
MAX_RECREATES = 5


class ShipmentBusy(DomainError):
    code = "shipment_in_progress"

    def __init__(self, order_id: str):
        super().__init__(
            f"the shipment of {order_id} is being generated right now; try again in a minute"
        )


class CancellationRefused(DomainError):
    code = "shiprocket_refused"

    def __init__(self, order_id: str, reason: str):
        super().__init__(f"Shiprocket refused to cancel {order_id}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class ShipmentRequest:
    order_id: str
    shipment_id: int
    job_id: str


@dataclass(frozen=True)
class CourierQuote:
    options: list[CourierOption]
    recommended_id: int | None
    chosen_id: int
    rule: str
    reason: str


def failure_message(reason: str) -> str:
    """The sentence ops see (feature spec 2.4)."""
    return f"Shipment generation failed: {reason}. Please verify address and try again."


def _defaults() -> PackageDefaults:
    cfg = current_app.config
    return PackageDefaults(
        cfg["DEFAULT_PACKAGE_WEIGHT_KG"],
        cfg["DEFAULT_PACKAGE_LENGTH_CM"],
        cfg["DEFAULT_PACKAGE_BREADTH_CM"],
        cfg["DEFAULT_PACKAGE_HEIGHT_CM"],
    )


def _map(order: Order, channel_order_id: str) -> Any:
    return build_adhoc_order(
        order,
        channel_order_id=channel_order_id,
        pickup_location=current_app.config["SHIPROCKET_PICKUP_LOCATION"],
        defaults=_defaults(),
    )


def _lease_active(sh: Shipment, now: datetime | None = None) -> bool:
    return sh.lease_expires_at is not None and sh.lease_expires_at > (now or utcnow())


# ---------------------------------------------------------------- requesting a shipment


def request_shipment(
    order_id: str,
    *,
    actor: str,
    courier_id: int | None = None,
    courier_rule: str | None = None,
    batch_id: int | None = None,
) -> ShipmentRequest:
    """Queues shipment generation for a `processing` order. Commits, then enqueues.

    Validates the order's Shiprocket payload first (InvalidInput names the field to fix, no call
    is made). A shipment already being generated is not queued twice: its request is returned.
    """
    require_enabled()
    order = get_order(order_id)
    if order.status != OrderStatus.PROCESSING:
        raise InvalidTransition(order_id, order.status, OrderStatus.SHIPPED.value)
    _map(order, order.order_id)  # raises InvalidInput before any Shiprocket call

    sh = order.shipment
    if sh is not None and sh.state in ACTIVE and _lease_active(sh):
        if batch_id is not None:
            raise ShipmentBusy(order_id)
        running = sh.attempt_log[-1] if sh.attempt_log else None
        return ShipmentRequest(order_id, sh.id, (running.job_id if running else "") or "")
    if sh is not None and sh.state in ("completed", "cancelled"):
        raise InvalidTransition(order_id, order.status, OrderStatus.SHIPPED.value)
    if sh is None:
        sh = Shipment(order_pk=order.id, channel_order_id=order.order_id, state="requested")
        db.session.add(sh)
    if not sh.awb and (courier_id is not None or sh.state == "failed"):
        sh.courier_id = sh.courier_name = sh.courier_rate = None  # choose again
        sh.courier_options = None
        sh.choice_reason = None
    sh.state = "requested"
    sh.requested_courier_id = courier_id
    sh.requested_by = actor
    sh.failure_reason = None
    sh.attempts = (sh.attempts or 0) + 1
    attempt = ShipmentAttempt(
        shipment=sh,
        requested_by=actor,
        outcome="queued",
        courier_rule=courier_rule,
        batch_id=batch_id,
    )
    db.session.add(attempt)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent first request made the row: use it
        db.session.rollback()
        return request_shipment(
            order_id,
            actor=actor,
            courier_id=courier_id,
            courier_rule=courier_rule,
            batch_id=batch_id,
        )
    attempt.job_id = f"ship-{sh.id}-{attempt.id}"
    db.session.commit()
    _enqueue(sh.id, attempt.job_id, queue=BULK if batch_id is not None else SHIPMENTS)
    log.info("shipment requested by %s", actor, extra={"order_id": order_id})
    return ShipmentRequest(order_id, sh.id, attempt.job_id)


def _enqueue(shipment_id: int, job_id: str, *, queue: str = SHIPMENTS) -> None:
    """After the commit. If Redis is down the row stays `requested` and the sweep queues it.

    Shipments asked for one at a time go to `shipments`, batches to `bulk`: workers take
    `shipments` first, so an order shipped from its page never waits behind a batch."""
    try:
        enqueue(
            JOB_PATH,
            shipment_id,
            queue=queue,
            job_id=job_id,
            unique=True,
            retry=RETRY,
            job_timeout=300,
        )
    except RedisError as exc:
        log.warning("could not enqueue %s (%s); the sweep will", job_id, type(exc).__name__)


def courier_quote(order_id: str) -> CourierQuote:
    """Shiprocket's courier options for the order, with the automatic choice marked."""
    require_enabled()
    order = get_order(order_id)
    _map(order, order.order_id)
    quote = _serviceability(order)
    choice = choose_carrier(
        quote.options,
        rule=current_app.config["CARRIER_RULE"],
        recommended_id=quote.recommended_courier_id,
    )
    return CourierQuote(
        quote.options,
        quote.recommended_courier_id,
        choice.option.courier_id,
        choice.rule,
        choice.reason,
    )


def _serviceability(order: Order) -> Any:
    d = _defaults()
    return shiprocket().serviceability(
        pickup_postcode=current_app.config["SHIPROCKET_PICKUP_POSTCODE"],
        delivery_postcode=order.ship_pincode,
        weight_kg=order.weight_kg or d.weight_kg,
        cod=order.payment_method == "cod",
        declared_value=order.total,
        length_cm=order.length_cm or d.length_cm,
        breadth_cm=order.breadth_cm or d.breadth_cm,
        height_cm=order.height_cm or d.height_cm,
    )


# ---------------------------------------------------------------- running the steps


def _take_lease(shipment_id: int, owner: str) -> bool:
    now = utcnow()
    seconds = current_app.config["SHIPMENT_LEASE_SECONDS"]
    result = db.session.execute(
        update(Shipment)
        .where(
            Shipment.id == shipment_id,
            Shipment.state.in_(ACTIVE),
            or_(
                Shipment.lease_expires_at.is_(None),
                Shipment.lease_expires_at < now,
                Shipment.lease_owner == owner,
            ),
        )
        .values(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=seconds),
            state="in_progress",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _save(sh: Shipment) -> None:
    """Commit a step's result and renew the lease."""
    seconds = current_app.config["SHIPMENT_LEASE_SECONDS"]
    sh.lease_expires_at = utcnow() + timedelta(seconds=seconds)
    db.session.commit()


def _current_attempt(sh: Shipment, job_id: str) -> ShipmentAttempt:
    attempt = db.session.execute(
        select(ShipmentAttempt)
        .where(ShipmentAttempt.shipment_id == sh.id)
        .order_by(ShipmentAttempt.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if attempt is None or attempt.outcome in ("succeeded", "failed"):
        attempt = ShipmentAttempt(shipment_id=sh.id, requested_by="system:sweep")
        db.session.add(attempt)
    attempt.outcome = "running"
    attempt.job_id = job_id
    return attempt


def run_shipment(shipment_id: int, *, job_id: str, final_try: bool = True) -> str:
    """Does the remaining steps of one shipment. Returns "shipped", "failed" or "skipped".

    Permanent problems (Shiprocket's 4xx, refusals, invalid data, no courier) fail the attempt
    visibly and return normally; transient ones re-raise for RQ's retry, except on the final try.
    """
    # The job commits after every step; its own rows need no reload after each commit (nobody
    # else writes them while it holds the lease). This session lives for this job only.
    db.session().expire_on_commit = False
    if not _take_lease(shipment_id, job_id):
        log.info("shipment %s is done or held by another job; skipping", shipment_id)
        return "skipped"
    sh = db.session.get(Shipment, shipment_id)
    assert sh is not None
    order = sh.order
    attempt = _current_attempt(sh, job_id)
    _save(sh)
    client = shiprocket()
    try:
        _run_steps(sh, order, attempt, client)
        return "shipped"
    except (PermanentShiprocketError, InvalidInput) as exc:
        _fail(sh, attempt, _reason(exc), answer=getattr(exc, "body", None))
        return "failed"
    except RetryableShiprocketError as exc:
        if final_try:
            reason = f"Shiprocket did not answer after several tries ({exc.message})"
            _fail(sh, attempt, reason, answer=exc.body)
            return "failed"
        attempt.outcome = "retrying"
        attempt.reason = exc.message
        sh.lease_owner = None
        sh.lease_expires_at = None
        sh.state = "requested"
        db.session.commit()
        raise


AMBIGUOUS_PASSES = 3


def _run_steps(sh: Shipment, order: Order, attempt: ShipmentAttempt, client: Any) -> None:
    """The steps, each skipped when already done. After an ambiguous answer (the request may
    have taken effect: read timeout, 5xx on a POST) the steps are simply run again: create looks
    the order up by channel id first, and a second AWB request recovers the assigned AWB."""
    look_up = sh.attempts > 1  # an earlier attempt may have created it without our knowing
    for pass_no in range(1, AMBIGUOUS_PASSES + 1):
        try:
            _ensure_sr_order(sh, order, client, look_up_first=look_up)
            _push_address(sh, order, client)
            _ensure_courier(sh, order, client, rule=attempt.courier_rule)
            _ensure_awb(sh, client)
            _ensure_pickup(sh, client)
            _ensure_label(sh, client)
            _complete(sh, order, attempt)
            return
        except RetryableShiprocketError as exc:
            if not exc.ambiguous or pass_no == AMBIGUOUS_PASSES:
                raise
            db.session.rollback()
            log.warning(
                "ambiguous answer from %s (%s); resuming the steps",
                exc.endpoint,
                exc.message,
                extra={"order_id": order.order_id},
            )
            look_up = True


def _reason(exc: Exception) -> str:
    if isinstance(exc, InvalidInput) and exc.fields:
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    if isinstance(exc, ShiprocketError):
        return exc.message
    return str(exc)


def _ensure_sr_order(sh: Shipment, order: Order, client: Any, *, look_up_first: bool) -> None:
    if sh.sr_order_id is not None:
        return
    found = client.find_order_by_channel_id(sh.channel_order_id) if look_up_first else None
    for _ in range(MAX_RECREATES):
        if found is not None and not found.is_cancelled:
            created = found
            break
        found = None
        created = client.create_adhoc_order(_map(order, sh.channel_order_id).payload)
        if not created.is_cancelled:
            break
        old = sh.channel_order_id
        sh.channel_order_id = _next_channel_id(order.order_id, old)
        record_audit(
            actor="system:shiprocket",
            action="shipment.recreate",
            entity_type="order",
            entity_id=order.order_id,
            details={
                "reason": f"Shiprocket's order {created.sr_order_id} for {old} is cancelled",
                "old_channel_order_id": old,
                "new_channel_order_id": sh.channel_order_id,
            },
        )
        _save(sh)
    else:
        raise PermanentShiprocketError("Shiprocket keeps answering with cancelled orders")
    sh.sr_order_id = created.sr_order_id
    sh.sr_shipment_id = created.shipment_id
    if created.awb_code:
        sh.awb = created.awb_code
        sh.courier_id = created.courier_company_id
        sh.courier_name = created.courier_name
        sh.tracking_url = tracking_url(created.awb_code)
        adopt_unmatched_scans(sh.id, created.awb_code)
    _save(sh)


def _next_channel_id(base: str, current: str) -> str:
    n = int(current.rsplit("-r", 1)[1]) + 1 if current != base and "-r" in current else 2
    return f"{base}-r{n}"


def _push_address(sh: Shipment, order: Order, client: Any) -> None:
    if not sh.address_sync_pending or sh.sr_order_id is None:
        return
    client.update_delivery_address(sh.sr_order_id, delivery_address(order))
    sh.address_sync_pending = False
    _save(sh)


def _ensure_courier(sh: Shipment, order: Order, client: Any, *, rule: str | None) -> None:
    if sh.courier_id is not None:
        return
    quote = _serviceability(order)
    choice = choose_carrier(
        quote.options,
        rule=rule or current_app.config["CARRIER_RULE"],
        recommended_id=quote.recommended_courier_id,
        override_id=sh.requested_courier_id,
        actor=sh.requested_by,
    )
    sh.courier_options = [
        {**option_to_json(o), "recommended": o.courier_id == quote.recommended_courier_id}
        for o in quote.options
    ]
    sh.courier_id = choice.option.courier_id
    sh.courier_name = choice.option.name
    sh.courier_rate = choice.option.rate
    sh.choice_reason = choice.reason
    _save(sh)


def _ensure_awb(sh: Shipment, client: Any) -> None:
    if sh.awb:
        return
    try:
        result = client.assign_awb(sh.sr_shipment_id, sh.courier_id)
        awb, courier_id, courier_name = result.awb, result.courier_id, result.courier_name
        sh.pickup_scheduled_at = result.pickup_scheduled_date
    except AwbAlreadyAssigned:
        info = client.get_shipment(sh.sr_shipment_id)
        if not info.awb:
            raise PermanentShiprocketError(
                "Shiprocket says an AWB is assigned but shows none"
            ) from None
        awb, courier_id, courier_name = info.awb, sh.courier_id, info.courier_name
        log.info("recovered AWB %s already assigned", awb, extra={"order_id": sh.order.order_id})
    sh.awb = awb
    sh.courier_id = courier_id or sh.courier_id
    sh.courier_name = courier_name or sh.courier_name
    sh.tracking_url = tracking_url(awb)
    adopt_unmatched_scans(sh.id, awb)
    _save(sh)


def _ensure_pickup(sh: Shipment, client: Any) -> None:
    if sh.pickup_token:
        return
    pickup = client.generate_pickup(sh.sr_shipment_id)
    sh.pickup_token = pickup.token_number or "scheduled"
    sh.pickup_scheduled_at = pickup.scheduled_date or sh.pickup_scheduled_at
    _save(sh)


def _ensure_label(sh: Shipment, client: Any) -> None:
    if sh.label_url:
        return
    sh.label_url = client.generate_label(sh.sr_shipment_id).label_url
    _save(sh)


def shipment_summary(sh: Shipment) -> dict[str, Any]:
    return {
        "awb": sh.awb,
        "courier_id": sh.courier_id,
        "courier_name": sh.courier_name,
        "tracking_url": sh.tracking_url,
        "label_url": sh.label_url,
        "pickup_scheduled_at": sh.pickup_scheduled_at,
        "shiprocket_order_id": sh.sr_order_id,
        "shiprocket_shipment_id": sh.sr_shipment_id,
        "channel_order_id": sh.channel_order_id,
    }


def _complete(sh: Shipment, order: Order, attempt: ShipmentAttempt) -> None:
    """Shipped: history row (AWB, courier, tracking link) and OrderShipped outbox, one commit."""
    notes = _map(order, sh.channel_order_id).notes
    sh.state = "completed"
    sh.lease_owner = None
    sh.lease_expires_at = None
    attempt.outcome = "succeeded"
    attempt.finished_at = utcnow()
    details: dict[str, Any] = {
        "awb": sh.awb,
        "courier": sh.courier_name,
        "tracking_url": sh.tracking_url,
        "label_url": sh.label_url,
        "pickup_scheduled_at": sh.pickup_scheduled_at,
        "courier_choice": sh.choice_reason,
        "shipment": shipment_summary(sh),
        "via": "system:worker",
    }
    if notes:
        details["notes"] = notes
    _settle_batch_item(attempt, order.id, "succeeded", f"AWB {sh.awb}")
    transition(order, OrderStatus.SHIPPED, actor=sh.requested_by, details=details)
    log.info("shipped with AWB %s", sh.awb, extra={"order_id": order.order_id})


def _settle_batch_item(attempt: ShipmentAttempt, order_pk: int, state: str, reason: str) -> None:
    """Record the outcome on the batch that asked for this attempt (same transaction)."""
    if attempt.batch_id is None:
        return
    db.session.execute(
        update(BatchItem)
        .where(BatchItem.batch_id == attempt.batch_id, BatchItem.order_pk == order_pk)
        .values(state=state, reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _fail(sh: Shipment, attempt: ShipmentAttempt, reason: str, *, answer: Any = None) -> None:
    sh.state = "failed"
    sh.failure_reason = reason
    sh.lease_owner = None
    sh.lease_expires_at = None
    attempt.outcome = "failed"
    attempt.reason = reason
    attempt.finished_at = utcnow()
    _settle_batch_item(attempt, sh.order_pk, "failed", reason)
    # Let open dashboards see the failure: it changes what the order shows, not its status.
    db.session.execute(
        update(Order)
        .where(Order.id == sh.order_pk)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.warning(
        "shipment failed: %s; Shiprocket answered: %.500s",
        reason,
        json.dumps(answer, default=str) if answer is not None else "-",
        extra={"order_id": sh.order.order_id},
    )


# ---------------------------------------------------------------- sweep


def sweep_stalled_shipments() -> list[int]:
    """Re-queues shipments left mid-way (worker killed, Redis lost the job). Commits nothing.

    A shipment is stalled when it is requested or in progress, nobody holds its lease, and it
    has not moved for SHIPMENT_SWEEP_SECONDS. The lease guards against a double run.
    """
    now = utcnow()
    quiet = now - timedelta(seconds=current_app.config["SHIPMENT_SWEEP_SECONDS"])
    ids = list(
        db.session.execute(
            select(Shipment.id).where(
                Shipment.state.in_(ACTIVE),
                or_(Shipment.lease_expires_at.is_(None), Shipment.lease_expires_at < now),
                Shipment.updated_at < quiet,
            )
        ).scalars()
    )
    db.session.rollback()
    for shipment_id in ids:
        _enqueue(shipment_id, f"ship-{shipment_id}-sweep-{int(now.timestamp())}")
    if ids:
        log.warning("sweep re-queued stalled shipments %s", ids)
    return ids


# ---------------------------------------------------------------- corrections and cancellation


def update_shipping_address(
    order_id: str, address: Any, *, actor: str, expected_version: int | None = None
) -> Order:
    """Corrects the address of an order not yet given an AWB; audited; commits.

    Where Shiprocket already has the order, the change is pushed there by the next shipment
    attempt (before a courier is chosen), so the retry ships to the corrected address.
    """
    require_enabled()
    order = get_order(order_id)
    if expected_version is not None and expected_version != order.version:
        raise ConcurrentUpdate(order_id)
    if order.status not in (OrderStatus.PLACED, OrderStatus.PROCESSING):
        raise InvalidInput(
            "address is fixed once shipped", {"status": [f"order is {order.status}"]}
        )
    sh = order.shipment
    if sh is not None and sh.awb:
        raise InvalidInput(
            "an AWB is assigned", {"awb": ["cancel the shipment to change the address"]}
        )
    if sh is not None and sh.state in ACTIVE and _lease_active(sh):
        raise ShipmentBusy(order_id)
    fields = {
        "ship_line1": address.line1,
        "ship_line2": address.line2,
        "ship_city": address.city,
        "ship_state": address.state,
        "ship_pincode": address.pincode,
    }
    before = {k: getattr(order, k) for k in fields}
    for key, value in fields.items():
        setattr(order, key, value)
    if sh is not None:
        sh.address_sync_pending = sh.sr_order_id is not None
        sh.courier_id = sh.courier_name = sh.courier_rate = None
        sh.courier_options = None
    record_audit(
        actor=actor,
        action="order.address",
        entity_type="order",
        entity_id=order_id,
        details={"from": before, "to": fields},
    )
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise ConcurrentUpdate(order_id) from None
    return order


def cancel_order(
    order_id: str, *, actor: str, reason: str, confirmed_by_hand: bool = False
) -> Order:
    """Cancels the order, and its Shiprocket order/shipment first where one exists.

    If Shiprocket refuses, the order stays as it is, the refusal is audited and
    CancellationRefused carries the reason. `confirmed_by_hand` (shipped orders only) records
    that ops cancelled the shipment in Shiprocket's panel themselves.
    """
    require_enabled()
    if not (reason or "").strip():
        raise InvalidInput("a reason is required", {"reason": ["must not be blank"]})
    order = get_order(order_id)
    if order.status not in (OrderStatus.PLACED, OrderStatus.PROCESSING, OrderStatus.SHIPPED):
        raise InvalidTransition(order_id, order.status, OrderStatus.CANCELLED.value)
    sh = order.shipment
    details: dict[str, Any] = {"reason": reason.strip()}
    if sh is not None and sh.state in ACTIVE and _lease_active(sh):
        raise ShipmentBusy(order_id)
    if sh is not None and sh.sr_order_id is not None and sh.state != "cancelled":
        if confirmed_by_hand:
            details["shiprocket"] = f"cancelled in Shiprocket by hand, confirmed by {actor}"
        else:
            _cancel_at_shiprocket(order_id, sh, actor)
            details["shiprocket"] = f"Shiprocket order {sh.sr_order_id} cancelled" + (
                f" (AWB {sh.awb})" if sh.awb else ""
            )
        sh.state = "cancelled"
    elif order.status == OrderStatus.SHIPPED and not confirmed_by_hand:
        raise InvalidInput("no Shiprocket shipment to cancel", {"confirmed_by_hand": ["required"]})
    return transition(order, OrderStatus.CANCELLED, actor=actor, details=details)


def _cancel_at_shiprocket(order_id: str, sh: Shipment, actor: str) -> None:
    try:
        shiprocket().cancel_orders([sh.sr_order_id])
    except ShiprocketError as exc:
        db.session.rollback()
        record_audit(
            actor=actor,
            action="order.cancel_refused",
            entity_type="order",
            entity_id=order_id,
            details={"shiprocket": exc.message, "status_code": exc.status_code},
        )
        db.session.commit()
        raise CancellationRefused(order_id, exc.message) from None
