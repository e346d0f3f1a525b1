"""Sandbox routes for couriers and shipments: serviceability, AWB, pickup, label, tracking,
AWB cancellation (under /v1/external), plus the label PDFs (/labels/<ids>.pdf)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from fulfilment.shiprocket.sandbox_couriers import (
    Courier,
    find_courier,
    recommended,
    serviceability,
)
from fulfilment.shiprocket.sandbox_http import V1, body, fail, invalid, refused, state
from fulfilment.shiprocket.sandbox_rules import blank, boolean, check_ndr_action, digits, number
from fulfilment.shiprocket.sandbox_state import (
    CHANNEL_ID,
    COMPANY_ID,
    SandboxState,
    ist_str,
    now_ist,
    php_date,
    pickup_date_after,
    to_int,
)
from fulfilment.shiprocket.sandbox_tracking import (
    NO_ACTIVITY,
    PICKUP_GENERATED,
    STATUSES,
    add_scan,
    tracking_data,
)

COURIER_ISSUES_PIN = "222222"
COURIER_ISSUES = "Courier is facing some issues"
AWB_PICKED_UP_REFUSAL = "Cannot cancel shipment: it is already picked up / in transit"
UNDELIVERED = STATUSES["UNDELIVERED"]
NDR_ACCEPTED = "Data Updated Sucessfully"  # sic, as Shiprocket spells it (NOTES §2.11)
NOT_IN_NDR = "Action can not be taken as the shipment is not in NDR state."
NO_NDR = "No NDR found for the AWB"

bp = Blueprint("sandbox_shipping", __name__, url_prefix=V1)
labels_bp = Blueprint("sandbox_labels", __name__)


# -- serviceability --------------------------------------------------------------------------
@bp.get("/courier/serviceability/", strict_slashes=False)
def courier_serviceability():
    params = {**body(), **request.args.to_dict()}
    s = state()
    if not blank(params.get("order_id")):
        with s.lock:
            o = s.order(params["order_id"])
            if o is None:
                return jsonify({"status": 404, "message": "Order does not exist!"})
            lane = (o["pickup_pin"], o["delivery_pin"], o["weight"], o["cod"])
        return jsonify(serviceability(*lane))
    errors, lane = _lane_from(params)
    if errors:
        missing = any("required" in m for ms in errors.values() for m in ms)
        return invalid(errors, "Required field missing" if missing else "Oops! Invalid Data.")
    return jsonify(serviceability(*lane))


def _lane_from(params: dict[str, Any]) -> tuple[dict[str, list[str]], tuple]:
    errors: dict[str, list[str]] = {}
    for field in ("pickup_postcode", "delivery_postcode"):
        value = digits(params.get(field))
        if blank(params.get(field)):
            errors[field] = [f"The {field.replace('_', ' ')} field is required."]
        elif value is None or len(value) != 6:
            errors[field] = [f"The {field.replace('_', ' ')} must be 6 digits."]
    weight, cod = number(params.get("weight")), boolean(params.get("cod"))
    if blank(params.get("weight")):
        errors["weight"] = ["The weight field is required when order id is not present."]
    elif weight is None or weight <= 0:
        errors["weight"] = ["The weight must be greater than 0."]
    if blank(params.get("cod")):
        errors["cod"] = ["The cod field is required when order id is not present."]
    elif cod is None:
        errors["cod"] = ["The cod field must be 0 or 1."]
    if errors:
        errors["order_id"] = [
            "The order id field is required when pickup postcode / delivery postcode / cod / "
            "weight is not present."
        ]
        return errors, ()
    pickup, delivery = digits(params["pickup_postcode"]), digits(params["delivery_postcode"])
    return {}, (pickup, delivery, weight, cod)


# -- assign AWB ------------------------------------------------------------------------------
@bp.post("/courier/assign/awb")
def assign_awb():
    data, s = body(), state()
    if blank(data.get("shipment_id")):
        return invalid(
            {"shipment_id": ["The shipment id field is required."]}, "Required field missing"
        )
    reassign = str(data.get("status") or "").strip().lower() == "reassign"
    with s.lock:
        o = s.order_by_shipment(data["shipment_id"])
        if o is None:
            return fail(400, "Invalid shipment id")
        if o["cancelled"]:
            return fail(400, "order is in cancelled state.")
        if o["awb"] and not reassign:
            return refused("AWB is already assigned")
        if o["awb"] and (o["reassigned"] or o["picked_up"] or o["pickup_scheduled"]):
            return fail(400, "Oops! Cannot reassign courier for this shipment.")
        if o["delivery_pin"] == COURIER_ISSUES_PIN:
            return refused(COURIER_ISSUES)
        courier = _pick_courier(o, data.get("courier_id"))
        if isinstance(courier, str):
            return refused(courier)
        return jsonify(assign(s, o, courier))


def _pick_courier(o: dict[str, Any], courier_id: Any) -> Courier | str:
    """The courier to use, or the refusal reason."""
    if blank(courier_id):
        courier = recommended(o["pickup_pin"], o["delivery_pin"])
        return courier or f"No courier serviceable for pincode {o['delivery_pin']}"
    wanted = to_int(courier_id)
    courier = find_courier(o["pickup_pin"], o["delivery_pin"], wanted) if wanted else None
    return courier or f"Selected courier is not serviceable for pincode {o['delivery_pin']}"


def assign(s: SandboxState, o: dict[str, Any], courier: Courier) -> dict[str, Any]:
    """Give the shipment a new AWB with `courier` (caller holds the lock)."""
    if o["awb"]:
        s.by_awb.pop(o["awb"], None)
        o["cancelled_awbs"].append(o["awb"])
        o["reassigned"] = True
    when = now_ist()
    o["awb"] = s.next_awb(courier.id)
    o["courier_id"], o["courier_name"] = courier.id, courier.name
    o["awb_assigned_at"] = ist_str(when)
    o["pickup_slot"] = ist_str(pickup_date_after(when))
    o["status"], o["status_code"], o["shipment_status"] = "READY TO SHIP", 3, 1
    s.by_awb[o["awb"]] = o["sr_order_id"]
    s.awbs_assigned[o["shipment_id"]] += 1
    data = {
        "courier_company_id": courier.id,
        "awb_code": o["awb"],
        "cod": int(o["cod"]),
        "order_id": o["sr_order_id"],
        "shipment_id": o["shipment_id"],
        "awb_code_status": 1,
        "assigned_date_time": php_date(when),
        "applied_weight": o["weight"],
        "company_id": COMPANY_ID,
        "courier_name": courier.name,
        "child_courier_name": None,
        "pickup_scheduled_date": o["pickup_slot"],
        "routing_code": "",
        "rto_routing_code": "",
        "invoice_no": f"SBX{o['sr_order_id']}",
        "transporter_id": "",
        "transporter_name": "",
        "shipped_by": shipped_by(s, o),
    }
    return {"awb_assign_status": 1, "response": {"data": data}}


def shipped_by(s: SandboxState, o: dict[str, Any]) -> dict[str, Any]:
    p = s.pickup(o["pickup_location"]) or {}
    fields = ("company_name", "address_1", "address_2", "city", "state", "country", "postcode")
    values = (
        p.get("name"),
        p.get("address"),
        p.get("address_2"),
        p.get("city"),
        p.get("state"),
        p.get("country"),
        p.get("pin_code"),
    )
    out: dict[str, Any] = {}
    for prefix in ("shipper", "rto"):
        out.update({f"{prefix}_{f}": v for f, v in zip(fields, values, strict=True)})
        out[f"{prefix}_phone"], out[f"{prefix}_email"] = p.get("phone"), p.get("email")
    out["shipper_first_mile_activated"] = 0
    return out


# -- shipments -------------------------------------------------------------------------------
@bp.get("/shipments/<shipment_id>")
def show_shipment(shipment_id: str):
    s = state()
    with s.lock:
        o = s.order_by_shipment(shipment_id)
        return jsonify({"data": shipment_detail(o)} if o else {})


def shipment_detail(o: dict[str, Any]) -> dict[str, Any]:
    a = o["address"]
    created = php_date(o["created_at"])
    return {
        "id": o["shipment_id"],
        "order_id": o["sr_order_id"],
        "channel_id": CHANNEL_ID,
        "company_id": COMPANY_ID,
        "invoice_no": f"SBX{o['sr_order_id']}",
        "invoice_date": None,
        "courier": o["courier_name"],
        "sr_courier_id": o["courier_id"],
        "awb": o["awb"],
        "awb_assign_date": o["awb_assigned_at"],
        "pickup_generated_date": o["pickup_scheduled"],
        "pickup_token_number": o["pickup_token"],
        "method": "COD" if o["cod"] else "Standard",
        "weight": f"{o['weight']:.3f}",
        "dimensions": "x".join(f"{d:.2f}" for d in o["dims"]),
        "quantity": sum(i["units"] for i in o["items"]),
        "cost": "0.00",
        "tax": "0.00",
        "cod_charges": "0.00",
        "total": f"{o['sub_total']:.2f}",
        "shipping_address": {
            "city": a["city"],
            "state": a["state"],
            "address": a["address"],
            "country": a["country"],
            "pincode": a["pincode"],
            "address_2": a["address_2"],
            "company_name": None,
        },
        "customer_details": None,
        "status": o["shipment_status"],
        "shipped_date": o["pickup_date"],
        "delivered_date": o["delivered_date"],
        "returned_date": None,
        "label_url": o["label_url"],
        "manifest_url": None,
        "created_at": created,
        "updated_at": php_date(),
    }


def _id_list(value: Any) -> list[Any]:
    if blank(value):
        return []
    return value if isinstance(value, list) else [value]


@bp.post("/courier/generate/pickup")
def generate_pickup():
    data, s = body(), state()
    ids = _id_list(data.get("shipment_id"))
    with s.lock:
        orders = [s.order_by_shipment(i) for i in ids]
        if not orders or any(o is None for o in orders):
            return fail(400, "Invalid shipment id")
        for o in orders:
            if o["cancelled"]:
                return fail(400, "order is in cancelled state.")
            if not o["awb"]:
                return fail(400, f"Please assign AWB to shipment {o['shipment_id']} first")
        answer = schedule_pickup(orders[0])
        for o in orders[1:]:
            schedule_pickup(o)
    return jsonify(answer)


def schedule_pickup(o: dict[str, Any]) -> dict[str, Any]:
    """Schedule the pickup once (later calls answer the same); caller holds the lock."""
    if not o["pickup_scheduled"]:
        o["pickup_scheduled"] = o["pickup_slot"] or ist_str()
        day = now_ist().strftime("%d%m%Y")
        o["pickup_token"] = f"Reference No: SBX {o['shipment_id']}_{day}"
        o["pickup_generated_at"] = php_date()
        add_scan(o, PICKUP_GENERATED)
    others = {"tier_id": 5, "etd_zone": "z_c", "selected_courier_type": "Best in price"}
    return {
        "pickup_status": 1,
        "response": {
            "pickup_scheduled_date": o["pickup_scheduled"],
            "pickup_token_number": o["pickup_token"],
            "status": 3,
            "others": json.dumps(others),
            "pickup_generated_date": o["pickup_generated_at"],
            "data": f"Pickup is confirmed by {o['courier_name']} For AWB :- {o['awb']}",
        },
    }


@bp.post("/courier/generate/label")
def generate_label():
    data, s = body(), state()
    ids = data.get("shipment_id")
    if blank(ids):
        return invalid({"shipment_id": ["The shipment id field is required."]})
    if not isinstance(ids, list):
        return invalid({"shipment_id": ["The shipment id must be an array."]})
    with s.lock:
        good = [o for o in map(s.order_by_shipment, ids) if o and o["awb"] and not o["cancelled"]]
        if not good:
            return jsonify(
                {
                    "label_created": 0,
                    "not_created": [],
                    "response": "No valid shipment ids to print label",
                }
            )
        name = "-".join(str(o["shipment_id"]) for o in good)
        url = f"{request.host_url}labels/{name}.pdf"
        for o in good:
            o["label_url"] = url
    done = {str(o["shipment_id"]) for o in good}
    return jsonify(
        {
            "label_created": 1,
            "label_url": url,
            "response": "Label has been created and uploaded successfully!",
            "not_created": [i for i in ids if str(i) not in done],
        }
    )


@labels_bp.get("/labels/<name>.pdf")
def label_pdf(name: str):
    s = state()
    with s.lock:
        orders = [s.order_by_shipment(part) for part in name.split("-")]
        if not orders or any(o is None or not o["awb"] for o in orders):
            return fail(404, "404 Not Found")
        awbs = [o["awb"] for o in orders]
    return Response(tiny_pdf("Sandbox label AWB " + ", ".join(awbs)), mimetype="application/pdf")


def tiny_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing `text`."""
    safe = text.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 20 100 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# -- tracking --------------------------------------------------------------------------------
