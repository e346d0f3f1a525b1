"""Carrier choice rules with their tie-breaks, and the order → Shiprocket mapping rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from fulfilment.carriers import choose_carrier
from fulfilment.errors import InvalidInput
from fulfilment.shipping_payload import PackageDefaults, build_adhoc_order
from fulfilment.shiprocket.types import CourierOption


def opt(cid, rate, days, rating):
    return CourierOption(cid, f"C{cid}", Decimal(rate), days, None, rating)


OPTIONS = [
    opt(43, "54", 4, 4.9),
    opt(14, "54", 3, 3.5),  # same rate, faster: wins cheapest on the tie-break
    opt(1, "120", 1, 4.2),
    opt(33, "80", 2, 4.9),
]


@pytest.mark.parametrize(
    ("rule", "expected", "reason"),
    [
        ("cheapest", 14, "cheapest of 4"),
        ("fastest", 1, "fastest of 4"),
        ("best_rated", 43, "best rated of 4"),  # 4.9 tie: the cheaper one
        ("recommended", 33, "Shiprocket's recommendation of 4"),
    ],
)
def test_rules_and_tie_breaks(rule, expected, reason):
    choice = choose_carrier(OPTIONS, rule=rule, recommended_id=33)
    assert (choice.option.courier_id, choice.reason) == (expected, reason)


def test_recommended_not_on_offer_falls_back_to_cheapest():
    choice = choose_carrier(OPTIONS, rule="recommended", recommended_id=999)
    assert choice.option.courier_id == 14
    assert choice.reason == "cheapest of 4 (no recommendation on offer)"


def test_full_tie_ends_on_the_lower_courier_id():
    same = [opt(9, "50", 2, 4.0), opt(3, "50", 2, 4.0)]
    assert choose_carrier(same, rule="cheapest").option.courier_id == 3


def test_override_wins_and_names_who():
    choice = choose_carrier(OPTIONS, rule="cheapest", override_id=1, actor="ops@example.in")
    assert choice.option.courier_id == 1
    assert choice.reason == "override by ops@example.in (4 offered)"


def test_override_not_offered_is_refused():
    with pytest.raises(InvalidInput, match="courier 7 is not offered"):
        choose_carrier(OPTIONS, rule="cheapest", override_id=7)


DEFAULTS = PackageDefaults(Decimal("0.5"), Decimal("20"), Decimal("15"), Decimal("10"))


def order(**kw):
    base = dict(
        order_id="ORD-1",
        placed_at=datetime(2026, 11, 24, 4, 45, tzinfo=UTC),
        customer_name="Ananya Krishnan",
        customer_email="a@example.in",
        customer_phone="9845012345",
        ship_line1="Flat 4B, Sai Residency",
        ship_line2=None,
        ship_city="Bengaluru",
        ship_state="Karnataka",
        ship_pincode="560038",
        items=[
            SimpleNamespace(
                sku="TEE",
                name="Tee",
                quantity=2,
                unit_price=Decimal("599"),
                tax_rate=None,
                hsn="6109",
            )
        ],
        payment_method="cod",
        shipping_fee=Decimal("0"),
        discount=Decimal("0"),
        subtotal=Decimal("1198"),
        weight_kg=None,
        length_cm=None,
        breadth_cm=None,
        height_cm=None,
    )
    base.update(kw)
    return SimpleNamespace(**base)


def build(o):
    return build_adhoc_order(
        o, channel_order_id=o.order_id, pickup_location="Home", defaults=DEFAULTS
    )


def test_mapping_fills_shiprocket_fields_and_notes_defaults():
    mapped = build(order())
    p = mapped.payload
    assert (p["billing_customer_name"], p["billing_last_name"]) == ("Ananya", "Krishnan")
    assert p["order_date"] == "2026-11-24 10:15"  # India time
    assert p["payment_method"] == "COD" and p["sub_total"] == "1198.00"
    assert p["order_items"][0] == {
        "name": "Tee",
        "sku": "TEE",
        "units": 2,
        "selling_price": "599.00",
        "tax": "",
        "hsn": 6109,
    }
    assert (p["weight"], p["length"], p["breadth"], p["height"]) == ("0.5", "20", "15", "10")
    assert mapped.notes == ["package weight/dimensions from the configured defaults"]


def test_long_address_line_is_wrapped_at_a_word_and_recorded():
    line = "House 221, Very Long Apartment Complex Name, Near The Big Temple, Behind Market Road X"
    mapped = build(order(ship_line1=line, ship_line2="Indiranagar"))
    p = mapped.payload
    assert len(p["billing_address"]) <= 80 and len(p["billing_address_2"]) <= 80
    assert f"{p['billing_address']} {p['billing_address_2']}" == f"{line} Indiranagar"
    assert "wrapped into line 2" in mapped.notes[0]


def test_address_too_long_for_two_lines_is_refused_not_truncated():
    with pytest.raises(InvalidInput) as exc:
        build(order(ship_line1="word " * 40))
    assert "shipping_address.line1" in exc.value.fields


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ship_pincode": "05600"}, "shipping_address.pincode"),
        ({"customer_phone": "12345"}, "customer.phone"),
        ({"ship_city": "X" * 31}, "shipping_address.city"),
    ],
)
def test_invalid_fields_are_named(change, field):
    with pytest.raises(InvalidInput) as exc:
        build(order(**change))
    assert field in exc.value.fields
