"""Request validation of the Shiprocket sandbox, with Laravel-style messages.

Each `check_*` function returns an errors map {field: [message, ...]} (empty when valid).
Numbers may arrive as JSON numbers or numeric strings, as Shiprocket accepts both.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

Errors = dict[str, list[str]]

ORDER_REQUIRED = (
    "order_id",
    "order_date",
    "pickup_location",
    "billing_customer_name",
    "billing_address",
    "billing_city",
    "billing_pincode",
    "billing_state",
    "billing_country",
    "billing_email",
    "billing_phone",
    "shipping_is_billing",
    "order_items",
    "payment_method",
    "sub_total",
    "length",
    "breadth",
    "height",
    "weight",
)
SHIPPING_REQUIRED = (
    "shipping_customer_name",
    "shipping_address",
    "shipping_city",
    "shipping_pincode",
    "shipping_country",
    "shipping_state",
    "shipping_phone",
)
ADDRESS_UPDATE_REQUIRED = ("order_id", *SHIPPING_REQUIRED)
PICKUP_REQUIRED = (
    "pickup_location",
    "name",
    "email",
    "phone",
    "address",
    "city",
    "state",
    "country",
    "pin_code",
)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{1,2}:\d{2}(:\d{2})?)?$")
PAYMENT_METHODS = ("cod", "prepaid")


def human(field: str) -> str:
    return field.replace("_", " ")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def number(value: Any) -> float | None:
    """A float from a JSON number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def digits(value: Any) -> str | None:
    """The digits of an int or an all-digit string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def boolean(value: Any) -> bool | None:
    """True/False from a JSON bool, 0/1 or "true"/"false"/"0"/"1"; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


class Checker:
    """Collects field errors over one request body."""

    def __init__(self, body: dict[str, Any]):
        self.body = body
        self.errors: Errors = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def present(self, field: str, suffix: str = "") -> bool:
        if blank(self.body.get(field)):
            self.add(field, f"The {human(field)} field is required{suffix}.")
            return False
        return True

    def fixed_digits(self, field: str, n: int) -> None:
        got = digits(self.body.get(field))
        if got is None or len(got) != n:
            self.add(field, f"The {human(field)} must be {n} digits.")

    def max_len(self, field: str, n: int) -> None:
        if len(str(self.body.get(field))) > n:
            self.add(field, f"The {human(field)} may not be greater than {n} characters.")

    def greater_than(self, field: str, limit: float) -> None:
        value = number(self.body.get(field))
        if value is None:
            self.add(field, f"The {human(field)} must be a number.")
        elif value <= limit:
            self.add(field, f"The {human(field)} must be greater than {limit:g}.")


def check_order(body: dict[str, Any], pickup_names: list[str]) -> Errors:
    """POST /orders/create/adhoc."""
    c = Checker(body)
    ok = {f for f in ORDER_REQUIRED if c.present(f)}
    if "order_id" in ok:
        c.max_len("order_id", 50)
    if "order_date" in ok and not DATE_RE.match(str(body["order_date"]).strip()):
        c.add("order_date", "The order date does not match the format Y-m-d.")
    if "pickup_location" in ok and body["pickup_location"] not in pickup_names:
        c.add("pickup_location", "The selected pickup location is invalid.")
    _check_party(c, "billing", ok)
    if "billing_address" in ok and len(str(body["billing_address"]).strip()) < 3:
        c.add("billing_address", "The billing address must be at least 3 characters.")
    if "billing_email" in ok and "@" not in str(body["billing_email"]):
        c.add("billing_email", "The billing email must be a valid email address.")
    if "shipping_is_billing" in ok:
        _check_shipping(c, body)
    if "order_items" in ok:
        _check_items(c, body["order_items"])
    if "payment_method" in ok and str(body["payment_method"]).lower() not in PAYMENT_METHODS:
        c.add("payment_method", "The selected payment method is invalid.")
    if "sub_total" in ok and number(body["sub_total"]) is None:
        c.add("sub_total", "The sub total must be a number.")
    for dim in ("length", "breadth", "height"):
        if dim in ok:
            c.greater_than(dim, 0.5)
    if "weight" in ok:
        c.greater_than("weight", 0)
    return c.errors


