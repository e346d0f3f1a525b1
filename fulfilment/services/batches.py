"""Shipments for many orders: one batch, one job per order fanned out to the workers.

Progress is counted from `batch_items` in the database, so a reloaded page (or another user)
sees the same "4 of 5 shipments created" and the failures with their reasons.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select

from fulfilment.config import CARRIER_RULES
from fulfilment.errors import DomainError, InvalidInput, OrderNotFound
from fulfilment.extensions import db
from fulfilment.models import Batch, BatchItem, Order
from fulfilment.queues import DEFAULT, enqueue
from fulfilment.services.flags import require_enabled
from fulfilment.services.shipments import request_shipment

log = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass
class BatchProgress:
    batch_id: int
    total: int
    succeeded: int
    failed: int
    pending: int
    created_by: str
    failures: list[dict[str, str]] = field(default_factory=list)
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "pending": self.pending,
            "done": self.done,
            "failures": self.failures,
        }


def create_batch(
    order_ids: list[str],
    *,
    actor: str,
    courier_rule: str | None = None,
    retry_of: int | None = None,
) -> Batch:
    """Records the batch and its orders (pending), commits, then queues the fan-out job."""
    require_enabled()
    ids = list(dict.fromkeys(i.strip() for i in order_ids if i and i.strip()))
    if not ids:
        raise InvalidInput("no orders", {"order_ids": ["list at least one order id"]})
    if len(ids) > MAX_BATCH:
        raise InvalidInput("too many orders", {"order_ids": [f"at most {MAX_BATCH} per batch"]})
    if courier_rule is not None and courier_rule not in CARRIER_RULES:
        raise InvalidInput(
            "unknown rule", {"courier_rule": [f"must be one of {', '.join(CARRIER_RULES)}"]}
        )
    found = dict(
        db.session.execute(select(Order.order_id, Order.id).where(Order.order_id.in_(ids))).all()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise OrderNotFound(", ".join(missing))
    batch = Batch(created_by=actor, courier_rule=courier_rule, retry_of=retry_of)
    db.session.add(batch)
    db.session.flush()
    db.session.add_all(BatchItem(batch_id=batch.id, order_pk=found[i]) for i in ids)
    db.session.commit()
    try:
        enqueue("workers.jobs.start_batch", batch.id, queue=DEFAULT, job_id=f"batch-{batch.id}")
    except RedisError as exc:
        log.warning("batch %s queued in the database only: %s", batch.id, type(exc).__name__)
        start_batch(batch.id)  # fall back to fanning out here; each order's job waits in the DB
    return batch


def start_batch(batch_id: int) -> int:
    """Requests a shipment for every pending order of the batch (each commits and enqueues)."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise InvalidInput("unknown batch", {"batch_id": [f"no batch {batch_id}"]})
    rows = db.session.execute(
        select(BatchItem.id, Order.order_id)
        .join(Order, Order.id == BatchItem.order_pk)
        .where(BatchItem.batch_id == batch_id, BatchItem.state == "pending")
    ).all()
    started = 0
    for item_id, order_id in rows:
        try:
            request_shipment(
                order_id, actor=batch.created_by, courier_rule=batch.courier_rule, batch_id=batch_id
            )
            started += 1
        except DomainError as exc:
            db.session.rollback()
            item = db.session.get(BatchItem, item_id)
            item.state, item.reason = "failed", str(exc)
            db.session.commit()
    return started


MAX_ID = 2**63 - 1  # BIGINT; a larger id cannot exist (and would overflow the driver)


def batch_progress(batch_id: int) -> BatchProgress:
    batch = db.session.get(Batch, batch_id) if 0 < batch_id <= MAX_ID else None
    if batch is None:
        raise BatchNotFound(batch_id)
    rows = db.session.execute(
        select(BatchItem.state, BatchItem.reason, Order.order_id)
        .join(Order, Order.id == BatchItem.order_pk)
        .where(BatchItem.batch_id == batch_id)
        .order_by(BatchItem.id)
    ).all()
    counts = {"pending": 0, "succeeded": 0, "failed": 0}
    failures = []
    for state, reason, order_id in rows:
        counts[state] += 1
        if state == "failed":
            failures.append({"order_id": order_id, "reason": reason or ""})
    return BatchProgress(
        batch_id=batch_id,
        total=len(rows),
        succeeded=counts["succeeded"],
        failed=counts["failed"],
        pending=counts["pending"],
        created_by=batch.created_by,
        failures=failures,
        done=counts["pending"] == 0,
    )


def retry_failed(batch_id: int, *, actor: str) -> Batch:
    """A new batch with only the failed orders of `batch_id`."""
    progress = batch_progress(batch_id)
    if not progress.failures:
        raise InvalidInput("nothing to retry", {"batch_id": ["no failed orders in this batch"]})
    batch = db.session.get(Batch, batch_id)
    return create_batch(
        [f["order_id"] for f in progress.failures],
        actor=actor,
        courier_rule=batch.courier_rule if batch else None,
        retry_of=batch_id,
    )


class BatchNotFound(DomainError):
    code = "not_found"

    def __init__(self, batch_id: int):
        super().__init__(f"batch {batch_id} not found")
