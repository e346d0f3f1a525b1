"""marshmallow schemas for inbound payloads. Pure: no database, no request.

Loading returns frozen dataclasses with normalised values (10-digit phone, upper-case country,
Decimal money quantised to paise). Unknown fields are ignored (senders add fields over time).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

PAISE = Decimal("0.01")
MONEY_RE = re.compile(r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$")
PINCODE_RE = re.compile(r"^[1-9][0-9]{5}$")
ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,39}$")
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")


def reject_nul(data: Any) -> None:
    """PostgreSQL cannot store NUL in text: refuse it here, field by field, as bad input.

    A loaded JSON document is serialised once (in C) to see whether any NUL is there at all;
    only then is it walked to name the field.
    """
    try:
        clean = "\\u0000" not in json.dumps(data)
    except (TypeError, ValueError):  # not a JSON document after all: walk it
        clean = False
    if not clean:
        _walk_for_nul(data, "")


def _walk_for_nul(data: Any, path: str) -> None:
    if isinstance(data, str):
        if "\x00" in data:
            raise ValidationError({path or "_body": ["must not contain NUL characters"]})
    elif isinstance(data, dict):
        for key, value in data.items():
            _walk_for_nul(key, path)
            _walk_for_nul(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for n, value in enumerate(data):
            _walk_for_nul(value, f"{path}.{n}" if path else str(n))


class BaseSchema(Schema):
    """Inbound payloads: unknown fields ignored (senders add fields), NUL characters refused."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def no_nul(self, data: Any, **_: Any) -> Any:
        reject_nul(data)  # nested schemas repeat it on their part: small payloads, cheap
        return data


class MoneyField(fields.Field):
    """Rupees as a decimal string ("1498.00"); JSON numbers are refused (floats lose paise)."""

    default_error_messages = {
        "invalid": 'must be a decimal string in rupees with at most 2 decimals, e.g. "1498.00"',
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not MONEY_RE.match(value.strip()):
            raise self.make_error("invalid")
        return Decimal(value.strip()).quantize(PAISE)


class PositiveDecimalField(fields.Field):
    default_error_messages = {"invalid": 'must be a positive decimal string, e.g. "0.9"'}

    def __init__(self, *, maximum: Decimal, **kwargs: Any):
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,3})?", text):
            raise self.make_error("invalid")
        number = Decimal(text)
        if number <= 0:
            raise self.make_error("invalid")
        if number > self.maximum:
            raise ValidationError(f"must be at most {self.maximum}")
        return number


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, floats and numeric strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def normalise_phone(raw: str) -> str | None:
    """10 Indian mobile digits from '+91 98450 12345', '09845012345', '98450-12345'…"""
    digits = re.sub(r"[\s\-().]", "", raw)
    if digits.startswith("+91"):
        digits = digits[3:]
    elif digits.startswith("0091"):
        digits = digits[4:]
    elif len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    if re.fullmatch(r"[6-9][0-9]{9}", digits):
        return digits
    return None


