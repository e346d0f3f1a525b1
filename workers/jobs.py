"""Job functions: thin, take ids, call fulfilment services (each runs in its own app context)."""

from __future__ import annotations

from rq import get_current_job

from fulfilment.services import batches
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
