"""Job functions: thin, take ids, call fulfilment services (each runs in its own app context)."""

from __future__ import annotations

from rq import get_current_job
from rq.exceptions import DuplicateJobError

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
    """Outbox → deliveries → one delivery job each (unique per delivery and try)."""
    outbound.fan_out()
    queued = 0
    for delivery_id, attempts in outbound.due_deliveries():
        try:
            enqueue(
                "workers.jobs.deliver_event",
                delivery_id,
                queue=EVENTS,
                job_id=f"deliver-{delivery_id}-{attempts}",
                unique=True,
                job_timeout=30,
                result_ttl=60,
            )
            queued += 1
        except DuplicateJobError:
            continue  # that try is already queued or running
    return queued


def deliver_event(delivery_id: int) -> str:
    """One signed POST of one event to one subscriber."""
    return outbound.deliver(delivery_id)
