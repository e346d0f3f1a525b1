"""marshmallow schemas for the JSON API's answers (contract §6)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from fulfilment.models import Order
from fulfilment.timefmt import iso_ist


class IstDateTime(fields.Field):
    """ISO 8601 with the India offset (+05:30)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return iso_ist(value)


class MoneyOut(fields.Field):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{value:.2f}"


class ItemOut(Schema):
    sku = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    unit_price = MoneyOut()
    hsn = fields.String(allow_none=True)


class HistoryOut(Schema):
    at = IstDateTime()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor = fields.String()
    details = fields.Dict()


class NoteOut(Schema):
    at = IstDateTime()
    author = fields.String()
    body = fields.String()


class OrderOut(Schema):
    order_id = fields.String()
    status = fields.String()
    version = fields.Integer()
    placed_at = IstDateTime()
    received_at = IstDateTime()
    updated_at = IstDateTime()
    customer = fields.Method("_customer")
    shipping_address = fields.Method("_address")
    items = fields.List(fields.Nested(ItemOut))
    currency = fields.String()
    subtotal = MoneyOut()
    shipping_fee = MoneyOut()
    discount = MoneyOut()
    total = MoneyOut()
    payment = fields.Method("_payment")
    package = fields.Method("_package")
    history = fields.List(fields.Nested(HistoryOut))
    shipment = fields.Constant(None)  # shipments arrive with the shipments issue
    tracking_events = fields.Constant([])
    notes = fields.List(fields.Nested(NoteOut))

    def _customer(self, o: Order) -> dict[str, str]:
        return {"name": o.customer_name, "email": o.customer_email, "phone": o.customer_phone}

    def _address(self, o: Order) -> dict[str, str | None]:
        return {
            "line1": o.ship_line1,
            "line2": o.ship_line2,
            "city": o.ship_city,
            "state": o.ship_state,
            "pincode": o.ship_pincode,
            "country": o.ship_country,
        }

    def _payment(self, o: Order) -> dict[str, str | None]:
        return {
            "status": o.payment_status,
            "method": o.payment_method,
            "reference": o.payment_reference,
        }

    def _package(self, o: Order) -> dict[str, str | None]:
        return {
            k: (None if getattr(o, k) is None else str(getattr(o, k)))
            for k in ("weight_kg", "length_cm", "breadth_cm", "height_cm")
        }


class ErrorOut(Schema):
    error = fields.String(required=True)
    detail = fields.String()
    current_status = fields.String()
    fields_ = fields.Dict(data_key="fields")
