"""marshmallow schemas for the JSON API's answers (contract §6)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from fulfilment.models import Order
from fulfilment.schemas import BaseSchema
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
    shipment = fields.Method("_shipment")
    tracking_events = fields.Method("_tracking")
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

    def _tracking(self, o: Order) -> list[dict[str, Any]]:
        from fulfilment.services.tracking import tracking_events

        if o.shipment is None:
            return []
        return TrackingEventOut(many=True).dump(tracking_events(o.shipment.id))

    def _shipment(self, o: Order) -> dict[str, Any] | None:
        sh = o.shipment
        if sh is None:
            return None
        return ShipmentOut().dump(sh)

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


class TrackingEventOut(Schema):
    at = IstDateTime(attribute="occurred_at")
    status = fields.String()
    status_id = fields.Integer(allow_none=True)
    activity = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    is_exception = fields.Boolean()


class AttemptOut(Schema):
    requested_at = IstDateTime()
    requested_by = fields.String()
    finished_at = IstDateTime()
    outcome = fields.String()
    reason = fields.String(allow_none=True)


class ShipmentOut(Schema):
    state = fields.String()
    awb = fields.String(allow_none=True)
    courier_id = fields.Integer(allow_none=True)
    courier_name = fields.String(allow_none=True)
    courier_rate = MoneyOut()
    choice_reason = fields.String(allow_none=True)
    courier_options = fields.List(fields.Dict(), allow_none=True)
    tracking_url = fields.String(allow_none=True)
    label_url = fields.String(allow_none=True)
    tracking_status = fields.String(allow_none=True)
    tracking_exception = fields.String(allow_none=True)
    pickup_time = fields.String(attribute="pickup_scheduled_at", allow_none=True)
    shiprocket_order_id = fields.Integer(attribute="sr_order_id", allow_none=True)
    shiprocket_shipment_id = fields.Integer(attribute="sr_shipment_id", allow_none=True)
    channel_order_id = fields.String()
    last_failure = fields.Method("_last_failure")
    attempts = fields.List(fields.Nested(AttemptOut), attribute="attempt_log")

    def _last_failure(self, sh: Any) -> str | None:
        from fulfilment.services.shipments import failure_message

        return failure_message(sh.failure_reason) if sh.failure_reason else None


class CourierOptionOut(Schema):
    id = fields.Integer(attribute="courier_id")
    name = fields.String()
    rate = MoneyOut()
    estimated_days = fields.Integer(allow_none=True)
    etd = fields.String(allow_none=True)
    rating = fields.Float(allow_none=True)


class ShipmentRequestIn(BaseSchema):
    courier_id = fields.Integer(load_default=None, allow_none=True, strict=True)


class CancelIn(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    confirmed_by_hand = fields.Boolean(load_default=False)


class NoteIn(BaseSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class BatchIn(BaseSchema):
    order_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=500),
    )
    courier_rule = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["cheapest", "fastest", "recommended", "best_rated"]),
    )


class OrderSummaryOut(Schema):
    order_id = fields.String()
    status = fields.String()
    placed_at = IstDateTime()
    updated_at = IstDateTime()
    customer_name = fields.String()
    total = MoneyOut()
    payment_method = fields.String()
    awb = fields.Method("_awb")

    def _awb(self, o: Order) -> str | None:
        return o.shipment.awb if o.shipment is not None else None


class OrderListOut(Schema):
    orders = fields.List(fields.Nested(OrderSummaryOut))
    next_cursor = fields.String(allow_none=True)


class OrderListArgs(BaseSchema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(["placed", "processing", "shipped", "delivered", "cancelled"]),
    )
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    updated_since = fields.AwareDateTime(load_default=None, format="iso")
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class JobOut(Schema):
    job_id = fields.String()
    shipment_id = fields.Integer()
    order_id = fields.String()


class BatchCreatedOut(Schema):
    batch_id = fields.Integer()


class BatchOut(Schema):
    batch_id = fields.Integer()
    total = fields.Integer()
    succeeded = fields.Integer()
    failed = fields.Integer()
    pending = fields.Integer()
    done = fields.Boolean()
    failures = fields.List(fields.Dict())


class CouriersOut(Schema):
    order_id = fields.String()
    rule = fields.String()
    automatic_choice = fields.Integer()
    reason = fields.String()
    options = fields.List(fields.Dict())


class ErrorOut(Schema):
    error = fields.String(required=True)
    detail = fields.String()
    current_status = fields.String()
    fields_ = fields.Dict(data_key="fields")