def _check_party(c: Checker, prefix: str, ok: set[str]) -> None:
    if f"{prefix}_pincode" in ok:
        c.fixed_digits(f"{prefix}_pincode", 6)
    if f"{prefix}_phone" in ok:
        c.fixed_digits(f"{prefix}_phone", 10)
    if f"{prefix}_city" in ok:
        c.max_len(f"{prefix}_city", 30)


def _check_shipping(c: Checker, body: dict[str, Any]) -> None:
    flag = boolean(body["shipping_is_billing"])
    if flag is None:
        c.add("shipping_is_billing", "The shipping is billing field must be true or false.")
        return
    if flag:
        return
    suffix = " when shipping is billing is 0"
    ok = {f for f in SHIPPING_REQUIRED if c.present(f, suffix)}
    _check_party(c, "shipping", ok)


def _check_items(c: Checker, items: Any) -> None:
    if not isinstance(items, list):
        c.add("order_items", "The order items must be an array.")
        return
    for i, item in enumerate(items):
        key = f"order_items.{i}"
        if not isinstance(item, dict):
            c.add(key, f"The {key} must be an object.")
            continue
        for field in ("name", "sku", "units", "selling_price"):
            if blank(item.get(field)):
                c.add(f"{key}.{field}", f"The {key}.{field} field is required.")
        _check_item_values(c, key, item)


def _check_item_values(c: Checker, key: str, item: dict[str, Any]) -> None:
    sku = item.get("sku")
    if sku is not None and not 1 <= len(str(sku)) <= 50:
        c.add(f"{key}.sku", "Product SKU should be between 1 to 50 characters")
    units = item.get("units")
    if not blank(units):
        n = digits(units)
        if n is None:
            c.add(f"{key}.units", f"The {key}.units must be an integer.")
        elif int(n) < 1:
            c.add(f"{key}.units", f"The {key}.units must be at least 1.")
    price = item.get("selling_price")
    if not blank(price) and number(price) is None:
        c.add(f"{key}.selling_price", f"The {key}.selling_price must be a number.")


def check_address_update(body: dict[str, Any]) -> Errors:
    """POST /orders/address/update (the order's existence is checked by the caller)."""
    c = Checker(body)
    ok = {f for f in ADDRESS_UPDATE_REQUIRED if c.present(f)}
    _check_party(c, "shipping", ok)
    return c.errors


def check_pickup(body: dict[str, Any], pickup_names: list[str]) -> Errors:
    """POST /settings/company/addpickup."""
    c = Checker(body)
    ok = {f for f in PICKUP_REQUIRED if c.present(f)}
    if "pickup_location" in ok:
        c.max_len("pickup_location", 36)
        if body["pickup_location"] in pickup_names:
            c.add("pickup_location", "The pickup location has already been taken.")
    if "address" in ok:
        c.max_len("address", 80)
        if not re.search(r"\d", str(body["address"])):
            c.add("address", "Address line 1 should have House no / Flat no / Road no.")
    if "phone" in ok:
        c.fixed_digits("phone", 10)
    if "pin_code" in ok:
        c.fixed_digits("pin_code", 6)
    return c.errors


NDR_ACTIONS = ("re-attempt", "return")
NDR_DEFER_DAYS = 7  # a deferred re-attempt may be at most this many days ahead


def check_ndr_action(body: dict[str, Any], today: date) -> Errors:
    """POST /ndr/{awb}/action (the AWB and its NDR state are checked by the caller)."""
    c = Checker(body)
    if c.present("action") and str(body["action"]).strip().lower() not in NDR_ACTIONS:
        c.add("action", "The selected action is invalid.")
    if c.present("comments"):
        c.max_len("comments", 255)
    if not blank(body.get("phone")):
        c.fixed_digits("phone", 10)
    for field in ("address1", "address2"):
        if not blank(body.get(field)):
            c.max_len(field, 200)
    if not blank(body.get("deferred_date")):
        _check_deferred_date(c, str(body["deferred_date"]).strip(), today)
    return c.errors


def _check_deferred_date(c: Checker, text: str, today: date) -> None:
    try:
        when = datetime.strptime(text, "%Y-%m-%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        c.add("deferred_date", "The deferred date does not match the format Y-m-d.")
        return
    if when < today:
        c.add("deferred_date", "The deferred date must be a date after or equal to today.")
    elif when > today + timedelta(days=NDR_DEFER_DAYS):
        c.add(
            "deferred_date",
            f"The deferred date must be a date within {NDR_DEFER_DAYS} days from today.",
        )
