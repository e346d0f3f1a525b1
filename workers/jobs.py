"""Job functions: thin, take ids, call fulfilment services (each runs in its own app context)."""

from __future__ import annotations

import uuid

from redis.exceptions import RedisError
from rq import get_current_job

from fulfilment.queues import EVENTS, enqueue
from fulfilment.services import batches, outbound
from fulfilment.services.shipments import run_shipment, sweep_stalled_shipments


def create_shipment(shipment_id: int) -> str:
    """Resume-or-run the shipment's remaining Shiprocket steps (idempotent)."""
    job = get_current_job()
    job_id = job.id if job is not None else f"inline-{shipment_id}"
    final_try = job is None or not job.retries_left
    return run_shipment(shipment_id, job_id=job_id, final_try=final_try)


def sweep_shipments() -> int:
    """Re-queue shipments left mid-way by a killed worker or a lost job."""
    return len(sweep_stalled_shipments())


def start_batch(batch_id: int) -> int:
    """Fan a batch out: one shipment job per order."""
    return batches.start_batch(batch_id)


def relay_outbox() -> int:
    """Outbox → deliveries → jobs of up to 25 claimed deliveries, one subscriber each."""
    outbound.fan_out()
    batches = outbound.claim_due()
    for n, ids in enumerate(batches):
        try:
            enqueue(
                "workers.jobs.deliver_events",
                ids,
                queue=EVENTS,
                job_id=f"deliver-{ids[0]}-{len(ids)}-{uuid.uuid4().hex[:8]}",
                job_timeout=30 + 12 * len(ids),  # 10 s per POST at the very worst
                result_ttl=60,
            )
        except RedisError:
            outbound.release([i for rest in batches[n:] for i in rest])  # due again now
            raise
    return sum(len(ids) for ids in batches)


def deliver_events(delivery_ids: list[int]) -> dict[str, int]:
    """Signed POSTs of claimed deliveries (the relay claimed them for this job)."""
    return outbound.deliver_claimed(delivery_ids)


def deliver_event(delivery_id: int) -> str:
    """One signed POST of one event to one subscriber."""
    return outbound.deliver(delivery_id)
