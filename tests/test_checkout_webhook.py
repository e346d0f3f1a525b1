"""POST /webhooks/checkout: every row of contract §2, each checking what was (not) stored."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from fulfilment.extensions import db
from fulfilment.models import InboundEvent, Order, OrderStatusHistory
from tests.helpers import NOTHING_STORED, counts, post_signed, sample, signed_headers


def test_new_order_is_accepted_and_stored_as_placed_with_first_history_row(app, client):
    resp = post_signed(client, app, sample())

    assert resp.status_code == 202
    assert resp.get_json() == {"status": "accepted", "order_id": "ORD-100045"}
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert order.status == "placed"
        assert order.customer_phone == "9845012345"  # "+91 98450 12345" normalised
        assert order.customer_email == "ananya.k@example.in"
        assert order.total == Decimal("1498.00")
        assert order.weight_kg == Decimal("0.900")
        assert [(i.sku, i.quantity, i.unit_price) for i in order.items] == [
            ("TEE-ORG-BLK-M", 2, Decimal("599.00")),
            ("MUG-CER-350", 1, Decimal("300.00")),
        ]
        (row,) = db.session.execute(select(OrderStatusHistory)).scalars()
        assert (row.from_status, row.to_status, row.actor) == (None, "placed", "system:checkout")
        assert row.details["event_id"] == "evt_01JDZ8Q4W7K3M2N5P6R8S9T0UV"
    assert counts(app) == {
        "orders": 1,
        "order_items": 2,
        "order_status_history": 1,
        "inbound_events": 1,
        "outbox_events": 0,
    }


def test_cod_order_without_package_is_accepted_with_zero_prefixed_phone(app, client):
    resp = post_signed(client, app, sample("order_placed_cod"))

    assert resp.status_code == 202
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert order.customer_phone == "9823012345"
        assert order.payment_method == "cod"
        assert order.weight_kg is None  # configured defaults apply at shipment time


def test_same_event_twice_is_a_duplicate_and_stores_nothing_more(app, client):
    first = post_signed(client, app, sample())
    stored = counts(app)

    again = post_signed(client, app, sample(), msg_id="msg_retry")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "order_id": "ORD-100045"}
    assert counts(app) == stored


def test_same_order_under_a_new_event_id_is_a_duplicate(app, client):
    post_signed(client, app, sample())
    resent = sample()
    resent["event_id"] = "evt_SECOND"
    resent["order"]["customer"]["phone"] = "09845012345"  # same phone, other spelling

    resp = post_signed(client, app, resent)

    assert resp.status_code == 200
    assert resp.get_json()["status"] == "duplicate"
    after = counts(app)
    assert after["orders"] == 1 and after["order_status_history"] == 1
    assert after["inbound_events"] == 2  # the resend is recorded, nothing else changes


def test_same_order_with_different_content_is_a_conflict_and_changes_nothing(app, client):
    post_signed(client, app, sample())
    stored = counts(app)
    changed = sample()
    changed["event_id"] = "evt_CHANGED"
    changed["order"]["shipping_address"]["pincode"] = "560001"

    resp = post_signed(client, app, changed)

    assert resp.status_code == 409
    body = resp.get_json()
    assert body["error"] == "conflict" and body["order_id"] == "ORD-100045"
    assert counts(app) == stored
    with app.app_context():
        assert db.session.execute(select(Order.ship_pincode)).scalar_one() == "560038"
        events = db.session.execute(select(InboundEvent.event_id)).scalars().all()
        assert events == ["evt_01JDZ8Q4W7K3M2N5P6R8S9T0UV"]


def test_reused_event_id_for_another_order_is_a_conflict(app, client):
    post_signed(client, app, sample())
    other = sample("order_placed_cod")
    other["event_id"] = sample()["event_id"]

    resp = post_signed(client, app, other)

    assert resp.status_code == 409
    assert counts(app)["orders"] == 1


def _raw(payload=None) -> bytes:
    return json.dumps(payload or sample()).encode()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h, b: (h, b.replace(b"1498.00", b"1499.00")), id="tampered-body"),
        pytest.param(lambda h, b: ({**h, "webhook-id": "msg_other"}, b), id="tampered-id"),
        pytest.param(
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
            id="tampered-timestamp",
        ),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
            id="missing-signature",
        ),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), id="missing-id"
        ),
        pytest.param(
            lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
            id="missing-timestamp",
        ),
        pytest.param(
            lambda h, b: ({**h, "webhook-signature": "v0," + h["webhook-signature"][3:]}, b),
            id="non-v1-signature",
        ),
        pytest.param(lambda h, b: ({**h, "webhook-signature": "garbage"}, b), id="malformed"),
        pytest.param(lambda h, b: ({**h, "webhook-signature": "v1,!!!"}, b), id="bad-base64"),
        pytest.param(lambda h, b: ({**h, "webhook-timestamp": "nan"}, b), id="nan-timestamp"),
        pytest.param(lambda h, b: (h, b""), id="empty-body"),
    ],
)
def test_bad_signature_is_401_and_nothing_is_stored(app, client, mutate):
    body = _raw()
    headers, body = mutate(signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body), body)

    resp = client.post("/webhooks/checkout", data=body, headers=headers)

    assert resp.status_code == 401
    assert resp.get_json() == {"error": "invalid_signature"}
    assert counts(app) == NOTHING_STORED


def test_wrong_secret_is_401(app, client):
    body = _raw()
    headers = signed_headers("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", body)

    resp = client.post("/webhooks/checkout", data=body, headers=headers)

    assert resp.status_code == 401
    assert counts(app) == NOTHING_STORED


@pytest.mark.parametrize("offset", [-301, 301], ids=["5min1s-old", "5min1s-future"])
def test_timestamp_outside_five_minutes_is_401(app, client, offset):
    resp = post_signed(client, app, sample(), timestamp=time.time() + offset)

    assert resp.status_code == 401
    assert counts(app) == NOTHING_STORED


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamp_inside_five_minutes_is_accepted(app, client, offset):
    assert post_signed(client, app, sample(), timestamp=time.time() + offset).status_code == 202


def test_rotated_secret_several_signatures_one_valid_is_accepted(app, client):
    body = _raw()
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body)
    headers["webhook-signature"] = (
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + (headers["webhook-signature"])
    )

    assert client.post("/webhooks/checkout", data=body, headers=headers).status_code == 202


def test_standard_webhooks_reference_vector():
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    sig = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, tz=UTC),
        '{"test": 2432232314}',
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_not_json_is_400(app, client):
    resp = post_signed(client, app, b"{not json")

    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_json"
    assert counts(app) == NOTHING_STORED


def test_not_utf8_is_400(app, client):
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], "x")
    resp = client.post("/webhooks/checkout", data=b"\xff\xfe{}", headers=headers)

    assert resp.status_code == 400
    assert counts(app) == NOTHING_STORED


def test_wrong_content_type_is_415(app, client):
    body = _raw()
    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], body)
    headers["Content-Type"] = "text/plain"

    resp = client.post("/webhooks/checkout", data=body, headers=headers)

    assert resp.status_code == 415
    assert counts(app) == NOTHING_STORED


def test_body_over_256_kib_is_413(app, client):
    payload = sample()
    payload["padding"] = "x" * (256 * 1024)

    resp = post_signed(client, app, payload)

    assert resp.status_code == 413
    assert resp.get_json() == {"error": "payload_too_large"}
    assert counts(app) == NOTHING_STORED


def test_chunked_body_over_256_kib_without_length_is_413(app, client):
    import io

    headers = signed_headers(app.config["CHECKOUT_WEBHOOK_SECRET"], "x")
    headers["Transfer-Encoding"] = "chunked"

    resp = client.post(
        "/webhooks/checkout",
        input_stream=io.BytesIO(b"x" * (300 * 1024)),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert resp.status_code == 413
    assert counts(app) == NOTHING_STORED


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("order", "shipping_address", "pincode"), "56003", "order.shipping_address.pincode"),
        (("order", "shipping_address", "country"), "US", "order.shipping_address.country"),
        (("order", "customer", "phone"), "12345", "order.customer.phone"),
        (("order", "customer", "email"), "not-an-email", "order.customer.email"),
        (("order", "total"), 1498.0, "order.total"),
        (("order", "total"), "1500.00", "order.total"),
        (("order", "subtotal"), "1.00", "order.subtotal"),
        (("order", "currency"), "USD", "order.currency"),
        (("order", "placed_at"), "2026-11-24T10:15:40", "order.placed_at"),
        (("event_type",), "OrderShipped", "event_type"),
        (("order", "items"), [], "order.items"),
        (("order", "payment", "method"), "upi", "order.payment.method"),
        (("order", "package", "weight_kg"), "-1", "order.package.weight_kg"),
        (("order", "order_id"), "ORD 1; DROP", "order.order_id"),
    ],
)
def test_schema_errors_are_422_with_field_paths(app, client, path, value, field):
    payload = sample()
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    resp = post_signed(client, app, payload)

    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "validation_failed"
    assert field in body["fields"], body["fields"]
    assert counts(app) == NOTHING_STORED


def test_item_errors_name_the_item_index(app, client):
    payload = sample()
    payload["order"]["items"][1]["quantity"] = 0

    resp = post_signed(client, app, payload)

    assert resp.status_code == 422
    assert "order.items.1.quantity" in resp.get_json()["fields"]


def test_missing_required_fields_are_each_named(app, client):
    payload = sample()
    del payload["order"]["customer"]
    del payload["event_id"]

    fields = post_signed(client, app, payload).get_json()["fields"]

    assert {"order.customer", "event_id"} <= set(fields)


def test_unknown_fields_are_ignored(app, client):
    payload = sample()
    payload["order"]["gift_wrap"] = True

    assert post_signed(client, app, payload).status_code == 202


def test_database_unavailable_is_503_and_nothing_is_stored(make_app):
    app = make_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"})
    client = app.test_client()

    resp = post_signed(client, app, sample())

    assert resp.status_code == 503
    assert resp.get_json() == {"error": "unavailable"}


def test_get_is_405_not_500(client):
    resp = client.get("/webhooks/checkout")

    assert resp.status_code == 405
    assert resp.get_json() == {"error": "method_not_allowed"}


def test_nul_character_is_a_field_error_not_a_database_error(app, client):
    payload = sample()
    payload["order"]["customer"]["name"] = "Ananya\u0000Krishnan"

    resp = post_signed(client, app, payload)

    assert resp.status_code == 422
    assert resp.get_json()["fields"] == {"order.customer.name": ["must not contain NUL characters"]}
    assert counts(app) == NOTHING_STORED


def test_nul_in_a_url_is_refused_as_bad_input(client):
    assert client.get("/api/v1/orders/ORD%00X").status_code == 422
    assert client.get("/admin/orders/?search=a%00b").status_code == 400