@bp.get("/courier/track/awb/<awb>")
def track_awb(awb: str):
    s = state()
    with s.lock:
        o = s.order_by_awb(awb)
        if o is None:
            return jsonify({"tracking_data": {"track_status": 0, "error": NO_ACTIVITY}})
        return jsonify(tracking_data(o))


@bp.get("/courier/track/shipment/<shipment_id>")
def track_shipment(shipment_id: str):
    s = state()
    with s.lock:
        o = s.order_by_shipment(shipment_id)
        if o is None or not o["awb"]:
            return jsonify({"tracking_data": {"track_status": 0, "error": NO_ACTIVITY}})
        return jsonify(tracking_data(o))


# -- NDR (non-delivery reports) -------------------------------------------------------------
@bp.get("/ndr/all")
def ndr_all():
    s = state()
    page = max(1, to_int(request.args.get("page", "1")) or 1)
    per_page = min(100, max(1, to_int(request.args.get("per_page", "15")) or 15))
    with s.lock:
        found = [o for o in s.orders.values() if in_ndr(o)]
        found.sort(key=lambda o: o["sr_order_id"], reverse=True)
        chunk = [ndr_row(o) for o in found[(page - 1) * per_page : page * per_page]]
    pages = max(1, -(-len(found) // per_page))
    pagination = {
        "total": len(found),
        "count": len(chunk),
        "per_page": per_page,
        "current_page": page,
        "total_pages": pages,
    }
    return jsonify({"data": chunk, "meta": {"pagination": pagination}})


@bp.get("/ndr/<awb>")
def ndr_one(awb: str):
    s = state()
    with s.lock:
        o = s.order_by_awb(awb)
        if o is None or not in_ndr(o):
            return fail(404, NO_NDR)
        return jsonify({"data": [ndr_row(o)]})


@bp.post("/ndr/<awb>/action")
def ndr_action(awb: str):
    data, s = body(), state()
    errors = check_ndr_action(data, now_ist().date())
    if errors:
        return invalid(errors)
    action = str(data["action"]).strip().lower()
    with s.lock:
        o = s.order_by_awb(awb)
        if o is None:
            return fail(404, NO_NDR)
        if not in_ndr(o):
            return fail(400, NOT_IN_NDR)
        s.ndr_actions.append(
            {
                "awb": o["awb"],
                "shipment_id": o["shipment_id"],
                "action": action,
                "comments": str(data["comments"]),
                "phone": digits(data.get("phone")),
                "address1": _opt(data.get("address1")),
                "address2": _opt(data.get("address2")),
                "deferred_date": _opt(data.get("deferred_date")),
                "at": ist_str(),
            }
        )
        if action == "return":
            add_scan(o, STATUSES["RTO INITIATED"])
        else:
            _apply_corrections(o, data)
            add_scan(o, STATUSES["OUT FOR DELIVERY"])
    return jsonify({"status": NDR_ACCEPTED}), 202


def in_ndr(o: dict[str, Any]) -> bool:
    """The shipment's latest state is UNDELIVERED (an NDR awaiting the seller's action)."""
    return bool(o["awb"]) and not o["cancelled"] and o["shipment_status"] == UNDELIVERED.shipment_id


def ndr_row(o: dict[str, Any]) -> dict[str, Any]:
    """One row of GET /ndr/all (field names as a live answer shows them)."""
    failed = [sc for sc in o["scans"] if sc["sr-status"] == str(UNDELIVERED.shipment_id)]
    last = failed[-1] if failed else {}
    reason = str(last.get("activity") or "")
    prefix = "Undelivered - "
    return {
        "id": o["shipment_id"],
        "shipment_id": o["shipment_id"],
        "order_id": o["sr_order_id"],
        "channel_order_id": o["channel_order_id"],
        "customer_name": o["address"]["name"],
        "customer_phone": o["address"]["phone"],
        "reason": reason[len(prefix) :] if reason.startswith(prefix) else reason,
        "attempts": len(failed),
        "ndr_raised_at": last.get("date"),
        "courier": o["courier_name"],
        "awb_code": o["awb"],
        "status": o["status"],
    }


def _opt(value: Any) -> str | None:
    return None if blank(value) else str(value).strip()


def _apply_corrections(o: dict[str, Any], data: dict[str, Any]) -> None:
    """A re-attempt's corrected phone / address lines replace the delivery address's."""
    if not blank(data.get("phone")):
        o["address"]["phone"] = digits(data["phone"])
    if not blank(data.get("address1")):
        o["address"]["address"] = str(data["address1"]).strip()
    if not blank(data.get("address2")):
        o["address"]["address_2"] = str(data["address2"]).strip()


# -- cancel AWBs -----------------------------------------------------------------------------
@bp.post("/orders/cancel/shipment/awbs")
def cancel_awbs():
    data, s = body(), state()
    awbs = data.get("awbs")
    if blank(awbs):
        return invalid({"awbs": ["The awbs field is required."]}, "Required field missing")
    if not isinstance(awbs, list):
        return fail(500, "Invalid argument supplied for foreach()")
    with s.lock:
        orders = [o for o in map(s.order_by_awb, awbs) if o is not None]
        if any(o["picked_up"] for o in orders):
            return fail(400, AWB_PICKED_UP_REFUSAL)
        for o in orders:
            release_awb(s, o)
    return jsonify(
        {"message": "Bulk Shipment cancellation is in progress. Please wait for some time."}
    )


def release_awb(s: SandboxState, o: dict[str, Any]) -> None:
    """Cancel the shipment's AWB; the order goes back to NEW (caller holds the lock)."""
    s.by_awb.pop(o["awb"], None)
    o["cancelled_awbs"].append(o["awb"])
    o["awb"] = o["courier_id"] = o["courier_name"] = None
    o["pickup_slot"] = o["pickup_scheduled"] = o["pickup_token"] = o["label_url"] = None
    o["pickup_generated_at"], o["reassigned"], o["scans"] = None, False, []
    o["status"], o["status_code"], o["shipment_status"] = "NEW", 1, 11
