"""Shipments against the Shiprocket sandbox over real HTTP, run by a real RQ worker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from fulfilment.errors import InvalidInput, InvalidTransition
from fulfilment.extensions import db
from fulfilment.models import AuditLog, Order, OutboxEvent
from fulfilment.services.shipments import (
    CancellationRefused,
    cancel_order,
    request_shipment,
    update_shipping_address,
)
from tests.shipping_helpers import (
    load,
    place,
    place_processing,
    ship,
)


def test_processing_order_ships_with_awb_courier_tracking_label_and_one_outbox_row(
    ship_app, sandbox
):
    place_processing(ship_app, "ORD-S1")

    ship(ship_app, "ORD-S1")

    order = load(ship_app, "ORD-S1")
    sh = order["shipment"]
    assert order["status"] == "shipped"
    assert sh["state"] == "completed"
    assert sh["awb"] and sh["tracking_url"] == f"https://shiprocket.co/tracking/{sh['awb']}"
    assert sh["label_url"].endswith(".pdf")
    assert sh["courier_name"] and sh["choice_reason"].startswith("cheapest of ")
    assert len(sh["courier_options"]) >= 4
    last = order["history"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "processing",
        "shipped",
        "ops@example.in",
    )
    assert last["details"]["awb"] == sh["awb"]
    assert last["details"]["tracking_url"] == sh["tracking_url"]
    assert last["details"]["courier_choice"] == sh["choice_reason"]
    with ship_app.app_context():
        events = db.session.execute(select(OutboxEvent)).scalars().all()
        assert [e.event_type for e in events] == ["OrderShipped"]
        data = events[0].payload["data"]
        assert data["shipment"]["awb"] == sh["awb"]
        assert data["shipment"]["courier_name"] == sh["courier_name"]
        assert data["shipment"]["tracking_url"] == sh["tracking_url"]
        assert data["shipped_at"].endswith("+05:30")
    (remote,) = sandbox.orders_for("ORD-S1")
    assert remote["awb"] == sh["awb"] and remote["label_url"] and remote["pickup_scheduled"]


def _pick(options, rule):
    def days(o):
        return o["estimated_days"] if o["estimated_days"] is not None else 10_000

    keys = {
        "cheapest": lambda o: (Decimal(o["rate"]), days(o), -(o["rating"] or 0), o["courier_id"]),
        "fastest": lambda o: (days(o), Decimal(o["rate"]), -(o["rating"] or 0), o["courier_id"]),
        "best_rated": lambda o: (-(o["rating"] or 0), Decimal(o["rate"]), days(o), o["courier_id"]),
    }
    if rule == "recommended":
        return next(o for o in options if o["recommended"])
    return min(options, key=keys[rule])


@pytest.mark.parametrize("rule", ["cheapest", "fastest", "recommended", "best_rated"])
def test_carrier_is_chosen_by_each_rule(ship_app, sandbox, rule):
    ship_app.config["CARRIER_RULE"] = rule
    place_processing(ship_app, f"ORD-R-{rule}")

    ship(ship_app, f"ORD-R-{rule}")

    sh = load(ship_app, f"ORD-R-{rule}")["shipment"]
    expected = _pick(sh["courier_options"], rule)
    assert sh["courier_id"] == expected["courier_id"]
    label = {"best_rated": "best rated", "recommended": "Shiprocket's recommendation"}
    assert sh["choice_reason"] == f"{label.get(rule, rule)} of {len(sh['courier_options'])}"


def test_rules_disagree_so_the_rule_matters(ship_app, sandbox):
    place_processing(ship_app, "ORD-RULES")
    ship(ship_app, "ORD-RULES")
    options = load(ship_app, "ORD-RULES")["shipment"]["courier_options"]

    picks = {r: _pick(options, r)["courier_id"] for r in ("cheapest", "fastest", "recommended")}

    assert len(set(picks.values())) == 3, picks


def test_override_by_courier_id(ship_app, sandbox):
    place_processing(ship_app, "ORD-OVR")
    with ship_app.app_context():
        from fulfilment.services.shipments import courier_quote

        quote = courier_quote("ORD-OVR")
    other = next(o.courier_id for o in quote.options if o.courier_id != quote.chosen_id)

    ship(ship_app, "ORD-OVR", courier_id=other)

    sh = load(ship_app, "ORD-OVR")["shipment"]
    assert sh["courier_id"] == other
    assert sh["choice_reason"].startswith("override by ops@example.in")
    (remote,) = sandbox.orders_for("ORD-OVR")
    assert remote["courier_id"] == other


def test_override_not_on_offer_fails_with_the_reason(ship_app, sandbox):
    place_processing(ship_app, "ORD-OVR2")

    ship(ship_app, "ORD-OVR2", courier_id=99999)

    order = load(ship_app, "ORD-OVR2")
    assert order["status"] == "processing"
    assert "courier 99999 is not offered" in order["shipment"]["last_failure"]


def test_unserviceable_pincode_fails_visibly_and_order_stays_processing(ship_app, sandbox):
    place_processing(ship_app, "ORD-NOSVC", pincode="111111")

    ship(ship_app, "ORD-NOSVC")

    order = load(ship_app, "ORD-NOSVC")
    assert order["status"] == "processing"
    assert order["shipment"]["state"] == "failed"
    assert order["shipment"]["last_failure"] == (
        "Shipment generation failed: no courier serves 111111. Please verify address and try again."
    )
    assert order["shipment"]["attempts"][-1]["outcome"] == "failed"
    assert sandbox.calls("/courier/assign/awb") == []


def test_address_fixed_then_retry_ships_to_the_new_address(ship_app, sandbox):
    from fulfilment.schemas import Address

    place_processing(ship_app, "ORD-FIX", pincode="111111")
    ship(ship_app, "ORD-FIX")
    assert load(ship_app, "ORD-FIX")["shipment"]["state"] == "failed"

    with ship_app.app_context():
        update_shipping_address(
            "ORD-FIX",
            Address("12 MG Road", None, "Bengaluru", "Karnataka", "560001", "IN"),
            actor="ops@example.in",
        )
    ship(ship_app, "ORD-FIX")

    order = load(ship_app, "ORD-FIX")
    assert order["status"] == "shipped"
    assert order["shipping_address"]["pincode"] == "560001"
    (remote,) = sandbox.orders_for("ORD-FIX")
    assert remote["address"]["pincode"] in ("560001", 560001)  # pushed to Shiprocket
    assert [a["outcome"] for a in order["shipment"]["attempts"]] == ["failed", "succeeded"]
    with ship_app.app_context():
        audit = db.session.execute(
            select(AuditLog).where(AuditLog.action == "order.address")
        ).scalar_one()
        assert audit.details["from"]["ship_pincode"] == "111111"
        assert audit.actor == "ops@example.in"


def test_create_500_is_retried_then_succeeds(ship_app, sandbox, sleeps):
    place_processing(ship_app, "ORD-SBX500-1")

    ship(ship_app, "ORD-SBX500-1")

    assert load(ship_app, "ORD-SBX500-1")["status"] == "shipped"
    assert len(sandbox.orders_for("ORD-SBX500-1")) == 1
    # A 500 on a POST may have taken effect: the job looks the order up before creating again.
    assert len(sandbox.calls("/orders/create/adhoc")) == 2
    assert (
        len(sandbox.calls("/orders?search="))
        + len([c for c in sandbox.state()["calls"] if c["path"].endswith("/orders")])
        >= 1
    )


def test_create_429_waits_retry_after_then_succeeds(ship_app, sandbox, sleeps):
    place_processing(ship_app, "ORD-SBX429-1")

    ship(ship_app, "ORD-SBX429-1")

    assert load(ship_app, "ORD-SBX429-1")["status"] == "shipped"
    assert sleeps.waits and sleeps.waits[0] >= 1


def test_create_timeout_after_shiprocket_created_it_makes_one_order(ship_app, sandbox):
    place_processing(ship_app, "ORD-SBXSLOW-1")

    ship(ship_app, "ORD-SBXSLOW-1")

    assert load(ship_app, "ORD-SBXSLOW-1")["status"] == "shipped"
    (remote,) = sandbox.orders_for("ORD-SBXSLOW-1")
    assert sandbox.state()["awbs_assigned"][str(remote["shipment_id"])] == 1


def test_awb_refused_fails_with_shiprocket_reason(ship_app, sandbox):
    place_processing(ship_app, "ORD-AWBNO", pincode="222222")

    ship(ship_app, "ORD-AWBNO")

    order = load(ship_app, "ORD-AWBNO")
    assert order["status"] == "processing"
    assert "Courier is facing some issues" in order["shipment"]["last_failure"]


def test_awb_already_assigned_is_recovered_not_failed(ship_app, sandbox):
    place_processing(ship_app, "ORD-AWBTWICE")
    # Shiprocket assigns the AWB but the answer never arrives in time: the retry is told
    # "AWB is already assigned" and must adopt that AWB.
    sandbox.fault("/courier/assign/awb", "timeout", times=1, delay_s=2.5)

    ship(ship_app, "ORD-AWBTWICE")

    order = load(ship_app, "ORD-AWBTWICE")
    (remote,) = sandbox.orders_for("ORD-AWBTWICE")
    assert order["status"] == "shipped"
    assert order["shipment"]["awb"] == remote["awb"]
    assert sandbox.state()["awbs_assigned"][str(remote["shipment_id"])] == 1


def test_shiprocket_4xx_is_never_retried(ship_app, sandbox, sleeps):
    ship_app.config["SHIPROCKET_PICKUP_LOCATION"] = "Unknown Warehouse"
    place_processing(ship_app, "ORD-4XX")

    ship(ship_app, "ORD-4XX")

    order = load(ship_app, "ORD-4XX")
    assert order["status"] == "processing"
    assert "pickup_location" in order["shipment"]["last_failure"]
    assert len(sandbox.calls("/orders/create/adhoc")) == 1
    assert sleeps.waits == []


def test_token_expiry_between_shipments_relogs_once_and_fails_nothing(ship_app, sandbox):
    for n in range(3):
        place_processing(ship_app, f"ORD-TOK-{n}")
    ship(ship_app, "ORD-TOK-0")
    logins = sandbox.state()["logins"]

    sandbox.expire_tokens()
    for n in (1, 2):
        ship(ship_app, f"ORD-TOK-{n}")

    assert sandbox.state()["logins"] == logins + 1
    assert {load(ship_app, f"ORD-TOK-{n}")["status"] for n in range(3)} == {"shipped"}


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("ship_pincode", "12345", "shipping_address.pincode"),
        ("customer_phone", "12345", "customer.phone"),
        ("ship_city", "A" * 31, "shipping_address.city"),
    ],
)
def test_invalid_address_is_caught_before_any_shiprocket_call(
    ship_app, sandbox, column, value, field
):
    place_processing(ship_app, "ORD-BAD")
    with ship_app.app_context():
        order = db.session.execute(select(Order).where(Order.order_id == "ORD-BAD")).scalar_one()
        setattr(order, column, value)
        db.session.commit()

        with pytest.raises(InvalidInput) as exc:
            request_shipment("ORD-BAD", actor="ops@example.in")

    assert field in exc.value.fields
    assert sandbox.state()["calls"] == []


def test_only_processing_orders_can_ship(ship_app, sandbox):
    place(ship_app, "ORD-PLACED")
    with ship_app.app_context(), pytest.raises(InvalidTransition) as exc:
        request_shipment("ORD-PLACED", actor="ops@example.in")
    assert exc.value.current == "placed"


def test_cancelled_copy_at_shiprocket_is_recreated_under_a_suffixed_id(ship_app, sandbox):
    import requests

    place_processing(ship_app, "ORD-GHOST")
    with ship_app.app_context():
        from fulfilment.services.shiprocket_gateway import shiprocket

        client = shiprocket()
        from fulfilment.services.orders import get_order
        from fulfilment.services.shipments import _map

        created = client.create_adhoc_order(_map(get_order("ORD-GHOST"), "ORD-GHOST").payload)
        client.cancel_orders([created.sr_order_id])
    assert requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).ok

    ship(ship_app, "ORD-GHOST")

    order = load(ship_app, "ORD-GHOST")
    assert order["status"] == "shipped"
    assert order["shipment"]["channel_order_id"] == "ORD-GHOST-r2"
    with ship_app.app_context():
        audit = db.session.execute(
            select(AuditLog).where(AuditLog.action == "shipment.recreate")
        ).scalar_one()
        assert audit.details["new_channel_order_id"] == "ORD-GHOST-r2"


def test_cancel_before_any_shipment(ship_app, sandbox):
    place_processing(ship_app, "ORD-C0")
    with ship_app.app_context():
        cancel_order("ORD-C0", actor="ops@example.in", reason="customer asked")

    order = load(ship_app, "ORD-C0")
    assert order["status"] == "cancelled"
    assert order["history"][-1]["details"] == {"reason": "customer asked"}
    assert sandbox.state()["calls"] == []


def test_cancel_before_awb_cancels_the_shiprocket_order(ship_app, sandbox):
    place_processing(ship_app, "ORD-C1", pincode="222222")  # AWB refused: order exists, no AWB
    ship(ship_app, "ORD-C1")

    with ship_app.app_context():
        cancel_order("ORD-C1", actor="ops@example.in", reason="out of stock")

    order = load(ship_app, "ORD-C1")
    (remote,) = sandbox.orders_for("ORD-C1")
    assert order["status"] == "cancelled"
    assert remote["cancelled"] is True
    assert "cancelled" in order["history"][-1]["details"]["shiprocket"]


def test_cancel_after_awb_cancels_the_shipment_and_announces_it(ship_app, sandbox):
    place_processing(ship_app, "ORD-C2")
    ship(ship_app, "ORD-C2")

    with ship_app.app_context():
        cancel_order("ORD-C2", actor="ops@example.in", reason="customer asked")

    order = load(ship_app, "ORD-C2")
    (remote,) = sandbox.orders_for("ORD-C2")
    assert order["status"] == "cancelled" and remote["cancelled"] is True
    assert order["shipment"]["state"] == "cancelled"
    assert order["history"][-1]["details"]["shiprocket"].endswith(f"(AWB {remote['awb']})")
    with ship_app.app_context():
        types = db.session.execute(select(OutboxEvent.event_type)).scalars().all()
        assert types == ["OrderShipped", "OrderCancelled"]


def test_shiprocket_refusing_cancellation_keeps_the_order_and_says_why(ship_app, sandbox):
    place_processing(ship_app, "ORD-C3")
    ship(ship_app, "ORD-C3")
    (remote,) = sandbox.orders_for("ORD-C3")
    sandbox.set_status(remote["shipment_id"], "PICKED UP")

    with ship_app.app_context(), pytest.raises(CancellationRefused) as exc:
        cancel_order("ORD-C3", actor="ops@example.in", reason="too late")

    assert exc.value.reason
    order = load(ship_app, "ORD-C3")
    assert order["status"] == "shipped"
    with ship_app.app_context():
        refused = db.session.execute(
            select(AuditLog).where(AuditLog.action == "order.cancel_refused")
        ).scalar_one()
        assert refused.details["shiprocket"] == exc.value.reason


def test_shipped_order_cancelled_by_hand_needs_confirmation(ship_app, sandbox):
    place_processing(ship_app, "ORD-C4")
    ship(ship_app, "ORD-C4")
    (remote,) = sandbox.orders_for("ORD-C4")
    sandbox.set_status(remote["shipment_id"], "PICKED UP")

    with ship_app.app_context():
        cancel_order("ORD-C4", actor="ops@example.in", reason="RTO agreed", confirmed_by_hand=True)

    order = load(ship_app, "ORD-C4")
    assert order["status"] == "cancelled"
    assert "by hand" in order["history"][-1]["details"]["shiprocket"]


def test_shiprocket_down_longer_than_the_call_retries_is_left_to_rq_retry_then_ships(
    ship_app, sandbox
):
    from rq.job import Job

    from fulfilment.queues import SHIPMENTS, get_queue
    from tests.shipping_helpers import run_worker

    place_processing(ship_app, "ORD-DOWN")
    sandbox.fault("/courier/serviceability/", "500", times=3)  # every in-call try fails

    ship(ship_app, "ORD-DOWN")

    order = load(ship_app, "ORD-DOWN")
    assert order["status"] == "processing"
    assert order["shipment"]["attempts"][-1]["outcome"] == "retrying"
    with ship_app.app_context():
        queue = get_queue(SHIPMENTS)
        registry = queue.scheduled_job_registry
        (job_id,) = registry.get_job_ids()  # RQ's Retry scheduled the whole job again
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        registry.remove(job)
        queue.enqueue_job(job)  # what the scheduler does when the interval is up
    run_worker(ship_app)

    order = load(ship_app, "ORD-DOWN")
    assert order["status"] == "shipped"
    assert order["shipment"]["attempts"][-1]["outcome"] == "succeeded"
    assert len(sandbox.orders_for("ORD-DOWN")) == 1


def test_connection_dropped_after_pickup_was_scheduled_still_ships_once(ship_app, sandbox):
    place_processing(ship_app, "ORD-DROP")
    sandbox.fault("/courier/generate/pickup", "drop_after", times=1)

    ship(ship_app, "ORD-DROP")

    assert load(ship_app, "ORD-DROP")["status"] == "shipped"
    (remote,) = sandbox.orders_for("ORD-DROP")
    assert sandbox.state()["awbs_assigned"][str(remote["shipment_id"])] == 1
