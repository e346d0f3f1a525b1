"""Realistic demo orders, made through the real intake service (used by `make run`)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from fulfilment.db import utcnow
from fulfilment.schemas import (
    NO_PACKAGE,
    Address,
    Customer,
    Item,
    OrderPlacedEvent,
    Package,
    Payment,
    PlacedOrder,
)
from fulfilment.services.intake import record_order_placed

NAMES = [
    "Ananya Krishnan",
    "Rohit Deshmukh",
    "Priya Nair",
    "Arjun Mehta",
    "Kavya Reddy",
    "Siddharth Iyer",
    "Meera Joshi",
    "Vikram Singh",
    "Aditi Banerjee",
    "Rahul Gupta",
    "Sneha Kulkarni",
    "Farhan Qureshi",
    "Lakshmi Menon",
    "Harpreet Kaur",
    "Nikhil Rao",
]
PLACES = [
    ("Bengaluru", "Karnataka", "560038"),
    ("Pune", "Maharashtra", "411002"),
    ("Mumbai", "Maharashtra", "400050"),
    ("New Delhi", "Delhi", "110017"),
    ("Chennai", "Tamil Nadu", "600020"),
    ("Hyderabad", "Telangana", "500034"),
    ("Kolkata", "West Bengal", "700019"),
    ("Kochi", "Kerala", "682020"),
    ("Jaipur", "Rajasthan", "302001"),
    ("Ahmedabad", "Gujarat", "380009"),
]
STREETS = ["MG Road", "Station Road", "2nd Cross", "Park Street"]
PRODUCTS = [
    ("TEE-ORG-BLK-M", "Organic Cotton Tee - Black - M", "599.00", "6109", "5"),
    ("MUG-CER-350", "Ceramic Mug 350ml", "300.00", "6912", "12"),
    ("BAG-JUTE-L", "Jute Tote Bag - Large", "749.00", "4202", "12"),
    ("CANDLE-SOY-200", "Soy Candle 200g - Sandalwood", "450.00", "3406", "18"),
    ("NB-A5-DOT", "A5 Dotted Notebook", "249.00", "4820", "12"),
    ("KURTA-CTN-BLU-L", "Cotton Kurta - Indigo - L", "1299.00", "6211", "5"),
]


def make_order(rng: random.Random, number: int, *, minutes_ago: int) -> OrderPlacedEvent:
    name = rng.choice(NAMES)
    city, state, pincode = rng.choice(PLACES)
    lines = rng.sample(PRODUCTS, rng.randint(1, 3))
    items = tuple(
        Item(
            sku=s,
            name=n,
            quantity=rng.randint(1, 3),
            unit_price=Decimal(p),
            hsn=h,
            tax_rate=Decimal(t),
        )
        for s, n, p, h, t in lines
    )
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal("0"))
    shipping = Decimal("0.00") if subtotal >= 999 else Decimal("49.00")
    cod = rng.random() < 0.35
    placed_at = utcnow() - timedelta(minutes=minutes_ago)
    package = (
        Package(Decimal("0.8"), Decimal("25"), Decimal("20"), Decimal("10"))
        if rng.random() < 0.7
        else NO_PACKAGE
    )
    order = PlacedOrder(
        order_id=f"ORD-{number}",
        placed_at=placed_at,
        customer=Customer(
            name=name,
            email=name.lower().replace(" ", ".") + "@example.in",
            phone=f"9{rng.randint(100000000, 999999999)}",
        ),
        shipping_address=Address(
            line1=f"{rng.randint(1, 300)}, {rng.choice(STREETS)}",
            line2=rng.choice([None, "Near City Mall", "Opp. Post Office"]),
            city=city,
            state=state,
            pincode=pincode,
            country="IN",
        ),
        items=items,
        currency="INR",
        subtotal=subtotal,
        shipping_fee=shipping,
        discount=Decimal("0.00"),
        total=subtotal + shipping,
        payment=Payment(
            status="pending" if cod else "paid",
            method="cod" if cod else "prepaid",
            reference=None if cod else f"pay_{rng.getrandbits(48):012x}",
        ),
        package=package,
    )
    return OrderPlacedEvent(event_id=f"evt_demo_{number}", occurred_at=placed_at, order=order)


def seed_demo_orders(count: int = 8, *, seed: int = 7) -> list[str]:
    """Stores `count` demo orders through the intake service; returns their ids."""
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        event = make_order(rng, 100001 + n, minutes_ago=(count - n) * 37)
        ids.append(record_order_placed(event).order_id)
    return ids
