"""A realistic order history for the dashboard benchmark, loaded fast.

    .venv/bin/python bench/seed_orders.py --orders 1000000 \
        --database-url postgresql://postgres@127.0.0.1:5432/bench_dashboard
    .venv/bin/python bench/seed_orders.py --orders 100000 \
        --database-url sqlite:////tmp/bench_dashboard.sqlite3

What it does:

1. drops and re-creates the database (PostgreSQL: DROP/CREATE DATABASE; SQLite: deletes the
   file) and runs the app's migrations on it (`flask --app wsgi db upgrade`, APP_ENV=development);
2. generates --orders orders placed over the last 12 months, in time order (ids grow with
   placed_at, as they do in production), with statuses that depend on the order's age (the
   last day is mostly placed/processing; overall about 5 % placed, 5 % processing, 85 %
   shipped or delivered, 5 % cancelled; the old placed/processing orders are the stuck ones the
   SLA filter is for), Indian names, cities, pincodes, +91 mobiles, e-mails (customers come
   back: about 2.2 orders per customer), 35 % cash on delivery, 1-3 items each, 1-4 status
   history rows each (the arrival, then one per status change), and a shipment for every
   shipped/delivered order (six couriers, unique AWBs in each courier's format), plus failed or
   in-progress shipments on some processing orders and cancelled ones on some cancelled orders;
3. PostgreSQL: loads each table with COPY FROM STDIN (psycopg 3, one connection per table, a
   queued writer so that generating and loading overlap), with the foreign-key and
   append-only triggers off for the load (`session_replication_role = replica`; the rows are
   consistent by construction) and the plain (non-constraint) indexes dropped during the load
   and re-created from their exact definitions afterwards; then sets the id sequences and runs
   VACUUM (ANALYZE), so the tables look like settled production tables (statistics, visibility
   map). SQLite: executemany in one transaction per 50,000 orders, then ANALYZE.

About 3-4 minutes for 1,000,000 orders on PostgreSQL on a 2-core machine; about 20 s for
100,000 orders on SQLite. Deterministic for a given --seed and start time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from benchlib import (
    ROOT,
    app_env,
    app_url,
    conninfo,
    recreate_database,
    run_migrations,
    sqlite_path,
)
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.engine import URL, make_url

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/bench_dashboard"
CHUNK = 50_000  # orders generated (and, on SQLite, committed) at a time

# ---------------------------------------------------------------------------------------------
# Reference data.

FIRST_NAMES = (
    "Aarav Aditi Aditya Akash Amit Ananya Anjali Arjun Aryan Deepa Deepak Divya Farhan Gaurav "
    "Harpreet Ishaan Isha Karan Kavya Kiran Lakshmi Manish Meera Mohammed Neha Nikhil Pooja "
    "Pranav Priya Rahul Rajesh Ravi Rohit Sai Sanjay Shreya Siddharth Sneha Sunita Suresh "
    "Tanvi Varun Vikram Vivek Yash Zoya Abhishek Nandini Rekha Imran Gurpreet Swati Arnav "
    "Bhavna Chetan Fatima Girish Jyoti Kunal Madhu"
).split()
LAST_NAMES = (
    "Sharma Verma Gupta Singh Kumar Patel Shah Mehta Iyer Nair Menon Reddy Rao Naidu Krishnan "
    "Pillai Banerjee Chatterjee Mukherjee Das Bose Ghosh Sen Joshi Kulkarni Deshmukh Patil "
    "Jadhav Pawar Chopra Malhotra Kapoor Khanna Bhatia Arora Sethi Kaur Gill Sandhu Qureshi "
    "Khan Ansari Sheikh Fernandes D'Souza Pereira Hegde Shetty Kamath Bhat Agarwal Jain"
).split()
EMAIL_DOMAINS = (
    ("gmail.com", 62),
    ("yahoo.co.in", 9),
    ("yahoo.com", 6),
    ("outlook.com", 8),
    ("hotmail.com", 5),
    ("rediffmail.com", 4),
    ("icloud.com", 4),
    ("proton.me", 2),
)
# (city, state, pincode prefix: the first 3 digits of the city's pincodes)
PLACES = (
    ("Bengaluru", "Karnataka", "560", 11),
    ("Mumbai", "Maharashtra", "400", 11),
    ("New Delhi", "Delhi", "110", 10),
    ("Pune", "Maharashtra", "411", 6),
    ("Hyderabad", "Telangana", "500", 7),
    ("Chennai", "Tamil Nadu", "600", 7),
    ("Kolkata", "West Bengal", "700", 5),
    ("Ahmedabad", "Gujarat", "380", 4),
    ("Gurugram", "Haryana", "122", 4),
    ("Noida", "Uttar Pradesh", "201", 3),
    ("Jaipur", "Rajasthan", "302", 3),
    ("Kochi", "Kerala", "682", 2),
    ("Lucknow", "Uttar Pradesh", "226", 2),
    ("Chandigarh", "Chandigarh", "160", 2),
    ("Indore", "Madhya Pradesh", "452", 2),
    ("Coimbatore", "Tamil Nadu", "641", 2),
    ("Thiruvananthapuram", "Kerala", "695", 1),
    ("Bhubaneswar", "Odisha", "751", 1),
    ("Nagpur", "Maharashtra", "440", 1),
    ("Surat", "Gujarat", "395", 2),
    ("Vadodara", "Gujarat", "390", 1),
    ("Visakhapatnam", "Andhra Pradesh", "530", 1),
    ("Mysuru", "Karnataka", "570", 1),
    ("Guwahati", "Assam", "781", 1),
    ("Patna", "Bihar", "800", 1),
    ("Bhopal", "Madhya Pradesh", "462", 1),
    ("Dehradun", "Uttarakhand", "248", 1),
    ("Mangaluru", "Karnataka", "575", 1),
    ("Ludhiana", "Punjab", "141", 1),
    ("Agartala", "Tripura", "799", 1),
)
STREETS = (
    "MG Road",
    "Station Road",
    "2nd Cross, 4th Main",
    "Park Street",
    "Linking Road",
    "Anna Salai",
    "Nehru Nagar",
    "Gandhi Marg",
    "Sector 18",
    "100 Feet Road",
    "Church Street",
    "Old Airport Road",
    "Ring Road",
    "Civil Lines",
    "Jubilee Hills Road No. 36",
)
LINE2 = (
    None,
    None,
    None,
    "Near City Mall",
    "Opp. Post Office",
    "Behind SBI Bank",
    "Flat 302, Sai Residency",
    "2nd Floor",
    "Near Metro Station",
)
# (sku, name, unit price, hsn, tax rate %)
PRODUCTS = (
    ("TEE-ORG-BLK-M", "Organic Cotton Tee - Black - M", "599.00", "6109", "5"),
    ("TEE-ORG-WHT-L", "Organic Cotton Tee - White - L", "599.00", "6109", "5"),
    ("MUG-CER-350", "Ceramic Mug 350ml", "300.00", "6912", "12"),
    ("BAG-JUTE-L", "Jute Tote Bag - Large", "749.00", "4202", "12"),
    ("CANDLE-SOY-200", "Soy Candle 200g - Sandalwood", "450.00", "3406", "18"),
    ("NB-A5-DOT", "A5 Dotted Notebook", "249.00", "4820", "12"),
    ("KURTA-CTN-BLU-L", "Cotton Kurta - Indigo - L", "1299.00", "6211", "5"),
    ("KURTA-CTN-MRN-M", "Cotton Kurta - Maroon - M", "1299.00", "6211", "5"),
    ("SAREE-SLK-KAN", "Kanjivaram Silk Saree", "8499.00", "5007", "5"),
    ("DUPATTA-CHN", "Chanderi Dupatta", "899.00", "6214", "5"),
    ("TEA-ASM-250", "Assam CTC Tea 250g", "275.00", "0902", "5"),
    ("COFFEE-CHK-500", "Chikmagalur Filter Coffee 500g", "540.00", "0901", "5"),
    ("HONEY-RAW-500", "Raw Forest Honey 500g", "425.00", "0409", "0"),
    ("GHEE-A2-500", "A2 Cow Ghee 500ml", "899.00", "0405", "12"),
    ("SOAP-NEEM-3", "Neem Soap (pack of 3)", "225.00", "3401", "18"),
    ("OIL-COCO-1L", "Cold-pressed Coconut Oil 1L", "420.00", "1513", "5"),
    ("BEDSHEET-JPR-DB", "Jaipuri Bedsheet - Double", "1150.00", "6302", "5"),
    ("LAMP-BRS-SM", "Brass Diya Lamp - Small", "650.00", "7418", "12"),
    ("BOTTLE-CU-1L", "Copper Water Bottle 1L", "799.00", "7418", "12"),
    ("SANDAL-KOL-8", "Kolhapuri Chappal - Size 8", "1099.00", "6403", "12"),
    ("PHONE-CASE-A15", "Phone Case - Galaxy A15", "349.00", "3926", "18"),
    ("EARBUD-TWS-BLK", "Wireless Earbuds - Black", "1799.00", "8518", "18"),
    ("CABLE-USBC-1M", "USB-C Cable 1m", "299.00", "8544", "18"),
    ("BOOK-CKBK-HIN", "Ghar ka Khana (Hindi cookbook)", "399.00", "4901", "0"),
)
# (name, Shiprocket courier id, share %, AWB prefix, random digits after the prefix, suffix)
COURIERS = (
    ("Delhivery Surface", 14, 30, "1490", 10, ""),
    ("Xpressbees Surface", 33, 22, "1520", 11, ""),
    ("Ecom Express Surface", 82, 15, "8", 9, ""),
    ("Blue Dart Air", 6, 12, "7", 10, ""),
    ("DTDC Surface", 46, 11, "D", 9, ""),
    ("Shadowfax Surface", 195, 10, "SF", 9, "FPL"),
)
OPS_USERS = (
    "ops.meera@shop.example.in",
    "ops.rahul@shop.example.in",
    "ops.fatima@shop.example.in",
    "warehouse@shop.example.in",
)
FAILURES = (
    "Pincode {pin} is not serviceable by any courier",
    "shipping_address: Address line 1 should have at least 3 characters",
    "Shiprocket did not answer after several tries (gateway timeout)",
    "billing_phone: Please enter a valid 10 digit phone number",
    "Selected courier is not available for pickup from Sandbox Warehouse",
    "Wallet balance is low; recharge to assign AWB",
)
CANCEL_REASONS = (
    "Customer asked to cancel",
    "COD not confirmed on call",
    "Out of stock",
    "Duplicate order",
    "Address not serviceable",
)

# Status mix by the order's age: (up to age in days, [(status, weight %), ...]).
STATUS_BY_AGE = (
    (1, (("placed", 55), ("processing", 30), ("shipped", 10), ("cancelled", 5))),
    (3, (("placed", 15), ("processing", 20), ("shipped", 55), ("delivered", 5), ("cancelled", 5))),
    (10, (("placed", 5), ("processing", 5), ("shipped", 35), ("delivered", 50), ("cancelled", 5))),
    (
        10_000,
        (
            ("placed", 4.5),
            ("processing", 4.5),
            ("shipped", 2),
            ("delivered", 84),
            ("cancelled", 5),
        ),
    ),
)

EPOCH = datetime(1970, 1, 1)  # naive UTC: timestamps are formatted from it quickly
DAY = 86400.0
HOUR = 3600.0


def _table(rows: Any, at: int) -> list[Any]:
    """A lookup table for weighted picks: each row repeated in proportion to its weight
    (column `at`); table[int(random() * len(table))] picks a row."""
    table: list[Any] = []
    for row in rows:
        table += [row] * round(float(row[at]) * 10)
    return table


# ---------------------------------------------------------------------------------------------
# Columns loaded, in order (every NOT NULL column of migrations 0001-0003 is given).

ORDER_COLS = (
    "id order_id status version placed_at received_at updated_at customer_name customer_email "
    "customer_phone ship_line1 ship_line2 ship_city ship_state ship_pincode ship_country currency "
    "subtotal shipping_fee discount total payment_status payment_method payment_reference "
    "weight_kg length_cm breadth_cm height_cm content_hash source_event_id"
).split()
ITEM_COLS = "id order_pk position sku name quantity unit_price hsn tax_rate".split()
HISTORY_COLS = "id order_pk at from_status to_status actor details".split()
SHIPMENT_COLS = (
    "id order_pk state channel_order_id sr_order_id sr_shipment_id requested_courier_id "
    "requested_by courier_id courier_name courier_rate courier_options choice_reason awb "
    "tracking_url pickup_scheduled_at pickup_token label_url address_sync_pending failure_reason "
    "attempts lease_owner lease_expires_at created_at updated_at"
).split()
TABLES = (
    ("orders", ORDER_COLS),
    ("order_items", ITEM_COLS),
    ("order_status_history", HISTORY_COLS),
    ("shipments", SHIPMENT_COLS),
)


@dataclass
class Chunk:
    orders: list[tuple] = field(default_factory=list)
    items: list[tuple] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)
    shipments: list[tuple] = field(default_factory=list)

    def rows(self, table: str) -> list[tuple]:
        return {
            "orders": self.orders,
            "order_items": self.items,
            "order_status_history": self.history,
            "shipments": self.shipments,
        }[table]


class Generator:
    """Makes the rows, as tuples of strings, chunk by chunk, in id order.

    NULL is `None` for SQLite and `\\N` for PostgreSQL's COPY text format (no value generated
    here contains a tab, newline or backslash). Timestamps are 'YYYY-MM-DD HH:MM:SS.ffffff'
    (SQLAlchemy's SQLite format, UTC) plus '+00' for PostgreSQL's timestamptz. Weighted picks
    go through lookup tables and times are formatted by hand: about 20 µs per order.
    """

    def __init__(self, total: int, *, seed: int, now: float, dialect: str):
        self.total = total
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - 365 * DAY
        pg = dialect == "postgresql"
        self.tz = "+00" if pg else ""
        self.null: str | None = r"\N" if pg else None
        self.false = "f" if pg else "0"
        self.customers = max(1, int(total * 0.45))
        self.domains = _table(EMAIL_DOMAINS, 1)
        self.places = _table(PLACES, 3)
        self.couriers = _table(COURIERS, 2)
        self.status_by_age = [(days, _table(mix, 1)) for days, mix in STATUS_BY_AGE]
        self.line2 = [self.null if v is None else v for v in LINE2]
        self.minutes: dict[int, str] = {}
        self.counts: dict[str, int] = {}

    def ts(self, t: float) -> str:
        us = int(t * 1_000_000)
        minute, us = divmod(us, 60_000_000)
        head = self.minutes.get(minute)
        if head is None:
            head = (EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
            self.minutes[minute] = head
        s, us = divmod(us, 1_000_000)
        return f"{head}{s:02d}.{us:06d}{self.tz}"

    def customer(self, c: int) -> tuple[str, str, str]:
        first = FIRST_NAMES[c % len(FIRST_NAMES)]
        last = LAST_NAMES[(c * 7 + c // len(FIRST_NAMES)) % len(LAST_NAMES)]
        domain = self.domains[(c * 40_503) % len(self.domains)][0]
        local = f"{first}.{last}{c}" if c % 2 else f"{first[0]}{last}.{c}"
        email = f"{local.replace(chr(39), '')}@{domain}".lower()
        # A bijection of c onto 6000000000..9999999999: every customer its own mobile number.
        phone = str(6_000_000_000 + (c * 2_654_435_761 + 12_345) % 4_000_000_000)
        return f"{first} {last}", email, phone

    def chunk(self, first_id: int, count: int) -> Chunk:
        rand, out = self.rng.random, Chunk()
        span = self.now - self.start - 120  # the newest order is two minutes old
        for pk in range(first_id, first_id + count):
            # Orders arrive in time order, with jitter; slightly more in recent months.
            frac = ((pk - 0.5) / self.total) ** 0.9
            placed = min(self.start + span * frac + 120 * rand() - 60, self.now - 120)
            age_days = (self.now - placed) / DAY
            for days, table in self.status_by_age:
                if age_days <= days:
                    status = table[int(rand() * len(table))][0]
                    break
            self.counts[status] = self.counts.get(status, 0) + 1
            self._order(out, pk, placed, status)
        return out

    def _courier(self) -> tuple:
        return self.couriers[int(self.rng.random() * len(self.couriers))]

    def _order(self, out: Chunk, pk: int, placed: float, status: str) -> None:
        rand, ts, null = self.rng.random, self.ts, self.null
        order_id = f"ORD-{100_000 + pk}"
        name, email, phone = self.customer(int(rand() * self.customers))
        city, state, pin3, _w = self.places[int(rand() * len(self.places))]
        pincode = f"{pin3}{int(rand() * 99) + 1:03d}"

        # Items: 1 (55 %), 2 (30 %) or 3 (15 %).
        subtotal = 0
        r = rand()
        spk = str(pk)
        for position in range(1 if r < 0.55 else 2 if r < 0.85 else 3):
            sku, pname, price, hsn, tax = PRODUCTS[int(rand() * len(PRODUCTS))]
            qty = 1 if rand() < 0.8 else 2 + int(rand() * 3)
            subtotal += int(price[:-3]) * qty
            out.items.append(
                (
                    str(pk * 3 + position - 2),
                    spk,
                    str(position),
                    sku,
                    pname,
                    str(qty),
                    price,
                    hsn,
                    tax,
                )
            )
        shipping = 0 if subtotal >= 999 else 49
        discount = (subtotal // 10) if rand() < 0.15 else 0  # a 10 % coupon
        total = subtotal + shipping - discount
        cod = rand() < 0.35

        # Status timeline: arrival, then one history row per change, never in the future.
        limit = self.now - 30
        processing_at = min(placed + (0.3 + 19.7 * rand()) * HOUR, limit)
        shipped_at = min(processing_at + (2 + 28 * rand()) * HOUR, limit)
        delivered_at = min(shipped_at + (1 + 5 * rand()) * DAY, limit)
        received = placed + 0.2 + 3.8 * rand()
        placed_ts = ts(placed)
        steps: list[tuple[float, str | None, str, str, str]] = [
            (
                received,
                null,
                "placed",
                "system:checkout",
                f'{{"event_id": "evt_{pk:08x}", "placed_at": "{placed_ts[:19]}+00:00"}}',
            )
        ]
        ops = OPS_USERS[pk % len(OPS_USERS)]
        if status in ("processing", "shipped", "delivered") or (
            status == "cancelled" and rand() < 0.4
        ):
            steps.append((processing_at, "placed", "processing", ops, "{}"))
        shipment_row = None
        if status in ("shipped", "delivered"):
            courier = self._courier()
            awb = self._awb(courier, pk)
            steps.append(
                (shipped_at, "processing", "shipped", "system:shipments", f'{{"awb": "{awb}"}}')
            )
            if status == "delivered":
                steps.append(
                    (delivered_at, "shipped", "delivered", "system:shiprocket", '{"scan": "DL"}')
                )
            shipment_row = self._shipment(
                pk, order_id, "completed", processing_at, shipped_at, courier, awb, pincode
            )
        elif status == "processing":
            r = rand()
            if r < 0.10:
                shipment_row = self._shipment(
                    pk, order_id, "failed", processing_at, shipped_at, None, None, pincode
                )
            elif r < 0.16:
                state = "in_progress" if r < 0.13 else "requested"
                shipment_row = self._shipment(
                    pk, order_id, state, processing_at, processing_at, None, None, pincode
                )
        elif status == "cancelled":
            cancel_at = min(steps[-1][0] + (0.2 + 29.8 * rand()) * HOUR, limit)
            reason = CANCEL_REASONS[pk % len(CANCEL_REASONS)]
            actor = ops if steps[-1][2] == "processing" else "system:checkout"
            steps.append((cancel_at, steps[-1][2], "cancelled", actor, f'{{"reason": "{reason}"}}'))
            if len(steps) == 3 and rand() < 0.5:
                courier = self._courier()
                awb = self._awb(courier, pk)
                shipment_row = self._shipment(
                    pk, order_id, "cancelled", processing_at, cancel_at, courier, awb, pincode
                )
        stamps = [ts(step[0]) for step in steps]
        for k, (_at, frm, to, actor, details) in enumerate(steps):
            out.history.append((str(pk * 4 + k - 3), spk, stamps[k], frm, to, actor, details))
        if shipment_row is not None:
            out.shipments.append(shipment_row)

        packaged = rand() < 0.7
        house = 1 + int(rand() * 450)
        out.orders.append(
            (
                spk,
                order_id,
                status,
                str(len(steps)),
                placed_ts,
                stamps[0],
                stamps[-1],
                name,
                email,
                phone,
                f"{house}, {STREETS[house % len(STREETS)]}",
                self.line2[int(rand() * len(self.line2))],
                city,
                state,
                pincode,
                "IN",
                "INR",
                f"{subtotal}.00",
                f"{shipping}.00",
                f"{discount}.00",
                f"{total}.00",
                "paid" if not cod or status == "delivered" else "pending",
                "cod" if cod else "prepaid",
                null if cod else f"pay_{self.rng.getrandbits(56):014x}",
                f"{0.2 + int(rand() * 28) / 10:.3f}" if packaged else null,
                "25.00" if packaged else null,
                "20.00" if packaged else null,
                "10.00" if packaged else null,
                f"{self.rng.getrandbits(256):064x}",
                f"evt_{pk:08x}",
            )
        )

    @staticmethod
    def _awb(courier: tuple, seq: int) -> str:
        _name, _cid, _share, prefix, digits, suffix = courier
        # seq -> digits is a bijection (the multiplier is coprime with 10^digits): unique AWBs
        # that do not look sequential.
        body = (seq * 7_919_993 + 1_234_567) % (10**digits)
        return f"{prefix}{body:0{digits}d}{suffix}"

    def _shipment(
        self,
        pk: int,
        order_id: str,
        state: str,
        created: float,
        updated: float,
        courier: tuple | None,
        awb: str | None,
        pincode: str,
    ) -> tuple:
        rand, ts, null = self.rng.random, self.ts, self.null
        sr = 380_000_000 + pk * 7 + int(rand() * 7)
        has_sr = state in ("completed", "cancelled", "in_progress") or rand() < 0.5
        failure = null
        attempts = "1"
        if state == "failed":
            failure = FAILURES[int(rand() * len(FAILURES))].format(pin=pincode)
            attempts = str(1 + int(rand() * 3))
            courier = self._courier() if rand() < 0.4 else None
        elif state == "completed" and rand() < 0.04:
            attempts = "2"
        if awb:
            picked = int(updated + (2 + 18 * rand()) * HOUR) // 3600 * 3600
            pickup_at = self.ts(picked)[:19]
        return (
            str(pk),  # one shipment per order at most: its id is the order's
            str(pk),
            state,
            order_id,
            str(sr) if has_sr else null,
            str(sr + 1_000_000_000) if has_sr else null,
            null,
            OPS_USERS[pk % len(OPS_USERS)] if pk % 5 == 0 else "system",
            str(courier[1]) if courier else null,
            courier[0] if courier else null,
            f"{42 + int(rand() * 138)}.50" if courier else null,
            null,
            "cheapest of 6 serviceable couriers" if courier else null,
            awb or null,
            f"https://shiprocket.co/tracking/{awb}" if awb else null,
            pickup_at if awb else null,
            f"Reference No: {sr % 10_000_000}" if awb else null,
            f"https://kr-shipmultichannel.s3.ap-south-1.amazonaws.com/labels/{sr}.pdf"
            if awb
            else null,
            self.false,
            failure,
            attempts,
            null,
            null,
            ts(created + 5 + 115 * rand()),
            ts(max(updated, created + 130)),
        )


# ---------------------------------------------------------------------------------------------
# Database set-up.


def migrate(url: URL, instance: Path, src: Path = ROOT) -> None:
    run_migrations(app_env(app_url(url), instance), src)


# ---------------------------------------------------------------------------------------------
# Loading.


class Progress:
    def __init__(self, total: int):
        self.total = total
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, rows: dict[str, int], force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < 2:
            return
        self.last = now
        el = now - self.t0
        rate = done / el if el else 0
        eta = (self.total - done) / rate if rate else 0
        extra = ", ".join(f"{k} {v:,}" for k, v in rows.items())
        print(
            f"  {done:>10,}/{self.total:,} orders  {el:6.1f}s  {rate:8,.0f} orders/s  "
            f"eta {eta:5.0f}s  ({extra})",
            flush=True,
        )


@dataclass
class Plan:
    total: int
    seed: int
    now: float
    dialect: str
    jobs: int


_WORKER_GEN: Generator | None = None


def _worker_init(plan: Plan) -> None:
    global _WORKER_GEN
    _WORKER_GEN = Generator(plan.total, seed=plan.seed, now=plan.now, dialect=plan.dialect)


def _make_chunk(job: tuple[int, int]) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    """One chunk of orders, made in a pool process: (table: COPY text for PostgreSQL or rows
    for SQLite, table: row count, status: order count)."""
    gen = _WORKER_GEN
    assert gen is not None
    first, count = job
    gen.rng.seed(gen.seed * 1_000_003 + first)  # each chunk its own stream: any process order
    gen.counts = {}
    ch = gen.chunk(first, count)
    counts = {t: len(ch.rows(t)) for t, _ in TABLES}
    if gen.null is None:  # SQLite: rows for executemany
        return {t: ch.rows(t) for t, _ in TABLES}, counts, gen.counts
    return (
        {t: "".join(["\t".join(row) + "\n" for row in ch.rows(t)]) for t, _ in TABLES},
        counts,
        gen.counts,
    )


def chunks(plan: Plan, summary: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(orders in the chunk, table: data) in id order, made by `plan.jobs` processes, at most
    two chunks ahead per process (bounded memory)."""
    jobs = [(f, min(CHUNK, plan.total + 1 - f)) for f in range(1, plan.total + 1, CHUNK)]
    ctx = mp.get_context("fork")
    with ctx.Pool(plan.jobs, initializer=_worker_init, initargs=(plan,)) as pool:
        pending: list[Any] = []
        it = iter(jobs)
        for job in it:
            pending.append((job[1], pool.apply_async(_make_chunk, (job,))))
            if len(pending) >= 2 * plan.jobs:
                break
        while pending:
            count, res = pending.pop(0)
            data, rows, statuses = res.get()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt[1], pool.apply_async(_make_chunk, (nxt,))))
            for k, v in rows.items():
                summary["rows"][k] = summary["rows"].get(k, 0) + v
            for k, v in statuses.items():
                summary["status_counts"][k] = summary["status_counts"].get(k, 0) + v
            yield count, data


