"""API routes for shipments (contract §6): couriers, shipments, cancel, address, notes."""

from __future__ import annotations

from tests.admin_helpers import bearer, user_with_token
from tests.shipping_helpers import (
    load,
    place,
    place_processing,
    run_worker,
    ship,
)


def _ops(app):
    if "test.ops" not in app.extensions:
        app.extensions["test.ops"] = bearer(user_with_token(app, "ops@example.in", "ops"))
    return app.extensions["test.ops"]


def test_couriers_lists_options_with_the_automatic_choice_marked(ship_app, sandbox):
    place_processing(ship_app, "ORD-A1")

    resp = ship_app.test_client().get("/api/v1/orders/ORD-A1/couriers", headers=_ops(ship_app))

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["rule"] == "cheapest" and body["reason"].startswith("cheapest of ")
    assert len(body["options"]) >= 4
    chosen = [o for o in body["options"] if o["automatic_choice"]]
    assert [o["id"] for o in chosen] == [body["automatic_choice"]]
    assert min(float(o["rate"]) for o in body["options"]) == float(chosen[0]["rate"])
    assert {"id", "name", "rate", "estimated_days", "rating", "recommended"} <= set(chosen[0])


def test_shipments_answers_202_with_a_job_then_the_worker_ships(ship_app, sandbox):
    place_processing(ship_app, "ORD-A2")
    client = ship_app.test_client()

    resp = client.post("/api/v1/orders/ORD-A2/shipments", json={}, headers=_ops(ship_app))

    assert resp.status_code == 202
    assert resp.get_json()["job_id"].startswith("ship-")
    assert load(ship_app, "ORD-A2")["status"] == "processing"  # nothing done in the request
    run_worker(ship_app)
    detail = client.get("/api/v1/orders/ORD-A2", headers=_ops(ship_app)).get_json()
    assert detail["status"] == "shipped"
    assert detail["shipment"]["awb"] and detail["shipment"]["label_url"]
    assert detail["shipment"]["pickup_time"]


def test_shipments_on_a_placed_order_is_409_naming_the_status(ship_app, sandbox):
    place(ship_app, "ORD-A3")

    resp = ship_app.test_client().post(
        "/api/v1/orders/ORD-A3/shipments", json={}, headers=_ops(ship_app)
    )

    assert resp.status_code == 409
    assert resp.get_json()["current_status"] == "placed"


def test_shipments_with_a_bad_courier_id_type_is_422(ship_app, sandbox):
    place_processing(ship_app, "ORD-A4")

    resp = ship_app.test_client().post(
        "/api/v1/orders/ORD-A4/shipments", json={"courier_id": "ten"}, headers=_ops(ship_app)
    )

    assert resp.status_code == 422
    assert "courier_id" in resp.get_json()["fields"]


def test_flag_off_refuses_shipments_and_cancel(make_app, sandbox):
    app = make_app({"FEATURE_ORDERS_ORDER_FULFILLMENT": "0"}, SHIPROCKET_SANDBOX_URL=sandbox.url)
    place(app, "ORD-A5")
    client = app.test_client()
    headers = _ops(app)

    for path, body in (("shipments", {}), ("cancel", {"reason": "x"}), ("couriers", None)):
        if body is None:
            resp = client.get(f"/api/v1/orders/ORD-A5/{path}", headers=headers)
        else:
            resp = client.post(f"/api/v1/orders/ORD-A5/{path}", json=body, headers=headers)
        assert resp.status_code == 403, path
        assert resp.get_json()["error"] == "feature_disabled"
    assert load(app, "ORD-A5")["status"] == "placed"


def test_cancel_needs_a_reason_and_refusal_is_409_with_shiprocket_reason(ship_app, sandbox):
    place_processing(ship_app, "ORD-A6")
    ship(ship_app, "ORD-A6")
    (remote,) = sandbox.orders_for("ORD-A6")
    sandbox.set_status(remote["shipment_id"], "PICKED UP")
    client = ship_app.test_client()
    headers = _ops(ship_app)

    missing = client.post("/api/v1/orders/ORD-A6/cancel", json={}, headers=headers)
    refused = client.post("/api/v1/orders/ORD-A6/cancel", json={"reason": "late"}, headers=headers)

    assert missing.status_code == 422 and "reason" in missing.get_json()["fields"]
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "shiprocket_refused"
    assert refused.get_json()["detail"]
    assert load(ship_app, "ORD-A6")["status"] == "shipped"


def test_address_correction_validates_fields(ship_app, sandbox):
    place_processing(ship_app, "ORD-A7")
    client = ship_app.test_client()
    bad = {"line1": "1 Road", "city": "Pune", "state": "MH", "pincode": "41100", "country": "IN"}

    resp = client.post("/api/v1/orders/ORD-A7/address", json=bad, headers=_ops(ship_app))
    good = client.post(
        "/api/v1/orders/ORD-A7/address",
        json={**bad, "pincode": "411001"},
        headers=_ops(ship_app),
    )

    assert resp.status_code == 422 and "pincode" in resp.get_json()["fields"]
    assert good.status_code == 200
    assert good.get_json()["shipping_address"]["pincode"] == "411001"


def test_notes_are_added_with_author(ship_app, sandbox):
    place(ship_app, "ORD-A8")

    resp = ship_app.test_client().post(
        "/api/v1/orders/ORD-A8/notes",
        json={"body": "Customer contacted for address correction"},
        headers=_ops(ship_app),
    )

    assert resp.status_code == 201
    (note,) = resp.get_json()["notes"]
    assert note["author"] == "ops@example.in"
    assert note["body"] == "Customer contacted for address correction"
