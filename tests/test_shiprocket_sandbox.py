"""The built-in Shiprocket sandbox, driven over HTTP with plain `requests`."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from fulfilment.shiprocket.sandbox import SandboxServer, create_sandbox_app

API = "/v1/external"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def server():
    srv = SandboxServer().start()
    yield srv
    srv.stop()


class Client:
    """A tiny Shiprocket client over the sandbox."""

    def __init__(self, base: str):
        self.base = base
        self.token = requests.post(
            f"{base}{API}/auth/login", json={"email": "api@shop.in", "password": "pw"}, timeout=5
        ).json()["token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.request(method, f"{self.base}{API}{path}", headers=self.headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/_sandbox{path}", timeout=10, **kwargs)

    def state(self) -> dict[str, Any]:
        return self.control("GET", "/state").json()

    def create(self, **overrides: Any) -> dict[str, Any]:
        r = self.post("/orders/create/adhoc", json=order_body(**overrides))
        assert r.status_code == 200, r.text
        return r.json()

    def assign(self, shipment_id: Any, timeout: float = 10, **extra: Any) -> requests.Response:
        body = {"shipment_id": shipment_id, **extra}
        return self.post("/courier/assign/awb", json=body, timeout=timeout)

    def fault(self, **spec: Any) -> None:
        r = self.control("POST", "/faults", json=spec)
        assert r.status_code == 201, r.text

    def set_status(self, shipment_id: int, status: str) -> requests.Response:
        return self.control("POST", f"/shipments/{shipment_id}/status", json={"status": status})


@pytest.fixture
def sr(server) -> Client:
    requests.post(f"{server.url}/_sandbox/reset", timeout=5).raise_for_status()
    return Client(server.url)


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": f"WEB-{next(_ids)}",
        "order_date": "2026-11-25 10:30",
        "pickup_location": "Sandbox Warehouse",
        "billing_customer_name": "Asha",
        "billing_last_name": "Rao",
        "billing_address": "12 Park Street",
        "billing_city": "New Delhi",
        "billing_pincode": "110002",
        "billing_state": "Delhi",
        "billing_country": "India",
        "billing_email": "asha@example.in",
        "billing_phone": "9876543210",
        "shipping_is_billing": True,
        "order_items": [{"name": "Kurta", "sku": "KURTA-M", "units": 2, "selling_price": "499"}],
        "payment_method": "Prepaid",
        "sub_total": 998,
        "length": 10,
        "breadth": 10,
        "height": 5,
        "weight": 0.8,
    }
    for key, value in overrides.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


_DROP = object()


def assigned(sr: Client, **overrides: Any) -> tuple[dict[str, Any], str]:
    order = sr.create(**overrides)
    r = sr.assign(order["shipment_id"])
    assert r.json()["awb_assign_status"] == 1, r.text
    return order, r.json()["response"]["data"]["awb_code"]


def order_in_state(sr: Client, sr_order_id: int) -> dict[str, Any]:
    return next(o for o in sr.state()["orders"] if o["sr_order_id"] == sr_order_id)


# -- auth ------------------------------------------------------------------------------------
def test_login_returns_a_ten_day_jwt(sr):
    r = requests.post(f"{sr.base}{API}/auth/login", json={"email": "a@b.in", "password": "x"})
    assert r.status_code == 200
    body = r.json()
    assert {"id", "first_name", "last_name", "email", "company_id", "created_at"} <= set(body)
    header, claims, signature = body["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["exp"] - claims["iat"] == 864000
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "HS256"
    assert signature


def test_login_needs_email_and_password(sr):
    r = requests.post(f"{sr.base}{API}/auth/login", json={"email": "a@b.in"})
    assert r.status_code == 422
    assert r.json()["status_code"] == 422 and "password" in r.json()["errors"]


def test_missing_and_unknown_tokens_answer_401(sr):
    url = f"{sr.base}{API}/settings/company/pickup"
    r = requests.get(url)
    assert r.status_code == 401
    assert r.json() == {"message": "Token not provided", "status_code": 401}
    r = requests.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert (r.status_code, r.json()["message"]) == (401, "Token has expired")
    assert sr.get("/settings/company/pickup").status_code == 200


def test_expire_tokens_then_relogin(sr):
    assert sr.control("POST", "/expire-tokens").status_code == 200
    r = sr.get("/settings/company/pickup")
    assert (r.status_code, r.json()["message"]) == (401, "Token has expired")
    fresh = Client(sr.base)
    assert fresh.get("/settings/company/pickup").status_code == 200
    assert sr.state()["logins"] == 2


def test_reject_logins(sr):
    sr.control("POST", "/config", json={"reject_logins": True})
    r = requests.post(f"{sr.base}{API}/auth/login", json={"email": "a@b.in", "password": "x"})
    assert r.status_code == 400 and r.json()["status_code"] == 400


def test_unknown_route_is_dingo_404(sr):
    r = sr.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"message": "404 Not Found", "status_code": 404}
    assert requests.get(f"{sr.base}{API}/nope").status_code == 404


# -- the happy path --------------------------------------------------------------------------
def test_full_flow_create_to_delivery(sr):
    order = sr.create(order_id="FLOW-1")
    assert order["status"] == "NEW" and order["status_code"] == 1
    assert order["awb_code"] is None and isinstance(order["order_id"], int)

    r = sr.get(
        "/courier/serviceability/",
        params={"pickup_postcode": 560001, "delivery_postcode": 110002, "weight": 0.8, "cod": 0},
    )
    data = r.json()["data"]
    couriers = data["available_courier_companies"]
    assert len(couriers) >= 4
    rates = [c["rate"] for c in couriers]
    assert len(set(rates)) < len(rates), "at least one tie on rate"
    cheapest = min(couriers, key=lambda c: c["rate"])["courier_company_id"]
    fastest = min(couriers, key=lambda c: int(c["estimated_delivery_days"]))
    rec = data["recommended_courier_company_id"]
    assert rec in {c["courier_company_id"] for c in couriers}
    assert rec not in (cheapest, fastest["courier_company_id"])
    assert all(isinstance(c["estimated_delivery_days"], str) for c in couriers)
    assert all(c["etd"] and c["rating"] for c in couriers)

    r = sr.assign(str(order["shipment_id"]))
    assert r.status_code == 200
    awb_data = r.json()["response"]["data"]
    assert r.json()["awb_assign_status"] == 1
    assert awb_data["courier_company_id"] == rec and awb_data["awb_code"].isdigit()
    assert awb_data["pickup_scheduled_date"]
    awb = awb_data["awb_code"]

    shipment = sr.get(f"/shipments/{order['shipment_id']}").json()["data"]
    assert (shipment["awb"], shipment["order_id"]) == (awb, order["order_id"])
    assert shipment["courier"] == awb_data["courier_name"]

    r = sr.post("/courier/generate/pickup", json={"shipment_id": [order["shipment_id"]]})
    assert r.status_code == 200 and r.json()["pickup_status"] == 1
    assert r.json()["response"]["pickup_token_number"]

    r = sr.post("/courier/generate/label", json={"shipment_id": [str(order["shipment_id"])]})
    assert r.json()["label_created"] == 1
    pdf = requests.get(r.json()["label_url"], timeout=5)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    track = sr.get(f"/courier/track/awb/{awb}").json()["tracking_data"]
    assert track["track_status"] == 1 and track["track_url"].endswith(awb)
    for status in ("PICKED UP", "IN TRANSIT", "OUT FOR DELIVERY", "DELIVERED"):
        assert sr.set_status(order["shipment_id"], status).status_code == 200
    track = sr.get(f"/courier/track/awb/{awb}").json()["tracking_data"]
    assert track["shipment_status"] == 7
    assert track["shipment_track_activities"][0]["sr-status"] == "7"  # newest first
    assert track["shipment_track"][0]["delivered_date"]

    state = order_in_state(sr, order["order_id"])
    assert state["status"] == "DELIVERED" and state["status_code"] == 7
    assert state["label_url"] and state["pickup_scheduled"] and state["courier_id"] == rec


def test_orders_list_and_show(sr):
    order = sr.create(order_id="LIST-42")
    sr.create(order_id="OTHER-1")
    body = sr.get("/orders", params={"search": "LIST-42"}).json()
    assert [o["channel_order_id"] for o in body["data"]] == ["LIST-42"]
    row = body["data"][0]
    assert row["id"] == order["order_id"] and row["status"] == "NEW"
    assert row["shipments"][0]["id"] == order["shipment_id"]
    assert body["meta"]["pagination"]["total"] == 1
    page = sr.get("/orders", params={"per_page": 1}).json()
    assert page["meta"]["pagination"]["total_pages"] == 2 and len(page["data"]) == 1
    show = sr.get(f"/orders/show/{order['order_id']}").json()["data"]
    assert show["channel_order_id"] == "LIST-42" and show["shipments"]["id"] == order["shipment_id"]
    r = sr.get("/orders/show/12345")
    assert r.status_code == 400 and r.json()["message"] == "Order ID not found"


def test_unknown_shipment_is_empty_200(sr):
    r = sr.get("/shipments/999")
    assert r.status_code == 200 and r.json() == {}


def test_pickup_locations(sr):
    rows = sr.get("/settings/company/pickup").json()["data"]["shipping_address"]
    warehouse = next(p for p in rows if p["pickup_location"] == "Sandbox Warehouse")
    assert warehouse["pin_code"] == "560001"


# -- duplicates ------------------------------------------------------------------------------
def test_duplicate_channel_order_id_echoes_the_existing_order(sr):
    first = sr.create(order_id="DUP-1")
    again = sr.create(order_id="DUP-1", sub_total=1)
    assert (again["order_id"], again["shipment_id"]) == (first["order_id"], first["shipment_id"])
    assert again["status"] == "NEW"
    assert len(sr.state()["orders"]) == 1


def test_duplicate_of_a_cancelled_order_echoes_canceled(sr):
    first = sr.create(order_id="DUP-2")
    assert sr.post("/orders/cancel", json={"ids": [first["order_id"]]}).status_code == 204
    again = sr.create(order_id="DUP-2")
    assert again["order_id"] == first["order_id"]
    assert (again["status"], again["status_code"], again["awb_code"]) == ("CANCELED", 5, "")
    state = sr.state()
    assert len(state["orders"]) == 1 and state["creates"]["DUP-2"] == 2
    r = sr.assign(first["shipment_id"])
    assert r.status_code == 400
    assert r.json() == {"message": "order is in cancelled state.", "status_code": 400}


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"order_id": _DROP}, "order_id"),
        ({"order_id": "X" * 51}, "order_id"),
        ({"billing_pincode": "12345"}, "billing_pincode"),
        ({"billing_pincode": "11000a"}, "billing_pincode"),
        ({"billing_phone": "98765"}, "billing_phone"),
        ({"billing_city": "C" * 31}, "billing_city"),
        ({"billing_address": ""}, "billing_address"),
        ({"billing_email": _DROP}, "billing_email"),
        ({"payment_method": "UPI"}, "payment_method"),
        ({"sub_total": _DROP}, "sub_total"),
        ({"length": 0.5}, "length"),
        ({"breadth": "abc"}, "breadth"),
        ({"weight": 0}, "weight"),
        ({"pickup_location": "Nowhere"}, "pickup_location"),
        ({"order_items": []}, "order_items"),
        ({"order_items": [{"name": "A", "sku": "", "units": 1, "selling_price": 1}]}, "sku"),
        ({"order_items": [{"name": "A", "sku": "S", "units": 0, "selling_price": 1}]}, "units"),
        ({"order_items": [{"name": "A", "sku": "S", "units": 1.5, "selling_price": 1}]}, "units"),
        ({"order_items": [{"name": "A", "sku": "S", "units": 1, "selling_price": "x"}]}, "price"),
        ({"shipping_is_billing": False}, "shipping_pincode"),
    ],
)
def test_validation_errors_name_the_field(sr, overrides, field):
    r = sr.post("/orders/create/adhoc", json=order_body(**overrides))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status_code"] == 422 and body["message"]
    assert any(field in key for key in body["errors"]), body
    assert sr.state()["orders"] == []


def test_long_sku_message(sr):
    items = [{"name": "A", "sku": "S" * 51, "units": 1, "selling_price": 10}]
    errors = sr.post("/orders/create/adhoc", json=order_body(order_items=items)).json()["errors"]
    assert errors == {"order_items.0.sku": ["Product SKU should be between 1 to 50 characters"]}


def test_accepts_numbers_and_numeric_strings_and_any_case_payment(sr):
    order = sr.create(billing_pincode=110002, billing_phone=9876543210, payment_method="cod")
    assert order["status"] == "NEW"
    assert order_in_state(sr, order["order_id"])["payment_method"] == "COD"


def test_bad_channel_id(sr):
    r = sr.post("/orders/create/adhoc", json=order_body(channel_id=42))
    assert r.status_code == 400 and r.json()["message"] == "Given channel id does not exist"


# -- serviceability --------------------------------------------------------------------------
def test_serviceability_requires_params(sr):
    r = sr.get("/courier/serviceability/", params={"pickup_postcode": 560001})
    assert r.status_code == 422
    assert {"delivery_postcode", "weight", "cod", "order_id"} <= set(r.json()["errors"])


def test_serviceability_accepts_a_json_body_on_get_and_cod_adds_charges(sr):
    lane = {"pickup_postcode": "560001", "delivery_postcode": "400001", "weight": "1.2"}
    prepaid = sr.get("/courier/serviceability/", json={**lane, "cod": 0}).json()["data"]
    cod = sr.get("/courier/serviceability/", json={**lane, "cod": 1}).json()["data"]
    for p, c in zip(
        prepaid["available_courier_companies"], cod["available_courier_companies"], strict=True
    ):
        assert p["cod_charges"] == 0 and c["cod_charges"] > 0
        assert c["rate"] == p["rate"] + c["cod_charges"]


def test_serviceability_is_deterministic_and_scales_with_weight(sr):
    def rates(weight: float) -> dict[int, float]:
        params = {"pickup_postcode": 560001, "delivery_postcode": 700001, "cod": 0}
        params["weight"] = weight
        data = sr.get("/courier/serviceability/", params=params).json()["data"]
        return {c["courier_company_id"]: c["rate"] for c in data["available_courier_companies"]}

    assert rates(0.5) == rates(0.5)
    light, heavy = rates(0.5), rates(3)
    assert all(heavy[k] > light[k] for k in light)
    assert 48 not in light  # Ekart does not serve 7xxxxx


def test_serviceability_by_order_id(sr):
    order = sr.create(payment_method="COD")
    data = sr.get("/courier/serviceability/", params={"order_id": order["order_id"]}).json()
    assert all(c["cod_charges"] > 0 for c in data["data"]["available_courier_companies"])
    r = sr.get("/courier/serviceability/", params={"order_id": 1})
    assert r.status_code == 200 and r.json() == {"status": 404, "message": "Order does not exist!"}


def test_pincode_111111_has_no_courier(sr):
    params = {"pickup_postcode": 560001, "delivery_postcode": 111111, "weight": 1, "cod": 0}
    data = sr.get("/courier/serviceability/", params=params).json()["data"]
    assert data["available_courier_companies"] == []
    order = sr.create(billing_pincode="111111")
    r = sr.assign(order["shipment_id"])
    assert r.status_code == 200 and r.json()["awb_assign_status"] == 0


# -- assign AWB ------------------------------------------------------------------------------
def test_assign_awb_errors(sr):
    r = sr.post("/courier/assign/awb", json={})
    assert r.status_code == 422 and "shipment_id" in r.json()["errors"]
    r = sr.assign(123)
    assert r.status_code == 400 and r.json()["message"] == "Invalid shipment id"


def test_assign_awb_twice_is_refused_in_a_200(sr):
    order, awb = assigned(sr)
    r = sr.assign(order["shipment_id"])
    assert r.status_code == 200
    assert r.json() == {
        "awb_assign_status": 0,
        "response": {"data": {"awb_assign_error": "AWB is already assigned"}},
    }
    assert sr.state()["awbs_assigned"] == {str(order["shipment_id"]): 1}
    assert sr.get(f"/shipments/{order['shipment_id']}").json()["data"]["awb"] == awb


def test_assign_with_a_chosen_courier_and_an_unserviceable_one(sr):
    order = sr.create(billing_pincode="700001")
    r = sr.assign(order["shipment_id"], courier_id="48")  # Ekart does not serve 7xxxxx
    assert r.json()["awb_assign_status"] == 0
    assert "not serviceable" in r.json()["response"]["data"]["awb_assign_error"]
    r = sr.assign(order["shipment_id"], courier_id="1")
    data = r.json()["response"]["data"]
    assert (data["courier_company_id"], data["courier_name"]) == (1, "Blue Dart")


def test_reassign_gives_a_new_awb_once(sr):
    order, awb = assigned(sr)
    r = sr.assign(order["shipment_id"], courier_id=33, status="reassign")
    new = r.json()["response"]["data"]
    assert new["awb_code"] != awb and new["courier_company_id"] == 33
    r = sr.assign(order["shipment_id"], courier_id=14, status="reassign")
    assert r.status_code == 400
    assert sr.state()["awbs_assigned"][str(order["shipment_id"])] == 2


def test_pincode_222222_courier_issues(sr):
    order = sr.create(billing_pincode="222222")
    for courier in (None, 43, 1):
        extra = {} if courier is None else {"courier_id": courier}
        r = sr.assign(order["shipment_id"], **extra)
        assert r.status_code == 200
        assert r.json()["awb_assign_status"] == 0
        assert r.json()["response"]["data"]["awb_assign_error"] == "Courier is facing some issues"
    assert sr.state()["awbs_assigned"] == {}


def test_awbs_are_unique(sr):
    awbs = {assigned(sr)[1] for _ in range(5)}
    assert len(awbs) == 5


# -- pickup, label, tracking -----------------------------------------------------------------
def test_pickup_needs_a_known_shipment_with_an_awb(sr):
    r = sr.post("/courier/generate/pickup", json={"shipment_id": [999]})
    assert r.status_code == 400 and r.json()["message"] == "Invalid shipment id"
    order = sr.create()
    r = sr.post("/courier/generate/pickup", json={"shipment_id": [order["shipment_id"]]})
    assert r.status_code == 400


def test_label_errors(sr):
    order = sr.create()
    r = sr.post("/courier/generate/label", json={"shipment_id": order["shipment_id"]})
    assert r.status_code == 422 and "shipment_id" in r.json()["errors"]
    r = sr.post("/courier/generate/label", json={"shipment_id": [order["shipment_id"]]})
    assert r.status_code == 200 and r.json()["label_created"] == 0


def test_track_unknown_awb(sr):
    r = sr.get("/courier/track/awb/123456789")
    assert r.status_code == 200
    data = r.json()["tracking_data"]
    assert data["track_status"] == 0 and data["error"].startswith("Aahh!")


def test_status_control_rejects_unknown_status(sr):
    order, _ = assigned(sr)
    assert sr.set_status(order["shipment_id"], "TELEPORTED").status_code == 422
    assert sr.set_status(999, "DELIVERED").status_code == 404


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_errors(sr):
    r = sr.post("/orders/cancel", json={})
    assert r.status_code == 422 and "ids" in r.json()["errors"]
    r = sr.post("/orders/cancel", json={"ids": [424242]})
    assert r.status_code == 500
    assert r.json() == {"message": "Trying to get property of non-object", "status_code": 500}


def test_cancel_marks_order_and_shipment_cancelled(sr):
    order, awb = assigned(sr)
    r = sr.post("/orders/cancel", json={"ids": [order["order_id"]]})
    assert r.status_code == 204 and r.content == b""
    state = order_in_state(sr, order["order_id"])
    assert (state["status"], state["status_code"], state["cancelled"]) == ("CANCELED", 5, True)
    assert sr.get(f"/shipments/{order['shipment_id']}").json()["data"]["status"] == 8
    assert sr.get(f"/courier/track/awb/{awb}").json()["tracking_data"]["shipment_status"] == 8


def test_cancel_refused_once_picked_up(sr):
    order, awb = assigned(sr)
    assert sr.set_status(order["shipment_id"], "OUT FOR PICKUP").status_code == 200
    assert sr.set_status(order["shipment_id"], "PICKED UP").json()["picked_up"] is True
    r = sr.post("/orders/cancel", json={"ids": [order["order_id"]]})
    assert r.status_code == 400 and "picked up" in r.json()["message"]
    r = sr.post("/orders/cancel/shipment/awbs", json={"awbs": [awb]})
    assert r.status_code == 400 and "picked up" in r.json()["message"]
    assert order_in_state(sr, order["order_id"])["cancelled"] is False


def test_cancel_shipment_awbs_releases_the_awb(sr):
    order, awb = assigned(sr)
    r = sr.post("/orders/cancel/shipment/awbs", json={"awbs": [awb]})
    assert r.status_code == 200
    assert r.json()["message"].startswith("Bulk Shipment cancellation is in progress")
    state = order_in_state(sr, order["order_id"])
    assert state["awb"] is None and state["cancelled_awbs"] == [awb]
    assert sr.assign(order["shipment_id"]).json()["awb_assign_status"] == 1
    r = sr.post("/orders/cancel/shipment/awbs", json={})
    assert r.status_code == 422


# -- address update --------------------------------------------------------------------------
def test_address_update(sr):
    order = sr.create()
    new = {
        "order_id": order["order_id"],
        "shipping_customer_name": "Ravi",
        "shipping_phone": "9988998899",
        "shipping_address": "4 Lake Road",
        "shipping_city": "Pune",
        "shipping_state": "Maharashtra",
        "shipping_country": "India",
        "shipping_pincode": 411001,
    }
    r = sr.post("/orders/address/update", json=new)
    assert r.status_code == 202 and r.content == b""
    assert order_in_state(sr, order["order_id"])["address"]["pincode"] == "411001"
    r = sr.post("/orders/address/update", json={**new, "order_id": 1})
    assert r.json()["errors"] == {"order_id": ["The selected order id is invalid."]}
    r = sr.post("/orders/address/update", json={**new, "shipping_country": ""})
    assert r.status_code == 422 and "shipping_country" in r.json()["errors"]


# -- data triggers ---------------------------------------------------------------------------
def test_sbx500_fails_once_then_creates(sr):
    r = sr.post("/orders/create/adhoc", json=order_body(order_id="A-SBX500-1"))
    assert r.status_code == 500
    assert r.json() == {"message": "Internal server error.", "status_code": 500}
    assert sr.state()["orders"] == []
    assert sr.create(order_id="A-SBX500-1")["status"] == "NEW"
    assert sr.state()["creates"]["A-SBX500-1"] == 2


def test_sbx500always_always_fails(sr):
    for _ in range(3):
        r = sr.post("/orders/create/adhoc", json=order_body(order_id="SBX500ALWAYS-1"))
        assert r.status_code == 500
    assert sr.state()["orders"] == []


def test_sbx429_once_with_retry_after(sr):
    r = sr.post("/orders/create/adhoc", json=order_body(order_id="SBX429-1"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert sr.create(order_id="SBX429-1")["status"] == "NEW"


def test_sbxslow_creates_then_times_out(sr):
    with pytest.raises(requests.ReadTimeout):
        sr.post("/orders/create/adhoc", json=order_body(order_id="SBXSLOW-1"), timeout=1)
    [order] = sr.state()["orders"]
    assert order["channel_order_id"] == "SBXSLOW-1"
    started = time.monotonic()
    again = sr.create(order_id="SBXSLOW-1")
    assert time.monotonic() - started < 2
    assert again["order_id"] == order["sr_order_id"]


# -- control faults --------------------------------------------------------------------------
def test_fault_500_does_nothing(sr):
    order = sr.create()
    sr.fault(path=f"{API}/courier/assign/awb", kind="500")
    r = sr.assign(order["shipment_id"])
    assert r.status_code == 500 and r.json()["status_code"] == 500
    assert sr.state()["awbs_assigned"] == {}
    assert sr.assign(order["shipment_id"]).json()["awb_assign_status"] == 1


def test_fault_429_with_retry_after_and_times(sr):
    sr.fault(path="/orders/create/adhoc", kind="429", times=2, retry_after=2, method="POST")
    for _ in range(2):
        r = sr.post("/orders/create/adhoc", json=order_body(order_id="F429"))
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert sr.create(order_id="F429")["status"] == "NEW"
    assert sr.state()["creates"]["F429"] == 3


def test_fault_method_filter(sr):
    sr.fault(path="/orders", kind="500", method="POST")
    assert sr.get("/orders").status_code == 200
    assert len(sr.control("GET", "/faults").json()["faults"]) == 1


def test_fault_timeout_does_the_work(sr):
    order = sr.create()
    sr.fault(path="courier/assign/awb", kind="timeout", delay_s=1.5)
    with pytest.raises(requests.ReadTimeout):
        sr.assign(order["shipment_id"], timeout=0.5)
    assert sr.state()["awbs_assigned"] == {str(order["shipment_id"]): 1}


def test_fault_hang_waits_before_the_work(sr):
    order = sr.create()
    sr.fault(path="/courier/assign/awb", kind="hang", delay_s=1)
    with pytest.raises(requests.ReadTimeout):
        sr.assign(order["shipment_id"], timeout=0.3)
    assert sr.state()["awbs_assigned"] == {}  # still hanging
    time.sleep(1.2)
    assert sr.state()["awbs_assigned"] == {str(order["shipment_id"]): 1}


def test_fault_drop_closes_the_connection_without_work(sr):
    order = sr.create()
    sr.fault(path="/courier/assign/awb", kind="drop")
    with pytest.raises(requests.ConnectionError):
        sr.assign(order["shipment_id"])
    state = sr.state()
    assert state["awbs_assigned"] == {}
    assert state["calls"][-1]["status"] is None


def test_fault_drop_after_does_the_work(sr):
    order = sr.create()
    sr.fault(path="/courier/assign/awb", kind="drop_after")
    with pytest.raises(requests.ConnectionError):
        sr.assign(order["shipment_id"])
    assert sr.state()["awbs_assigned"] == {str(order["shipment_id"]): 1}


def test_fault_refuse(sr):
    order = sr.create()
    sr.fault(path="/courier/assign/awb", kind="refuse")
    r = sr.assign(order["shipment_id"])
    assert r.status_code == 200 and r.json()["awb_assign_status"] == 0
    assert r.json()["response"]["data"]["awb_assign_error"] == "Courier is facing some issues"
    assert sr.assign(order["shipment_id"]).json()["awb_assign_status"] == 1


def test_fault_validation_and_clear(sr):
    r = sr.control("POST", "/faults", json={"path": "/orders", "kind": "refuse"})
    assert r.status_code == 422 and "kind" in r.json()["errors"]
    r = sr.control("POST", "/faults", json={"kind": "500"})
    assert r.status_code == 422 and "path" in r.json()["errors"]
    sr.fault(path="/orders", kind="500", times=5)
    assert sr.control("DELETE", "/faults").status_code == 200
    assert sr.get("/orders").status_code == 200


def test_fault_on_login(sr):
    sr.fault(path="/auth/login", kind="500")
    r = requests.post(f"{sr.base}{API}/auth/login", json={"email": "a@b.in", "password": "x"})
    assert r.status_code == 500
    assert Client(sr.base).token


# -- state, reset, latency -------------------------------------------------------------------
def test_state_counts_and_calls(sr):
    order, _ = assigned(sr, order_id="COUNT-1")
    sr.create(order_id="COUNT-1")
    sr.get("/nope")
    state = sr.state()
    assert state["logins"] == 1
    assert state["creates"] == {"COUNT-1": 2}
    assert state["awbs_assigned"] == {str(order["shipment_id"]): 1}
    calls = [(c["method"], c["path"], c["status"]) for c in state["calls"]]
    assert calls == [
        ("POST", f"{API}/auth/login", 200),
        ("POST", f"{API}/orders/create/adhoc", 200),
        ("POST", f"{API}/courier/assign/awb", 200),
        ("POST", f"{API}/orders/create/adhoc", 200),
        ("GET", f"{API}/nope", 404),
    ]
    assert all(c["at"] for c in state["calls"])
    o = state["orders"][0]
    assert {"channel_order_id", "sr_order_id", "shipment_id", "status", "awb"} <= set(o)
    assert {"courier_id", "courier_name", "pickup_scheduled", "label_url", "cancelled"} <= set(o)
    assert o["address"]["pincode"] == "110002"


def test_reset_empties_state_but_keeps_tokens(sr):
    sr.create()
    sr.fault(path="/orders", kind="500")
    assert sr.control("POST", "/reset").status_code == 200
    state = sr.state()
    assert (state["orders"], state["creates"], state["calls"], state["logins"]) == ([], {}, [], 0)
    assert sr.get("/orders").status_code == 200


def test_latency_config(sr):
    sr.control("POST", "/config", json={"latency_ms": 300})
    started = time.monotonic()
    assert sr.get("/settings/company/pickup").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    sr.state()  # the control API is never slowed
    assert time.monotonic() - started < 0.3


def test_latency_from_constructor():
    with SandboxServer(latency_ms=200) as slow:
        started = time.monotonic()
        r = requests.post(
            f"{slow.url}{API}/auth/login", json={"email": "a@b.in", "password": "x"}, timeout=5
        )
        assert r.status_code == 200 and time.monotonic() - started >= 0.2


def test_app_instances_do_not_share_state():
    a, b = create_sandbox_app(), create_sandbox_app()
    token = a.test_client().post(f"{API}/auth/login", json={"email": "x", "password": "y"})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert a.test_client().get(f"{API}/orders", headers=headers).status_code == 200
    assert b.test_client().get(f"{API}/orders", headers=headers).status_code == 401


# -- webhook push ----------------------------------------------------------------------------
@pytest.fixture
def receiver():
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers["Content-Length"])
            received.append(
                {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/webhooks/tracking", received
    httpd.shutdown()
    httpd.server_close()


def test_push_tracking_sends_shiprockets_webhook(sr, receiver):
    url, received = receiver
    order, awb = assigned(sr, order_id="HOOK-1")
    sr.post("/courier/generate/pickup", json={"shipment_id": [order["shipment_id"]]})
    sr.set_status(order["shipment_id"], "PICKED UP")
    sr.set_status(order["shipment_id"], "IN TRANSIT")
    r = sr.control("POST", "/push-tracking", json={"awb": awb, "url": url, "token": "s3cret"})
    assert r.status_code == 200 and r.json()["status_code"] == 200
    [hit] = received
    assert hit["headers"]["x-api-key"] == "s3cret"
    body = hit["body"]
    assert body["awb"] == awb and body["order_id"] == "HOOK-1"
    assert body["sr_order_id"] == order["order_id"]
    assert (body["current_status"], body["current_status_id"]) == ("IN TRANSIT", 20)
    assert (body["shipment_status"], body["shipment_status_id"]) == ("IN TRANSIT", 18)
    assert re.fullmatch(r"\d{2} \d{2} \d{4} \d{2}:\d{2}:\d{2}", body["current_timestamp"])
    assert [s["sr-status"] for s in body["scans"]] == ["3", "42", "18"]  # oldest first
    assert all("sr-status-label" in s and s["location"] for s in body["scans"])
    for key in ("courier_name", "awb_assigned_date", "pickup_scheduled_date", "etd", "is_return"):
        assert key in body
    assert body["pod_status"] and body["pod"] and "qc_image" in body


def test_push_tracking_unknown_awb_and_dead_receiver(sr):
    r = sr.control("POST", "/push-tracking", json={"awb": "1", "url": "http://127.0.0.1:9/x"})
    assert r.status_code == 404
    _, awb = assigned(sr)
    r = sr.control("POST", "/push-tracking", json={"awb": awb, "url": "http://127.0.0.1:9/x"})
    assert r.status_code == 502 and r.json()["status_code"] is None