def _plain_indexes(conn: psycopg.Connection, tables: list[str]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index that backs no constraint."""
    return conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        (tables,),
    ).fetchall()


def load_postgresql(url: URL, plan: Plan, summary: dict[str, Any]) -> dict[str, float]:
    info = conninfo(url, url.database)
    names = [t for t, _ in TABLES]
    timings: dict[str, float] = {}
    with psycopg.connect(info, autocommit=True) as admin:
        indexes = _plain_indexes(admin, names)
        for name, _ddl in indexes:
            admin.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    print(f"dropped {len(indexes)} plain indexes for the load (re-created after)", flush=True)

    conns = []
    copies = []
    stack = []
    t0 = time.perf_counter()
    try:
        for table, cols in TABLES:
            conn = psycopg.connect(info)
            conns.append(conn)
            conn.execute("SET session_replication_role = replica")
            conn.execute("SET synchronous_commit = off")
            cur = conn.cursor()
            stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
            )
            cm = cur.copy(stmt, writer=QueuedLibpqWriter(cur))
            copies.append(cm.__enter__())
            stack.append(cm)
        progress = Progress(plan.total)
        done = 0
        for count, data in chunks(plan, summary):
            for (table, _cols), copy in zip(TABLES, copies, strict=True):
                copy.write(data[table])
            done += count
            progress(done, summary["rows"])
        progress(done, summary["rows"], force=True)
        print("  waiting for PostgreSQL to finish the COPYs...", flush=True)
        while stack:
            stack.pop(0).__exit__(None, None, None)
        for conn in conns:
            conn.commit()
    finally:
        for cm in stack:
            try:
                cm.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except Exception:  # noqa: BLE001 - already failing; close the connections below
                pass
        for conn in conns:
            conn.close()
    timings["copy_s"] = time.perf_counter() - t0
    print(f"COPY done in {timings['copy_s']:.1f}s", flush=True)

    with psycopg.connect(info, autocommit=True) as admin:
        admin.execute("SET maintenance_work_mem = '512MB'")
        t1 = time.perf_counter()
        for name, ddl in indexes:
            ti = time.perf_counter()
            admin.execute(ddl)
            print(f"  index {name}: {time.perf_counter() - ti:.1f}s", flush=True)
        timings["indexes_s"] = time.perf_counter() - t1
        for table, _cols in TABLES:
            admin.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                    "(SELECT coalesce(max(id), 0) + 1 FROM {i}), false)"
                ).format(t=sql.Literal(table), i=sql.Identifier(table))
            )
        t2 = time.perf_counter()
        print("VACUUM (ANALYZE)...", flush=True)
        for table, _cols in TABLES:
            ti = time.perf_counter()
            admin.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            print(f"  {table}: {time.perf_counter() - ti:.1f}s", flush=True)
        timings["vacuum_analyze_s"] = time.perf_counter() - t2
    return timings


def load_sqlite(url: URL, plan: Plan, summary: dict[str, Any]) -> dict[str, float]:
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    statements = {
        t: f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        for t, cols in TABLES
    }
    progress = Progress(plan.total)
    done = 0
    t0 = time.perf_counter()
    try:
        for count, data in chunks(plan, summary):
            conn.execute("BEGIN")
            for table, _cols in TABLES:
                conn.executemany(statements[table], data[table])
            conn.execute("COMMIT")
            done += count
            progress(done, summary["rows"])
        progress(done, summary["rows"], force=True)
        t1 = time.perf_counter()
        print("ANALYZE...", flush=True)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return {"insert_s": t1 - t0, "analyze_s": time.perf_counter() - t1}


def seed(
    database_url: str,
    orders: int,
    *,
    seed_value: int = 2026,
    jobs: int = 2,
    src: Path = ROOT,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Drops, re-creates, migrates (with the migrations of the source tree `src`) and fills
    the database. Returns a summary."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise SystemExit("--database-url must be postgresql:// or sqlite://")
    if backend == "postgresql" and url.database in (None, "postgres", "template0", "template1"):
        raise SystemExit("--database-url must name a dedicated database (it is dropped)")
    started = time.perf_counter()
    instance = Path(tempfile.mkdtemp(prefix="bench-seed-"))
    try:
        log(f"database {url.render_as_string(hide_password=True)}: drop + create, migrate")
        recreate_database(url)
        migrate(url, instance, src)
        now = time.time()
        plan = Plan(total=orders, seed=seed_value, now=now, dialect=backend, jobs=jobs)
        summary: dict[str, Any] = {
            "orders": orders,
            "seeded_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "rows": {},
            "status_counts": {},
        }
        log(f"generating ({jobs} processes) and loading {orders:,} orders ({backend})")
        if backend == "postgresql":
            timings = load_postgresql(url, plan, summary)
        else:
            timings = load_sqlite(url, plan, summary)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    summary["status_counts"] = dict(sorted(summary["status_counts"].items()))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    log(f"seeded in {summary['seconds']}s: {json.dumps(summary)}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DB_URL,
        help=f"dropped and re-created (default {DEFAULT_DB_URL})",
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--jobs", type=int, default=2, help="processes generating rows (default 2)")
    parser.add_argument(
        "--src",
        type=Path,
        default=ROOT,
        help="source tree whose migrations are run (default: this checkout)",
    )
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    seed(
        args.database_url,
        args.orders,
        seed_value=args.seed,
        jobs=max(1, args.jobs),
        src=args.src,
        log=lambda m: print(m, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
