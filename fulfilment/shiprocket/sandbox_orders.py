"""Sandbox routes for login, orders, addresses and pickup locations (under /v1/external)."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, jsonify, request

from fulfilment.shiprocket.sandbox_couriers import place
from fulfilment.shiprocket.sandbox_http import (
    V1,
    body,
    empty,
    fail,
    invalid,
    server_error,
    state,
    too_many,
)
from fulfilment.shiprocket.sandbox_rules import (
    blank,
    boolean,
    check_address_update,
    check_order,
    check_pickup,
    digits,
    number,
)
from fulfilment.shiprocket.sandbox_state import (
    CHANNEL_ID,
    COMPANY_ID,
    USER_ID,
    SandboxState,
    ist_str,
    now_ist,
    to_int,
)
from fulfilment.shiprocket.sandbox_tracking import CANCELED, add_scan

SLOW_SECONDS = 3.0
PICKED_UP_REFUSAL = "Cannot cancel order: shipment is already picked up / in transit"

bp = Blueprint("sandbox_v1", __name__, url_prefix=V1)


@bp.post("/auth/login")
def login():
    data, s = body(), state()
    errors = {
        f: [f"The {f} field is required."] for f in ("email", "password") if blank(data.get(f))
    }
    if errors:
        return invalid(errors)
    if s.config["reject_logins"]:
        return fail(400, "Invalid email and password combination")
    token = s.issue_token(str(data["email"]))
    return jsonify(
        {
            "id": USER_ID,
            "first_name": "Sandbox",
            "last_name": "User",
            "email": data["email"],
            "company_id": COMPANY_ID,
            "created_at": "2024-03-28 05:30:02",
            "token": token,
        }
    )


# -- create ----------------------------------------------------------------------------------
@bp.post("/orders/create/adhoc")
def create_order():
    data, s = body(), state()
    channel_order_id = str(data.get("order_id") or "").strip()
    trigger = data_trigger(s, channel_order_id)
    if trigger is not None:
        return trigger
    errors = check_order(data, [p["pickup_location"] for p in s.pickups])
    if errors:
        return invalid(errors)
    if not blank(data.get("channel_id")) and to_int(data["channel_id"]) != CHANNEL_ID:
        return fail(400, "Given channel id does not exist")
    with s.lock:
        existing = s.by_channel.get(channel_order_id)
        if existing is not None:
            return jsonify(echo(s.orders[existing]))
        order = new_order(s, data, channel_order_id)
        s.add_order(order)
        answer = created(order)
    if "SBXSLOW" in channel_order_id.upper():
        time.sleep(SLOW_SECONDS)
    return jsonify(answer)


def data_trigger(s: SandboxState, channel_order_id: str) -> Any:
    """The answer forced by an SBX500 / SBX500ALWAYS / SBX429 channel order id, if any."""
    upper = channel_order_id.upper()
    if "SBX500ALWAYS" in upper:
        return server_error()
    if "SBX500" in upper and s.fire_once("SBX500", channel_order_id):
        return server_error()
    if "SBX429" in upper and s.fire_once("SBX429", channel_order_id):
        return too_many(1)
    return None


def new_order(s: SandboxState, data: dict[str, Any], channel_order_id: str) -> dict[str, Any]:
    sr_order_id, shipment_id = s.next_ids()
    pickup = s.pickup(data["pickup_location"])
    address = address_of(data, "billing" if boolean(data["shipping_is_billing"]) else "shipping")
    return {
        "sr_order_id": sr_order_id,
        "shipment_id": shipment_id,
        "channel_order_id": channel_order_id,
        "order_date": str(data["order_date"]),
        "created_at": now_ist(),
        "status": "NEW",
        "status_code": 1,
        "shipment_status": 11,
        "pickup_location": pickup["pickup_location"],
        "pickup_pin": pickup["pin_code"],
        "origin_city": pickup["city"],
        "delivery_pin": address["pincode"],
        "address": address,
        "customer": address_of(data, "billing"),
        "payment_method": "COD" if str(data["payment_method"]).lower() == "cod" else "Prepaid",
        "cod": str(data["payment_method"]).lower() == "cod",
        "sub_total": number(data["sub_total"]),
        "weight": number(data["weight"]),
        "dims": [number(data[d]) for d in ("length", "breadth", "height")],
        "items": [item_of(i) for i in data["order_items"]],
        **_shipment_blank(),
    }


def _shipment_blank() -> dict[str, Any]:
    return {
        "awb": None,
        "courier_id": None,
        "courier_name": None,
        "awb_assigned_at": None,
        "pickup_slot": None,
        "pickup_scheduled": None,
        "pickup_token": None,
        "pickup_generated_at": None,
        "label_url": None,
        "cancelled": False,
        "picked_up": False,
        "reassigned": False,
        "pickup_date": None,
        "delivered_date": None,
        "scans": [],
        "cancelled_awbs": [],
    }


def address_of(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    first = str(data.get(f"{prefix}_customer_name") or "").strip()
    last = str(data.get(f"{prefix}_last_name") or "").strip()
    return {
        "name": f"{first} {last}".strip(),
        "address": str(data.get(f"{prefix}_address") or ""),
        "address_2": str(data.get(f"{prefix}_address_2") or ""),
        "city": str(data.get(f"{prefix}_city") or ""),
        "state": str(data.get(f"{prefix}_state") or ""),
        "country": str(data.get(f"{prefix}_country") or ""),
        "pincode": digits(data.get(f"{prefix}_pincode")) or "",
        "phone": digits(data.get(f"{prefix}_phone")) or "",
        "email": str(data.get(f"{prefix}_email") or data.get("billing_email") or ""),
    }


def item_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(item["name"]),
        "sku": str(item["sku"]),
        "units": int(digits(item["units"]) or 0),
        "selling_price": number(item["selling_price"]),
    }


def created(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": o["sr_order_id"],
        "shipment_id": o["shipment_id"],
        "status": "NEW",
        "status_code": 1,
        "onboarding_completed_now": 0,
        "awb_code": None,
        "courier_company_id": None,
        "courier_name": None,
    }


def echo(o: dict[str, Any]) -> dict[str, Any]:
    """A duplicate channel order id: the existing order, as Shiprocket echoes it."""
    return {
        "order_id": o["sr_order_id"],
        "shipment_id": o["shipment_id"],
        "status": o["status"],
        "status_code": o["status_code"],
        "onboarding_completed_now": 0,
        "awb_code": "" if o["cancelled"] else (o["awb"] or ""),
        "courier_company_id": o["courier_id"],
        "courier_name": o["courier_name"],
    }


# -- read ------------------------------------------------------------------------------------
@bp.get("/orders")
def list_orders():
    s = state()
    search = request.args.get("search", "").strip().lower()
    page = max(1, to_int(request.args.get("page", "1")) or 1)
    per_page = min(100, max(1, to_int(request.args.get("per_page", "15")) or 15))
    with s.lock:
        found = [o for o in s.orders.values() if _matches(o, search)]
        found.sort(key=lambda o: o["sr_order_id"], reverse=True)
        chunk = [order_summary(o) for o in found[(page - 1) * per_page : page * per_page]]
    pages = max(1, math.ceil(len(found) / per_page))
    links = {"next": f"{request.base_url}?page={page + 1}"} if page < pages else {}
    pagination = {
        "total": len(found),
        "count": len(chunk),
        "per_page": per_page,
        "current_page": page,
        "total_pages": pages,
        "links": links,
    }
    return jsonify({"data": chunk, "meta": {"pagination": pagination}})


def _matches(o: dict[str, Any], search: str) -> bool:
    if not search:
        return True
    return search in o["channel_order_id"].lower() or search in (
        str(o["sr_order_id"]),
        str(o["awb"] or ""),
    )


@bp.get("/orders/show/<order_id>")
def show_order(order_id: str):
    s = state()
    with s.lock:
        o = s.order(order_id)
        if o is None:
            return fail(400, "Order ID not found")
        data = order_summary(o)
    data["shipments"] = data["shipments"][0]
    return jsonify({"data": data})


def order_summary(o: dict[str, Any]) -> dict[str, Any]:
    c = o["customer"]
    return {
        "id": o["sr_order_id"],
        "channel_id": CHANNEL_ID,
        "channel_name": "CUSTOM",
        "channel_order_id": o["channel_order_id"],
        "customer_name": c["name"],
        "customer_email": c["email"],
        "customer_phone": c["phone"],
        "customer_address": o["address"]["address"],
        "customer_address_2": o["address"]["address_2"],
        "customer_city": o["address"]["city"],
        "customer_state": o["address"]["state"],
        "customer_pincode": o["address"]["pincode"],
        "customer_country": o["address"]["country"],
        "pickup_location": o["pickup_location"],
        "payment_method": o["payment_method"].lower(),
        "total": o["sub_total"],
        "status": o["status"],
        "status_code": o["status_code"],
        "created_at": o["created_at"].strftime("%d %b %Y, %I:%M %p"),
        "products": [
            {
                "id": i + 1,
                "name": item["name"],
                "channel_sku": item["sku"],
                "quantity": item["units"],
                "price": item["selling_price"],
                "selling_price": item["selling_price"],
            }
            for i, item in enumerate(o["items"])
        ],
        "shipments": [shipment_brief(o)],
    }


def shipment_brief(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": o["shipment_id"],
        "isd_code": "+91",
        "courier": o["courier_name"],
        "courier_id": o["courier_id"],
        "awb": o["awb"],
        "weight": o["weight"],
        "dimensions": "x".join(f"{d:g}" for d in o["dims"]),
        "pickup_scheduled_date": o["pickup_scheduled"],
        "status": o["shipment_status"],
    }


# -- cancel / address --------------------------------------------------------------------------
@bp.post("/orders/cancel")
def cancel_orders():
    data, s = body(), state()
    ids = data.get("ids")
    if blank(ids):
        return invalid({"ids": ["The ids field is required."]}, "Required field missing")
    if not isinstance(ids, list):
        return fail(500, "Invalid argument supplied for foreach()")
    with s.lock:
        orders = [s.order(i) for i in ids]
        if any(o is None for o in orders):
            return fail(500, "Trying to get property of non-object")
        if any(o["picked_up"] for o in orders):
            return fail(400, PICKED_UP_REFUSAL)
        for o in orders:
            cancel_order(o)
    return empty(204)


def cancel_order(o: dict[str, Any]) -> None:
    """Mark the order CANCELED (5) and its shipment cancelled (8); caller holds the lock."""
    if o["cancelled"]:
        return
    if o["awb"]:
        add_scan(o, CANCELED)
    o["cancelled"] = True
    o["status"], o["status_code"], o["shipment_status"] = "CANCELED", 5, 8


@bp.post("/orders/address/update")
def update_address():
    data, s = body(), state()
    errors = check_address_update(data)
    with s.lock:
        o = s.order(data.get("order_id"))
        if o is None and "order_id" not in errors:
            errors["order_id"] = ["The selected order id is invalid."]
        if errors:
            return invalid(errors)
        name = str(data["shipping_customer_name"])
        o["address"] = {**address_of(data, "shipping"), "name": name}
        o["delivery_pin"] = o["address"]["pincode"]
    return empty(202)


# -- pickup locations --------------------------------------------------------------------------
@bp.get("/settings/company/pickup")
def pickup_locations():
    s = state()
    with s.lock:
        rows = [pickup_row(p) for p in s.pickups]
    return jsonify(
        {
            "data": {
                "shipping_address": rows,
                "allow_more": "true",
                "is_blackbox_seller": False,
                "company_name": "Sandbox Company",
                "recent_addresses": [],
            }
        }
    )


def pickup_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        **p,
        "address_type": None,
        "company_id": COMPANY_ID,
        "gstin": None,
        "vendor_name": None,
        "status": 2,
        "phone_verified": 1,
        "lat": None,
        "long": None,
        "rto_address_id": p["id"],
        "alternate_phone": "",
    }


@bp.post("/settings/company/addpickup")
def add_pickup():
    data, s = body(), state()
    with s.lock:
        errors = check_pickup(data, [p["pickup_location"] for p in s.pickups])
        if errors:
            return invalid(errors)
        pickup = new_pickup(s, data)
        s.pickups.append(pickup)
    address = {**pickup_row(pickup), "pickup_code": pickup["pickup_location"], "phone_verified": 0}
    address["created_at"] = address["updated_at"] = ist_str()
    return jsonify(
        {
            "success": True,
            "address": address,
            "pickup_id": pickup["id"],
            "company_name": "Sandbox Company",
            "full_name": "Sandbox User",
        }
    )


def new_pickup(s: SandboxState, data: dict[str, Any]) -> dict[str, Any]:
    pin = digits(data["pin_code"]) or ""
    return {
        "id": max(p["id"] for p in s.pickups) + 1,
        "pickup_location": str(data["pickup_location"]),
        "address": str(data["address"]),
        "address_2": str(data.get("address_2") or ""),
        "city": str(data.get("city") or place(pin)[0]),
        "state": str(data["state"]),
        "country": str(data["country"]),
        "pin_code": pin,
        "email": str(data["email"]),
        "phone": digits(data["phone"]) or "",
        "name": str(data["name"]),
        "is_primary_location": 0,
    }