class PhoneField(fields.String):
    default_error_messages = {
        "phone": "must be a 10-digit Indian mobile number (+91 or 0 prefix allowed)",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        phone = normalise_phone(text)
        if phone is None:
            raise self.make_error("phone")
        return phone


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _text(max_len: int, *, required: bool = True) -> fields.String:
    length = validate.Length(max=max_len)
    if required:
        return fields.String(required=True, validate=[length, _not_blank])
    return fields.String(load_default=None, allow_none=True, validate=length)


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str | None
    city: str
    state: str
    pincode: str
    country: str


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    hsn: str | None
    tax_rate: Decimal | None


@dataclass(frozen=True)
class Payment:
    status: str
    method: str
    reference: str | None


@dataclass(frozen=True)
class Package:
    weight_kg: Decimal | None
    length_cm: Decimal | None
    breadth_cm: Decimal | None
    height_cm: Decimal | None


@dataclass(frozen=True)
class PlacedOrder:
    order_id: str
    placed_at: datetime
    customer: Customer
    shipping_address: Address
    items: tuple[Item, ...]
    currency: str
    subtotal: Decimal
    shipping_fee: Decimal
    discount: Decimal
    total: Decimal
    payment: Payment
    package: Package

    def content_hash(self) -> str:
        """sha256 of the normalised order: equal for the same order however it was spelled.

        The document is what `dataclasses.asdict(self)` gives, with `placed_at` in ISO form; the
        stored hashes depend on it, so it must not change. It is built by hand because asdict's
        recursive deep copy was a tenth of the intake's CPU; the leaves are immutable anyway.
        """
        doc = {
            **vars(self),
            "placed_at": self.placed_at.isoformat(),
            "customer": vars(self.customer),
            "shipping_address": vars(self.shipping_address),
            "items": [vars(item) for item in self.items],
            "payment": vars(self.payment),
            "package": vars(self.package),
        }
        blob = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class OrderPlacedEvent:
    event_id: str
    occurred_at: datetime
    order: PlacedOrder


class CustomerSchema(BaseSchema):
    name = _text(200)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    phone = PhoneField(required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Customer:
        return Customer(
            name=data["name"].strip(), email=data["email"].strip().lower(), phone=data["phone"]
        )


class AddressSchema(BaseSchema):
    line1 = _text(200)
    line2 = _text(200, required=False)
    city = _text(100)
    state = _text(100)
    pincode = fields.String(
        required=True,
        validate=validate.Regexp(PINCODE_RE, error="must be a 6-digit Indian pincode"),
    )
    country = fields.String(
        required=True,
        validate=validate.OneOf(["IN", "in"], error="only IN (India) is shipped to"),
    )

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Address:
        line2 = (data.get("line2") or "").strip() or None
        return Address(
            line1=data["line1"].strip(),
            line2=line2,
            city=data["city"].strip(),
            state=data["state"].strip(),
            pincode=data["pincode"],
            country=data["country"].upper(),
        )


class ItemSchema(BaseSchema):
    sku = _text(50)
    name = _text(255)
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=10_000))
    unit_price = MoneyField(required=True)
    hsn = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9]{2,8}$")
    )
    tax_rate = PositiveDecimalField(maximum=Decimal("100"), load_default=None, allow_none=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Item:
        return Item(
            sku=data["sku"].strip(),
            name=data["name"].strip(),
            quantity=data["quantity"],
            unit_price=data["unit_price"],
            hsn=data.get("hsn"),
            tax_rate=data.get("tax_rate"),
        )


class PaymentSchema(BaseSchema):
    status = fields.String(required=True, validate=validate.OneOf(["paid", "pending"]))
    method = fields.String(required=True, validate=validate.OneOf(["prepaid", "cod"]))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))

    @validates_schema
    def prepaid_is_paid(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("method") == "prepaid" and data.get("status") != "paid":
            raise ValidationError("a prepaid order must arrive paid", field_name="status")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Payment:
        return Payment(status=data["status"], method=data["method"], reference=data["reference"])


class PackageSchema(BaseSchema):
    weight_kg = PositiveDecimalField(maximum=Decimal("100"), load_default=None, allow_none=True)
    length_cm = PositiveDecimalField(maximum=Decimal("300"), load_default=None, allow_none=True)
    breadth_cm = PositiveDecimalField(maximum=Decimal("300"), load_default=None, allow_none=True)
    height_cm = PositiveDecimalField(maximum=Decimal("300"), load_default=None, allow_none=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Package:
        return Package(
            **{k: data.get(k) for k in ("weight_kg", "length_cm", "breadth_cm", "height_cm")}
        )


NO_PACKAGE = Package(None, None, None, None)


class PlacedOrderSchema(BaseSchema):
    order_id = fields.String(
        required=True,
        validate=validate.Regexp(
            ORDER_ID_RE, error="must be 1-40 letters, digits, '-' or '_', starting alphanumeric"
        ),
    )
    placed_at = fields.AwareDateTime(required=True, format="iso")
    customer = fields.Nested(CustomerSchema, required=True)
    shipping_address = fields.Nested(AddressSchema, required=True)
    items = fields.List(
        fields.Nested(ItemSchema),
        required=True,
        validate=validate.Length(min=1, max=200, error="must list 1 to 200 items"),
    )
    currency = fields.String(
        required=True, validate=validate.Equal("INR", error="only INR is accepted")
    )
    subtotal = MoneyField(required=True)
    shipping_fee = MoneyField(required=True)
    discount = MoneyField(required=True)
    total = MoneyField(required=True)
    payment = fields.Nested(PaymentSchema, required=True)
    package = fields.Nested(PackageSchema, load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def sums_add_up(self, data: dict[str, Any], **_: Any) -> None:
        items_sum = sum((i.unit_price * i.quantity for i in data["items"]), Decimal("0"))
        if items_sum != data["subtotal"]:
            raise ValidationError(
                f"subtotal {data['subtotal']} is not the sum of the items ({items_sum})",
                field_name="subtotal",
            )
        expected = data["subtotal"] + data["shipping_fee"] - data["discount"]
        if expected != data["total"]:
            raise ValidationError(
                f"total {data['total']} is not subtotal + shipping_fee - discount ({expected})",
                field_name="total",
            )

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> PlacedOrder:
        return PlacedOrder(
            order_id=data["order_id"],
            placed_at=data["placed_at"],
            customer=data["customer"],
            shipping_address=data["shipping_address"],
            items=tuple(data["items"]),
            currency=data["currency"],
            subtotal=data["subtotal"],
            shipping_fee=data["shipping_fee"],
            discount=data["discount"],
            total=data["total"],
            payment=data["payment"],
            package=data.get("package") or NO_PACKAGE,
        )


class OrderPlacedSchema(BaseSchema):
    event_id = fields.String(
        required=True,
        validate=validate.Regexp(EVENT_ID_RE, error="must be 1-128 letters, digits or _-:."),
    )
    event_type = fields.String(
        required=True, validate=validate.Equal("OrderPlaced", error="must be OrderPlaced")
    )
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    order = fields.Nested(PlacedOrderSchema, required=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> OrderPlacedEvent:
        return OrderPlacedEvent(
            event_id=data["event_id"], occurred_at=data["occurred_at"], order=data["order"]
        )


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"order": {"items": {0: {"sku": [..]}}}} → {"order.items.0.sku": [..]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            for k, v in flatten_errors(value, name).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(messages, list):
        flat[prefix or "_body"] = [str(m) for m in messages]
    else:
        flat[prefix or "_body"] = [str(messages)]
    return flat
