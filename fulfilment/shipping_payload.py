"""Our order → Shiprocket's adhoc order. Validated here, before any call, with field names ops know.

Address rule (recorded on the shipment, never silent): Shiprocket takes two address lines; each
is sent at most 80 characters. A longer line 1 is wrapped at a word boundary into line 2 (the
remainder goes in front of line 2). If the two lines together do not fit in 2 × 80 characters,
the shipment is refused with "shipping_address.line1: too long …" so ops can shorten it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fulfilment.errors import InvalidInput
from fulfilment.models import Order
from fulfilment.schemas import normalise_phone
from fulfilment.timefmt import IST

LINE_MAX = 80
CITY_MAX = 30
SKU_MAX = 50
MIN_DIMENSION = Decimal("0.5")


@dataclass(frozen=True)
class PackageDefaults:
    weight_kg: Decimal
    length_cm: Decimal
    breadth_cm: Decimal
    height_cm: Decimal


@dataclass
class MappedOrder:
    payload: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # e.g. "address line 1 wrapped into line 2"


def _wrap(line1: str, line2: str | None) -> tuple[str, str | None, list[str]]:
    if len(line1) <= LINE_MAX and (line2 is None or len(line2) <= LINE_MAX):
        return line1, line2, []
    head = line1[:LINE_MAX]
    if len(line1) > LINE_MAX and " " in head:
        head = head[: head.rindex(" ")]
    rest = line1[len(head) :].strip()
    second = " ".join(p for p in (rest, line2 or "") if p).strip() or None
    if len(head) > LINE_MAX or (second is not None and len(second) > LINE_MAX) or not head:
        raise InvalidInput(
            "address too long",
            {
                "shipping_address.line1": [
                    f"too long for Shiprocket: lines 1 and 2 must fit in {LINE_MAX} characters "
                    "each; shorten the address"
                ]
            },
        )
    return head, second, ["address line 1 was longer than 80 characters: wrapped into line 2"]


def _check(order: Order) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[1-9][0-9]{5}", order.ship_pincode or ""):
        errors["shipping_address.pincode"] = ["must be 6 digits"]
    if normalise_phone(order.customer_phone or "") is None:
        errors["customer.phone"] = ["must be a 10-digit Indian mobile number"]
    if not (order.ship_line1 or "").strip() or len(order.ship_line1.strip()) < 3:
        errors["shipping_address.line1"] = ["must have at least 3 characters"]
    if not (order.ship_city or "").strip():
        errors["shipping_address.city"] = ["must not be blank"]
    elif len(order.ship_city) > CITY_MAX:
        errors["shipping_address.city"] = [f"must be at most {CITY_MAX} characters for Shiprocket"]
    if not (order.ship_state or "").strip():
        errors["shipping_address.state"] = ["must not be blank"]
    for n, item in enumerate(order.items):
        if not 1 <= len(item.sku) <= SKU_MAX:
            errors[f"items.{n}.sku"] = [f"must be 1 to {SKU_MAX} characters"]
    return errors


def build_adhoc_order(
    order: Order, *, channel_order_id: str, pickup_location: str, defaults: PackageDefaults
) -> MappedOrder:
    """The orders/create/adhoc body for `order`, or InvalidInput naming what to fix."""
    errors = _check(order)
    if errors:
        raise InvalidInput("the order cannot be sent to Shiprocket", errors)
    line1, line2, notes = _wrap(order.ship_line1.strip(), (order.ship_line2 or "").strip() or None)
    first, _, last = order.customer_name.strip().partition(" ")
    weight = order.weight_kg or defaults.weight_kg
    dims = [
        order.length_cm or defaults.length_cm,
        order.breadth_cm or defaults.breadth_cm,
        order.height_cm or defaults.height_cm,
    ]
    if order.weight_kg is None or None in (order.length_cm, order.breadth_cm, order.height_cm):
        notes.append("package weight/dimensions from the configured defaults")
    dims = [d if d > MIN_DIMENSION else Decimal("1") for d in dims]  # Shiprocket: > 0.5 cm
    payload: dict[str, Any] = {
        "order_id": channel_order_id,
        "order_date": order.placed_at.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
        "pickup_location": pickup_location,
        "billing_customer_name": first,
        "billing_last_name": last,
        "billing_address": line1,
        "billing_address_2": line2 or "",
        "billing_city": order.ship_city.strip(),
        "billing_pincode": order.ship_pincode,
        "billing_state": order.ship_state.strip(),
        "billing_country": "India",
        "billing_email": order.customer_email,
        "billing_phone": order.customer_phone,
        "shipping_is_billing": True,
        "order_items": [
            {
                "name": item.name[:255],
                "sku": item.sku,
                "units": item.quantity,
                "selling_price": f"{item.unit_price:.2f}",
                "tax": "" if item.tax_rate is None else f"{item.tax_rate:g}",
                "hsn": int(item.hsn) if item.hsn and item.hsn.isdigit() else "",
            }
            for item in order.items
        ],
        "payment_method": "COD" if order.payment_method == "cod" else "Prepaid",
        "shipping_charges": f"{order.shipping_fee:.2f}",
        "total_discount": f"{order.discount:.2f}",
        "sub_total": f"{order.subtotal:.2f}",
        "length": f"{dims[0]:g}",
        "breadth": f"{dims[1]:g}",
        "height": f"{dims[2]:g}",
        "weight": f"{weight:g}",
    }
    return MappedOrder(payload, notes)


def delivery_address(order: Order) -> dict[str, Any]:
    """Body fields for orders/address/update (without order_id)."""
    line1, line2, _ = _wrap(order.ship_line1.strip(), (order.ship_line2 or "").strip() or None)
    return {
        "shipping_customer_name": order.customer_name,
        "shipping_phone": order.customer_phone,
        "shipping_address": line1,
        "shipping_address_2": line2 or "",
        "shipping_city": order.ship_city,
        "shipping_state": order.ship_state,
        "shipping_country": "India",
        "shipping_pincode": order.ship_pincode,
        "shipping_email": order.customer_email,
    }
