"""Batches: one job per order fanned out to a real worker; progress from the database."""

from __future__ import annotations

from tests.admin_helpers import bearer, user_with_token
from tests.shipping_helpers import load, place, place_processing, run_worker


def test_batch_of_five_with_one_failure_reports_four_of_five_and_the_reason(ship_app, sandbox):
    ids = [place_processing(ship_app, f"ORD-B{n}") for n in range(4)]
    ids.append(place_processing(ship_app, "ORD-B-BAD", pincode="111111"))
    client = ship_app.test_client()
    headers = bearer(user_with_token(ship_app, "ops@example.in", "ops"))

    created = client.post("/api/v1/batches", json={"order_ids": ids}, headers=headers)
    batch_id = created.get_json()["batch_id"]
    before = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
    run_worker(ship_app)  # fan-out job, then one job per order
    after = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()

    assert created.status_code == 202
    assert before["total"] == 5 and before["pending"] == 5
    assert {k: after[k] for k in ("total", "succeeded", "failed", "pending")} == {
        "total": 5,
        "succeeded": 4,
        "failed": 1,
        "pending": 0,
    }
    assert after["failures"] == [{"order_id": "ORD-B-BAD", "reason": "no courier serves 111111"}]
    assert {load(ship_app, i)["status"] for i in ids[:4]} == {"shipped"}


def test_batch_marks_orders_that_cannot_ship_as_failed_with_the_reason(ship_app, sandbox):
    place(ship_app, "ORD-B-PLACED")  # not processing
    client = ship_app.test_client()
    headers = bearer(user_with_token(ship_app, "ops@example.in", "ops"))

    batch_id = client.post(
        "/api/v1/batches", json={"order_ids": ["ORD-B-PLACED"]}, headers=headers
    ).get_json()["batch_id"]
    run_worker(ship_app)
    body = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()

    assert body["failed"] == 1
    assert "placed" in body["failures"][0]["reason"]


def test_batch_with_unknown_orders_is_404_and_nothing_is_stored(ship_app, sandbox):
    client = ship_app.test_client()
    headers = bearer(user_with_token(ship_app, "ops@example.in", "ops"))

    resp = client.post("/api/v1/batches", json={"order_ids": ["NOPE"]}, headers=headers)

    assert resp.status_code == 404
    assert "NOPE" in resp.get_json()["detail"]
    assert client.get("/api/v1/batches/1", headers=headers).status_code == 404


def test_retry_failed_only_makes_a_batch_of_the_failures(ship_app, sandbox):
    from fulfilment.schemas import Address
    from fulfilment.services.batches import batch_progress, create_batch, retry_failed
    from fulfilment.services.shipments import update_shipping_address

    place_processing(ship_app, "ORD-R1")
    place_processing(ship_app, "ORD-R2", pincode="111111")
    with ship_app.app_context():
        first = create_batch(["ORD-R1", "ORD-R2"], actor="ops@example.in").id
    run_worker(ship_app)
    with ship_app.app_context():
        update_shipping_address(
            "ORD-R2",
            Address("12 MG Road", None, "Bengaluru", "Karnataka", "560001", "IN"),
            actor="ops@example.in",
        )
        second = retry_failed(first, actor="ops@example.in").id
    run_worker(ship_app)

    with ship_app.app_context():
        progress = batch_progress(second)
    assert (progress.total, progress.succeeded) == (1, 1)
    assert load(ship_app, "ORD-R2")["status"] == "shipped"


def test_huge_batch_id_is_404_not_an_overflow(ship_app):
    headers = bearer(user_with_token(ship_app, "ops@example.in", "ops"))
    resp = ship_app.test_client().get("/api/v1/batches/189631450630962020352", headers=headers)
    assert resp.status_code == 404
